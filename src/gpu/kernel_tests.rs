//! Checks of every kernel's WGSL against its Rust description, without a device.
use super::*;
use crate::gpu::core_kernels::{CORE_KERNELS, PORTABLE_TILE, SUBGROUP_TILE, VEC4_TILE, core_grid, reads_in_quads};
use crate::plan::{BufId, Matmul};
use wgpu::naga::{
    self, valid::Capabilities, valid::ShaderStages, valid::SubgroupOperationSet, valid::ValidationFlags,
    valid::Validator,
};

/// What one entry point binds, as naga sees it.
struct Interface {
    /// Size in bytes of the uniform struct at binding 0.
    uniform_size: u32,
    /// (binding, element type) of each storage buffer it uses, by binding.
    storage: Vec<(u32, Elem)>,
}

/// Parses and validates `PRELUDE + kernel.source`, then reads the resources
/// the kernel's entry point uses.
fn interface(kernel: &Kernel) -> Interface {
    let source = format!("{PRELUDE}\n{}", kernel.source);
    let module = naga::front::wgsl::parse_str(&source)
        .unwrap_or_else(|e| panic!("{}: parse error\n{}", kernel.name, e.emit_to_string(&source)));
    // Only the kernels that declare subgroups may use them.
    let (capabilities, operations, stages) = if kernel.subgroups {
        (Capabilities::SUBGROUP, SubgroupOperationSet::all(), ShaderStages::COMPUTE)
    } else {
        (Capabilities::empty(), SubgroupOperationSet::empty(), ShaderStages::empty())
    };
    let info = Validator::new(ValidationFlags::all(), capabilities)
        .subgroup_operations(operations)
        .subgroup_stages(stages)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: validation error\n{}", kernel.name, e.emit_to_string(&source)));
    let entry = module
        .entry_points
        .iter()
        .position(|e| e.name == kernel.name)
        .unwrap_or_else(|| panic!("{}: no entry point of that name", kernel.name));
    let uses = info.get_entry_point(entry);
    let mut uniform_size = None;
    let mut storage = Vec::new();
    for (handle, var) in module.global_variables.iter() {
        if uses[handle].is_empty() {
            continue;
        }
        let binding = || {
            let b = var.binding.as_ref().expect("resource without a binding");
            assert_eq!(b.group, 0, "{}: resource outside group 0", kernel.name);
            b.binding
        };
        match var.space {
            naga::AddressSpace::Uniform => {
                assert_eq!(binding(), 0, "{}: uniform not at binding 0", kernel.name);
                assert!(uniform_size.is_none(), "{}: two uniforms", kernel.name);
                uniform_size = Some(module.types[var.ty].inner.size(module.to_ctx()));
            }
            naga::AddressSpace::Storage { access } => {
                assert!(access.contains(naga::StorageAccess::STORE), "{}: storage binding not read_write", kernel.name);
                let naga::TypeInner::Array { base, .. } = module.types[var.ty].inner else {
                    panic!("{}: storage binding is not an array", kernel.name)
                };
                let elem = match module.types[base].inner {
                    naga::TypeInner::Scalar(naga::Scalar::F32) => Elem::Float,
                    // The vec4 core's words: f32 elements read four at a time.
                    naga::TypeInner::Vector { size: naga::VectorSize::Quad, scalar: naga::Scalar::F32 } => Elem::Float,
                    naga::TypeInner::Scalar(naga::Scalar::U32) => Elem::Id,
                    ref other => panic!("{}: storage of {other:?}", kernel.name),
                };
                storage.push((binding(), elem));
            }
            _ => {}
        }
    }
    storage.sort_by_key(|&(binding, _)| binding);
    let uniform_size = uniform_size.unwrap_or_else(|| panic!("{}: uses no uniform", kernel.name));
    Interface { uniform_size, storage }
}

/// Every kernel: the plain ones and both variants of each kernel on the matmul core.
fn all_kernels() -> Vec<&'static Kernel> {
    let core = CORE_KERNELS.iter().flat_map(|k| [&k.portable, &k.subgroup, &k.vec4]);
    KERNELS.iter().copied().chain(core).collect()
}

