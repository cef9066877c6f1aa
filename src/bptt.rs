//! The truncated-BPTT driver, written once for both backends: it lays out the
//! buffers of one block and records its ops in order. The CPU backend runs the
//! ops with their Rust twins, the GPU backend records one dispatch per op.
//!
//! Layout (time-major, row-major), for layer l with G = gates·H:
//! - `xw_l [T, B, G]`: x·W_ihᵀ + b_ih for all positions; RNN and LSTM add
//!   h·W_hhᵀ + b_hh step by step; the cell kernels leave the activated gates
//!   there (what backward needs).
//! - `hw_l [T, B, 3H]` (GRU only): h·W_hhᵀ + b_hh, kept apart because r
//!   multiplies its n block.
//! - `hs_l [T+1, B, H]`: h_0 (the carried state) .. h_T; `cs_l` the same for
//!   the LSTM's c.
//! - training: `dh_l [T, B, H]` = ∂L/∂h_t (from above, plus the recurrence),
//!   `dxw_l`, `dhw_l [T, B, G]` = ∂L/∂ of the input and recurrent
//!   pre-activations (one buffer for RNN and LSTM, where they are equal; the
//!   RNN's is `xw_l` itself, whose pre-activations backward never reads),
//!   `dc_l [B, H]` the LSTM's ∂L/∂c carried backwards through the steps.

use crate::config::{Cell, Head, Input, ModelConfig};
use crate::data::{Feed, Values};
use crate::error::{Error, Result};
use crate::optim::Optimizer;
use crate::params::ParamLayout;
use crate::plan::{
    Activation, CellOp, Elem, LossKind, Matmul, NORM_CHUNK, Op, Plan, SAMPLE_CONTROL_HEADER, Section, View,
    token_buckets,
};

/// What a plan is for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Mode {
    /// Forward with loss, backward, and an optimizer update.
    Train { optimizer: Optimizer, clip_norm: Option<f32> },
    /// Forward with loss only (validation): no dropout.
    Eval,
    /// Forward to log-probabilities (sampling): no dropout.
    Infer,
}

/// The per-block buffers of a bidirectional plan (contents from `Feed`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bidirectional {
    /// The block's inputs with each stream's valid steps reversed.
    pub inputs_rev: View,
    /// The reversal as a row permutation of `[T, B]` (its own inverse).
    pub reverse_rows: View,
    /// Half-rows of a layer's output ← rows of its `hs` (both directions).
    pub cat_index: View,
    /// Rows of a layer's `dh` (both directions) ← half-rows of ∂(output).
    pub cat_inverse: View,
    /// The same for the top layer (differs under a last-step readout).
    pub cat_index_top: View,
    pub cat_inverse_top: View,
}

/// The per-block token buckets of a training plan over token input
/// (`plan::token_buckets` of each direction's tokens), read by ∂W_ih.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Buckets {
    pub vocab: usize,
    /// Of `inputs`.
    pub forward: View,
    /// Of a bidirectional plan's `inputs_rev`.
    pub reverse: Option<View>,
}

/// A plan plus the views its owner reads and writes from the host.
pub(crate) struct Graph {
    pub plan: Plan,
    /// The flat parameters (bound to the model's buffer).
    pub params: View,
    /// Gradients, same layout as `params` (training only).
    pub grads: Option<View>,
    /// The optimizer's state buffers, each laid out like `params` (training only).
    pub opt_state: Vec<View>,
    /// Carried hidden state `[L, B, H]`.
    pub state_h: View,
    /// Carried LSTM cell state `[L, B, H]`.
    pub state_c: Option<View>,
    /// The block's inputs: token ids `[T, B]` or features `[T, B, I]`.
    pub inputs: View,
    /// Targets (training and evaluation): class ids `[T, B]` or values `[T, B, K]`.
    pub targets: Option<View>,
    /// Each target row's loss weight `[T, B]`, written per block (training and evaluation).
    pub weights: Option<View>,
    /// Per stream, the row of `hs_l` that becomes the carried state `[B]`
    /// (`len·B + b`), written per block (training and evaluation).
    pub final_rows: Option<View>,
    /// A bidirectional model's reversed inputs and index maps.
    pub bidirectional: Option<Bidirectional>,
    /// Training over tokens: the tokens grouped by id, written per block.
    pub buckets: Option<Buckets>,
    /// `[lr, 1-β₁ᵗ, 1-β₂ᵗ, 0]`, written per block (training only).
    pub hyper: Option<View>,
    /// The dropout seed of the block, `[1]` (training with dropout only).
    pub dropout_seed: Option<View>,
    /// `[loss, grad norm, clip factor, 0]`, the block's readout.
    pub stats: View,
    /// Each layer's h_1..h_T `[T, B, H]`, bottom first.
    pub layer_outputs: Vec<View>,
    /// Each layer's ∂L/∂h_1..∂L/∂h_T `[T, B, H]` after backward (training only).
    pub hidden_grads: Vec<View>,
    /// The head's outputs z `[T, B, K]` after a forward (before any gradient is written over them).
    pub logits: View,
}

