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
/// class, which is fine for character vocabularies.
fn in_top_k<F: Scalar>(z: &[F], i: usize, top_k: usize) -> bool {
    if top_k == 0 || top_k >= z.len() {
        return true;
    }
    let rank = z.iter().enumerate().filter(|&(j, &zj)| zj > z[i] || (zj == z[i] && j < i)).count();
    rank < top_k
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
            let weight = |i: usize| ((z[i] - z[best]) * inv_temperature).exp_act();
            let candidates = || (0..classes).filter(|&i| in_top_k(z, i, top_k));
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
