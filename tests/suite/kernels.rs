//! Every WGSL kernel against its CPU twin at awkward sizes. Each test builds
//! one plan holding the kernel at every size (each view at an offset inside a
//! padded buffer, so offsets and bounds are exercised too), runs it through
//! the full program path on both backends, and compares every buffer.

use rnn_wgpu::plan::{Activation, CellOp, Elem, LossKind, Matmul, Op, Plan, View};
use rnn_wgpu::{BufferInit, Device, run_plan};

use super::common::{BALANCED, Tolerance, assert_close, gpu, gpu_paths, random_values};

const SIZES: [usize; 8] = [1, 7, 8, 9, 63, 64, 65, 129];
/// Padding before and after every view: a kernel writing outside its view
/// changes the padding and fails the comparison.
const PAD: usize = 3;

struct Case {
    plan: Plan,
    init: Vec<BufferInit>,
    seed: u64,
    /// Padding of this case's views (PAD unless `aligned`).
    pad: usize,
}

impl Case {
    fn new() -> Self {
        Case { plan: Plan::default(), init: Vec::new(), seed: 1, pad: PAD }
    }

    /// Views at offset 4: a view whose runs are multiples of 4 sits in
    /// aligned quads, which the vec4 matmul core reads.
    fn aligned() -> Self {
        Case { pad: 4, ..Case::new() }
    }

    fn values(&mut self, name: &str, values: Vec<f32>) -> View {
        let len = values.len();
        let pad = self.pad;
        let mut padded = random_values(len + 2 * pad, 1.0, self.seed);
        self.seed += 1;
        padded[pad..pad + len].copy_from_slice(&values);
        let whole = self.plan.buffer(name, len + 2 * pad, Elem::Float);
        self.init.push(BufferInit::Float(padded));
        whole.sub(pad, len)
    }

    fn floats(&mut self, name: &str, len: usize, scale: f32) -> View {
        self.seed += 1;
        let values = random_values(len, scale, self.seed * 7919);
        self.values(name, values)
    }

    fn ids(&mut self, name: &str, len: usize, below: usize) -> View {
        self.seed += 1;
        let ids: Vec<u32> = random_values(len + 2 * self.pad, 1.0, self.seed)
            .iter()
            .map(|x| (((x + 1.0) * 0.5 * below as f32) as u32).min(below as u32 - 1))
            .collect();
        let whole = self.plan.buffer(name, len + 2 * self.pad, Elem::Id);
        self.init.push(BufferInit::Id(ids));
        whole.sub(self.pad, len)
    }

    /// The buckets of the tokens in `tokens` (ids below `vocab`) as
    /// `Op::EmbedBackward` reads them, built here by sorting (token, row)
    /// pairs, independently of the library's counting sort.
    fn buckets(&mut self, name: &str, tokens: View, vocab: usize) -> View {
        let BufferInit::Id(ids) = &self.init[tokens.buf.0] else { panic!("{name}: tokens are not ids") };
        let ids = &ids[tokens.offset..tokens.offset + tokens.len];
        let mut rows: Vec<u32> = (0..ids.len() as u32).collect();
        rows.sort_by_key(|&r| (ids[r as usize], r));
        let starts = (0..=vocab as u32).map(|v| ids.iter().filter(|&&t| t < v).count() as u32);
        let values: Vec<u32> = starts.chain(rows).collect();
        let mut padded = vec![0xdead_beef; values.len() + 2 * self.pad];
        padded[self.pad..self.pad + values.len()].copy_from_slice(&values);
        let whole = self.plan.buffer(name, padded.len(), Elem::Id);
        self.init.push(BufferInit::Id(padded));
        whole.sub(self.pad, values.len())
    }

    /// A one-element id buffer holding `value` (a dropout seed), padded like the others.
    fn seed(&mut self, name: &str, value: u32) -> View {
        let mut ids = vec![0xdead_beef; 1 + 2 * self.pad];
        ids[self.pad] = value;
        let whole = self.plan.buffer(name, ids.len(), Elem::Id);
        self.init.push(BufferInit::Id(ids));
        whole.sub(self.pad, 1)
    }

    fn push(&mut self, op: Op) {
        self.plan.push(rnn_wgpu::plan::Section::Forward, op);
    }

    /// Runs on both backends, compares every float buffer, and returns the
    /// CPU's buffers (equal to the GPU's within `tol`).
    fn check(&self, tol: Tolerance) -> Vec<Vec<f32>> {
        self.check_both(tol).0
    }

