// step: one recurrent time step in one launch, the step's GEMM and its cell
// fused, so a training step costs one dispatch forward and one backward per
// layer (Op::Step; the math of each cell is in cell_math.wgsl).
//
// Forward, {rnn,lstm,gru}_step_forward, for row b and hidden unit j:
//   s_g = Σ_k h_prev[b, k] · W_hh[g·H + j, k]           for each gate block g
//   RNN, LSTM: pre_g = xw[b, g·H + j] + s_g + b_hh[g·H + j]; the cell of
//     cell_math reads pre and writes the activated gates over xw (RNN: pre
//     itself), h (and c).
//   GRU: hw_g = s_g + b_hh[g·H + j] is written (backward reads it), then the
//     cell reads xw and hw.
// Backward, {rnn,lstm,gru}_step_backward, the GEMM of step t and the cell of t-1:
//   ∂h_{t-1}[b, j] += Σ_g' ∂pre_t[b, g'] · W_hh[g', j]     (g' over all G·H)
//   then the cell backward of step t-1 from that ∂h (written back too).
//
// Bindings (f32, whole buffers; one binding per buffer a role lives in, so
// views of one role share it — Op::check_step enforces this):
//   forward:  1 params (W_hh, b_hh), 2 hs (h_prev, h), 3 xw (pre-activations /
//             gates), 4 LSTM cs (c_prev, c) | GRU hw
//   backward: 1 params (W_hh), 2 ∂pre buffer (∂pre_t read; RNN/LSTM write ∂pre_{t-1},
//             GRU writes ∂hw_{t-1}), 3 dh (∂h_{t-1}; GRU also ∂h_{t-2}),
//             RNN: 4 hs (h_{t-1});  LSTM: 4 dc, 5 xw (gates), 6 cs (c, c_prev);
//             GRU: 4 dxw, 5 xw (gates), 6 hw, 7 hs (h_prev)
// Grid: (ceil(H / STEP_WG), ceil(B / STEP_ROWS)); invocation = one hidden unit j
// (lanes along j) for STEP_ROWS batch rows. The rows of a workgroup are the
// same for all its lanes, so loads of h_prev / ∂pre have uniform addresses
// (one scalar load broadcast on SIMD compilers, a cached line on GPUs) and
// only the W_hh load is per lane: one per STEP_ROWS FMAs. Rows and hidden
// units past the edge are clamped for reading and never written.

const STEP_WG: u32 = 64u;
const STEP_ROWS: u32 = 4u;

struct StepForwardParams {
    rows: u32,
    hidden: u32,
    activation: u32,
    _pad0: u32,
    w_off: u32,
    bias_off: u32,
    h_prev_off: u32,
    h_off: u32,
    gates_off: u32,
    c_prev_off: u32,
    c_off: u32,
    hw_off: u32,
}

