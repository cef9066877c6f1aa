//! The recurrent steps' f32 products on AVX-512, against a weight packed once
//! per block: `C[m, n] (+)= A[m, k] · op(B)[k, n] (+ bias[n])` with `A`
//! row-major (row stride `a_rs`) and op(B) = W_hhᵀ (forward) or W_hh
//! (backward), packed by [`PackedB::pack`] into panels of [`NR`] columns,
//! each `k` rows of `NR` contiguous floats (zero past `n`).
//!
//! Why our own kernel here: a step's product is small (B × G·H × H, B = 32
//! to 64 rows) and comes 2·T·L times per block against the same weight. The
//! `gemm` crate re-packs W_hh on every call and runs AVX2 kernels on stable
//! Rust; here the weight is packed once per block and the register block is
//! 8 rows × 32 columns of zmm accumulators (16 of the 32 registers), so
//! each k step is 2 panel loads, 8 broadcasts and 16 FMAs. Every element
//! sums its k terms in order, so a row's result does not depend on which
//! rows share its tile or thread.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Columns per packed panel (two zmm registers).
pub const NR: usize = 32;
/// Rows per register block.
pub const MR: usize = 8;
/// Floats in a 64-byte cache line.
const LINE_FLOATS: usize = 16;

/// op(B) `[k, n]` in panels of [`NR`] columns.
#[derive(Default)]
pub struct PackedB {
    /// The panels, from `data[start]`, the first 64-byte boundary: every
    /// panel row (NR floats = 128 bytes) then fills two whole cache lines.
    /// From a Vec's 16-byte alignment each zmm load straddled two lines.
    data: Vec<f32>,
    start: usize,
    pub k: usize,
    pub n: usize,
}

impl PackedB {
    /// Packs op(B) `[k, n]`: `b` is stored `[n, k]` when `b_trans`, else `[k, n]`.
    /// Reuses the allocation when the size is unchanged.
    pub fn pack(&mut self, b: &[f32], k: usize, n: usize, b_trans: bool) {
        assert_eq!(b.len(), k * n, "pack: b must be k x n");
        let panels = n.div_ceil(NR);
        let len = panels * k * NR;
        self.data.resize(len + LINE_FLOATS, 0.0);
        self.start = self.data.as_ptr().align_offset(LINE_FLOATS * size_of::<f32>()).min(LINE_FLOATS);
        (self.k, self.n) = (k, n);
        for (p, panel) in self.data[self.start..][..len].chunks_exact_mut(k * NR).enumerate() {
            let (j0, width) = (p * NR, NR.min(n - p * NR));
            if b_trans {
                // Column j of op(B) is row j of b: walk it, write strided.
                for c in 0..width {
                    let row = &b[(j0 + c) * k..][..k];
                    for (kk, &x) in row.iter().enumerate() {
                        panel[kk * NR + c] = x;
                    }
                }
                if width < NR {
                    for kk in 0..k {
                        panel[kk * NR + width..(kk + 1) * NR].fill(0.0);
                    }
                }
            } else {
                for (kk, dst) in panel.chunks_exact_mut(NR).enumerate() {
                    dst[..width].copy_from_slice(&b[kk * n + j0..][..width]);
                    dst[width..].fill(0.0);
                }
            }
        }
    }

    fn panel(&self, p: usize) -> &[f32] {
        &self.data[self.start + p * self.k * NR..][..self.k * NR]
    }
}

