//! CPU twins of the WGSL kernels: the same names, the same argument order
//! (written slices first), the same math. Generic over the float type so the
//! gradient check can run them in f64. No allocation inside any of them.

use crate::cpu::Scalar;
use crate::plan::{Activation, NORM_CHUNK};

/// `dst[i] = value`.
pub fn fill<F: Scalar>(dst: &mut [F], value: F) {
    dst.fill(value);
}

/// `dst[i] = src[i]`.
pub fn copy<F: Scalar>(dst: &mut [F], src: &[F]) {
    dst.copy_from_slice(src);
}

/// `c[m,n] = (accumulate ? c : 0) + op(a)[m,k] · op(b)[k,n] + bias[n]`, row-major;
/// `a_trans`: `a` is stored `[k,m]`; `b_trans`: `b` is stored `[n,k]`.
/// The product goes through the `gemm` crate on this thread (the executor
/// splits large products between threads itself, see `cpu::parallel`).
#[allow(clippy::too_many_arguments)]
pub fn matmul<F: Scalar>(
    c: &mut [F],
    a: &[F],
    b: &[F],
    bias: Option<&[F]>,
    m: usize,
    n: usize,
    k: usize,
    a_trans: bool,
    b_trans: bool,
    accumulate: bool,
) {
    assert!(c.len() == m * n && a.len() == m * k && b.len() == k * n, "matmul: slice lengths do not match m, n, k");
    if let Some(bias) = bias {
        assert_eq!(bias.len(), n, "matmul: bias length");
    }
    let (a_s, b_s) = (MatrixStrides::of_a(a_trans, m, k), MatrixStrides::of_b(b_trans, k, n));
    let c_s = MatrixStrides { rows: n as isize, cols: 1 };
    // SAFETY: the lengths are asserted above, so every index formed from
    // (m, n, k) and these strides lies inside its slice; `c` does not alias
    // `a`, `b` or `bias` (it is a distinct &mut).
    unsafe {
        matmul_raw(
            (m, n, k),
            (c.as_mut_ptr(), c_s),
            (a.as_ptr(), a_s),
            (b.as_ptr(), b_s),
            bias.map(|b| b.as_ptr()),
            accumulate,
        )
    }
}

/// Element strides of a matrix in its storage: `(i, j)` is at `i·rows + j·cols`.
#[derive(Clone, Copy, Debug)]
pub struct MatrixStrides {
    pub rows: isize,
    pub cols: isize,
}

impl MatrixStrides {
    /// op(a) `[m, k]`, stored `[k, m]` when `a_trans`.
    pub fn of_a(a_trans: bool, m: usize, k: usize) -> Self {
        if a_trans { MatrixStrides { rows: 1, cols: m as isize } } else { MatrixStrides { rows: k as isize, cols: 1 } }
    }
    /// op(b) `[k, n]`, stored `[n, k]` when `b_trans`.
    pub fn of_b(b_trans: bool, k: usize, n: usize) -> Self {
        if b_trans { MatrixStrides { rows: 1, cols: k as isize } } else { MatrixStrides { rows: n as isize, cols: 1 } }
    }
}

/// [`matmul`] over raw strided matrices: `c[i,j] = (accumulate ? c[i,j] : 0) +
/// Σ_kk a[i,kk]·b[kk,j] + bias[j]` for an `m × n` block, on this thread.
///
/// # Safety
/// Every element the shapes and strides address lies in live memory; the
/// block of `c` is written by no one else meanwhile and overlaps no input.
pub(crate) unsafe fn matmul_raw<F: Scalar>(
    (m, n, k): (usize, usize, usize),
    (c, c_s): (*mut F, MatrixStrides),
    (a, a_s): (*const F, MatrixStrides),
    (b, b_s): (*const F, MatrixStrides),
    bias: Option<*const F>,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            c_s.cols,
            c_s.rows,
            accumulate,
            a,
            a_s.cols,
            a_s.rows,
            b,
            b_s.cols,
            b_s.rows,
            F::one(),
            F::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
        if let Some(bias) = bias {
            for i in 0..m as isize {
                for j in 0..n {
                    *c.offset(i * c_s.rows + j as isize * c_s.cols) += *bias.add(j);
                }
            }
        }
    }
}

