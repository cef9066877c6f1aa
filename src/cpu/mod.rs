//! The CPU backend: every kernel as plain Rust over slices (`kernels`), and an
//! executor that runs a [`Plan`]'s ops in order. Generic over the float type:
//! f32 for training, f64 for the gradient check.

pub mod gather;
pub mod kernels;
pub mod losses;
pub(crate) mod parallel;
pub(crate) mod pool;
pub mod sampling;
pub(crate) mod sgemm;

use std::marker::PhantomData;

use crate::error::{Error, Result};
use crate::plan::{CellOp, Elem, Op, Plan, Section, View};
pub(crate) use parallel::Workspace;

/// The float types the CPU backend runs in (f32 and f64).
pub trait Scalar: num_traits::Float + num_traits::NumAssign + Send + Sync + std::fmt::Debug + 'static {
    fn from_f32(x: f32) -> Self;
    fn to_f64(self) -> f64;
    /// e^x for the activations and the softmax: inline and branch-free in
    /// f32 (libm's expf/tanhf calls were a third of a CPU training step),
    /// libm's `exp` in f64 where the gradient check wants every digit.
    fn exp_act(self) -> Self;
}

impl Scalar for f32 {
    fn from_f32(x: f32) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn exp_act(self) -> Self {
        exp_f32(self)
    }
}

impl Scalar for f64 {
    fn from_f32(x: f32) -> Self {
        x as f64
    }
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn exp_act(self) -> Self {
        self.exp()
    }
}

/// e^x in f32 with Cephes' `expf` method: x = n·ln2 + r with |r| ≤ ln2/2
/// (ln2 split in two for an exact reduction), a degree-7 polynomial for e^r,
/// and 2^n from the exponent bits. Relative error ≤ 2 ulp; inputs are clamped
/// to [-87, 88] so 2^n stays a normal number (e^-87 ≈ 1.6e-38 and e^88 ≈
/// 1.7e38 are the ends). No call and no branch, so loops over it vectorise.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest by adding and removing 1.5·2²³ (no `roundf` call,
    // which baseline x86-64 lacks as an instruction).
    const ROUND: f32 = 12_582_912.0;
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    // n as an integer without a float-to-int conversion: `shifted` is
    // 1.5·2²³ + n with an ulp of 1, so its bits are ROUND's bits + n. (Rust's
    // saturating `n as i32` did not vectorise: a scalar convert, two compares
    // and an insert per lane, which cost a third of an LSTM step forward.)
    let n_int = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    f32::from_bits(((n_int + 127) as u32) << 23) * e
}

/// The storage of one plan buffer handed to [`execute`].
pub enum Slot<'a, F> {
    Float(&'a mut [F]),
    Id(&'a mut [u32]),
}

/// Raw views of every buffer for the duration of one [`execute`] call. The
/// plan was validated (views in bounds, of the right element type, written
/// views disjoint from every other view of the same op), which is what makes
/// handing out one `&mut` beside several `&` of the same buffer sound.
struct Memory<'a, F> {
    floats: Vec<(*mut F, usize)>,
    ids: Vec<(*mut u32, usize)>,
    _borrow: PhantomData<&'a mut F>,
}

impl<'a, F: Scalar> Memory<'a, F> {
    fn new<'s: 'a>(slots: &'a mut [Slot<'s, F>]) -> Self {
        let mut floats = Vec::with_capacity(slots.len());
        let mut ids = Vec::with_capacity(slots.len());
        for slot in slots.iter_mut() {
            match slot {
                Slot::Float(s) => {
                    floats.push((s.as_mut_ptr(), s.len()));
                    ids.push((std::ptr::null_mut(), 0));
                }
                Slot::Id(s) => {
                    floats.push((std::ptr::null_mut(), 0));
                    ids.push((s.as_mut_ptr(), s.len()));
                }
            }
        }
        Memory { floats, ids, _borrow: PhantomData }
    }

    /// The first element of a written view, for strided writers. SAFETY: as for `w`.
    unsafe fn ptr_w(&self, v: View) -> *mut F {
        let (ptr, len) = self.floats[v.buf.0];
        assert!(!ptr.is_null() && v.offset + v.len <= len, "unvalidated view {v:?}");
        unsafe { ptr.add(v.offset) }
    }

    /// The first element of a read view. SAFETY: as for `r`.
    unsafe fn ptr_r(&self, v: View) -> *const F {
        unsafe { self.ptr_w(v) }
    }

    /// A written view. SAFETY: the caller holds no other reference to
    /// elements of `v` (guaranteed by plan validation, one op at a time).
    #[allow(clippy::mut_from_ref)]
    unsafe fn w(&self, v: View) -> &mut [F] {
        let (ptr, len) = self.floats[v.buf.0];
        assert!(!ptr.is_null() && v.offset + v.len <= len, "unvalidated view {v:?}");
        unsafe { std::slice::from_raw_parts_mut(ptr.add(v.offset), v.len) }
    }

    /// A read view. SAFETY: as for `w`, no live `&mut` covers `v`.
    unsafe fn r(&self, v: View) -> &[F] {
        let (ptr, len) = self.floats[v.buf.0];
        assert!(!ptr.is_null() && v.offset + v.len <= len, "unvalidated view {v:?}");
        unsafe { std::slice::from_raw_parts(ptr.add(v.offset), v.len) }
    }

    /// A read id view. SAFETY: as for `r`.
    unsafe fn ids(&self, v: View) -> &[u32] {
        let (ptr, len) = self.ids[v.buf.0];
        assert!(!ptr.is_null() && v.offset + v.len <= len, "unvalidated view {v:?}");
        unsafe { std::slice::from_raw_parts(ptr.add(v.offset), v.len) }
    }

    /// A written id view. SAFETY: as for `w`.
    #[allow(clippy::mut_from_ref)]
    unsafe fn ids_mut(&self, v: View) -> &mut [u32] {
        let (ptr, len) = self.ids[v.buf.0];
        assert!(!ptr.is_null() && v.offset + v.len <= len, "unvalidated view {v:?}");
        unsafe { std::slice::from_raw_parts_mut(ptr.add(v.offset), v.len) }
    }
}