#[test]
fn every_kernel_validates_and_binds_its_declared_storage() {
    for kernel in all_kernels() {
        let found = interface(kernel).storage;
        let want: Vec<(u32, Elem)> = (1..).zip(kernel.storage.iter().copied()).collect();
        assert_eq!(found, want, "{}: storage bindings (binding, elem) in the WGSL vs Kernel::storage", kernel.name);
    }
}

/// A view at an awkward offset, so offsets reach the uniform.
fn view(buf: usize, len: usize) -> View {
    View { buf: BufId(buf), offset: 5 + buf, len }
}

/// One op of every variant (and both matmul bias cases, both GRU backward
/// dh_prev cases), the matmul and the fused steps also with views in aligned
/// quads (the vec4 core).
fn example_ops() -> Vec<Op> {
    let mut ops = plain_ops();
    ops.extend(step_ops(Steps { batch: 3, hidden: 5, base: 3 }));
    ops.extend(step_ops(Steps { batch: 2, hidden: 4, base: 4 }));
    ops
}

fn plain_ops() -> Vec<Op> {
    let (m, n, k) = (7, 65, 9);
    let matmul = Matmul {
        c: view(0, m * n),
        a: view(1, k * m),
        b: view(2, n * k),
        bias: Some(view(3, n)),
        m,
        n,
        k,
        a_trans: true,
        b_trans: true,
        accumulate: true,
    };
    vec![
        Op::Fill { dst: view(0, 300), value: 1.5 },
        Op::Copy { dst: view(0, 300), src: view(1, 300) },
        Op::RowGather { out: view(0, 3 * 5), x: view(1, 7 * 5), index: view(2, 3), width: 5, accumulate: true },
        Op::Matmul(matmul),
        Op::Matmul(Matmul { bias: None, a_trans: false, b_trans: false, accumulate: false, ..matmul }),
        // Views in aligned quads (the vec4 core on subgroup devices): m, k multiples of 4.
        Op::Matmul(Matmul {
            c: View { offset: 4, ..view(0, 8 * n) },
            a: View { offset: 8, ..view(1, 12 * 8) },
            b: View { offset: 12, ..view(2, n * 12) },
            m: 8,
            k: 12,
            ..matmul
        }),
        Op::EmbedForward {
            out: view(0, 6 * 4),
            weight: view(1, 4 * 11),
            bias: view(2, 4),
            tokens: view(3, 6),
            vocab: 11,
        },
        // Rows in aligned quads (written as vec4 words).
        Op::EmbedForward {
            out: View { offset: 8, ..view(0, 6 * 4) },
            weight: view(1, 4 * 11),
            bias: view(2, 4),
            tokens: view(3, 6),
            vocab: 11,
        },
        Op::EmbedBackward {
            dweight: view(0, 4 * 11),
            dout: view(1, 6 * 4),
            tokens: view(2, 6),
            buckets: view(3, 11 + 1 + 6),
            vocab: 11,
        },
        // dout's rows in aligned quads (read as vec4 words).
        Op::EmbedBackward {
            dweight: view(0, 4 * 11),
            dout: View { offset: 8, ..view(1, 6 * 4) },
            tokens: view(2, 6),
            buckets: view(3, 11 + 1 + 6),
            vocab: 11,
        },
        Op::Cell(CellOp::RnnForward { h: view(0, 33), pre: view(1, 33), activation: Activation::Tanh }),
        Op::Cell(CellOp::RnnBackward {
            dpre: view(0, 33),
            dh: view(1, 33),
            h: view(2, 33),
            activation: Activation::Relu,
        }),
        Op::Cell(CellOp::LstmForward {
            gates: view(0, 3 * 4 * 5),
            c: view(1, 3 * 5),
            h: view(2, 3 * 5),
            c_prev: view(3, 3 * 5),
            hidden: 5,
        }),
        Op::Cell(CellOp::LstmBackward {
            dgates: view(0, 3 * 4 * 5),
            dc: view(1, 3 * 5),
            dh: view(2, 3 * 5),
            gates: view(3, 3 * 4 * 5),
            c: view(4, 3 * 5),
            c_prev: view(5, 3 * 5),
            hidden: 5,
        }),
        Op::Cell(CellOp::GruForward {
            gates: view(0, 3 * 3 * 5),
            h: view(1, 3 * 5),
            hw: view(2, 3 * 3 * 5),
            h_prev: view(3, 3 * 5),
            hidden: 5,
        }),
        Op::Cell(CellOp::GruBackward {
            dxw: view(0, 3 * 3 * 5),
            dhw: view(1, 3 * 3 * 5),
            dh_prev: Some(view(2, 3 * 5)),
            dh: view(3, 3 * 5),
            gates: view(4, 3 * 3 * 5),
            hw: view(5, 3 * 3 * 5),
            h_prev: view(6, 3 * 5),
            hidden: 5,
        }),
        Op::Cell(CellOp::GruBackward {
            dxw: view(0, 3 * 3 * 5),
            dhw: view(1, 3 * 3 * 5),
            dh_prev: None,
            dh: view(3, 3 * 5),
            gates: view(4, 3 * 3 * 5),
            hw: view(5, 3 * 3 * 5),
            h_prev: view(6, 3 * 5),
            hidden: 5,
        }),
        Op::Dropout { out: view(0, 300), x: view(1, 300), seed: view(2, 1), salt: 7, p: 0.25 },
        Op::DropoutBackward { dx: view(0, 300), seed: view(1, 1), salt: 7, p: 0.25 },
        loss(LossKind::SoftmaxXent, 1),
        loss(LossKind::SigmoidBce, 7),
        loss(LossKind::MeanSquared, 7),
        Op::LogSoftmax { logits: view(0, 3 * 7), classes: 7 },
        Op::SampleNext {
            tokens: view(0, 3),
            samples: view(1, 3),
            logits: view(2, 3 * 7),
            control: view(3, crate::plan::SAMPLE_CONTROL_HEADER + 3),
            step: 2,
            classes: 7,
        },
        Op::LossSum { out: view(0, 1), losses: view(1, 300), scale: 0.5 },
        Op::ColumnSum { out: view(0, 7), x: view(1, 3 * 7), cols: 7 },
        // Rows in aligned quads (read as vec4 words).
        Op::ColumnSum { out: view(0, 8), x: View { offset: 4, ..view(1, 3 * 8) }, cols: 8 },
        Op::GradNormPartial { partials: view(0, 3), grads: view(1, 2 * NORM_CHUNK + 1) },
        Op::GradNormFinish { stats: view(0, 2), partials: view(1, 3), max_norm: Some(5.0) },
        Op::GradNormFinish { stats: view(0, 2), partials: view(1, 3), max_norm: None },
        Op::SgdMomentum {
            params: view(0, 300),
            velocity: view(1, 300),
            grads: view(2, 300),
            stats: view(3, 2),
            hyper: view(4, 4),
            momentum: 0.9,
        },
        Op::Adagrad {
            params: view(0, 300),
            sum_sq: view(1, 300),
            grads: view(2, 300),
            stats: view(3, 2),
            hyper: view(4, 4),
            eps: 1e-10,
        },
        Op::Adam {
            params: view(0, 300),
            m: view(1, 300),
            v: view(2, 300),
            grads: view(3, 300),
            stats: view(4, 2),
            hyper: view(5, 4),
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        },
    ]
}

