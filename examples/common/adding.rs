//! The adding problem (Hochreiter & Schmidhuber 1997; here as in Arjovsky et
//! al. 2016): each step reads (value, marker) with value ~ U(0, 1); exactly
//! two steps are marked, one in each half of the sequence; the target, read
//! at the last step, is the sum of the two marked values. Predicting the
//! mean, 1, gives MSE Var(v₁ + v₂) = 1/6; finding the first marked value
//! needs a memory that spans at least half the sequence.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rnn_wgpu::{Block, Inputs, Targets};

/// The MSE of always predicting the mean sum 1.
pub const BASELINE_MSE: f64 = 1.0 / 6.0;

/// `batch` sequences of `steps` steps as one block `[T, B, 2]` with targets `[B, 1]`.
pub fn block(rng: &mut ChaCha8Rng, steps: usize, batch: usize) -> Block {
    let mut x = vec![0.0f32; steps * batch * 2];
    let mut y = vec![0.0f32; batch];
    for b in 0..batch {
        for t in 0..steps {
            x[(t * batch + b) * 2] = rng.random::<f32>();
        }
        let first = rng.random_range(0..steps / 2);
        let second = rng.random_range(steps / 2..steps);
        for t in [first, second] {
            x[(t * batch + b) * 2 + 1] = 1.0;
            y[b] += x[(t * batch + b) * 2];
        }
    }
    Block::with(steps, batch, Inputs::Dense(x), Targets::Values(y)).expect("a whole block")
}

/// A generator seeded for reproducible blocks.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}
