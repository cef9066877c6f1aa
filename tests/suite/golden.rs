//! Both backends against PyTorch: files written by scripts/make_golden.py
//! (PyTorch 2.x, float32) hold weights, inputs, initial states, outputs,
//! final states, the loss and every gradient of nn.RNN (tanh, relu),
//! nn.LSTM and nn.GRU at L = 2, B = 3, T = 5. The weights are loaded from
//! PyTorch's own state_dict file with no conversion.

use std::collections::HashMap;

use rnn_wgpu::{Block, Cell, Model, ModelConfig, Optimizer, ParamLayout, TrainConfig, Trainer};
use safetensors::{Dtype, SafeTensors};

use super::common::{BALANCED, assert_close, backends};

fn read(path: &str) -> HashMap<String, Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, t)| {
            let values = t
                .data()
                .chunks_exact(4)
                .map(|b| match t.dtype() {
                    Dtype::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                    Dtype::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
                    other => panic!("{name}: unexpected dtype {other:?}"),
                })
                .collect();
            (name, values)
        })
        .collect()
}

/// Largest |got − expected| / (|expected| + 1e-3) over a tensor.
fn worst(got: &[f32], expected: &[f32]) -> f64 {
    got.iter().zip(expected).map(|(&g, &e)| ((g - e).abs() / (e.abs() + 1e-3)) as f64).fold(0.0, f64::max)
}

fn check(cell: Cell, file: &str) {
    let golden = read(&format!("tests/data/golden_{file}.safetensors"));
    let ids = |name: &str| golden[name].iter().map(|&x| x as u32).collect::<Vec<u32>>();
    let block = Block::new(5, 3, ids("input.tokens"), ids("input.targets")).unwrap();
    let config = ModelConfig::char_lm(cell, 2, 6, 7);
    for device in backends() {
        let model =
            Model::load_state_dict(&device, &config, format!("tests/data/state_dict_{file}.safetensors")).unwrap();
        let train = TrainConfig { batch: 3, bptt: 5, optimizer: Optimizer::sgd(0.0, 0.0), clip_norm: None, seed: 0 };
        let mut t = Trainer::new(model, train).unwrap();
        t.set_hidden_state(&golden["input.h0"]).unwrap();
        if cell == Cell::Lstm {
            t.set_cell_state(&golden["input.c0"]).unwrap();
        }
        t.compute_gradients(&block).unwrap();
        let name = format!("{file} on {}", device.name());
        let mut compared = vec![
            ("loss", vec![t.stats().unwrap().loss], golden["output.loss"].clone()),
            ("output", t.outputs().unwrap(), golden["output.h"].clone()),
            ("h_n", t.hidden_state().unwrap(), golden["output.hn"].clone()),
        ];
        if cell == Cell::Lstm {
            compared.push(("c_n", t.cell_state().unwrap(), golden["output.cn"].clone()));
        }
        let grads = t.gradients().unwrap();
        let layout = ParamLayout::new(&config);
        for tensor in layout.tensors() {
            compared.push((
                &tensor.name,
                grads[tensor.range()].to_vec(),
                golden[&format!("grad.{}", tensor.name)].clone(),
            ));
        }
        let mut worst_all = 0.0f64;
        for (what, got, expected) in &compared {
            assert_close(&format!("{name}: {what}"), got, expected, BALANCED);
            worst_all = worst_all.max(worst(got, expected));
        }
        eprintln!("golden {name}: worst relative difference {worst_all:.2e}");
    }
}

#[test]
fn rnn_tanh_matches_pytorch_on_both_backends() {
    check(Cell::RnnTanh, "rnn_tanh");
}

#[test]
fn rnn_relu_matches_pytorch_on_both_backends() {
    check(Cell::RnnRelu, "rnn_relu");
}

#[test]
fn lstm_matches_pytorch_on_both_backends() {
    check(Cell::Lstm, "lstm");
}