impl Graph {
    /// The per-block buffers of a training or evaluation plan, paired with a
    /// block's contents.
    pub(crate) fn feed_views(&self, feed: Feed) -> Result<Vec<(View, Values)>> {
        let (Some(targets), Some(weights), Some(final_rows)) = (self.targets, self.weights, self.final_rows) else {
            return Err(Error::Internal("a block fed to a plan without a loss".into()));
        };
        let mut views = Vec::new();
        if let Some(buckets) = self.buckets {
            let reversed = feed.reversal.as_ref().map(|r| &r.inputs_rev);
            for (view, tokens) in std::iter::once((Some(buckets.forward), Some(&feed.inputs)))
                .chain(buckets.reverse.map(|v| (Some(v), reversed)))
            {
                let (Some(view), Some(Values::Ids(tokens))) = (view, tokens) else {
                    return Err(Error::Internal("token buckets for a block without token ids".into()));
                };
                views.push((view, Values::Ids(token_buckets(tokens, buckets.vocab))));
            }
        }
        views.extend([
            (self.inputs, feed.inputs),
            (targets, feed.targets),
            (weights, Values::Floats(feed.weights)),
            (final_rows, Values::Ids(feed.final_rows)),
        ]);
        match (self.bidirectional, feed.reversal) {
            (Some(bi), Some(r)) => views.extend([
                (bi.inputs_rev, r.inputs_rev),
                (bi.reverse_rows, Values::Ids(r.reverse_rows)),
                (bi.cat_index, Values::Ids(r.cat_index)),
                (bi.cat_inverse, Values::Ids(r.cat_inverse)),
                (bi.cat_index_top, Values::Ids(r.cat_index_top)),
                (bi.cat_inverse_top, Values::Ids(r.cat_inverse_top)),
            ]),
            (None, None) => {}
            _ => return Err(Error::Internal("a block fed for the other number of directions".into())),
        }
        Ok(views)
    }
}

/// `c = a · op(b) (+ bias)` as an op; `b` is a PyTorch weight `[n, k]` when `b_trans`.
#[allow(clippy::too_many_arguments)]
fn matmul(
    c: View,
    a: View,
    b: View,
    bias: Option<View>,
    (m, n, k): (usize, usize, usize),
    a_trans: bool,
    b_trans: bool,
    accumulate: bool,
) -> Op {
    Op::Matmul(Matmul { c, a, b, bias, m, n, k, a_trans, b_trans, accumulate })
}

/// Per-layer buffers of a generation plan.
struct Layer {
    xw: View,
    hw: Option<View>,
    hs: View,
    cs: Option<View>,
}

/// The loss a head trains with.
pub(crate) fn loss_kind(head: Head) -> LossKind {
    match head {
        Head::Softmax { .. } => LossKind::SoftmaxXent,
        Head::Sigmoid { .. } => LossKind::SigmoidBce,
        Head::Linear { .. } => LossKind::MeanSquared,
    }
}

/// The views one forward step of one layer touches.
struct StepViews {
    /// The step's input pre-activations `[B, G·H]`; the activated gates after.
    gates: View,
    /// GRU: where h_{t-1}·W_hhᵀ + b_hh goes `[B, 3H]`.
    hw: Option<View>,
    h_prev: View,
    h_next: View,
    /// LSTM: (c_{t-1}, c_t).
    c: Option<(View, View)>,
}

