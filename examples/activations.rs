//! Seeing inside a character model, as in Karpathy's "The Unreasonable
//! Effectiveness of Recurrent Neural Networks": an HTML page showing a text
//! with each character coloured by one hidden unit's activation h_t[j]
//! after reading it (blue −1, white 0, red +1).
//!
//! The model is trained here on `--text` (default: the embedded Tiny
//! Shakespeare) or loaded from a `char_lm` checkpoint (`--checkpoint`). The
//! activations of every step come from one call, `Model::layer_outputs`,
//! over an excerpt of the held-out text. The unit is `--layer L --unit J`,
//! or picked automatically: the unit whose activation is most correlated
//! (Pearson r) with a feature of the text, by `--feature`:
//! inside "quotes", inside (parentheses), on a line in capitals (Tiny
//! Shakespeare's speaker names: it has no quotes or parentheses), or the
//! position in the line; `auto` takes the first of those the text has.
//!
//! ```text
//! cargo run --release --example activations                      # trains 1,000 steps, writes activations.html
//! cargo run --release --example activations -- --backend cpu --quick
//! cargo run --release --example activations -- --checkpoint char_lm.safetensors --feature line-position
//! ```
//!
//! When it trained, it checks that the validation loss fell by at least
//! 1 nat, and, when it picked the unit, that |r| >= 0.5; otherwise it exits
//! non-zero.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use rnn_wgpu::{Cell, Evaluator, Inputs, Model, ModelConfig, Optimizer, Streams, TrainConfig, Trainer, Vocab, split};

mod common;
use common::{BackendArg, Result, Verdict, open_device};

const SHAKESPEARE: &str = include_str!("../data/tinyshakespeare.txt");

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Feature {
    /// The first of quotes, parens, caps-line that the text has.
    Auto,
    /// Between a pair of double quotes.
    Quotes,
    /// Inside parentheses (at any depth).
    Parens,
    /// On a line with letters, all of them capitals.
    CapsLine,
    /// Characters since the last newline.
    LinePosition,
}

/// Colour a text by a hidden unit of a character model.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Where to run.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// Train on this UTF-8 text file instead of the embedded Tiny Shakespeare.
    #[arg(long, value_name = "PATH")]
    text: Option<PathBuf>,
    /// Load this char_lm checkpoint instead of training.
    #[arg(long, value_name = "PATH")]
    checkpoint: Option<PathBuf>,
    /// Training blocks of 32 x 64 characters (when not loading a checkpoint).
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// The short mode CI runs: 300 steps of a 64-unit LSTM.
    #[arg(long)]
    quick: bool,
    /// Hidden units of the LSTM trained here (one layer).
    #[arg(long, default_value_t = 128)]
    hidden: usize,
    /// What the picked unit should follow.
    #[arg(long, value_enum, default_value_t = Feature::Auto)]
    feature: Feature,
    /// Show this layer's unit --unit instead of picking one.
    #[arg(long, requires = "unit")]
    layer: Option<usize>,
    #[arg(long, requires = "layer")]
    unit: Option<usize>,
    /// Characters of held-out text to run over (the correlation uses all of them).
    #[arg(long, default_value_t = 4000)]
    chars: usize,
    /// Characters shown on the page.
    #[arg(long, default_value_t = 1500)]
    show: usize,
    /// Seed of the weights.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The page to write.
    #[arg(long, default_value = "activations.html")]
    out: PathBuf,
}

/// The feature's value at each character: 1/0 for an indicator, the count for the position.
fn feature_values(feature: Feature, text: &[char]) -> Vec<f64> {
    let (mut inside, mut depth, mut column) = (false, 0usize, 0usize);
    let mut caps_line = Vec::with_capacity(text.len());
    for line in text.split(|&c| c == '\n') {
        let caps = line.iter().any(|c| c.is_alphabetic()) && !line.iter().any(|c| c.is_lowercase());
        caps_line.extend(std::iter::repeat_n(caps, line.len() + 1));
    }
    text.iter()
        .enumerate()
        .map(|(i, &c)| match feature {
            // A quote character belongs to the quote it opens or closes.
            Feature::Quotes => {
                let was = inside;
                inside ^= c == '"';
                f64::from(u8::from(was || inside))
            }
            Feature::Parens => {
                depth += usize::from(c == '(');
                let v = f64::from(u8::from(depth > 0));
                depth = depth.saturating_sub(usize::from(c == ')'));
                v
            }
            Feature::CapsLine => f64::from(u8::from(caps_line[i] && c != '\n')),
            Feature::LinePosition => {
                column = if c == '\n' { 0 } else { column + 1 };
                column as f64
            }
            Feature::Auto => unreachable!("resolved before"),
        })
        .collect()
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        (sxy, sxx, syy) = (sxy + (a - mx) * (b - my), sxx + (a - mx).powi(2), syy + (b - my).powi(2));
    }
    if sxx == 0.0 || syy == 0.0 { 0.0 } else { sxy / (sxx * syy).sqrt() }
}

