//! Character-level language model: an RNN, LSTM or GRU stack trained with
//! truncated BPTT on Tiny Shakespeare (or any text file), checkpointed, then sampled.
//!
//! ```text
//! cargo run --release --example char_lm                       # 2-layer LSTM, the default
//! cargo run --release --example char_lm -- --backend cpu --cell gru --hidden 256 --steps 2000
//! cargo run --release --example char_lm -- --resume            # continue from the checkpoint
//! cargo run --release --example char_lm -- --sample-only --prime "JULIET:" --sample-len 300
//! ```
//!
//! Every `--checkpoint-every` steps and at the end the model (with its
//! vocabulary) is written to `--checkpoint`, and the optimizer state beside it
//! (`<name>.trainer.safetensors`), so `--resume` continues exactly. Beside
//! them go the loss curves: `<name>.loss.csv` (step, train, validation; a
//! resumed run continues it) and their plot, `<name>.loss.svg`.
//! `--expect-drop D` makes the run fail unless the validation loss fell by
//! at least D (CI's smoke run uses it).
//!
//! The device is the best wgpu adapter (`--backend auto`, the default); when
//! there is none the program says why and trains on the CPU backend instead.
//! Each of the `--batch` streams reads its own contiguous slice of the
//! training text; the hidden state is carried from block to block on the
//! device and zeroed when the streams wrap around to their start.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use rnn_wgpu::{Evaluator, Model, ModelConfig, Optimizer, Sampler, Streams, TrainConfig, Trainer, Vocab, split};

mod common;
use common::plot::{Scale, Series, line_chart};
use common::{BackendArg, CellArg, Verdict, open_device};

/// The embedded default corpus (1,115,394 characters, 65 distinct).
const SHAKESPEARE: &str = include_str!("../data/tinyshakespeare.txt");

/// Fraction of the text held out (from its end) for validation.
const VALIDATION: f32 = 0.1;

/// Train a character-level RNN / LSTM / GRU language model and sample from it.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Train on this UTF-8 text file instead of the embedded Tiny Shakespeare.
    #[arg(long, value_name = "PATH")]
    text: Option<PathBuf>,
    /// Where to train.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// Use the adapter whose name contains NAME (case-insensitive); implies a GPU.
    #[arg(long, value_name = "NAME")]
    adapter: Option<String>,
    /// Recurrent cell of every layer.
    #[arg(long, value_enum, default_value_t = CellArg::Lstm)]
    cell: CellArg,
    /// Stacked recurrent layers.
    #[arg(long, default_value_t = 2)]
    layers: usize,
    /// Dropout on the output of every layer but the last (training only).
    #[arg(long, default_value_t = 0.0)]
    dropout: f32,
    /// Hidden units per layer.
    #[arg(long, default_value_t = 128)]
    hidden: usize,
    /// Steps per truncated-BPTT block (T).
    #[arg(long, default_value_t = 32)]
    seq_len: usize,
    /// Independent streams trained side by side (B).
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 3e-3)]
    lr: f32,
    /// Clip the global gradient norm to this value.
    #[arg(long, default_value_t = 5.0)]
    clip: f32,
    /// Training blocks (optimizer steps). The default keeps a run on lavapipe
    /// (2 CPU cores) to about 2.5 minutes; on a real GPU or the CPU backend, use more.
    #[arg(long, default_value_t = 500)]
    steps: usize,
    /// Seed of the initial weights and of the sample.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Report train and validation loss every this many steps.
    #[arg(long, default_value_t = 50)]
    eval_every: usize,
    /// At most this many validation blocks per evaluation (keeps it quick).
    #[arg(long, default_value_t = 20)]
    eval_blocks: usize,
    /// Characters to generate at the end (0 for none).
    #[arg(long, default_value_t = 500)]
    sample_len: usize,
    /// Sampling temperature (> 0; lower is more conservative).
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// Sample only among the K most likely characters.
    #[arg(long, value_name = "K")]
    top_k: Option<usize>,
    /// Text fed to the model before sampling [default: "ROMEO:" if the text
    /// has those characters, else the text's first character].
    #[arg(long)]
    prime: Option<String>,
    /// Checkpoint file (the optimizer state goes beside it).
    #[arg(long, default_value = "char_lm.safetensors")]
    checkpoint: PathBuf,
    /// Write the checkpoint every this many steps (and always at the end; 0: only at the end).
    #[arg(long, default_value_t = 100)]
    checkpoint_every: usize,
    /// Continue from --checkpoint (its configuration replaces the model flags).
    #[arg(long)]
    resume: bool,
    /// Only sample from --checkpoint; no training.
    #[arg(long)]
    sample_only: bool,
    /// Exit non-zero unless the validation loss falls by at least this much.
    #[arg(long, value_name = "NATS")]
    expect_drop: Option<f32>,
}

