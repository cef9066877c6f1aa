//! The GPU side of every [`Op`]: its WGSL kernel, and how one op becomes one
//! compute dispatch (the views to bind, the bytes of the kernel's uniform, the
//! grid). Only data lives here; pipelines and bind groups are built elsewhere.
//!
//! Binding convention of every kernel: binding 0 is the kernel's uniform
//! struct (bound with a dynamic offset), bindings 1..=n the whole buffers of
//! the op's views in the op's argument order, all `read_write` (one buffer may
//! be bound twice in a dispatch, and wgpu forbids mixing read-only and
//! read-write uses of one buffer). Each kernel finds its view inside the
//! buffer through an element offset in its uniform.

use bytemuck::Pod;

use crate::cpu::kernels::dropout_scale;
use crate::gpu::core_kernels::{lower_matmul, lower_step};
use crate::gpu::uniforms::*;

use crate::plan::{Activation, CellOp, Elem, LossKind, NORM_CHUNK, Op, View};

/// The prelude prepended to every kernel source.
pub(crate) const PRELUDE: &str = include_str!("../../shaders/common.wgsl");

const UTIL: &str = include_str!("../../shaders/util.wgsl");
// The kernels that access a view in words start with a header that defines
// the word: one f32 (word_f32.wgsl), or four for views in aligned quads (word_vec4.wgsl).
macro_rules! in_words {
    (f32, $file:literal) => {
        concat!(include_str!("../../shaders/word_f32.wgsl"), include_str!(concat!("../../shaders/", $file)))
    };
    (vec4, $file:literal) => {
        concat!(include_str!("../../shaders/word_vec4.wgsl"), include_str!(concat!("../../shaders/", $file)))
    };
}
const EMBED: &str = in_words!(f32, "embed.wgsl");
// The cell kernels share the cell math (cell_math.wgsl) with the fused steps (core_kernels.rs).
const RNN_CELL: &str =
    concat!(include_str!("../../shaders/cell_math.wgsl"), include_str!("../../shaders/rnn_cell.wgsl"));
const LSTM_CELL: &str =
    concat!(include_str!("../../shaders/cell_math.wgsl"), include_str!("../../shaders/lstm_cell.wgsl"));
const GRU_CELL: &str =
    concat!(include_str!("../../shaders/cell_math.wgsl"), include_str!("../../shaders/gru_cell.wgsl"));
const DROPOUT: &str = include_str!("../../shaders/dropout.wgsl");
const SAMPLE: &str = include_str!("../../shaders/sample.wgsl");
const LOSS: &str = include_str!("../../shaders/loss.wgsl");
const REDUCE: &str = include_str!("../../shaders/reduce.wgsl");
const OPTIM: &str = include_str!("../../shaders/optim.wgsl");

/// Invocations per workgroup of the 1D kernels (`WG_1D` in common.wgsl).
pub(crate) const WG_1D: usize = 256;
/// Words of a row per workgroup of column_sum (`COL_LANES` in column_sum.wgsl).
pub(crate) const COLUMN_LANES: usize = 16;
/// Rows per invocation of embed_forward (`EMBED_ROWS` in embed.wgsl).
pub(crate) const EMBED_ROWS: usize = 16;
/// Largest workgroup count along one grid dimension (WebGPU's default limit).
pub(crate) const MAX_GRID: usize = 65535;

/// One WGSL entry point.
pub(crate) struct Kernel {
    /// Entry point name == Op::kernel_name().
    pub name: &'static str,
    /// The file's WGSL source (without the prelude), via include_str!.
    pub source: &'static str,
    /// Element type of each storage binding, in binding order (bindings 1..=n).
    pub storage: &'static [Elem],
    /// The pipeline cache key and wgpu label: `name`, or `name` plus the
    /// variant when one entry point has several sources.
    pub label: &'static str,
    /// Uses subgroup builtins: needs wgpu's `Features::SUBGROUP`.
    pub subgroups: bool,
}

/// A kernel without variants (label = entry point name, no optional feature).
const fn kernel(name: &'static str, source: &'static str, storage: &'static [Elem]) -> Kernel {
    Kernel { name, source, storage, label: name, subgroups: false }
}

