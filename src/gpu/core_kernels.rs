//! The kernels built on the matmul tile core (shaders/matmul_tile.wgsl): the
//! matmul itself and the fused recurrent steps, each in a portable variant
//! and one with subgroup operations, and how their ops become dispatches.
//! Each core fixes the grid (one workgroup per `MM_TILE_M` x `MM_TILE_N` tile
//! of C, which differs between the cores); each kernel supplies the operand
//! addressing and the epilogue.

use bytemuck::Pod;

use crate::gpu::kernels::{
    Dispatch, Kernel, KernelOptions, MAX_GRID, activation_code, dispatch, div_ceil, in_quads, u32_of,
};
use crate::gpu::uniforms::{MatmulParams, StepBackwardParams, StepForwardParams};
use crate::plan::{CellOp, Elem, Matmul, View};

/// [rows, columns] of C per workgroup of the portable core (`MM_TILE_M`,
/// `MM_TILE_N` of matmul_tile.wgsl; a test checks they agree).
pub(crate) const PORTABLE_TILE: [usize; 2] = [64, 64];
/// The same for the subgroup core (matmul_tile_subgroup.wgsl).
pub(crate) const SUBGROUP_TILE: [usize; 2] = [32, 64];
/// The same for the vec4 core (matmul_tile_vec4.wgsl).
pub(crate) const VEC4_TILE: [usize; 2] = [32, 64];

/// A kernel on the matmul core in its three variants; `pick` chooses.
pub(crate) struct CoreKernel {
    pub portable: Kernel,
    pub subgroup: Kernel,
    /// The subgroup core reading four elements per load (views in aligned quads).
    pub vec4: Kernel,
}

impl CoreKernel {
    /// The variant for the device and the operands, with its core's tile:
    /// without subgroups the portable core; with them the vec4 core where
    /// the GEMM's views sit in aligned quads (`reads_in_quads`), which is
    /// ~2x the scalar subgroup core on llvmpipe, else the scalar one.
    pub(crate) fn pick(&'static self, options: KernelOptions, mm: &Matmul) -> (&'static Kernel, [usize; 2]) {
        if !options.subgroups {
            (&self.portable, PORTABLE_TILE)
        } else if reads_in_quads(mm) {
            (&self.vec4, VEC4_TILE)
        } else {
            (&self.subgroup, SUBGROUP_TILE)
        }
    }
}

/// `core_kernel!(entry point, [files before the core, under shaders/], storage)`:
/// the kernel's source is those files, then a core (matmul_tile.wgsl, or
/// matmul_tile_subgroup.wgsl / matmul_tile_vec4.wgsl for the subgroup variants).
macro_rules! core_kernel {
    ($name:literal, [$($file:literal),+], $storage:expr) => {
        CoreKernel {
            portable: Kernel {
                name: $name,
                source: concat!(
                    $(include_str!(concat!("../../shaders/", $file)),)+
                    include_str!("../../shaders/matmul_tile.wgsl")
                ),
                storage: $storage,
                label: $name,
                subgroups: false,
            },
            subgroup: Kernel {
                name: $name,
                source: concat!(
                    $(include_str!(concat!("../../shaders/", $file)),)+
                    include_str!("../../shaders/matmul_tile_subgroup.wgsl")
                ),
                storage: $storage,
                label: concat!($name, "_subgroup"),
                subgroups: true,
            },
            vec4: Kernel {
                name: $name,
                source: concat!(
                    $(include_str!(concat!("../../shaders/", $file)),)+
                    include_str!("../../shaders/matmul_tile_vec4.wgsl")
                ),
                storage: $storage,
                label: concat!($name, "_vec4"),
                subgroups: true,
            },
        }
    };
}

const F: Elem = Elem::Float;

pub(crate) static MATMUL: CoreKernel = core_kernel!("matmul", ["matmul.wgsl"], &[F, F, F, F]);
pub(crate) static RNN_STEP_FORWARD: CoreKernel =
    core_kernel!("rnn_step_forward", ["cell_math.wgsl", "step/forward.wgsl", "step/rnn_forward.wgsl"], &[F, F, F]);
pub(crate) static LSTM_STEP_FORWARD: CoreKernel =
    core_kernel!("lstm_step_forward", ["cell_math.wgsl", "step/forward.wgsl", "step/lstm_forward.wgsl"], &[F, F, F, F]);
pub(crate) static GRU_STEP_FORWARD: CoreKernel =
    core_kernel!("gru_step_forward", ["cell_math.wgsl", "step/forward.wgsl", "step/gru_forward.wgsl"], &[F, F, F, F]);
