//! A plan is the list of kernel launches of one training block (or one
//! evaluation or sampling step), written once by `bptt.rs` and run by either
//! backend: the CPU backend interprets each [`Op`] with its Rust twin, the GPU
//! backend turns each into one compute dispatch. The op list is therefore also
//! the dispatch count.
//!
//! Tensors are [`View`]s: an element range of a plan buffer. Every op says
//! which views it writes (first) and which it reads, in the argument order of
//! its kernel.

use crate::error::{Error, Result};

/// Index of a buffer in a [`Plan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufId(pub usize);

/// An element range `[offset, offset + len)` of a plan buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    pub buf: BufId,
    pub offset: usize,
    pub len: usize,
}

impl View {
    /// The whole of a buffer of `len` elements.
    pub fn whole(buf: BufId, len: usize) -> Self {
        View { buf, offset: 0, len }
    }

    /// `len` elements starting `offset` elements into this view.
    pub fn sub(self, offset: usize, len: usize) -> Self {
        debug_assert!(offset + len <= self.len, "sub-view out of range");
        View { buf: self.buf, offset: self.offset + offset, len }
    }

    /// Row `i` of this view seen as rows of `width` elements.
    pub fn row(self, i: usize, width: usize) -> Self {
        self.sub(i * width, width)
    }

    /// Rows `i..i+count` of this view seen as rows of `width` elements.
    pub fn rows(self, i: usize, count: usize, width: usize) -> Self {
        self.sub(i * width, count * width)
    }

    fn end(&self) -> usize {
        self.offset + self.len
    }

    /// True when both views touch a common element.
    pub fn overlaps(&self, other: &View) -> bool {
        self.buf == other.buf && self.offset < other.end() && other.offset < self.end()
    }
}

/// What a buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    /// f32 on the GPU (or the CPU executor's float type).
    Float,
    /// u32 token ids or class targets.
    Id,
}

/// A buffer the plan needs.
#[derive(Clone, Debug)]
pub struct BufferSpec {
    /// Name used as the wgpu label and in error messages.
    pub name: String,
    /// Number of elements.
    pub len: usize,
    pub elem: Elem,
}

/// The pointwise nonlinearity of a vanilla RNN cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Tanh,
    Relu,
}

/// `c[m,n] = (accumulate ? c : 0) + op(a)[m,k] · op(b)[k,n] + bias[n]`,
/// all row-major. `a_trans`: `a` is stored `[k,m]`; `b_trans`: `b` is stored `[n,k]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Matmul {
    pub c: View,
    pub a: View,
    pub b: View,
    pub bias: Option<View>,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a_trans: bool,
    pub b_trans: bool,
    pub accumulate: bool,
}

/// The pointwise part of a recurrent step, forward or backward. Field order
/// is the kernel's argument order, like [`Op`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CellOp {
    /// `h = act(pre)` elementwise.
    RnnForward { h: View, pre: View, activation: Activation },
    /// `dpre = dh ⊙ act'(h)`; tanh' = 1 - h², relu' = [h > 0].
    RnnBackward { dpre: View, dh: View, h: View, activation: Activation },
    /// LSTM step, PyTorch's gate blocks `[i; f; g; o]` per row of `gates [B, 4H]`.
    /// In place: `gates` holds the pre-activations on entry and σ(i), σ(f),
    /// tanh(g), σ(o) on exit; `c = f ⊙ c_prev + i ⊙ g`, `h = o ⊙ tanh(c)`.
    LstmForward { gates: View, c: View, h: View, c_prev: View, hidden: usize },
    /// Its gradient: from `dh` (all of ∂L/∂h_t) and `dc` (∂L/∂c_t from the
    /// step after, updated in place to ∂L/∂c_{t-1}), writes `dgates` =
    /// ∂L/∂(pre-activations) `[B, 4H]`.
    LstmBackward { dgates: View, dc: View, dh: View, gates: View, c: View, c_prev: View, hidden: usize },
    /// GRU step, blocks `[r; z; n]` per row of `[B, 3H]`. In place: `gates`
    /// holds `W_i x + b_i` on entry and r, z, n on exit, with `hw = W_h h_prev + b_h`:
    /// r, z = σ(x· + hw·), n = tanh(x_n + r ⊙ hw_n), `h = (1 - z) ⊙ n + z ⊙ h_prev`.
    GruForward { gates: View, h: View, hw: View, h_prev: View, hidden: usize },
    /// Its gradient from `dh` (all of ∂L/∂h_t): `dxw` = ∂L/∂(W_i x + b_i),
    /// `dhw` = ∂L/∂(W_h h_prev + b_h) (they differ in the n block by r ⊙ ·),
    /// and, when given, adds the direct path `dh ⊙ z` into `dh_prev`.
    GruBackward {
        dxw: View,
        dhw: View,
        dh_prev: Option<View>,
        dh: View,
        gates: View,
        hw: View,
        h_prev: View,
        hidden: usize,
    },
}