/// Token input projection as a gather: `out[r, j] = weight[j, tokens[r]] + bias[j]`;
/// out `[n, g]`, weight `[g, vocab]`. Token ids were checked against `vocab` on entry.
pub fn embed_forward<F: Scalar>(out: &mut [F], weight: &[F], bias: &[F], tokens: &[u32], vocab: usize) {
    let g = bias.len();
    for (row, &tok) in out.chunks_exact_mut(g).zip(tokens) {
        for (j, x) in row.iter_mut().enumerate() {
            *x = weight[j * vocab + tok as usize] + bias[j];
        }
    }
}

/// Adds into `dweight`: `dweight[j, tokens[r]] += dout[r, j]`, rows in order (deterministic).
pub fn embed_backward<F: Scalar>(dweight: &mut [F], dout: &[F], tokens: &[u32], vocab: usize) {
    let g = dweight.len() / vocab;
    embed_backward_range(dweight, dout, tokens, vocab, g, 0);
}

/// [`embed_backward`] for the rows `first .. first + dweight.len() / vocab` of
/// ∂W_ih `[g, vocab]` (`dout` is `[n, g]`); each row still walks r in order.
pub fn embed_backward_range<F: Scalar>(
    dweight: &mut [F],
    dout: &[F],
    tokens: &[u32],
    vocab: usize,
    g: usize,
    first: usize,
) {
    let width = dweight.len() / vocab;
    for (row, &tok) in dout.chunks_exact(g).zip(tokens) {
        for (j, &d) in row[first..first + width].iter().enumerate() {
            dweight[j * vocab + tok as usize] += d;
        }
    }
}

/// `h = act(pre)`.
#[inline(always)]
pub fn rnn_cell_forward<F: Scalar>(h: &mut [F], pre: &[F], activation: Activation) {
    for (h, &p) in h.iter_mut().zip(pre) {
        *h = match activation {
            Activation::Tanh => tanh(p),
            Activation::Relu => p.max(F::zero()),
        };
    }
}

/// `dpre = dh ⊙ act'(h)`; tanh' = 1 - h², relu' = [h > 0].
#[inline(always)]
pub fn rnn_cell_backward<F: Scalar>(dpre: &mut [F], dh: &[F], h: &[F], activation: Activation) {
    for ((d, &dh), &h) in dpre.iter_mut().zip(dh).zip(h) {
        let slope = match activation {
            Activation::Tanh => F::one() - h * h,
            Activation::Relu if h > F::zero() => F::one(),
            Activation::Relu => F::zero(),
        };
        *d = dh * slope;
    }
}

/// σ(x) without overflow: the exponential is only taken of -|x| ≤ 0.
#[inline(always)]
pub fn sigmoid<F: Scalar>(x: F) -> F {
    let e = (-x.abs()).exp_act();
    let s = F::one() / (F::one() + e);
    if x >= F::zero() { s } else { e * s }
}

/// tanh(x) = sign(x)·(1 - e)/(1 + e) with e = e^{-2|x|} ≤ 1: no overflow, and
/// in f32 an absolute error of a few 1e-8 (libm's tanhf was the CPU
/// backend's hottest call).
#[inline(always)]
pub fn tanh<F: Scalar>(x: F) -> F {
    let e = (-(x.abs() + x.abs())).exp_act();
    let t = (F::one() - e) / (F::one() + e);
    if x >= F::zero() { t } else { -t }
}

