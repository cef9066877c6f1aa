//! Shared test helpers: the GPU device (or a skip), tolerances by name, and
//! comparisons that name the tensor, the index, got, expected and tolerance.

use std::sync::OnceLock;

use rnn_wgpu::{Block, Cell, Device, ModelConfig};

/// f32 GPU vs f32 CPU after reductions of up to a few thousand terms:
/// different summation orders give relative differences ~1e-6·√n, so 1e-4
/// relative (with an absolute floor for values near zero) is strict.
pub const BALANCED: Tolerance = Tolerance { rel: 1e-4, abs: 1e-5 };
/// For quantities compounded over several optimizer steps (Adam divides by
/// √v, which amplifies tiny gradient differences on near-zero gradients).
pub const PERMISSIVE: Tolerance = Tolerance { rel: 1e-3, abs: 1e-4 };

#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub rel: f64,
    pub abs: f64,
}

/// Asserts `got ≈ expected` elementwise; the message names the tensor, the
/// worst index, both values and the tolerance.
pub fn assert_close(what: &str, got: &[f32], expected: &[f32], tol: Tolerance) {
    assert_eq!(got.len(), expected.len(), "{what}: length differs");
    let mut worst: Option<(usize, f64)> = None;
    for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
        let (g, e) = (g as f64, e as f64);
        // Non-finite values must agree exactly (NaN with NaN, ∞ with ∞).
        let excess = if g.is_finite() && e.is_finite() {
            (g - e).abs() - (tol.abs + tol.rel * e.abs())
        } else if (g.is_nan() && e.is_nan()) || g == e {
            0.0
        } else {
            f64::INFINITY
        };
        if excess > worst.map_or(0.0, |w| w.1) {
            worst = Some((i, excess));
        }
    }
    if let Some((i, _)) = worst {
        panic!("{what}[{i}]: got {}, expected {} (tolerance rel {} abs {})", got[i], expected[i], tol.rel, tol.abs);
    }
}

/// The GPU device shared by all tests, or `None` (with the reason printed)
/// when there is no adapter. With `REQUIRE_GPU=1` a missing adapter fails.
pub fn gpu() -> Option<Device> {
    static DEVICE: OnceLock<Result<Device, String>> = OnceLock::new();
    let device = DEVICE.get_or_init(|| Device::best().map_err(|e| e.to_string()));
    match device {
        Ok(d) => Some(d.clone()),
        Err(reason) if std::env::var("REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("REQUIRE_GPU=1 but no GPU adapter: {reason}")
        }
        Err(reason) => {
            eprintln!("skipping GPU test: {reason}");
            None
        }
    }
}

/// Every kernel path of the GPU, named: the default device, and when it uses
/// the optional subgroup kernels, its portable twin too (the fallback every
/// adapter runs), so both paths are held to the CPU on any adapter with
/// subgroups. Empty without a GPU.
pub fn gpu_paths() -> Vec<(&'static str, Device)> {
    let Some(gpu) = gpu() else { return Vec::new() };
    let mut paths = Vec::new();
    if gpu.uses_subgroups() {
        paths.push(("gpu (subgroups)", gpu.clone()));
        paths.push(("gpu (portable)", gpu.without_subgroups()));
    } else {
        paths.push(("gpu (portable)", gpu));
    }
    paths
}

/// Both backends: the CPU always, the GPU when there is one.
pub fn backends() -> Vec<Device> {
    let mut all = vec![Device::cpu()];
    all.extend(gpu());
    all
}

/// A small char-LM config.
pub fn small(cell: Cell, layers: usize, hidden: usize, vocab: usize) -> ModelConfig {
    ModelConfig::char_lm(cell, layers, hidden, vocab)
}

/// A deterministic pseudo-random block (xorshift; no test depends on rand's streams).
pub fn random_block(steps: usize, batch: usize, vocab: usize, seed: u64) -> Block {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % vocab as u64) as u32
    };
    let inputs = (0..steps * batch).map(|_| next()).collect();
    let targets = (0..steps * batch).map(|_| next()).collect();
    Block::new(steps, batch, inputs, targets).unwrap()
}

/// Deterministic values in [-scale, scale).
pub fn random_values(len: usize, scale: f32, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * scale
        })
        .collect()
}

/// A deterministic block of `features` floats per step for a `head` of
/// `outputs`: class ids for softmax, values in [0, 1] for sigmoid, values in
/// [-1, 1] for linear.
pub fn dense_block(steps: usize, batch: usize, features: usize, head: rnn_wgpu::Head, seed: u64) -> Block {
    use rnn_wgpu::{Head, Inputs, Targets};
    let rows = steps * batch;
    let inputs = Inputs::Dense(random_values(rows * features, 1.0, seed));
    let width = head.width();
    let targets = match head {
        Head::Softmax { classes } => {
            let ids: Vec<u32> = random_values(rows, 1.0, seed + 1)
                .iter()
                .map(|v| (((v + 1.0) * 0.5 * classes as f32) as u32).min(classes as u32 - 1))
                .collect();
            Targets::Classes(ids)
        }
        Head::Sigmoid { .. } => {
            Targets::Values(random_values(rows * width, 0.5, seed + 1).iter().map(|v| v + 0.5).collect())
        }
        Head::Linear { .. } => Targets::Values(random_values(rows * width, 1.0, seed + 1)),
    };
    Block::with(steps, batch, inputs, targets).unwrap()
}
