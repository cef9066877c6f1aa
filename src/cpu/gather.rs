//! CPU twin of `row_gather` (shaders/util.wgsl), and the executor's bodies
//! of the token gather and its scatter-add over a transposed copy.

use crate::cpu::Scalar;

/// `out[r, :] = (accumulate ? out[r, :] : 0) + x[index[r], :]` over rows of
/// `width`. Indices come from validated lengths, so each is below x's rows
/// (checked by the slice index, never clamped).
pub fn row_gather<F: Scalar>(out: &mut [F], x: &[F], index: &[u32], width: usize, accumulate: bool) {
    for (row, &i) in out.chunks_exact_mut(width).zip(index) {
        let source = &x[i as usize * width..(i as usize + 1) * width];
        if accumulate {
            row.iter_mut().zip(source).for_each(|(o, &v)| *o += v);
        } else {
            row.copy_from_slice(source);
        }
    }
}

/// [`embed_forward`](crate::cpu::kernels::embed_forward) for `w` columns of
/// its output (`weight` = those `w` rows of W_ih `[w, vocab]`, `bias` their
/// `w` biases, `out_rows` those columns of each output row), through
/// `scratch [vocab, w]` = W_ihᵀ + bias: each token then copies one contiguous
/// row instead of walking W_ih with stride `vocab` (a scalar load per
/// element). The same single add per element, so the same bits.
pub(crate) fn embed_forward_transposed<'a, F: Scalar>(
    out_rows: impl Iterator<Item = &'a mut [F]>,
    weight: &[F],
    bias: &[F],
    tokens: &[u32],
    vocab: usize,
    scratch: &mut [F],
) {
    let w = bias.len();
    embed_table(scratch, weight, bias, vocab);
    for (out, &tok) in out_rows.zip(tokens) {
        out.copy_from_slice(&scratch[tok as usize * w..][..w]);
    }
}

/// `table [vocab, w] = weight [w, vocab]ᵀ + bias [w]`: row v is what the
/// gather writes for token v.
pub(crate) fn embed_table<F: Scalar>(table: &mut [F], weight: &[F], bias: &[F], vocab: usize) {
    let w = bias.len();
    for (j, (row, &b)) in weight.chunks_exact(vocab).zip(bias).enumerate() {
        for (v, &x) in row.iter().enumerate() {
            table[v * w + j] = x + b;
        }
    }
}

/// [`embed_backward`](crate::cpu::kernels::embed_backward) for `w` rows of
/// ∂W_ih (`dweight [w, vocab]`; `dout_rows` the same `w` columns of each row
/// of ∂out), through `scratch [vocab, w]`: ∂W_ih is transposed in, each
/// row r adds its contiguous ∂out row into row tokens[r], and the sums are
/// transposed back. Every element still adds its terms in r order onto its
/// old value, so the bits are those of the strided scatter-add.
pub(crate) fn embed_backward_transposed<'a, F: Scalar>(
    dweight: &mut [F],
    dout_rows: impl Iterator<Item = &'a [F]>,
    tokens: &[u32],
    vocab: usize,
    scratch: &mut [F],
) {
    let w = dweight.len() / vocab;
    for (j, row) in dweight.chunks_exact(vocab).enumerate() {
        for (v, &x) in row.iter().enumerate() {
            scratch[v * w + j] = x;
        }
    }
    for (dout, &tok) in dout_rows.zip(tokens) {
        let sum = &mut scratch[tok as usize * w..][..w];
        sum.iter_mut().zip(dout).for_each(|(s, &d)| *s += d);
    }
    for (j, row) in dweight.chunks_exact_mut(vocab).enumerate() {
        for (v, x) in row.iter_mut().enumerate() {
            *x = scratch[v * w + j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::kernels::{embed_backward, embed_forward};

    /// The transposed gather and scatter-add give the strided twins' bits.
    #[test]
    fn transposed_embedding_matches_twin_bit_for_bit() {
        let value = |i: usize| ((i * 7919 % 101) as f32 - 50.0) / 7.0;
        for (rows, g, vocab) in [(1, 1, 1), (9, 7, 65), (130, 64, 65), (64, 9, 3)] {
            let tokens: Vec<u32> = (0..rows).map(|r| ((r * 31 + 7) % vocab) as u32).collect();
            let weight: Vec<f32> = (0..g * vocab).map(value).collect();
            let bias: Vec<f32> = (0..g).map(|j| value(j + 3)).collect();
            let mut want = vec![0.0; rows * g];
            embed_forward(&mut want, &weight, &bias, &tokens, vocab);
            let mut got = vec![0.0; rows * g];
            let mut scratch = vec![0.0; vocab * g];
            embed_forward_transposed(got.chunks_exact_mut(g), &weight, &bias, &tokens, vocab, &mut scratch);
            assert!(got == want, "embed forward rows {rows} g {g} vocab {vocab}: {got:?} != {want:?}");

            let dout: Vec<f32> = (0..rows * g).map(|i| value(i + 5)).collect();
            let mut want = weight.clone();
            embed_backward(&mut want, &dout, &tokens, vocab);
            let mut got = weight.clone();
            embed_backward_transposed(&mut got, dout.chunks_exact(g), &tokens, vocab, &mut scratch);
            assert!(got == want, "embed backward rows {rows} g {g} vocab {vocab}: {got:?} != {want:?}");
        }
    }
}
