//! Throughput of the GPU backend against the CPU backend: training (chars/s
//! of full steps), inference (sampling at batch 1 and forward-only blocks at
//! batch 32) and single kernels (GEMM GFLOP/s, fused cell GB/s).
//!
//! ```text
//! cargo bench --bench throughput
//! ```
//!
//! Training: one measured iteration is one `trainer.step` — forward,
//! backward, clipping to norm 5 and Adam — on a char model (vocab 65, token
//! input, softmax head), and chars/s = B·T / step time. GPU steps only queue
//! work, so every timed batch of N steps ends with one `trainer.stats()` (a
//! readback that waits for the device): the time includes all GPU work, with
//! one readback per N steps rather than per step.
//!
//! Criterion groups come first (`train_*`, `infer_*`; 10 flat samples, short
//! warm-up and measurement). A configuration whose single step takes longer
//! than `CRITERION_MAX_STEP` (2 s) gets no Criterion group on that backend —
//! on lavapipe that is the GPU side of (e) lstm L=2 H=512 (~7 s a step),
//! where Criterion's minimum of 10 samples plus its warm-up would take ~80 s
//! for one benchmark — and is timed only for the table. (The next slowest,
//! GPU (d) at ~0.7 s and CPU (e) at ~0.5 s a step, keep their groups.) After
//! the groups, a plain timing of every configuration for the table: up to
//! `TABLE_STEPS` steps or `TABLE_BUDGET` (at least 2 steps), then its GEMMs
//! alone, `TABLE_ROUNDS` times in turn, the fastest of each kept (and the
//! median of the rounds' step/alone shares, each round's pair back to back); then the
//! inference figures and the kernel benchmarks (see `support/kernels.rs`)
//! are printed as markdown tables and written to `target/bench-report.md`.
//! Without `--bench` (`cargo test --benches`) Criterion runs each routine
//! once and the tables are skipped.
//!
//! `RNN_WGPU_BENCH_ONLY=kernels cargo bench --bench throughput` runs only the
//! kernel table (a few minutes less). When the adapter uses the optional
//! subgroup kernels, the matmul rows also time the portable kernel on the
//! same device (`Device::without_subgroups`).

#[path = "support/gemm_share.rs"]
mod gemm_share;
#[path = "support/kernels.rs"]
mod kernels;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use rnn_wgpu::{
    Block, Cell, Device, Evaluator, Model, ModelConfig, Optimizer, Sampler, Streams, TrainConfig, Trainer, Vocab,
};

const TEXT: &str = include_str!("../data/tinyshakespeare.txt");

/// One training configuration.
struct Setup {
    tag: &'static str,
    cell: Cell,
    layers: usize,
    hidden: usize,
    batch: usize,
    bptt: usize,
}

/// (a)-(e) are the configurations of the performance issue; (a') is the
/// engine core's second vanilla-RNN size.
const SETUPS: [Setup; 6] = [
    setup("(a)", Cell::RnnTanh, 1, 128, 32, 64),
    setup("(a')", Cell::RnnTanh, 1, 512, 32, 64),
    setup("(b)", Cell::Lstm, 1, 128, 32, 64),
    setup("(c)", Cell::Lstm, 2, 128, 50, 50),
    setup("(d)", Cell::Gru, 2, 256, 32, 64),
    setup("(e)", Cell::Lstm, 2, 512, 64, 64),
];
/// The configuration of the inference figures: (b) lstm L=1 H=128.
const INFER_SETUP: usize = 2;

const fn setup(tag: &'static str, cell: Cell, layers: usize, hidden: usize, batch: usize, bptt: usize) -> Setup {
    Setup { tag, cell, layers, hidden, batch, bptt }
}

impl Setup {
    fn label(&self) -> String {
        format!(
            "{} {} L={} H={} B={} T={}",
            self.tag,
            self.cell.name(),
            self.layers,
            self.hidden,
            self.batch,
            self.bptt
        )
    }

