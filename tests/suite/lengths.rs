//! Variable-length sequences and the last-step readout: a padded stream
//! trains exactly as it would alone, on both backends.

use rnn_wgpu::{
    Block, Cell, Device, Head, Inputs, Model, ModelConfig, Optimizer, Readout, Targets, TrainConfig, Trainer,
};

use super::common::{BALANCED, assert_close, backends, gpu, random_values};

const FEATURES: usize = 3;

fn trainer(device: &Device, config: &ModelConfig, steps: usize, batch: usize) -> Trainer {
    let model = Model::new(device, config, 4).unwrap();
    let train = TrainConfig { batch, bptt: steps, optimizer: Optimizer::sgd(0.0, 0.0), clip_norm: None, seed: 0 };
    Trainer::new(model, train).unwrap()
}

/// Steps `0..len` of stream `b` of `[T, B, F]` features.
fn stream(x: &[f32], batch: usize, b: usize, len: usize) -> Vec<f32> {
    (0..len).flat_map(|t| x[(t * batch + b) * FEATURES..(t * batch + b + 1) * FEATURES].to_vec()).collect()
}

/// (loss, gradients, final h, final c) after one block.
fn run(t: &mut Trainer, block: &Block) -> (f32, Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
    t.compute_gradients(block).unwrap();
    let c = (t.model().config().cell == Cell::Lstm).then(|| t.cell_state().unwrap());
    (t.stats().unwrap().loss, t.gradients().unwrap(), t.hidden_state().unwrap(), c)
}

#[test]
fn a_padded_stream_gives_the_loss_gradients_and_state_it_gives_alone() {
    let (steps, batch, lengths) = (6, 3, [4usize, 6, 2]);
    let x = random_values(steps * batch * FEATURES, 1.0, 8);
    for device in backends() {
        for (cell, head, readout) in [
            (Cell::Lstm, Head::Sigmoid { outputs: 2 }, Readout::LastStep),
            (Cell::Gru, Head::Linear { outputs: 2 }, Readout::EveryStep),
            (Cell::RnnTanh, Head::Softmax { classes: 3 }, Readout::LastStep),
        ] {
            let config = ModelConfig { readout, ..ModelConfig::dense(cell, 2, 8, FEATURES, head) };
            let name = format!("{} {cell:?} {head:?} {readout:?}", device.name());
            let rows = if readout == Readout::LastStep { batch } else { steps * batch };
            let y = random_values(rows * head.width(), 0.5, 9).iter().map(|v| v + 0.5).collect::<Vec<f32>>();
            let targets_of = |rows: Vec<usize>| match head {
                Head::Softmax { classes } => {
                    Targets::Classes(rows.iter().map(|&r| (y[r] * classes as f32) as u32 % classes as u32).collect())
                }
                _ => Targets::Values(rows.iter().flat_map(|&r| y[r * 2..r * 2 + 2].to_vec()).collect()),
            };
            let all_rows: Vec<usize> = (0..rows).collect();
            let block = Block::with(steps, batch, Inputs::Dense(x.clone()), targets_of(all_rows))
                .unwrap()
                .with_lengths(lengths.iter().map(|&l| l as u32).collect())
                .unwrap();
            let mut together = trainer(&device, &config, steps, batch);
            let (loss, grads, h, c) = run(&mut together, &block);

            // Each stream alone, in a block of its own length; the batch's mean is
            // the alone means weighted by each stream's share of the loss terms.
            let terms: Vec<usize> = lengths.iter().map(|&l| if readout == Readout::LastStep { 1 } else { l }).collect();
            let total: usize = terms.iter().sum();
            let (mut want_loss, mut want_grads) = (0.0, vec![0.0; grads.len()]);
            let hidden = config.hidden;
            for (b, &len) in lengths.iter().enumerate() {
                let rows_b: Vec<usize> = match readout {
                    Readout::LastStep => vec![b],
                    Readout::EveryStep => (0..len).map(|t| t * batch + b).collect(),
                };
                let alone = Block::with(len, 1, Inputs::Dense(stream(&x, batch, b, len)), targets_of(rows_b)).unwrap();
                let mut t = trainer(&device, &config, len, 1);
                let (l, g, h_b, c_b) = run(&mut t, &alone);
                let share = terms[b] as f32 / total as f32;
                want_loss += share * l;
                want_grads.iter_mut().zip(&g).for_each(|(w, g)| *w += share * g);
                for layer in 0..2 {
                    let at = (layer * batch + b) * hidden;
                    let got = &h[at..at + hidden];
                    assert_close(
                        &format!("{name}: final h of stream {b}, layer {layer}"),
                        got,
                        &h_b[layer * hidden..(layer + 1) * hidden],
                        BALANCED,
                    );
                    if let (Some(c), Some(c_b)) = (&c, &c_b) {
                        let got = &c[at..at + hidden];
                        assert_close(
                            &format!("{name}: final c of stream {b}"),
                            got,
                            &c_b[layer * hidden..(layer + 1) * hidden],
                            BALANCED,
                        );
                    }
                }
            }
            assert_close(&format!("{name}: loss"), &[loss], &[want_loss], BALANCED);
            assert_close(&format!("{name}: gradients"), &grads, &want_grads, BALANCED);
        }
    }
}

#[test]
fn gpu_matches_cpu_with_lengths_and_last_step_readout() {
    let Some(gpu) = gpu() else { return };
    let head = Head::Softmax { classes: 4 };
    let config = ModelConfig { readout: Readout::LastStep, ..ModelConfig::dense(Cell::Lstm, 2, 16, FEATURES, head) };
    let block =
        Block::with(7, 4, Inputs::Dense(random_values(7 * 4 * FEATURES, 1.0, 3)), Targets::Classes(vec![0, 3, 1, 2]))
            .unwrap()
            .with_lengths(vec![7, 1, 4, 5])
            .unwrap();
    let cpu = run(&mut trainer(&Device::cpu(), &config, 7, 4), &block);
    let got = run(&mut trainer(&gpu, &config, 7, 4), &block);
    assert_close("loss", &[got.0], &[cpu.0], BALANCED);
    assert_close("gradients", &got.1, &cpu.1, BALANCED);
    assert_close("final h", &got.2, &cpu.2, BALANCED);
}

#[test]
fn bad_lengths_and_target_rows_are_refused() {
    let head = Head::Sigmoid { outputs: 1 };
    let x = || Inputs::Dense(vec![0.5; 4 * 2 * FEATURES]);
    let block = Block::with(4, 2, x(), Targets::Values(vec![1.0, 0.0])).unwrap();
    assert!(block.clone().with_lengths(vec![0, 4]).is_err(), "length 0");
    assert!(block.clone().with_lengths(vec![5, 4]).is_err(), "length past the block");
    assert!(block.clone().with_lengths(vec![4]).is_err(), "one length for two streams");
    // Two target rows suit a last-step model, not an every-step one.
    let every = ModelConfig::dense(Cell::Gru, 1, 4, FEATURES, head);
    let last = ModelConfig { readout: Readout::LastStep, ..every };
    let device = Device::cpu();
    assert!(trainer(&device, &every, 4, 2).step(&block).is_err(), "[B] targets for an every-step model");
    trainer(&device, &last, 4, 2).step(&block).unwrap();
}
