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
/// The product goes through the `gemm` crate (multithreaded above ~2 MFLOP).
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
    assert!(
        c.len() == m * n && a.len() == m * k && b.len() == k * n,
        "matmul: slice lengths do not match m, n, k"
    );
    // (row stride, column stride) of op(a) [m,k] and op(b) [k,n] in their storage.
    let (a_rs, a_cs) = if a_trans { (1, m as isize) } else { (k as isize, 1) };
    let (b_rs, b_cs) = if b_trans { (1, k as isize) } else { (n as isize, 1) };
    let parallelism = if m * n * k >= 1 << 20 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the lengths are asserted above, so every index gemm forms from
    // (m, n, k) and these strides lies inside its slice; `c` does not alias
    // `a` or `b` (it is a distinct &mut).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            F::one(),
            F::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
    if let Some(bias) = bias {
        for row in c.chunks_exact_mut(n) {
            for (x, &b) in row.iter_mut().zip(bias) {
                *x += b;
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
    for (row, &tok) in dout.chunks_exact(g).zip(tokens) {
        for (j, &d) in row.iter().enumerate() {
            dweight[j * vocab + tok as usize] += d;
        }
    }
}

/// `h = act(pre)`.
pub fn rnn_cell_forward<F: Scalar>(h: &mut [F], pre: &[F], activation: Activation) {
    for (h, &p) in h.iter_mut().zip(pre) {
        *h = match activation {
            Activation::Tanh => p.tanh(),
            Activation::Relu => p.max(F::zero()),
        };
    }
}

/// In place: `dpre = dh ⊙ act'(h)` with `dpre` holding `dh` on entry;
/// tanh' = 1 - h², relu' = [h > 0].
pub fn rnn_cell_backward<F: Scalar>(dpre: &mut [F], h: &[F], activation: Activation) {
    for (d, &h) in dpre.iter_mut().zip(h) {
        *d *= match activation {
            Activation::Tanh => F::one() - h * h,
            Activation::Relu => {
                if h > F::zero() {
                    F::one()
                } else {
                    F::zero()
                }
            }
        };
    }
}

/// `(max, logsumexp)` of one row, max subtracted first so exp never overflows.
fn logsumexp<F: Scalar>(z: &[F]) -> F {
    let max = z.iter().copied().fold(F::neg_infinity(), F::max);
    let sum = z.iter().fold(F::zero(), |s, &x| s + (x - max).exp());
    max + sum.ln()
}

/// Per row of `logits [rows, classes]`: `losses[r] = logsumexp(z) - z[target]`;
/// when `write_grad`, `logits[r] = grad_scale · (softmax(z) - onehot(target))` in place.
pub fn softmax_xent<F: Scalar>(
    logits: &mut [F],
    losses: &mut [F],
    targets: &[u32],
    classes: usize,
    grad_scale: F,
    write_grad: bool,
) {
    for ((z, loss), &t) in logits.chunks_exact_mut(classes).zip(losses.iter_mut()).zip(targets) {
        let lse = logsumexp(z);
        *loss = lse - z[t as usize];
        if write_grad {
            for x in z.iter_mut() {
                *x = grad_scale * (*x - lse).exp();
            }
            z[t as usize] -= grad_scale;
        }
    }
}

/// In place: `logits[r] = z - logsumexp(z)`.
pub fn log_softmax<F: Scalar>(logits: &mut [F], classes: usize) {
    for z in logits.chunks_exact_mut(classes) {
        let lse = logsumexp(z);
        z.iter_mut().for_each(|x| *x -= lse);
    }
}

/// `out[0] = scale · Σ losses`, in index order.
pub fn loss_sum<F: Scalar>(out: &mut [F], losses: &[F], scale: F) {
    out[0] = scale * losses.iter().fold(F::zero(), |s, &x| s + x);
}

/// Adds into `out`: `out[j] += Σ_r x[r, j]`, rows in order.
pub fn column_sum<F: Scalar>(out: &mut [F], x: &[F], cols: usize) {
    for row in x.chunks_exact(cols) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// `partials[w] = Σ grads[i]²` over chunk `w` of `NORM_CHUNK` elements.
pub fn grad_norm_partial<F: Scalar>(partials: &mut [F], grads: &[F]) {
    for (p, chunk) in partials.iter_mut().zip(grads.chunks(NORM_CHUNK)) {
        *p = chunk.iter().fold(F::zero(), |s, &g| s + g * g);
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