    fn id(&self) -> String {
        format!("{}_l{}_h{}_b{}_t{}", self.cell.name(), self.layers, self.hidden, self.batch, self.bptt)
    }

    fn chars(&self) -> usize {
        self.batch * self.bptt
    }

    fn model(&self, device: &Device, vocab: usize) -> rnn_wgpu::Result<Model> {
        Model::new(device, &ModelConfig::char_lm(self.cell, self.layers, self.hidden, vocab), 42)
    }
}

/// Distinct blocks cycled through (enough that no block is special).
const BLOCKS: usize = 16;
/// A backend whose one step takes longer than this gets no Criterion group.
const CRITERION_MAX_STEP: Duration = Duration::from_secs(2);
/// Steps timed for the training table: up to `TABLE_STEPS` within about
/// `TABLE_BUDGET`, and never fewer than 2.
const TABLE_STEPS: usize = 20;
const TABLE_BUDGET: Duration = Duration::from_secs(5);
/// Rounds of (steps, GEMMs alone) per configuration; the table keeps the fastest of each.
const TABLE_ROUNDS: usize = 3;
/// Characters sampled per Criterion iteration, and time per inference table figure (over its rounds).
const SAMPLE_CHARS: usize = 64;
const INFER_BUDGET: Duration = Duration::from_secs(3);
/// Batch of the forward-only inference figure.
const EVAL_BATCH: usize = 32;

struct TrainRow {
    setup: usize,
    backend: &'static str,
    chars_per_sec: f64,
    steps: usize,
    dispatches: usize,
    bytes: u64,
    criterion: bool,
    /// Queue submits and readbacks the device counted over the timed steps.
    submits: u64,
    readbacks: u64,
    /// FLOPs of the block's GEMMs, and the seconds they take alone.
    gemm_flops: f64,
    gemm_secs: f64,
    /// The median over the rounds of (GEMMs alone / step time), each round's pair timed back to back.
    step_share: f64,
}

struct InferRow {
    workload: &'static str,
    backend: &'static str,
    chars_per_sec: f64,
    timed: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes --bench; without it (cargo test) Criterion runs
    // each routine once as a smoke test, and the tables are skipped.
    let benching = std::env::args().any(|a| a == "--bench");
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    let vocab = Vocab::from_text(TEXT)?;
    let tokens = vocab.encode(TEXT)?;
    let mut devices = vec![("cpu", Device::cpu())];
    match Device::best() {
        Ok(gpu) => devices.insert(0, ("gpu", gpu)),
        Err(e) => eprintln!("no GPU adapter ({e}); benchmarking the CPU backend only"),
    }
    let mut report = String::new();
    for (backend, device) in &devices {
        writeln!(report, "- {backend}: {}", device.name())?;
    }
    println!("{report}");