/// One forward step in one launch: the recurrent GEMM h_{t-1}·W_hhᵀ + b_hh,
/// added into the gates (RNN, LSTM) or kept apart (GRU), then the cell.
fn forward_step(cell: Cell, (w_hh, b_hh): (View, View), v: StepViews, batch: usize, hidden: usize) -> Op {
    let target = v.hw.unwrap_or(v.gates);
    let matmul = Matmul {
        c: target,
        a: v.h_prev,
        b: w_hh,
        bias: Some(b_hh),
        m: batch,
        n: w_hh.len / hidden,
        k: hidden,
        a_trans: false,
        b_trans: true,
        accumulate: v.hw.is_none(),
    };
    let (gates, h) = (v.gates, v.h_next);
    let cell = match cell {
        Cell::RnnTanh => CellOp::RnnForward { h, pre: gates, activation: Activation::Tanh },
        Cell::RnnRelu => CellOp::RnnForward { h, pre: gates, activation: Activation::Relu },
        Cell::Lstm => {
            let (c_prev, c) = v.c.expect("LSTM layers have c");
            CellOp::LstmForward { gates, c, h, c_prev, hidden }
        }
        Cell::Gru => CellOp::GruForward { gates, h, hw: target, h_prev: v.h_prev, hidden },
    };
    Op::Step { matmul, cell }
}

/// One direction of one layer: its parameters and per-step buffers. A
/// reverse direction runs exactly like a forward one over its input with
/// each stream's valid steps reversed (the `reverse_rows` permutation), so
/// padding stays a suffix and every kernel and gradient is shared.
struct Dir {
    p: crate::params::LayerParams,
    /// What it reads `[T·B, I]` (in its own step order).
    input: View,
    xw: View,
    hw: Option<View>,
    /// `[T+1, B, H]`, a part of the layer's `hs` buffer.
    hs: View,
    cs: Option<View>,
}

