//! How the CPU executor runs an op on two cores: which ops are split, where,
//! and the per-plan workspace (weights packed for the step products).
//!
//! Every split is fixed ([`PARTS`] parts, boundaries `len·p / PARTS`) and
//! cuts along a dimension no sum runs over, so each output element is
//! computed by the same instructions in the same order however many threads
//! there are: the recurrent steps and cells by batch row, matmuls by output
//! rows or columns, bias gradients by column, the token gather and its
//! scatter-add by row of W_ih, the optimizers and the norm's partial sums by
//! element range.
//!
//! Each part runs inside a function compiled for AVX-512 or AVX2+FMA when
//! the CPU has them (checked at run time; the binary stays baseline x86-64),
//! so the pointwise kernels, which are `#[inline(always)]`, vectorise for the
//! machine. Rust never contracts or reorders float arithmetic, so the three
//! builds of a kernel give bit-identical results.

use std::any::TypeId;
use std::ops::Range;

use crate::cpu::kernels::{self as k, MatrixStrides};
use crate::cpu::pool::{self, PARTS, Pool};
use crate::cpu::sgemm::{self, PackedB};
use crate::cpu::{Memory, Scalar, gather};
use crate::plan::{CellOp, Matmul, NORM_CHUNK, Op, Plan, View};

/// Below this many multiply-adds a matmul runs on one thread.
const PARALLEL_MACS: usize = 1 << 17;
/// Below this many elements a pointwise op runs on one thread.
const PARALLEL_ELEMS: usize = 1 << 14;
/// Below this many hidden units (batch rows × H) a cell runs on one thread.
const PARALLEL_UNITS: usize = 1 << 10;

/// Per-plan state of the CPU executor: copies of plan memory kept in a
/// faster layout (the step weights packed for [`sgemm`], the token table of
/// small gathers), and which ops make a copy stale.
pub(crate) struct Workspace {
    kept: Vec<Kept>,
    /// Op index (in plan order over all sections) → the copy it reads.
    op_kept: Vec<Option<usize>>,
    /// Op index → copies whose sources the op writes (the optimizer's params).
    stales: Vec<Vec<usize>>,
    /// Room for the token gather's transposed copy of W_ih (or ∂W_ih), as
    /// f64 so it holds either float type: see [`gather::embed_forward_transposed`].
    gather_scratch: Vec<f64>,
}

/// A copy of plan memory in another layout, valid while its sources are
/// not written.
struct Kept {
    /// The views it is made from.
    sources: Vec<View>,
    form: Form,
    valid: bool,
    /// The sources' buffers' write counts summed, in this run (`None`:
    /// unknown), and when the copy was made. The counts only grow, so the
    /// sum moves exactly when one of them does.
    writes_now: Option<u64>,
    made_at: Option<u64>,
}

/// What a kept copy is.
enum Form {
    /// A step weight `[k, n]` (stored `[n, k]` when `b_trans`) packed for sgemm (f32).
    Packed { b_trans: bool, k: usize, n: usize, packed: PackedB },
    /// W_ihᵀ + b_ih `[vocab, g]` for gathers of fewer than `vocab` tokens
    /// (sampling: one per stream and step), as f64 storage of either float
    /// type: the strided gather reads `g` cache lines per token.
    TokenTable { vocab: usize, table: Vec<f64> },
}