/// A loss over 3 rows of 7 logits; `per_row` targets each.
fn loss(kind: LossKind, per_row: usize) -> Op {
    let (logits, losses, targets, weights) = (view(0, 21), view(1, 3), view(2, 3 * per_row), view(3, 3));
    Op::Loss { kind, logits, losses, targets, weights, width: 7, write_grad: true }
}

/// Where the example steps live: B x H, and every buffer's rows after an
/// offset of `base` (+ 4 per buffer), so a step's views of one role can share
/// a buffer as `check_step` wants. With base and H multiples of 4 the views
/// sit in aligned quads.
#[derive(Clone, Copy)]
struct Steps {
    batch: usize,
    hidden: usize,
    base: usize,
}

impl Steps {
    /// Row `i` of `len` elements of buffer `buf`.
    fn rows(self, buf: usize, i: usize, len: usize) -> View {
        View { buf: BufId(buf), offset: self.base + 4 * buf + i * len, len }
    }
}

/// Every fused step: h_prev is row 0 of buffer 1 forward (h_t row 1), W_hh
/// and b_hh live in buffer 0; backward ∂pre_t is row 1 of buffer 1 (the cell
/// writes ∂pre_{t-1} into row 0).
fn step_ops(s: Steps) -> Vec<Op> {
    let (bh, hidden) = (s.batch * s.hidden, s.hidden);
    let r = |buf, i, len| s.rows(buf, i, len);
    vec![
        step_forward(s, CellOp::RnnForward { h: r(1, 1, bh), pre: r(2, 0, bh), activation: Activation::Tanh }),
        step_forward(
            s,
            CellOp::LstmForward { gates: r(2, 0, 4 * bh), c: r(3, 1, bh), h: r(1, 1, bh), c_prev: r(3, 0, bh), hidden },
        ),
        step_forward(
            s,
            CellOp::GruForward {
                gates: r(2, 0, 3 * bh),
                h: r(1, 1, bh),
                hw: r(3, 0, 3 * bh),
                h_prev: r(1, 0, bh),
                hidden,
            },
        ),
        step_backward(
            s,
            CellOp::RnnBackward { dpre: r(1, 0, bh), dh: r(2, 1, bh), h: r(3, 0, bh), activation: Activation::Relu },
        ),
        step_backward(
            s,
            CellOp::LstmBackward {
                dgates: r(1, 0, 4 * bh),
                dc: r(3, 0, bh),
                dh: r(2, 1, bh),
                gates: r(4, 0, 4 * bh),
                c: r(5, 1, bh),
                c_prev: r(5, 0, bh),
                hidden,
            },
        ),
        step_backward(
            s,
            CellOp::GruBackward {
                dxw: r(3, 0, 3 * bh),
                dhw: r(1, 0, 3 * bh),
                dh_prev: Some(r(2, 0, bh)),
                dh: r(2, 1, bh),
                gates: r(4, 0, 3 * bh),
                hw: r(5, 0, 3 * bh),
                h_prev: r(6, 0, bh),
                hidden,
            },
        ),
    ]
}

