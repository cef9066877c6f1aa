//! CPU twins of the heads' losses (shaders/loss.wgsl): each row's loss is
//! scaled by its weight (1 / the count PyTorch's mean divides by, or 0 for a
//! skipped position), and when `write_grad` the logits become ∂loss/∂logits.

use crate::cpu::Scalar;
use crate::cpu::kernels::sigmoid;
use crate::plan::LossKind;

/// Lanes of the row reductions: element i goes to lane i mod 16, the lanes
/// are then combined in order. A fixed order that vectorises.
const LANES: usize = 16;

/// `combine` over a row in [`LANES`] interleaved lanes, starting from `init`.
#[inline(always)]
fn lane_fold<F: Scalar>(z: &[F], init: F, combine: impl Fn(F, F) -> F) -> F {
    let mut lanes = [init; LANES];
    let mut groups = z.chunks_exact(LANES);
    for group in &mut groups {
        for (l, &x) in lanes.iter_mut().zip(group) {
            *l = combine(*l, x);
        }
    }
    for (l, &x) in lanes.iter_mut().zip(groups.remainder()) {
        *l = combine(*l, x);
    }
    lanes.iter().fold(init, |a, &b| combine(a, b))
}

/// `logsumexp` of one row, the max subtracted first so exp never overflows.
#[inline(always)]
fn logsumexp<F: Scalar>(z: &[F]) -> F {
    let max = lane_fold(z, F::neg_infinity(), F::max);
    let mut sum = [F::zero(); LANES];
    for (i, &x) in z.iter().enumerate() {
        sum[i % LANES] += (x - max).exp_act();
    }
    max + sum.iter().fold(F::zero(), |a, &b| a + b).ln()
}

/// The targets of a loss: class ids (softmax) or values (sigmoid, linear).
pub enum LossTargets<'a, F> {
    Classes(&'a [u32]),
    Values(&'a [F]),
}

/// See `Op::Loss`.
#[inline(always)]
pub fn loss<F: Scalar>(
    kind: LossKind,
    logits: &mut [F],
    losses: &mut [F],
    targets: LossTargets<'_, F>,
    weights: &[F],
    width: usize,
    write_grad: bool,
) {
    let rows = logits.chunks_exact_mut(width).zip(losses.iter_mut()).zip(weights).enumerate();
    for (r, ((z, loss), &w)) in rows {
        match (kind, &targets) {
            (LossKind::SoftmaxXent, LossTargets::Classes(t)) => {
                let t = t[r] as usize;
                if write_grad {
                    // e^(z - max) in place, then p·w = e·(w / Σe): one exp per logit.
                    let (max, z_t) = (lane_fold(z, F::neg_infinity(), F::max), z[t]);
                    z.iter_mut().for_each(|x| *x = (*x - max).exp_act());
                    let sum = lane_fold(z, F::zero(), |a, b| a + b);
                    *loss = w * (max + sum.ln() - z_t);
                    let scale = w / sum;
                    z.iter_mut().for_each(|x| *x *= scale);
                    z[t] -= w;
                } else {
                    *loss = w * (logsumexp(z) - z[t]);
                }
            }
            (LossKind::SigmoidBce, LossTargets::Values(y)) => {
                let mut sum = F::zero();
                for (x, &y) in z.iter_mut().zip(&y[r * width..(r + 1) * width]) {
                    let v = *x;
                    sum += v.max(F::zero()) - v * y + (F::one() + (-v.abs()).exp_act()).ln();
                    if write_grad {
                        *x = w * (sigmoid(v) - y);
                    }
                }
                *loss = w * sum;
            }
            (LossKind::MeanSquared, LossTargets::Values(y)) => {
                let mut sum = F::zero();
                for (x, &y) in z.iter_mut().zip(&y[r * width..(r + 1) * width]) {
                    let d = *x - y;
                    sum += d * d;
                    if write_grad {
                        *x = w * F::from_f32(2.0) * d;
                    }
                }
                *loss = w * sum;
            }
            // Plan validation gives softmax class ids and the others values.
            _ => unreachable!("validated plan: loss targets of the wrong kind"),
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