/// Builds the plan of one block of `steps` × `batch` for `config`.
pub(crate) fn build(config: &ModelConfig, layout: &ParamLayout, batch: usize, steps: usize, mode: Mode) -> Graph {
    let (b, t_len, h) = (batch, steps, config.hidden);
    let cell = config.cell;
    let g = cell.gates() * h;
    let (layers, classes, dirs) = (config.layers, config.outputs(), config.directions());
    let width = config.output_width();
    let rows = t_len * b;
    let training = matches!(mode, Mode::Train { .. });
    let dropout = (training && config.dropout > 0.0 && layers > 1).then_some(config.dropout);

    let mut plan = Plan::default();
    let params = plan.buffer("params", layout.total(), Elem::Float);
    let grads = training.then(|| plan.buffer("grads", layout.total(), Elem::Float));
    let opt_state = match mode {
        Mode::Train { optimizer, .. } => (0..optimizer.state_buffers())
            .map(|i| plan.buffer(format!("optimizer_state{i}"), layout.total(), Elem::Float))
            .collect(),
        _ => Vec::new(),
    };
    let hyper = training.then(|| plan.buffer("hyper", 4, Elem::Float));
    let stats = plan.buffer("stats", 4, Elem::Float);
    let state_len = layers * dirs * b * h;
    let state_h = plan.buffer("state_h", state_len, Elem::Float);
    let state_c = (cell == Cell::Lstm).then(|| plan.buffer("state_c", state_len, Elem::Float));
    let input_buffer = |plan: &mut Plan, name: &str| match config.input {
        Input::Tokens { .. } => plan.buffer(name, rows, Elem::Id),
        Input::Dense { features } => plan.buffer(name, rows * features, Elem::Float),
    };
    let inputs = input_buffer(&mut plan, "inputs");
    let loss = loss_kind(config.head);
    let targets = (mode != Mode::Infer).then(|| match loss.target_elem() {
        Elem::Id => plan.buffer("targets", rows, Elem::Id),
        Elem::Float => plan.buffer("targets", rows * classes, Elem::Float),
    });
    let weights = targets.map(|_| plan.buffer("loss_weights", rows, Elem::Float));
    let final_rows = targets.map(|_| plan.buffer("final_rows", b, Elem::Id));
    let dropout_seed = dropout.map(|_| plan.buffer("dropout_seed", 1, Elem::Id));
    // Bidirectional: the reversed inputs and the per-block index maps (see `Feed`).
    let bi = (dirs == 2).then(|| Bidirectional {
        inputs_rev: input_buffer(&mut plan, "inputs_rev"),
        reverse_rows: plan.buffer("reverse_rows", rows, Elem::Id),
        cat_index: plan.buffer("cat_index", 2 * rows, Elem::Id),
        cat_inverse: plan.buffer("cat_inverse", 2 * rows, Elem::Id),
        cat_index_top: plan.buffer("cat_index_top", 2 * rows, Elem::Id),
        cat_inverse_top: plan.buffer("cat_inverse_top", 2 * rows, Elem::Id),
    });
    let buckets = match (training, config.input) {
        (true, Input::Tokens { vocab }) => Some(Buckets {
            vocab,
            forward: plan.buffer("token_buckets", vocab + 1 + rows, Elem::Id),
            reverse: bi.map(|_| plan.buffer("token_buckets_rev", vocab + 1 + rows, Elem::Id)),
        }),
        _ => None,
    };
    let hs: Vec<View> =
        (0..layers).map(|l| plan.buffer(format!("hs_l{l}"), dirs * (t_len + 1) * b * h, Elem::Float)).collect();
    // A layer's output `[T·B, D·H]`: h_1..h_T itself, or both directions gathered side by side.
    let out: Vec<View> = (0..layers)
        .map(|l| match bi {
            None => hs[l].rows(1, t_len, b * h),
            Some(_) => plan.buffer(format!("out_l{l}"), rows * width, Elem::Float),
        })
        .collect();
    let dropped: Vec<Option<View>> = (0..layers)
        .map(|l| {
            (dropout.is_some() && l + 1 < layers)
                .then(|| plan.buffer(format!("dropped_l{l}"), rows * width, Elem::Float))
        })
        .collect();
    // What layer l reads from below, in time order (after dropout, in training).
    let below = |l: usize| match l {
        0 => inputs,
        _ => dropped[l - 1].unwrap_or(out[l - 1]),
    };
    let mut net: Vec<Vec<Dir>> = Vec::with_capacity(layers);
    for (l, &hs_l) in hs.iter().enumerate() {
        let input = config.layer_input(l);
        let dir_views = (0..dirs)
            .map(|d| {
                let input = match (d, bi, l) {
                    (0, _, _) => below(l),
                    (_, Some(bi), 0) => bi.inputs_rev,
                    _ => plan.buffer(format!("input_rev_l{l}"), rows * input, Elem::Float),
                };
                let name = |what: &str| format!("{what}_l{l}{}", if d == 1 { "_reverse" } else { "" });
                Dir {
                    p: layout.layer(l, d, dirs),
                    input,
                    xw: plan.buffer(name("xw"), rows * g, Elem::Float),
                    hw: (cell == Cell::Gru).then(|| plan.buffer(name("hw"), rows * g, Elem::Float)),
                    hs: hs_l.sub(d * (t_len + 1) * b * h, (t_len + 1) * b * h),
                    cs: (cell == Cell::Lstm).then(|| plan.buffer(name("cs"), (t_len + 1) * b * h, Elem::Float)),
                }
            })
            .collect();
        net.push(dir_views);
    }
    let logits = plan.buffer("logits", rows * classes, Elem::Float);
    let losses = targets.map(|_| plan.buffer("losses", rows, Elem::Float));

    let param = |offset: usize, len: usize| params.sub(offset, len);
    let (head_w_off, head_b_off) = layout.head();
    let (head_w, head_b) = (param(head_w_off, classes * width), param(head_b_off, classes));
    let step = |v: View, t: usize, width: usize| v.row(t, b * width);
    let gather = |out: View, x: View, index: View, width: usize, accumulate: bool| Op::RowGather {
        out,
        x,
        index,
        width,
        accumulate,
    };

    // ---- forward: carried state in, T steps per layer and direction, head, loss, state out.
    use Section::Forward as F;
    for l in 0..layers {
        let input = config.layer_input(l);
        for (d, dir) in net[l].iter().enumerate() {
            let p = dir.p;
            let (w_ih, w_hh) = (param(p.weight_ih, g * input), param(p.weight_hh, g * h));
            let (b_ih, b_hh) = (param(p.bias_ih, g), param(p.bias_hh, g));
            let state = l * dirs + d;
            plan.push(F, Op::Copy { dst: step(dir.hs, 0, h), src: state_h.row(state, b * h) });
            if let (Some(cs), Some(state_c)) = (dir.cs, state_c) {
                plan.push(F, Op::Copy { dst: step(cs, 0, h), src: state_c.row(state, b * h) });
            }
            // A reverse direction above layer 0 reads the layer below with each stream reversed.
            if let (1, Some(bi), true) = (d, bi, l > 0) {
                plan.push(F, gather(dir.input, below(l), bi.reverse_rows, input, false));
            }
            // Input projection of all T·B positions at once, before the time loop.
            match (l, config.input) {
                (0, Input::Tokens { vocab }) => {
                    plan.push(F, Op::EmbedForward { out: dir.xw, weight: w_ih, bias: b_ih, tokens: dir.input, vocab })
                }
                _ => plan.push(F, matmul(dir.xw, dir.input, w_ih, Some(b_ih), (rows, g, input), false, true, false)),
            }
            for t in 0..t_len {
                let views = StepViews {
                    gates: step(dir.xw, t, g),
                    hw: dir.hw.map(|hw| step(hw, t, g)),
                    h_prev: step(dir.hs, t, h),
                    h_next: step(dir.hs, t + 1, h),
                    c: dir.cs.map(|cs| (step(cs, t, h), step(cs, t + 1, h))),
                };
                plan.push(F, forward_step(cell, (w_hh, b_hh), views, b, h));
            }
            // The carried state: h_T, or with per-block lengths each stream's state
            // at its length (padding does not move it).
            let state_out = |dst: View, all: View| match final_rows {
                Some(index) => gather(dst, all, index, h, false),
                None => Op::Copy { dst, src: step(all, t_len, h) },
            };
            plan.push(F, state_out(state_h.row(state, b * h), dir.hs));
            if let (Some(cs), Some(state_c)) = (dir.cs, state_c) {
                plan.push(F, state_out(state_c.row(state, b * h), cs));
            }
        }
        // Both directions side by side, each at its time step (the top layer under a
        // last-step readout puts the reverse direction's final state beside the last step).
        if let Some(bi) = bi {
            let index = if l + 1 == layers { bi.cat_index_top } else { bi.cat_index };
            plan.push(F, gather(out[l], hs[l], index, h, false));
        }
        if let (Some(dropped), Some(p), Some(seed)) = (dropped[l], dropout, dropout_seed) {
            plan.push(F, Op::Dropout { out: dropped, x: out[l], seed, salt: l as u32, p });
        }
    }
    let top = layers - 1;
    plan.push(F, matmul(logits, out[top], head_w, Some(head_b), (rows, classes, width), false, true, false));
    match (targets, weights, losses) {
        (Some(targets), Some(weights), Some(losses)) => {
            let write_grad = training;
            plan.push(F, Op::Loss { kind: loss, logits, losses, targets, weights, width: classes, write_grad });
            // The weights carry the mean: the sum of weighted losses is the block's loss.
            plan.push(F, Op::LossSum { out: stats.sub(0, 1), losses, scale: 1.0 });
        }
        _ => plan.push(F, Op::LogSoftmax { logits, classes }),
    }

    let graph = |plan, grads, hyper| Graph {
        plan,
        params,
        grads,
        opt_state: opt_state.clone(),
        state_h,
        state_c,
        inputs,
        targets,
        weights,
        final_rows,
        bidirectional: bi,
        buckets,
        hyper,
        dropout_seed,
        stats,
        layer_outputs: out.clone(),
        hidden_grads: Vec::new(),
        logits,
    };
    let (Mode::Train { optimizer, clip_norm }, Some(grads), Some(hyper)) = (mode, grads, hyper) else {
        return graph(plan, grads, hyper);
    };

    // ---- backward: logits now hold ∂L/∂logits (weighted per row).
    use Section::Backward as B;
    // ∂L/∂h_t of each layer, both directions in one buffer (each in its own step order).
    let dh: Vec<View> = (0..layers).map(|l| plan.buffer(format!("dh_l{l}"), dirs * rows * h, Elem::Float)).collect();
    let dh_dir = |l: usize, d: usize| dh[l].sub(d * rows * h, rows * h);
    // ∂L/∂(a layer's output) `[T·B, D·H]` before it is split between directions.
    let dout = bi.map(|_| plan.buffer("dout", rows * width, Elem::Float));
    let din_rev = bi.filter(|_| layers > 1).map(|_| plan.buffer("din_rev", rows * width, Elem::Float));
    let dc = (cell == Cell::Lstm).then(|| plan.buffer("dc", b * h, Elem::Float));
    let grad = |offset: usize, len: usize| grads.sub(offset, len);
    plan.push(B, Op::Fill { dst: grads, value: 0.0 });
    // ∂V += ∂logitsᵀ·H, ∂c += Σ_rows ∂logits, ∂H_top = ∂logits·V.
    plan.push(
        B,
        matmul(grad(head_w_off, classes * width), logits, out[top], None, (classes, width, rows), true, false, true),
    );
    plan.push(B, Op::ColumnSum { out: grad(head_b_off, classes), x: logits, cols: classes });
    // ∂L/∂(layer l's output) lands in dh[l] directly, or in `dout` to be split.
    let d_output = |l: usize| dout.unwrap_or(dh[l]);
    plan.push(B, matmul(d_output(top), logits, head_w, None, (rows, width, classes), false, false, false));
    for l in (0..layers).rev() {
        let input = config.layer_input(l);
        if let Some(bi) = bi {
            let index = if l == top { bi.cat_inverse_top } else { bi.cat_inverse };
            plan.push(B, gather(dh[l], d_output(l), index, h, false));
        }
        for (d, dir) in net[l].iter().enumerate() {
            let p = dir.p;
            let (dh_l, w_hh) = (dh_dir(l, d), param(p.weight_hh, g * h));
            // The RNN's backward never reads its pre-activations, so ∂pre takes
            // their place: its only activation kept for backward is h.
            let dxw = match cell {
                Cell::RnnTanh | Cell::RnnRelu => dir.xw,
                _ => plan.buffer(format!("dxw_l{l}_{d}"), rows * g, Elem::Float),
            };
            let dhw = match cell {
                Cell::Gru => plan.buffer(format!("dhw_l{l}_{d}"), rows * g, Elem::Float),
                _ => dxw,
            };
            if let Some(dc) = dc {
                // ∂L/∂c_T from the next block is cut, like ∂L/∂h_T.
                plan.push(B, Op::Fill { dst: dc, value: 0.0 });
            }
            // The cell op of step t's backward; it needs all of ∂h_t.
            let backward_cell = |t: usize| {
                let (dh_t, gates) = (step(dh_l, t, h), step(dir.xw, t, g));
                let act = |activation| CellOp::RnnBackward {
                    dpre: step(dxw, t, g),
                    dh: dh_t,
                    h: step(dir.hs, t + 1, h),
                    activation,
                };
                match cell {
                    Cell::RnnTanh => act(Activation::Tanh),
                    Cell::RnnRelu => act(Activation::Relu),
                    Cell::Lstm => {
                        let cs = dir.cs.expect("LSTM layers have c");
                        let (c, c_prev) = (step(cs, t + 1, h), step(cs, t, h));
                        let dc = dc.expect("LSTM has dc");
                        CellOp::LstmBackward { dgates: step(dxw, t, g), dc, dh: dh_t, gates, c, c_prev, hidden: h }
                    }
                    Cell::Gru => CellOp::GruBackward {
                        dxw: step(dxw, t, g),
                        dhw: step(dhw, t, g),
                        dh_prev: (t > 0).then(|| step(dh_l, t - 1, h)),
                        dh: dh_t,
                        gates,
                        hw: step(dir.hw.expect("GRU layers have hw"), t, g),
                        h_prev: step(dir.hs, t, h),
                        hidden: h,
                    },
                }
            };
            // The last step's ∂h is complete (from above only); every earlier one
            // is completed by the recurrent GEMM ∂h_{t-1} += ∂pre_t·W_hh, which runs
            // in one launch with the cell backward of step t-1. The gradient into
            // h_0 is not needed.
            plan.push(B, Op::Cell(backward_cell(t_len - 1)));
            for t in (1..t_len).rev() {
                let matmul = Matmul {
                    c: step(dh_l, t - 1, h),
                    a: step(dhw, t, g),
                    b: w_hh,
                    bias: None,
                    m: b,
                    n: h,
                    k: g,
                    a_trans: false,
                    b_trans: false,
                    accumulate: true,
                };
                plan.push(B, Op::Step { matmul, cell: backward_cell(t - 1) });
            }
            // Weight gradients as single GEMMs over K = T·B, bias gradients as column sums.
            let h_prevs = dir.hs.rows(0, t_len, b * h);
            plan.push(B, matmul(grad(p.weight_hh, g * h), dhw, h_prevs, None, (g, h, rows), true, false, true));
            plan.push(B, Op::ColumnSum { out: grad(p.bias_hh, g), x: dhw, cols: g });
            // RNN and LSTM add both biases to one pre-activation: one sum serves both.
            if dhw == dxw {
                plan.push(B, Op::Copy { dst: grad(p.bias_ih, g), src: grad(p.bias_hh, g) });
            } else {
                plan.push(B, Op::ColumnSum { out: grad(p.bias_ih, g), x: dxw, cols: g });
            }
            let dw_ih = grad(p.weight_ih, g * input);
            match (l, config.input) {
                (0, Input::Tokens { vocab }) => {
                    let of_dir = buckets.and_then(|k| if d == 0 { Some(k.forward) } else { k.reverse });
                    let buckets = of_dir.expect("training over tokens has buckets per direction");
                    plan.push(B, Op::EmbedBackward { dweight: dw_ih, dout: dxw, tokens: dir.input, buckets, vocab })
                }
                _ => plan.push(B, matmul(dw_ih, dxw, dir.input, None, (g, input, rows), true, false, true)),
            }
            if l > 0 {
                // ∂(input) = ∂xw·W_ih: straight into ∂(output of l-1) for the forward
                // direction, through the reversal (its own inverse) for the reverse one.
                let w_ih = param(p.weight_ih, g * input);
                match (d, bi, din_rev) {
                    (1, Some(bi), Some(din_rev)) => {
                        plan.push(B, matmul(din_rev, dxw, w_ih, None, (rows, input, g), false, false, false));
                        plan.push(B, gather(d_output(l - 1), din_rev, bi.reverse_rows, input, true));
                    }
                    _ => plan.push(B, matmul(d_output(l - 1), dxw, w_ih, None, (rows, input, g), false, false, false)),
                }
            }
        }
        if let (true, Some(p), Some(seed)) = (l > 0, dropout, dropout_seed) {
            plan.push(B, Op::DropoutBackward { dx: d_output(l - 1), seed, salt: (l - 1) as u32, p });
        }
    }
    // ---- update: global norm (clip factor on the device), then one optimizer dispatch.
    use Section::Update as U;
    let partials = plan.buffer("norm_partials", layout.total().div_ceil(NORM_CHUNK), Elem::Float);
    let norm = stats.sub(1, 2);
    plan.push(U, Op::GradNormPartial { partials, grads });
    plan.push(U, Op::GradNormFinish { stats: norm, partials, max_norm: clip_norm });
    let update = match optimizer {
        Optimizer::Sgd { momentum, .. } => {
            Op::SgdMomentum { params, velocity: opt_state[0], grads, stats: norm, hyper, momentum }
        }
        Optimizer::Adagrad { eps, .. } => Op::Adagrad { params, sum_sq: opt_state[0], grads, stats: norm, hyper, eps },
        Optimizer::Adam { beta1, beta2, eps, .. } => {
            Op::Adam { params, m: opt_state[0], v: opt_state[1], grads, stats: norm, hyper, beta1, beta2, eps }
        }
    };
    plan.push(U, update);
    Graph { hidden_grads: dh, ..graph(plan, Some(grads), Some(hyper)) }
}

