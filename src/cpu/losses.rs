//! CPU twins of the heads' losses (shaders/loss.wgsl): each row's loss is
//! scaled by its weight (1 / the count PyTorch's mean divides by, or 0 for a
//! skipped position), and when `write_grad` the logits become ∂loss/∂logits.

use crate::cpu::Scalar;
use crate::cpu::kernels::sigmoid;
use crate::plan::LossKind;

/// `(max, logsumexp)` of one row, max subtracted first so exp never overflows.
#[inline(always)]
fn logsumexp<F: Scalar>(z: &[F]) -> F {
    let max = z.iter().copied().fold(F::neg_infinity(), F::max);
    let sum = z.iter().fold(F::zero(), |s, &x| s + (x - max).exp_act());
    max + sum.ln()
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
                let lse = logsumexp(z);
                *loss = w * (lse - z[t]);
                if write_grad {
                    z.iter_mut().for_each(|x| *x = w * (*x - lse).exp_act());
                    z[t] -= w;
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
