//! Sequence classification, many-to-one over sequences of different
//! lengths: which of the symbols a, b, c occurs most often in a random
//! string of 5 to 40 of them (strings with a tie are not drawn). The answer
//! depends on every symbol, so the network must count across the whole
//! sequence; the softmax head reads each sequence's last valid step only
//! (`Readout::LastStep`) and the padding after it neither trains nor moves
//! the state.
//!
//! ```text
//! cargo run --release --example classify                       # LSTM, 1,500 steps
//! cargo run --release --example classify -- --backend cpu --quick
//! cargo run --release --example classify -- --cell rnn --steps 2000
//! ```
//!
//! It ends with a check: accuracy on held-out strings at least `--expect`
//! (0.9 by default) and above the best a model of the last 8 symbols can do;
//! otherwise it exits non-zero.

use std::time::Instant;

use clap::Parser;
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnn_wgpu::{
    Block, Evaluator, Head, Input, Inputs, Model, ModelConfig, Optimizer, Readout, Targets, TrainConfig, Trainer,
};

mod common;
use common::{BackendArg, CellArg, Result, Verdict, open_device};

const SYMBOLS: [char; 3] = ['a', 'b', 'c'];

/// Classify random strings by their most frequent symbol.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Where to train.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// Recurrent cell.
    #[arg(long, value_enum, default_value_t = CellArg::Lstm)]
    cell: CellArg,
    /// Hidden units (one layer).
    #[arg(long, default_value_t = 32)]
    hidden: usize,
    /// Strings per training block.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Training blocks (each a fresh batch of strings).
    #[arg(long, default_value_t = 1500)]
    steps: usize,
    /// The short mode CI runs: 600 steps, 512 held-out strings.
    #[arg(long)]
    quick: bool,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-2)]
    lr: f32,
    /// Shortest and longest string.
    #[arg(long, default_value_t = 5)]
    min_len: usize,
    #[arg(long, default_value_t = 40)]
    max_len: usize,
    /// Held-out strings for the accuracy.
    #[arg(long, default_value_t = 2048)]
    test: usize,
    /// Seed of the weights and the data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The accuracy the check requires.
    #[arg(long, default_value_t = 0.9)]
    expect: f64,
}

/// One string: its symbols (ids 0..3) and its class, the most frequent symbol.
struct Example {
    ids: Vec<u32>,
    class: u32,
}

fn draw(rng: &mut ChaCha8Rng, min_len: usize, max_len: usize) -> Example {
    loop {
        let len = rng.random_range(min_len..=max_len);
        let ids: Vec<u32> = (0..len).map(|_| rng.random_range(0..3)).collect();
        let mut counts = [0usize; 3];
        ids.iter().for_each(|&s| counts[s as usize] += 1);
        let top = *counts.iter().max().expect("three counts");
        if counts.iter().filter(|&&c| c == top).count() == 1 {
            let class = counts.iter().position(|&c| c == top).expect("a top count") as u32;
            return Example { ids, class };
        }
    }
}

/// A block of examples `[max_len, B]`, each padded after its length.
fn block(examples: &[Example], max_len: usize) -> Result<Block> {
    let batch = examples.len();
    let mut inputs = vec![0u32; max_len * batch];
    for (b, e) in examples.iter().enumerate() {
        for (t, &id) in e.ids.iter().enumerate() {
            inputs[t * batch + b] = id;
        }
    }
    let targets = Targets::Classes(examples.iter().map(|e| e.class).collect());
    let lengths = examples.iter().map(|e| e.ids.len() as u32).collect();
    Ok(Block::with(max_len, batch, Inputs::Tokens(inputs), targets)?.with_lengths(lengths)?)
}

/// The class each string of `examples` is given: argmax of the head's logits at its last step.
fn predict(eval: &mut Evaluator, examples: &[Example], max_len: usize) -> Result<Vec<u32>> {
    let b = block(examples, max_len)?;
    eval.forward(b.inputs, b.lengths)?;
    let logits = eval.head_outputs()?;
    let batch = examples.len();
    Ok(examples
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let row = &logits[((e.ids.len() - 1) * batch + i) * 3..][..3];
            (0..3).max_by(|&x, &y| row[x].total_cmp(&row[y])).expect("three classes") as u32
        })
        .collect())
}