    /// Like [`Case::check`], also returning the GPU's buffers when there is a
    /// GPU. Every GPU kernel path (subgroups and portable, see `gpu_paths`)
    /// is compared; the default device's buffers are returned.
    fn check_both(&self, tol: Tolerance) -> (Vec<Vec<f32>>, Option<Vec<Vec<f32>>>) {
        let cpu = run_plan(&Device::cpu(), &self.plan, &self.init).unwrap();
        let mut first = None;
        for (path, device) in gpu_paths() {
            let got = run_plan(&device, &self.plan, &self.init).unwrap();
            for (spec, (g, c)) in self.plan.buffers.iter().zip(got.iter().zip(&cpu)) {
                assert_close(&format!("{path}: {}", spec.name), g, c, tol);
            }
            first.get_or_insert(got);
        }
        (cpu, first)
    }
}

#[test]
fn gpu_fill_and_copy_match_cpu() {
    let mut case = Case::new();
    for n in SIZES {
        let dst = case.floats(&format!("fill n={n}"), n, 1.0);
        case.push(Op::Fill { dst, value: 0.25 });
        let (dst, src) =
            (case.floats(&format!("copy dst n={n}"), n, 1.0), case.floats(&format!("copy src n={n}"), n, 1.0));
        case.push(Op::Copy { dst, src });
    }
    case.check(BALANCED);
}

#[test]
fn gpu_matmul_matches_cpu_for_every_transpose_bias_and_accumulate() {
    // Sizes rotate through the awkward list so each of m, n, k meets each size.
    let shapes: Vec<(usize, usize, usize)> =
        (0..SIZES.len()).map(|i| (SIZES[i], SIZES[(i + 1) % 8], SIZES[(i + 2) % 8])).collect();
    let mut case = Case::new();
    for (m, n, k) in shapes {
        for flags in 0..16 {
            let (a_trans, b_trans, accumulate, bias) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0, flags & 8 != 0);
            let name = format!("matmul m={m} n={n} k={k} at={a_trans} bt={b_trans} acc={accumulate} bias={bias}");
            let c = case.floats(&format!("{name} c"), m * n, 1.0);
            let a = case.floats(&format!("{name} a"), m * k, 1.0);
            let b = case.floats(&format!("{name} b"), k * n, 1.0);
            let bias = bias.then(|| case.floats(&format!("{name} bias"), n, 1.0));
            case.push(Op::Matmul(Matmul { c, a, b, bias, m, n, k, a_trans, b_trans, accumulate }));
        }
    }
    // Sums of up to 129 products of values in [-1, 1]: rounding ~k·2⁻²⁴ ≈ 1e-5 absolute.
    case.check(Tolerance { rel: 1e-4, abs: 2e-5 });
}

#[test]
fn gpu_matmul_matches_cpu_on_training_shapes_and_multi_chunk_k() {
    // Shapes as the training plan records them (narrow m, n = 65, k over many
    // 16-step chunks of the portable core and 8-step groups of the subgroup
    // core, several tiles in both directions: 64x64 portable, 32x64
    // subgroup), at sizes the awkward list does not reach, on every GPU
    // kernel path; the last ones sit one past and one short of the subgroup
    // core's tile edges with k not a multiple of 8.
    let shapes = [
        (32, 512, 128, false, true, true, true),
        (32, 128, 512, false, false, false, true),
        (130, 65, 257, true, false, false, true),
        (200, 65, 128, false, true, true, false),
        (1, 300, 33, false, true, false, false),
        (300, 1, 17, true, true, true, true),
        (33, 129, 23, false, true, true, true),
        (31, 63, 15, true, false, false, false),
        (97, 191, 2, true, true, false, true),
    ];
    let mut case = Case::new();
    for (m, n, k, a_trans, b_trans, bias, accumulate) in shapes {
        let name = format!("matmul m={m} n={n} k={k} at={a_trans} bt={b_trans} acc={accumulate} bias={bias}");
        let c = case.floats(&format!("{name} c"), m * n, 1.0);
        let a = case.floats(&format!("{name} a"), m * k, 1.0);
        let b = case.floats(&format!("{name} b"), k * n, 1.0);
        let bias = bias.then(|| case.floats(&format!("{name} bias"), n, 1.0));
        case.push(Op::Matmul(Matmul { c, a, b, bias, m, n, k, a_trans, b_trans, accumulate }));
    }
    // Sums of up to 512 products of values in [-1, 1]: rounding ~√k·2⁻²⁴·k ≲ 1e-4 absolute.
    case.check(Tolerance { rel: 1e-4, abs: 1e-4 });
}

