//! Checkpoints: a round trip gives identical weights and outputs; a corrupt,
//! truncated or mismatched file is refused with an error naming the problem;
//! saving is atomic; trainer state resumes training exactly.

use std::path::PathBuf;

use rnn_wgpu::{Cell, Device, Error, Model, ModelConfig, Optimizer, TrainConfig, Trainer, Vocab};

use super::common::{backends, random_block};

/// A fresh directory under the target dir (no temp-dir crate needed).
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("checkpoint-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(cell: Cell, layers: usize, hidden: usize) -> ModelConfig {
    ModelConfig { dropout: 0.25, ..ModelConfig::char_lm(cell, layers, hidden, 6) }
}

fn train(model: Model) -> Trainer {
    let config = TrainConfig { batch: 2, bptt: 4, optimizer: Optimizer::adam(1e-2), clip_norm: Some(1.0), seed: 9 };
    Trainer::new(model, config).unwrap()
}

#[test]
fn round_trip_gives_identical_weights_outputs_and_vocabulary() {
    let dir = scratch("round-trip");
    let vocab = Vocab::from_text("abc\n d").unwrap();
    for device in backends() {
        for cell in [Cell::RnnRelu, Cell::Lstm, Cell::Gru] {
            let path = dir.join(format!("{}.safetensors", cell.name()));
            let model = Model::new(&device, &config(cell, 2, 5), 3).unwrap();
            model.save(&path, Some(&vocab)).unwrap();
            let (loaded, loaded_vocab) = Model::load(&device, &path).unwrap();
            assert_eq!(loaded.config(), model.config());
            assert_eq!(loaded_vocab.as_ref(), Some(&vocab));
            assert_eq!(loaded.params().unwrap(), model.params().unwrap());
            let block = random_block(4, 2, 6, 1);
            let (mut a, mut b) = (train(model), train(loaded));
            a.compute_gradients(&block).unwrap();
            b.compute_gradients(&block).unwrap();
            assert_eq!(a.outputs().unwrap(), b.outputs().unwrap());
            assert_eq!(a.gradients().unwrap(), b.gradients().unwrap());
        }
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left behind: {leftovers:?}");
    }
}

#[test]
fn corrupt_and_truncated_files_are_refused() {
    let dir = scratch("corrupt");
    let device = Device::cpu();
    let path = dir.join("good.safetensors");
    Model::new(&device, &config(Cell::Lstm, 2, 5), 3).unwrap().save(&path, None).unwrap();
    let bytes = std::fs::read(&path).unwrap();

    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() - 10]).unwrap();
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"this is not a checkpoint at all, just some text").unwrap();
    let mut flipped = bytes.clone();
    flipped[12] ^= 0xff; // inside the JSON header
    let corrupt = dir.join("corrupt.safetensors");
    std::fs::write(&corrupt, &flipped).unwrap();
    let empty = dir.join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();

    for path in [&truncated, &garbage, &corrupt, &empty] {
        match Model::load(&device, path) {
            Err(Error::Checkpoint { path: p, reason }) => assert!(p.contains("safetensors") && !reason.is_empty()),
            Err(other) => panic!("{}: wrong error {other}", path.display()),
            Ok(_) => panic!("{} loaded", path.display()),
        }
    }
    let missing = dir.join("no-such-file.safetensors");
    assert!(matches!(Model::load(&device, &missing), Err(Error::Io { .. })));
}

