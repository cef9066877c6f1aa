// lstm_cell_forward: gates [B, 4H] blocked (i, f, g, o) per row, PyTorch's order.
//   In place the pre-activations become i = σ(i), f = σ(f), g = tanh(g), o = σ(o);
//   c = f ⊙ c_prev + i ⊙ g,  h = o ⊙ tanh(c).
// lstm_cell_backward: with tc = tanh(c) and the activations saved in gates,
//   ∂c = dc + dh ⊙ o ⊙ (1 - tc²)                  (all of ∂L/∂c_t)
//   dgates = [∂c ⊙ g ⊙ i(1 - i), ∂c ⊙ c_prev ⊙ f(1 - f), ∂c ⊙ i ⊙ (1 - g²), dh ⊙ tc ⊙ o(1 - o)]
//   dc := ∂c ⊙ f in place                         (the carry ∂L/∂c_{t-1})
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
    let i = sigmoid(fwd_gates[at]);
    let f = sigmoid(fwd_gates[at + hidden]);
    let g = safe_tanh(fwd_gates[at + 2u * hidden]);
    let o = sigmoid(fwd_gates[at + 3u * hidden]);
    fwd_gates[at] = i;
    fwd_gates[at + hidden] = f;
    fwd_gates[at + 2u * hidden] = g;
    fwd_gates[at + 3u * hidden] = o;
    let c = f * fwd_c_prev[fwd.c_prev_off + idx] + i * g;
    c_out[fwd.c_off + idx] = c;
    h_out[fwd.h_off + idx] = o * safe_tanh(c);
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
    let i = bwd_gates[at];
    let f = bwd_gates[at + hidden];
    let g = bwd_gates[at + 2u * hidden];
    let o = bwd_gates[at + 3u * hidden];
    let dh_j = dh[bwd.dh_off + idx];
    let tc = safe_tanh(c_in[bwd.c_off + idx]);
    let dcell = dc[bwd.dc_off + idx] + dh_j * o * (1.0 - tc * tc);
    let dat = bwd.dgates_off + b * 4u * hidden + j;
    dgates[dat] = dcell * g * i * (1.0 - i);
    dgates[dat + hidden] = dcell * bwd_c_prev[bwd.c_prev_off + idx] * f * (1.0 - f);
    dgates[dat + 2u * hidden] = dcell * i * (1.0 - g * g);
    dgates[dat + 3u * hidden] = dh_j * tc * o * (1.0 - o);
    dc[bwd.dc_off + idx] = dcell * f;
}