fn step_forward(s: Steps, cell: CellOp) -> Op {
    let (g, k) = (cell.gates(), s.hidden);
    let target = match cell {
        CellOp::RnnForward { pre, .. } => pre,
        CellOp::LstmForward { gates, .. } => gates,
        CellOp::GruForward { hw, .. } => hw,
        _ => unreachable!("forward cells only"),
    };
    let matmul = Matmul {
        c: target,
        a: s.rows(1, 0, s.batch * k),
        b: s.rows(0, 0, g * k * k),
        // b_hh after W_hh, at a multiple of 4.
        bias: Some(View { offset: s.rows(0, 0, 0).offset + 4 * g * k * k, len: g * k, buf: BufId(0) }),
        m: s.batch,
        n: g * k,
        k,
        a_trans: false,
        b_trans: true,
        accumulate: !matches!(cell, CellOp::GruForward { .. }),
    };
    Op::Step { matmul, cell }
}

fn step_backward(s: Steps, cell: CellOp) -> Op {
    let (g, h) = (cell.gates(), s.hidden);
    let dh = match cell {
        CellOp::RnnBackward { dh, .. } | CellOp::LstmBackward { dh, .. } | CellOp::GruBackward { dh, .. } => dh,
        _ => unreachable!("backward cells only"),
    };
    let matmul = Matmul {
        c: dh,
        a: s.rows(1, 1, s.batch * h * g),
        b: s.rows(0, 0, g * h * h),
        bias: None,
        m: s.batch,
        n: h,
        k: h * g,
        a_trans: false,
        b_trans: false,
        accumulate: true,
    };
    Op::Step { matmul, cell }
}

const PORTABLE: KernelOptions = KernelOptions { subgroups: false };
const SUBGROUPS: KernelOptions = KernelOptions { subgroups: true };

