// step backward: the recurrent GEMM of step t and the cell backward of step
// t-1 in one launch — the GEMM on the matmul core (matmul_tile.wgsl), the
// cell in its epilogue. A kernel's source is cell_math + this file + its
// cell's file ({rnn,lstm,gru}_backward.wgsl: entry point, `mm_epilogue`) + a core.
//
//   ∂h_{t-1}[b, j] += Σ_g' ∂pre_t[b, g'] · W_hh[g', j]   (g' over G·H: n = H, k = G·H)
// then, in the epilogue, the cell backward of step t-1 from that ∂h (which is
// written back too), for each of the four units of a quad.
//
// Bindings (f32, whole buffers, one per role; Op::check_step enforces it;
// `a` and `b` in the core's words, their elements via mm_a_elem & co.):
//   1 b  params: W_hh [G·H, H] at w_off (op(B) = W_hh as stored)
//   2 a  ∂pre buffer: ∂pre_t [B, G·H] at dnext_off (op(A)); RNN, LSTM write
//        ∂pre_{t-1} at dxw_off, GRU writes ∂hw_{t-1} at dhw_off
//   3 dh: ∂h_{t-1} [B, H] at dh_off; GRU also ∂h_{t-2} at dh_prev_off
//   RNN: 4 hs (h_{t-1} at h_off);  LSTM: 4 dc, 5 xw (gates), 6 cs (c, c_prev);
//   GRU: 4 dxw, 5 xw (gates), 6 hw, 7 hs (h_prev at h_off)
// Grid: the core's over C = [B, H].

struct StepBackwardParams {
    // Read by the matmul core.
    m: u32,
    n: u32,
    k: u32,
    a_col_stride: u32,
    b_row_stride: u32,
    // The step.
    hidden: u32,
    activation: u32,
    /// GRU: 1 when dh_prev is a real view to add the direct path into.
    has_dh_prev: u32,
    w_off: u32,
    dnext_off: u32,
    dh_off: u32,
    dh_prev_off: u32,
    /// RNN: ∂pre, LSTM: ∂gates, GRU: ∂xw of step t-1.
    dxw_off: u32,
    /// GRU: ∂hw of step t-1.
    dhw_off: u32,
    dc_off: u32,
    gates_off: u32,
    hw_off: u32,
    c_off: u32,
    c_prev_off: u32,
    h_off: u32,
}

@group(0) @binding(0) var<uniform> p: StepBackwardParams;
@group(0) @binding(1) var<storage, read_write> b: array<MmWord>;
@group(0) @binding(2) var<storage, read_write> a: array<MmWord>;
@group(0) @binding(3) var<storage, read_write> dh: array<f32>;

fn mm_a_row(row: u32) -> u32 {
    return p.dnext_off + row * p.k;
}

fn mm_b_col(col: u32) -> u32 {
    return p.w_off + col;
}

/// ∂h_{t-1}[row, j] completed by the recurrent GEMM's sum, written back.
fn complete_dh(row: u32, j: u32, sum: f32) -> f32 {
    let at = p.dh_off + row * p.hidden + j;
    let total = dh[at] + sum;
    dh[at] = total;
    return total;
}
