//! Analytic gradients of the CPU backend, in f64, against central finite
//! differences of the loss, for every parameter tensor of every cell kind,
//! and for dense inputs under each head.

use rnn_wgpu::reference::loss_and_gradients;
use rnn_wgpu::{Block, Cell, Head, ModelConfig, ParamLayout};

use super::common::{dense_block, random_block, random_values, small};

/// Central differences with h = 1e-6 in f64: truncation error ~h²·|L'''| and
/// round-off ~1e-16·|L|/h are both below 1e-9, so 1e-6 relative (1e-8
/// absolute) separates a wrong gradient from a right one by orders of magnitude.
const H: f64 = 1e-6;
const REL: f64 = 1e-6;
const ABS: f64 = 1e-8;

fn check(cell: Cell) {
    check_model(&small(cell, 2, 5, 7), &random_block(4, 3, 7, 11));
}

/// Every gradient of `config` on `block` (4 steps, 3 streams, hidden 5, 2 layers)
/// against central differences.
fn check_model(config: &ModelConfig, block: &Block) {
    let (cell, config) = (config.cell, *config);
    let layout = ParamLayout::new(&config);
    let params: Vec<f64> = layout.init(config.hidden, 3).iter().map(|&x| x as f64 * 2.0).collect();
    // A non-zero carried state (h, and c for LSTM), so the gradient through it is exercised.
    let to64 = |v: Vec<f32>| v.into_iter().map(|x| x as f64).collect::<Vec<f64>>();
    let state = 2 * config.directions() * 3 * 5;
    let h0 = to64(random_values(state, 0.5, 5));
    let c0 = to64(random_values(state, 0.5, 6));
    let c0 = (cell == Cell::Lstm).then_some(&c0[..]);
    let loss = |p: &[f64]| loss_and_gradients(&config, p, block, Some(&h0), c0, 0).unwrap().loss;
    let grads = loss_and_gradients(&config, &params, block, Some(&h0), c0, 0).unwrap().grads;
    for tensor in layout.tensors() {
        let mut worst = 0.0f64;
        for i in tensor.range() {
            let mut p = params.clone();
            p[i] = params[i] + H;
            let up = loss(&p);
            p[i] = params[i] - H;
            let down = loss(&p);
            let numeric = (up - down) / (2.0 * H);
            let err = (grads[i] - numeric).abs();
            assert!(
                err <= ABS + REL * numeric.abs(),
                "{:?} {:?} {:?} {}[{}]: analytic {} vs numeric {} (tolerance rel {REL} abs {ABS})",
                cell,
                config.input,
                config.head,
                tensor.name,
                i - tensor.offset,
                grads[i],
                numeric
            );
            worst = worst.max(err / (ABS + numeric.abs()));
        }
        eprintln!("{cell:?} {:?} {:>14}: worst relative error {worst:.2e}", config.head, tensor.name);
    }
}

#[test]
fn cpu_rnn_tanh_gradients_match_finite_differences() {
    check(Cell::RnnTanh);
}

#[test]
fn cpu_rnn_relu_gradients_match_finite_differences() {
    check(Cell::RnnRelu);
}

#[test]
fn cpu_lstm_gradients_match_finite_differences() {
    check(Cell::Lstm);
}

#[test]
fn cpu_gru_gradients_match_finite_differences() {
    check(Cell::Gru);
}

/// Dense input (one GEMM over all positions, its weight gradient a GEMM too)
/// under each head's loss.
#[test]
fn cpu_dense_input_gradients_under_every_head_match_finite_differences() {
    let heads = [Head::Softmax { classes: 4 }, Head::Sigmoid { outputs: 3 }, Head::Linear { outputs: 2 }];
    for (i, head) in heads.into_iter().enumerate() {
        let cell = [Cell::Lstm, Cell::Gru, Cell::RnnTanh][i];
        let config = ModelConfig::dense(cell, 2, 5, 6, head);
        check_model(&config, &dense_block(4, 3, 6, head, 20 + i as u64));
    }
}

/// Variable lengths (padding neither in the loss nor in the state) with the
/// loss at every valid step and at each sequence's last step.
#[test]
fn cpu_gradients_with_lengths_and_last_step_readout_match_finite_differences() {
    use rnn_wgpu::{Inputs, Readout, Targets};
    let lengths = vec![2, 4, 3];
    // Tokens, softmax at the last step.
    let config = ModelConfig { readout: Readout::LastStep, ..small(Cell::Lstm, 2, 5, 7) };
    let tokens = random_block(4, 3, 7, 11);
    let block = Block::with(4, 3, tokens.inputs, Targets::Classes(vec![1, 6, 3])).unwrap();
    check_model(&config, &block.with_lengths(lengths.clone()).unwrap());
    // Dense, sigmoid at the last step.
    let head = Head::Sigmoid { outputs: 2 };
    let config = ModelConfig { readout: Readout::LastStep, ..ModelConfig::dense(Cell::Gru, 2, 5, 3, head) };
    let Inputs::Dense(x) = dense_block(4, 3, 3, head, 5).inputs else { unreachable!("dense") };
    let block = Block::with(4, 3, Inputs::Dense(x), Targets::Values(vec![1.0, 0.0, 0.25, 0.5, 0.0, 1.0])).unwrap();
    check_model(&config, &block.with_lengths(lengths.clone()).unwrap());
    // Dense, linear at every valid step.
    let head = Head::Linear { outputs: 2 };
    let config = ModelConfig::dense(Cell::RnnTanh, 2, 5, 3, head);
    check_model(&config, &dense_block(4, 3, 3, head, 9).with_lengths(lengths).unwrap());
}

/// Bidirectional layers (the reverse direction reads each stream backwards
/// from its last valid step), with lengths, under both readouts and inputs.
#[test]
fn cpu_bidirectional_gradients_match_finite_differences() {
    use rnn_wgpu::{Readout, Targets};
    let lengths = vec![3, 4, 1];
    let tokens = random_block(4, 3, 7, 13);
    let config = ModelConfig { bidirectional: true, dropout: 0.0, ..small(Cell::Gru, 2, 5, 7) };
    check_model(&config, &tokens.clone().with_lengths(lengths.clone()).unwrap());
    let config = ModelConfig { readout: Readout::LastStep, ..config };
    let block = Block::with(4, 3, tokens.inputs, Targets::Classes(vec![2, 0, 5])).unwrap();
    check_model(&config, &block.with_lengths(lengths.clone()).unwrap());
    // Dense input, a linear head, and dropout between the layers (on both directions' output).
    let head = Head::Linear { outputs: 2 };
    let config = ModelConfig { bidirectional: true, dropout: 0.4, ..ModelConfig::dense(Cell::Lstm, 2, 5, 3, head) };
    check_model(&config, &dense_block(4, 3, 3, head, 7).with_lengths(lengths).unwrap());
}
