//! Seeing inside: every layer's activations and ∂L/∂h_t per step are what
//! the network computed — ∂W_hh rebuilt from them matches the trainer's.

use rnn_wgpu::{Cell, Device, Evaluator, Head, Model, ModelConfig, Optimizer, ParamLayout, TrainConfig, Trainer};

use super::common::{BALANCED, assert_close, backends, dense_block, gpu};

fn trainer(device: &Device, config: &ModelConfig) -> Trainer {
    let model = Model::new(device, config, 5).unwrap();
    let train = TrainConfig { batch: 3, bptt: 6, optimizer: Optimizer::sgd(0.0, 0.0), clip_norm: None, seed: 0 };
    Trainer::new(model, train).unwrap()
}

/// For a tanh RNN, ∂L/∂W_hh = Σ_t (∂L/∂h_t ⊙ (1 - h_t²)) ⊗ h_{t-1}: rebuilt
/// from `hidden_gradients` and `layer_outputs` it equals the trainer's own
/// gradient, so ∂L/∂h_t is the whole gradient at every step (recurrence
/// included), for both layers.
#[test]
fn weight_gradient_rebuilt_from_hidden_gradients_matches() {
    let head = Head::Linear { outputs: 2 };
    let config = ModelConfig::dense(Cell::RnnTanh, 2, 4, 3, head);
    let (t_len, b, h) = (6, 3, 4);
    for device in backends() {
        let mut t = trainer(&device, &config);
        t.compute_gradients(&dense_block(t_len, b, 3, head, 2)).unwrap();
        let grads = t.gradients().unwrap();
        let layout = ParamLayout::new(&config);
        for layer in 0..2 {
            let hs = t.layer_outputs(layer).unwrap();
            let dh = t.hidden_gradients(layer).unwrap();
            let mut rebuilt = vec![0.0f32; h * h];
            for step in 1..t_len {
                for s in 0..b {
                    let at = |t: usize, j: usize| (t * b + s) * h + j;
                    for i in 0..h {
                        let dpre = dh[at(step, i)] * (1.0 - hs[at(step, i)] * hs[at(step, i)]);
                        for j in 0..h {
                            rebuilt[i * h + j] += dpre * hs[at(step - 1, j)];
                        }
                    }
                }
            }
            // Step 0 reads the zero initial state: no term.
            let tensor = layout.tensors().iter().find(|x| x.name == format!("weight_hh_l{layer}")).unwrap();
            let name = format!("{} layer {layer}", device.name());
            assert_close(&format!("{name}: ∂W_hh from ∂L/∂h_t"), &rebuilt, &grads[tensor.range()], BALANCED);
            assert!(dh.iter().any(|&d| d != 0.0), "{name}: hidden gradients are all zero");
        }
        assert_eq!(t.layer_outputs(1).unwrap(), t.outputs().unwrap(), "outputs() is the top layer");
        assert!(t.layer_outputs(2).is_err() && t.hidden_gradients(2).is_err(), "no third layer");
    }
}

#[test]
fn gpu_activations_gradients_and_head_outputs_match_cpu() {
    let Some(gpu) = gpu() else { return };
    let head = Head::Sigmoid { outputs: 2 };
    let config = ModelConfig::dense(Cell::Lstm, 2, 8, 3, head);
    let block = dense_block(6, 3, 3, head, 4);
    let run = |device: &Device| {
        let mut t = trainer(device, &config);
        t.compute_gradients(&block).unwrap();
        let mut eval = Evaluator::new(t.model(), 3, 6).unwrap();
        eval.evaluate([&block]).unwrap();
        let inside: Vec<Vec<f32>> = (0..2)
            .flat_map(|l| [t.layer_outputs(l).unwrap(), t.hidden_gradients(l).unwrap(), eval.layer_outputs(l).unwrap()])
            .collect();
        (inside, eval.head_outputs().unwrap())
    };
    let (cpu, want_head) = run(&Device::cpu());
    let (got, got_head) = run(&gpu);
    for (i, (g, c)) in got.iter().zip(&cpu).enumerate() {
        assert_close(&format!("view {i}"), g, c, BALANCED);
    }
    assert_close("head outputs", &got_head, &want_head, BALANCED);
    // The evaluator starts from a zero state, like the trainer did: same activations.
    assert_close("evaluator vs trainer activations", &cpu[2], &cpu[0], BALANCED);
}