#[test]
fn gpu_matmul_in_aligned_quads_matches_cpu() {
    // Every view at offset 4 and m, n multiples of 4 (the tile edges of the
    // 32x64 vec4 core inside and outside): with k a multiple of 4 every
    // transpose reads through the vec4 core on subgroup devices; with k = 13
    // only A stored [k, m] with B stored [k, n] (both across k) does, the
    // other flags falling back to the scalar core.
    let shapes = [(4, 4, 4), (32, 64, 16), (36, 68, 12), (68, 36, 13), (96, 132, 40), (40, 200, 132)];
    let mut case = Case::aligned();
    for (m, n, k) in shapes {
        for flags in 0..16 {
            let (a_trans, b_trans, accumulate, bias) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0, flags & 8 != 0);
            let name = format!("matmul m={m} n={n} k={k} at={a_trans} bt={b_trans} acc={accumulate} bias={bias}");
            let c = case.floats(&format!("{name} c"), m * n, 1.0);
            let a = case.floats(&format!("{name} a"), m * k, 1.0);
            let b = case.floats(&format!("{name} b"), k * n, 1.0);
            let bias = bias.then(|| case.floats(&format!("{name} bias"), n, 1.0));
            case.push(Op::Matmul(Matmul { c, a, b, bias, m, n, k, a_trans, b_trans, accumulate }));
        }
    }
    // Sums of up to 132 products of values in [-1, 1], as above.
    case.check(Tolerance { rel: 1e-4, abs: 1e-4 });
}

#[test]
fn gpu_portable_twin_never_uses_subgroups() {
    let Some(gpu) = gpu() else { return };
    let portable = gpu.without_subgroups();
    assert!(!portable.uses_subgroups(), "{}: without_subgroups() still uses subgroups", portable.name());
    assert!(portable.is_gpu() && portable.name() == gpu.name());
    assert!(!Device::cpu().uses_subgroups());
    // Which path the default device takes depends on the adapter; say so.
    eprintln!("{}: subgroup kernels {}", gpu.name(), if gpu.uses_subgroups() { "on" } else { "off" });
}

#[test]
fn gpu_embedding_gather_and_scatter_add_match_cpu() {
    let mut case = Case::new();
    for (i, rows) in SIZES.into_iter().enumerate() {
        let (g, vocab) = (SIZES[(i + 3) % 8], SIZES[(i + 5) % 8]);
        let name = format!("embed rows={rows} g={g} vocab={vocab}");
        let tokens = case.ids(&format!("{name} tokens"), rows, vocab);
        let out = case.floats(&format!("{name} out"), rows * g, 1.0);
        let weight = case.floats(&format!("{name} weight"), g * vocab, 1.0);
        let bias = case.floats(&format!("{name} bias"), g, 1.0);
        case.push(Op::EmbedForward { out, weight, bias, tokens, vocab });
        let dweight = case.floats(&format!("{name} dweight"), g * vocab, 1.0);
        let dout = case.floats(&format!("{name} dout"), rows * g, 1.0);
        let buckets = case.buckets(&format!("{name} buckets"), tokens, vocab);
        case.push(Op::EmbedBackward { dweight, dout, tokens, buckets, vocab });
    }
    // Each sum adds the same rows in the same order on both backends.
    case.check(BALANCED);
}

/// The scatter-add with dout's rows in aligned quads (read four elements
/// per load): repeated and missing tokens, a vocabulary wider than the rows.
#[test]
fn gpu_embedding_scatter_add_in_aligned_quads_matches_cpu() {
    let mut case = Case::aligned();
    for (rows, g, vocab) in [(1, 4, 1), (9, 8, 3), (64, 12, 65), (129, 260, 65), (7, 16, 100)] {
        let name = format!("embed backward rows={rows} g={g} vocab={vocab}");
        let tokens = case.ids(&format!("{name} tokens"), rows, vocab);
        let dweight = case.floats(&format!("{name} dweight"), g * vocab, 1.0);
        let dout = case.floats(&format!("{name} dout"), rows * g, 1.0);
        let buckets = case.buckets(&format!("{name} buckets"), tokens, vocab);
        case.push(Op::EmbedBackward { dweight, dout, tokens, buckets, vocab });
    }
    case.check(BALANCED);
}

