//! CPU twin of `row_gather` (shaders/util.wgsl).

use crate::cpu::Scalar;

/// `out[r, :] = x[index[r], :]` over rows of `width`. Indices come from
/// validated lengths, so each is below x's rows (checked, not clamped).
pub fn row_gather<F: Scalar>(out: &mut [F], x: &[F], index: &[u32], width: usize) {
    for (row, &i) in out.chunks_exact_mut(width).zip(index) {
        let i = i as usize * width;
        row.copy_from_slice(&x[i..i + width]);
    }
}