/// Trains a one-layer LSTM on `train` and reports the validation loss before and after.
fn train_model(args: &Args, device: &rnn_wgpu::Device, vocab: &Vocab, tokens: &[u32]) -> Result<(Model, f32, f32)> {
    let (train, valid) = split(tokens, 0.1)?;
    let (batch, steps) = (32, 64);
    let streams = Streams::new(train, batch, steps)?;
    let valid_streams = Streams::new(valid, batch, steps)?;
    let valid_blocks: Vec<_> = (0..valid_streams.len().min(10)).map(|i| valid_streams.block(i)).collect();
    let config = ModelConfig::char_lm(Cell::Lstm, 1, args.hidden, vocab.len());
    let optimizer = Optimizer::adam(3e-3);
    let model = Model::new(device, &config, args.seed)?;
    let mut trainer =
        Trainer::new(model, TrainConfig { batch, bptt: steps, optimizer, clip_norm: Some(5.0), seed: args.seed })?;
    let mut evaluator = Evaluator::new(trainer.model(), batch, steps)?;
    let before = evaluator.evaluate(&valid_blocks)?;
    println!(
        "training: lstm x {} hidden, batch {batch}, seq-len {steps}, Adam 3e-3, {} steps",
        args.hidden, args.steps
    );
    for step in 0..args.steps {
        if step % streams.len() == 0 {
            trainer.reset_state()?;
        }
        trainer.step(&streams.block(step % streams.len()))?;
        if (step + 1) % (args.steps / 4).max(1) == 0 {
            println!("  step {:>5}  train loss {:.4}", step + 1, trainer.stats()?.loss);
        }
    }
    let after = evaluator.evaluate(&valid_blocks)?;
    println!("validation loss {before:.4} -> {after:.4}");
    Ok((trainer.into_model(), before, after))
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    if args.quick {
        (args.steps, args.hidden) = (300, 64);
    }
    let started = Instant::now();
    let device = open_device(args.backend, None)?;
    println!("device:   {}", device.name());
    let text = match &args.text {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        None => SHAKESPEARE.to_string(),
    };
    let mut verdict = Verdict::default();
    let (model, vocab) = match &args.checkpoint {
        Some(path) => {
            let (model, vocab) = Model::load(&device, path)?;
            println!("model:    {:?} from {}", model.config(), path.display());
            (model, vocab.ok_or("the checkpoint has no vocabulary")?)
        }
        None => {
            let vocab = Vocab::from_text(&text)?;
            let (model, before, after) = train_model(&args, &device, &vocab, &vocab.encode(&text)?)?;
            verdict.check(&format!("validation loss fell by >= 1 ({before:.3} -> {after:.3})"), after <= before - 1.0);
            (model, vocab)
        }
    };

    // The excerpt: held-out text from a line start, every character in the vocabulary.
    let held_out: String = text.chars().skip(text.chars().count() * 9 / 10).collect();
    let start = held_out.find("\n\n").map_or(0, |i| i + 2);
    let excerpt: Vec<char> = held_out[start..].chars().take(args.chars).collect();
    let excerpt_str: String = excerpt.iter().collect();
    let ids =
        vocab.encode(&excerpt_str).map_err(|e| format!("the excerpt does not fit the model's vocabulary: {e}"))?;
    let timer = Instant::now();
    let layers = model.layer_outputs(&Inputs::Tokens(ids))?;
    let width = model.config().output_width();
    println!(
        "activations: {} layer(s) x {} steps x {width} units in {:.2} s",
        layers.len(),
        excerpt.len(),
        timer.elapsed().as_secs_f64()
    );
    let unit_values =
        |l: usize, j: usize| -> Vec<f64> { (0..excerpt.len()).map(|t| layers[l][t * width + j] as f64).collect() };

    let feature = match args.feature {
        Feature::Auto if excerpt.iter().filter(|&&c| c == '"').count() >= 10 => Feature::Quotes,
        Feature::Auto if excerpt.contains(&'(') => Feature::Parens,
        Feature::Auto => Feature::CapsLine,
        f => f,
    };
    let target = feature_values(feature, &excerpt);
    // Every unit's r with the feature, strongest first.
    let mut ranked: Vec<(usize, usize, f64)> = (0..layers.len())
        .flat_map(|l| (0..width).map(move |j| (l, j)))
        .map(|(l, j)| (l, j, pearson(&unit_values(l, j), &target)))
        .collect();
    ranked.sort_by(|a, b| b.2.abs().total_cmp(&a.2.abs()));
    println!("feature {feature:?}: units most correlated with it (layer, unit, r):");
    for (l, j, r) in ranked.iter().take(5) {
        println!("  layer {l} unit {j:>3}  r = {r:+.3}");
    }
    let (layer, unit, r) = match (args.layer, args.unit) {
        (Some(l), Some(j)) if l < layers.len() && j < width => (l, j, pearson(&unit_values(l, j), &target)),
        (Some(l), Some(j)) => return Err(format!("no layer {l} unit {j}: {} layers of {width}", layers.len()).into()),
        _ => {
            let (l, j, r) = ranked[0];
            let enough = if feature == Feature::LinePosition { 0.3 } else { 0.5 };
            verdict.check(
                &format!("the picked unit follows the feature: |r| = {:.3} >= {enough}", r.abs()),
                r.abs() >= enough,
            );
            (l, j, r)
        }
    };
    let values = unit_values(layer, unit);
    let shown = args.show.min(excerpt.len());
    std::fs::write(&args.out, page(&excerpt[..shown], &values, &target, feature, (layer, unit, r), &ranked, &model))?;
    println!(
        "layer {layer} unit {unit} (r = {r:+.3} with {feature:?}) over {shown} characters written to {}",
        args.out.display()
    );
    println!("total {:.1} s on the {}", started.elapsed().as_secs_f64(), device.name());
    verdict.finish()
}