#[test]
fn lower_binds_the_op_views_and_the_kernel_uniform() {
    let ops = example_ops();
    for (op, options) in ops.iter().flat_map(|op| [(op, PORTABLE), (op, SUBGROUPS)]) {
        op.check_shapes().unwrap_or_else(|e| panic!("example op {op:?} is malformed: {e}"));
        let d = lower(op, options);
        assert!(options.subgroups || !d.kernel.subgroups, "{}: a subgroup kernel without subgroups", d.kernel.label);
        let name = op.kernel_name();
        assert_eq!(d.kernel.name, name);
        assert_eq!(d.views.len(), d.kernel.storage.len(), "{name}: views vs storage bindings");
        assert!(
            d.uniform.len() <= 256 && d.uniform.len().is_multiple_of(16),
            "{name}: uniform of {} bytes",
            d.uniform.len()
        );
        assert_eq!(d.uniform.len() as u32, interface(d.kernel).uniform_size, "{name}: Rust twin vs WGSL uniform size");
        assert!(d.workgroups.iter().all(|&w| (1..=65535).contains(&w)), "{name}: grid {:?}", d.workgroups);
        if let Op::Step { .. } = op {
            // One binding per buffer a role lives in: every bound buffer is one the op uses.
            let (writes, reads) = op.views();
            let used: Vec<BufId> = writes.iter().chain(reads.iter().map(|(v, _)| v)).map(|v| v.buf).collect();
            assert!(d.views.iter().all(|v| used.contains(&v.buf)), "{name}: binds a buffer the op does not use");
            continue;
        }
        // Bound in the op's argument order: written views, then read views.
        let (writes, reads) = op.views();
        let mut args: Vec<View> = writes.into_iter().chain(reads.into_iter().map(|(v, _)| v)).collect();
        if let Op::Matmul(Matmul { bias: None, a, .. }) = op {
            args.push(*a);
        }
        // Without dh_prev, dh fills the dh_prev binding (after dxw, dhw).
        if let Op::Cell(CellOp::GruBackward { dh_prev: None, dh, .. }) = op {
            args.insert(2, *dh);
        }
        // The GPU walks the tokens' buckets; the tokens are the CPU's.
        if let Op::EmbedBackward { tokens, .. } = op {
            args.retain(|v| v != tokens);
        }
        assert_eq!(d.views, args, "{name}: bound views vs the op's arguments");
    }
    let mut lowered: Vec<&str> =
        ops.iter().flat_map(|op| [lower(op, PORTABLE).kernel.label, lower(op, SUBGROUPS).kernel.label]).collect();
    let mut all: Vec<&str> = all_kernels().iter().map(|k| k.label).collect();
    lowered.sort_unstable();
    lowered.dedup();
    all.sort_unstable();
    assert_eq!(lowered, all, "every kernel is reached by some op");
}

#[test]
fn core_variants_share_uniform_and_views_and_tile_the_result_with_their_core() {
    for op in example_ops().iter().filter(|op| matches!(op, Op::Matmul(_) | Op::Step { .. })) {
        let (portable, subgroup) = (lower(op, PORTABLE), lower(op, SUBGROUPS));
        let in_quads = matches!(op, Op::Matmul(mm) | Op::Step { matmul: mm, .. } if reads_in_quads(mm));
        assert_eq!(portable.kernel.label, op.kernel_name());
        let variant = if in_quads { "vec4" } else { "subgroup" };
        assert_eq!(subgroup.kernel.label, format!("{}_{variant}", op.kernel_name()));
        assert!(subgroup.kernel.subgroups && !portable.kernel.subgroups);
        assert_eq!(portable.uniform, subgroup.uniform);
        assert_eq!(portable.views, subgroup.views);
        // Every core kernel's uniform starts with the [m, n] of the result it tiles.
        let field = |i: usize| u32::from_le_bytes(portable.uniform[4 * i..4 * i + 4].try_into().unwrap()) as usize;
        let (m, n) = (field(0), field(1));
        let subgroup_tile = if in_quads { VEC4_TILE } else { SUBGROUP_TILE };
        for (d, [tm, tn]) in [(&portable, PORTABLE_TILE), (&subgroup, subgroup_tile)] {
            let [x, y, z] = d.workgroups.map(|w| w as usize);
            assert!(x * tn >= n && (x - 1) * tn < n, "{}: {x} column tiles of {tn} for n = {n}", d.kernel.label);
            assert!(y * z * tm >= m && (y * z - 1) * tm < m, "{}: {y}x{z} row tiles for m = {m}", d.kernel.label);
        }
    }
}

