// The heads' losses, per row r of z = logits [rows, width] with the row's
// weight w = weights[r] (1 / the number of terms PyTorch's mean divides by,
// or 0 for a position the loss skips):
// softmax_xent (targets: a class id t per row):
//   losses[r] = w · (lse(z) - z[t]),  lse(z) = max(z) + log Σ exp(z - max(z));
//   when write_grad: z := w · (softmax(z) - onehot(t)) in place.
// sigmoid_bce (targets: y [rows, width] in [0, 1]), BCE on the logits:
//   losses[r] = w · Σ_k max(z_k, 0) - z_k y_k + log(1 + exp(-|z_k|));
//   when write_grad: z := w · (σ(z) - y).
// mean_squared (targets: y [rows, width]):
//   losses[r] = w · Σ_k (z_k - y_k)²;  when write_grad: z := w · 2 (z - y).
// log_softmax, per row: z := z - lse(z) in place.
// Every exp sees a non-positive argument, so none overflows.
//
// Bindings (row-major, each view at an element offset into its buffer):
//   softmax_xent: 1 logits [rows, width] f32, 2 losses [rows] f32, 3 targets [rows] u32, 4 weights [rows] f32
//   sigmoid_bce, mean_squared: the same with 3 targets [rows, width] f32
//   log_softmax:  1 logits [rows, width] f32
// Class targets were checked against the width before they reached the GPU.
// Grid: one invocation per row, 1D over ceil(rows / WG_1D) workgroups
// (folded into (x, y), see linear_index).

struct LossParams {
    logits_off: u32,
    losses_off: u32,
    targets_off: u32,
    weights_off: u32,
    rows: u32,
    width: u32,
    write_grad: u32,
    _pad: u32,
}

struct LogSoftmaxParams {
    logits_off: u32,
    rows: u32,
    classes: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> lp: LossParams;
@group(0) @binding(0) var<uniform> lsm: LogSoftmaxParams;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> losses: array<f32>;
@group(0) @binding(3) var<storage, read_write> class_targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> value_targets: array<f32>;
@group(0) @binding(4) var<storage, read_write> weights: array<f32>;

/// logsumexp of logits[start .. start + width].
fn row_logsumexp(start: u32, width: u32) -> f32 {
    var top = logits[start];
    for (var i = 1u; i < width; i++) {
        top = max(top, logits[start + i]);
    }
    var sum = 0.0;
    for (var i = 0u; i < width; i++) {
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
    if r >= lp.rows {
        return;
    }
    let w = weights[lp.weights_off + r];
    let start = lp.logits_off + r * lp.width;
    let target_at = start + class_targets[lp.targets_off + r];
    let lse = row_logsumexp(start, lp.width);
    losses[lp.losses_off + r] = w * (lse - logits[target_at]);
    if lp.write_grad != 0u {
        for (var i = 0u; i < lp.width; i++) {
            logits[start + i] = w * exp(logits[start + i] - lse);
        }
        logits[target_at] -= w;
    }
}

@compute @workgroup_size(WG_1D)
fn sigmoid_bce(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let r = linear_index(wid, lid, nwg);
    if r >= lp.rows {
        return;
    }
    let w = weights[lp.weights_off + r];
    var loss = 0.0;
    for (var k = 0u; k < lp.width; k++) {
        let at = lp.logits_off + r * lp.width + k;
        let z = logits[at];
        let y = value_targets[lp.targets_off + r * lp.width + k];
        loss += max(z, 0.0) - z * y + log(1.0 + exp(-abs(z)));
        if lp.write_grad != 0u {
            logits[at] = w * (sigmoid(z) - y);
        }
    }
    losses[lp.losses_off + r] = w * loss;
}

@compute @workgroup_size(WG_1D)
fn mean_squared(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let r = linear_index(wid, lid, nwg);
    if r >= lp.rows {
        return;
    }
    let w = weights[lp.weights_off + r];
    var loss = 0.0;
    for (var k = 0u; k < lp.width; k++) {
        let at = lp.logits_off + r * lp.width + k;
        let d = logits[at] - value_targets[lp.targets_off + r * lp.width + k];
        loss += d * d;
        if lp.write_grad != 0u {
            logits[at] = w * 2.0 * d;
        }
    }
    losses[lp.losses_off + r] = w * loss;
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
