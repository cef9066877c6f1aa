//! The CPU backend as a reference in any float type: the loss and every
//! gradient of one block, computed by the same plan the trainer runs. The
//! gradient check runs it in f64 against central finite differences.

use crate::bptt::{self, Mode};
use crate::config::ModelConfig;
use crate::cpu::{self, Scalar, Slot};
use crate::data::{Block, Values};
use crate::error::{Error, Result};
use crate::optim::Optimizer;
use crate::params::ParamLayout;
use crate::plan::{Elem, Section, View};

/// What [`loss_and_gradients`] returns.
#[derive(Clone, Debug)]
pub struct Gradients<F> {
    /// Mean cross-entropy over the block.
    pub loss: F,
    /// ∂loss/∂params, flat in layout order.
    pub grads: Vec<F>,
    /// Final hidden state `[L, B, H]`.
    pub h: Vec<F>,
    /// Final LSTM cell state `[L, B, H]`.
    pub c: Option<Vec<F>>,
}

/// Loss, gradients and final state of `block` from the initial state `h0`
/// (and `c0` for LSTM; zeros when `None`). With dropout in `config`, the
/// masks come from `dropout_seed` (the value a trainer writes per block).
pub fn loss_and_gradients<F: Scalar>(
    config: &ModelConfig,
    params: &[F],
    block: &Block,
    h0: Option<&[F]>,
    c0: Option<&[F]>,
    dropout_seed: u32,
) -> Result<Gradients<F>> {
    config.validate()?;
    let layout = ParamLayout::new(config);
    if params.len() != layout.total() {
        return Err(Error::shape("parameter count", layout.total(), params.len()));
    }
    let feed = block.feed(block.steps, block.batch, config)?;
    let mode = Mode::Train { optimizer: Optimizer::sgd(0.0, 0.0), clip_norm: None };
    let graph = bptt::build(config, &layout, block.batch, block.steps, mode);
    let plan = &graph.plan;
    let mut floats: Vec<Vec<F>> =
        plan.buffers.iter().map(|b| vec![F::zero(); if b.elem == Elem::Float { b.len } else { 0 }]).collect();
    let mut fill = |view: Option<View>, values: Option<&[F]>, what: &str| -> Result<()> {
        if let (Some(view), Some(values)) = (view, values) {
            let slot = &mut floats[view.buf.0];
            if values.len() != slot.len() {
                return Err(Error::shape(what, slot.len(), values.len()));
            }
            slot.copy_from_slice(values);
        }
        Ok(())
    };
    fill(Some(graph.params), Some(params), "parameters")?;
    fill(Some(graph.state_h), h0, "initial hidden state")?;
    fill(graph.state_c, c0, "initial cell state")?;
    // The block's buffers; id buffers are copies (the executor may write id buffers).
    let mut ids: Vec<Vec<u32>> = vec![Vec::new(); plan.buffers.len()];
    for (view, values) in graph.feed_views(feed)? {
        match values {
            Values::Ids(v) => ids[view.buf.0] = v,
            Values::Floats(v) => floats[view.buf.0] = v.iter().map(|&x| F::from_f32(x)).collect(),
        }
    }
    if let Some(seed) = graph.dropout_seed {
        ids[seed.buf.0] = vec![dropout_seed];
    }
    let mut slots: Vec<Slot<'_, F>> = Vec::with_capacity(floats.len());
    for (i, (f, id)) in floats.iter_mut().zip(ids.iter_mut()).enumerate() {
        slots.push(match plan.buffers[i].elem {
            Elem::Float => Slot::Float(f),
            Elem::Id => Slot::Id(id),
        });
    }
    cpu::execute(plan, &[Section::Forward, Section::Backward], &mut slots)?;
    drop(slots);
    let take = |v: View| floats[v.buf.0].clone();
    Ok(Gradients {
        loss: floats[graph.stats.buf.0][0],
        grads: graph.grads.map(take).unwrap_or_default(),
        h: take(graph.state_h),
        c: graph.state_c.map(take),
    })
}
