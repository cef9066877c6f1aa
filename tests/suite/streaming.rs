//! Truncated BPTT: the forward connection between blocks is kept, the
//! backward connection cut — for every cell kind, on both backends.

use rnn_wgpu::{Block, Cell, Device, Inputs, Model, Optimizer, Targets, TrainConfig, Trainer};

use super::common::{BALANCED, assert_close, backends, random_block, small};

const CELLS: [Cell; 3] = [Cell::RnnTanh, Cell::Lstm, Cell::Gru];

fn trainer(device: &Device, cell: Cell, steps: usize) -> Trainer {
    let model = Model::new(device, &small(cell, 2, 16, 9), 5).unwrap();
    let config = TrainConfig { batch: 3, bptt: steps, optimizer: Optimizer::sgd(0.0, 0.0), clip_norm: None, seed: 0 };
    Trainer::new(model, config).unwrap()
}

/// Steps `from..from+len` of a `[T, B]` block.
fn slice(block: &Block, from: usize, len: usize) -> Block {
    let b = block.batch;
    let r = from * b..(from + len) * b;
    let (Inputs::Tokens(inputs), Targets::Classes(targets)) = (&block.inputs, &block.targets) else {
        unreachable!("a token block")
    };
    Block::new(len, b, inputs[r.clone()].to_vec(), targets[r].to_vec()).unwrap()
}

/// h, and c for LSTM.
fn state(t: &Trainer) -> Vec<f32> {
    let mut s = t.hidden_state().unwrap();
    if t.model().config().cell == Cell::Lstm {
        s.extend(t.cell_state().unwrap());
    }
    s
}

#[test]
fn one_block_of_2t_equals_two_blocks_of_t_with_the_state_carried() {
    for device in backends() {
        for cell in CELLS {
            let long = random_block(12, 3, 9, 4);
            let mut whole = trainer(&device, cell, 12);
            whole.compute_gradients(&long).unwrap();
            let whole_loss = whole.stats().unwrap().loss;

            let mut halves = trainer(&device, cell, 6);
            halves.compute_gradients(&slice(&long, 0, 6)).unwrap();
            let first = halves.stats().unwrap().loss;
            halves.compute_gradients(&slice(&long, 6, 6)).unwrap();
            let second = halves.stats().unwrap().loss;

            let name = format!("{} {cell:?}", device.name());
            assert_close(&format!("{name}: final state"), &state(&halves), &state(&whole), BALANCED);
            assert_close(&format!("{name}: mean loss"), &[(first + second) / 2.0], &[whole_loss], BALANCED);
        }
    }
}

#[test]
fn block_two_gradient_equals_block_two_alone_from_block_one_state() {
    for device in backends() {
        for cell in CELLS {
            let long = random_block(12, 3, 9, 8);
            let mut carried = trainer(&device, cell, 6);
            carried.compute_gradients(&slice(&long, 0, 6)).unwrap();
            let (h1, c1) = (carried.hidden_state().unwrap(), carried.cell_state().ok());
            carried.compute_gradients(&slice(&long, 6, 6)).unwrap();

            let mut alone = trainer(&device, cell, 6);
            alone.set_hidden_state(&h1).unwrap();
            if let Some(c1) = &c1 {
                alone.set_cell_state(c1).unwrap();
            }
            alone.compute_gradients(&slice(&long, 6, 6)).unwrap();

            let name = format!("{} {cell:?}", device.name());
            let (g_carried, g_alone) = (carried.gradients().unwrap(), alone.gradients().unwrap());
            assert_close(&format!("{name}: block 2 gradients"), &g_carried, &g_alone, BALANCED);
            assert!(g_alone.iter().any(|&g| g != 0.0));
            // And the state really mattered: from a zero state the gradient differs.
            let mut fresh = trainer(&device, cell, 6);
            fresh.compute_gradients(&slice(&long, 6, 6)).unwrap();
            assert_ne!(fresh.gradients().unwrap(), g_alone, "{name}: the carried state had no effect");
        }
    }
}

#[test]
fn reset_stream_zeroes_one_stream_and_reset_state_all() {
    for device in backends() {
        let mut t = trainer(&device, Cell::Lstm, 6);
        t.compute_gradients(&random_block(6, 3, 9, 2)).unwrap();
        let before = state(&t);
        t.reset_stream(1).unwrap();
        let after = state(&t);
        // state = [h; c], each [L=2, B=3, H=16].
        for (i, (a, b)) in after.iter().zip(&before).enumerate() {
            if (i / 16) % 3 == 1 {
                assert_eq!(*a, 0.0, "element {i} of stream 1 not reset");
            } else {
                assert_eq!(a, b, "element {i} of another stream changed");
            }
        }
        t.reset_state().unwrap();
        assert!(state(&t).iter().all(|&x| x == 0.0));
    }
}

/// Issue 4's dispatch budget: each time step of each layer costs one fused
/// launch forward and one backward (≤ 3 allowed), plus a constant per block;
/// the GPU records exactly the planned ops.
#[test]
fn a_training_block_costs_two_dispatches_per_step_per_layer_plus_a_constant() {
    for device in backends() {
        for cell in CELLS {
            let count = |steps: usize| {
                let mut t = trainer(&device, cell, steps);
                t.step(&random_block(steps, 3, 9, 1)).unwrap();
                assert_eq!(t.dispatches_per_block(), t.planned_dispatches(), "{cell:?}: recorded vs planned");
                t.planned_dispatches()
            };
            let (short, long) = (count(4), count(12));
            let layers = 2;
            assert_eq!(long - short, 2 * layers * (12 - 4), "{} {cell:?}: dispatches per step", device.name());
            assert!(short - 2 * layers * 4 <= 40, "{} {cell:?}: constant of {short} at T = 4", device.name());
        }
    }
}

/// Issue 4's host traffic: a training block is exactly one queue submit and no
/// readback; the loss comes back in one readback only when asked. Counted by
/// the device itself, on a device of its own (other tests share the common one).
#[test]
fn gpu_training_block_is_one_submit_and_reads_back_only_when_asked() {
    if super::common::gpu().is_none() {
        return;
    }
    let device = Device::best().unwrap();
    for cell in CELLS {
        let mut t = trainer(&device, cell, 6);
        let block = random_block(6, 3, 9, 2);
        t.step(&block).unwrap();
        let (submits, readbacks) = (device.submits(), device.readbacks());
        for _ in 0..3 {
            t.step(&block).unwrap();
        }
        assert_eq!(device.submits() - submits, 3, "{cell:?}: submits for 3 blocks");
        assert_eq!(device.readbacks() - readbacks, 0, "{cell:?}: readbacks for 3 blocks");
        t.stats().unwrap();
        assert_eq!(device.readbacks() - readbacks, 1, "{cell:?}: readbacks for one stats()");
        assert_eq!(device.submits() - submits, 3, "{cell:?}: stats() submits nothing");
    }
}