/// The plan of `steps` generation steps for `streams` independent streams:
/// each step feeds every stream's current input through the layers and the
/// head, and the next input is made on the device from the head's output —
/// a token drawn by `sample_next`, or the prediction itself for a dense
/// model — so a chunk of steps is one submit with one readback.
pub(crate) struct Generation {
    pub plan: Plan,
    pub params: View,
    /// Carried hidden state `[L, N, H]` (and c for LSTM).
    pub state_h: View,
    pub state_c: Option<View>,
    pub io: GenerationIo,
}

/// How a generation plan's inputs and outputs live.
pub(crate) enum GenerationIo {
    /// Token ids `[steps + 1, N]`: row 0 the first input, row t+1 the token
    /// drawn (or forced) at step t; the `sample_next` control words; rows 1..
    /// of `tokens` as floats `[steps, N]` (the readout).
    Tokens { tokens: View, control: View, samples: View },
    /// Values `[steps + 1, N, F]`: rows `0..forced` written by the host (the
    /// prime), row t+1 for t ≥ forced - 1 the prediction of step t (the
    /// readout: the whole buffer).
    Dense { values: View, forced: usize },
}

/// How the next input is made in a generation plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Feedback {
    /// Draw a token from a softmax head (primes are forced per stream at run time).
    Sample,
    /// Feed a linear head's prediction back as the next features, after
    /// `forced` host-written input rows.
    Predict { forced: usize },
}

