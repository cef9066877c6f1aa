//! Truncated BPTT: the forward connection between blocks is kept, the
//! backward connection cut — on both backends.

use rnn_wgpu::{Block, Cell, Device, Model, Optimizer, TrainConfig, Trainer};

use super::common::{BALANCED, assert_close, backends, random_block, small};

fn trainer(device: &Device, steps: usize) -> Trainer {
    let model = Model::new(device, &small(Cell::RnnTanh, 2, 16, 9), 5).unwrap();
    Trainer::new(
        model,
        TrainConfig {
            batch: 3,
            bptt: steps,
            optimizer: Optimizer::sgd(0.0, 0.0),
            clip_norm: None,
        },
    )
    .unwrap()
}

/// Steps `from..from+len` of a `[T, B]` block.
fn slice(block: &Block, from: usize, len: usize) -> Block {
    let b = block.batch;
    let r = from * b..(from + len) * b;
    Block::new(len, b, block.inputs[r.clone()].to_vec(), block.targets[r].to_vec()).unwrap()
}

#[test]
fn one_block_of_2t_equals_two_blocks_of_t_with_the_state_carried() {
    for device in backends() {
        let long = random_block(12, 3, 9, 4);
        let mut whole = trainer(&device, 12);
        whole.compute_gradients(&long).unwrap();
        let whole_loss = whole.stats().unwrap().loss;

        let mut halves = trainer(&device, 6);
        halves.compute_gradients(&slice(&long, 0, 6)).unwrap();
        let first = halves.stats().unwrap().loss;
        halves.compute_gradients(&slice(&long, 6, 6)).unwrap();
        let second = halves.stats().unwrap().loss;

        let name = device.name();
        assert_close(
            &format!("{name}: final state"),
            &halves.hidden_state().unwrap(),
            &whole.hidden_state().unwrap(),
            BALANCED,
        );
        assert_close(
            &format!("{name}: mean loss"),
            &[(first + second) / 2.0],
            &[whole_loss],
            BALANCED,
        );
    }
}

#[test]
fn block_two_gradient_equals_block_two_alone_from_block_one_state() {
    for device in backends() {
        let long = random_block(12, 3, 9, 8);
        let mut carried = trainer(&device, 6);
        carried.compute_gradients(&slice(&long, 0, 6)).unwrap();
        let state_after_one = carried.hidden_state().unwrap();
        carried.compute_gradients(&slice(&long, 6, 6)).unwrap();

        let mut alone = trainer(&device, 6);
        alone.set_hidden_state(&state_after_one).unwrap();
        alone.compute_gradients(&slice(&long, 6, 6)).unwrap();

        let (g_carried, g_alone) = (carried.gradients().unwrap(), alone.gradients().unwrap());
        assert_close(
            &format!("{}: block 2 gradients", device.name()),
            &g_carried,
            &g_alone,
            BALANCED,
        );
        assert!(g_alone.iter().any(|&g| g != 0.0));
        // And the state really mattered: from a zero state the gradient differs.
        let mut fresh = trainer(&device, 6);
        fresh.compute_gradients(&slice(&long, 6, 6)).unwrap();
        assert_ne!(fresh.gradients().unwrap(), g_alone, "the carried state had no effect");
    }
}

#[test]
fn reset_stream_zeroes_one_stream_and_reset_state_all() {
    for device in backends() {
        let mut t = trainer(&device, 6);
        t.compute_gradients(&random_block(6, 3, 9, 2)).unwrap();
        let before = t.hidden_state().unwrap();
        t.reset_stream(1).unwrap();
        let after = t.hidden_state().unwrap();
        for (i, (a, b)) in after.iter().zip(&before).enumerate() {
            let stream = (i / 16) % 3;
            if stream == 1 {
                assert_eq!(*a, 0.0)
            } else {
                assert_eq!(a, b)
            }
        }
        t.reset_state().unwrap();
        assert!(t.hidden_state().unwrap().iter().all(|&x| x == 0.0));
    }
}