#[test]
fn gru_matches_pytorch_on_both_backends() {
    check(Cell::Gru, "gru");
}

/// Bidirectional layers over packed sequences of lengths [5, 2, 4]: the
/// loss over valid positions, every gradient, the output at valid positions
/// and both directions' final states (`h_n`, `c_n`) match PyTorch.
fn check_bidirectional(cell: Cell, file: &str) {
    let golden = read(&format!("tests/data/golden_bi_{file}.safetensors"));
    let ids = |name: &str| golden[name].iter().map(|&x| x as u32).collect::<Vec<u32>>();
    let lengths = ids("input.lengths");
    let block =
        Block::new(5, 3, ids("input.tokens"), ids("input.targets")).unwrap().with_lengths(lengths.clone()).unwrap();
    let config = ModelConfig { bidirectional: true, ..ModelConfig::char_lm(cell, 2, 6, 7) };
    for device in backends() {
        let model =
            Model::load_state_dict(&device, &config, format!("tests/data/state_dict_bi_{file}.safetensors")).unwrap();
        let train = TrainConfig { batch: 3, bptt: 5, optimizer: Optimizer::sgd(0.0, 0.0), clip_norm: None, seed: 0 };
        let mut t = Trainer::new(model, train).unwrap();
        t.set_hidden_state(&golden["input.h0"]).unwrap();
        if cell == Cell::Lstm {
            t.set_cell_state(&golden["input.c0"]).unwrap();
        }
        t.compute_gradients(&block).unwrap();
        let name = format!("bidirectional {file} on {}", device.name());
        // PyTorch pads the output with zeros; compare the valid steps only.
        let valid = |out: &[f32]| -> Vec<f32> {
            out.chunks_exact(12)
                .enumerate()
                .filter(|(r, _)| (r / 3) < lengths[r % 3] as usize)
                .flat_map(|(_, x)| x.to_vec())
                .collect()
        };
        let mut compared = vec![
            ("loss", vec![t.stats().unwrap().loss], golden["output.loss"].clone()),
            ("output", valid(&t.outputs().unwrap()), valid(&golden["output.h"])),
            ("h_n", t.hidden_state().unwrap(), golden["output.hn"].clone()),
        ];
        if cell == Cell::Lstm {
            compared.push(("c_n", t.cell_state().unwrap(), golden["output.cn"].clone()));
        }
        let grads = t.gradients().unwrap();
        let layout = ParamLayout::new(&config);
        for tensor in layout.tensors() {
            let expected = golden[&format!("grad.{}", tensor.name)].clone();
            compared.push((&tensor.name, grads[tensor.range()].to_vec(), expected));
        }
        let mut worst_all = 0.0f64;
        for (what, got, expected) in &compared {
            assert_close(&format!("{name}: {what}"), got, expected, BALANCED);
            worst_all = worst_all.max(worst(got, expected));
        }
        eprintln!("golden {name}: worst relative difference {worst_all:.2e}");
    }
}

#[test]
fn bidirectional_lstm_over_packed_sequences_matches_pytorch() {
    check_bidirectional(Cell::Lstm, "lstm");
}

#[test]
fn bidirectional_gru_over_packed_sequences_matches_pytorch() {
    check_bidirectional(Cell::Gru, "gru");
}

#[test]
fn golden_files_are_the_ones_the_script_writes() {
    // Guard against a stale or hand-edited file: the weights in the golden
    // file equal those in the state_dict file, tensor by tensor.
    for file in ["rnn_tanh", "rnn_relu", "lstm", "gru", "bi_lstm", "bi_gru"] {
        let (golden, state) = (
            read(&format!("tests/data/golden_{file}.safetensors")),
            read(&format!("tests/data/state_dict_{file}.safetensors")),
        );
        assert!(!state.is_empty());
        for (name, values) in &state {
            assert_eq!(&golden[name], values, "{file}: {name}");
        }
    }
}