/// One dispatch of one op.
pub(crate) struct Dispatch {
    pub kernel: &'static Kernel,
    /// The view bound at each storage binding (binding i+1), in order. The whole
    /// buffer `view.buf` is bound; the kernel finds the view through the element
    /// offset in its uniform.
    pub views: Vec<View>,
    /// The bytes of the kernel's uniform struct (at most 256 bytes), bound at
    /// binding 0 with a dynamic offset.
    pub uniform: Vec<u8>,
    /// Workgroup counts (x, y, z); every count <= 65535.
    pub workgroups: [u32; 3],
}

const F: Elem = Elem::Float;
const ID: Elem = Elem::Id;

pub(crate) static FILL: Kernel = kernel("fill", UTIL, &[F]);
pub(crate) static COPY: Kernel = kernel("copy", UTIL, &[F, F]);
pub(crate) static ROW_GATHER: Kernel = kernel("row_gather", UTIL, &[F, F, ID]);
pub(crate) static EMBED_FORWARD: Kernel = kernel("embed_forward", EMBED, &[F, F, F, ID]);
/// `embed_forward` writing out four elements per store (out's offset and width multiples of 4).
pub(crate) static EMBED_FORWARD_QUADS: Kernel =
    Kernel { label: "embed_forward_vec4", ..kernel("embed_forward", in_words!(vec4, "embed.wgsl"), &[F, F, F, ID]) };
pub(crate) static EMBED_BACKWARD: Kernel = kernel("embed_backward", EMBED, &[F, F, ID]);
/// `embed_backward` reading dout four elements per load (dout's offset and width multiples of 4).
pub(crate) static EMBED_BACKWARD_QUADS: Kernel =
    Kernel { label: "embed_backward_vec4", ..kernel("embed_backward", in_words!(vec4, "embed.wgsl"), &[F, F, ID]) };
pub(crate) static RNN_CELL_FORWARD: Kernel = kernel("rnn_cell_forward", RNN_CELL, &[F, F]);
pub(crate) static RNN_CELL_BACKWARD: Kernel = kernel("rnn_cell_backward", RNN_CELL, &[F, F, F]);
pub(crate) static LSTM_CELL_FORWARD: Kernel = kernel("lstm_cell_forward", LSTM_CELL, &[F, F, F, F]);
pub(crate) static LSTM_CELL_BACKWARD: Kernel = kernel("lstm_cell_backward", LSTM_CELL, &[F, F, F, F, F, F]);
pub(crate) static GRU_CELL_FORWARD: Kernel = kernel("gru_cell_forward", GRU_CELL, &[F, F, F, F]);
pub(crate) static GRU_CELL_BACKWARD: Kernel = kernel("gru_cell_backward", GRU_CELL, &[F, F, F, F, F, F, F]);
pub(crate) static DROPOUT_FORWARD: Kernel = kernel("dropout", DROPOUT, &[F, F, ID]);
pub(crate) static DROPOUT_BACKWARD: Kernel = kernel("dropout_backward", DROPOUT, &[F, ID]);
pub(crate) static SOFTMAX_XENT: Kernel = kernel("softmax_xent", LOSS, &[F, F, ID, F]);
pub(crate) static SIGMOID_BCE: Kernel = kernel("sigmoid_bce", LOSS, &[F, F, F, F]);
pub(crate) static MEAN_SQUARED: Kernel = kernel("mean_squared", LOSS, &[F, F, F, F]);
pub(crate) static LOG_SOFTMAX: Kernel = kernel("log_softmax", LOSS, &[F]);
pub(crate) static SAMPLE_NEXT: Kernel = kernel("sample_next", SAMPLE, &[ID, F, F, ID]);
pub(crate) static LOSS_SUM: Kernel = kernel("loss_sum", REDUCE, &[F, F]);
pub(crate) static COLUMN_SUM: Kernel = kernel("column_sum", in_words!(f32, "column_sum.wgsl"), &[F, F]);
/// `column_sum` reading x four columns per load (x's offset and cols multiples of 4).
pub(crate) static COLUMN_SUM_QUADS: Kernel =
    Kernel { label: "column_sum_vec4", ..kernel("column_sum", in_words!(vec4, "column_sum.wgsl"), &[F, F]) };
