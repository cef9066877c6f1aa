//! Optimizers with PyTorch's update rules (`torch.optim.SGD`, `Adagrad`, `Adam`
//! with their defaults: no dampening, no Nesterov, no weight decay). The update
//! itself is a kernel (`sgd_momentum`, `adagrad`, `adam` in `shaders/optim.wgsl`
//! and `cpu/kernels.rs`); this file holds the hyper-parameters.

use crate::error::{Error, Result};

/// An update rule and its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// v = μ v + g; p -= lr v.
    Sgd { lr: f32, momentum: f32 },
    /// s += g²; p -= lr g / (√s + eps).
    Adagrad { lr: f32, eps: f32 },
    /// m = β₁m + (1-β₁)g; v = β₂v + (1-β₂)g²; p -= lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + eps).
    Adam { lr: f32, beta1: f32, beta2: f32, eps: f32 },
}

impl Optimizer {
    /// SGD with momentum.
    pub fn sgd(lr: f32, momentum: f32) -> Self {
        Optimizer::Sgd { lr, momentum }
    }

    /// Adagrad with PyTorch's eps = 1e-10.
    pub fn adagrad(lr: f32) -> Self {
        Optimizer::Adagrad { lr, eps: 1e-10 }
    }

    /// Adam with PyTorch's defaults β = (0.9, 0.999), eps = 1e-8.
    pub fn adam(lr: f32) -> Self {
        Optimizer::Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }

    /// "sgd", "adagrad" or "adam".
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd { .. } => "sgd",
            Optimizer::Adagrad { .. } => "adagrad",
            Optimizer::Adam { .. } => "adam",
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            Optimizer::Sgd { lr, .. } | Optimizer::Adagrad { lr, .. } | Optimizer::Adam { lr, .. } => lr,
        }
    }

    /// The same rule with another learning rate (for schedules).
    pub fn with_lr(mut self, new_lr: f32) -> Self {
        match &mut self {
            Optimizer::Sgd { lr, .. } | Optimizer::Adagrad { lr, .. } | Optimizer::Adam { lr, .. } => *lr = new_lr,
        }
        self
    }

    /// How many parameter-sized state buffers the rule keeps (velocity; sum of squares; m and v).
    pub(crate) fn state_buffers(&self) -> usize {
        match self {
            Optimizer::Sgd { .. } | Optimizer::Adagrad { .. } => 1,
            Optimizer::Adam { .. } => 2,
        }
    }

    /// The per-step values the update kernel reads from its `hyper` buffer:
    /// `[lr, 1 - β₁ᵗ, 1 - β₂ᵗ, 0]` for Adam at step `t` (1-based), `[lr, 0, 0, 0]` otherwise.
    pub(crate) fn hyper(&self, step: u64) -> [f32; 4] {
        match *self {
            Optimizer::Adam { lr, beta1, beta2, .. } => {
                let t = step.min(i32::MAX as u64) as i32;
                [lr, 1.0 - beta1.powi(t), 1.0 - beta2.powi(t), 0.0]
            }
            Optimizer::Sgd { lr, .. } | Optimizer::Adagrad { lr, .. } => [lr, 0.0, 0.0, 0.0],
        }
    }

    /// Checks every hyper-parameter; the error names it and its value.
    pub fn validate(&self) -> Result<()> {
        let lr = self.lr();
        if !lr.is_finite() || lr < 0.0 {
            return Err(Error::invalid("learning rate", lr, "must be finite and >= 0"));
        }
        let unit = |what: &str, x: f32| {
            if x.is_finite() && (0.0..1.0).contains(&x) {
                Ok(())
            } else {
                Err(Error::invalid(what, x, "must be finite and in [0, 1)"))
            }
        };
        let eps_ok = |x: f32| {
            if x.is_finite() && x > 0.0 { Ok(()) } else { Err(Error::invalid("eps", x, "must be finite and > 0")) }
        };
        match *self {
            Optimizer::Sgd { momentum, .. } => unit("momentum", momentum),
            Optimizer::Adagrad { eps, .. } => eps_ok(eps),
            Optimizer::Adam { beta1, beta2, eps, .. } => {
                unit("beta1", beta1)?;
                unit("beta2", beta2)?;
                eps_ok(eps)
            }
        }
    }
}