struct StepBackwardParams {
    rows: u32,
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

@group(0) @binding(0) var<uniform> sf: StepForwardParams;
@group(0) @binding(1) var<storage, read_write> f_params: array<f32>;
@group(0) @binding(2) var<storage, read_write> f_hs: array<f32>;
@group(0) @binding(3) var<storage, read_write> f_xw: array<f32>;
@group(0) @binding(4) var<storage, read_write> f_cs: array<f32>;
@group(0) @binding(4) var<storage, read_write> f_hw: array<f32>;

@group(0) @binding(0) var<uniform> sb: StepBackwardParams;
@group(0) @binding(1) var<storage, read_write> b_params: array<f32>;
@group(0) @binding(2) var<storage, read_write> b_dpre: array<f32>;
@group(0) @binding(3) var<storage, read_write> b_dh: array<f32>;
@group(0) @binding(4) var<storage, read_write> b_rnn_hs: array<f32>;
@group(0) @binding(4) var<storage, read_write> b_dc: array<f32>;
@group(0) @binding(4) var<storage, read_write> b_dxw: array<f32>;
@group(0) @binding(5) var<storage, read_write> b_xw: array<f32>;
@group(0) @binding(6) var<storage, read_write> b_cs: array<f32>;
@group(0) @binding(6) var<storage, read_write> b_hw: array<f32>;
@group(0) @binding(7) var<storage, read_write> b_hs: array<f32>;

/// Σ_k h_prev[r0 + r, k] · W_hh[w_row, k] for r = 0..3 (rows clamped to the last).
fn recurrent_sum(w_row: u32, r0: u32) -> vec4<f32> {
    let hidden = sf.hidden;
    let last = sf.rows - 1u;
    let h0 = sf.h_prev_off + min(r0, last) * hidden;
    let h1 = sf.h_prev_off + min(r0 + 1u, last) * hidden;
    let h2 = sf.h_prev_off + min(r0 + 2u, last) * hidden;
    let h3 = sf.h_prev_off + min(r0 + 3u, last) * hidden;
    let w = sf.w_off + w_row * hidden;
    var acc = vec4<f32>(0.0);
    for (var k = 0u; k < hidden; k++) {
        acc += f_params[w + k] * vec4<f32>(f_hs[h0 + k], f_hs[h1 + k], f_hs[h2 + k], f_hs[h3 + k]);
    }
    return acc;
}

/// Σ_g' ∂pre_t[r0 + r, g'] · W_hh[g', j] over g' < `width` = G·H, r = 0..3.
fn recurrent_grad_sum(j: u32, r0: u32, width: u32) -> vec4<f32> {
    let hidden = sb.hidden;
    let last = sb.rows - 1u;
    let d0 = sb.dnext_off + min(r0, last) * width;
    let d1 = sb.dnext_off + min(r0 + 1u, last) * width;
    let d2 = sb.dnext_off + min(r0 + 2u, last) * width;
    let d3 = sb.dnext_off + min(r0 + 3u, last) * width;
    var acc = vec4<f32>(0.0);
    for (var g = 0u; g < width; g++) {
        let w = b_params[sb.w_off + g * hidden + j];
        acc += w * vec4<f32>(b_dpre[d0 + g], b_dpre[d1 + g], b_dpre[d2 + g], b_dpre[d3 + g]);
    }
    return acc;
}

/// True when the workgroup's r-th batch row exists (the last workgroup may overhang).
fn step_row(wid: vec3<u32>, r: u32, rows: u32) -> bool {
    return wid.y * STEP_ROWS + r < rows;
}

@compute @workgroup_size(STEP_WG)
fn rnn_step_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let hidden = sf.hidden;
    let j = wid.x * STEP_WG + lid;
    let r0 = wid.y * STEP_ROWS;
    let s = recurrent_sum(min(j, hidden - 1u), r0);
    if j >= hidden {
        return;
    }
    let bias = f_params[sf.bias_off + j];
    for (var r = 0u; r < STEP_ROWS; r++) {
        if !step_row(wid, r, sf.rows) {
            break;
        }
        let row = r0 + r;
        let at = sf.gates_off + row * hidden + j;
        let pre = f_xw[at] + s[r] + bias;
        f_xw[at] = pre;
        f_hs[sf.h_off + row * hidden + j] = rnn_activate(pre, sf.activation);
    }
}

@compute @workgroup_size(STEP_WG)
fn lstm_step_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let hidden = sf.hidden;
    let j = wid.x * STEP_WG + lid;
    let r0 = wid.y * STEP_ROWS;
    let jj = min(j, hidden - 1u);
    let s_i = recurrent_sum(jj, r0);
    let s_f = recurrent_sum(hidden + jj, r0);
    let s_g = recurrent_sum(2u * hidden + jj, r0);
    let s_o = recurrent_sum(3u * hidden + jj, r0);
    if j >= hidden {
        return;
    }
    let b = sf.bias_off + j;
    let bias = vec4<f32>(f_params[b], f_params[b + hidden], f_params[b + 2u * hidden], f_params[b + 3u * hidden]);
    for (var r = 0u; r < STEP_ROWS; r++) {
        if !step_row(wid, r, sf.rows) {
            break;
        }
        let row = r0 + r;
        let at = sf.gates_off + row * 4u * hidden + j;
        let xw = vec4<f32>(f_xw[at], f_xw[at + hidden], f_xw[at + 2u * hidden], f_xw[at + 3u * hidden]);
        let pre = xw + vec4<f32>(s_i[r], s_f[r], s_g[r], s_o[r]) + bias;
        let out = lstm_forward(pre, f_cs[sf.c_prev_off + row * hidden + j]);
        f_xw[at] = out.act.x;
        f_xw[at + hidden] = out.act.y;
        f_xw[at + 2u * hidden] = out.act.z;
        f_xw[at + 3u * hidden] = out.act.w;
        f_cs[sf.c_off + row * hidden + j] = out.c;
        f_hs[sf.h_off + row * hidden + j] = out.h;
    }
}