/// LSTM step over rows of `gates [B, 4H]` (blocks i, f, g, o). In place the
/// pre-activations become σ(i), σ(f), tanh(g), σ(o); `c = f c_prev + i g`, `h = o tanh(c)`.
#[inline(always)]
pub fn lstm_cell_forward<F: Scalar>(gates: &mut [F], c: &mut [F], h: &mut [F], c_prev: &[F], hidden: usize) {
    let rows = gates.chunks_exact_mut(4 * hidden).zip(c.chunks_exact_mut(hidden));
    for ((g, c), (h, c_prev)) in rows.zip(h.chunks_exact_mut(hidden).zip(c_prev.chunks_exact(hidden))) {
        // Four gate blocks of equal length: the loop below vectorises.
        let (gi, rest) = g.split_at_mut(hidden);
        let (gf, rest) = rest.split_at_mut(hidden);
        let (gg, go) = rest.split_at_mut(hidden);
        // One simple loop per activation: each vectorises on its own.
        for gate in [&mut *gi, &mut *gf, &mut *go] {
            gate.iter_mut().for_each(|x| *x = sigmoid(*x));
        }
        gg.iter_mut().for_each(|x| *x = tanh(*x));
        let (gi, gf, gg, go) = (&gi[..hidden], &gf[..hidden], &gg[..hidden], &go[..hidden]);
        let (c, h, c_prev) = (&mut c[..hidden], &mut h[..hidden], &c_prev[..hidden]);
        for j in 0..hidden {
            c[j] = gf[j] * c_prev[j] + gi[j] * gg[j];
        }
        for j in 0..hidden {
            h[j] = go[j] * tanh(c[j]);
        }
    }
}

/// LSTM step backward. With tc = tanh(c): ∂c = dc + dh·o·(1 - tc²); then
/// ∂i = ∂c·g, ∂f = ∂c·c_prev, ∂g = ∂c·i, ∂o = dh·tc, each times its
/// activation's slope into `dgates`; `dc` becomes ∂c·f, the carry to step t-1.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn lstm_cell_backward<F: Scalar>(
    dgates: &mut [F],
    dc: &mut [F],
    dh: &[F],
    gates: &[F],
    c: &[F],
    c_prev: &[F],
    hidden: usize,
) {
    let rows = dgates.chunks_exact_mut(4 * hidden).zip(dc.chunks_exact_mut(hidden));
    let inputs = dh.chunks_exact(hidden).zip(gates.chunks_exact(4 * hidden));
    let cells = c.chunks_exact(hidden).zip(c_prev.chunks_exact(hidden));
    for (((dg, dc), (dh, g)), (c, c_prev)) in rows.zip(inputs).zip(cells) {
        let (di, rest) = dg.split_at_mut(hidden);
        let (df, rest) = rest.split_at_mut(hidden);
        let (dgg, dgo) = rest.split_at_mut(hidden);
        let (gi, rest) = g.split_at(hidden);
        let (gf, rest) = rest.split_at(hidden);
        let (gg, go) = rest.split_at(hidden);
        lstm_backward_row(di, df, dgg, dgo, dc, dh, gi, gf, gg, go, c, c_prev);
    }
}

/// One row of [`lstm_cell_backward`]. Every block is its own slice argument
/// (not an array of them: only a direct `&mut` argument is `noalias`), so the
/// compiler knows they do not alias and vectorises both loops without the
/// dozens of run-time overlap checks it otherwise gives up on.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn lstm_backward_row<F: Scalar>(
    di: &mut [F],
    df: &mut [F],
    dgg: &mut [F],
    dgo: &mut [F],
    dc: &mut [F],
    dh: &[F],
    gi: &[F],
    gf: &[F],
    gg: &[F],
    go: &[F],
    c: &[F],
    c_prev: &[F],
) {
    let one = F::one();
    let n = dc.len();
    let (di, df, dgg, dgo) = (&mut di[..n], &mut df[..n], &mut dgg[..n], &mut dgo[..n]);
    let (dh, gi, gf, gg, go, c, c_prev) = (&dh[..n], &gi[..n], &gf[..n], &gg[..n], &go[..n], &c[..n], &c_prev[..n]);
    // tanh(c) first, in its own loop, parked in ∂o's slot.
    for j in 0..n {
        dgo[j] = tanh(c[j]);
    }
    for j in 0..n {
        let (i, f, g, o) = (gi[j], gf[j], gg[j], go[j]);
        let tc = dgo[j];
        let dcell = dc[j] + dh[j] * o * (one - tc * tc);
        di[j] = dcell * g * i * (one - i);
        df[j] = dcell * c_prev[j] * f * (one - f);
        dgg[j] = dcell * i * (one - g * g);
        dgo[j] = dh[j] * tc * o * (one - o);
        dc[j] = dcell * f;
    }
}

