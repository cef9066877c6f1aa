//! Bad input gets a typed error that says what was expected and what came,
//! and leaves the model as it was.

use rnn_wgpu::{
    Block, Cell, Device, Error, Inputs, Model, ModelConfig, Optimizer, Targets, TrainConfig, Trainer, Vocab,
};

use super::common::{backends, gpu, random_block};

fn trainer(device: &Device) -> Trainer {
    let model = Model::new(device, &ModelConfig::char_lm(Cell::RnnTanh, 1, 8, 5), 1).unwrap();
    Trainer::new(model, TrainConfig { batch: 2, bptt: 3, optimizer: Optimizer::adam(1e-2), clip_norm: None, seed: 0 })
        .unwrap()
}

#[test]
fn token_id_past_the_vocabulary_is_refused_and_changes_nothing() {
    for device in backends() {
        let mut t = trainer(&device);
        let before = t.model().params().unwrap();
        let mut block = random_block(3, 2, 5, 1);
        let Inputs::Tokens(ids) = &mut block.inputs else { unreachable!("a token block") };
        ids[4] = 5;
        let err = t.step(&block).unwrap_err();
        assert!(matches!(err, Error::TokenOutOfRange { id: 5, position: 4, vocab: 5 }), "{err}");
        let mut block = random_block(3, 2, 5, 1);
        let Targets::Classes(ids) = &mut block.targets else { unreachable!("a token block") };
        ids[0] = 99;
        assert!(matches!(t.step(&block).unwrap_err(), Error::TokenOutOfRange { id: 99, position: 0, vocab: 5 }));
        assert_eq!(t.model().params().unwrap(), before, "a refused block changed the weights");
    }
}

#[test]
fn block_of_the_wrong_shape_is_refused() {
    for device in backends() {
        let mut t = trainer(&device);
        let err = t.step(&random_block(4, 2, 5, 1)).unwrap_err();
        assert!(matches!(&err, Error::Shape { .. }), "{err}");
        assert!(err.to_string().contains("[3, 2]") && err.to_string().contains("[4, 2]"), "{err}");
    }
    let err = Block::new(3, 2, vec![0; 6], vec![0; 5]).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
}

#[test]
fn zero_sizes_are_refused() {
    let device = Device::cpu();
    for config in [
        ModelConfig::char_lm(Cell::RnnTanh, 0, 8, 5),
        ModelConfig::char_lm(Cell::RnnTanh, 1, 0, 5),
        ModelConfig::char_lm(Cell::RnnTanh, 1, 8, 0),
    ] {
        let err = Model::new(&device, &config, 1).err().expect("zero size accepted");
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    }
    for (batch, bptt) in [(0, 3), (2, 0)] {
        let model = Model::new(&device, &ModelConfig::char_lm(Cell::RnnTanh, 1, 8, 5), 1).unwrap();
        let err = Trainer::new(
            model,
            TrainConfig { batch, bptt, optimizer: Optimizer::adam(1e-3), clip_norm: None, seed: 0 },
        )
        .err()
        .unwrap();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    }
    assert!(matches!(Block::new(0, 2, vec![], vec![]).unwrap_err(), Error::InvalidConfig { .. }));
}