#[test]
fn matmul_grids_fold_row_tiles_past_65535_into_z() {
    for (m, tile) in [(64 * 65535, PORTABLE_TILE), (64 * 65535 + 1, PORTABLE_TILE), (32 * 70_000, SUBGROUP_TILE)] {
        let [x, y, z] = core_grid("matmul", m, 65, tile);
        let rows = (y * z) as usize * tile[0];
        assert!(y <= 65535 && z <= 65535 && x == 2, "m = {m}: grid {x} x {y} x {z}");
        assert!(rows >= m && rows - m < y as usize * tile[0], "m = {m}: {y} x {z} row tiles of {}", tile[0]);
    }
}

/// The value of the module-scope u32 constant `name` in `kernel`'s WGSL.
fn wgsl_const(kernel: &Kernel, name: &str) -> u32 {
    let source = format!("{PRELUDE}\n{}", kernel.source);
    let module = naga::front::wgsl::parse_str(&source).expect("parses");
    let (_, constant) = module
        .constants
        .iter()
        .find(|(_, c)| c.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("{}: no constant {name}", kernel.label));
    match module.global_expressions[constant.init] {
        naga::Expression::Literal(naga::Literal::U32(v)) => v,
        ref other => panic!("{}: {name} = {other:?}", kernel.label),
    }
}

#[test]
fn core_tile_and_workgroup_sizes_match_the_wgsl() {
    let variants = CORE_KERNELS
        .iter()
        .flat_map(|k| [(&k.portable, PORTABLE_TILE), (&k.subgroup, SUBGROUP_TILE), (&k.vec4, VEC4_TILE)]);
    for (kernel, tile) in variants {
        assert_eq!(wgsl_const(kernel, "MM_TILE_M") as usize, tile[0], "{}: MM_TILE_M", kernel.label);
        assert_eq!(wgsl_const(kernel, "MM_TILE_N") as usize, tile[1], "{}: MM_TILE_N", kernel.label);
        let source = format!("{PRELUDE}\n{}", kernel.source);
        let module = naga::front::wgsl::parse_str(&source).expect("parses");
        let entry = module.entry_points.iter().find(|e| e.name == kernel.name).expect("entry point");
        let want = [wgsl_const(kernel, "MM_WG_X"), wgsl_const(kernel, "MM_WG_Y"), 1];
        assert_eq!(entry.workgroup_size, want, "{}: workgroup size vs MM_WG_X, MM_WG_Y", kernel.label);
    }
}

#[test]
fn word_kernel_constants_match_the_wgsl() {
    for kernel in [&COLUMN_SUM, &COLUMN_SUM_QUADS] {
        let (lanes, phases) = (wgsl_const(kernel, "COL_LANES"), wgsl_const(kernel, "COL_PHASES"));
        assert_eq!(lanes as usize, COLUMN_LANES, "{}: COL_LANES", kernel.label);
        assert_eq!((lanes * phases) as usize, WG_1D, "{}: COL_LANES x COL_PHASES", kernel.label);
    }
    for kernel in [&EMBED_FORWARD, &EMBED_FORWARD_QUADS, &EMBED_BACKWARD, &EMBED_BACKWARD_QUADS] {
        assert_eq!(wgsl_const(kernel, "EMBED_ROWS") as usize, EMBED_ROWS, "{}: EMBED_ROWS", kernel.label);
    }
    let word = |kernel: &Kernel| wgsl_const(kernel, "WORD");
    assert_eq!((word(&COLUMN_SUM), word(&COLUMN_SUM_QUADS)), (1, 4));
    assert_eq!((word(&EMBED_FORWARD), word(&EMBED_FORWARD_QUADS)), (1, 4));
    assert_eq!((word(&EMBED_BACKWARD), word(&EMBED_BACKWARD_QUADS)), (1, 4));
}

#[test]
fn large_1d_grids_fold_into_two_dimensions() {
    for workgroups in [1, 255, 65535, 65536, 200_001] {
        let [x, y, z] = grid_1d(workgroups);
        assert!(x <= 65535 && y <= 65535 && z == 1, "{workgroups}: {x} x {y}");
        let covered = x as usize * y as usize;
        assert!(covered >= workgroups && covered - workgroups < y as usize, "{workgroups}: {x} x {y}");
    }
}