/// Which loss a head computes (see `Op::Loss` and shaders/loss.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// Softmax + cross-entropy against a class id.
    SoftmaxXent,
    /// Sigmoid + binary cross-entropy per output, on the logits.
    SigmoidBce,
    /// Squared error per output (the mean comes from the weights).
    MeanSquared,
}

impl LossKind {
    pub fn kernel_name(self) -> &'static str {
        match self {
            LossKind::SoftmaxXent => "softmax_xent",
            LossKind::SigmoidBce => "sigmoid_bce",
            LossKind::MeanSquared => "mean_squared",
        }
    }

    /// Class ids for softmax, float values otherwise.
    pub fn target_elem(self) -> Elem {
        match self {
            LossKind::SoftmaxXent => Elem::Id,
            LossKind::SigmoidBce | LossKind::MeanSquared => Elem::Float,
        }
    }
}

/// The rows of `tokens` (ids below `vocab`) grouped by token, as
/// [`Op::EmbedBackward`] reads them: `[vocab + 1 + n]` u32, where
/// `out[vocab + 1 + i]` for i in `out[v] .. out[v + 1]` are the rows holding
/// token v, ascending (a stable counting sort; `out[vocab] = n`). The ids
/// were checked against `vocab` (`data::check_ids`) before they came here.
pub(crate) fn token_buckets(tokens: &[u32], vocab: usize) -> Vec<u32> {
    let mut out = vec![0u32; vocab + 1 + tokens.len()];
    for &t in tokens {
        out[t as usize + 1] += 1;
    }
    for v in 0..vocab {
        out[v + 1] += out[v];
    }
    let (starts, rows) = out.split_at_mut(vocab + 1);
    let mut next = starts[..vocab].to_vec();
    for (r, &t) in tokens.iter().enumerate() {
        rows[next[t as usize] as usize] = r as u32;
        next[t as usize] += 1;
    }
    out
}

/// Words of a `sample_next` control buffer before the per-row forced counts.
pub const SAMPLE_CONTROL_HEADER: usize = 8;

/// Elements per workgroup chunk of `grad_norm_partial`; both backends sum
/// the same chunks so their partial sums are comparable.
pub const NORM_CHUNK: usize = 4096;