/// The gather with output rows in aligned quads (written four elements per
/// store): one word, rows below, at and past a block of 16, 65-token vocabulary.
#[test]
fn gpu_embedding_gather_in_aligned_quads_matches_cpu() {
    let mut case = Case::aligned();
    for (rows, g) in [(1, 4), (15, 8), (16, 12), (17, 64), (129, 260)] {
        let name = format!("embed rows={rows} g={g}");
        let tokens = case.ids(&format!("{name} tokens"), rows, 65);
        let out = case.floats(&format!("{name} out"), rows * g, 1.0);
        let weight = case.floats(&format!("{name} weight"), g * 65, 1.0);
        let bias = case.floats(&format!("{name} bias"), g, 1.0);
        case.push(Op::EmbedForward { out, weight, bias, tokens, vocab: 65 });
    }
    // One addition per element, in the same order on both backends.
    case.check(BALANCED);
}

#[test]
fn gpu_rnn_cells_match_cpu_for_tanh_and_relu() {
    let mut case = Case::new();
    for n in SIZES.into_iter().chain([4097]) {
        for activation in [Activation::Tanh, Activation::Relu] {
            let name = format!("rnn cell {activation:?} n={n}");
            // Pre-activations up to ±100 exercise tanh's clamp.
            let (h, pre) = (case.floats(&format!("{name} h"), n, 1.0), case.floats(&format!("{name} pre"), n, 100.0));
            case.push(Op::Cell(CellOp::RnnForward { h, pre, activation }));
            let (dpre, h) =
                (case.floats(&format!("{name} dpre"), n, 1.0), case.floats(&format!("{name} h_in"), n, 1.0));
            let dh = case.floats(&format!("{name} dh"), n, 1.0);
            case.push(Op::Cell(CellOp::RnnBackward { dpre, dh, h, activation }));
        }
    }
    case.check(BALANCED);
}

/// (rows, hidden) pairs: every awkward size meets another, rotated by three.
fn cell_shapes() -> impl Iterator<Item = (usize, usize)> {
    SIZES.into_iter().enumerate().map(|(i, rows)| (rows, SIZES[(i + 3) % 8]))
}

#[test]
fn gpu_lstm_cell_forward_and_backward_match_cpu() {
    let mut case = Case::new();
    for (rows, hidden) in cell_shapes() {
        let name = format!("lstm rows={rows} hidden={hidden}");
        let n = rows * hidden;
        // Pre-activations up to ±10 saturate σ and tanh in some elements.
        let gates = case.floats(&format!("{name} gates"), 4 * n, 10.0);
        let c = case.floats(&format!("{name} c"), n, 1.0);
        let h = case.floats(&format!("{name} h"), n, 1.0);
        let c_prev = case.floats(&format!("{name} c_prev"), n, 3.0);
        case.push(Op::Cell(CellOp::LstmForward { gates, c, h, c_prev, hidden }));
        // The backward step reads what the forward step saved, as in BPTT.
        let dgates = case.floats(&format!("{name} dgates"), 4 * n, 1.0);
        let dc = case.floats(&format!("{name} dc"), n, 1.0);
        let dh = case.floats(&format!("{name} dh"), n, 1.0);
        case.push(Op::Cell(CellOp::LstmBackward { dgates, dc, dh, gates, c, c_prev, hidden }));
    }
    case.check(BALANCED);
}

#[test]
fn gpu_gru_cell_forward_and_backward_match_cpu_with_and_without_dh_prev() {
    let mut case = Case::new();
    for (rows, hidden) in cell_shapes() {
        let name = format!("gru rows={rows} hidden={hidden}");
        let n = rows * hidden;
        // Both halves of each pre-activation up to ±10: σ and tanh saturate in some elements.
        let gates = case.floats(&format!("{name} gates"), 3 * n, 10.0);
        let h = case.floats(&format!("{name} h"), n, 1.0);
        let hw = case.floats(&format!("{name} hw"), 3 * n, 10.0);
        let h_prev = case.floats(&format!("{name} h_prev"), n, 1.0);
        case.push(Op::Cell(CellOp::GruForward { gates, h, hw, h_prev, hidden }));
        let dh = case.floats(&format!("{name} dh"), n, 1.0);
        for with_dh_prev in [true, false] {
            let name = format!("{name} dh_prev={with_dh_prev}");
            let dxw = case.floats(&format!("{name} dxw"), 3 * n, 1.0);
            let dhw = case.floats(&format!("{name} dhw"), 3 * n, 1.0);
            // Without dh_prev the GPU binds dh in its place; comparing dh checks it is left alone.
            let dh_prev = with_dh_prev.then(|| case.floats(&format!("{name} dh_prev"), n, 1.0));
            case.push(Op::Cell(CellOp::GruBackward { dxw, dhw, dh_prev, dh, gates, hw, h_prev, hidden }));
        }
    }
    case.check(BALANCED);
}

