//! The network learns: the "hello" toy reaches near-zero loss on both
//! backends, and validation loss is computed without touching the weights.

use rnn_wgpu::{Cell, Evaluator, Model, ModelConfig, Optimizer, Sampler, Streams, TrainConfig, Trainer, Vocab};

use super::common::backends;

#[test]
fn hello_toy_learns_to_near_zero_loss_on_both_backends() {
    // Karpathy's toy: from "hell" predict "ello" — the second 'l' needs memory.
    let vocab = Vocab::from_text("helo").unwrap();
    let block = rnn_wgpu::Block::new(4, 1, vocab.encode("hell").unwrap(), vocab.encode("ello").unwrap()).unwrap();
    for device in backends() {
        let config = ModelConfig::char_lm(Cell::RnnTanh, 1, 16, vocab.len());
        let model = Model::new(&device, &config, 1).unwrap();
        let mut t = Trainer::new(
            model,
            TrainConfig { batch: 1, bptt: 4, optimizer: Optimizer::adam(0.05), clip_norm: Some(5.0), seed: 0 },
        )
        .unwrap();
        t.step(&block).unwrap();
        let first = t.stats().unwrap().loss;
        for _ in 0..200 {
            t.reset_state().unwrap();
            t.step(&block).unwrap();
        }
        let last = t.stats().unwrap().loss;
        assert!(last < 0.01, "{}: loss {first} -> {last}, expected < 0.01", device.name());
        // It predicts "ello" greedily from "h".
        let text = Sampler::new(t.model(), &vocab).unwrap().greedy().generate("h", 4).unwrap();
        assert_eq!(text, "ello", "{}", device.name());
    }
}

#[test]
fn validation_loss_leaves_weights_and_training_state_alone() {
    let text = "the quick brown fox jumps over the lazy dog. ".repeat(20);
    let vocab = Vocab::from_text(&text).unwrap();
    let tokens = vocab.encode(&text).unwrap();
    let (train, val) = rnn_wgpu::split(&tokens, 0.2).unwrap();
    for device in backends() {
        let model = Model::new(&device, &ModelConfig::char_lm(Cell::RnnTanh, 1, 32, vocab.len()), 3).unwrap();
        let mut t = Trainer::new(
            model,
            TrainConfig { batch: 4, bptt: 8, optimizer: Optimizer::adam(1e-2), clip_norm: Some(5.0), seed: 0 },
        )
        .unwrap();
        let streams = Streams::new(train, 4, 8).unwrap();
        let val_blocks: Vec<_> = Streams::new(val, 4, 8).unwrap().blocks().collect();
        let mut eval = Evaluator::new(t.model(), 4, 8).unwrap();
        let before = eval.evaluate(&val_blocks).unwrap();
        for epoch in 0..5 {
            if epoch > 0 {
                t.reset_state().unwrap();
            }
            for block in streams.blocks() {
                t.step(&block).unwrap();
            }
        }
        let (params, state) = (t.model().params().unwrap(), t.hidden_state().unwrap());
        let after = eval.evaluate(&val_blocks).unwrap();
        assert_eq!(eval.evaluate(&val_blocks).unwrap(), after, "evaluation is not repeatable");
        assert_eq!(t.model().params().unwrap(), params, "evaluation changed the weights");
        assert_eq!(t.hidden_state().unwrap(), state, "evaluation changed the training state");
        assert!(after < before * 0.6, "{}: validation loss {before} -> {after}", device.name());
    }
}

#[test]
fn device_memory_is_reported_for_model_and_trainer() {
    for device in backends() {
        let make = |steps| {
            let model = Model::new(&device, &ModelConfig::char_lm(Cell::Lstm, 2, 16, 11), 1).unwrap();
            let config =
                TrainConfig { batch: 4, bptt: steps, optimizer: Optimizer::adam(1e-3), clip_norm: None, seed: 0 };
            Trainer::new(model, config).unwrap()
        };
        let (short, long) = (make(8), make(16));
        let params = 4 * short.model().layout().total() as u64;
        assert_eq!(short.model().device_bytes(), params);
        // Gradients and Adam's m and v alone are three parameter-sized buffers.
        assert!(short.device_bytes() > 3 * params, "{}: {}", device.name(), short.device_bytes());
        // Activations grow with the block length; the parameters do not.
        assert!(long.device_bytes() > short.device_bytes());
        assert_eq!(long.model().device_bytes(), params);
    }
}