/// One kernel launch. Field order is the kernel's argument order: written
/// views first, then read views, then sizes and constants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// `dst[i] = value`.
    Fill { dst: View, value: f32 },
    /// `dst[i] = src[i]`.
    Copy { dst: View, src: View },
    /// See [`Matmul`].
    Matmul(Matmul),
    /// `out[r, :] = (accumulate ? out[r, :] : 0) + x[index[r], :]` over rows
    /// of `width`; the host writes `index` (ids below x's row count) per block.
    RowGather { out: View, x: View, index: View, width: usize, accumulate: bool },
    /// Token input projection as a gather: `out[r, j] = weight[j, tokens[r]] + bias[j]`;
    /// out `[n, g]`, weight `[g, vocab]`, bias `[g]`, tokens `[n]`.
    EmbedForward { out: View, weight: View, bias: View, tokens: View, vocab: usize },
    /// Its gradient, a scatter-add by token in row order (deterministic):
    /// `dweight[j, tokens[r]] += dout[r, j]` for r = 0, 1, ... . `buckets`
    /// `[vocab + 1 + n]` holds the rows grouped by token ([`token_buckets`]
    /// of `tokens`), which the host writes with the tokens: the GPU gives
    /// each (j, token) its own invocation over that token's rows.
    EmbedBackward { dweight: View, dout: View, tokens: View, buckets: View, vocab: usize },
    /// A cell's pointwise step on its own (the last step of backward, and kernel tests).
    Cell(CellOp),
    /// One recurrent step in one launch: the step's GEMM, then `cell`, which
    /// reads what the GEMM wrote. Forward: `matmul` is h_{t-1}·W_hhᵀ + b_hh
    /// into the step's pre-activations, `cell` a forward cell op. Backward:
    /// `matmul` is ∂h_{t-1} += ∂pre_t·W_hh, `cell` the backward cell op of step
    /// t-1, whose ∂h is that sum. See [`Op::check_step`] for what the fused
    /// kernels rely on.
    Step { matmul: Matmul, cell: CellOp },
    /// Inverted dropout between layers: `out = x ⊙ keep / (1 - p)` where
    /// `keep[i] = hash(i, seed[0], salt) ≥ p` is counter-based (the same bits on
    /// every backend; no mask is stored).
    Dropout { out: View, x: View, seed: View, salt: u32, p: f32 },
    /// In place: `dx ⊙= keep / (1 - p)`, the mask recomputed from the seed.
    DropoutBackward { dx: View, seed: View, salt: u32, p: f32 },
    /// A head's loss per row of `logits [rows, width]` against `targets`
    /// (class ids `[rows]` for softmax, values `[rows, width]` otherwise),
    /// each row scaled by `weights[r]`: `losses[r] = w_r · loss(z_r, y_r)`,
    /// and when `write_grad` the logits become `w_r · ∂loss/∂z_r` in place.
    Loss { kind: LossKind, logits: View, losses: View, targets: View, weights: View, width: usize, write_grad: bool },
    /// In place: `logits[r] = z_r - logsumexp(z_r)` (log-probabilities for sampling).
    LogSoftmax { logits: View, classes: usize },
    /// `out[0] = scale · Σ losses`, summed in a fixed order.
    LossSum { out: View, losses: View, scale: f32 },
    /// Draws the next token of each of the `rows = tokens.len` streams from
    /// the head's `logits [rows, classes]`: the most likely when greedy, else
    /// from softmax(logits / τ) restricted to the `top_k` most likely (all when
    /// 0; ties ranked by lower id), with u = [`draw_uniform`](crate::cpu::kernels::draw_uniform)
    /// (seed, counter + step, row). `control = [seed, counter, top_k, τ bits,
    /// greedy, 0, 0, 0, forced_0 .. forced_{rows-1}]`: a row whose `step <
    /// forced_r` keeps the token the host wrote (its prime). In place on the id
    /// buffer `tokens [rows]`; `samples [rows]` gets the same ids as floats,
    /// for the readout.
    SampleNext { tokens: View, samples: View, logits: View, control: View, step: u32, classes: usize },
    /// Adds into `out`: `out[j] += Σ_r x[r, j]` for `x [rows, cols]`, rows in order.
    ColumnSum { out: View, x: View, cols: usize },
    /// `partials[w] = Σ grads[i]²` over chunk `w` of [`NORM_CHUNK`] elements.
    GradNormPartial { partials: View, grads: View },
    /// `stats = [‖g‖, clip]` with ‖g‖ = √Σ partials and
    /// clip = min(1, max_norm / (‖g‖ + 1e-6)) (PyTorch's `clip_grad_norm_`),
    /// or 1 when `max_norm` is `None`.
    GradNormFinish { stats: View, partials: View, max_norm: Option<f32> },
    /// SGD with momentum on clipped gradients `g = clip · grads`:
    /// `velocity = momentum · velocity + g; params -= lr · velocity`.
    /// Skipped (nothing written) when ‖g‖ is not finite. `hyper = [lr, ..]`.
    SgdMomentum { params: View, velocity: View, grads: View, stats: View, hyper: View, momentum: f32 },
    /// Adagrad: `sum_sq += g²; params -= lr · g / (√sum_sq + eps)`; skipped like SGD.
    Adagrad { params: View, sum_sq: View, grads: View, stats: View, hyper: View, eps: f32 },
    /// Adam with `hyper = [lr, 1-β₁ᵗ, 1-β₂ᵗ, _]`; skipped like SGD.
    Adam { params: View, m: View, v: View, grads: View, stats: View, hyper: View, beta1: f32, beta2: f32, eps: f32 },
}