/// Every fused step (forward, and backward with the GEMM of the step after)
/// at awkward (rows, hidden), laid out as BPTT lays them: views of one role
/// are rows of one buffer. Each op runs on inputs the CPU twin also sees, so
/// the comparison covers the GEMM, the bias and the cell of every kernel.
#[test]
fn gpu_fused_steps_match_cpu_for_every_cell() {
    let mut case = Case::new();
    push_fused_steps(&mut case, cell_shapes());
    // GEMM sums of up to 4·129 products of values in [-1.5, 1.5] feed saturating
    // cells: rounding ~k·2⁻²⁴ relative to the terms, a few 1e-5 absolute.
    case.check(Tolerance { rel: 1e-4, abs: 5e-5 });
}

/// The same with every view in aligned quads (H a multiple of 4, views at
/// multiples of 4), which subgroup devices run on the vec4 core: one and
/// several tiles of its 32 x 64 in both directions (forward n = 4H).
#[test]
fn gpu_fused_steps_in_aligned_quads_match_cpu() {
    let mut case = Case::aligned();
    push_fused_steps(&mut case, [(1, 4), (7, 8), (33, 12), (32, 16), (65, 20), (40, 36)].into_iter());
    // As above, with k up to 4·36.
    case.check(Tolerance { rel: 1e-4, abs: 5e-5 });
}

/// Every cell's forward step and backward step(s) at each (rows, hidden).
fn push_fused_steps(case: &mut Case, shapes: impl Iterator<Item = (usize, usize)>) {
    for (rows, hidden) in shapes {
        for (cell, g) in [("rnn", 1), ("lstm", 4), ("gru", 3)] {
            let name = format!("{cell} step rows={rows} hidden={hidden}");
            let (n, gh) = (rows * hidden, g * hidden);
            // W_hh [G·H, H] and b_hh [G·H] in one parameter buffer, like the model's.
            let params = case.floats(&format!("{name} params"), gh * hidden + gh, 0.5);
            let (w, bias) = (params.sub(0, gh * hidden), params.sub(gh * hidden, gh));
            // Two steps of h (and c): the step reads row 0 and writes row 1.
            let hs = case.floats(&format!("{name} hs"), 2 * n, 1.0);
            let (h_prev, h) = (hs.sub(0, n), hs.sub(n, n));
            let xw = case.floats(&format!("{name} xw"), rows * gh, 3.0);
            // GRU keeps the recurrent product apart (hw); RNN and LSTM add it into xw.
            let hw = (cell == "gru").then(|| case.floats(&format!("{name} hw"), rows * gh, 1.0));
            let recurrent = Matmul {
                c: hw.unwrap_or(xw),
                a: h_prev,
                b: w,
                bias: Some(bias),
                m: rows,
                n: gh,
                k: hidden,
                a_trans: false,
                b_trans: true,
                accumulate: cell != "gru",
            };
            let forward = match cell {
                "rnn" => CellOp::RnnForward { h, pre: xw, activation: Activation::Tanh },
                "lstm" => {
                    let cs = case.floats(&format!("{name} cs"), 2 * n, 2.0);
                    CellOp::LstmForward { gates: xw, c: cs.sub(n, n), h, c_prev: cs.sub(0, n), hidden }
                }
                _ => CellOp::GruForward { gates: xw, h, hw: recurrent.c, h_prev, hidden },
            };
            case.push(Op::Step { matmul: recurrent, cell: forward });

            // Backward: ∂pre of steps t-1 and t in one buffer, ∂h of steps t-2 and t-1 in another.
            let dpre = case.floats(&format!("{name} dpre"), 2 * rows * gh, 1.0);
            let (dpre_prev, dpre_next) = (dpre.sub(0, rows * gh), dpre.sub(rows * gh, rows * gh));
            let dhs = case.floats(&format!("{name} dh"), 2 * n, 1.0);
            let dh = dhs.sub(n, n);
            let matmul = Matmul {
                c: dh,
                a: dpre_next,
                b: w,
                bias: None,
                m: rows,
                n: hidden,
                k: gh,
                a_trans: false,
                b_trans: false,
                accumulate: true,
            };
            let backward: Vec<CellOp> = match cell {
                "rnn" => vec![CellOp::RnnBackward { dpre: dpre_prev, dh, h: h_prev, activation: Activation::Relu }],
                "lstm" => {
                    let cs = case.floats(&format!("{name} cs bwd"), 2 * n, 2.0);
                    let dc = case.floats(&format!("{name} dc"), n, 1.0);
                    let gates = case.floats(&format!("{name} gates"), rows * gh, 1.0);
                    let (c, c_prev) = (cs.sub(n, n), cs.sub(0, n));
                    vec![CellOp::LstmBackward { dgates: dpre_prev, dc, dh, gates, c, c_prev, hidden }]
                }
                _ => [true, false]
                    .into_iter()
                    .map(|with_dh_prev| {
                        let what = format!("{name} dh_prev={with_dh_prev}");
                        let dxw = case.floats(&format!("{what} dxw"), rows * gh, 1.0);
                        let gates = case.floats(&format!("{what} gates"), rows * gh, 1.0);
                        let hw = case.floats(&format!("{what} hw"), rows * gh, 2.0);
                        let dh_prev = with_dh_prev.then(|| dhs.sub(0, n));
                        CellOp::GruBackward { dxw, dhw: dpre_prev, dh_prev, dh, gates, hw, h_prev, hidden }
                    })
                    .collect(),
            };
            for cell in backward {
                case.push(Op::Step { matmul, cell });
            }
        }
    }
}

