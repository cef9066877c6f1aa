//! The CPU backend as a reference in any float type: the loss and every
//! gradient of one block, computed by the same plan the trainer runs. The
//! gradient check runs it in f64 against central finite differences.

use crate::bptt::{self, Mode};
use crate::config::ModelConfig;
use crate::cpu::{self, Scalar, Slot};
use crate::data::Block;
use crate::error::{Error, Result};
use crate::optim::Optimizer;
use crate::params::ParamLayout;
use crate::plan::{Elem, Section};

/// Loss, flat gradients (layout order), and final hidden state `[L, B, H]`
/// of `block` from the initial hidden state `state` (zeros when `None`).
pub fn loss_and_gradients<F: Scalar>(
    config: &ModelConfig,
    params: &[F],
    block: &Block,
    state: Option<&[F]>,
) -> Result<(F, Vec<F>, Vec<F>)> {
    config.validate()?;
    let layout = ParamLayout::new(config);
    if params.len() != layout.total() {
        return Err(Error::shape("parameter count", layout.total(), params.len()));
    }
    block.check(block.steps, block.batch, config.vocab(), config.classes())?;
    let mode = Mode::Train {
        optimizer: Optimizer::sgd(0.0, 0.0),
        clip_norm: None,
    };
    let graph = bptt::build(config, &layout, block.batch, block.steps, mode);
    let plan = &graph.plan;
    let mut floats: Vec<Vec<F>> = plan
        .buffers
        .iter()
        .map(|b| vec![F::zero(); if b.elem == Elem::Float { b.len } else { 0 }])
        .collect();
    floats[graph.params.buf.0].copy_from_slice(params);
    if let Some(state) = state {
        let slot = &mut floats[graph.state_h.buf.0];
        if state.len() != slot.len() {
            return Err(Error::shape("initial hidden state", slot.len(), state.len()));
        }
        slot.copy_from_slice(state);
    }
    let targets = graph.targets.expect("training plan has targets");
    let mut slots: Vec<Slot<'_, F>> = Vec::with_capacity(floats.len());
    for (i, f) in floats.iter_mut().enumerate() {
        if plan.buffers[i].elem == Elem::Id {
            let ids = if i == graph.tokens.buf.0 {
                &block.inputs
            } else if i == targets.buf.0 {
                &block.targets
            } else {
                return Err(Error::Internal("unknown id buffer".into()));
            };
            slots.push(Slot::Id(ids));
        } else {
            slots.push(Slot::Float(f));
        }
    }
    cpu::execute(plan, &[Section::Forward, Section::Backward], &mut slots)?;
    drop(slots);
    let loss = floats[graph.stats.buf.0][0];
    let grads = floats[graph.grads.expect("training plan has grads").buf.0].clone();
    let state = floats[graph.state_h.buf.0].clone();
    Ok((loss, grads, state))
}
