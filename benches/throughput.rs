//! Training throughput of a vanilla RNN (tanh) char model, GPU backend vs CPU
//! backend: characters per second = B·T per training block.
//!
//! ```text
//! cargo bench --bench throughput
//! ```
//!
//! One measured iteration is one `trainer.step`. GPU steps only queue work, so
//! each timed batch of N steps ends with one `trainer.stats()` (a readback
//! that waits for the device): the time includes all GPU work, with one
//! readback per N steps rather than per step. After the Criterion groups a
//! markdown table compares the backends from a plain timing of `TABLE_STEPS` steps.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use rnn_wgpu::{Block, Cell, Device, Model, ModelConfig, Optimizer, Streams, TrainConfig, Trainer, Vocab};

const TEXT: &str = include_str!("../data/tinyshakespeare.txt");
const HIDDEN: [usize; 2] = [128, 512];
const BATCH: usize = 32;
const BPTT: usize = 64;
/// Distinct blocks cycled through (enough that no block is special).
const BLOCKS: usize = 16;
/// Steps timed for the summary table: up to `TABLE_STEPS`, fewer when one
/// step takes long enough that they would exceed `TABLE_BUDGET`.
const TABLE_STEPS: usize = 20;
const TABLE_BUDGET: Duration = Duration::from_secs(5);

/// One row of the summary table.
struct Row {
    hidden: usize,
    backend: &'static str,
    device: String,
    chars_per_sec: f64,
    dispatches: usize,
    submits: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes --bench; without it (cargo test) Criterion runs
    // each routine once as a smoke test, and the table is skipped.
    let benching = std::env::args().any(|a| a == "--bench");
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();

    let vocab = Vocab::from_text(TEXT)?;
    let tokens = vocab.encode(TEXT)?;
    let streams = Streams::new(&tokens, BATCH, BPTT)?;
    let blocks: Vec<Block> = (0..BLOCKS).map(|i| streams.block(i)).collect();

    let mut devices = vec![("cpu", Device::cpu())];
    match Device::best() {
        Ok(gpu) => devices.insert(0, ("gpu", gpu)),
        Err(e) => eprintln!("no GPU adapter ({e}); benchmarking the CPU backend only"),
    }

    let mut rows = Vec::new();
    for hidden in HIDDEN {
        let config = ModelConfig::char_lm(Cell::RnnTanh, 1, hidden, vocab.len());
        let mut group = criterion.benchmark_group(format!("train_rnn_tanh_h{hidden}_b{BATCH}_t{BPTT}"));
        group.throughput(Throughput::Elements((BATCH * BPTT) as u64));
        // A block takes seconds on lavapipe at H = 512: equal-sized samples
        // keep the count of steps (10 samples x at least 1) small.
        group.sampling_mode(SamplingMode::Flat);
        for (backend, device) in &devices {
            let mut trainer = trainer(device, &config)?;
            group.bench_function(BenchmarkId::from_parameter(backend), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for i in 0..iters as usize {
                        trainer.step(&blocks[i % BLOCKS]).expect("training step");
                    }
                    trainer.stats().expect("stats readback");
                    start.elapsed()
                })
            });
            if benching {
                rows.push(Row {
                    hidden,
                    backend,
                    device: device.name(),
                    chars_per_sec: chars_per_sec(&mut trainer, &blocks)?,
                    dispatches: trainer.planned_dispatches(),
                    submits: trainer.submits_per_block(),
                });
            }
        }
        group.finish();
    }
    criterion.final_summary();

    if benching {
        print_table(&rows);
    }
    Ok(())
}

fn trainer(device: &Device, config: &ModelConfig) -> rnn_wgpu::Result<Trainer> {
    let model = Model::new(device, config, 42)?;
    Trainer::new(
        model,
        TrainConfig {
            batch: BATCH,
            bptt: BPTT,
            optimizer: Optimizer::adam(2e-3),
            clip_norm: Some(5.0),
            seed: 0,
        },
    )
}

/// Characters per second over up to `TABLE_STEPS` steps, timed up to a final
/// readback that waits for the device.
fn chars_per_sec(trainer: &mut Trainer, blocks: &[Block]) -> rnn_wgpu::Result<f64> {
    // One untimed step (caches warm) and one timed step to size the run.
    let mut blocks = blocks.iter().cycle();
    let mut timed = |trainer: &mut Trainer, steps: usize| -> rnn_wgpu::Result<Duration> {
        let start = Instant::now();
        for block in blocks.by_ref().take(steps) {
            trainer.step(block)?;
        }
        trainer.stats()?;
        Ok(start.elapsed())
    };
    timed(trainer, 1)?;
    let one = timed(trainer, 1)?;
    let steps = ((TABLE_BUDGET.as_secs_f64() / one.as_secs_f64()) as usize).clamp(2, TABLE_STEPS);
    let elapsed = timed(trainer, steps)?;
    Ok((steps * BATCH * BPTT) as f64 / elapsed.as_secs_f64())
}

fn print_table(rows: &[Row]) {
    println!();
    for device in rows
        .iter()
        .map(|r| (r.backend, &r.device))
        .collect::<std::collections::BTreeMap<_, _>>()
    {
        println!("{}: {}", device.0, device.1);
    }
    println!();
    println!("| config | backend | chars/s | GPU/CPU | dispatches/block | submits/block |");
    println!("|---|---|---:|---:|---:|---:|");
    for row in rows {
        let cpu = rows.iter().find(|r| r.hidden == row.hidden && r.backend == "cpu");
        let ratio = match (row.backend, cpu) {
            ("gpu", Some(cpu)) => format!("{:.2}", row.chars_per_sec / cpu.chars_per_sec),
            _ => "-".to_string(),
        };
        println!(
            "| rnn_tanh H={} B={BATCH} T={BPTT} | {} | {:.0} | {ratio} | {} | {} |",
            row.hidden, row.backend, row.chars_per_sec, row.dispatches, row.submits
        );
    }
}
