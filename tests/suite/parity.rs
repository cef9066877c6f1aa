//! GPU vs CPU: the same model, block and optimizer give the same loss, every
//! gradient, the same final state, and the same parameters after several
//! clipped Adam steps — for every cell kind at two layers, with dropout off
//! and on (one seed, one mask on both backends).

use rnn_wgpu::{Cell, Device, Model, Optimizer, TrainConfig, Trainer};

use super::common::{BALANCED, PERMISSIVE, assert_close, gpu, gpu_paths, random_block, random_values, small};

const CELLS: [Cell; 4] = [Cell::RnnTanh, Cell::RnnRelu, Cell::Lstm, Cell::Gru];
const DROPOUTS: [f32; 2] = [0.0, 0.3];

fn trainer(device: &Device, cell: Cell, dropout: f32, clip: Option<f32>) -> Trainer {
    let config = rnn_wgpu::ModelConfig { dropout, ..small(cell, 2, 33, 11) };
    let model = Model::new(device, &config, 7).unwrap();
    let config = TrainConfig { batch: 5, bptt: 9, optimizer: Optimizer::adam(1e-2), clip_norm: clip, seed: 17 };
    Trainer::new(model, config).unwrap()
}

#[test]
fn gpu_gradients_and_states_match_cpu_for_every_cell_with_and_without_dropout() {
    // Every GPU kernel path (subgroups and portable) against the CPU.
    for (path, gpu) in gpu_paths() {
        for cell in CELLS {
            for dropout in DROPOUTS {
                gradients_match(path, &gpu, cell, dropout);
            }
        }
    }
}

fn gradients_match(path: &str, gpu: &Device, cell: Cell, dropout: f32) {
    let mut results = Vec::new();
    for device in [Device::cpu(), gpu.clone()] {
        let mut t = trainer(&device, cell, dropout, None);
        t.set_hidden_state(&random_values(2 * 5 * 33, 0.5, 3)).unwrap();
        if cell == Cell::Lstm {
            t.set_cell_state(&random_values(2 * 5 * 33, 0.5, 4)).unwrap();
        }
        t.compute_gradients(&random_block(9, 5, 11, 1)).unwrap();
        let c = (cell == Cell::Lstm).then(|| t.cell_state().unwrap());
        results.push((t.stats().unwrap().loss, t.gradients().unwrap(), t.hidden_state().unwrap(), c));
    }
    let name = format!("{path}: {cell:?} dropout {dropout}");
    let (cpu, gpu) = (&results[0], &results[1]);
    assert_close(&format!("{name} loss"), &[gpu.0], &[cpu.0], BALANCED);
    let layout = rnn_wgpu::ParamLayout::new(&small(cell, 2, 33, 11));
    for tensor in layout.tensors() {
        let r = tensor.range();
        assert_close(&format!("{name} grad {}", tensor.name), &gpu.1[r.clone()], &cpu.1[r], BALANCED);
    }
    assert_close(&format!("{name} final h"), &gpu.2, &cpu.2, BALANCED);
    if let (Some(g), Some(c)) = (&gpu.3, &cpu.3) {
        assert_close(&format!("{name} final c"), g, c, BALANCED);
    }
    assert!(cpu.1.iter().any(|&g| g != 0.0), "{name}: gradients are all zero");
}

#[test]
fn dropout_changes_the_gradients_and_is_off_at_zero() {
    // The same model with p = 0.3 must differ from p = 0 (the mask is real),
    // and two runs with one seed must agree bit for bit (the mask is seeded).
    let device = Device::cpu();
    let run = |dropout| {
        let mut t = trainer(&device, Cell::Lstm, dropout, None);
        t.compute_gradients(&random_block(9, 5, 11, 1)).unwrap();
        t.gradients().unwrap()
    };
    let (off, on, again) = (run(0.0), run(0.3), run(0.3));
    assert_ne!(off, on);
    assert_eq!(on, again);
}

#[test]
fn gpu_parameters_match_cpu_after_five_clipped_adam_steps() {
    let Some(gpu) = gpu() else { return };
    for cell in CELLS {
        for dropout in DROPOUTS {
            let name = format!("{cell:?} dropout {dropout}");
            let mut params = Vec::new();
            let mut losses = Vec::new();
            for device in [Device::cpu(), gpu.clone()] {
                // Clip at 0.05 (norms here are ~0.1-0.3) so clipping acts on every step.
                let mut t = trainer(&device, cell, dropout, Some(0.05));
                let mut l = Vec::new();
                for i in 0..5 {
                    t.step(&random_block(9, 5, 11, 100 + i)).unwrap();
                    let stats = t.stats().unwrap();
                    assert!(
                        stats.grad_norm.is_some_and(|n| n > 0.05) && !stats.skipped,
                        "{name}: clipping inactive or skipped: {stats:?}"
                    );
                    l.push(stats.loss);
                }
                params.push(t.model().params().unwrap());
                losses.push(l);
            }
            assert_close(&format!("{name} losses over 5 steps"), &losses[1], &losses[0], BALANCED);
            let initial = Model::new(&Device::cpu(), &small(cell, 2, 33, 11), 7).unwrap().params().unwrap();
            assert_ne!(params[0], initial, "{name}: parameters did not move");
            assert_close(&format!("{name} parameters after 5 Adam steps"), &params[1], &params[0], PERMISSIVE);
        }
    }
}

/// Dense inputs with sigmoid and linear heads: loss, every gradient and the
/// parameters after a few Adam steps agree across backends.
#[test]
fn gpu_matches_cpu_for_dense_inputs_with_sigmoid_and_linear_heads() {
    use rnn_wgpu::{Head, ModelConfig};
    let Some(gpu) = gpu() else { return };
    for (cell, head) in [(Cell::Lstm, Head::Sigmoid { outputs: 3 }), (Cell::Gru, Head::Linear { outputs: 2 })] {
        let config = ModelConfig::dense(cell, 2, 33, 7, head);
        let block = super::common::dense_block(9, 5, 7, head, 3);
        let mut results = Vec::new();
        for device in [Device::cpu(), gpu.clone()] {
            let model = Model::new(&device, &config, 7).unwrap();
            let train =
                TrainConfig { batch: 5, bptt: 9, optimizer: Optimizer::adam(1e-2), clip_norm: Some(1.0), seed: 1 };
            let mut t = Trainer::new(model, train).unwrap();
            t.compute_gradients(&block).unwrap();
            let (loss, grads) = (t.stats().unwrap().loss, t.gradients().unwrap());
            for _ in 0..3 {
                t.step(&block).unwrap();
            }
            results.push((loss, grads, t.model().params().unwrap()));
        }
        let name = format!("{cell:?} {head:?}");
        let (cpu, gpu) = (&results[0], &results[1]);
        assert_close(&format!("{name} loss"), &[gpu.0], &[cpu.0], BALANCED);
        assert_close(&format!("{name} gradients"), &gpu.1, &cpu.1, BALANCED);
        assert_close(&format!("{name} params after 3 steps"), &gpu.2, &cpu.2, PERMISSIVE);
        assert!(cpu.1.iter().any(|&g| g != 0.0), "{name}: gradients are all zero");
    }
}