/// Exact equality: both backends draw the mask from the same integer hash and
/// the 24-bit uniform is exact in f32, so the masks agree bit for bit; a kept
/// element is x · (1 / (1 - p)), one division and one multiply in f32 on both.
/// (WGSL only promises division to 2.5 ULP; lavapipe's is correctly rounded.)
const EXACT: Tolerance = Tolerance { rel: 0.0, abs: 0.0 };

#[test]
fn gpu_dropout_and_its_backward_match_cpu_bit_for_bit() {
    let mut case = Case::new();
    for (i, n) in SIZES.into_iter().chain([4097]).enumerate() {
        for (k, p) in [0.1, 0.5, 0.9].into_iter().enumerate() {
            let (salt, seed) = ((i * 3 + k) as u32, [0, 12345, u32::MAX][(i + k) % 3]);
            let name = format!("dropout n={n} p={p} salt={salt} seed={seed}");
            let seed = case.seed(&format!("{name} seed"), seed);
            let out = case.floats(&format!("{name} out"), n, 1.0);
            let x = case.floats(&format!("{name} x"), n, 1.0);
            case.push(Op::Dropout { out, x, seed, salt, p });
            let dx = case.floats(&format!("{name} dx"), n, 1.0);
            case.push(Op::DropoutBackward { dx, seed, salt, p });
        }
    }
    case.check(EXACT);
}

#[test]
fn dropout_keeps_half_at_p_one_half_with_one_mask_on_both_backends_and_both_passes() {
    const N: usize = 100_000;
    let mut case = Case::new();
    let seed = case.seed("seed", 2024);
    let (salt, p) = (17, 0.5);
    let out = case.floats("out", N, 1.0);
    let x = case.values("x", vec![1.0; N]);
    case.push(Op::Dropout { out, x, seed, salt, p });
    let dx = case.values("dx", vec![1.0; N]);
    case.push(Op::DropoutBackward { dx, seed, salt, p });
    // EXACT also makes the GPU's mask the CPU's: a kept 2.0 never equals a dropped 0.
    let (cpu, gpu) = case.check_both(EXACT);
    for (backend, buffers) in [("cpu", Some(&cpu)), ("gpu", gpu.as_ref())] {
        let Some(buffers) = buffers else { continue };
        let (out, dx) = (&buffers[out.buf.0][PAD..PAD + N], &buffers[dx.buf.0][PAD..PAD + N]);
        assert!(out.iter().all(|&v| v == 0.0 || v == 2.0), "{backend}: dropout of ones is 0 or 1 / (1 - p)");
        let kept = out.iter().filter(|&&v| v != 0.0).count() as f64 / N as f64;
        // Binomial(100k, 0.5) has standard deviation 0.0016: ±0.01 is over 6 sigma.
        assert!((kept - 0.5).abs() <= 0.01, "{backend}: kept fraction {kept} at p = 0.5");
        assert_eq!(out, dx, "{backend}: dropout_backward recomputes dropout's mask");
    }
}