/// `<dir>/<stem>.<suffix>` beside the model checkpoint.
fn beside(checkpoint: &std::path::Path, suffix: &str) -> PathBuf {
    let stem = checkpoint.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    checkpoint.with_file_name(format!("{stem}.{suffix}"))
}

/// The losses reported so far: (step, train loss of that step's block, validation loss).
struct Curve {
    rows: Vec<(usize, Option<f32>, f32)>,
}

impl Curve {
    /// The rows of an earlier run up to `step` (for --resume), or none.
    fn resumed(checkpoint: &std::path::Path, step: usize) -> Curve {
        let text = std::fs::read_to_string(beside(checkpoint, "loss.csv")).unwrap_or_default();
        let rows = text
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut cols = line.split(',');
                let (s, t, v) = (cols.next()?.parse().ok()?, cols.next()?.parse().ok(), cols.next()?.parse().ok()?);
                (s <= step).then_some((s, t, v))
            })
            .collect();
        Curve { rows }
    }

    /// Writes `<stem>.loss.csv` and the plot `<stem>.loss.svg`.
    fn write(&self, checkpoint: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
        let mut csv = String::from("step,train,valid\n");
        for (step, train, valid) in &self.rows {
            csv += &format!("{step},{},{valid}\n", train.map_or(String::new(), |t| t.to_string()));
        }
        std::fs::write(beside(checkpoint, "loss.csv"), csv)?;
        let train = self.rows.iter().filter_map(|&(s, t, _)| Some((s as f64, t? as f64))).collect();
        let valid = self.rows.iter().map(|&(s, _, v)| (s as f64, v as f64)).collect();
        let series = [
            Series { name: "train (the block at that step)".into(), points: train, dashed: false, colour: 1 },
            Series { name: "validation".into(), points: valid, dashed: false, colour: 0 },
        ];
        let title = format!("char_lm loss: {}", checkpoint.file_name().map_or("".into(), |n| n.to_string_lossy()));
        line_chart(&beside(checkpoint, "loss.svg"), &title, "step", "cross-entropy (nats/char)", &series, Scale::Linear)
    }
}