pub(crate) static RNN_STEP_BACKWARD: CoreKernel = core_kernel!(
    "rnn_step_backward",
    ["cell_math.wgsl", "step/backward.wgsl", "step/rnn_backward.wgsl"],
    &[F, F, F, F]
);
pub(crate) static LSTM_STEP_BACKWARD: CoreKernel = core_kernel!(
    "lstm_step_backward",
    ["cell_math.wgsl", "step/backward.wgsl", "step/lstm_backward.wgsl"],
    &[F, F, F, F, F, F]
);
pub(crate) static GRU_STEP_BACKWARD: CoreKernel = core_kernel!(
    "gru_step_backward",
    ["cell_math.wgsl", "step/backward.wgsl", "step/gru_backward.wgsl"],
    &[F, F, F, F, F, F, F]
);

/// Every kernel on the core (the tests walk them all).
#[cfg(test)]
pub(crate) static CORE_KERNELS: [&CoreKernel; 7] = [
    &MATMUL,
    &RNN_STEP_FORWARD,
    &LSTM_STEP_FORWARD,
    &GRU_STEP_FORWARD,
    &RNN_STEP_BACKWARD,
    &LSTM_STEP_BACKWARD,
    &GRU_STEP_BACKWARD,
];

/// A core's grid over C = [m, n] in `tile`s: column tiles along x, row tiles
/// along y, and row tiles past 65535 folded into z (row tile = z * num_workgroups.y + y).
pub(crate) fn core_grid(kernel: &str, m: usize, n: usize, tile: [usize; 2]) -> [u32; 3] {
    let col_tiles = div_ceil(n, tile[1]).max(1);
    assert!(col_tiles <= MAX_GRID, "{kernel}: n = {n} needs more than {MAX_GRID} column tiles");
    let row_tiles = div_ceil(m, tile[0]).max(1);
    let y = row_tiles.min(MAX_GRID);
    [u32_of(col_tiles), u32_of(y), u32_of(div_ceil(row_tiles, y))]
}

/// One dispatch of `kernel`'s variant for `options` and the GEMM `mm`, over
/// the [m, n] its core tiles.
fn on_core<P: Pod>(
    kernel: &'static CoreKernel,
    options: KernelOptions,
    mm: &Matmul,
    views: Vec<View>,
    params: P,
    [m, n]: [u32; 2],
) -> Dispatch {
    let (kernel, tile) = kernel.pick(options, mm);
    dispatch(kernel, views, params, core_grid(kernel.name, m as usize, n as usize, tile))
}

/// Whether the vec4 core can read `mm`'s operands (the contract in
/// matmul_tile_vec4.wgsl): each operand's contiguous run (k for A stored
/// [m, k] and for B stored [n, k]; the rows of A stored [k, m]; the columns of
/// B stored [k, n]) starts at a multiple of 4 elements and is a multiple of 4
/// long, so every quad of it is one aligned word.
pub(crate) fn reads_in_quads(mm: &Matmul) -> bool {
    let a_run = if mm.a_trans { mm.m } else { mm.k };
    let b_run = if mm.b_trans { mm.k } else { mm.n };
    in_quads(mm.a.offset, a_run) && in_quads(mm.b.offset, b_run)
}

pub(crate) fn lower_matmul(mm: &Matmul, options: KernelOptions) -> Dispatch {
    // (row stride, column stride) of op(a) [m,k] and op(b) [k,n] in their storage.
    let (a_row_stride, a_col_stride) = if mm.a_trans { (1, mm.m) } else { (mm.k, 1) };
    let (b_row_stride, b_col_stride) = if mm.b_trans { (1, mm.k) } else { (mm.n, 1) };
    // Without a bias, `a` fills the binding and the kernel never reads it.
    let bias = mm.bias.unwrap_or(mm.a);
    let params = MatmulParams {
        m: u32_of(mm.m),
        n: u32_of(mm.n),
        k: u32_of(mm.k),
        accumulate: mm.accumulate.into(),
        c_off: u32_of(mm.c.offset),
        a_off: u32_of(mm.a.offset),
        b_off: u32_of(mm.b.offset),
        bias_off: u32_of(bias.offset),
        a_row_stride: u32_of(a_row_stride),
        a_col_stride: u32_of(a_col_stride),
        b_row_stride: u32_of(b_row_stride),
        b_col_stride: u32_of(b_col_stride),
        has_bias: mm.bias.is_some().into(),
        _pad: [0; 3],
    };
    on_core(&MATMUL, options, mm, vec![mm.c, mm.a, mm.b, bias], params, [params.m, params.n])
}