    let kernels_only = std::env::var("RNN_WGPU_BENCH_ONLY").is_ok_and(|v| v == "kernels");
    let setups = if kernels_only { &SETUPS[..0] } else { &SETUPS[..] };
    let mut train_rows = Vec::new();
    for (i, setup) in setups.iter().enumerate() {
        let streams = Streams::new(&tokens, setup.batch, setup.bptt)?;
        let blocks: Vec<Block> = (0..BLOCKS).map(|i| streams.block(i)).collect();
        let mut group = criterion.benchmark_group(format!("train_{}", setup.id()));
        group.throughput(Throughput::Elements(setup.chars() as u64));
        // Equal-sized samples keep the step count small when a step takes long.
        group.sampling_mode(SamplingMode::Flat);
        for (backend, device) in &devices {
            let mut trainer = Trainer::new(
                setup.model(device, vocab.len())?,
                TrainConfig {
                    batch: setup.batch,
                    bptt: setup.bptt,
                    optimizer: Optimizer::adam(2e-3),
                    clip_norm: Some(5.0),
                    seed: 0,
                },
            )?;
            let mut next = 0;
            // A warm-up step (not in any figure); its time sizes the runs below.
            let one = run_steps(&mut trainer, &blocks, &mut next, 1)?;
            let use_criterion = one <= CRITERION_MAX_STEP;
            if use_criterion {
                // Time for Criterion's 10 flat samples of at least one step each (no "unable to complete" warning).
                group.measurement_time(Duration::from_secs_f64((11.0 * one.as_secs_f64()).max(3.0)));
                group.bench_function(BenchmarkId::from_parameter(backend), |b| {
                    b.iter_custom(|iters| run_steps(&mut trainer, &blocks, &mut next, iters as usize).expect("steps"))
                });
            } else {
                eprintln!(
                    "train_{}/{backend}: {:.1} s a step, no Criterion group{}",
                    setup.id(),
                    one.as_secs_f64(),
                    if benching { "; timed for the table only" } else { "" }
                );
            }
            if benching {
                let steps = ((TABLE_BUDGET.as_secs_f64() / one.as_secs_f64()) as usize).clamp(2, TABLE_STEPS);
                let traffic = (device.submits(), device.readbacks());
                let mut elapsed = run_steps(&mut trainer, &blocks, &mut next, steps)?;
                let (submits, readbacks) = (device.submits() - traffic.0, device.readbacks() - traffic.1);
                let gemms = gemm_share::gemms(trainer.plan());
                eprintln!("train_{}/{backend}: timing its GEMMs alone", setup.id());
                let mut gemm_secs = gemms.measure(device)?;
                // The machine's speed drifts (shared host): steps and GEMMs are
                // timed in alternating rounds and each keeps its fastest; the
                // share is taken within each round (a step's time against its
                // GEMMs' timed right after it, at about the same speed) and the
                // median of the rounds kept.
                let share = |gemm_secs: f64, elapsed: Duration| gemm_secs * steps as f64 / elapsed.as_secs_f64();
                let mut shares = vec![share(gemm_secs, elapsed)];
                for _ in 1..TABLE_ROUNDS {
                    let (round, round_gemms) =
                        (run_steps(&mut trainer, &blocks, &mut next, steps)?, gemms.measure(device)?);
                    shares.push(share(round_gemms, round));
                    elapsed = elapsed.min(round);
                    gemm_secs = gemm_secs.min(round_gemms);
                }
                shares.sort_by(f64::total_cmp);
                train_rows.push(TrainRow {
                    setup: i,
                    backend,
                    chars_per_sec: (steps * setup.chars()) as f64 / elapsed.as_secs_f64(),
                    steps,
                    dispatches: trainer.planned_dispatches(),
                    bytes: trainer.model().device_bytes() + trainer.device_bytes(),
                    criterion: use_criterion,
                    submits,
                    readbacks,
                    gemm_flops: gemms.flops,
                    gemm_secs,
                    step_share: shares[shares.len() / 2],
                });
            }
        }
        group.finish();
    }