impl Workspace {
    pub(crate) fn new(plan: &Plan) -> Workspace {
        let mut kept: Vec<Kept> = Vec::new();
        let mut op_kept = Vec::new();
        let ops: Vec<&Op> = plan.sections.iter().flat_map(|(_, ops)| ops).collect();
        let mut keep = |sources: Vec<View>, same: &dyn Fn(&Form) -> bool, form: &dyn Fn() -> Form| {
            Some(kept.iter().position(|k| k.sources == sources && same(&k.form)).unwrap_or_else(|| {
                kept.push(Kept { sources, form: form(), valid: false, writes_now: None, made_at: None });
                kept.len() - 1
            }))
        };
        for op in &ops {
            op_kept.push(match **op {
                Op::Step { matmul: mm, .. } if !mm.a_trans => {
                    let (b_trans, k, n) = (mm.b_trans, mm.k, mm.n);
                    let same = |c: &Form| matches!(*c, Form::Packed { b_trans: t, k: kk, n: nn, .. } if (t, kk, nn) == (b_trans, k, n));
                    keep(vec![mm.b], &same, &|| Form::Packed { b_trans, k, n, packed: PackedB::default() })
                }
                Op::EmbedForward { weight, bias, tokens, vocab, .. } if tokens.len < vocab => {
                    let same = |c: &Form| matches!(c, Form::TokenTable { .. });
                    keep(vec![weight, bias], &same, &|| Form::TokenTable { vocab, table: vec![0.0; weight.len] })
                }
                _ => None,
            });
        }
        let stales = ops
            .iter()
            .map(|op| {
                let (writes, _) = op.views();
                let touched = |k: &Kept| k.sources.iter().any(|s| writes.iter().any(|w| w.overlaps(s)));
                (0..kept.len()).filter(|&i| touched(&kept[i])).collect()
            })
            .collect();
        let gather_len = ops
            .iter()
            .map(|op| match op {
                Op::EmbedForward { weight: w, .. } | Op::EmbedBackward { dweight: w, .. } => w.len,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        Workspace { kept, op_kept, stales, gather_scratch: vec![0.0; gather_len] }
    }

    /// Starts a run: forgets each copy whose sources may have been written
    /// since it was made (by the host, another program, or a run of this
    /// one), i.e. every copy when `writes` (each buffer's write count) is
    /// unknown. Sampling runs a chunk of steps per run on weights that do not
    /// change, and repacking W_hh each time was 15 % of it.
    pub(crate) fn begin(&mut self, writes: Option<&[u64]>) {
        for k in &mut self.kept {
            k.writes_now = writes.map(|w| k.sources.iter().map(|s| w[s.buf.0]).sum());
            k.valid &= k.writes_now.is_some() && k.made_at == k.writes_now;
        }
    }
}

/// The part `part` of `len` items.
fn split(len: usize, part: usize) -> Range<usize> {
    len * part / PARTS..len * (part + 1) / PARTS
}

/// Rows `r` of a view of `rows` equal rows.
fn rows_of(v: View, rows: usize, r: &Range<usize>) -> View {
    v.rows(r.start, r.len(), v.len / rows)
}

/// `s` as f32 when `F` is f32.
fn as_f32<F: Scalar>(s: &[F]) -> Option<&[f32]> {
    // SAFETY: F is f32, so the cast is the identity.
    (TypeId::of::<F>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts(s.as_ptr().cast(), s.len()) })
}

/// Runs op number `index` of the plan; the caller holds no reference into `mem`.
///
/// # Safety
/// As for `cpu::run_op`: the plan was validated and `ws` was built for it.
pub(super) unsafe fn run_op<F: Scalar>(
    mem: &Memory<'_, F>,
    op: &Op,
    index: usize,
    ws: &mut Workspace,
    pool: Option<&Pool>,
) {
    for &stale in &ws.stales[index] {
        ws.kept[stale].valid = false;
    }
    // The copy this op reads, made on first use after its sources changed:
    // the step's weight packed (f32 on AVX-512), or the gather's token table.
    let (mut packed, mut table) = (None, None);
    if let Some(slot) = ws.op_kept[index] {
        let kept = &mut ws.kept[slot];
        let fresh = kept.valid;
        let made = match (&mut kept.form, op) {
            (Form::Packed { b_trans, k, n, packed: p }, Op::Step { matmul, .. }) if sgemm::available() => {
                // SAFETY: nothing writes the weight during this op.
                as_f32(unsafe { mem.r(matmul.b) }).map(|weight| {
                    if !fresh {
                        p.pack(weight, *k, *n, *b_trans);
                    }
                    packed = Some(&*p);
                })
            }
            (Form::TokenTable { vocab, table: t }, Op::EmbedForward { weight, bias, .. }) => {
                if !fresh {
                    // SAFETY: the table holds weight.len f64s, room for as many Fs.
                    let t = unsafe { std::slice::from_raw_parts_mut(t.as_mut_ptr().cast::<F>(), weight.len) };
                    unsafe { gather::embed_table(t, mem.r(*weight), mem.r(*bias), *vocab) };
                }
                table = Some(t.as_ptr());
                Some(())
            }
            _ => None,
        };
        if made.is_some() && !fresh {
            kept.valid = true;
            kept.made_at = kept.writes_now;
        }
    }
    let aux = Aux { packed, table, scratch: ws.gather_scratch.as_mut_ptr(), scratch_len: ws.gather_scratch.len() };
    let parts = |f: &(dyn Fn(usize) + Sync)| pool::run(pool, f);
    let simd = |part: usize| unsafe { run_part_simd(mem, op, part, &aux) };
    match *op {
        Op::Step { matmul: mm, .. } if mm.m * mm.n * mm.k >= PARALLEL_MACS => parts(&simd),
        Op::Cell(cell) if cell_units(&cell) >= PARALLEL_UNITS => parts(&simd),
        Op::Loss { logits: v, .. } | Op::EmbedForward { out: v, .. } | Op::EmbedBackward { dout: v, .. }
            if v.len >= PARALLEL_ELEMS =>
        {
            parts(&simd)
        }
        // Smaller, the same parts in turn on this thread: a one-row step
        // (sampling at batch 1) is about a microsecond of work, which the
        // fork and join to the worker would double.
        Op::Step { .. } | Op::Cell(_) | Op::Loss { .. } | Op::EmbedForward { .. } | Op::EmbedBackward { .. } => {
            (0..PARTS).for_each(simd)
        }
        Op::Matmul(mm) if mm.m * mm.n * mm.k >= PARALLEL_MACS => parts(&simd),
        Op::Fill { dst: v, .. }
        | Op::Copy { dst: v, .. }
        | Op::ColumnSum { x: v, .. }
        | Op::Adam { params: v, .. }
        | Op::SgdMomentum { params: v, .. }
        | Op::Adagrad { params: v, .. }
        | Op::GradNormPartial { grads: v, .. }
            if v.len >= PARALLEL_ELEMS =>
        {
            parts(&simd)
        }
        // SAFETY: the caller's contract.
        _ => unsafe { super::run_op(mem, op) },
    }
}

/// What a part may use beside the plan's memory.
struct Aux<'a> {
    /// The step's weight packed for [`sgemm`] (f32 on AVX-512).
    packed: Option<&'a PackedB>,
    /// The gather's token table: `[vocab, g]` `F`s in f64 storage (see [`Form::TokenTable`]).
    table: Option<*const f64>,
    /// The workspace's gather scratch, `scratch_len` f64s; each part takes
    /// its own range (see `run_part`).
    scratch: *mut f64,
    scratch_len: usize,
}

