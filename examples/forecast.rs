//! Time-series regression: a GRU learns to predict the next value of a
//! noisy two-frequency sine, x_t = sin(2πt/20 + φ₁) + 0.5·sin(2πt/7 + φ₂) + ε
//! with ε ~ N(0, 0.1²) and random phases per series, from the values so far
//! (a linear head with MSE at every step, teacher forcing). Then the
//! `Forecaster` runs it one-to-many: primed with 48 noisy values of an
//! unseen series, it feeds each prediction back as the next input for 48
//! more steps, on the device, in one submit.
//!
//! ```text
//! cargo run --release --example forecast                       # 600 steps
//! cargo run --release --example forecast -- --backend cpu --quick
//! ```
//!
//! It ends with checks — one-step MSE at most half the persistence
//! baseline's (x̂_{t+1} = x_t), 48-step forecast MSE against the clean signal
//! at most a quarter of the mean baseline's (x̂ = 0, the signal's variance
//! 0.625) — and exits non-zero unless both hold. The forecast is drawn to
//! `forecast.svg`.

use std::f64::consts::PI;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rnn_wgpu::{
    Block, Evaluator, Forecaster, Head, Inputs, Model, ModelConfig, Optimizer, Targets, TrainConfig, Trainer,
};

mod common;
use common::plot::{Scale, Series, line_chart};
use common::{BackendArg, CellArg, Result, Verdict, open_device};

/// Steps fed before forecasting, and steps forecast.
const PRIME: usize = 48;
const HORIZON: usize = 48;
/// Standard deviation of the observation noise.
const NOISE: f64 = 0.1;

/// Learn a noisy two-frequency sine and forecast it.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Where to train.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// Recurrent cell.
    #[arg(long, value_enum, default_value_t = CellArg::Gru)]
    cell: CellArg,
    /// Hidden units (one layer).
    #[arg(long, default_value_t = 32)]
    hidden: usize,
    /// Series per training block.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Steps per training block.
    #[arg(long, default_value_t = 64)]
    seq_len: usize,
    /// Training blocks (each a fresh batch of series).
    #[arg(long, default_value_t = 600)]
    steps: usize,
    /// The short mode CI runs: 250 steps.
    #[arg(long)]
    quick: bool,
    /// Adam learning rate.
    #[arg(long, default_value_t = 5e-3)]
    lr: f32,
    /// Seed of the weights and the data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where to draw one forecast.
    #[arg(long, default_value = "forecast.svg")]
    plot: PathBuf,
}

/// One series: the clean signal and the noisy observations of steps 0..len.
struct Series1 {
    clean: Vec<f64>,
    noisy: Vec<f64>,
}

fn series(rng: &mut ChaCha8Rng, len: usize) -> Series1 {
    let (p1, p2) = (rng.random::<f64>() * 2.0 * PI, rng.random::<f64>() * 2.0 * PI);
    let clean: Vec<f64> = (0..len)
        .map(|t| (2.0 * PI * t as f64 / 20.0 + p1).sin() + 0.5 * (2.0 * PI * t as f64 / 7.0 + p2).sin())
        .collect();
    let noisy = clean.iter().map(|c| c + NOISE * gaussian(rng)).collect();
    Series1 { clean, noisy }
}

/// A standard normal draw (Box–Muller).
fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let (u, v) = (1.0 - rng.random::<f64>(), rng.random::<f64>());
    (-2.0 * u.ln()).sqrt() * (2.0 * PI * v).cos()
}

/// A teacher-forced block `[T, B, 1]`: inputs x_0..x_{T-1}, targets x_1..x_T.
fn block(batch: &[Series1], steps: usize) -> Result<Block> {
    let b = batch.len();
    let (mut x, mut y) = (vec![0.0f32; steps * b], vec![0.0f32; steps * b]);
    for (s, series) in batch.iter().enumerate() {
        for t in 0..steps {
            x[t * b + s] = series.noisy[t] as f32;
            y[t * b + s] = series.noisy[t + 1] as f32;
        }
    }
    Ok(Block::with(steps, b, Inputs::Dense(x), Targets::Values(y))?)
}