/// True when this CPU runs the AVX-512 kernels (checked once).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| std::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `c[i, j] = (accumulate ? c[i, j] : 0) + Σ_kk a[i, kk] · op(B)[kk, j] (+ bias[j])`
/// for `m` rows: `a` holds rows of stride `a_rs` (≥ k), `c` rows of stride `n`.
/// Panics unless [`available`].
pub fn gemm_packed(c: &mut [f32], a: &[f32], a_rs: usize, b: &PackedB, bias: Option<&[f32]>, accumulate: bool) {
    let (k, n) = (b.k, b.n);
    assert!(available(), "gemm_packed needs AVX-512");
    assert!(c.len().is_multiple_of(n) && a_rs >= k, "gemm_packed: bad strides");
    let m = c.len() / n;
    assert!(m == 0 || a.len() >= (m - 1) * a_rs + k, "gemm_packed: a is too short");
    if let Some(bias) = bias {
        assert_eq!(bias.len(), n, "gemm_packed: bias length");
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX-512F is present (asserted), and every row and panel index
    // below stays inside the lengths asserted above.
    unsafe {
        gemm_avx512(c, a, a_rs, b, bias, accumulate, m)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gemm_avx512(
    c: &mut [f32],
    a: &[f32],
    a_rs: usize,
    b: &PackedB,
    bias: Option<&[f32]>,
    accumulate: bool,
    m: usize,
) {
    let (k, n) = (b.k, b.n);
    let bias = bias.map_or(std::ptr::null(), |s| s.as_ptr());
    for p in 0..n.div_ceil(NR) {
        let j0 = p * NR;
        let width = NR.min(n - j0);
        let panel = b.panel(p).as_ptr();
        let mask: u32 = if width == NR { u32::MAX } else { (1u32 << width) - 1 };
        let masks = (mask as __mmask16, (mask >> 16) as __mmask16);
        let bias_p = if bias.is_null() { bias } else { unsafe { bias.add(j0) } };
        let mut i0 = 0;
        while i0 < m {
            let rows = MR.min(m - i0);
            let (a_t, c_t) = unsafe { (a.as_ptr().add(i0 * a_rs), c.as_mut_ptr().add(i0 * n + j0)) };
            let t = Tile { k, a: a_t, a_rs, b: panel, c: c_t, c_rs: n, masks, bias: bias_p, accumulate };
            unsafe {
                match rows {
                    8 => tile::<8>(t),
                    7 => tile::<7>(t),
                    6 => tile::<6>(t),
                    5 => tile::<5>(t),
                    4 => tile::<4>(t),
                    3 => tile::<3>(t),
                    2 => tile::<2>(t),
                    _ => tile::<1>(t),
                }
            }
            i0 += rows;
        }
    }
}

/// One register block: `R` rows of A against one panel.
#[cfg(target_arch = "x86_64")]
struct Tile {
    k: usize,
    a: *const f32,
    a_rs: usize,
    b: *const f32,
    c: *mut f32,
    c_rs: usize,
    /// Valid columns of the panel's two halves.
    masks: (__mmask16, __mmask16),
    /// Null or the panel's 32 (masked) bias values.
    bias: *const f32,
    accumulate: bool,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile<const R: usize>(t: Tile) {
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        let mut b = t.b;
        let mut a = t.a;
        for _ in 0..t.k {
            let b0 = _mm512_loadu_ps(b);
            let b1 = _mm512_loadu_ps(b.add(16));
            for (i, acc) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_ps(*a.add(i * t.a_rs));
                acc[0] = _mm512_fmadd_ps(x, b0, acc[0]);
                acc[1] = _mm512_fmadd_ps(x, b1, acc[1]);
            }
            b = b.add(NR);
            a = a.add(1);
        }
        let (m0, m1) = t.masks;
        let (bias0, bias1) = if t.bias.is_null() {
            (_mm512_setzero_ps(), _mm512_setzero_ps())
        } else {
            (_mm512_maskz_loadu_ps(m0, t.bias), _mm512_maskz_loadu_ps(m1, t.bias.add(16)))
        };
        for (i, acc) in acc.iter().enumerate() {
            let row = t.c.add(i * t.c_rs);
            let (mut x0, mut x1) = (acc[0], acc[1]);
            if t.accumulate {
                x0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, row), x0);
                x1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, row.add(16)), x1);
            }
            x0 = _mm512_add_ps(x0, bias0);
            x1 = _mm512_add_ps(x1, bias1);
            _mm512_mask_storeu_ps(row, m0, x0);
            _mm512_mask_storeu_ps(row.add(16), m1, x1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The packed kernel against a plain triple loop, at awkward sizes.
    #[test]
    fn gemm_packed_matches_naive_product() {
        if !available() {
            eprintln!("skipped: no AVX-512 on this CPU");
            return;
        }
        let value = |i: usize| ((i * 7919 % 23) as f32 - 11.0) / 8.0;
        for &(m, n, k) in &[(1, 1, 1), (7, 9, 8), (9, 33, 65), (16, 64, 128), (25, 65, 7), (8, 31, 129)] {
            for (b_trans, accumulate, with_bias) in [(true, true, true), (false, true, false), (true, false, false)] {
                let a_rs = k + 3;
                let a: Vec<f32> = (0..m * a_rs).map(value).collect();
                let b: Vec<f32> = (0..k * n).map(|i| value(i + 5)).collect();
                let bias: Vec<f32> = (0..n).map(|i| value(i + 11)).collect();
                let c0: Vec<f32> = (0..m * n).map(|i| value(i + 3)).collect();
                let mut packed = PackedB::default();
                packed.pack(&b, k, n, b_trans);
                let mut c = c0.clone();
                gemm_packed(&mut c, &a, a_rs, &packed, with_bias.then_some(&bias[..]), accumulate);
                for i in 0..m {
                    for j in 0..n {
                        let op_b = |kk: usize| if b_trans { b[j * k + kk] } else { b[kk * n + j] };
                        let sum: f64 = (0..k).map(|kk| a[i * a_rs + kk] as f64 * op_b(kk) as f64).sum();
                        let want = sum
                            + if accumulate { c0[i * n + j] as f64 } else { 0.0 }
                            + if with_bias { bias[j] as f64 } else { 0.0 };
                        let got = c[i * n + j] as f64;
                        assert!(
                            (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                            "c[{i},{j}] (m {m} n {n} k {k} b_trans {b_trans}): got {got}, expected {want}"
                        );
                    }
                }
            }
        }
    }
}