pub(crate) static GRAD_NORM_PARTIAL: Kernel = kernel("grad_norm_partial", REDUCE, &[F, F]);
pub(crate) static GRAD_NORM_FINISH: Kernel = kernel("grad_norm_finish", REDUCE, &[F, F]);
pub(crate) static SGD_MOMENTUM: Kernel = kernel("sgd_momentum", OPTIM, &[F, F, F, F, F]);
pub(crate) static ADAGRAD: Kernel = kernel("adagrad", OPTIM, &[F, F, F, F, F]);
pub(crate) static ADAM: Kernel = kernel("adam", OPTIM, &[F, F, F, F, F, F]);

/// Every kernel not on the matmul core (the tests walk them all, and `CORE_KERNELS`).
#[cfg(test)]
pub(crate) static KERNELS: [&Kernel; 28] = [
    &FILL,
    &COPY,
    &ROW_GATHER,
    &EMBED_FORWARD,
    &EMBED_FORWARD_QUADS,
    &EMBED_BACKWARD,
    &EMBED_BACKWARD_QUADS,
    &RNN_CELL_FORWARD,
    &RNN_CELL_BACKWARD,
    &LSTM_CELL_FORWARD,
    &LSTM_CELL_BACKWARD,
    &GRU_CELL_FORWARD,
    &GRU_CELL_BACKWARD,
    &DROPOUT_FORWARD,
    &DROPOUT_BACKWARD,
    &SOFTMAX_XENT,
    &SIGMOID_BCE,
    &MEAN_SQUARED,
    &LOG_SOFTMAX,
    &SAMPLE_NEXT,
    &LOSS_SUM,
    &COLUMN_SUM,
    &COLUMN_SUM_QUADS,
    &GRAD_NORM_PARTIAL,
    &GRAD_NORM_FINISH,
    &SGD_MOMENTUM,
    &ADAGRAD,
    &ADAM,
];

/// Ceiling division for grid sizes.
pub(crate) fn div_ceil(n: usize, d: usize) -> usize {
    n.div_ceil(d)
}

/// A size or offset as the u32 of a uniform. Plan buffers are bounded by
/// `max_storage_buffer_binding_size` (checked when they are created), so a
/// failure here is a bug, not a user error.
pub(crate) fn u32_of(x: usize) -> u32 {
    u32::try_from(x).unwrap_or_else(|_| panic!("{x} does not fit a u32 uniform field"))
}

/// The grid of `workgroups` 1D workgroups: (x, y, 1) with x, y <= 65535, which
/// the kernels number row by row (`linear_index` in common.wgsl).
fn grid_1d(workgroups: usize) -> [u32; 3] {
    let workgroups = workgroups.max(1);
    let y = div_ceil(workgroups, MAX_GRID);
    assert!(y <= MAX_GRID, "1D grid of {workgroups} workgroups is too large");
    [u32_of(div_ceil(workgroups, y)), u32_of(y), 1]
}

/// Whether a run of `run` elements at `offset` (a row of a view, every row
/// starting `run` after the last) sits in aligned quads: each quad of it is
/// one aligned vec4 word, which the kernels that access views in words
/// (word_vec4.wgsl, the vec4 matmul core) can read or write at once.
pub(crate) fn in_quads(offset: usize, run: usize) -> bool {
    offset.is_multiple_of(4) && run.is_multiple_of(4) && run >= 4
}

/// The grid of a kernel with one invocation per each of `count` items.
fn grid_per_item(count: usize) -> [u32; 3] {
    grid_1d(div_ceil(count, WG_1D))
}

pub(crate) fn activation_code(activation: Activation) -> u32 {
    match activation {
        Activation::Tanh => 0,
        Activation::Relu => 1,
    }
}

pub(crate) fn dispatch<P: Pod>(kernel: &'static Kernel, views: Vec<View>, params: P, workgroups: [u32; 3]) -> Dispatch {
    Dispatch { kernel, views, uniform: bytemuck::bytes_of(&params).to_vec(), workgroups }
}