/// Writes the model (with its vocabulary), the trainer state and the loss curves.
fn save(
    trainer: &Trainer,
    vocab: &Vocab,
    curve: &Curve,
    path: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    trainer.model().save(path, Some(vocab))?;
    trainer.save_state(beside(path, "trainer.safetensors"))?;
    curve.write(path)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let started = Instant::now();
    if args.eval_every == 0 || args.eval_blocks == 0 {
        return Err("--eval-every and --eval-blocks must be at least 1".into());
    }

    // Sample-only mode: everything comes from the checkpoint.
    let device = open_device(args.backend, args.adapter.as_deref())?;
    if args.sample_only {
        let (model, vocab) = Model::load(&device, &args.checkpoint)?;
        let vocab = vocab.ok_or("the checkpoint has no vocabulary to sample with")?;
        println!("device:   {}", device.name());
        println!("model:    {:?} from {}", model.config(), args.checkpoint.display());
        sample(&model, &vocab, &args, None)?;
        return Ok(());
    }

    // The text, its vocabulary, and the train / validation split.
    let text = match &args.text {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read --text {}: {e}", path.display()))?
        }
        None => SHAKESPEARE.to_string(),
    };
    let vocab = Vocab::from_text(&text)?;
    let tokens = vocab.encode(&text)?;
    let (train, valid) = split(&tokens, VALIDATION)?;
    let streams = Streams::new(train, args.batch, args.seq_len).map_err(|e| format!("training text too short: {e}"))?;
    let valid_streams = Streams::new(valid, args.batch, args.seq_len)
        .map_err(|e| format!("validation text too short (use a smaller --batch or --seq-len): {e}"))?;
    let valid_blocks: Vec<_> = (0..valid_streams.len().min(args.eval_blocks)).map(|i| valid_streams.block(i)).collect();

    // The model (new, or from the checkpoint) and the trainer.
    let cell = args.cell.cell();
    let model_config =
        ModelConfig { dropout: args.dropout, ..ModelConfig::char_lm(cell, args.layers, args.hidden, vocab.len()) };
    let train_config = TrainConfig {
        batch: args.batch,
        bptt: args.seq_len,
        optimizer: Optimizer::adam(args.lr),
        clip_norm: Some(args.clip),
        seed: args.seed,
    };
    let model = if args.resume {
        let (model, saved_vocab) = Model::load(&device, &args.checkpoint)?;
        if saved_vocab.as_ref().is_some_and(|v| v != &vocab) {
            return Err("the checkpoint's vocabulary differs from this text's".into());
        }
        println!("resuming from {} (its configuration replaces the model flags)", args.checkpoint.display());
        model
    } else {
        Model::new(&device, &model_config, args.seed)?
    };
    let model_config = *model.config();
    let mut trainer = Trainer::new(model, train_config)?;
    let state_path = beside(&args.checkpoint, "trainer.safetensors");
    if args.resume && state_path.exists() {
        trainer.load_state(&state_path)?;
    }
    let mut evaluator = Evaluator::new(trainer.model(), args.batch, args.seq_len)?;

    let chars_per_block = args.batch * args.seq_len;
    println!("device:   {}", device.name());
    println!(
        "text:     {} characters, vocabulary {}; {} for training ({} blocks of {} per pass), {} for validation ({} blocks per evaluation)",
        tokens.len(),
        vocab.len(),
        train.len(),
        streams.len(),
        chars_per_block,
        valid.len(),
        valid_blocks.len()
    );
    println!(
        "model:    {}, {} layer(s) x {} hidden, dropout {}, {} parameters",
        model_config.cell.name(),
        model_config.layers,
        model_config.hidden,
        model_config.dropout,
        trainer.model().layout().total()
    );
    println!(
        "training: batch {}, seq-len {}, Adam lr {}, clip {}, {} steps, seed {}",
        args.batch, args.seq_len, args.lr, args.clip, args.steps, args.seed
    );
    println!("per block: {} dispatches", trainer.planned_dispatches());
    println!("{:>7}  {:>10}  {:>10}  {:>10}", "step", "train", "valid", "chars/s");
    let first = trainer.steps_taken() as usize;
    let initial = evaluator.evaluate(&valid_blocks)?;
    println!("{first:>7}  {:>10}  {initial:>10.4}  {:>10}", "-", "-");
    let mut curve = if args.resume { Curve::resumed(&args.checkpoint, first) } else { Curve { rows: Vec::new() } };
    if curve.rows.last().is_none_or(|r| r.0 != first) {
        curve.rows.push((first, None, initial));
    }

    // Train: blocks in order, the state carried between them; the loss is
    // read back only when reported, since each read waits for the device.
    let mut block = first % streams.len();
    let (mut since, mut since_step) = (Instant::now(), first);
    let mut train_time = Duration::ZERO;
    let last = first + args.steps;
    for step in first + 1..=last {
        if block == streams.len() {
            block = 0;
            trainer.reset_state()?;
        }
        trainer.step(&streams.block(block))?;
        block += 1;
        if step % args.eval_every == 0 || step == last {
            let stats = trainer.stats()?;
            let elapsed = since.elapsed();
            train_time += elapsed;
            let rate = ((step - since_step) * chars_per_block) as f64 / elapsed.as_secs_f64();
            let valid_loss = evaluator.evaluate(&valid_blocks)?;
            let note = if stats.skipped { "  (non-finite: update skipped)" } else { "" };
            println!("{step:>7}  {:>10.4}  {valid_loss:>10.4}  {rate:>10.0}{note}", stats.loss);
            curve.rows.push((step, Some(stats.loss), valid_loss));
            (since, since_step) = (Instant::now(), step);
        }
        if args.checkpoint_every > 0 && step % args.checkpoint_every == 0 && step != last {
            save(&trainer, &vocab, &curve, &args.checkpoint)?;
        }
    }
    save(&trainer, &vocab, &curve, &args.checkpoint)?;
    println!(
        "checkpoint written to {}; loss curves to {} and {}",
        args.checkpoint.display(),
        beside(&args.checkpoint, "loss.csv").display(),
        beside(&args.checkpoint, "loss.svg").display()
    );
    if args.steps > 0 {
        let rate = (args.steps * chars_per_block) as f64 / train_time.as_secs_f64();
        println!(
            "trained {} characters in {:.1} s ({rate:.0} chars/s)",
            args.steps * chars_per_block,
            train_time.as_secs_f64()
        );
    }

    sample(trainer.model(), &vocab, &args, Some(&text))?;
    println!("total wall time {:.1} s", started.elapsed().as_secs_f64());
    let mut verdict = Verdict::default();
    if let (Some(drop), Some(&(_, _, end))) = (args.expect_drop, curve.rows.last()) {
        verdict.check(&format!("validation loss fell by >= {drop} ({initial:.4} -> {end:.4})"), end <= initial - drop);
    }
    verdict.finish()
}

/// Generates `--sample-len` characters after the prime.
fn sample(model: &Model, vocab: &Vocab, args: &Args, text: Option<&str>) -> Result<(), Box<dyn std::error::Error>> {
    if args.sample_len == 0 {
        return Ok(());
    }
    let prime = match &args.prime {
        Some(prime) => prime.clone(),
        None if vocab.encode("ROMEO:").is_ok() => "ROMEO:".to_string(),
        None => text.and_then(|t| t.chars().next()).unwrap_or(vocab.chars()[0]).to_string(),
    };
    let mut sampler = Sampler::new(model, vocab)?.temperature(args.temperature)?.seed(args.seed);
    if let Some(k) = args.top_k {
        sampler = sampler.top_k(k)?;
    }
    let sample = sampler.generate(&prime, args.sample_len)?;
    println!("--- sample (temperature {}) ---\n{prime}{sample}\n---", args.temperature);
    Ok(())
}