impl Op {
    /// The kernel's name: the WGSL entry point and the CPU function.
    pub fn kernel_name(&self) -> &'static str {
        match self {
            Op::Fill { .. } => "fill",
            Op::Copy { .. } => "copy",
            Op::Matmul(_) => "matmul",
            Op::RowGather { .. } => "row_gather",
            Op::EmbedForward { .. } => "embed_forward",
            Op::EmbedBackward { .. } => "embed_backward",
            Op::Cell(cell) => cell.kernel_name(),
            Op::Step { cell, .. } => cell.step_kernel_name(),
            Op::Dropout { .. } => "dropout",
            Op::DropoutBackward { .. } => "dropout_backward",
            Op::Loss { kind, .. } => kind.kernel_name(),
            Op::LogSoftmax { .. } => "log_softmax",
            Op::LossSum { .. } => "loss_sum",
            Op::SampleNext { .. } => "sample_next",
            Op::ColumnSum { .. } => "column_sum",
            Op::GradNormPartial { .. } => "grad_norm_partial",
            Op::GradNormFinish { .. } => "grad_norm_finish",
            Op::SgdMomentum { .. } => "sgd_momentum",
            Op::Adagrad { .. } => "adagrad",
            Op::Adam { .. } => "adam",
        }
    }

    /// The id view among the op's writes (the others are floats).
    pub fn written_ids(&self) -> Option<View> {
        match *self {
            Op::SampleNext { tokens, .. } => Some(tokens),
            _ => None,
        }
    }

    /// The views the op writes, then the views it reads, each tagged with
    /// its element type. Writes never overlap reads or each other.
    pub fn views(&self) -> (Vec<View>, Vec<(View, Elem)>) {
        use Elem::{Float as F, Id as I};
        match *self {
            Op::Fill { dst, .. } => (vec![dst], vec![]),
            Op::Copy { dst, src } => (vec![dst], vec![(src, F)]),
            Op::Matmul(mm) => {
                let mut reads = vec![(mm.a, F), (mm.b, F)];
                reads.extend(mm.bias.map(|b| (b, F)));
                (vec![mm.c], reads)
            }
            Op::RowGather { out, x, index, .. } => (vec![out], vec![(x, F), (index, I)]),
            Op::EmbedForward { out, weight, bias, tokens, .. } => {
                (vec![out], vec![(weight, F), (bias, F), (tokens, I)])
            }
            Op::EmbedBackward { dweight, dout, tokens, buckets, .. } => {
                (vec![dweight], vec![(dout, F), (tokens, I), (buckets, I)])
            }
            Op::Cell(cell) => cell.views(),
            Op::Step { matmul, cell } => {
                // As one launch: the GEMM's output is the cell's input, so it
                // counts as written once; every other view as its part says.
                let (mut writes, mut reads) = cell.views();
                reads.retain(|(v, _)| *v != matmul.c);
                writes.retain(|v| *v != matmul.c);
                writes.insert(0, matmul.c);
                let (_, mm_reads) = Op::Matmul(matmul).views();
                reads.extend(mm_reads);
                (writes, reads)
            }
            Op::Dropout { out, x, seed, .. } => (vec![out], vec![(x, F), (seed, I)]),
            Op::DropoutBackward { dx, seed, .. } => (vec![dx], vec![(seed, I)]),
            Op::Loss { kind, logits, losses, targets, weights, .. } => {
                (vec![logits, losses], vec![(targets, kind.target_elem()), (weights, F)])
            }
            Op::LogSoftmax { logits, .. } => (vec![logits], vec![]),
            Op::LossSum { out, losses, .. } => (vec![out], vec![(losses, F)]),
            Op::SampleNext { tokens, samples, logits, control, .. } => {
                (vec![tokens, samples], vec![(logits, F), (control, I)])
            }
            Op::ColumnSum { out, x, .. } => (vec![out], vec![(x, F)]),
            Op::GradNormPartial { partials, grads } => (vec![partials], vec![(grads, F)]),
            Op::GradNormFinish { stats, partials, .. } => (vec![stats], vec![(partials, F)]),
            Op::SgdMomentum { params, velocity, grads, stats, hyper, .. } => {
                (vec![params, velocity], vec![(grads, F), (stats, F), (hyper, F)])
            }
            Op::Adagrad { params, sum_sq, grads, stats, hyper, .. } => {
                (vec![params, sum_sq], vec![(grads, F), (stats, F), (hyper, F)])
            }
            Op::Adam { params, m, v, grads, stats, hyper, .. } => {
                (vec![params, m, v], vec![(grads, F), (stats, F), (hyper, F)])
            }
        }
    }

    /// Checks that the views have the lengths the sizes imply; a failure is
    /// a bug in the plan builder (or in a hand-written plan).
    pub fn check_shapes(&self) -> Result<()> {
        let name = self.kernel_name();
        let want = |what: &str, v: View, len: usize| want_len(name, what, v, len);
        let divides = |what: &str, v: View, width: usize| want_multiple(name, what, v, width);
        match *self {
            Op::Fill { dst, .. } => want("dst", dst, dst.len.max(1)),
            Op::Copy { dst, src } => want("src", src, dst.len),
            Op::Matmul(mm) => {
                want("c", mm.c, mm.m * mm.n)?;
                want("a", mm.a, mm.m * mm.k)?;
                want("b", mm.b, mm.k * mm.n)?;
                mm.bias.map_or(Ok(()), |b| want("bias", b, mm.n))
            }
            Op::RowGather { out, x, index, width, .. } => {
                divides("x", x, width)?;
                want("out", out, index.len * width)
            }
            Op::EmbedForward { out, weight, bias, tokens, vocab } => {
                want("weight", weight, bias.len * vocab)?;
                want("out", out, tokens.len * bias.len)
            }
            Op::EmbedBackward { dweight, dout, tokens, buckets, vocab } => {
                divides("dweight", dweight, vocab)?;
                want("buckets", buckets, vocab + 1 + tokens.len)?;
                want("dout", dout, tokens.len * (dweight.len / vocab))
            }
            Op::Cell(cell) => cell.check_shapes(),
            Op::Step { matmul, cell } => {
                Op::Matmul(matmul).check_shapes()?;
                cell.check_shapes()?;
                check_step(&matmul, &cell)
            }
            Op::Dropout { out, x, seed, p, .. } => {
                check_p(p)?;
                want("seed", seed, 1)?;
                want("x", x, out.len)
            }
            Op::DropoutBackward { dx, seed, p, .. } => {
                check_p(p)?;
                want("seed", seed, 1)?;
                want("dx", dx, dx.len.max(1))
            }
            Op::Loss { kind, logits, losses, targets, weights, width, .. } => {
                want_multiple(name, "logits", logits, width)?;
                let rows = logits.len / width;
                want("losses", losses, rows)?;
                want("weights", weights, rows)?;
                let per_row = if kind.target_elem() == Elem::Id { 1 } else { width };
                want("targets", targets, rows * per_row)
            }
            Op::LogSoftmax { logits, classes } => divides("logits", logits, classes),
            Op::LossSum { out, losses, .. } => {
                want("out", out, 1)?;
                want("losses", losses, losses.len.max(1))
            }
            Op::SampleNext { tokens, samples, logits, control, classes, .. } => {
                want("samples", samples, tokens.len)?;
                want("logits", logits, tokens.len * classes)?;
                want("control", control, SAMPLE_CONTROL_HEADER + tokens.len)
            }
            Op::ColumnSum { out, x, cols } => {
                want("out", out, cols)?;
                divides("x", x, cols)
            }
            Op::GradNormPartial { partials, grads } => want("partials", partials, grads.len.div_ceil(NORM_CHUNK)),
            Op::GradNormFinish { stats, partials, .. } => {
                want("stats", stats, 2)?;
                want("partials", partials, partials.len.max(1))
            }
            Op::SgdMomentum { params, velocity, grads, stats, hyper, .. }
            | Op::Adagrad { params, sum_sq: velocity, grads, stats, hyper, .. } => {
                want("state", velocity, params.len)?;
                want("grads", grads, params.len)?;
                want("stats", stats, 2)?;
                want("hyper", hyper, 4)
            }
            Op::Adam { params, m, v, grads, stats, hyper, .. } => {
                want("m", m, params.len)?;
                want("v", v, params.len)?;
                want("grads", grads, params.len)?;
                want("stats", stats, 2)?;
                want("hyper", hyper, 4)
            }
        }
    }
}