/// GRU step over rows of `[B, 3H]` (blocks r, z, n). In place `gates` goes
/// from `W_i x + b_i` to r, z, n: r, z = σ(x· + hw·), n = tanh(x_n + r·hw_n);
/// `h = (1 - z) n + z h_prev`.
#[inline(always)]
pub fn gru_cell_forward<F: Scalar>(gates: &mut [F], h: &mut [F], hw: &[F], h_prev: &[F], hidden: usize) {
    let rows = gates.chunks_exact_mut(3 * hidden).zip(h.chunks_exact_mut(hidden));
    for ((g, h), (hw, h_prev)) in rows.zip(hw.chunks_exact(3 * hidden).zip(h_prev.chunks_exact(hidden))) {
        let (gr, rest) = g.split_at_mut(hidden);
        let (gz, gn) = rest.split_at_mut(hidden);
        let (hr, rest) = hw.split_at(hidden);
        let (hz, hn) = rest.split_at(hidden);
        gru_forward_row(gr, gz, gn, h, hr, hz, hn, h_prev);
    }
}

/// One row of [`gru_cell_forward`], each block its own slice argument (see
/// `lstm_backward_row`). As sub-slices of one row the n loop, which writes
/// the n block and reads the r block, stayed scalar: LLVM hoists the loop's
/// overlap check out of the row loop, widened to the span of every row, and
/// the r and n blocks of all rows interleave, so the check always failed.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gru_forward_row<F: Scalar>(
    gr: &mut [F],
    gz: &mut [F],
    gn: &mut [F],
    h: &mut [F],
    hr: &[F],
    hz: &[F],
    hn: &[F],
    h_prev: &[F],
) {
    let len = h.len();
    let (gr, gz, gn, h) = (&mut gr[..len], &mut gz[..len], &mut gn[..len], &mut h[..len]);
    let (hr, hz, hn, h_prev) = (&hr[..len], &hz[..len], &hn[..len], &h_prev[..len]);
    // One loop per activation, so each vectorises.
    for j in 0..len {
        gr[j] = sigmoid(gr[j] + hr[j]);
    }
    for j in 0..len {
        gz[j] = sigmoid(gz[j] + hz[j]);
    }
    for j in 0..len {
        gn[j] = tanh(gn[j] + gr[j] * hn[j]);
    }
    for j in 0..len {
        h[j] = (F::one() - gz[j]) * gn[j] + gz[j] * h_prev[j];
    }
}

/// GRU step backward. ∂n̂ = dh·(1 - z)·(1 - n²) is the gradient of n's
/// pre-activation; ∂r̂ = ∂n̂·hw_n·r(1 - r), ∂ẑ = dh·(h_prev - n)·z(1 - z).
/// `dxw = [∂r̂, ∂ẑ, ∂n̂]`, `dhw = [∂r̂, ∂ẑ, r·∂n̂]`; adds `dh·z` into `dh_prev` when given.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn gru_cell_backward<F: Scalar>(
    dxw: &mut [F],
    dhw: &mut [F],
    mut dh_prev: Option<&mut [F]>,
    dh: &[F],
    gates: &[F],
    hw: &[F],
    h_prev: &[F],
    hidden: usize,
) {
    let rows = dxw.chunks_exact_mut(3 * hidden).zip(dhw.chunks_exact_mut(3 * hidden));
    let inputs = dh.chunks_exact(hidden).zip(gates.chunks_exact(3 * hidden));
    let state = hw.chunks_exact(3 * hidden).zip(h_prev.chunks_exact(hidden));
    for (b, (((dxw, dhw), (dh, g)), (hw, h_prev))) in rows.zip(inputs).zip(state).enumerate() {
        let (dxr, rest) = dxw.split_at_mut(hidden);
        let (dxz, dxn) = rest.split_at_mut(hidden);
        let (dhr, rest) = dhw.split_at_mut(hidden);
        let (dhz, dhn) = rest.split_at_mut(hidden);
        let (r, rest) = g.split_at(hidden);
        let (z, n) = rest.split_at(hidden);
        let hw_n = &hw[2 * hidden..];
        gru_backward_row(dxr, dxz, dxn, dhr, dhz, dhn, dh, r, z, n, hw_n, h_prev);
        if let Some(dp) = dh_prev.as_deref_mut() {
            let dp = &mut dp[b * hidden..][..hidden];
            for ((dp, &dh), &z) in dp.iter_mut().zip(dh).zip(z) {
                *dp += dh * z;
            }
        }
    }
}