/// Which optional kernels a device may use (see `Context::kernel_options`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct KernelOptions {
    /// Use kernels with subgroup operations (the adapter has `Features::SUBGROUP`,
    /// the device was created with it, and they were not switched off).
    pub subgroups: bool,
}

/// How `op` runs on a GPU whose optional kernels are `options`.
pub(crate) fn lower(op: &Op, options: KernelOptions) -> Dispatch {
    let off = |v: View| u32_of(v.offset);
    match *op {
        Op::Fill { dst, value } => {
            let params = FillParams { dst_off: off(dst), len: u32_of(dst.len), value, _pad: 0 };
            dispatch(&FILL, vec![dst], params, grid_per_item(dst.len))
        }
        Op::Copy { dst, src } => {
            let params = CopyParams { dst_off: off(dst), src_off: off(src), len: u32_of(dst.len), _pad: 0 };
            dispatch(&COPY, vec![dst, src], params, grid_per_item(dst.len))
        }
        Op::Matmul(ref mm) => lower_matmul(mm, options),
        Op::RowGather { out, x, index, width, accumulate } => {
            let params = RowGatherParams {
                out_off: off(out),
                x_off: off(x),
                index_off: off(index),
                len: u32_of(out.len),
                width: u32_of(width),
                accumulate: accumulate.into(),
                _pad: [0; 2],
            };
            dispatch(&ROW_GATHER, vec![out, x, index], params, grid_per_item(out.len))
        }
        Op::EmbedForward { out, weight, bias, tokens, vocab } => {
            let params = EmbedForwardParams {
                out_off: off(out),
                weight_off: off(weight),
                bias_off: off(bias),
                tokens_off: off(tokens),
                rows: u32_of(tokens.len),
                width: u32_of(bias.len),
                vocab: u32_of(vocab),
                _pad: 0,
            };
            let width = bias.len;
            let (kernel, word) =
                if in_quads(out.offset, width) { (&EMBED_FORWARD_QUADS, 4) } else { (&EMBED_FORWARD, 1) };
            let invocations = width / word * div_ceil(tokens.len, EMBED_ROWS);
            dispatch(kernel, vec![out, weight, bias, tokens], params, grid_per_item(invocations))
        }
        Op::EmbedBackward { dweight, dout, buckets, vocab, .. } => {
            let width = dweight.len / vocab;
            let params = EmbedBackwardParams {
                dweight_off: off(dweight),
                dout_off: off(dout),
                buckets_off: off(buckets),
                width: u32_of(width),
                vocab: u32_of(vocab),
                _pad: [0; 3],
            };
            let (kernel, word) =
                if in_quads(dout.offset, width) { (&EMBED_BACKWARD_QUADS, 4) } else { (&EMBED_BACKWARD, 1) };
            dispatch(kernel, vec![dweight, dout, buckets], params, grid_per_item(vocab * (width / word)))
        }
        Op::Cell(ref cell) => lower_cell(cell),
        Op::Step { ref matmul, ref cell } => lower_step(matmul, cell, options),
        Op::Dropout { out, x, seed, salt, p } => {
            let params = DropoutParams {
                out_off: off(out),
                x_off: off(x),
                seed_off: off(seed),
                len: u32_of(out.len),
                salt,
                p,
                scale: dropout_scale(p),
                _pad: 0,
            };
            dispatch(&DROPOUT_FORWARD, vec![out, x, seed], params, grid_per_item(out.len))
        }
        Op::DropoutBackward { dx, seed, salt, p } => {
            let params = DropoutBackwardParams {
                dx_off: off(dx),
                seed_off: off(seed),
                len: u32_of(dx.len),
                salt,
                p,
                scale: dropout_scale(p),
                _pad: [0; 2],
            };
            dispatch(&DROPOUT_BACKWARD, vec![dx, seed], params, grid_per_item(dx.len))
        }
        Op::Loss { kind, logits, losses, targets, weights, width, write_grad } => {
            let rows = losses.len;
            let params = LossParams {
                logits_off: off(logits),
                losses_off: off(losses),
                targets_off: off(targets),
                weights_off: off(weights),
                rows: u32_of(rows),
                width: u32_of(width),
                write_grad: write_grad.into(),
                _pad: 0,
            };
            let kernel = match kind {
                LossKind::SoftmaxXent => &SOFTMAX_XENT,
                LossKind::SigmoidBce => &SIGMOID_BCE,
                LossKind::MeanSquared => &MEAN_SQUARED,
            };
            dispatch(kernel, vec![logits, losses, targets, weights], params, grid_per_item(rows))
        }
        Op::LogSoftmax { logits, classes } => {
            let rows = logits.len / classes;
            let params =
                LogSoftmaxParams { logits_off: off(logits), rows: u32_of(rows), classes: u32_of(classes), _pad: 0 };
            dispatch(&LOG_SOFTMAX, vec![logits], params, grid_per_item(rows))
        }
        Op::SampleNext { tokens, samples, logits, control, step, classes } => {
            let params = SampleParams {
                tokens_off: off(tokens),
                samples_off: off(samples),
                logits_off: off(logits),
                control_off: off(control),
                rows: u32_of(tokens.len),
                classes: u32_of(classes),
                step,
                _pad: 0,
            };
            dispatch(&SAMPLE_NEXT, vec![tokens, samples, logits, control], params, grid_per_item(tokens.len))
        }
        Op::LossSum { out, losses, scale } => {
            let params = LossSumParams { out_off: off(out), losses_off: off(losses), len: u32_of(losses.len), scale };
            dispatch(&LOSS_SUM, vec![out, losses], params, [1, 1, 1])
        }
        Op::ColumnSum { out, x, cols } => {
            let params =
                ColumnSumParams { out_off: off(out), x_off: off(x), rows: u32_of(x.len / cols), cols: u32_of(cols) };
            let (kernel, word) = if in_quads(x.offset, cols) { (&COLUMN_SUM_QUADS, 4) } else { (&COLUMN_SUM, 1) };
            dispatch(kernel, vec![out, x], params, grid_1d(div_ceil(cols / word, COLUMN_LANES)))
        }
        Op::GradNormPartial { partials, grads } => {
            let chunks = div_ceil(grads.len, NORM_CHUNK);
            let params = GradNormPartialParams {
                partials_off: off(partials),
                grads_off: off(grads),
                len: u32_of(grads.len),
                chunks: u32_of(chunks),
            };
            dispatch(&GRAD_NORM_PARTIAL, vec![partials, grads], params, grid_1d(chunks))
        }
        Op::GradNormFinish { stats, partials, max_norm } => {
            let params = GradNormFinishParams {
                stats_off: off(stats),
                partials_off: off(partials),
                len: u32_of(partials.len),
                clip: max_norm.is_some().into(),
                max_norm: max_norm.unwrap_or(0.0),
                _pad: [0; 3],
            };
            dispatch(&GRAD_NORM_FINISH, vec![stats, partials], params, [1, 1, 1])
        }
        Op::SgdMomentum { params, velocity, grads, stats, hyper, momentum } => {
            let uniform = SgdMomentumParams {
                params_off: off(params),
                velocity_off: off(velocity),
                grads_off: off(grads),
                stats_off: off(stats),
                hyper_off: off(hyper),
                len: u32_of(params.len),
                momentum,
                _pad: 0,
            };
            let views = vec![params, velocity, grads, stats, hyper];
            dispatch(&SGD_MOMENTUM, views, uniform, grid_per_item(params.len))
        }
        Op::Adagrad { params, sum_sq, grads, stats, hyper, eps } => {
            let uniform = AdagradParams {
                params_off: off(params),
                sum_sq_off: off(sum_sq),
                grads_off: off(grads),
                stats_off: off(stats),
                hyper_off: off(hyper),
                len: u32_of(params.len),
                eps,
                _pad: 0,
            };
            let views = vec![params, sum_sq, grads, stats, hyper];
            dispatch(&ADAGRAD, views, uniform, grid_per_item(params.len))
        }
        Op::Adam { params, m, v, grads, stats, hyper, beta1, beta2, eps } => {
            let uniform = AdamParams {
                params_off: off(params),
                m_off: off(m),
                v_off: off(v),
                grads_off: off(grads),
                stats_off: off(stats),
                hyper_off: off(hyper),
                len: u32_of(params.len),
                beta1,
                beta2,
                eps,
                _pad: [0; 2],
            };
            let views = vec![params, m, v, grads, stats, hyper];
            dispatch(&ADAM, views, uniform, grid_per_item(params.len))
        }
    }
}

