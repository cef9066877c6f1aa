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