impl CellOp {
    /// The kernel's name when the cell runs alone.
    pub fn kernel_name(&self) -> &'static str {
        match self {
            CellOp::RnnForward { .. } => "rnn_cell_forward",
            CellOp::RnnBackward { .. } => "rnn_cell_backward",
            CellOp::LstmForward { .. } => "lstm_cell_forward",
            CellOp::LstmBackward { .. } => "lstm_cell_backward",
            CellOp::GruForward { .. } => "gru_cell_forward",
            CellOp::GruBackward { .. } => "gru_cell_backward",
        }
    }

    /// The kernel's name when the cell is fused with its step's GEMM ([`Op::Step`]).
    pub fn step_kernel_name(&self) -> &'static str {
        match self {
            CellOp::RnnForward { .. } => "rnn_step_forward",
            CellOp::RnnBackward { .. } => "rnn_step_backward",
            CellOp::LstmForward { .. } => "lstm_step_forward",
            CellOp::LstmBackward { .. } => "lstm_step_backward",
            CellOp::GruForward { .. } => "gru_step_forward",
            CellOp::GruBackward { .. } => "gru_step_backward",
        }
    }

    /// The views the cell writes, then the views it reads (see [`Op::views`]).
    pub fn views(&self) -> (Vec<View>, Vec<(View, Elem)>) {
        use Elem::Float as F;
        match *self {
            CellOp::RnnForward { h, pre, .. } => (vec![h], vec![(pre, F)]),
            CellOp::RnnBackward { dpre, dh, h, .. } => (vec![dpre], vec![(dh, F), (h, F)]),
            CellOp::LstmForward { gates, c, h, c_prev, .. } => (vec![gates, c, h], vec![(c_prev, F)]),
            CellOp::LstmBackward { dgates, dc, dh, gates, c, c_prev, .. } => {
                (vec![dgates, dc], vec![(dh, F), (gates, F), (c, F), (c_prev, F)])
            }
            CellOp::GruForward { gates, h, hw, h_prev, .. } => (vec![gates, h], vec![(hw, F), (h_prev, F)]),
            CellOp::GruBackward { dxw, dhw, dh_prev, dh, gates, hw, h_prev, .. } => {
                let mut writes = vec![dxw, dhw];
                writes.extend(dh_prev);
                (writes, vec![(dh, F), (gates, F), (hw, F), (h_prev, F)])
            }
        }
    }

    /// See [`Op::check_shapes`].
    pub fn check_shapes(&self) -> Result<()> {
        let name = self.kernel_name();
        let want = |what: &str, v: View, len: usize| want_len(name, what, v, len);
        let divides = |what: &str, v: View, width: usize| want_multiple(name, what, v, width);
        match *self {
            CellOp::RnnForward { h, pre, .. } => want("pre", pre, h.len),
            CellOp::RnnBackward { dpre, dh, h, .. } => {
                want("dh", dh, dpre.len)?;
                want("h", h, dpre.len)
            }
            CellOp::LstmForward { gates, c, h, c_prev, hidden } => {
                divides("h", h, hidden)?;
                want("c", c, h.len)?;
                want("c_prev", c_prev, h.len)?;
                want("gates", gates, 4 * h.len)
            }
            CellOp::LstmBackward { dgates, dc, dh, gates, c, c_prev, hidden } => {
                divides("dh", dh, hidden)?;
                for (what, v) in [("dc", dc), ("c", c), ("c_prev", c_prev)] {
                    want(what, v, dh.len)?;
                }
                want("gates", gates, 4 * dh.len)?;
                want("dgates", dgates, 4 * dh.len)
            }
            CellOp::GruForward { gates, h, hw, h_prev, hidden } => {
                divides("h", h, hidden)?;
                want("h_prev", h_prev, h.len)?;
                want("hw", hw, 3 * h.len)?;
                want("gates", gates, 3 * h.len)
            }
            CellOp::GruBackward { dxw, dhw, dh_prev, dh, gates, hw, h_prev, hidden } => {
                divides("dh", dh, hidden)?;
                want("h_prev", h_prev, dh.len)?;
                if let Some(d) = dh_prev {
                    want("dh_prev", d, dh.len)?;
                }
                for (what, v) in [("dxw", dxw), ("dhw", dhw), ("gates", gates), ("hw", hw)] {
                    want(what, v, 3 * dh.len)?;
                }
                Ok(())
            }
        }
    }

    /// Gates per hidden unit: 1 (RNN), 4 (LSTM), 3 (GRU).
    pub fn gates(&self) -> usize {
        match self {
            CellOp::RnnForward { .. } | CellOp::RnnBackward { .. } => 1,
            CellOp::LstmForward { .. } | CellOp::LstmBackward { .. } => 4,
            CellOp::GruForward { .. } | CellOp::GruBackward { .. } => 3,
        }
    }
}

