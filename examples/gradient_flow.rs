//! The gradient-flow diagnostic: ‖∂L/∂h_t‖ against the distance from the
//! loss for a vanilla RNN, an LSTM and a GRU — the vanishing-gradient
//! picture — as a table on stdout and a log-scale plot (`--out`, SVG).
//!
//! The loss is the adding problem's (`common/adding.rs`): one squared error
//! at each sequence's last step, so the distance of step t from the loss is
//! T − 1 − t, and `Trainer::hidden_gradients` gives ∂L/∂h_t at every step
//! (all of it: through the recurrence and, for the LSTM, through c). Curves
//! are relative to distance 0, where the head's gradient enters.
//!
//! It measures fresh models of each cell (PyTorch's initialisation, the
//! geometric mean over `--seeds` of them) and any trained models given with `--model`,
//! such as the ones the `memory` example writes:
//!
//! ```text
//! cargo run --release --example gradient_flow                     # fresh models, T = 100
//! cargo run --release --example memory -- --backend cpu --quick
//! cargo run --release --example gradient_flow -- --len 50 \
//!     --model memory_rnn.safetensors --model memory_lstm.safetensors --model memory_gru.safetensors
//! ```
//!
//! Checks (non-zero exit unless all hold): every curve is finite at every
//! distance and non-zero one step from the loss; at initialisation every
//! cell's gradient has fallen below 10⁻³ of its start by distance T − 1;
//! among the `--model`s, each gated cell keeps at least 10⁻² of its gradient
//! over distances T/2 … T − 1 (geometric mean; a trained RNN's value there
//! depends on the seed, so it is shown, not checked); and
//! on a GPU, the CPU backend's curves agree with the GPU's within 0.1 %
//! (wherever ‖∂L/∂h_t‖ ≥ 10⁻³⁰, above f32's subnormals).

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use rnn_wgpu::{Block, Cell, Device, Head, Input, Model, ModelConfig, Optimizer, Readout, TrainConfig, Trainer};

mod common;
use common::flow::{self, Flow};
use common::{BackendArg, CELLS, Result, Verdict, adding, open_device, short_name};

/// ‖∂L/∂h_t‖ against the distance from the loss, for RNN, LSTM and GRU.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Where to run.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// Sequence length T.
    #[arg(long, default_value_t = 100)]
    len: usize,
    /// Hidden units of the fresh models.
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    /// Sequences per block (two blocks per model).
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Fresh models per cell whose curves are averaged.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// The short mode CI runs: 2 seeds.
    #[arg(long)]
    quick: bool,
    /// A trained model to measure too (dense input of 2 features, last-step
    /// readout, e.g. from the memory example); repeatable.
    #[arg(long = "model", value_name = "PATH")]
    models: Vec<PathBuf>,
    /// The plot to write.
    #[arg(long, default_value = "gradient_flow.svg")]
    out: PathBuf,
}

/// Mean curve of `model` over `blocks`.
fn curve(model: Model, blocks: &[Block], name: &str) -> Result<Flow> {
    let (batch, bptt) = (blocks[0].batch, blocks[0].steps);
    // Forward and backward only: the optimizer never runs.
    let train = TrainConfig { batch, bptt, optimizer: Optimizer::sgd(0.0, 0.0), clip_norm: None, seed: 0 };
    let mut trainer = Trainer::new(model, train)?;
    flow::measure(&mut trainer, blocks, 0, name)
}

