// lstm_cell_forward: gates [B, 4H] blocked (i, f, g, o) per row, PyTorch's order;
//   in place the pre-activations become the activated gates, and c, h are
//   written (lstm_forward in cell_math.wgsl).
// lstm_cell_backward: from dh (all of ∂L/∂h_t), dc (∂L/∂c_t from the step
//   after) and the saved gates, writes dgates and dc := ∂L/∂c_{t-1} in place
//   (lstm_backward).
//
// Bindings (f32, row-major, each view at an element offset into its buffer):
//   lstm_cell_forward:  1 gates [B, 4H], 2 c [B, H], 3 h [B, H], 4 c_prev [B, H]
//   lstm_cell_backward: 1 dgates [B, 4H], 2 dc [B, H], 3 dh [B, H], 4 gates [B, 4H],
//                       5 c [B, H], 6 c_prev [B, H]
// Grid: one invocation per (b, j) of [B, H], 1D over ceil(B·H / WG_1D) workgroups
// (folded into (x, y), see linear_index); each touches column j of all four blocks of row b.

struct LstmCellForwardParams {
    gates_off: u32,
    c_off: u32,
    h_off: u32,
    c_prev_off: u32,
    /// B, the batch rows.
    rows: u32,
    /// H, the hidden width.
    hidden: u32,
    _pad0: u32,
    _pad1: u32,
}

struct LstmCellBackwardParams {
    dgates_off: u32,
    dc_off: u32,
    dh_off: u32,
    gates_off: u32,
    c_off: u32,
    c_prev_off: u32,
    rows: u32,
    hidden: u32,
}

@group(0) @binding(0) var<uniform> fwd: LstmCellForwardParams;
@group(0) @binding(1) var<storage, read_write> fwd_gates: array<f32>;
@group(0) @binding(2) var<storage, read_write> c_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> h_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> fwd_c_prev: array<f32>;

@group(0) @binding(0) var<uniform> bwd: LstmCellBackwardParams;
@group(0) @binding(1) var<storage, read_write> dgates: array<f32>;
@group(0) @binding(2) var<storage, read_write> dc: array<f32>;
@group(0) @binding(3) var<storage, read_write> dh: array<f32>;
@group(0) @binding(4) var<storage, read_write> bwd_gates: array<f32>;
@group(0) @binding(5) var<storage, read_write> c_in: array<f32>;
@group(0) @binding(6) var<storage, read_write> bwd_c_prev: array<f32>;

@compute @workgroup_size(WG_1D)
fn lstm_cell_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = linear_index(wid, lid, nwg);
    let hidden = fwd.hidden;
    if idx >= fwd.rows * hidden {
        return;
    }
    let b = idx / hidden;
    let j = idx % hidden;
    // Column j of block 0 (i) of row b; the other blocks follow at strides of H.
    let at = fwd.gates_off + b * 4u * hidden + j;
    let h2 = 2u * hidden;
    let pre = vec4<f32>(fwd_gates[at], fwd_gates[at + hidden], fwd_gates[at + h2], fwd_gates[at + h2 + hidden]);
    let out = lstm_forward(pre, fwd_c_prev[fwd.c_prev_off + idx]);
    fwd_gates[at] = out.act.x;
    fwd_gates[at + hidden] = out.act.y;
    fwd_gates[at + 2u * hidden] = out.act.z;
    fwd_gates[at + 3u * hidden] = out.act.w;
    c_out[fwd.c_off + idx] = out.c;
    h_out[fwd.h_off + idx] = out.h;
}

@compute @workgroup_size(WG_1D)
fn lstm_cell_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = linear_index(wid, lid, nwg);
    let hidden = bwd.hidden;
    if idx >= bwd.rows * hidden {
        return;
    }
    let b = idx / hidden;
    let j = idx % hidden;
    let at = bwd.gates_off + b * 4u * hidden + j;
    let h2 = 2u * hidden;
    let act = vec4<f32>(bwd_gates[at], bwd_gates[at + hidden], bwd_gates[at + h2], bwd_gates[at + h2 + hidden]);
    let c = c_in[bwd.c_off + idx];
    let grad = lstm_backward(act, c, bwd_c_prev[bwd.c_prev_off + idx], dh[bwd.dh_off + idx], dc[bwd.dc_off + idx]);
    let dat = bwd.dgates_off + b * 4u * hidden + j;
    dgates[dat] = grad.dpre.x;
    dgates[dat + hidden] = grad.dpre.y;
    dgates[dat + 2u * hidden] = grad.dpre.z;
    dgates[dat + 3u * hidden] = grad.dpre.w;
    dc[bwd.dc_off + idx] = grad.dc_prev;
}