/// `v` has exactly `len > 0` elements.
fn want_len(kernel: &str, what: &str, v: View, len: usize) -> Result<()> {
    if v.len == len && len > 0 {
        Ok(())
    } else {
        Err(Error::shape(format!("{kernel} {what}"), format!("{len} elements (> 0)"), v.len))
    }
}

/// `v` has a positive multiple of `width > 0` elements.
fn want_multiple(kernel: &str, what: &str, v: View, width: usize) -> Result<()> {
    if width > 0 && v.len.is_multiple_of(width) && v.len > 0 {
        Ok(())
    } else {
        Err(Error::shape(format!("{kernel} {what}"), format!("a positive multiple of {width}"), v.len))
    }
}

/// What the fused step kernels rely on beyond each part's own shapes: the
/// GEMM is the step's recurrent product in PyTorch's layout and its output is
/// the cell's input (so one invocation can finish a hidden unit from
/// registers), and the cell writes nothing the GEMM reads (other workgroups
/// may still be reading it). The kernels bind whole buffers, one binding per
/// role, so views of one role must share a buffer.
fn check_step(mm: &Matmul, cell: &CellOp) -> Result<()> {
    let name = cell.step_kernel_name();
    let fail = |what: String| Err(Error::Internal(format!("{name}: {what}")));
    let same_buf = |what: &str, x: View, y: View| {
        if x.buf == y.buf { Ok(()) } else { fail(format!("{what} must share a buffer")) }
    };
    let (writes, _) = cell.views();
    let mut mm_reads = vec![mm.a, mm.b];
    mm_reads.extend(mm.bias);
    if writes.iter().any(|w| *w != mm.c && mm_reads.iter().any(|r| w.overlaps(r))) {
        return fail("the cell writes a view the GEMM reads".into());
    }
    let g = cell.gates();
    // Forward: [B, G·H] (+)= h_{t-1} [B, H] · W_hhᵀ ([G·H, H] stored) + b_hh.
    let forward = |input: View, h_next: View, accumulate: bool| {
        let Some(bias) = mm.bias else { return fail("the GEMM needs b_hh".into()) };
        if mm.c != input || mm.a_trans || !mm.b_trans || mm.accumulate != accumulate || mm.n != g * mm.k {
            return fail(format!("GEMM {mm:?} is not the step's h_(t-1)·W_hhᵀ into its input"));
        }
        same_buf("W_hh and b_hh", mm.b, bias)?;
        same_buf("h_(t-1) and h_t", mm.a, h_next)
    };
    // Backward: ∂h_{t-1} [B, H] += ∂pre_t [B, G·H] · W_hh ([G·H, H] stored).
    let backward = |dh: View, dpre_out: View| {
        if mm.c != dh || mm.a_trans || mm.b_trans || !mm.accumulate || mm.bias.is_some() || mm.k != g * mm.n {
            return fail(format!("GEMM {mm:?} is not ∂h_(t-1) += ∂pre_t·W_hh into the cell's dh"));
        }
        same_buf("the GEMM's ∂pre_t and the cell's recurrent ∂pre", mm.a, dpre_out)
    };
    match *cell {
        CellOp::RnnForward { pre, h, .. } => forward(pre, h, true),
        CellOp::LstmForward { gates, h, c, c_prev, .. } => {
            same_buf("c and c_prev", c, c_prev)?;
            forward(gates, h, true)
        }
        CellOp::GruForward { hw, h, h_prev, .. } => {
            if h_prev != mm.a {
                return fail("the GEMM must read the cell's h_prev".into());
            }
            forward(hw, h, false)
        }
        CellOp::RnnBackward { dh, dpre, .. } => backward(dh, dpre),
        CellOp::LstmBackward { dh, dgates, c, c_prev, .. } => {
            same_buf("c and c_prev", c, c_prev)?;
            backward(dh, dgates)
        }
        CellOp::GruBackward { dh, dhw, dh_prev, .. } => {
            if let Some(dh_prev) = dh_prev {
                same_buf("dh and dh_prev", dh, dh_prev)?;
            }
            backward(dh, dhw)
        }
    }
}

