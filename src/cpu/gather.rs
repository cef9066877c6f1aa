//! CPU twin of `row_gather` (shaders/util.wgsl).

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
