//! GPU vs CPU: the same model, block and optimizer give the same loss, every
//! gradient, and the same parameters after several Adam steps.

use rnn_wgpu::{Cell, Device, Model, Optimizer, TrainConfig, Trainer};

use super::common::{BALANCED, PERMISSIVE, assert_close, gpu, random_block, random_values, small};

fn trainer(device: &Device, cell: Cell, clip: Option<f32>) -> Trainer {
    let model = Model::new(device, &small(cell, 2, 33, 11), 7).unwrap();
    let config = TrainConfig {
        batch: 5,
        bptt: 9,
        optimizer: Optimizer::adam(1e-2),
        clip_norm: clip,
    };
    Trainer::new(model, config).unwrap()
}

fn gradients_match(cell: Cell) {
    let Some(gpu) = gpu() else { return };
    let mut results = Vec::new();
    for device in [Device::cpu(), gpu] {
        let mut t = trainer(&device, cell, None);
        t.set_hidden_state(&random_values(2 * 5 * 33, 0.5, 3)).unwrap();
        t.compute_gradients(&random_block(9, 5, 11, 1)).unwrap();
        let stats = t.stats().unwrap();
        results.push((
            stats,
            t.gradients().unwrap(),
            t.hidden_state().unwrap(),
            t.model().layout().clone(),
        ));
    }
    let (cpu, gpu) = (&results[0], &results[1]);
    assert_close("loss", &[gpu.0.loss], &[cpu.0.loss], BALANCED);
    for tensor in cpu.3.tensors() {
        assert_close(
            &format!("{cell:?} grad {}", tensor.name),
            &gpu.1[tensor.range()],
            &cpu.1[tensor.range()],
            BALANCED,
        );
    }
    assert_close("final hidden state", &gpu.2, &cpu.2, BALANCED);
    assert!(cpu.1.iter().any(|&g| g != 0.0), "gradients are all zero");
}

#[test]
fn gpu_rnn_tanh_gradients_match_cpu() {
    gradients_match(Cell::RnnTanh);
}

#[test]
fn gpu_rnn_relu_gradients_match_cpu() {
    gradients_match(Cell::RnnRelu);
}

#[test]
fn gpu_parameters_match_cpu_after_five_clipped_adam_steps() {
    let Some(gpu) = gpu() else { return };
    for cell in [Cell::RnnTanh, Cell::RnnRelu] {
        let mut params = Vec::new();
        let mut losses = Vec::new();
        for device in [Device::cpu(), gpu.clone()] {
            // Clip at 0.05 (norms here are ~0.1-0.3) so clipping acts on every step.
            let mut t = trainer(&device, cell, Some(0.05));
            let mut l = Vec::new();
            for i in 0..5 {
                t.step(&random_block(9, 5, 11, 100 + i)).unwrap();
                let stats = t.stats().unwrap();
                assert!(
                    stats.grad_norm > 0.05 && !stats.skipped,
                    "clipping inactive or step skipped: {stats:?}"
                );
                l.push(stats.loss);
            }
            params.push(t.model().params().unwrap());
            losses.push(l);
        }
        assert_close(
            &format!("{cell:?} losses over 5 steps"),
            &losses[1],
            &losses[0],
            BALANCED,
        );
        let initial = Model::new(&Device::cpu(), &small(cell, 2, 33, 11), 7)
            .unwrap()
            .params()
            .unwrap();
        assert_ne!(params[0], initial, "parameters did not move");
        assert_close(
            &format!("{cell:?} parameters after 5 Adam steps"),
            &params[1],
            &params[0],
            PERMISSIVE,
        );
    }
}