/// The page: the chosen unit's colouring, the feature underlined, and the best units.
fn page(
    text: &[char],
    values: &[f64],
    feature: &[f64],
    name: Feature,
    (layer, unit, r): (usize, usize, f64),
    ranked: &[(usize, usize, f64)],
    model: &Model,
) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>rnn-wgpu activations</title><style>\n",
    );
    html += "body{font-family:sans-serif;max-width:60em;margin:2em auto}\n";
    html += ".text{font-family:monospace;white-space:pre-wrap;line-height:1.6;border:1px solid #ccc;padding:1em}\n";
    html += ".on{border-bottom:2px solid #2a2}\n</style></head><body>\n";
    let c = model.config();
    let _ = writeln!(
        html,
        "<h1>Layer {layer}, unit {unit}</h1>\n<p>{} x {} layer(s) of {} units. Each character is coloured by h<sub>t</sub>[{unit}] \
         after reading it: <span style=\"background:#55f\">&nbsp;−1&nbsp;</span> … white 0 … \
         <span style=\"background:#f55\">&nbsp;+1&nbsp;</span>. Underlined: the feature <b>{name:?}</b>; Pearson r = {r:+.3}.</p>",
        c.cell.name(),
        c.layers,
        c.hidden
    );
    html += "<div class=\"text\">";
    let scale = if name == Feature::LinePosition { 0.0 } else { 1.0 };
    for (i, &ch) in text.iter().enumerate() {
        let a = values[i].clamp(-1.0, 1.0);
        let fade = (255.0 * (1.0 - a.abs())) as u8;
        let (r, g, b) = if a >= 0.0 { (255, fade, fade) } else { (fade, fade, 255) };
        let class = if feature[i] * scale > 0.5 { " class=\"on\"" } else { "" };
        let shown = match ch {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '\n' => "⏎\n".to_string(),
            c => c.to_string(),
        };
        let _ = write!(
            html,
            "<span{class} style=\"background:rgb({r},{g},{b})\" title=\"{:+.3}\">{shown}</span>",
            values[i]
        );
    }
    html += "</div>\n<h2>Units most correlated with the feature</h2>\n<table><tr><th>layer</th><th>unit</th><th>r</th></tr>\n";
    for (l, j, r) in ranked.iter().take(10) {
        let _ = writeln!(html, "<tr><td>{l}</td><td>{j}</td><td>{r:+.3}</td></tr>");
    }
    html + "</table>\n</body></html>\n"
}