/// The accuracy on `test` of the best guess from the last `k` symbols
/// alone: for each suffix, the class most often right given it, counted
/// over 400,000 other strings. About what any model that forgets everything
/// older than `k` steps can reach.
fn last_k_accuracy(test: &[Example], k: usize, args: &Args) -> f64 {
    use std::collections::HashMap;
    let suffix = |e: &Example| e.ids[e.ids.len().saturating_sub(k)..].to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0xba5e);
    let mut by_suffix: HashMap<Vec<u32>, [usize; 3]> = HashMap::new();
    for _ in 0..400_000 {
        let e = draw(&mut rng, args.min_len, args.max_len);
        by_suffix.entry(suffix(&e)).or_default()[e.class as usize] += 1;
    }
    let guess = |e: &Example| {
        by_suffix.get(&suffix(e)).map_or(0, |c| (0..3).max_by_key(|&i| c[i]).expect("three classes") as u32)
    };
    test.iter().filter(|e| guess(e) == e.class).count() as f64 / test.len() as f64
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    if args.quick {
        (args.steps, args.test) = (600, 512);
    }
    if args.min_len == 0 || args.min_len > args.max_len {
        return Err("need 1 <= --min-len <= --max-len".into());
    }
    let started = Instant::now();
    let device = open_device(args.backend, None)?;
    let cell = args.cell.cell();
    let config = ModelConfig {
        readout: Readout::LastStep,
        input: Input::Tokens { vocab: 3 },
        ..ModelConfig::dense(cell, 1, args.hidden, 3, Head::Softmax { classes: 3 })
    };
    let model = Model::new(&device, &config, args.seed)?;
    let train = TrainConfig {
        batch: args.batch,
        bptt: args.max_len,
        optimizer: Optimizer::adam(args.lr),
        clip_norm: Some(1.0),
        seed: args.seed,
    };
    let mut trainer = Trainer::new(model, train)?;
    let mut eval = Evaluator::new(trainer.model(), args.batch, args.max_len)?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut test_rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0x7e57);
    let test: Vec<Example> = (0..args.test.div_ceil(args.batch) * args.batch)
        .map(|_| draw(&mut test_rng, args.min_len, args.max_len))
        .collect();
    println!("device:   {}", device.name());
    println!(
        "task:     most frequent of {{a, b, c}} in strings of {}..={} symbols; {} held-out strings",
        args.min_len,
        args.max_len,
        test.len()
    );
    println!(
        "model:    {} x {} hidden, softmax over 3 at the last valid step; batch {}, Adam {}, {} steps, seed {}",
        cell.name(),
        args.hidden,
        args.batch,
        args.lr,
        args.steps,
        args.seed
    );

    let accuracy = |eval: &mut Evaluator| -> Result<(f64, Vec<u32>)> {
        let mut predicted = Vec::with_capacity(test.len());
        for chunk in test.chunks(args.batch) {
            predicted.extend(predict(eval, chunk, args.max_len)?);
        }
        let right = predicted.iter().zip(&test).filter(|(p, e)| **p == e.class).count();
        Ok((right as f64 / test.len() as f64, predicted))
    };
    println!("{:>6}  {:>10}  {:>9}", "step", "train loss", "accuracy");
    let report = (args.steps / 5).max(1);
    for step in 1..=args.steps {
        let examples: Vec<Example> = (0..args.batch).map(|_| draw(&mut rng, args.min_len, args.max_len)).collect();
        // Each string is a sequence of its own: start every block from a zero state.
        trainer.reset_state()?;
        trainer.step(&block(&examples, args.max_len)?)?;
        if step % report == 0 || step == args.steps {
            println!("{step:>6}  {:>10.4}  {:>9.3}", trainer.stats()?.loss, accuracy(&mut eval)?.0);
        }
    }
    let (acc, predicted) = accuracy(&mut eval)?;

    // Accuracy by length, and what the last 8 symbols alone allow.
    println!("accuracy by length:");
    let span = (args.max_len - args.min_len + 1).div_ceil(4).max(1);
    for lo in (args.min_len..=args.max_len).step_by(span) {
        let hi = (lo + span - 1).min(args.max_len);
        let (n, right) = test
            .iter()
            .zip(&predicted)
            .filter(|(e, _)| (lo..=hi).contains(&e.ids.len()))
            .fold((0, 0), |(n, r), (e, p)| (n + 1, r + usize::from(*p == e.class)));
        if n > 0 {
            println!("  {lo:>3}..={hi:<3}  {:.3}  ({n} strings)", right as f64 / n as f64);
        }
    }
    for e in test.iter().zip(&predicted).take(3) {
        let text: String = e.0.ids.iter().map(|&s| SYMBOLS[s as usize]).collect();
        println!("  {text:<40} -> {} (answer {})", SYMBOLS[*e.1 as usize], SYMBOLS[e.0.class as usize]);
    }
    let last8 = last_k_accuracy(&test, 8, &args);
    println!(
        "held-out accuracy {acc:.3} after {} steps on the {} in {:.1} s (chance 0.333; the best guess from the last 8 symbols alone: {last8:.3})",
        args.steps,
        device.name(),
        started.elapsed().as_secs_f64()
    );
    let mut verdict = Verdict::default();
    verdict.check(&format!("accuracy {acc:.3} >= {}", args.expect), acc >= args.expect);
    verdict.check(&format!("accuracy {acc:.3} > the last-8 bound {last8:.3}"), acc > last8);
    verdict.finish()
}