    let infer = &SETUPS[INFER_SETUP];
    let streams = Streams::new(&tokens, EVAL_BATCH, infer.bptt)?;
    let eval_blocks: Vec<Block> = (0..BLOCKS).map(|i| streams.block(i)).collect();
    let eval_chars = EVAL_BATCH * infer.bptt;
    let mut infer_rows = Vec::new();
    let mut group = criterion.benchmark_group(format!("infer_{}", infer.id()));
    group.sampling_mode(SamplingMode::Flat);
    for (backend, device) in devices.iter().filter(|_| !kernels_only) {
        let model = infer.model(device, vocab.len())?;
        let mut sampler = Sampler::new(&model, &vocab)?.seed(0);
        let mut batch_sampler = Sampler::with_streams(&model, &vocab, EVAL_BATCH)?.seed(0);
        let mut evaluator = Evaluator::new(&model, EVAL_BATCH, infer.bptt)?;
        // Sampling: drawn on the device, one submit and one readback per chunk of 32 steps.
        let mut sample = |chars: usize| -> rnn_wgpu::Result<Duration> {
            let start = Instant::now();
            sampler.generate("T", chars)?;
            Ok(start.elapsed())
        };
        // The same with 32 streams side by side: `steps` steps give 32·steps characters.
        let primes = vec!["T"; EVAL_BATCH];
        let mut sample_batch = |steps: usize| -> rnn_wgpu::Result<Duration> {
            let start = Instant::now();
            batch_sampler.generate_streams(&primes, steps)?;
            Ok(start.elapsed())
        };
        // Forward only: one submit and one loss readback per block.
        let mut forward = |count: usize| -> rnn_wgpu::Result<Duration> {
            let start = Instant::now();
            evaluator.evaluate(eval_blocks.iter().cycle().take(count))?;
            Ok(start.elapsed())
        };
        let sample_one = sample(SAMPLE_CHARS)?.as_secs_f64() / SAMPLE_CHARS as f64;
        let forward_one = forward(1)?.as_secs_f64();
        group.throughput(Throughput::Elements(SAMPLE_CHARS as u64));
        group.bench_function(BenchmarkId::new("sample_b1", backend), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| sample(SAMPLE_CHARS).expect("sampling")).sum())
        });
        group.throughput(Throughput::Elements(eval_chars as u64));
        group.bench_function(BenchmarkId::new("forward_b32", backend), |b| {
            b.iter_custom(|iters| forward(iters as usize).expect("forward"))
        });
        if benching {
            // Each figure is the fastest of TABLE_ROUNDS rounds of a third of
            // the budget, the three workloads taking turns (the host drifts).
            let budget = INFER_BUDGET.as_secs_f64() / TABLE_ROUNDS as f64;
            let chars = ((budget / sample_one) as usize).clamp(SAMPLE_CHARS, 20_000);
            let steps = (chars / EVAL_BATCH).max(SAMPLE_CHARS);
            let count = ((budget / forward_one) as usize).clamp(2, 100);
            let mut fastest = [f64::INFINITY; 3];
            for _ in 0..TABLE_ROUNDS {
                fastest[0] = fastest[0].min(sample(chars)?.as_secs_f64());
                fastest[1] = fastest[1].min(sample_batch(steps)?.as_secs_f64());
                fastest[2] = fastest[2].min(forward(count)?.as_secs_f64());
            }
            infer_rows.push(InferRow {
                workload: "sampling, batch 1",
                backend,
                chars_per_sec: chars as f64 / fastest[0],
                timed: format!("{chars} characters"),
            });
            infer_rows.push(InferRow {
                workload: "sampling, batch 32",
                backend,
                chars_per_sec: (steps * EVAL_BATCH) as f64 / fastest[1],
                timed: format!("{EVAL_BATCH} streams x {steps} characters"),
            });
            infer_rows.push(InferRow {
                workload: "forward, batch 32",
                backend,
                chars_per_sec: (count * eval_chars) as f64 / fastest[2],
                timed: format!("{count} blocks of B={EVAL_BATCH} T={}", infer.bptt),
            });
        }
    }
    group.finish();
    criterion.final_summary();
    if !benching {
        return Ok(());
    }

    // The portable matmul beside the subgroup one, on the same adapter.
    let portable =
        devices.iter().find(|(_, d)| d.uses_subgroups()).map(|(_, d)| ("gpu portable", d.without_subgroups()));
    let mut kernel_rows: Vec<(kernels::Case, Vec<(&str, kernels::Measure)>)> =
        kernels::cases(vocab.len()).into_iter().map(|case| (case, Vec::new())).collect();
    for pass in 0..kernels::PASSES {
        for (case, measures) in &mut kernel_rows {
            let twin = portable.iter().filter(|_| case.kernel == "matmul");
            for (i, (backend, device)) in devices.iter().chain(twin).enumerate() {
                eprintln!("kernel {} {} on {backend}, pass {}", case.kernel, case.shape, pass + 1);
                let measure = case.measure(device)?;
                match measures.get_mut(i) {
                    Some((_, best)) if best.secs_per_op <= measure.secs_per_op => {}
                    Some(best) => best.1 = measure,
                    None => measures.push((*backend, measure)),
                }
            }
        }
    }

    train_table(&mut report, &train_rows)?;
    infer_table(&mut report, &infer_rows, infer)?;
    kernel_table(&mut report, &kernel_rows)?;
    println!("\n{report}");
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("bench-report.md");
    std::fs::write(&path, &report)?;
    println!("written to {}", path.display());
    Ok(())
}