/// How a fused step becomes one dispatch: one binding per buffer a role lives
/// in (`check_step` made views of one role share a buffer), the offsets in
/// the uniform. Forward runs the core over [B, G·H] with LSTM's and GRU's
/// gates interleaved per unit (GRU padded to 4 slots), backward over [B, H].
pub(crate) fn lower_step(mm: &Matmul, cell: &CellOp, options: KernelOptions) -> Dispatch {
    let off = |v: View| u32_of(v.offset);
    // The core tiles the step's C = [p.m, p.n].
    let forward_launch = |kernel, views, p: StepForwardParams| on_core(kernel, options, mm, views, p, [p.m, p.n]);
    let backward_launch = |kernel, views, p: StepBackwardParams| on_core(kernel, options, mm, views, p, [p.m, p.n]);
    let (rows, w) = (mm.m, mm.b);
    let forward = |hidden: usize, gates: usize| {
        let n = if gates == 1 { hidden } else { 4 * hidden };
        StepForwardParams {
            m: u32_of(rows),
            n: u32_of(n),
            k: u32_of(hidden),
            a_col_stride: 1,
            b_row_stride: 1,
            hidden: u32_of(hidden),
            gates: u32_of(gates),
            activation: 0,
            w_off: off(w),
            bias_off: mm.bias.map_or(0, off),
            h_prev_off: off(mm.a),
            h_off: 0,
            gates_off: 0,
            c_prev_off: 0,
            c_off: 0,
            hw_off: 0,
        }
    };
    let backward = |hidden: usize, gates: usize| StepBackwardParams {
        m: u32_of(rows),
        n: u32_of(hidden),
        k: u32_of(gates * hidden),
        a_col_stride: 1,
        b_row_stride: u32_of(hidden),
        hidden: u32_of(hidden),
        activation: 0,
        has_dh_prev: 0,
        w_off: off(w),
        dnext_off: off(mm.a),
        dh_off: off(mm.c),
        dh_prev_off: 0,
        dxw_off: 0,
        dhw_off: 0,
        dc_off: 0,
        gates_off: 0,
        hw_off: 0,
        c_off: 0,
        c_prev_off: 0,
        h_off: 0,
    };
    match *cell {
        CellOp::RnnForward { h, pre, activation } => {
            let base = forward(mm.k, 1);
            let params = StepForwardParams {
                activation: activation_code(activation),
                h_off: off(h),
                gates_off: off(pre),
                ..base
            };
            forward_launch(&RNN_STEP_FORWARD, vec![w, mm.a, pre], params)
        }
        CellOp::LstmForward { gates, c, h, c_prev, hidden } => {
            let base = forward(hidden, 4);
            let params = StepForwardParams {
                h_off: off(h),
                gates_off: off(gates),
                c_prev_off: off(c_prev),
                c_off: off(c),
                ..base
            };
            forward_launch(&LSTM_STEP_FORWARD, vec![w, mm.a, gates, c], params)
        }
        CellOp::GruForward { gates, h, hw, hidden, .. } => {
            let base = forward(hidden, 3);
            let params = StepForwardParams { h_off: off(h), gates_off: off(gates), hw_off: off(hw), ..base };
            forward_launch(&GRU_STEP_FORWARD, vec![w, mm.a, gates, hw], params)
        }
        CellOp::RnnBackward { dpre, h, activation, .. } => {
            let hidden = mm.n;
            let params = StepBackwardParams {
                activation: activation_code(activation),
                dxw_off: off(dpre),
                h_off: off(h),
                ..backward(hidden, 1)
            };
            backward_launch(&RNN_STEP_BACKWARD, vec![w, mm.a, mm.c, h], params)
        }
        CellOp::LstmBackward { dgates, dc, gates, c, c_prev, hidden, .. } => {
            let params = StepBackwardParams {
                dxw_off: off(dgates),
                dc_off: off(dc),
                gates_off: off(gates),
                c_off: off(c),
                c_prev_off: off(c_prev),
                ..backward(hidden, 4)
            };
            let views = vec![w, mm.a, mm.c, dc, gates, c];
            backward_launch(&LSTM_STEP_BACKWARD, views, params)
        }
        CellOp::GruBackward { dxw, dhw, dh_prev, gates, hw, h_prev, hidden, .. } => {
            let params = StepBackwardParams {
                has_dh_prev: dh_prev.is_some().into(),
                dh_prev_off: dh_prev.map_or(0, off),
                dxw_off: off(dxw),
                dhw_off: off(dhw),
                gates_off: off(gates),
                hw_off: off(hw),
                h_off: off(h_prev),
                ..backward(hidden, 3)
            };
            let views = vec![w, mm.a, mm.c, dxw, gates, hw, h_prev];
            backward_launch(&GRU_STEP_BACKWARD, views, params)
        }
    }
}