/// How a cell op running alone becomes a dispatch.
fn lower_cell(cell: &CellOp) -> Dispatch {
    let off = |v: View| u32_of(v.offset);
    match *cell {
        CellOp::RnnForward { h, pre, activation } => {
            let params = RnnCellForwardParams {
                h_off: off(h),
                pre_off: off(pre),
                len: u32_of(h.len),
                activation: activation_code(activation),
            };
            dispatch(&RNN_CELL_FORWARD, vec![h, pre], params, grid_per_item(h.len))
        }
        CellOp::RnnBackward { dpre, dh, h, activation } => {
            let params = RnnCellBackwardParams {
                dpre_off: off(dpre),
                dh_off: off(dh),
                h_off: off(h),
                len: u32_of(dpre.len),
                activation: activation_code(activation),
                _pad: [0; 3],
            };
            dispatch(&RNN_CELL_BACKWARD, vec![dpre, dh, h], params, grid_per_item(dpre.len))
        }
        CellOp::LstmForward { gates, c, h, c_prev, hidden } => {
            let params = LstmCellForwardParams {
                gates_off: off(gates),
                c_off: off(c),
                h_off: off(h),
                c_prev_off: off(c_prev),
                rows: u32_of(h.len / hidden),
                hidden: u32_of(hidden),
                _pad: [0; 2],
            };
            dispatch(&LSTM_CELL_FORWARD, vec![gates, c, h, c_prev], params, grid_per_item(h.len))
        }
        CellOp::LstmBackward { dgates, dc, dh, gates, c, c_prev, hidden } => {
            let params = LstmCellBackwardParams {
                dgates_off: off(dgates),
                dc_off: off(dc),
                dh_off: off(dh),
                gates_off: off(gates),
                c_off: off(c),
                c_prev_off: off(c_prev),
                rows: u32_of(dh.len / hidden),
                hidden: u32_of(hidden),
            };
            let views = vec![dgates, dc, dh, gates, c, c_prev];
            dispatch(&LSTM_CELL_BACKWARD, views, params, grid_per_item(dh.len))
        }
        CellOp::GruForward { gates, h, hw, h_prev, hidden } => {
            let params = GruCellForwardParams {
                gates_off: off(gates),
                h_off: off(h),
                hw_off: off(hw),
                h_prev_off: off(h_prev),
                rows: u32_of(h.len / hidden),
                hidden: u32_of(hidden),
                _pad: [0; 2],
            };
            dispatch(&GRU_CELL_FORWARD, vec![gates, h, hw, h_prev], params, grid_per_item(h.len))
        }
        CellOp::GruBackward { dxw, dhw, dh_prev, dh, gates, hw, h_prev, hidden } => {
            // Without dh_prev, `dh` fills the binding and the kernel never writes it.
            let target = dh_prev.unwrap_or(dh);
            let params = GruCellBackwardParams {
                dxw_off: off(dxw),
                dhw_off: off(dhw),
                dh_prev_off: off(target),
                dh_off: off(dh),
                gates_off: off(gates),
                hw_off: off(hw),
                h_prev_off: off(h_prev),
                rows: u32_of(dh.len / hidden),
                hidden: u32_of(hidden),
                has_dh_prev: dh_prev.is_some().into(),
                _pad: [0; 2],
            };
            let views = vec![dxw, dhw, target, dh, gates, hw, h_prev];
            dispatch(&GRU_CELL_BACKWARD, views, params, grid_per_item(dh.len))
        }
    }
}

#[cfg(test)]
#[path = "kernel_tests.rs"]
mod tests;