fn mse(a: impl IntoIterator<Item = (f64, f64)>) -> f64 {
    let (sum, n) = a.into_iter().fold((0.0, 0usize), |(s, n), (p, q)| (s + (p - q) * (p - q), n + 1));
    sum / n as f64
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    if args.quick {
        args.steps = 250;
    }
    let started = Instant::now();
    let device = open_device(args.backend, None)?;
    let cell = args.cell.cell();
    let config = ModelConfig::dense(cell, 1, args.hidden, 1, Head::Linear { outputs: 1 });
    let model = Model::new(&device, &config, args.seed)?;
    let train = TrainConfig {
        batch: args.batch,
        bptt: args.seq_len,
        optimizer: Optimizer::adam(args.lr),
        clip_norm: Some(1.0),
        seed: args.seed,
    };
    let mut trainer = Trainer::new(model, train)?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut test_rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0x7e57);
    let test: Vec<Series1> =
        (0..4 * args.batch).map(|_| series(&mut test_rng, (args.seq_len + 1).max(PRIME + HORIZON))).collect();
    let test_blocks = test.chunks(args.batch).map(|c| block(c, args.seq_len)).collect::<Result<Vec<_>>>()?;
    let mut eval = Evaluator::new(trainer.model(), args.batch, args.seq_len)?;
    println!("device:   {}", device.name());
    println!(
        "model:    {} x {} hidden, linear head, MSE at every step; batch {}, seq-len {}, Adam {}, {} steps, seed {}",
        cell.name(),
        args.hidden,
        args.batch,
        args.seq_len,
        args.lr,
        args.steps,
        args.seed
    );
    // One-step MSE over held-out series, each from a zero state.
    let one_step = |eval: &mut Evaluator| -> Result<f64> {
        let mut total = 0.0;
        for b in &test_blocks {
            total += eval.evaluate([b])? as f64;
        }
        Ok(total / test_blocks.len() as f64)
    };
    println!("{:>6}  {:>10}  {:>14}", "step", "train MSE", "held-out MSE");
    let report = (args.steps / 5).max(1);
    for step in 1..=args.steps {
        let batch: Vec<Series1> = (0..args.batch).map(|_| series(&mut rng, args.seq_len + 1)).collect();
        trainer.reset_state()?;
        trainer.step(&block(&batch, args.seq_len)?)?;
        if step % report == 0 || step == args.steps {
            println!("{step:>6}  {:>10.4}  {:>14.4}", trainer.stats()?.loss, one_step(&mut eval)?);
        }
    }
    let model_mse = one_step(&mut eval)?;
    let persistence = mse(test.iter().flat_map(|s| (0..args.seq_len).map(|t| (s.noisy[t], s.noisy[t + 1]))));
    println!("one step ahead: MSE {model_mse:.4}; persistence x_t {persistence:.4}; noise floor {:.4}", NOISE * NOISE);

    // One-to-many: prime every held-out series, then feed predictions back.
    let n = test.len();
    let mut forecaster = Forecaster::new(trainer.model(), n)?;
    let prime: Vec<f32> = (0..PRIME).flat_map(|t| test.iter().map(move |s| s.noisy[t] as f32)).collect();
    let predicted = forecaster.generate(&prime, HORIZON)?;
    let test = &test;
    let pairs = |f: &dyn Fn(usize, usize) -> f64| -> Vec<(f64, f64)> {
        (0..HORIZON).flat_map(|k| (0..n).map(move |s| (f(k, s), test[s].clean[PRIME + k]))).collect()
    };
    let forecast_mse = mse(pairs(&|k, s| predicted[k * n + s] as f64));
    let last_value = mse(pairs(&|_, s| test[s].noisy[PRIME - 1]));
    let mean = mse(pairs(&|_, _| 0.0));
    println!(
        "{HORIZON}-step forecast after {PRIME} primed steps, MSE against the clean signal: {forecast_mse:.4}; \
         last value held {last_value:.4}; the mean 0 {mean:.4}"
    );
    for (k0, k1) in [(0, 8), (8, 24), (24, HORIZON)] {
        let part = mse(pairs(&|k, s| predicted[k * n + s] as f64).into_iter().skip(k0 * n).take((k1 - k0) * n));
        println!("  steps {:>2}..{k1:<2}  MSE {part:.4}", k0 + 1);
    }

    // Draw the first held-out series: observations, the clean signal, the forecast.
    let s = &test[0];
    let plot = [
        ("observed (noisy)", (0..PRIME).map(|t| (t as f64, s.noisy[t])).collect::<Vec<_>>(), false, 5),
        ("clean signal", (0..PRIME + HORIZON).map(|t| (t as f64, s.clean[t])).collect(), true, 1),
        ("forecast", (0..HORIZON).map(|k| ((PRIME + k) as f64, predicted[k * n] as f64)).collect(), false, 0),
    ];
    let series: Vec<Series> = plot
        .into_iter()
        .map(|(name, points, dashed, colour)| Series { name: name.into(), points, dashed, colour })
        .collect();
    let title = format!("{} forecast, {HORIZON} steps after {PRIME} observed", cell.name());
    line_chart(&args.plot, &title, "step", "x", &series, Scale::Linear)?;
    println!("forecast plot written to {}", args.plot.display());
    println!("{} steps on the {} in {:.1} s", args.steps, device.name(), started.elapsed().as_secs_f64());

    let mut verdict = Verdict::default();
    verdict.check(
        &format!("one-step MSE {model_mse:.4} <= half the persistence baseline {:.4}", persistence / 2.0),
        model_mse <= persistence / 2.0,
    );
    verdict.check(
        &format!("{HORIZON}-step forecast MSE {forecast_mse:.4} <= a quarter of the mean baseline {:.4}", mean / 4.0),
        forecast_mse <= mean / 4.0,
    );
    verdict.finish()
}