/// A dropout op's probability lies in (0, 1): p = 0 records no op at all.
fn check_p(p: f32) -> Result<()> {
    if p.is_finite() && p > 0.0 && p < 1.0 {
        Ok(())
    } else {
        Err(Error::invalid("dropout op probability", p, "must be in (0, 1)"))
    }
}

/// Which part of a block an op belongs to; callers run a prefix or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Load the carried state, the time loop, the head, the loss, store the state.
    Forward,
    /// Zero the gradients, BPTT, the weight gradients.
    Backward,
    /// Gradient norm, clipping and the optimizer.
    Update,
}

/// Buffers and ops of one block, grouped by [`Section`].
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub buffers: Vec<BufferSpec>,
    pub sections: Vec<(Section, Vec<Op>)>,
}

impl Plan {
    /// Adds a buffer and returns a view of all of it.
    pub fn buffer(&mut self, name: impl Into<String>, len: usize, elem: Elem) -> View {
        self.buffers.push(BufferSpec { name: name.into(), len, elem });
        View::whole(BufId(self.buffers.len() - 1), len)
    }

    /// Appends `op` to `section` (opening the section if it is not the last one).
    pub fn push(&mut self, section: Section, op: Op) {
        match self.sections.last_mut() {
            Some((s, ops)) if *s == section => ops.push(op),
            _ => self.sections.push((section, vec![op])),
        }
    }