/// One row of [`gru_cell_backward`], each block its own slice (see `lstm_backward_row`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gru_backward_row<F: Scalar>(
    dxr: &mut [F],
    dxz: &mut [F],
    dxn: &mut [F],
    dhr: &mut [F],
    dhz: &mut [F],
    dhn: &mut [F],
    dh: &[F],
    r: &[F],
    z: &[F],
    n: &[F],
    hw_n: &[F],
    h_prev: &[F],
) {
    let one = F::one();
    let len = dh.len();
    let (dxr, dxz, dxn, dhr, dhz, dhn) =
        (&mut dxr[..len], &mut dxz[..len], &mut dxn[..len], &mut dhr[..len], &mut dhz[..len], &mut dhn[..len]);
    let (r, z, n, hw_n, h_prev) = (&r[..len], &z[..len], &n[..len], &hw_n[..len], &h_prev[..len]);
    for j in 0..len {
        let (r, z, n, dh) = (r[j], z[j], n[j], dh[j]);
        let dn = dh * (one - z) * (one - n * n);
        let dr = dn * hw_n[j] * r * (one - r);
        let dz = dh * (h_prev[j] - n) * z * (one - z);
        (dxr[j], dxz[j], dxn[j]) = (dr, dz, dn);
        (dhr[j], dhz[j], dhn[j]) = (dr, dz, r * dn);
    }
}

/// Chris Wellons' `lowbias32` integer hash; `lowbias32` in common.wgsl is its twin.
pub fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// Whether element `i` survives dropout with probability `p`: a uniform
/// u = (24 high bits of hash(hash(i) ^ key)) / 2²⁴ with key = hash(seed ^ hash(salt)),
/// kept when u ≥ p. Counter-based, so both backends draw the same mask.
pub fn dropout_keep(i: u32, seed: u32, salt: u32, p: f32) -> bool {
    let key = lowbias32(seed ^ lowbias32(salt));
    let u = (lowbias32(lowbias32(i) ^ key) >> 8) as f32 * (1.0 / 16_777_216.0);
    u >= p
}

/// 1 / (1 - p) in f32, the one value both backends scale kept elements by.
pub fn dropout_scale(p: f32) -> f32 {
    1.0 / (1.0 - p)
}

/// `out = x ⊙ keep / (1 - p)`.
pub fn dropout<F: Scalar>(out: &mut [F], x: &[F], seed: &[u32], salt: u32, p: f32) {
    let scale = F::from_f32(dropout_scale(p));
    for (i, (o, &x)) in out.iter_mut().zip(x).enumerate() {
        *o = if dropout_keep(i as u32, seed[0], salt, p) { x * scale } else { F::zero() };
    }
}

/// In place: `dx ⊙= keep / (1 - p)`.
pub fn dropout_backward<F: Scalar>(dx: &mut [F], seed: &[u32], salt: u32, p: f32) {
    let scale = F::from_f32(dropout_scale(p));
    for (i, d) in dx.iter_mut().enumerate() {
        *d = if dropout_keep(i as u32, seed[0], salt, p) { *d * scale } else { F::zero() };
    }
}

/// `out[0] = scale · Σ losses`, in index order.
pub fn loss_sum<F: Scalar>(out: &mut [F], losses: &[F], scale: F) {
    out[0] = scale * losses.iter().fold(F::zero(), |s, &x| s + x);
}

/// Adds into `out`: `out[j] += Σ_r x[r, j]`, rows in order.
pub fn column_sum<F: Scalar>(out: &mut [F], x: &[F], cols: usize) {
    column_sum_range(out, x, cols, 0);
}

/// [`column_sum`] for the columns `first .. first + out.len()` of `x`.
#[inline(always)]
pub fn column_sum_range<F: Scalar>(out: &mut [F], x: &[F], cols: usize, first: usize) {
    let width = out.len();
    for row in x.chunks_exact(cols) {
        for (o, &v) in out.iter_mut().zip(&row[first..first + width]) {
            *o += v;
        }
    }
}