#[test]
fn mismatched_checkpoints_name_every_missing_unexpected_and_misshapen_tensor() {
    let dir = scratch("mismatch");
    let device = Device::cpu();
    let one_layer = dir.join("lstm-1-layer.safetensors");
    Model::new(&device, &config(Cell::Lstm, 1, 5), 3).unwrap().save(&one_layer, None).unwrap();

    // Two layers expected, one found: layer 1's four tensors are missing.
    match Model::load_state_dict(&device, &config(Cell::Lstm, 2, 5), &one_layer) {
        Err(Error::CheckpointMismatch { missing, unexpected, mismatched, .. }) => {
            assert_eq!(missing, ["weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"]);
            assert!(unexpected.is_empty() && mismatched.is_empty());
        }
        other => panic!("wrong result: {:?}", other.err()),
    }
    // An LSTM file read as a GRU: every gate tensor has 4H rows instead of 3H.
    match Model::load_state_dict(&device, &config(Cell::Gru, 1, 5), &one_layer) {
        Err(Error::CheckpointMismatch { missing, mismatched, .. }) => {
            assert!(missing.is_empty());
            assert_eq!(mismatched.len(), 4, "{mismatched:?}");
            assert!(
                mismatched[0].contains("weight_ih_l0")
                    && mismatched[0].contains("[15, 6]")
                    && mismatched[0].contains("[20, 6]")
            );
        }
        other => panic!("wrong result: {:?}", other.err()),
    }
    // A two-layer file read as one layer: layer 1's tensors are unexpected.
    let two_layers = dir.join("lstm-2-layers.safetensors");
    Model::new(&device, &config(Cell::Lstm, 2, 5), 3).unwrap().save(&two_layers, None).unwrap();
    match Model::load_state_dict(&device, &config(Cell::Lstm, 1, 5), &two_layers) {
        Err(Error::CheckpointMismatch { unexpected, .. }) => assert_eq!(unexpected.len(), 4),
        other => panic!("wrong result: {:?}", other.err()),
    }
}

#[test]
fn saving_into_a_missing_directory_fails_and_leaves_no_file() {
    let dir = scratch("missing-dir");
    let path = dir.join("no").join("such").join("dir.safetensors");
    let model = Model::new(&Device::cpu(), &config(Cell::Gru, 1, 4), 3).unwrap();
    assert!(matches!(model.save(&path, None), Err(Error::Io { .. })));
    assert!(!path.exists());
}

#[test]
fn trainer_state_resumes_training_exactly() {
    let dir = scratch("resume");
    for device in backends() {
        let (model_path, state_path) = (dir.join("model.safetensors"), dir.join("trainer.safetensors"));
        let blocks: Vec<_> = (0..5).map(|i| random_block(4, 2, 6, 20 + i)).collect();
        // Uninterrupted: 5 steps.
        let mut straight = train(Model::new(&device, &config(Cell::Lstm, 2, 5), 3).unwrap());
        for b in &blocks {
            straight.step(b).unwrap();
        }
        // Interrupted after 3: save, load into a new trainer, 2 more steps.
        let mut first = train(Model::new(&device, &config(Cell::Lstm, 2, 5), 3).unwrap());
        for b in &blocks[..3] {
            first.step(b).unwrap();
        }
        first.model().save(&model_path, None).unwrap();
        first.save_state(&state_path).unwrap();
        drop(first);
        let (model, _) = Model::load(&device, &model_path).unwrap();
        let mut resumed = train(model);
        resumed.load_state(&state_path).unwrap();
        for b in &blocks[3..] {
            resumed.step(b).unwrap();
        }
        assert_eq!(resumed.model().params().unwrap(), straight.model().params().unwrap(), "{}", device.name());
        assert_eq!(resumed.hidden_state().unwrap(), straight.hidden_state().unwrap());

        // The state of an Adam trainer does not fit an SGD trainer.
        let model = Model::new(&device, &config(Cell::Lstm, 2, 5), 3).unwrap();
        let sgd = TrainConfig { batch: 2, bptt: 4, optimizer: Optimizer::sgd(0.1, 0.9), clip_norm: None, seed: 0 };
        let err = Trainer::new(model, sgd).unwrap().load_state(&state_path).unwrap_err();
        assert!(matches!(err, Error::Mismatch(_)), "{err}");
    }
}

/// Dense input and the sigmoid and linear heads survive a round trip: the
/// metadata names the input kind and width and the head kind and width.
#[test]
fn dense_models_with_sigmoid_and_linear_heads_round_trip() {
    use rnn_wgpu::Head;
    let dir = scratch("dense");
    let device = Device::cpu();
    for head in [Head::Sigmoid { outputs: 3 }, Head::Linear { outputs: 1 }] {
        let config = ModelConfig::dense(Cell::Gru, 2, 4, 5, head);
        let path = dir.join(format!("{}.safetensors", head.name()));
        let model = Model::new(&device, &config, 2).unwrap();
        model.save(&path, None).unwrap();
        let (loaded, vocab) = Model::load(&device, &path).unwrap();
        assert_eq!(loaded.config(), &config);
        assert_eq!(vocab, None);
        assert_eq!(loaded.params().unwrap(), model.params().unwrap());
    }
}
