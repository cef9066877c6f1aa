//! CPU twin of `sample_next` (shaders/sample.wgsl): the next token of each
//! stream drawn on the device, so generation needs no readback per token.

use crate::cpu::Scalar;
use crate::cpu::kernels::lowbias32;
use crate::plan::SAMPLE_CONTROL_HEADER;

/// A uniform draw in [0, 1) for (seed, step, row), 24 bits like dropout's;
/// `draw_uniform` in sample.wgsl is its twin.
pub fn draw_uniform(seed: u32, step: u32, row: u32) -> f32 {
    let key = lowbias32(seed ^ lowbias32(step));
    (lowbias32(key ^ lowbias32(row)) >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Whether class `i` is among the `top_k` largest of `z` (all when `top_k`
/// is 0 or covers every class), ties ranked by lower index. O(classes) per
/// class, as in sample.wgsl; [`TopK`] answers the same in O(1).
fn in_top_k<F: Scalar>(z: &[F], i: usize, top_k: usize) -> bool {
    if top_k == 0 || top_k >= z.len() {
        return true;
    }
    let rank = z.iter().enumerate().filter(|&(j, &zj)| zj > z[i] || (zj == z[i] && j < i)).count();
    rank < top_k
}

/// Classes up to which [`TopK`] finds the boundary, and `sample_next` keeps
/// the weights, on the stack.
const TOP_K_STACK: usize = 256;

/// The candidates of one row: [`in_top_k`] for every class, from the last
/// class inside the top k (found once per row) where the logits are finite
/// and few enough. Ranking each class against every other, twice per draw,
/// was three quarters of batch-1 sampling with top_k = 40 of 65 classes.
struct TopK<'a, F> {
    z: &'a [F],
    top_k: usize,
    /// The top k's last class in the order (z descending, index ascending).
    last: Option<usize>,
}

impl<'a, F: Scalar> TopK<'a, F> {
    fn new(z: &'a [F], top_k: usize) -> Self {
        let ranked = top_k > 0 && top_k < z.len() && z.len() <= TOP_K_STACK && z.iter().all(|x| x.is_finite());
        let last = ranked.then(|| {
            let mut order = [0u16; TOP_K_STACK];
            let order = &mut order[..z.len()];
            order.iter_mut().enumerate().for_each(|(i, o)| *o = i as u16);
            // A total order, finite values: larger z first, then lower index.
            let before = |&a: &u16, &b: &u16| {
                let (za, zb) = (z[a as usize], z[b as usize]);
                zb.partial_cmp(&za).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b))
            };
            order.select_nth_unstable_by(top_k - 1, before);
            order[top_k - 1] as usize
        });
        TopK { z, top_k, last }
    }

    /// `in_top_k(z, i, top_k)`: class i ranks at or before the last one.
    fn contains(&self, i: usize) -> bool {
        match self.last {
            Some(t) => self.z[i] > self.z[t] || (self.z[i] == self.z[t] && i <= t),
            None => in_top_k(self.z, i, self.top_k),
        }
    }
}

/// See `Op::SampleNext`: in place on `tokens [rows]`, `samples [rows]` the
/// same ids as floats.
pub fn sample_next<F: Scalar>(
    tokens: &mut [u32],
    samples: &mut [F],
    logits: &[F],
    control: &[u32],
    step: u32,
    classes: usize,
) {
    let (seed, counter, top_k, greedy) = (control[0], control[1], control[2] as usize, control[4] != 0);
    let inv_temperature = F::one() / F::from_f32(f32::from_bits(control[3]));
    let forced = &control[SAMPLE_CONTROL_HEADER..];
    for (row, z) in logits.chunks_exact(classes).enumerate() {
        if step < forced[row] {
            samples[row] = F::from_f32(tokens[row] as f32);
            continue;
        }
        let best = (1..classes).fold(0, |best, i| if z[i] > z[best] { i } else { best });
        let pick = if greedy {
            best
        } else {
            let exp = |i: usize| ((z[i] - z[best]) * inv_temperature).exp_act();
            // Each weight once, in a loop of its own (which vectorises), when
            // the row fits on the stack; the two passes below read it twice.
            let mut stack = [F::zero(); TOP_K_STACK];
            let kept = classes <= TOP_K_STACK;
            if kept {
                stack[..classes].iter_mut().enumerate().for_each(|(i, w)| *w = exp(i));
            }
            let weight = |i: usize| if kept { stack[i] } else { exp(i) };
            let top = TopK::new(z, top_k);
            let candidates = || (0..classes).filter(|&i| top.contains(i));
            let total = candidates().fold(F::zero(), |acc, i| acc + weight(i));
            let u = F::from_f32(draw_uniform(seed, counter.wrapping_add(step), row as u32)) * total;
            // The first candidate whose running sum passes u; the last one if rounding leaves u on top.
            let mut running = F::zero();
            let mut last = best;
            let mut pick = None;
            for i in candidates() {
                running += weight(i);
                last = i;
                if u < running {
                    pick = Some(i);
                    break;
                }
            }
            pick.unwrap_or(last)
        };
        tokens[row] = pick as u32;
        samples[row] = F::from_f32(pick as f32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The boundary found once answers as the per-class rank does, with
    /// ties, signed zeros, every k, and past the stack or with a NaN (where
    /// it falls back to the rank).
    #[test]
    fn top_k_from_its_boundary_matches_the_rank_of_each_class() {
        let quantised = |len: usize, levels: usize| -> Vec<f32> {
            (0..len).map(|i| ((i * 7919 + 13) % levels) as f32 * 0.5 - 3.0).collect()
        };
        let mut rows = vec![quantised(65, 9), quantised(65, 65), quantised(7, 2), quantised(300, 40)];
        rows.push(vec![0.0, -0.0, 1.0, -0.0, 0.0, 1.0]);
        let mut with_nan = quantised(20, 5);
        with_nan[3] = f32::NAN;
        rows.push(with_nan);
        for z in &rows {
            for top_k in 0..=z.len() + 1 {
                let top = TopK::new(z, top_k);
                let found = (1..z.len()).contains(&top_k) && z.len() <= TOP_K_STACK && z.iter().all(|x| x.is_finite());
                assert_eq!(top.last.is_some(), found, "{} classes, k {top_k}: boundary found", z.len());
                let got: Vec<bool> = (0..z.len()).map(|i| top.contains(i)).collect();
                let want: Vec<bool> = (0..z.len()).map(|i| in_top_k(z, i, top_k)).collect();
                assert_eq!(got, want, "{} classes, k {top_k}", z.len());
                if found {
                    assert_eq!(got.iter().filter(|&&c| c).count(), top_k, "{} classes: k members", z.len());
                }
            }
        }
    }
}