#[test]
fn non_finite_learning_rate_and_clip_are_refused() {
    let device = Device::cpu();
    for optimizer in [Optimizer::adam(f32::NAN), Optimizer::sgd(f32::INFINITY, 0.9), Optimizer::adagrad(-1.0)] {
        let model = Model::new(&device, &ModelConfig::char_lm(Cell::RnnTanh, 1, 8, 5), 1).unwrap();
        let err =
            Trainer::new(model, TrainConfig { batch: 2, bptt: 3, optimizer, clip_norm: None, seed: 0 }).err().unwrap();
        assert!(matches!(&err, Error::InvalidConfig { what, .. } if what == "learning rate"), "{err}");
    }
    let mut t = trainer(&device);
    assert!(matches!(t.set_learning_rate(f32::NAN).unwrap_err(), Error::InvalidConfig { .. }));
    let model = Model::new(&device, &ModelConfig::char_lm(Cell::RnnTanh, 1, 8, 5), 1).unwrap();
    let err = Trainer::new(
        model,
        TrainConfig { batch: 2, bptt: 3, optimizer: Optimizer::adam(1e-3), clip_norm: Some(f32::NAN), seed: 0 },
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
}

#[test]
fn non_finite_parameters_and_state_are_refused() {
    for device in backends() {
        let mut t = trainer(&device);
        let err = t.set_hidden_state(&[f32::NAN; 16]).unwrap_err();
        assert!(matches!(err, Error::NonFinite { .. }), "{err}");
        let config = ModelConfig::char_lm(Cell::RnnTanh, 1, 8, 5);
        let mut params = Model::new(&device, &config, 1).unwrap().params().unwrap();
        params[3] = f32::INFINITY;
        let err = Model::from_params(&device, &config, &params).err().unwrap();
        assert!(err.to_string().contains("weight_ih_l0"), "{err}");
    }
}

#[test]
fn unknown_adapter_name_lists_the_adapters_found() {
    // Without any adapter the error is NoAdapter; with one it must list them.
    let Some(_) = gpu() else { return };
    match Device::select(None, Some("no-such-adapter-anywhere")) {
        Err(Error::AdapterNotFound { wanted, found }) => {
            assert_eq!(wanted, "no-such-adapter-anywhere");
            assert!(!found.is_empty(), "the error lists no adapters");
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(d) => panic!("matched an adapter: {}", d.name()),
    }
    let err = Device::select(Some("no-such-api"), None).unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
}

#[test]
fn model_past_the_storage_binding_limit_is_refused() {
    let Some(gpu) = gpu() else { return };
    // weight_hh alone is 33000² floats = 4.4 GB: past a 32-bit binding size,
    // so past every adapter's max_storage_buffer_binding_size.
    let hidden = 33000;
    let err = Model::new(&gpu, &ModelConfig::char_lm(Cell::RnnTanh, 1, hidden, 5), 1).err().unwrap();
    assert!(matches!(err, Error::BufferTooLarge { .. }), "{err}");
}

#[test]
fn characters_outside_the_vocabulary_are_refused() {
    let vocab = Vocab::from_text("abc").unwrap();
    assert!(matches!(vocab.encode("abz").unwrap_err(), Error::UnknownChar { ch: 'z', position: 2 }));
    assert!(matches!(vocab.decode(&[0, 3]).unwrap_err(), Error::TokenOutOfRange { id: 3, position: 1, vocab: 3 }));
}

#[test]
fn non_finite_gradients_skip_the_update_and_are_reported() {
    // Head weights of 3e38 are finite, but the logits V·h overflow to ±inf,
    // the softmax turns them into NaN, and so does the gradient norm: that
    // update must be skipped, leave every parameter bit as it was, and say so.
    for device in backends() {
        let config = ModelConfig::char_lm(Cell::Gru, 1, 8, 5);
        let mut params = Model::new(&device, &config, 1).unwrap().params().unwrap();
        let head = rnn_wgpu::ParamLayout::new(&config).get("head.weight").unwrap().range();
        params[head].iter_mut().for_each(|w| *w = 3e38);
        let model = Model::from_params(&device, &config, &params).unwrap();
        let train = TrainConfig { batch: 2, bptt: 3, optimizer: Optimizer::adam(1e-2), clip_norm: Some(1.0), seed: 0 };
        let mut t = Trainer::new(model, train).unwrap();
        t.step(&random_block(3, 2, 5, 1)).unwrap();
        let stats = t.stats().unwrap();
        assert!(stats.skipped && !stats.grad_norm.unwrap().is_finite(), "{}: {stats:?}", device.name());
        let after = t.model().params().unwrap();
        assert!(
            params.iter().zip(&after).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{}: parameters changed",
            device.name()
        );
        // A healthy block afterwards is not reported as skipped.
        let mut healthy = trainer(&device);
        healthy.step(&random_block(3, 2, 5, 1)).unwrap();
        assert!(!healthy.stats().unwrap().skipped);
    }
}

/// Blocks of the wrong kind for the model, sigmoid targets outside [0, 1]
/// and non-finite features are refused before anything runs.
#[test]
fn dense_blocks_of_the_wrong_kind_or_values_are_refused() {
    use rnn_wgpu::Head;
    for device in backends() {
        let config = ModelConfig::dense(Cell::Lstm, 1, 4, 3, Head::Sigmoid { outputs: 2 });
        let model = Model::new(&device, &config, 1).unwrap();
        let train = TrainConfig { batch: 2, bptt: 3, optimizer: Optimizer::adam(1e-2), clip_norm: None, seed: 0 };
        let mut t = Trainer::new(model, train).unwrap();
        let before = t.model().params().unwrap();
        let good = super::common::dense_block(3, 2, 3, Head::Sigmoid { outputs: 2 }, 1);
        t.step(&good).unwrap();
        let after = t.model().params().unwrap();
        assert_ne!(after, before, "a good block trains");
        let tokens = random_block(3, 2, 5, 1);
        assert!(matches!(t.step(&tokens).unwrap_err(), Error::Mismatch(_)), "token block for a dense model");
        let mut bad = good.clone();
        let Targets::Values(y) = &mut bad.targets else { unreachable!("sigmoid targets are values") };
        y[3] = 1.5;
        assert!(t.step(&bad).is_err(), "sigmoid target 1.5");
        let mut bad = good.clone();
        let Inputs::Dense(x) = &mut bad.inputs else { unreachable!("dense inputs") };
        x[0] = f32::NAN;
        assert!(t.step(&bad).is_err(), "NaN feature");
        let short = Block::with(3, 2, Inputs::Dense(vec![0.0; 12]), Targets::Values(vec![0.5; 12])).unwrap();
        assert!(t.step(&short).is_err(), "2 features per step for a model of 3");
        assert_eq!(t.model().params().unwrap(), after, "a refused block changed the weights");
    }
}