// SAFETY: parts only take disjoint ranges of `scratch` (see `run_part`).
unsafe impl Sync for Aux<'_> {}

impl Aux<'_> {
    /// Elements `offset .. offset + len` of the scratch as `F`s. SAFETY: no
    /// other live slice of the scratch overlaps them.
    #[allow(clippy::mut_from_ref)]
    unsafe fn scratch<F>(&self, offset: usize, len: usize) -> &mut [F] {
        assert!((offset + len) * size_of::<F>() <= self.scratch_len * size_of::<f64>(), "gather scratch too small");
        // SAFETY: inside the allocation (asserted), f64-aligned, and the caller's claim.
        unsafe { std::slice::from_raw_parts_mut(self.scratch.cast::<F>().add(offset), len) }
    }
}

/// [`run_part`] compiled for the best instruction set this CPU has.
unsafe fn run_part_simd<F: Scalar>(mem: &Memory<'_, F>, op: &Op, part: usize, aux: &Aux<'_>) {
    #[cfg(target_arch = "x86_64")]
    {
        static LEVEL: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
        let level = *LEVEL.get_or_init(|| {
            use std::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512bw") && has!("avx512dq") && has!("avx512vl") {
                4
            } else if has!("avx2") && has!("fma") && has!("bmi1") && has!("bmi2") && has!("lzcnt") {
                3
            } else {
                1
            }
        });
        // SAFETY: the level was detected on this CPU.
        match level {
            4 => return unsafe { run_part_v4(mem, op, part, aux) },
            3 => return unsafe { run_part_v3(mem, op, part, aux) },
            _ => {}
        }
    }
    unsafe { run_part(mem, op, part, aux) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
unsafe fn run_part_v4<F: Scalar>(mem: &Memory<'_, F>, op: &Op, part: usize, aux: &Aux<'_>) {
    unsafe { run_part(mem, op, part, aux) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
unsafe fn run_part_v3<F: Scalar>(mem: &Memory<'_, F>, op: &Op, part: usize, aux: &Aux<'_>) {
    unsafe { run_part(mem, op, part, aux) }
}

/// Part `part` of `op`: the op on sub-views no other part writes or reads
/// where this one writes. SAFETY: as for [`run_op`].
#[inline(always)]
unsafe fn run_part<F: Scalar>(mem: &Memory<'_, F>, op: &Op, part: usize, aux: &Aux<'_>) {
    unsafe {
        match *op {
            Op::Step { matmul, cell } => {
                let rows = matmul.m;
                let r = split(rows, part);
                if r.is_empty() {
                    return;
                }
                let sub =
                    Matmul { c: rows_of(matmul.c, rows, &r), a: rows_of(matmul.a, rows, &r), m: r.len(), ..matmul };
                match aux.packed {
                    Some(packed) => {
                        // A packed weight is only handed out when F is f32.
                        fn f32s<F: Scalar>(s: &[F]) -> &[f32] {
                            as_f32(s).expect("packed steps run in f32")
                        }
                        let c = mem.w(sub.c);
                        assert_eq!(TypeId::of::<F>(), TypeId::of::<f32>(), "packed steps run in f32");
                        let c = std::slice::from_raw_parts_mut(c.as_mut_ptr().cast::<f32>(), c.len());
                        let bias = sub.bias.map(|b| f32s(mem.r(b)));
                        sgemm::gemm_packed(c, f32s(mem.r(sub.a)), sub.k, packed, bias, sub.accumulate);
                    }
                    None => super::run_matmul(mem, &sub),
                }
                super::run_cell(mem, &cell_rows(&cell, rows, &r))
            }
            Op::Cell(cell) => {
                let rows = cell_row_count(&cell);
                let r = split(rows, part);
                if !r.is_empty() {
                    super::run_cell(mem, &cell_rows(&cell, rows, &r))
                }
            }
            Op::Matmul(mm) => matmul_part(mem, &mm, part),
            Op::Loss { kind, logits, losses, targets, weights, width, write_grad } => {
                let rows = losses.len;
                let r = split(rows, part);
                if !r.is_empty() {
                    let sub = |v: View| rows_of(v, rows, &r);
                    let op = Op::Loss {
                        kind,
                        logits: sub(logits),
                        losses: sub(losses),
                        targets: sub(targets),
                        weights: sub(weights),
                        width,
                        write_grad,
                    };
                    super::run_op(mem, &op)
                }
            }
            // With at least `vocab` tokens the gather pays for a transposed
            // copy of W_ih: cut by columns j of out (rows of W_ih), each
            // part transposes its rows into its own range of the scratch.
            Op::EmbedForward { out, weight, bias, tokens, vocab } if tokens.len >= vocab => {
                let g = bias.len;
                let cols = split(g, part);
                let scratch = aux.scratch::<F>(vocab * cols.start, vocab * cols.len());
                let out_at = mem.ptr_w(out);
                // Parts write disjoint column ranges of the rows of out.
                let rows =
                    (0..tokens.len).map(|r| std::slice::from_raw_parts_mut(out_at.add(r * g + cols.start), cols.len()));
                let (weight, bias) = (weight.rows(cols.start, cols.len(), vocab), bias.sub(cols.start, cols.len()));
                gather::embed_forward_transposed(rows, mem.r(weight), mem.r(bias), mem.ids(tokens), vocab, scratch)
            }
            Op::EmbedBackward { dweight, dout, tokens, vocab, .. } if tokens.len >= vocab => {
                let g = dweight.len / vocab;
                let cols = split(g, part);
                let scratch = aux.scratch::<F>(vocab * cols.start, vocab * cols.len());
                let dout_at = mem.ptr_r(dout);
                let rows =
                    (0..tokens.len).map(|r| std::slice::from_raw_parts(dout_at.add(r * g + cols.start), cols.len()));
                let dw = mem.w(dweight.rows(cols.start, cols.len(), vocab));
                gather::embed_backward_transposed(dw, rows, mem.ids(tokens), vocab, scratch)
            }
            Op::EmbedForward { out, weight, bias, tokens, vocab } => {
                let r = split(tokens.len, part);
                let sub = |v: View| rows_of(v, tokens.len, &r);
                let (out, tokens) = (sub(out), sub(tokens));
                match aux.table {
                    // Each token's row of W_ihᵀ + b_ih, contiguous.
                    Some(table) => {
                        let table = std::slice::from_raw_parts(table.cast::<F>(), weight.len);
                        gather::row_gather(mem.w(out), table, mem.ids(tokens), bias.len, false)
                    }
                    None => k::embed_forward(mem.w(out), mem.r(weight), mem.r(bias), mem.ids(tokens), vocab),
                }
            }
            Op::EmbedBackward { dweight, dout, tokens, vocab, .. } => {
                let g = dweight.len / vocab;
                let r = split(g, part);
                let dw = dweight.rows(r.start, r.len(), vocab);
                k::embed_backward_range(mem.w(dw), mem.r(dout), mem.ids(tokens), vocab, g, r.start)
            }
            Op::Fill { dst, value } => k::fill(mem.w(elems(dst, part)), F::from_f32(value)),
            Op::Copy { dst, src } => k::copy(mem.w(elems(dst, part)), mem.r(elems(src, part))),
            Op::ColumnSum { out, x, cols } => {
                let r = split(cols, part);
                k::column_sum_range(mem.w(out.sub(r.start, r.len())), mem.r(x), cols, r.start)
            }
            Op::GradNormPartial { partials, grads } => {
                let r = split(partials.len, part);
                let first = r.start * NORM_CHUNK;
                let end = (r.end * NORM_CHUNK).min(grads.len);
                let (partials, grads) = (partials.sub(r.start, r.len()), grads.sub(first, end - first));
                k::grad_norm_partial(mem.w(partials), mem.r(grads))
            }
            Op::Adam { params, m, v, grads, stats, hyper, beta1, beta2, eps } => {
                let e = |x: View| elems(x, part);
                let f = F::from_f32;
                let (p, m, v, g) = (mem.w(e(params)), mem.w(e(m)), mem.w(e(v)), mem.r(e(grads)));
                k::adam(p, m, v, g, mem.r(stats), mem.r(hyper), f(beta1), f(beta2), f(eps))
            }
            Op::SgdMomentum { params, velocity, grads, stats, hyper, momentum } => {
                let e = |x: View| elems(x, part);
                let (p, v, g) = (mem.w(e(params)), mem.w(e(velocity)), mem.r(e(grads)));
                k::sgd_momentum(p, v, g, mem.r(stats), mem.r(hyper), F::from_f32(momentum))
            }
            Op::Adagrad { params, sum_sq, grads, stats, hyper, eps } => {
                let e = |x: View| elems(x, part);
                let (p, s, g) = (mem.w(e(params)), mem.w(e(sum_sq)), mem.r(e(grads)));
                k::adagrad(p, s, g, mem.r(stats), mem.r(hyper), F::from_f32(eps))
            }
            // Only the ops above are split (see `run_op`).
            _ => unreachable!("{} is not split", op.kernel_name()),
        }
    }
}

/// Part `part` of a view's elements.
fn elems(v: View, part: usize) -> View {
    let r = split(v.len, part);
    v.sub(r.start, r.len())
}

/// Hidden units of a cell op (elements of its h or ∂h).
fn cell_units(cell: &CellOp) -> usize {
    match *cell {
        CellOp::RnnForward { h, .. } | CellOp::LstmForward { h, .. } | CellOp::GruForward { h, .. } => h.len,
        CellOp::RnnBackward { dh, .. } | CellOp::LstmBackward { dh, .. } | CellOp::GruBackward { dh, .. } => dh.len,
    }
}

/// Rows of a cell op: batch rows, or elements for the vanilla RNN's
/// elementwise cells. Every view of a cell is `rows ×` its own width.
fn cell_row_count(cell: &CellOp) -> usize {
    match *cell {
        CellOp::RnnForward { h, .. } => h.len,
        CellOp::RnnBackward { dh, .. } => dh.len,
        CellOp::LstmForward { h, hidden, .. } | CellOp::GruForward { h, hidden, .. } => h.len / hidden,
        CellOp::LstmBackward { dh, hidden, .. } | CellOp::GruBackward { dh, hidden, .. } => dh.len / hidden,
    }
}

/// The cell op on rows `r` of `rows`, in every view.
fn cell_rows(cell: &CellOp, rows: usize, r: &Range<usize>) -> CellOp {
    let s = |v: View| rows_of(v, rows, r);
    match *cell {
        CellOp::RnnForward { h, pre, activation } => CellOp::RnnForward { h: s(h), pre: s(pre), activation },
        CellOp::RnnBackward { dpre, dh, h, activation } => {
            CellOp::RnnBackward { dpre: s(dpre), dh: s(dh), h: s(h), activation }
        }
        CellOp::LstmForward { gates, c, h, c_prev, hidden } => {
            CellOp::LstmForward { gates: s(gates), c: s(c), h: s(h), c_prev: s(c_prev), hidden }
        }
        CellOp::LstmBackward { dgates, dc, dh, gates, c, c_prev, hidden } => CellOp::LstmBackward {
            dgates: s(dgates),
            dc: s(dc),
            dh: s(dh),
            gates: s(gates),
            c: s(c),
            c_prev: s(c_prev),
            hidden,
        },
        CellOp::GruForward { gates, h, hw, h_prev, hidden } => {
            CellOp::GruForward { gates: s(gates), h: s(h), hw: s(hw), h_prev: s(h_prev), hidden }
        }
        CellOp::GruBackward { dxw, dhw, dh_prev, dh, gates, hw, h_prev, hidden } => CellOp::GruBackward {
            dxw: s(dxw),
            dhw: s(dhw),
            dh_prev: dh_prev.map(s),
            dh: s(dh),
            gates: s(gates),
            hw: s(hw),
            h_prev: s(h_prev),
            hidden,
        },
    }
}

/// Part `part` of a matmul: a block of output rows (when m ≥ n) or columns,
/// each element summed over all of k by the `gemm` crate on this thread.
/// SAFETY: as for [`run_op`]; parts write disjoint blocks of `c`.
unsafe fn matmul_part<F: Scalar>(mem: &Memory<'_, F>, mm: &Matmul, part: usize) {
    let (m, n, kk) = (mm.m, mm.n, mm.k);
    let (a_s, b_s) = (MatrixStrides::of_a(mm.a_trans, m, kk), MatrixStrides::of_b(mm.b_trans, kk, n));
    let c_s = MatrixStrides { rows: n as isize, cols: 1 };
    unsafe {
        let (c, a, b) = (mem.ptr_w(mm.c), mem.ptr_r(mm.a), mem.ptr_r(mm.b));
        let bias = mm.bias.map(|v| mem.ptr_r(v));
        if m >= n {
            let r = split(m, part);
            let (c, a) = (c.add(r.start * n), a.offset(r.start as isize * a_s.rows));
            k::matmul_raw((r.len(), n, kk), (c, c_s), (a, a_s), (b, b_s), bias, mm.accumulate)
        } else {
            let r = split(n, part);
            let (c, b) = (c.add(r.start), b.offset(r.start as isize * b_s.cols));
            let bias = bias.map(|p| p.add(r.start));
            k::matmul_raw((m, r.len(), kk), (c, c_s), (a, a_s), (b, b_s), bias, mm.accumulate)
        }
    }
}