#[test]
fn gpu_losses_and_log_softmax_match_cpu() {
    let mut case = Case::new();
    for (i, rows) in SIZES.into_iter().enumerate() {
        let classes = SIZES[(i + 4) % 8];
        for kind in [LossKind::SoftmaxXent, LossKind::SigmoidBce, LossKind::MeanSquared] {
            for write_grad in [false, true] {
                let name = format!("{kind:?} rows={rows} width={classes} grad={write_grad}");
                // Logits up to ±30: the row max must be subtracted for exp to stay finite.
                let logits = case.floats(&format!("{name} logits"), rows * classes, 30.0);
                let losses = case.floats(&format!("{name} losses"), rows, 1.0);
                let targets = match kind {
                    LossKind::SoftmaxXent => case.ids(&format!("{name} targets"), rows, classes),
                    // Values in [0, 1] (BCE's range); MSE takes any.
                    _ => {
                        let y = random_values(rows * classes, 0.5, rows as u64).iter().map(|v| v + 0.5).collect();
                        case.values(&format!("{name} targets"), y)
                    }
                };
                // Weights of a mean, with one row skipped (weight 0) when there are several.
                let mut w = vec![1.0 / rows as f32; rows];
                w[rows / 2] = if rows > 1 { 0.0 } else { w[0] };
                let weights = case.values(&format!("{name} weights"), w);
                case.push(Op::Loss { kind, logits, losses, targets, weights, width: classes, write_grad });
            }
        }
        let logits = case.floats(&format!("log_softmax rows={rows} classes={classes}"), rows * classes, 30.0);
        case.push(Op::LogSoftmax { logits, classes });
    }
    // logsumexp of values up to 30: absolute rounding ~30·2⁻²⁴ per term.
    case.check(Tolerance { rel: 1e-4, abs: 1e-4 });
}

#[test]
fn gpu_reductions_match_cpu() {
    let mut case = Case::new();
    for n in SIZES.into_iter().chain([255, 256, 257, 4095, 4096, 4097, 20000]) {
        let out = case.floats(&format!("loss_sum n={n} out"), 1, 1.0);
        let losses = case.floats(&format!("loss_sum n={n} losses"), n, 5.0);
        case.push(Op::LossSum { out, losses, scale: 0.5 });
        let partials =
            case.floats(&format!("grad_norm_partial n={n} partials"), n.div_ceil(rnn_wgpu::plan::NORM_CHUNK), 1.0);
        let grads = case.floats(&format!("grad_norm_partial n={n} grads"), n, 1.0);
        case.push(Op::GradNormPartial { partials, grads });
        for max_norm in [None, Some(0.5), Some(1e6)] {
            let stats = case.floats(&format!("grad_norm_finish n={n} max={max_norm:?} stats"), 2, 1.0);
            // Partial sums are sums of squares: non-negative.
            let squares = random_values(n, 1.0, n as u64).iter().map(|x| x * x).collect();
            let partials = case.values(&format!("grad_norm_finish n={n} max={max_norm:?} partials"), squares);
            case.push(Op::GradNormFinish { stats, partials, max_norm });
        }
    }
    for (i, rows) in SIZES.into_iter().enumerate() {
        let cols = SIZES[(i + 2) % 8];
        let out = case.floats(&format!("column_sum rows={rows} cols={cols} out"), cols, 1.0);
        let x = case.floats(&format!("column_sum rows={rows} cols={cols} x"), rows * cols, 1.0);
        case.push(Op::ColumnSum { out, x, cols });
    }
    // Tree vs sequential summation of up to 20000 terms: ~1e-6·√n relative.
    case.check(Tolerance { rel: 2e-4, abs: 1e-4 });
}

/// Column sums whose rows sit in aligned quads (read four columns per load):
/// one word, a workgroup's 16 words and one past, rows below and across the
/// 16 row phases, and a block's worth of rows.
#[test]
fn gpu_column_sums_in_aligned_quads_match_cpu() {
    let mut case = Case::aligned();
    for (rows, cols) in [(1, 4), (3, 8), (16, 64), (17, 68), (129, 260), (2048, 512)] {
        let out = case.floats(&format!("column_sum rows={rows} cols={cols} out"), cols, 1.0);
        let x = case.floats(&format!("column_sum rows={rows} cols={cols} x"), rows * cols, 1.0);
        case.push(Op::ColumnSum { out, x, cols });
    }
    // Tree vs sequential summation of up to 2048 terms: ~1e-6·√n relative.
    case.check(Tolerance { rel: 2e-4, abs: 1e-4 });
}