/// Runs `steps` training steps on the cycled blocks and waits for the device
/// with one stats readback; returns the time of all of it.
fn run_steps(trainer: &mut Trainer, blocks: &[Block], next: &mut usize, steps: usize) -> rnn_wgpu::Result<Duration> {
    let start = Instant::now();
    for _ in 0..steps {
        trainer.step(&blocks[*next % blocks.len()])?;
        *next += 1;
    }
    trainer.stats()?;
    Ok(start.elapsed())
}

/// GPU/CPU ratio on the GPU row, "-" on the CPU row or without a CPU row.
fn ratio(backend: &str, value: f64, cpu: Option<f64>) -> String {
    match (backend, cpu) {
        ("gpu", Some(cpu)) => format_ratio(value / cpu),
        _ => "-".to_string(),
    }
}

/// Two decimals, or two significant digits below 0.1 (a ratio of 0.0037 is not 0.00).
fn format_ratio(r: f64) -> String {
    if r >= 0.1 || r <= 0.0 || !r.is_finite() {
        return format!("{r:.2}");
    }
    let decimals = (1.0 - r.log10().floor()) as usize;
    format!("{r:.decimals$}")
}

/// "20, 1" for 20 steps: the submits and readbacks the device counted (none on the CPU backend).
fn traffic(row: &TrainRow) -> String {
    if row.backend == "gpu" { format!("{}, {}", row.submits, row.readbacks) } else { "-".to_string() }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn train_table(out: &mut String, rows: &[TrainRow]) -> std::fmt::Result {
    writeln!(out, "\n### Training (full step: forward, backward, clip 5, Adam; vocab 65)\n")?;
    writeln!(
        out,
        "| config | backend | chars/s | GPU/CPU | dispatches/block | submits, readbacks | memory (bytes) | steps timed | GEMM GFLOP/s in step | GEMMs alone | step/alone |"
    )?;
    writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for row in rows {
        let cpu = rows.iter().find(|r| r.setup == row.setup && r.backend == "cpu").map(|r| r.chars_per_sec);
        let kind = if row.backend == "gpu" { "device" } else { "host" };
        // Steps per second.
        let step_rate = row.chars_per_sec / SETUPS[row.setup].chars() as f64;
        writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} | {} | {} {kind} ({}) | {} | {:.2} | {:.2} | {:.2} |",
            SETUPS[row.setup].label(),
            row.backend,
            row.chars_per_sec,
            ratio(row.backend, row.chars_per_sec, cpu),
            row.dispatches,
            traffic(row),
            row.bytes,
            mib(row.bytes),
            row.steps,
            row.gemm_flops * step_rate / 1e9,
            row.gemm_flops / row.gemm_secs / 1e9,
            row.step_share
        )?;
    }
    writeln!(
        out,
        "\nchars/s = B·T × steps / time of the steps plus one final `stats()` readback, the fastest of {TABLE_ROUNDS} \
         rounds (steps timed = steps per round); submits, readbacks = what the device counted over the first \
         round's steps (`Device::submits`, `Device::readbacks`). Memory = \
         `model.device_bytes() + trainer.device_bytes()` (parameters, activations, gradients, Adam state). \
         GEMM GFLOP/s in step = 2·m·n·k summed over the block's GEMMs (every matmul and the GEMM of every \
         fused step) / step time; GEMMs alone = the same GEMMs, shapes and order in a plan of their own \
         (`support/gemm_share.rs`), the fastest of the rounds, each timed right after that round's steps; \
         step/alone = the share of the matmul kernel's rate the whole step keeps: GEMMs-alone time / step time \
         within each round (the two timed back to back), the median of the rounds."
    )?;
    let skipped: Vec<String> =
        rows.iter().filter(|r| !r.criterion).map(|r| format!("{} on {}", SETUPS[r.setup].tag, r.backend)).collect();
    if !skipped.is_empty() {
        writeln!(
            out,
            "No Criterion group (one step > {} s): {}; timed for this table only.",
            CRITERION_MAX_STEP.as_secs(),
            skipped.join(", ")
        )?;
    }
    Ok(())
}