/// Builds a generation plan (token or dense input; no dropout; one direction).
pub(crate) fn build_generation(
    config: &ModelConfig,
    layout: &ParamLayout,
    streams: usize,
    steps: usize,
    feedback: Feedback,
) -> Generation {
    let (n, h, cell) = (streams, config.hidden, config.cell);
    let g = cell.gates() * h;
    let (layers, classes, features) = (config.layers, config.outputs(), config.input_width());
    let mut plan = Plan::default();
    let params = plan.buffer("params", layout.total(), Elem::Float);
    let state_h = plan.buffer("state_h", layers * n * h, Elem::Float);
    let state_c = (cell == Cell::Lstm).then(|| plan.buffer("state_c", layers * n * h, Elem::Float));
    let io = match feedback {
        Feedback::Sample => GenerationIo::Tokens {
            tokens: plan.buffer("tokens", (steps + 1) * n, Elem::Id),
            control: plan.buffer("control", SAMPLE_CONTROL_HEADER + n, Elem::Id),
            samples: plan.buffer("samples", steps * n, Elem::Float),
        },
        Feedback::Predict { forced } => {
            GenerationIo::Dense { values: plan.buffer("values", (steps + 1) * n * features, Elem::Float), forced }
        }
    };
    let logits = plan.buffer("logits", n * classes, Elem::Float);
    // One step of inputs per layer, and h (and c) ping-ponging between two rows.
    let net: Vec<Layer> = (0..layers)
        .map(|l| Layer {
            xw: plan.buffer(format!("xw_l{l}"), n * g, Elem::Float),
            hw: (cell == Cell::Gru).then(|| plan.buffer(format!("hw_l{l}"), n * g, Elem::Float)),
            hs: plan.buffer(format!("hs_l{l}"), 2 * n * h, Elem::Float),
            cs: (cell == Cell::Lstm).then(|| plan.buffer(format!("cs_l{l}"), 2 * n * h, Elem::Float)),
        })
        .collect();
    let param = |offset: usize, len: usize| params.sub(offset, len);
    let row = |v: View, t: usize| v.row(t % 2, n * h);
    use Section::Forward as F;
    for (l, layer) in net.iter().enumerate() {
        plan.push(F, Op::Copy { dst: row(layer.hs, 0), src: state_h.row(l, n * h) });
        if let (Some(cs), Some(state_c)) = (layer.cs, state_c) {
            plan.push(F, Op::Copy { dst: row(cs, 0), src: state_c.row(l, n * h) });
        }
    }
    let (head_w_off, head_b_off) = layout.head();
    let (head_w, head_b) = (param(head_w_off, classes * h), param(head_b_off, classes));
    for t in 0..steps {
        for (l, layer) in net.iter().enumerate() {
            let p = layout.layer(l, 0, 1);
            let input = config.layer_input(l);
            let (w_ih, b_ih) = (param(p.weight_ih, g * input), param(p.bias_ih, g));
            let projection = match (l, &io) {
                (0, GenerationIo::Tokens { tokens, .. }) => {
                    Op::EmbedForward { out: layer.xw, weight: w_ih, bias: b_ih, tokens: tokens.row(t, n), vocab: input }
                }
                (0, GenerationIo::Dense { values, .. }) => {
                    matmul(layer.xw, values.row(t, n * features), w_ih, Some(b_ih), (n, g, input), false, true, false)
                }
                _ => {
                    let below = row(net[l - 1].hs, t + 1);
                    matmul(layer.xw, below, w_ih, Some(b_ih), (n, g, input), false, true, false)
                }
            };
            plan.push(F, projection);
            let views = StepViews {
                gates: layer.xw,
                hw: layer.hw,
                h_prev: row(layer.hs, t),
                h_next: row(layer.hs, t + 1),
                c: layer.cs.map(|cs| (row(cs, t), row(cs, t + 1))),
            };
            let w_hh = (param(p.weight_hh, g * h), param(p.bias_hh, g));
            plan.push(F, forward_step(cell, w_hh, views, n, h));
        }
        let top = row(net[layers - 1].hs, t + 1);
        match io {
            GenerationIo::Tokens { tokens, control, samples } => {
                plan.push(F, matmul(logits, top, head_w, Some(head_b), (n, classes, h), false, true, false));
                let (tokens, samples) = (tokens.row(t + 1, n), samples.row(t, n));
                plan.push(F, Op::SampleNext { tokens, samples, logits, control, step: t as u32, classes });
            }
            // The prediction is the next input (the prime's rows are not overwritten).
            GenerationIo::Dense { values, forced } if t + 1 >= forced => {
                let next = values.row(t + 1, n * features);
                plan.push(F, matmul(next, top, head_w, Some(head_b), (n, classes, h), false, true, false));
            }
            GenerationIo::Dense { .. } => {}
        }
    }
    for (l, layer) in net.iter().enumerate() {
        plan.push(F, Op::Copy { dst: state_h.row(l, n * h), src: row(layer.hs, steps) });
        if let (Some(cs), Some(state_c)) = (layer.cs, state_c) {
            plan.push(F, Op::Copy { dst: state_c.row(l, n * h), src: row(cs, steps) });
        }
    }
    Generation { plan, params, state_h, state_c, io }
}
