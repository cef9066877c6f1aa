// gru_cell_forward: blocks (r, z, n) per row of [B, 3H], PyTorch's order. gates
//   holds xw = W_i x + b_i on entry and r, z, n on exit; hw = W_h h_prev + b_h
//   is read; h is written (gru_forward in cell_math.wgsl).
// gru_cell_backward: from dh = ∂L/∂h_t and the saved r, z, n, writes dxw and
//   dhw, and when has_dh_prev adds the direct path dh ⊙ z into dh_prev
//   (gru_backward).
//
// Bindings (f32, row-major, each view at an element offset into its buffer):
//   gru_cell_forward:  1 gates [B, 3H], 2 h [B, H], 3 hw [B, 3H], 4 h_prev [B, H]
//   gru_cell_backward: 1 dxw [B, 3H], 2 dhw [B, 3H], 3 dh_prev [B, H], 4 dh [B, H],
//                      5 gates [B, 3H], 6 hw [B, 3H], 7 h_prev [B, H]
//   Without a dh_prev (has_dh_prev = 0) the dh buffer is bound at 3 as well;
//   it is then never written.
// Grid: one invocation per (b, j) of [B, H], 1D over ceil(B·H / WG_1D) workgroups
// (folded into (x, y), see linear_index); each touches column j of all three blocks of row b.

struct GruCellForwardParams {
    gates_off: u32,
    h_off: u32,
    hw_off: u32,
    h_prev_off: u32,
    /// B, the batch rows.
    rows: u32,
    /// H, the hidden width.
    hidden: u32,
    _pad0: u32,
    _pad1: u32,
}

struct GruCellBackwardParams {
    dxw_off: u32,
    dhw_off: u32,
    dh_prev_off: u32,
    dh_off: u32,
    gates_off: u32,
    hw_off: u32,
    h_prev_off: u32,
    rows: u32,
    hidden: u32,
    /// 1 when dh_prev is a real view to add into, 0 when binding 3 aliases dh.
    has_dh_prev: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> fwd: GruCellForwardParams;
@group(0) @binding(1) var<storage, read_write> fwd_gates: array<f32>;
@group(0) @binding(2) var<storage, read_write> h_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> fwd_hw: array<f32>;
@group(0) @binding(4) var<storage, read_write> fwd_h_prev: array<f32>;

@group(0) @binding(0) var<uniform> bwd: GruCellBackwardParams;
@group(0) @binding(1) var<storage, read_write> dxw: array<f32>;
@group(0) @binding(2) var<storage, read_write> dhw: array<f32>;
@group(0) @binding(3) var<storage, read_write> dh_prev: array<f32>;
@group(0) @binding(4) var<storage, read_write> dh: array<f32>;
@group(0) @binding(5) var<storage, read_write> bwd_gates: array<f32>;
@group(0) @binding(6) var<storage, read_write> bwd_hw: array<f32>;
@group(0) @binding(7) var<storage, read_write> bwd_h_prev: array<f32>;

@compute @workgroup_size(WG_1D)
fn gru_cell_forward(
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
    // Column j of block 0 (r) of row b, relative to the view; blocks z, n follow at strides of H.
    let col = b * 3u * hidden + j;
    let at = fwd.gates_off + col;
    let hat = fwd.hw_off + col;
    let xw = vec3<f32>(fwd_gates[at], fwd_gates[at + hidden], fwd_gates[at + 2u * hidden]);
    let hw = vec3<f32>(fwd_hw[hat], fwd_hw[hat + hidden], fwd_hw[hat + 2u * hidden]);
    let out = gru_forward(xw, hw, fwd_h_prev[fwd.h_prev_off + idx]);
    fwd_gates[at] = out.act.x;
    fwd_gates[at + hidden] = out.act.y;
    fwd_gates[at + 2u * hidden] = out.act.z;
    h_out[fwd.h_off + idx] = out.h;
}

@compute @workgroup_size(WG_1D)
fn gru_cell_backward(
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
    let col = b * 3u * hidden + j;
    let at = bwd.gates_off + col;
    let act = vec3<f32>(bwd_gates[at], bwd_gates[at + hidden], bwd_gates[at + 2u * hidden]);
    let dh_j = dh[bwd.dh_off + idx];
    let grad = gru_backward(act, bwd_hw[bwd.hw_off + col + 2u * hidden], bwd_h_prev[bwd.h_prev_off + idx], dh_j);
    let xat = bwd.dxw_off + col;
    dxw[xat] = grad.dxw.x;
    dxw[xat + hidden] = grad.dxw.y;
    dxw[xat + 2u * hidden] = grad.dxw.z;
    let hat = bwd.dhw_off + col;
    dhw[hat] = grad.dhw.x;
    dhw[hat + hidden] = grad.dhw.y;
    dhw[hat + 2u * hidden] = grad.dhw.z;
    if bwd.has_dh_prev != 0u {
        dh_prev[bwd.dh_prev_off + idx] += grad.dh_prev;
    }
}