@compute @workgroup_size(STEP_WG)
fn gru_step_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let hidden = sf.hidden;
    let j = wid.x * STEP_WG + lid;
    let r0 = wid.y * STEP_ROWS;
    let jj = min(j, hidden - 1u);
    let s_r = recurrent_sum(jj, r0);
    let s_z = recurrent_sum(hidden + jj, r0);
    let s_n = recurrent_sum(2u * hidden + jj, r0);
    if j >= hidden {
        return;
    }
    let b = sf.bias_off + j;
    let bias = vec3<f32>(f_params[b], f_params[b + hidden], f_params[b + 2u * hidden]);
    for (var r = 0u; r < STEP_ROWS; r++) {
        if !step_row(wid, r, sf.rows) {
            break;
        }
        let row = r0 + r;
        let col = row * 3u * hidden + j;
        let hw = vec3<f32>(s_r[r], s_z[r], s_n[r]) + bias;
        let hat = sf.hw_off + col;
        f_hw[hat] = hw.x;
        f_hw[hat + hidden] = hw.y;
        f_hw[hat + 2u * hidden] = hw.z;
        let at = sf.gates_off + col;
        let xw = vec3<f32>(f_xw[at], f_xw[at + hidden], f_xw[at + 2u * hidden]);
        let out = gru_forward(xw, hw, f_hs[sf.h_prev_off + row * hidden + j]);
        f_xw[at] = out.act.x;
        f_xw[at + hidden] = out.act.y;
        f_xw[at + 2u * hidden] = out.act.z;
        f_hs[sf.h_off + row * hidden + j] = out.h;
    }
}

/// ∂h_{t-1}[row, j] completed by the recurrent GEMM, written back.
fn complete_dh(row: u32, j: u32, s: f32) -> f32 {
    let at = sb.dh_off + row * sb.hidden + j;
    let dh = b_dh[at] + s;
    b_dh[at] = dh;
    return dh;
}

@compute @workgroup_size(STEP_WG)
fn rnn_step_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let hidden = sb.hidden;
    let j = wid.x * STEP_WG + lid;
    let r0 = wid.y * STEP_ROWS;
    let s = recurrent_grad_sum(min(j, hidden - 1u), r0, hidden);
    if j >= hidden {
        return;
    }
    for (var r = 0u; r < STEP_ROWS; r++) {
        if !step_row(wid, r, sb.rows) {
            break;
        }
        let row = r0 + r;
        let dh = complete_dh(row, j, s[r]);
        let at = row * hidden + j;
        b_dpre[sb.dxw_off + at] = dh * rnn_slope(b_rnn_hs[sb.h_off + at], sb.activation);
    }
}

@compute @workgroup_size(STEP_WG)
fn lstm_step_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let hidden = sb.hidden;
    let j = wid.x * STEP_WG + lid;
    let r0 = wid.y * STEP_ROWS;
    let s = recurrent_grad_sum(min(j, hidden - 1u), r0, 4u * hidden);
    if j >= hidden {
        return;
    }
    for (var r = 0u; r < STEP_ROWS; r++) {
        if !step_row(wid, r, sb.rows) {
            break;
        }
        let row = r0 + r;
        let dh = complete_dh(row, j, s[r]);
        let at = row * hidden + j;
        let gat = sb.gates_off + row * 4u * hidden + j;
        let act = vec4<f32>(b_xw[gat], b_xw[gat + hidden], b_xw[gat + 2u * hidden], b_xw[gat + 3u * hidden]);
        let dc_at = sb.dc_off + at;
        let grad = lstm_backward(act, b_cs[sb.c_off + at], b_cs[sb.c_prev_off + at], dh, b_dc[dc_at]);
        let dat = sb.dxw_off + row * 4u * hidden + j;
        b_dpre[dat] = grad.dpre.x;
        b_dpre[dat + hidden] = grad.dpre.y;
        b_dpre[dat + 2u * hidden] = grad.dpre.z;
        b_dpre[dat + 3u * hidden] = grad.dpre.w;
        b_dc[dc_at] = grad.dc_prev;
    }
}

@compute @workgroup_size(STEP_WG)
fn gru_step_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let hidden = sb.hidden;
    let j = wid.x * STEP_WG + lid;
    let r0 = wid.y * STEP_ROWS;
    let s = recurrent_grad_sum(min(j, hidden - 1u), r0, 3u * hidden);
    if j >= hidden {
        return;
    }
    for (var r = 0u; r < STEP_ROWS; r++) {
        if !step_row(wid, r, sb.rows) {
            break;
        }
        let row = r0 + r;
        let dh = complete_dh(row, j, s[r]);
        let at = row * hidden + j;
        let col = row * 3u * hidden + j;
        let gat = sb.gates_off + col;
        let act = vec3<f32>(b_xw[gat], b_xw[gat + hidden], b_xw[gat + 2u * hidden]);
        let grad = gru_backward(act, b_hw[sb.hw_off + col + 2u * hidden], b_hs[sb.h_off + at], dh);
        let xat = sb.dxw_off + col;
        b_dxw[xat] = grad.dxw.x;
        b_dxw[xat + hidden] = grad.dxw.y;
        b_dxw[xat + 2u * hidden] = grad.dxw.z;
        let hat = sb.dhw_off + col;
        b_dpre[hat] = grad.dhw.x;
        b_dpre[hat + hidden] = grad.dhw.y;
        b_dpre[hat + 2u * hidden] = grad.dhw.z;
        if sb.has_dh_prev != 0u {
            b_dh[sb.dh_prev_off + at] += grad.dh_prev;
        }
    }
}
