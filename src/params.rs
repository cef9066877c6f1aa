//! The flat parameter layout. All parameters live in one buffer (and their
//! gradients in another of the same layout) so that one optimizer dispatch
//! updates them all; this table says where each PyTorch-named tensor sits.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::ModelConfig;

/// One named tensor inside the flat buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamTensor {
    /// PyTorch state_dict name, e.g. `weight_hh_l0` or `head.weight`.
    pub name: String,
    /// Row-major shape as PyTorch stores it.
    pub shape: Vec<usize>,
    /// First element in the flat buffer.
    pub offset: usize,
}

impl ParamTensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True for a tensor with no elements (never produced by a valid config).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element range in the flat buffer.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// Where each parameter of one layer sits (element offsets into the flat buffer).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LayerParams {
    pub weight_ih: usize,
    pub weight_hh: usize,
    pub bias_ih: usize,
    pub bias_hh: usize,
}

/// The layout of every parameter of a model, in PyTorch's order: per layer
/// `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}` (then the
/// same with `_reverse` when bidirectional), then `head.weight`, `head.bias`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamLayout {
    tensors: Vec<ParamTensor>,
    total: usize,
}

impl ParamLayout {
    /// The layout of `config` (assumed valid).
    pub fn new(config: &ModelConfig) -> Self {
        let gates = config.cell.gates() * config.hidden;
        let mut tensors = Vec::new();
        let mut total = 0;
        let mut push = |name: String, shape: Vec<usize>| {
            let len: usize = shape.iter().product();
            tensors.push(ParamTensor { name, shape, offset: total });
            total += len;
        };
        for k in 0..config.layers {
            for suffix in ["", "_reverse"].into_iter().take(config.directions()) {
                push(format!("weight_ih_l{k}{suffix}"), vec![gates, config.layer_input(k)]);
                push(format!("weight_hh_l{k}{suffix}"), vec![gates, config.hidden]);
                push(format!("bias_ih_l{k}{suffix}"), vec![gates]);
                push(format!("bias_hh_l{k}{suffix}"), vec![gates]);
            }
        }
        push("head.weight".into(), vec![config.outputs(), config.output_width()]);
        push("head.bias".into(), vec![config.outputs()]);
        ParamLayout { tensors, total }
    }

    /// All tensors in layout order.
    pub fn tensors(&self) -> &[ParamTensor] {
        &self.tensors
    }

    /// Total number of parameters.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The tensor called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&ParamTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Direction `dir` (0 forward, 1 reverse) of layer `k` in a model of
    /// `directions` directions per layer.
    pub(crate) fn layer(&self, k: usize, dir: usize, directions: usize) -> LayerParams {
        let at = |i: usize| self.tensors[4 * (k * directions + dir) + i].offset;
        LayerParams { weight_ih: at(0), weight_hh: at(1), bias_ih: at(2), bias_hh: at(3) }
    }

    /// Offsets of `head.weight` and `head.bias`.
    pub(crate) fn head(&self) -> (usize, usize) {
        let n = self.tensors.len();
        (self.tensors[n - 2].offset, self.tensors[n - 1].offset)
    }

    /// PyTorch's default initialisation, U(-1/√H, 1/√H) on every parameter
    /// (the head's `nn.Linear(H, C)` has the same bound, 1/√fan_in), drawn in
    /// layout order from ChaCha8 seeded with `seed`: portable and
    /// value-stable, so one seed gives the same weights on every backend.
    pub fn init(&self, hidden: usize, seed: u64) -> Vec<f32> {
        let bound = 1.0 / (hidden as f32).sqrt();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..self.total).map(|_| rng.random_range(-bound..bound)).collect()
    }
}
