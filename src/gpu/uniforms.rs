//! The uniform struct of every kernel: each a `#[repr(C)]` twin of the WGSL
//! struct it names, with a compile-time size check.

use bytemuck::{Pod, Zeroable};

/// WGSL `FillParams` (util.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct FillParams {
    pub dst_off: u32,
    pub len: u32,
    pub value: f32,
    pub _pad: u32,
}
const _: () = assert!(std::mem::size_of::<FillParams>() == 16);

/// WGSL `CopyParams` (util.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct CopyParams {
    pub dst_off: u32,
    pub src_off: u32,
    pub len: u32,
    pub _pad: u32,
}
const _: () = assert!(std::mem::size_of::<CopyParams>() == 16);

/// WGSL `MatmulParams` (matmul.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct MatmulParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub accumulate: u32,
    pub c_off: u32,
    pub a_off: u32,
    pub b_off: u32,
    pub bias_off: u32,
    pub a_row_stride: u32,
    pub a_col_stride: u32,
    pub b_row_stride: u32,
    pub b_col_stride: u32,
    pub has_bias: u32,
    pub _pad: [u32; 3],
}
const _: () = assert!(std::mem::size_of::<MatmulParams>() == 64);

/// WGSL `EmbedForwardParams` (embed.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct EmbedForwardParams {
    pub out_off: u32,
    pub weight_off: u32,
    pub bias_off: u32,
    pub tokens_off: u32,
    pub rows: u32,
    pub width: u32,
    pub vocab: u32,
    pub _pad: u32,
}
const _: () = assert!(std::mem::size_of::<EmbedForwardParams>() == 32);

/// WGSL `EmbedBackwardParams` (embed.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct EmbedBackwardParams {
    pub dweight_off: u32,
    pub dout_off: u32,
    pub buckets_off: u32,
    pub width: u32,
    pub vocab: u32,
    pub _pad: [u32; 3],
}
const _: () = assert!(std::mem::size_of::<EmbedBackwardParams>() == 32);

/// WGSL `RnnCellForwardParams` (rnn_cell.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct RnnCellForwardParams {
    pub h_off: u32,
    pub pre_off: u32,
    pub len: u32,
    pub activation: u32,
}
const _: () = assert!(std::mem::size_of::<RnnCellForwardParams>() == 16);

/// WGSL `RnnCellBackwardParams` (rnn_cell.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct RnnCellBackwardParams {
    pub dpre_off: u32,
    pub dh_off: u32,
    pub h_off: u32,
    pub len: u32,
    pub activation: u32,
    pub _pad: [u32; 3],
}
const _: () = assert!(std::mem::size_of::<RnnCellBackwardParams>() == 32);

/// WGSL `LstmCellForwardParams` (lstm_cell.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct LstmCellForwardParams {
    pub gates_off: u32,
    pub c_off: u32,
    pub h_off: u32,
    pub c_prev_off: u32,
    pub rows: u32,
    pub hidden: u32,
    pub _pad: [u32; 2],
}
const _: () = assert!(std::mem::size_of::<LstmCellForwardParams>() == 32);

/// WGSL `LstmCellBackwardParams` (lstm_cell.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct LstmCellBackwardParams {
    pub dgates_off: u32,
    pub dc_off: u32,
    pub dh_off: u32,
    pub gates_off: u32,
    pub c_off: u32,
    pub c_prev_off: u32,
    pub rows: u32,
    pub hidden: u32,
}
const _: () = assert!(std::mem::size_of::<LstmCellBackwardParams>() == 32);

/// WGSL `GruCellForwardParams` (gru_cell.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct GruCellForwardParams {
    pub gates_off: u32,
    pub h_off: u32,
    pub hw_off: u32,
    pub h_prev_off: u32,
    pub rows: u32,
    pub hidden: u32,
    pub _pad: [u32; 2],
}
const _: () = assert!(std::mem::size_of::<GruCellForwardParams>() == 32);

/// WGSL `GruCellBackwardParams` (gru_cell.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct GruCellBackwardParams {
    pub dxw_off: u32,
    pub dhw_off: u32,
    pub dh_prev_off: u32,
    pub dh_off: u32,
    pub gates_off: u32,
    pub hw_off: u32,
    pub h_prev_off: u32,
    pub rows: u32,
    pub hidden: u32,
    pub has_dh_prev: u32,
    pub _pad: [u32; 2],
}
const _: () = assert!(std::mem::size_of::<GruCellBackwardParams>() == 48);

/// WGSL `DropoutParams` (dropout.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct DropoutParams {
    pub out_off: u32,
    pub x_off: u32,
    pub seed_off: u32,
    pub len: u32,
    pub salt: u32,
    pub p: f32,
    pub scale: f32,
    pub _pad: u32,
}
const _: () = assert!(std::mem::size_of::<DropoutParams>() == 32);

/// WGSL `DropoutBackwardParams` (dropout.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct DropoutBackwardParams {
    pub dx_off: u32,
    pub seed_off: u32,
    pub len: u32,
    pub salt: u32,
    pub p: f32,
    pub scale: f32,
    pub _pad: [u32; 2],
}
const _: () = assert!(std::mem::size_of::<DropoutBackwardParams>() == 32);

