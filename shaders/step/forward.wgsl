// step forward: one recurrent time step in one launch — the step's GEMM on
// the matmul core (matmul_tile.wgsl), the cell in its epilogue. A kernel's
// source is cell_math + this file + its cell's file ({rnn,lstm,gru}_forward.wgsl,
// which holds the entry point and `mm_epilogue`) + a matmul core.
//
// For batch row b, hidden unit j and gate block g of G (RNN 1; LSTM 4: i, f, g, o;
// GRU 3: r, z, n):
//   s_g[b, j] = Σ_k h_{t-1}[b, k] · W_hh[g·H + j, k]              (the GEMM, K = H)
//   RNN, LSTM: pre_g = xw[b, g·H + j] + s_g + b_hh[g·H + j]; cell_math's cell
//     writes the activated gates over xw (RNN: pre itself), h_t (and c_t).
//   GRU: hw_g = s_g + b_hh[g·H + j] is written (backward reads it), then the
//     cell reads xw and hw.
// GEMM columns. The core hands each invocation's sums to the epilogue four
// consecutive columns at a time. RNN: column j is unit j (n = H), a quad is
// four units. LSTM, GRU: the columns interleave the gates, column 4j + g is
// gate g of unit j (n = 4H; GRU's slot 3 repeats gate n and is dropped), so a
// quad holds every gate of one unit and the cell runs from registers.
//
// Bindings (f32, whole buffers, one per role; Op::check_step enforces it;
// `a` and `b` in the core's words, their elements via mm_a_elem & co.):
//   1 b  params: W_hh [G·H, H] at w_off (op(B) = W_hhᵀ), b_hh [G·H] at bias_off
//   2 a  hs: h_{t-1} [B, H] at h_prev_off (op(A)), h_t [B, H] at h_off (written)
//   3 xw [B, G·H]: pre-activations in, activated gates out
//   4 LSTM cs: c_{t-1} at c_prev_off, c_t at c_off | GRU hw [B, 3H] at hw_off
// Grid: the core's over C = [B, n].

struct StepForwardParams {
    // Read by the matmul core.
    m: u32,
    n: u32,
    k: u32,
    a_col_stride: u32,
    b_row_stride: u32,
    // The step.
    hidden: u32,
    gates: u32,
    activation: u32,
    w_off: u32,
    bias_off: u32,
    h_prev_off: u32,
    h_off: u32,
    gates_off: u32,
    c_prev_off: u32,
    c_off: u32,
    hw_off: u32,
}

@group(0) @binding(0) var<uniform> p: StepForwardParams;
@group(0) @binding(1) var<storage, read_write> b: array<MmWord>;
@group(0) @binding(2) var<storage, read_write> a: array<MmWord>;
@group(0) @binding(3) var<storage, read_write> xw: array<f32>;

fn mm_a_row(row: u32) -> u32 {
    return p.h_prev_off + row * p.hidden;
}

/// Row of W_hh behind GEMM column `col` (see "GEMM columns" above).
fn mm_b_col(col: u32) -> u32 {
    var w_row = col;
    if p.gates > 1u {
        w_row = min(col % 4u, p.gates - 1u) * p.hidden + col / 4u;
    }
    return p.w_off + w_row * p.hidden;
}