// SAFETY: `Memory` is raw pointers into buffers borrowed for `'a`; the
// executor's parts use it from two threads on disjoint written views (see
// `parallel`), which is the same contract as one op at a time.
unsafe impl<F: Scalar> Sync for Memory<'_, F> {}

/// Runs the ops of `sections` of a plan on CPU memory, one op after another.
/// `slots[i]` is the storage of `plan.buffers[i]`. The plan is validated
/// first, so a malformed plan is an error, never undefined behaviour.
pub fn execute<F: Scalar>(plan: &Plan, sections: &[Section], slots: &mut [Slot<'_, F>]) -> Result<()> {
    plan.validate()?;
    if slots.len() != plan.buffers.len() {
        return Err(Error::shape("CPU execute slots", plan.buffers.len(), slots.len()));
    }
    for (spec, slot) in plan.buffers.iter().zip(slots.iter()) {
        let (len, is_float) = match slot {
            Slot::Float(s) => (s.len(), true),
            Slot::Id(s) => (s.len(), false),
        };
        if len != spec.len || is_float != (spec.elem == crate::plan::Elem::Float) {
            return Err(Error::shape(format!("storage of buffer {:?}", spec.name), spec.len, len));
        }
    }
    // SAFETY: validated just above.
    unsafe { execute_validated(plan, sections, slots, &mut Workspace::new(plan), None) };
    Ok(())
}

/// [`execute`] without the checks, returning the number of ops run.
/// `writes[i]` counts the writes into buffer i so far, this run's included
/// (see `Workspace::begin`); `None` when unknown.
///
/// # Safety
/// `plan` passed [`Plan::validate`], `slots` match `plan.buffers` in
/// length and element type, and `workspace` was made for `plan`.
pub(crate) unsafe fn execute_validated<F: Scalar>(
    plan: &Plan,
    sections: &[Section],
    slots: &mut [Slot<'_, F>],
    workspace: &mut Workspace,
    writes: Option<&[u64]>,
) -> usize {
    let mem = Memory::new(slots);
    let pool = pool::acquire();
    workspace.begin(writes);
    let mut count = 0;
    // Ops are numbered over all sections, as `Workspace::new` numbers them.
    let mut index = 0;
    for (section, ops) in &plan.sections {
        let run = sections.contains(section);
        for op in ops {
            if run {
                // SAFETY: validated plan; see `Memory`.
                unsafe { parallel::run_op(&mem, op, index, workspace, pool.as_deref()) };
                count += 1;
            }
            index += 1;
        }
    }
    count
}

/// One op on the CPU on this thread: fetch the views, call the twin of the
/// WGSL entry point. (`parallel::run_op` splits the larger ones.)
#[inline(always)]
unsafe fn run_op<F: Scalar>(mem: &Memory<'_, F>, op: &Op) {
    use kernels as k;
    let f = F::from_f32;
    unsafe {
        match *op {
            Op::Fill { dst, value } => k::fill(mem.w(dst), f(value)),
            Op::Copy { dst, src } => k::copy(mem.w(dst), mem.r(src)),
            Op::Matmul(mm) => run_matmul(mem, &mm),
            Op::RowGather { out, x, index, width, accumulate } => {
                gather::row_gather(mem.w(out), mem.r(x), mem.ids(index), width, accumulate)
            }
            Op::EmbedForward { out, weight, bias, tokens, vocab } => {
                k::embed_forward(mem.w(out), mem.r(weight), mem.r(bias), mem.ids(tokens), vocab)
            }
            Op::EmbedBackward { dweight, dout, tokens, vocab, .. } => {
                k::embed_backward(mem.w(dweight), mem.r(dout), mem.ids(tokens), vocab)
            }
            Op::Cell(cell) => run_cell(mem, &cell),
            Op::Step { matmul, cell } => {
                // The GPU's fused step in two parts: the GEMM, then the cell reading its result.
                run_matmul(mem, &matmul);
                run_cell(mem, &cell)
            }
            Op::Dropout { out, x, seed, salt, p } => k::dropout(mem.w(out), mem.r(x), mem.ids(seed), salt, p),
            Op::DropoutBackward { dx, seed, salt, p } => k::dropout_backward(mem.w(dx), mem.ids(seed), salt, p),
            Op::Loss { kind, logits, losses, targets, weights, width, write_grad } => {
                let targets = match kind.target_elem() {
                    Elem::Id => losses::LossTargets::Classes(mem.ids(targets)),
                    Elem::Float => losses::LossTargets::Values(mem.r(targets)),
                };
                losses::loss(kind, mem.w(logits), mem.w(losses), targets, mem.r(weights), width, write_grad)
            }
            Op::LogSoftmax { logits, classes } => losses::log_softmax(mem.w(logits), classes),
            Op::LossSum { out, losses, scale } => k::loss_sum(mem.w(out), mem.r(losses), f(scale)),
            Op::SampleNext { tokens, samples, logits, control, step, classes } => crate::cpu::sampling::sample_next(
                mem.ids_mut(tokens),
                mem.w(samples),
                mem.r(logits),
                mem.ids(control),
                step,
                classes,
            ),
            Op::ColumnSum { out, x, cols } => k::column_sum(mem.w(out), mem.r(x), cols),
            Op::GradNormPartial { partials, grads } => k::grad_norm_partial(mem.w(partials), mem.r(grads)),
            Op::GradNormFinish { stats, partials, max_norm } => {
                k::grad_norm_finish(mem.w(stats), mem.r(partials), max_norm.map(f))
            }
            Op::SgdMomentum { params, velocity, grads, stats, hyper, momentum } => {
                k::sgd_momentum(mem.w(params), mem.w(velocity), mem.r(grads), mem.r(stats), mem.r(hyper), f(momentum))
            }
            Op::Adagrad { params, sum_sq, grads, stats, hyper, eps } => {
                k::adagrad(mem.w(params), mem.w(sum_sq), mem.r(grads), mem.r(stats), mem.r(hyper), f(eps))
            }
            Op::Adam { params, m, v, grads, stats, hyper, beta1, beta2, eps } => k::adam(
                mem.w(params),
                mem.w(m),
                mem.w(v),
                mem.r(grads),
                mem.r(stats),
                mem.r(hyper),
                f(beta1),
                f(beta2),
                f(eps),
            ),
        }
    }
}

/// One matmul op on this thread. SAFETY: as for [`run_op`].
unsafe fn run_matmul<F: Scalar>(mem: &Memory<'_, F>, mm: &crate::plan::Matmul) {
    unsafe {
        kernels::matmul(
            mem.w(mm.c),
            mem.r(mm.a),
            mem.r(mm.b),
            mm.bias.map(|b| mem.r(b)),
            mm.m,
            mm.n,
            mm.k,
            mm.a_trans,
            mm.b_trans,
            mm.accumulate,
        )
    }
}

/// One cell op on the CPU. SAFETY: as for [`run_op`].
#[inline(always)]
unsafe fn run_cell<F: Scalar>(mem: &Memory<'_, F>, cell: &CellOp) {
    use kernels as k;
    unsafe {
        match *cell {
            CellOp::RnnForward { h, pre, activation } => k::rnn_cell_forward(mem.w(h), mem.r(pre), activation),
            CellOp::RnnBackward { dpre, dh, h, activation } => {
                k::rnn_cell_backward(mem.w(dpre), mem.r(dh), mem.r(h), activation)
            }
            CellOp::LstmForward { gates, c, h, c_prev, hidden } => {
                k::lstm_cell_forward(mem.w(gates), mem.w(c), mem.w(h), mem.r(c_prev), hidden)
            }
            CellOp::LstmBackward { dgates, dc, dh, gates, c, c_prev, hidden } => k::lstm_cell_backward(
                mem.w(dgates),
                mem.w(dc),
                mem.r(dh),
                mem.r(gates),
                mem.r(c),
                mem.r(c_prev),
                hidden,
            ),
            CellOp::GruForward { gates, h, hw, h_prev, hidden } => {
                k::gru_cell_forward(mem.w(gates), mem.w(h), mem.r(hw), mem.r(h_prev), hidden)
            }
            CellOp::GruBackward { dxw, dhw, dh_prev, dh, gates, hw, h_prev, hidden } => k::gru_cell_backward(
                mem.w(dxw),
                mem.w(dhw),
                dh_prev.map(|v| mem.w(v)),
                mem.r(dh),
                mem.r(gates),
                mem.r(hw),
                mem.r(h_prev),
                hidden,
            ),
        }
    }
}