/// WGSL `LossParams` (loss.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct LossParams {
    pub logits_off: u32,
    pub losses_off: u32,
    pub targets_off: u32,
    pub weights_off: u32,
    pub rows: u32,
    pub width: u32,
    pub write_grad: u32,
    pub _pad: u32,
}
const _: () = assert!(std::mem::size_of::<LossParams>() == 32);

/// WGSL `LogSoftmaxParams` (loss.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct LogSoftmaxParams {
    pub logits_off: u32,
    pub rows: u32,
    pub classes: u32,
    pub _pad: u32,
}
const _: () = assert!(std::mem::size_of::<LogSoftmaxParams>() == 16);

/// WGSL `LossSumParams` (reduce.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct LossSumParams {
    pub out_off: u32,
    pub losses_off: u32,
    pub len: u32,
    pub scale: f32,
}
const _: () = assert!(std::mem::size_of::<LossSumParams>() == 16);

/// WGSL `ColumnSumParams` (column_sum.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct ColumnSumParams {
    pub out_off: u32,
    pub x_off: u32,
    pub rows: u32,
    pub cols: u32,
}
const _: () = assert!(std::mem::size_of::<ColumnSumParams>() == 16);

/// WGSL `GradNormPartialParams` (reduce.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct GradNormPartialParams {
    pub partials_off: u32,
    pub grads_off: u32,
    pub len: u32,
    pub chunks: u32,
}
const _: () = assert!(std::mem::size_of::<GradNormPartialParams>() == 16);

/// WGSL `GradNormFinishParams` (reduce.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct GradNormFinishParams {
    pub stats_off: u32,
    pub partials_off: u32,
    pub len: u32,
    pub clip: u32,
    pub max_norm: f32,
    pub _pad: [u32; 3],
}
const _: () = assert!(std::mem::size_of::<GradNormFinishParams>() == 32);

/// WGSL `SgdMomentumParams` (optim.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct SgdMomentumParams {
    pub params_off: u32,
    pub velocity_off: u32,
    pub grads_off: u32,
    pub stats_off: u32,
    pub hyper_off: u32,
    pub len: u32,
    pub momentum: f32,
    pub _pad: u32,
}
const _: () = assert!(std::mem::size_of::<SgdMomentumParams>() == 32);

/// WGSL `AdagradParams` (optim.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct AdagradParams {
    pub params_off: u32,
    pub sum_sq_off: u32,
    pub grads_off: u32,
    pub stats_off: u32,
    pub hyper_off: u32,
    pub len: u32,
    pub eps: f32,
    pub _pad: u32,
}
const _: () = assert!(std::mem::size_of::<AdagradParams>() == 32);

/// WGSL `AdamParams` (optim.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct AdamParams {
    pub params_off: u32,
    pub m_off: u32,
    pub v_off: u32,
    pub grads_off: u32,
    pub stats_off: u32,
    pub hyper_off: u32,
    pub len: u32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub _pad: [u32; 2],
}
const _: () = assert!(std::mem::size_of::<AdamParams>() == 48);

/// WGSL `StepForwardParams` (step/forward.wgsl); m..b_row_stride are read by the matmul core.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct StepForwardParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub a_col_stride: u32,
    pub b_row_stride: u32,
    pub hidden: u32,
    pub gates: u32,
    pub activation: u32,
    pub w_off: u32,
    pub bias_off: u32,
    pub h_prev_off: u32,
    pub h_off: u32,
    pub gates_off: u32,
    pub c_prev_off: u32,
    pub c_off: u32,
    pub hw_off: u32,
}
const _: () = assert!(std::mem::size_of::<StepForwardParams>() == 64);

/// WGSL `StepBackwardParams` (step/backward.wgsl); m..b_row_stride are read by the matmul core.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct StepBackwardParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub a_col_stride: u32,
    pub b_row_stride: u32,
    pub hidden: u32,
    pub activation: u32,
    pub has_dh_prev: u32,
    pub w_off: u32,
    pub dnext_off: u32,
    pub dh_off: u32,
    pub dh_prev_off: u32,
    pub dxw_off: u32,
    pub dhw_off: u32,
    pub dc_off: u32,
    pub gates_off: u32,
    pub hw_off: u32,
    pub c_off: u32,
    pub c_prev_off: u32,
    pub h_off: u32,
}
const _: () = assert!(std::mem::size_of::<StepBackwardParams>() == 80);

/// WGSL `SampleParams` (sample.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct SampleParams {
    pub tokens_off: u32,
    pub samples_off: u32,
    pub logits_off: u32,
    pub control_off: u32,
    pub rows: u32,
    pub classes: u32,
    pub step: u32,
    pub _pad: u32,
}
const _: () = assert!(std::mem::size_of::<SampleParams>() == 32);

/// WGSL `RowGatherParams` (util.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct RowGatherParams {
    pub out_off: u32,
    pub x_off: u32,
    pub index_off: u32,
    pub len: u32,
    pub width: u32,
    pub accumulate: u32,
    pub _pad: [u32; 2],
}
const _: () = assert!(std::mem::size_of::<RowGatherParams>() == 32);
