//! Character-level language model: a vanilla RNN trained with truncated BPTT
//! on Tiny Shakespeare (or any text file), then sampled.
//!
//! ```text
//! cargo run --release --example char_lm
//! cargo run --release --example char_lm -- --backend cpu --hidden 256 --steps 2000
//! cargo run --release --example char_lm -- --text my.txt --prime "The " --sample-len 300
//! ```
//!
//! The device is the best wgpu adapter (`--backend auto`, the default); when
//! there is none the program says why and trains on the CPU backend instead.
//! Each of the `--batch` streams reads its own contiguous slice of the
//! training text; the hidden state is carried from block to block on the
//! device and zeroed when the streams wrap around to their start.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use rnn_wgpu::{
    Cell, Device, Evaluator, Model, ModelConfig, Optimizer, Sampler, Streams, TrainConfig, Trainer, Vocab, split,
};

/// The embedded default corpus (1,115,394 characters, 65 distinct).
const SHAKESPEARE: &str = include_str!("../data/tinyshakespeare.txt");

/// Fraction of the text held out (from its end) for validation.
const VALIDATION: f32 = 0.1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    /// The best wgpu adapter, or the CPU backend when there is none.
    Auto,
    /// A wgpu adapter; no adapter is an error.
    Gpu,
    /// The CPU backend.
    Cpu,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CellArg {
    /// h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
    Tanh,
    /// h' = relu(W_ih x + b_ih + W_hh h + b_hh)
    Relu,
}

/// Train a character-level vanilla-RNN language model and sample from it.
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
    #[arg(long, value_enum, default_value_t = CellArg::Tanh)]
    cell: CellArg,
    /// Stacked recurrent layers.
    #[arg(long, default_value_t = 1)]
    layers: usize,
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
    /// Training blocks (optimizer steps).
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Seed of the initial weights and of the sample.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Report train and validation loss every this many steps.
    #[arg(long, default_value_t = 100)]
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
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let started = Instant::now();
    if args.eval_every == 0 || args.eval_blocks == 0 {
        return Err("--eval-every and --eval-blocks must be at least 1".into());
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
    let valid_blocks: Vec<_> = (0..valid_streams.len().min(args.eval_blocks))
        .map(|i| valid_streams.block(i))
        .collect();

    // The device, the model and the trainer.
    let device = open_device(args.backend, args.adapter.as_deref())?;
    let cell = match args.cell {
        CellArg::Tanh => Cell::RnnTanh,
        CellArg::Relu => Cell::RnnRelu,
    };
    let model_config = ModelConfig::char_lm(cell, args.layers, args.hidden, vocab.len());
    let train_config = TrainConfig {
        batch: args.batch,
        bptt: args.seq_len,
        optimizer: Optimizer::adam(args.lr),
        clip_norm: Some(args.clip),
        seed: args.seed,
    };
    let model = Model::new(&device, &model_config, args.seed)?;
    let mut trainer = Trainer::new(model, train_config)?;
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
        "model:    {}, {} layer(s) x {} hidden, {} parameters",
        cell.name(),
        args.layers,
        args.hidden,
        trainer.model().layout().total()
    );
    println!(
        "training: batch {}, seq-len {}, Adam lr {}, clip {}, {} steps, seed {}",
        args.batch, args.seq_len, args.lr, args.clip, args.steps, args.seed
    );
    println!(
        "per block: {} dispatches, {} submit(s)",
        trainer.planned_dispatches(),
        trainer.submits_per_block()
    );
    println!("{:>7}  {:>10}  {:>10}  {:>10}", "step", "train", "valid", "chars/s");
    println!(
        "{:>7}  {:>10}  {:>10.4}  {:>10}",
        0,
        "-",
        evaluator.evaluate(&valid_blocks)?,
        "-"
    );

    // Train: blocks in order, the state carried between them; the loss is
    // read back only when reported, since each read waits for the device.
    let mut block = 0;
    let (mut since, mut since_step) = (Instant::now(), 0);
    let mut train_time = Duration::ZERO;
    for step in 1..=args.steps {
        if block == streams.len() {
            block = 0;
            trainer.reset_state()?;
        }
        trainer.step(&streams.block(block))?;
        block += 1;
        if step % args.eval_every == 0 || step == args.steps {
            let stats = trainer.stats()?;
            let elapsed = since.elapsed();
            train_time += elapsed;
            let rate = ((step - since_step) * chars_per_block) as f64 / elapsed.as_secs_f64();
            let valid_loss = evaluator.evaluate(&valid_blocks)?;
            let note = if stats.skipped {
                "  (non-finite: update skipped)"
            } else {
                ""
            };
            println!(
                "{step:>7}  {:>10.4}  {valid_loss:>10.4}  {rate:>10.0}{note}",
                stats.loss
            );
            (since, since_step) = (Instant::now(), step);
        }
    }
    if args.steps > 0 {
        let rate = (args.steps * chars_per_block) as f64 / train_time.as_secs_f64();
        println!(
            "trained {} characters in {:.1} s ({rate:.0} chars/s)",
            args.steps * chars_per_block,
            train_time.as_secs_f64()
        );
    }

    // Sample from the trained model.
    if args.sample_len > 0 {
        let prime = match args.prime {
            Some(prime) => prime,
            None if vocab.encode("ROMEO:").is_ok() => "ROMEO:".to_string(),
            None => text.chars().next().expect("a vocabulary has a character").to_string(),
        };
        let mut sampler = Sampler::new(trainer.model(), &vocab)?
            .temperature(args.temperature)?
            .seed(args.seed);
        if let Some(k) = args.top_k {
            sampler = sampler.top_k(k)?;
        }
        let sample = sampler.generate(&prime, args.sample_len)?;
        println!(
            "--- sample (temperature {}) ---\n{prime}{sample}\n---",
            args.temperature
        );
    }
    println!("total wall time {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The device `backend` asks for; `auto` falls back to the CPU backend (and
/// says why) unless an adapter was named.
fn open_device(backend: BackendArg, adapter: Option<&str>) -> Result<Device, Box<dyn std::error::Error>> {
    let gpu = || match adapter {
        Some(name) => Device::select(None, Some(name)),
        None => Device::best(),
    };
    match (backend, adapter) {
        (BackendArg::Cpu, Some(_)) => Err("--adapter names a GPU adapter; it cannot be used with --backend cpu".into()),
        (BackendArg::Cpu, None) => Ok(Device::cpu()),
        (BackendArg::Gpu, _) | (BackendArg::Auto, Some(_)) => {
            gpu().map_err(|e| format!("no usable GPU adapter: {e}").into())
        }
        (BackendArg::Auto, None) => Ok(gpu().unwrap_or_else(|e| {
            eprintln!("no usable GPU adapter ({e}); falling back to the CPU backend");
            Device::cpu()
        })),
    }
}
