// Fixed-order reductions (so a run is deterministic for a seed; the column
// sum of a bias gradient is in column_sum.wgsl).
//
// loss_sum:          out[0] = scale · Σ_i losses[i]
// grad_norm_partial: partials[w] = Σ grads[i]² over chunk w, elements
//                    [w · NORM_CHUNK, (w + 1) · NORM_CHUNK) ∩ [0, len)
// grad_norm_finish:  ‖g‖ = √Σ_w partials[w];
//                    stats[0] = ‖g‖,
//                    stats[1] = clip ? min(1, max_norm / (‖g‖ + 1e-6)) : 1
//                    (PyTorch's clip_grad_norm_ scale)
//
// Bindings (f32, each view at an element offset into its buffer):
//   loss_sum:          1 out [1],        2 losses [len]
//   grad_norm_partial: 1 partials [ceil(len / NORM_CHUNK)], 2 grads [len]
//   grad_norm_finish:  1 stats [2],      2 partials [len]
// Grid: loss_sum and grad_norm_finish, one workgroup (1, 1, 1);
//       grad_norm_partial, one workgroup per chunk, 1D over the chunks.
// 1D grids beyond 65535 workgroups fold into (x, y), see linear_index.
//
// Workgroup sums: invocation i first adds elements i, i + WG_1D, i + 2·WG_1D, ...
// in order, then the WG_1D values are added as a binary tree in workgroup
// memory. Both orders are fixed, so results do not vary from run to run (they
// differ from the CPU's left-to-right sums only by rounding).

/// Elements per chunk of grad_norm_partial; equals plan::NORM_CHUNK.
const NORM_CHUNK: u32 = 4096u;

struct LossSumParams {
    out_off: u32,
    losses_off: u32,
    len: u32,
    scale: f32,
}

struct GradNormPartialParams {
    partials_off: u32,
    grads_off: u32,
    /// Number of gradient elements.
    len: u32,
    /// Number of chunks, ceil(len / NORM_CHUNK) = partials' length.
    chunks: u32,
}

struct GradNormFinishParams {
    stats_off: u32,
    partials_off: u32,
    len: u32,
    /// 1: clip to max_norm; 0: no clipping, stats[1] = 1.
    clip: u32,
    max_norm: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> loss_p: LossSumParams;
@group(0) @binding(0) var<uniform> partial_p: GradNormPartialParams;
@group(0) @binding(0) var<uniform> finish_p: GradNormFinishParams;
// Every reduction here writes one view and reads one.
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read_write> src: array<f32>;

var<workgroup> tree: array<f32, WG_1D>;

/// Σ of `value` over the workgroup as a fixed binary tree; every invocation
/// gets the total. Must be called from uniform control flow.
fn workgroup_sum(lid: u32, value: f32) -> f32 {
    tree[lid] = value;
    workgroupBarrier();
    for (var half = WG_1D / 2u; half > 0u; half /= 2u) {
        if lid < half {
            tree[lid] += tree[lid + half];
        }
        workgroupBarrier();
    }
    return tree[0];
}

@compute @workgroup_size(WG_1D)
fn loss_sum(@builtin(local_invocation_index) lid: u32) {
    var sum = 0.0;
    for (var i = lid; i < loss_p.len; i += WG_1D) {
        sum += src[loss_p.losses_off + i];
    }
    let total = workgroup_sum(lid, sum);
    if lid == 0u {
        dst[loss_p.out_off] = loss_p.scale * total;
    }
}

@compute @workgroup_size(WG_1D)
fn grad_norm_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    // The chunk is uniform across the workgroup; a workgroup past the last
    // chunk still joins the barriers and just writes nothing.
    let chunk = workgroup_index(wid, nwg);
    let start = chunk * NORM_CHUNK;
    let end = min(start + NORM_CHUNK, partial_p.len);
    var sum = 0.0;
    for (var i = start + lid; i < end; i += WG_1D) {
        let g = src[partial_p.grads_off + i];
        sum += g * g;
    }
    let total = workgroup_sum(lid, sum);
    if lid == 0u && chunk < partial_p.chunks {
        dst[partial_p.partials_off + chunk] = total;
    }
}

@compute @workgroup_size(WG_1D)
fn grad_norm_finish(@builtin(local_invocation_index) lid: u32) {
    var sum = 0.0;
    for (var i = lid; i < finish_p.len; i += WG_1D) {
        sum += src[finish_p.partials_off + i];
    }
    let total = workgroup_sum(lid, sum);
    if lid == 0u {
        let norm = sqrt(total);
        var scale = 1.0;
        if finish_p.clip != 0u {
            scale = min(1.0, finish_p.max_norm / (norm + 1e-6));
        }
        dst[finish_p.stats_off] = norm;
        dst[finish_p.stats_off + 1u] = scale;
    }
}
