//! The gradient-flow diagnostic: ‖∂L/∂h_t‖ against the distance from the
//! loss, for a model whose loss reads each sequence's last step. How fast
//! it falls with the distance is how little a step far from the loss can
//! learn from it — the vanishing-gradient picture.

use std::path::Path;

use rnn_wgpu::{Block, Readout, Trainer};

use super::Result;
use super::plot::{Scale, Series, line_chart};

/// A relative gradient ([`Flow::reach`]) below this far from the loss: nothing
/// usable arrives (every cell at initialisation, at T = 50 or more).
pub const VANISHED: f64 = 1e-4;
/// What a trained gated cell that solved a long-range task must still carry there.
pub const CARRIED: f64 = 1e-2;

/// One model's curve: `norms[d]` is the mean over streams and blocks of
/// ‖∂L/∂h_t‖ at distance d = len − 1 − t from the step the loss reads.
pub struct Flow {
    pub name: String,
    pub norms: Vec<f64>,
}

impl Flow {
    /// The curve relative to its value at distance 0 (where the head's
    /// gradient enters), so models with losses of different sizes compare.
    pub fn relative(&self) -> Vec<f64> {
        let at0 = self.norms[0];
        self.norms.iter().map(|n| n / at0).collect()
    }

    /// The geometric mean of the relative curve over distances `from..`:
    /// how much gradient reaches that far, on the log scale it decays on
    /// (0 when it underflows anywhere there). See [`VANISHED`] and [`CARRIED`].
    pub fn reach(&self, from: usize) -> f64 {
        let far = &self.relative()[from..];
        (far.iter().map(|r| r.ln()).sum::<f64>() / far.len() as f64).exp()
    }
}

/// Measures layer `layer`'s curve over `blocks` (forward and backward only:
/// no update; each block starts from a zero state). The trainer's model
/// must read the last step (`Readout::LastStep`), so the distance from the
/// loss is defined.
pub fn measure(trainer: &mut Trainer, blocks: &[Block], layer: usize, name: &str) -> Result<Flow> {
    let config = *trainer.model().config();
    if config.readout != Readout::LastStep {
        return Err("the gradient-flow diagnostic needs a last-step readout (one loss per sequence)".into());
    }
    let (steps, batch, hidden) = (trainer.config().bptt, trainer.config().batch, config.hidden);
    let (mut sums, mut counts) = (vec![0.0f64; steps], vec![0usize; steps]);
    for block in blocks {
        trainer.reset_state()?;
        trainer.compute_gradients(block)?;
        // [directions, T, B, H]: the forward direction comes first.
        let dh = trainer.hidden_gradients(layer)?;
        for b in 0..batch {
            let len = block.lengths.as_ref().map_or(steps, |l| l[b] as usize);
            for t in 0..len {
                let row = &dh[(t * batch + b) * hidden..(t * batch + b + 1) * hidden];
                let norm = row.iter().map(|&g| g as f64 * g as f64).sum::<f64>().sqrt();
                sums[len - 1 - t] += norm;
                counts[len - 1 - t] += 1;
            }
        }
    }
    let norms = sums.iter().zip(&counts).take_while(|(_, c)| **c > 0).map(|(s, &c)| s / c as f64).collect();
    Ok(Flow { name: name.to_string(), norms })
}

/// Distances worth a row: 0, 1, 2, 5, 10, 20, 50, … up to the last.
pub fn table_distances(len: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut decade = 1;
    'outer: loop {
        for m in [1, 2, 5] {
            let d = m * decade;
            if d >= len {
                break 'outer;
            }
            out.push(d);
        }
        decade *= 10;
    }
    out.insert(0, 0);
    out.push(len / 2);
    out.push(len - 1);
    out.sort_unstable();
    out.dedup();
    out
}

/// Prints the curves as a table: ‖∂L/∂h‖ at distance 0, then relative to it.
pub fn print_table(flows: &[&Flow]) {
    let len = flows.iter().map(|f| f.norms.len()).min().unwrap_or(0);
    if len == 0 {
        return;
    }
    print!("{:>22}", "distance from the loss");
    flows.iter().for_each(|f| print!("  {:>12}", f.name));
    println!();
    print!("{:>22}", "‖∂L/∂h‖ at 0");
    flows.iter().for_each(|f| print!("  {:>12.3e}", f.norms[0]));
    println!();
    for d in table_distances(len) {
        print!("{:>22}", format!("{d} (relative)"));
        flows.iter().for_each(|f| print!("  {:>12.3e}", f.relative()[d]));
        println!();
    }
}

/// Writes the relative curves on a log scale; `dashed[i]` draws curve i dashed
/// and `colours[i]` picks its colour (curves of one cell share one).
pub fn plot(path: &Path, title: &str, flows: &[&Flow], dashed: &[bool], colours: &[usize]) -> Result<()> {
    let series: Vec<Series> = flows
        .iter()
        .enumerate()
        .map(|(i, f)| Series {
            name: f.name.clone(),
            points: f.relative().iter().enumerate().map(|(d, &r)| (d as f64, r)).collect(),
            dashed: dashed.get(i).copied().unwrap_or(false),
            colour: colours.get(i).copied().unwrap_or(i),
        })
        .collect();
    line_chart(path, title, "distance from the loss (steps)", "‖∂L/∂h_t‖ / ‖∂L/∂h_T‖", &series, Scale::Log)
}
