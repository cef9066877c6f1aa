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
//! (`<name>.trainer.safetensors`), so `--resume` continues exactly.
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
    /// Vanilla RNN, h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
    Rnn,
    /// Vanilla RNN with relu
    RnnRelu,
    /// LSTM (PyTorch's nn.LSTM)
    Lstm,
    /// GRU (PyTorch's nn.GRU)
    Gru,
}

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
}

/// `<dir>/<stem>.trainer.safetensors` beside the model checkpoint.
fn trainer_state_path(checkpoint: &std::path::Path) -> PathBuf {
    let stem = checkpoint.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    checkpoint.with_file_name(format!("{stem}.trainer.safetensors"))
}

/// Writes the model (with its vocabulary) and the trainer state.
fn save(trainer: &Trainer, vocab: &Vocab, path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    trainer.model().save(path, Some(vocab))?;
    trainer.save_state(trainer_state_path(path))?;
    Ok(())
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
    let cell = match args.cell {
        CellArg::Rnn => Cell::RnnTanh,
        CellArg::RnnRelu => Cell::RnnRelu,
        CellArg::Lstm => Cell::Lstm,
        CellArg::Gru => Cell::Gru,
    };
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
    let state_path = trainer_state_path(&args.checkpoint);
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
    println!("{:>7}  {:>10}  {:>10.4}  {:>10}", trainer.steps_taken(), "-", evaluator.evaluate(&valid_blocks)?, "-");

    // Train: blocks in order, the state carried between them; the loss is
    // read back only when reported, since each read waits for the device.
    let first = trainer.steps_taken() as usize;
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
            (since, since_step) = (Instant::now(), step);
        }
        if args.checkpoint_every > 0 && step % args.checkpoint_every == 0 && step != last {
            save(&trainer, &vocab, &args.checkpoint)?;
        }
    }
    save(&trainer, &vocab, &args.checkpoint)?;
    println!("checkpoint written to {}", args.checkpoint.display());
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