/// `Model::layer_outputs` of one sequence is h_1..h_T: its first row is the
/// tanh RNN's h_1 = tanh(W_ih[:, x_0] + b_ih + b_hh) from the zero state,
/// computed here by hand, and every row equals what an evaluator computes
/// for the same sequence as a block with targets, for every layer.
#[test]
fn model_layer_outputs_are_the_hidden_states_of_every_step() {
    use rnn_wgpu::{Block, Inputs};
    let (vocab, hidden) = (5, 4);
    let config = ModelConfig::char_lm(Cell::RnnTanh, 2, hidden, vocab);
    let ids = vec![3, 0, 4, 4, 1, 2, 0];
    for device in backends() {
        let model = Model::new(&device, &config, 9).unwrap();
        let outputs = model.layer_outputs(&Inputs::Tokens(ids.clone())).unwrap();
        assert_eq!(outputs.len(), 2, "one tensor per layer");
        let (w_ih, b_ih, b_hh) = (
            model.tensor("weight_ih_l0").unwrap(),
            model.tensor("bias_ih_l0").unwrap(),
            model.tensor("bias_hh_l0").unwrap(),
        );
        let h1: Vec<f32> =
            (0..hidden).map(|j| (w_ih[j * vocab + ids[0] as usize] + b_ih[j] + b_hh[j]).tanh()).collect();
        let name = device.name();
        assert_close(&format!("{name}: h_1 of layer 0"), &outputs[0][..hidden], &h1, BALANCED);
        let block = Block::new(ids.len(), 1, ids.clone(), vec![0; ids.len()]).unwrap();
        let mut eval = Evaluator::new(&model, 1, ids.len()).unwrap();
        eval.evaluate([&block]).unwrap();
        for (layer, got) in outputs.iter().enumerate() {
            assert_eq!(got.len(), ids.len() * hidden, "{name}: layer {layer} is [T, H]");
            assert_close(&format!("{name}: layer {layer}"), got, &eval.layer_outputs(layer).unwrap(), BALANCED);
        }
    }
}

/// `Evaluator::forward` needs no targets and starts from a zero state, for
/// a bidirectional dense model with lengths under a last-step readout, and
/// gives what `evaluate` gives; the GPU gives what the CPU gives.
#[test]
fn evaluator_forward_without_targets_matches_evaluate_and_gpu_matches_cpu() {
    use rnn_wgpu::{Inputs, Readout};
    let head = Head::Sigmoid { outputs: 2 };
    let config =
        ModelConfig { bidirectional: true, readout: Readout::LastStep, ..ModelConfig::dense(Cell::Gru, 2, 6, 3, head) };
    let lengths = vec![5, 2, 4];
    let block = dense_block(5, 3, 3, head, 6);
    let block = rnn_wgpu::Block { targets: rnn_wgpu::Targets::Values(vec![1.0, 0.0, 0.5, 0.25, 0.0, 1.0]), ..block };
    let block = block.with_lengths(lengths.clone()).unwrap();
    let run = |device: &Device| {
        let model = Model::new(device, &config, 2).unwrap();
        let mut eval = Evaluator::new(&model, 3, 5).unwrap();
        let read = |eval: &Evaluator| {
            let mut all: Vec<Vec<f32>> = (0..2).map(|l| eval.layer_outputs(l).unwrap()).collect();
            all.push(eval.head_outputs().unwrap());
            all
        };
        eval.evaluate([&block]).unwrap();
        let evaluated = read(&eval);
        // A different block in between: forward must not see its state.
        let other = rnn_wgpu::Block { inputs: dense_block(5, 3, 3, head, 7).inputs, ..block.clone() };
        eval.evaluate([&other]).unwrap();
        eval.forward(block.inputs.clone(), Some(lengths.clone())).unwrap();
        let forwarded = read(&eval);
        for (i, (f, e)) in forwarded.iter().zip(&evaluated).enumerate() {
            assert_close(&format!("{}: forward vs evaluate, tensor {i}", device.name()), f, e, BALANCED);
        }
        assert!(eval.forward(Inputs::Dense(vec![0.0; 5]), None).is_err(), "inputs of the wrong shape");
        assert!(eval.forward(Inputs::Tokens(vec![0; 15]), None).is_err(), "tokens for a dense model");
        assert!(eval.forward(block.inputs.clone(), Some(vec![6, 1, 1])).is_err(), "a length past the block");
        forwarded
    };
    let cpu = run(&Device::cpu());
    if let Some(gpu) = gpu() {
        for (i, (g, c)) in run(&gpu).iter().zip(&cpu).enumerate() {
            assert_close(&format!("GPU vs CPU forward, tensor {i}"), g, c, BALANCED);
        }
    }
}

#[test]
fn model_layer_outputs_refuse_bad_sequences() {
    use rnn_wgpu::Inputs;
    let device = Device::cpu();
    let tokens = Model::new(&device, &ModelConfig::char_lm(Cell::Lstm, 1, 4, 5), 1).unwrap();
    assert!(tokens.layer_outputs(&Inputs::Tokens(vec![])).is_err(), "empty sequence");
    assert!(tokens.layer_outputs(&Inputs::Tokens(vec![1, 5])).is_err(), "token id past the vocabulary");
    assert!(tokens.layer_outputs(&Inputs::Dense(vec![0.5; 4])).is_err(), "features for a token model");
    let dense = Model::new(&device, &ModelConfig::dense(Cell::Gru, 1, 4, 3, Head::Linear { outputs: 1 }), 1).unwrap();
    assert!(dense.layer_outputs(&Inputs::Dense(vec![0.5; 7])).is_err(), "not a whole number of steps");
    assert!(dense.layer_outputs(&Inputs::Dense(vec![f32::NAN; 6])).is_err(), "non-finite input");
    assert_eq!(dense.layer_outputs(&Inputs::Dense(vec![0.5; 6])).unwrap()[0].len(), 2 * 4, "[T = 2, H = 4]");
}