/// Every curve of a run on `device`: the fresh cells' means, then the loaded models.
fn curves(args: &Args, device: &Device, blocks: &[Block]) -> Result<Vec<(Cell, bool, Flow)>> {
    let mut out = Vec::new();
    for cell in CELLS {
        let config = ModelConfig {
            readout: Readout::LastStep,
            ..ModelConfig::dense(cell, 1, args.hidden, 2, Head::Linear { outputs: 1 })
        };
        // The geometric mean over seeds: the curves span tens of decades.
        let mut log_mean = vec![0.0; args.len];
        for seed in 1..=args.seeds {
            let f = curve(Model::new(device, &config, seed)?, blocks, "")?;
            log_mean.iter_mut().zip(&f.norms).for_each(|(m, n)| *m += n.ln() / args.seeds as f64);
        }
        let norms = log_mean.iter().map(|m| m.exp()).collect();
        out.push((cell, false, Flow { name: format!("{} at init", short_name(cell)), norms }));
    }
    for path in &args.models {
        let (model, _) = Model::load(device, path)?;
        let c = *model.config();
        if c.input != (Input::Dense { features: 2 }) || c.readout != Readout::LastStep {
            return Err(format!(
                "{}: the diagnostic feeds the adding problem, so it needs dense input of 2 features and a last-step \
                 readout, not {:?} with {:?}",
                path.display(),
                c.input,
                c.readout
            )
            .into());
        }
        let name = path.file_stem().map_or("model".into(), |s| s.to_string_lossy().into_owned());
        out.push((c.cell, true, curve(model, blocks, &name)?));
    }
    Ok(out)
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    if args.quick {
        args.seeds = 2;
    }
    if args.len < 2 || args.seeds == 0 {
        return Err("need --len >= 2 and --seeds >= 1".into());
    }
    let started = Instant::now();
    let device = open_device(args.backend, None)?;
    println!("device:   {}", device.name());
    println!(
        "loss:     the adding problem's squared error at the last of T = {} steps; {} sequences; fresh models: \
         1 layer x {} hidden, mean of {} seeds",
        args.len,
        2 * args.batch,
        args.hidden,
        args.seeds
    );
    let mut rng = adding::rng(0x9f10);
    let blocks: Vec<Block> = (0..2).map(|_| adding::block(&mut rng, args.len, args.batch)).collect();
    let runs = curves(&args, &device, &blocks)?;
    let flows: Vec<&Flow> = runs.iter().map(|(_, _, f)| f).collect();
    flow::print_table(&flows);
    let dashed: Vec<bool> = runs.iter().map(|(_, trained, _)| !trained).collect();
    let colours: Vec<usize> =
        runs.iter().map(|(cell, _, _)| CELLS.iter().position(|c| c == cell).unwrap_or(3)).collect();
    let title = format!("Gradient flow, T = {}: fresh (dashed) and trained models", args.len);
    flow::plot(&args.out, &title, &flows, &dashed, &colours)?;
    println!(
        "plot written to {}; {:.1} s on the {}",
        args.out.display(),
        started.elapsed().as_secs_f64(),
        device.name()
    );

    let mut verdict = Verdict::default();
    for (_, _, f) in &runs {
        // Far from the loss a gradient may underflow to 0 (a saturated tanh's 1 - h² is 0 in f32).
        let r = f.relative();
        let fine = r.len() == args.len && r.iter().all(|r| r.is_finite() && *r >= 0.0) && r[1] > 0.0;
        verdict.check(&format!("{}: finite at all {} distances, non-zero at distance 1", f.name, args.len), fine);
    }
    for (_, _, f) in runs.iter().filter(|(_, trained, _)| !trained) {
        let end = f.relative()[args.len - 1];
        verdict.check(&format!("{}: vanishes, {end:.1e} < 1e-3 at distance {}", f.name, args.len - 1), end < 1e-3);
    }
    // A trained gated cell (e.g. memory's) must carry a usable gradient to the far half.
    for (_, _, gated) in runs.iter().filter(|(c, t, _)| *t && matches!(c, Cell::Lstm | Cell::Gru)) {
        let g = gated.reach(args.len / 2);
        verdict.check(
            &format!(
                "{} carries >= {:.0e} of its gradient T/2 and more steps back ({g:.1e})",
                gated.name,
                flow::CARRIED
            ),
            g >= flow::CARRIED,
        );
    }
    if device.is_gpu() {
        let cpu = curves(&args, &Device::cpu(), &blocks)?;
        let worst = runs
            .iter()
            .zip(&cpu)
            .flat_map(|((_, _, g), (_, _, c))| g.norms.iter().zip(&c.norms))
            // Below that, f32 subnormals appear, which a GPU may flush to zero.
            .filter(|(_, c)| **c >= 1e-30)
            .map(|(g, c)| (g - c).abs() / c)
            .fold(0.0f64, f64::max);
        verdict.check(
            &format!(
                "the CPU backend's curves agree with the GPU's where ‖∂L/∂h‖ >= 1e-30 (worst relative difference \
                 {worst:.1e} <= 1e-3)"
            ),
            worst <= 1e-3,
        );
    }
    verdict.finish()
}