/// `partials[w] = Σ grads[i]²` over chunk `w` of `NORM_CHUNK` elements,
/// each chunk summed in 16 interleaved lanes (element i into lane i mod 16)
/// and the lanes then in order: a fixed order that vectorises.
#[inline(always)]
pub fn grad_norm_partial<F: Scalar>(partials: &mut [F], grads: &[F]) {
    const LANES: usize = 16;
    for (p, chunk) in partials.iter_mut().zip(grads.chunks(NORM_CHUNK)) {
        let mut lanes = [F::zero(); LANES];
        let mut groups = chunk.chunks_exact(LANES);
        for group in &mut groups {
            for (l, &g) in lanes.iter_mut().zip(group) {
                *l += g * g;
            }
        }
        for (l, &g) in lanes.iter_mut().zip(groups.remainder()) {
            *l += g * g;
        }
        *p = lanes.iter().fold(F::zero(), |s, &l| s + l);
    }
}

/// `stats = [‖g‖, min(1, max_norm / (‖g‖ + 1e-6))]`, ‖g‖ = √Σ partials;
/// the clip factor is 1 without `max_norm`.
pub fn grad_norm_finish<F: Scalar>(stats: &mut [F], partials: &[F], max_norm: Option<F>) {
    let norm = partials.iter().fold(F::zero(), |s, &p| s + p).sqrt();
    stats[0] = norm;
    stats[1] = max_norm.map_or(F::one(), |max| (max / (norm + F::from_f32(1e-6))).min(F::one()));
}

/// The clipped gradient scale, or `None` when the norm is not finite and the
/// update must be skipped.
fn clip_scale<F: Scalar>(stats: &[F]) -> Option<F> {
    (stats[0].is_finite() && stats[1].is_finite()).then_some(stats[1])
}

/// SGD with momentum: `velocity = momentum · velocity + g; params -= lr · velocity`.
#[inline(always)]
pub fn sgd_momentum<F: Scalar>(
    params: &mut [F],
    velocity: &mut [F],
    grads: &[F],
    stats: &[F],
    hyper: &[F],
    momentum: F,
) {
    let Some(clip) = clip_scale(stats) else { return };
    let lr = hyper[0];
    for ((p, v), &g) in params.iter_mut().zip(velocity.iter_mut()).zip(grads) {
        *v = momentum * *v + clip * g;
        *p -= lr * *v;
    }
}

/// Adagrad: `sum_sq += g²; params -= lr · g / (√sum_sq + eps)`.
#[inline(always)]
pub fn adagrad<F: Scalar>(params: &mut [F], sum_sq: &mut [F], grads: &[F], stats: &[F], hyper: &[F], eps: F) {
    let Some(clip) = clip_scale(stats) else { return };
    let lr = hyper[0];
    for ((p, s), &g) in params.iter_mut().zip(sum_sq.iter_mut()).zip(grads) {
        let g = clip * g;
        *s += g * g;
        *p -= lr * g / (s.sqrt() + eps);
    }
}

/// Adam as `torch.optim.Adam`: `hyper = [lr, 1-β₁ᵗ, 1-β₂ᵗ, _]`;
/// `p -= lr/(1-β₁ᵗ) · m / (√v / √(1-β₂ᵗ) + eps)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn adam<F: Scalar>(
    params: &mut [F],
    m: &mut [F],
    v: &mut [F],
    grads: &[F],
    stats: &[F],
    hyper: &[F],
    beta1: F,
    beta2: F,
    eps: F,
) {
    let Some(clip) = clip_scale(stats) else { return };
    let step_size = hyper[0] / hyper[1];
    let bias_correction2_sqrt = hyper[2].sqrt();
    for (((p, m), v), &g) in params.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(grads) {
        let g = clip * g;
        *m = beta1 * *m + (F::one() - beta1) * g;
        *v = beta2 * *v + (F::one() - beta2) * g * g;
        *p -= step_size * *m / (v.sqrt() / bias_correction2_sqrt + eps);
    }
}