fn infer_table(out: &mut String, rows: &[InferRow], setup: &Setup) -> std::fmt::Result {
    writeln!(out, "\n### Inference ({} {} L={} H={})\n", setup.tag, setup.cell.name(), setup.layers, setup.hidden)?;
    writeln!(out, "| workload | backend | chars/s | GPU/CPU | timed |")?;
    writeln!(out, "|---|---|---:|---:|---|")?;
    for row in rows {
        let cpu = rows.iter().find(|r| r.workload == row.workload && r.backend == "cpu").map(|r| r.chars_per_sec);
        writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} |",
            row.workload,
            row.backend,
            row.chars_per_sec,
            ratio(row.backend, row.chars_per_sec, cpu),
            row.timed
        )?;
    }
    writeln!(
        out,
        "\nSampling: `Sampler::generate` / `generate_streams` (the draw on the device; one submit and one \
         readback per chunk of 32 steps), chars/s = streams·N / time. Forward, batch 32: `Evaluator::evaluate` over blocks (one submit and one loss readback per \
         block), chars/s = blocks·B·T / time. Each figure is the fastest of {TABLE_ROUNDS} rounds (the \
         three workloads in turn; timed = one round)."
    )
}

fn kernel_table(out: &mut String, rows: &[(kernels::Case, Vec<(&str, kernels::Measure)>)]) -> std::fmt::Result {
    writeln!(out, "\n### Kernels\n")?;
    writeln!(out, "| kernel | shape | unit | GPU | GPU portable | CPU | GPU/CPU | GPU µs/op (R) | CPU µs/op (R) |")?;
    writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|---:|")?;
    for (case, measures) in rows {
        let get = |backend: &str| measures.iter().find(|(b, _)| *b == backend).map(|(_, m)| *m);
        let rate = |m: Option<kernels::Measure>| m.map(|m| case.work.rate(m.secs_per_op));
        let show = |m: Option<kernels::Measure>| {
            m.map_or("-".to_string(), |m| format!("{:.0} ({})", m.secs_per_op * 1e6, m.reps))
        };
        let (gpu, portable, cpu) = (get("gpu"), get("gpu portable"), get("cpu"));
        let fmt_rate = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.2}"));
        let ratio = match (rate(gpu), rate(cpu)) {
            (Some(g), Some(c)) => format_ratio(g / c),
            _ => "-".to_string(),
        };
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {ratio} | {} | {} |",
            case.kernel,
            case.shape,
            case.work.unit(),
            fmt_rate(rate(gpu)),
            fmt_rate(rate(portable)),
            fmt_rate(rate(cpu)),
            show(gpu),
            show(cpu)
        )?;
    }
    writeln!(
        out,
        "\nOne op repeated R times in one plan through `run_plan`; time/op = (t(R) − t(1)) / (R − 1), each \
         plan timed on its second call, so buffer creation, upload, bind groups and readback cancel out; \
         each case's fastest of {} passes over the whole table. GEMM shapes are those of configs (b) and \
         (e) (flags as the block plan records them); cell kernels count the bytes they must read plus \
         write per dispatch. \"GPU\" is the kernel the device uses (on subgroup adapters the vec4 matmul \
         core where the views sit in aligned quads, as all these do); \"GPU portable\" the matmul \
         without optional features on the same adapter.",
        kernels::PASSES
    )
}
