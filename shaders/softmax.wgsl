// softmax_xent, per row z of logits [rows, classes], target t = targets[r]:
//   losses[r] = lse(z) - z[t],  lse(z) = max(z) + log Σ exp(z - max(z))
//   when write_grad: z := grad_scale · (softmax(z) - onehot(t)) in place
//   (the gradient of grad_scale · loss with respect to the logits).
// log_softmax, per row: z := z - lse(z) in place.
// The row max is subtracted before exp, so exp never overflows.
//
// Bindings (row-major, each view at an element offset into its buffer):
//   softmax_xent: 1 logits [rows, classes] f32, 2 losses [rows] f32, 3 targets [rows] u32
//   log_softmax:  1 logits [rows, classes] f32
// Targets were checked against classes before they reached the GPU.
// Grid: one invocation per row, 1D over ceil(rows / WG_1D) workgroups
// (folded into (x, y), see linear_index).

struct SoftmaxXentParams {
    logits_off: u32,
    losses_off: u32,
    targets_off: u32,
    rows: u32,
    classes: u32,
    grad_scale: f32,
    write_grad: u32,
    _pad: u32,
}

struct LogSoftmaxParams {
    logits_off: u32,
    rows: u32,
    classes: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> xent: SoftmaxXentParams;
@group(0) @binding(0) var<uniform> lsm: LogSoftmaxParams;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> losses: array<f32>;
@group(0) @binding(3) var<storage, read_write> targets: array<u32>;

/// logsumexp of logits[start .. start + classes].
fn row_logsumexp(start: u32, classes: u32) -> f32 {
    var top = logits[start];
    for (var i = 1u; i < classes; i++) {
        top = max(top, logits[start + i]);
    }
    var sum = 0.0;
    for (var i = 0u; i < classes; i++) {
        sum += exp(logits[start + i] - top);
    }
    return top + log(sum);
}

@compute @workgroup_size(WG_1D)
fn softmax_xent(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let r = linear_index(wid, lid, nwg);
    if r >= xent.rows {
        return;
    }
    let start = xent.logits_off + r * xent.classes;
    let target_at = start + targets[xent.targets_off + r];
    let lse = row_logsumexp(start, xent.classes);
    losses[xent.losses_off + r] = lse - logits[target_at];
    if xent.write_grad != 0u {
        for (var i = 0u; i < xent.classes; i++) {
            logits[start + i] = xent.grad_scale * exp(logits[start + i] - lse);
        }
        logits[target_at] -= xent.grad_scale;
    }
}

@compute @workgroup_size(WG_1D)
fn log_softmax(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let r = linear_index(wid, lid, nwg);
    if r >= lsm.rows {
        return;
    }
    let start = lsm.logits_off + r * lsm.classes;
    let lse = row_logsumexp(start, lsm.classes);
    for (var i = 0u; i < lsm.classes; i++) {
        logits[start + i] -= lse;
    }
}