#[test]
fn gpu_optimizers_match_cpu_and_skip_non_finite_norms() {
    let mut case = Case::new();
    for n in SIZES.into_iter().chain([4097]) {
        for (label, stats) in
            [("finite", vec![3.0, 0.7]), ("nan", vec![f32::NAN, 0.7]), ("inf", vec![f32::INFINITY, 0.0])]
        {
            let name = format!("n={n} norm={label}");
            let hyper =
                case.values(&format!("hyper {name}"), vec![0.01, 1.0 - 0.9f32.powi(3), 1.0 - 0.999f32.powi(3), 0.0]);
            let stats_v = case.values(&format!("stats {name}"), stats.clone());
            let grads = case.floats(&format!("grads {name}"), n, 1.0);
            let params = case.floats(&format!("sgd params {name}"), n, 1.0);
            let velocity = case.floats(&format!("sgd velocity {name}"), n, 1.0);
            case.push(Op::SgdMomentum { params, velocity, grads, stats: stats_v, hyper, momentum: 0.9 });
            let params = case.floats(&format!("adagrad params {name}"), n, 1.0);
            let sum_sq = case.values(
                &format!("adagrad sum_sq {name}"),
                random_values(n, 1.0, n as u64).iter().map(|x| x * x).collect(),
            );
            case.push(Op::Adagrad { params, sum_sq, grads, stats: stats_v, hyper, eps: 1e-10 });
            let params = case.floats(&format!("adam params {name}"), n, 1.0);
            let m = case.floats(&format!("adam m {name}"), n, 0.1);
            let v = case
                .values(&format!("adam v {name}"), random_values(n, 0.1, n as u64 + 1).iter().map(|x| x * x).collect());
            case.push(Op::Adam { params, m, v, grads, stats: stats_v, hyper, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
        }
    }
    let after = case.check(BALANCED);
    // A non-finite norm skips the update: parameters and state keep every bit.
    let mut skipped = 0;
    for ((spec, init), after) in case.plan.buffers.iter().zip(&case.init).zip(&after) {
        if spec.name.contains("norm=nan") || spec.name.contains("norm=inf") {
            let BufferInit::Float(init) = init else { continue };
            assert!(
                init.iter().zip(after).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{} changed by a skipped update",
                spec.name
            );
            skipped += 1;
        } else if spec.name.contains("params") {
            let BufferInit::Float(init) = init else { continue };
            assert_ne!(init, after, "{} not updated by a finite step", spec.name);
        }
    }
    assert!(skipped > 0);
}

#[test]
fn cpu_f32_exp_sigmoid_and_tanh_are_accurate() {
    // The CPU backend's inline f32 exp (Cephes expf) against f64 libm: relative
    // error within 4 ulp (4 · 2⁻²³ ≈ 4.8e-7) over the whole clamped range; the
    // σ and tanh built on it within 1.2e-7 absolute (one ulp of 1.0, the
    // cancellation in (1 - e)/(1 + e)) — far inside every GPU/CPU tolerance.
    use rnn_wgpu::cpu::{exp_f32, kernels};
    let mut x = -87.0f32;
    while x <= 88.0 {
        let exact = (x as f64).exp();
        let rel = ((exp_f32(x) as f64 - exact) / exact).abs();
        assert!(rel <= 4.8e-7, "exp({x}): got {}, expected {exact}, relative error {rel:e}", exp_f32(x));
        let sig = 1.0 / (1.0 + (-(x as f64)).exp());
        assert!((kernels::sigmoid(x) as f64 - sig).abs() <= 1.2e-7, "sigmoid({x}) = {}", kernels::sigmoid(x));
        let tanh = (x as f64).tanh();
        assert!((kernels::tanh(x) as f64 - tanh).abs() <= 1.2e-7, "tanh({x}) = {}", kernels::tanh(x));
        x += 0.0137;
    }
    // Inputs past the range clamp instead of overflowing to inf or 0.
    assert_eq!(exp_f32(-1000.0), exp_f32(-87.0));
    assert_eq!(exp_f32(1000.0), exp_f32(88.0));
}