    /// Ops of the given sections, in plan order.
    pub fn ops<'a>(&'a self, sections: &'a [Section]) -> impl Iterator<Item = &'a Op> + 'a {
        self.sections.iter().filter(|(s, _)| sections.contains(s)).flat_map(|(_, ops)| ops.iter())
    }

    /// Number of ops (= GPU dispatches) in the given sections.
    pub fn count(&self, sections: &[Section]) -> usize {
        self.ops(sections).count()
    }

    /// Checks every op: shapes consistent, views inside their buffers and of
    /// the right element type, writes disjoint from reads.
    pub fn validate(&self) -> Result<()> {
        for op in self.ops(&[Section::Forward, Section::Backward, Section::Update]) {
            op.check_shapes()?;
            let (writes, reads) = op.views();
            let inside = |v: &View, elem: Elem| -> Result<()> {
                let spec = self
                    .buffers
                    .get(v.buf.0)
                    .ok_or_else(|| Error::Internal(format!("{}: no buffer {}", op.kernel_name(), v.buf.0)))?;
                if v.offset + v.len > spec.len || spec.elem != elem {
                    return Err(Error::Internal(format!(
                        "{}: view {v:?} does not fit buffer {:?} ({} x {:?})",
                        op.kernel_name(),
                        spec.name,
                        spec.len,
                        spec.elem
                    )));
                }
                Ok(())
            };
            for (i, w) in writes.iter().enumerate() {
                inside(w, if op.written_ids() == Some(*w) { Elem::Id } else { Elem::Float })?;
                let clash = writes[i + 1..].iter().chain(reads.iter().map(|(r, _)| r)).any(|o| w.overlaps(o));
                if clash {
                    return Err(Error::Internal(format!(
                        "{}: written view {w:?} overlaps another view",
                        op.kernel_name()
                    )));
                }
            }
            for (r, elem) in &reads {
                inside(r, *elem)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[test]
fn token_buckets_list_each_tokens_rows_in_order() {
    let tokens = [2, 0, 2, 2, 4, 0];
    // Starts of tokens 0..=4 and the end, then rows: token 0, (none), 2, (none), 4.
    assert_eq!(token_buckets(&tokens, 5), [0, 2, 2, 5, 5, 6, 1, 5, 0, 2, 3, 4]);
    assert_eq!(token_buckets(&[], 3), [0, 0, 0, 0]);
}
