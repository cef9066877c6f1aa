// cell_math: the pointwise math of one hidden unit of each cell, shared by the
// standalone cell kernels (rnn_cell, lstm_cell, gru_cell) and the fused step
// kernels (step.wgsl), which differ only in where the values come from. The
// CPU twins are the cell functions of cpu::kernels.
//
// RNN:  h = act(pre);  ∂pre = ∂h ⊙ act'(h) with tanh' = 1 - h², relu' = [h > 0].
// LSTM, gates (i, f, g, o), PyTorch's order:
//   i, f, o = σ(·), g = tanh(·);  c = f ⊙ c_prev + i ⊙ g;  h = o ⊙ tanh(c).
//   backward, with tc = tanh(c):  ∂c = dc + ∂h ⊙ o ⊙ (1 - tc²)   (all of ∂L/∂c_t)
//   ∂pre = [∂c ⊙ g ⊙ i(1 - i), ∂c ⊙ c_prev ⊙ f(1 - f),
//           ∂c ⊙ i ⊙ (1 - g²), ∂h ⊙ tc ⊙ o(1 - o)]
//   and the carry ∂L/∂c_{t-1} = ∂c ⊙ f.
// GRU, gates (r, z, n), xw = W_i x + b_i, hw = W_h h_prev + b_h:
//   r, z = σ(xw + hw), n = tanh(xw_n + r ⊙ hw_n), h = (1 - z) ⊙ n + z ⊙ h_prev.
//   backward from ∂h:  ∂n̂ = ∂h ⊙ (1 - z) ⊙ (1 - n²),  ∂r̂ = ∂n̂ ⊙ hw_n ⊙ r(1 - r),
//   ∂ẑ = ∂h ⊙ (h_prev - n) ⊙ z(1 - z);
//   ∂xw = [∂r̂, ∂ẑ, ∂n̂],  ∂hw = [∂r̂, ∂ẑ, r ⊙ ∂n̂],
//   and the direct path ∂h_prev += ∂h ⊙ z.

const ACT_TANH: u32 = 0u;

fn rnn_activate(x: f32, activation: u32) -> f32 {
    if activation == ACT_TANH {
        return safe_tanh(x);
    }
    return max(x, 0.0);
}

fn rnn_slope(h: f32, activation: u32) -> f32 {
    if activation == ACT_TANH {
        return 1.0 - h * h;
    }
    return select(0.0, 1.0, h > 0.0);
}

struct LstmOut {
    /// The activated gates (i, f, g, o).
    act: vec4<f32>,
    c: f32,
    h: f32,
}

fn lstm_forward(pre: vec4<f32>, c_prev: f32) -> LstmOut {
    let i = sigmoid(pre.x);
    let f = sigmoid(pre.y);
    let g = safe_tanh(pre.z);
    let o = sigmoid(pre.w);
    let c = f * c_prev + i * g;
    return LstmOut(vec4<f32>(i, f, g, o), c, o * safe_tanh(c));
}

struct LstmGrad {
    /// ∂L/∂ of the pre-activations (i, f, g, o).
    dpre: vec4<f32>,
    /// ∂L/∂c_{t-1}.
    dc_prev: f32,
}

fn lstm_backward(act: vec4<f32>, c: f32, c_prev: f32, dh: f32, dc: f32) -> LstmGrad {
    let i = act.x;
    let f = act.y;
    let g = act.z;
    let o = act.w;
    let tc = safe_tanh(c);
    let dcell = dc + dh * o * (1.0 - tc * tc);
    let dpre = vec4<f32>(
        dcell * g * i * (1.0 - i),
        dcell * c_prev * f * (1.0 - f),
        dcell * i * (1.0 - g * g),
        dh * tc * o * (1.0 - o),
    );
    return LstmGrad(dpre, dcell * f);
}

struct GruOut {
    /// The activated gates (r, z, n).
    act: vec3<f32>,
    h: f32,
}

fn gru_forward(xw: vec3<f32>, hw: vec3<f32>, h_prev: f32) -> GruOut {
    let r = sigmoid(xw.x + hw.x);
    let z = sigmoid(xw.y + hw.y);
    let n = safe_tanh(xw.z + r * hw.z);
    return GruOut(vec3<f32>(r, z, n), (1.0 - z) * n + z * h_prev);
}

struct GruGrad {
    dxw: vec3<f32>,
    dhw: vec3<f32>,
    /// The direct path's share of ∂L/∂h_prev, ∂h ⊙ z.
    dh_prev: f32,
}

fn gru_backward(act: vec3<f32>, hw_n: f32, h_prev: f32, dh: f32) -> GruGrad {
    let r = act.x;
    let z = act.y;
    let n = act.z;
    let dn = dh * (1.0 - z) * (1.0 - n * n);
    let dr = dn * hw_n * r * (1.0 - r);
    let dz = dh * (h_prev - n) * z * (1.0 - z);
    return GruGrad(vec3<f32>(dr, dz, dn), vec3<f32>(dr, dz, r * dn), dh * z);
}
