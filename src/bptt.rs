//! The truncated-BPTT driver, written once for both backends: it lays out the
//! buffers of one block and records its ops in order. The CPU backend runs the
//! ops with their Rust twins, the GPU backend records one dispatch per op.
//!
//! Layout (time-major, row-major): for layer l, `xw_l [T, B, G]` holds the
//! pre-activations (x·W_ihᵀ + b_ih, then += h·W_hhᵀ + b_hh step by step),
//! `hs_l [T+1, B, H]` holds h_0 (the carried state) .. h_T, and in training
//! `dh_l [T, B, H]` holds ∂L/∂h_t, overwritten in place by ∂L/∂pre_t.

use crate::config::{Cell, ModelConfig};
use crate::optim::Optimizer;
use crate::params::ParamLayout;
use crate::plan::{Activation, Elem, Matmul, NORM_CHUNK, Op, Plan, Section, View};

/// What a plan is for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Mode {
    /// Forward with loss, backward, and an optimizer update.
    Train {
        optimizer: Optimizer,
        clip_norm: Option<f32>,
    },
    /// Forward with loss only (validation).
    Eval,
    /// Forward to log-probabilities (sampling).
    Infer,
}

/// A plan plus the views its owner reads and writes from the host.
pub(crate) struct Graph {
    pub plan: Plan,
    /// The flat parameters (bound to the model's buffer).
    pub params: View,
    /// Gradients, same layout as `params` (training only).
    pub grads: Option<View>,
    /// Carried hidden state `[L, B, H]`.
    pub state_h: View,
    /// Input token ids `[T, B]`.
    pub tokens: View,
    /// Target class ids `[T, B]` (training and evaluation).
    pub targets: Option<View>,
    /// `[lr, 1-β₁ᵗ, 1-β₂ᵗ, 0]`, written per block (training only).
    pub hyper: Option<View>,
    /// `[loss, grad norm, clip factor, 0]`, the block's readout.
    pub stats: View,
    /// Logits `[T·B, C]` (log-probabilities after an inference block).
    pub logits: View,
}

fn activation(cell: Cell) -> Activation {
    match cell {
        Cell::RnnTanh => Activation::Tanh,
        Cell::RnnRelu => Activation::Relu,
    }
}

#[allow(clippy::too_many_arguments)]
/// `c = a · bᵀ (+ bias)` for row-major `a [m,k]` and a PyTorch weight `b [n,k]`.
fn linear(c: View, a: View, weight: View, bias: Option<View>, m: usize, n: usize, k: usize, accumulate: bool) -> Op {
    Op::Matmul(Matmul {
        c,
        a,
        b: weight,
        bias,
        m,
        n,
        k,
        a_trans: false,
        b_trans: true,
        accumulate,
    })
}

/// Builds the plan of one block of `steps` × `batch` for `config`.
pub(crate) fn build(config: &ModelConfig, layout: &ParamLayout, batch: usize, steps: usize, mode: Mode) -> Graph {
    let (b, t_len, h) = (batch, steps, config.hidden);
    let g = config.cell.gates() * h;
    let (layers, classes, vocab) = (config.layers, config.classes(), config.vocab());
    let rows = t_len * b;
    let act = activation(config.cell);
    let training = matches!(mode, Mode::Train { .. });

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
    let state_h = plan.buffer("state_h", layers * b * h, Elem::Float);
    let tokens = plan.buffer("tokens", rows, Elem::Id);
    let targets = (mode != Mode::Infer).then(|| plan.buffer("targets", rows, Elem::Id));
    let xw: Vec<View> = (0..layers)
        .map(|l| plan.buffer(format!("xw_l{l}"), rows * g, Elem::Float))
        .collect();
    let hs: Vec<View> = (0..layers)
        .map(|l| plan.buffer(format!("hs_l{l}"), (t_len + 1) * b * h, Elem::Float))
        .collect();
    let logits = plan.buffer("logits", rows * classes, Elem::Float);
    let losses = targets.map(|_| plan.buffer("losses", rows, Elem::Float));

    let param = |offset: usize, len: usize| params.sub(offset, len);
    let (head_w, head_b) = layout.head();
    let head_w = param(head_w, classes * h);
    let head_b = param(head_b, classes);
    // h_1..h_T of a layer: the input of the layer above and of the head.
    let outputs = |l: usize| hs[l].rows(1, t_len, b * h);

    // ---- forward: carried state in, T steps per layer, head, loss, state out.
    use Section::Forward as F;
    for l in 0..layers {
        let p = layout.layer(l);
        let (w_ih, w_hh) = (param(p.weight_ih, g * config.layer_input(l)), param(p.weight_hh, g * h));
        let (b_ih, b_hh) = (param(p.bias_ih, g), param(p.bias_hh, g));
        plan.push(
            F,
            Op::Copy {
                dst: hs[l].row(0, b * h),
                src: state_h.row(l, b * h),
            },
        );
        // Input projection of all T·B positions at once, before the time loop.
        if l == 0 {
            plan.push(
                F,
                Op::EmbedForward {
                    out: xw[0],
                    weight: w_ih,
                    bias: b_ih,
                    tokens,
                    vocab,
                },
            );
        } else {
            plan.push(F, linear(xw[l], outputs(l - 1), w_ih, Some(b_ih), rows, g, h, false));
        }
        for t in 0..t_len {
            let pre = xw[l].row(t, b * g);
            // pre_t += h_{t-1}·W_hhᵀ + b_hh: the one recurrent GEMM of the step.
            plan.push(F, linear(pre, hs[l].row(t, b * h), w_hh, Some(b_hh), b, g, h, true));
            plan.push(
                F,
                Op::RnnCellForward {
                    h: hs[l].row(t + 1, b * h),
                    pre,
                    activation: act,
                },
            );
        }
        plan.push(
            F,
            Op::Copy {
                dst: state_h.row(l, b * h),
                src: hs[l].row(t_len, b * h),
            },
        );
    }
    plan.push(
        F,
        linear(
            logits,
            outputs(layers - 1),
            head_w,
            Some(head_b),
            rows,
            classes,
            h,
            false,
        ),
    );
    let mean = 1.0 / rows as f32;
    match (targets, losses) {
        (Some(targets), Some(losses)) => {
            let write_grad = training;
            plan.push(
                F,
                Op::SoftmaxXent {
                    logits,
                    losses,
                    targets,
                    classes,
                    grad_scale: mean,
                    write_grad,
                },
            );
            plan.push(
                F,
                Op::LossSum {
                    out: stats.sub(0, 1),
                    losses,
                    scale: mean,
                },
            );
        }
        _ => plan.push(F, Op::LogSoftmax { logits, classes }),
    }

    let Mode::Train { optimizer, clip_norm } = mode else {
        return Graph {
            plan,
            params,
            grads,
            state_h,
            tokens,
            targets,
            hyper,
            stats,
            logits,
        };
    };
    let (grads, hyper) = (grads.expect("training has grads"), hyper.expect("training has hyper"));

    // ---- backward: logits now hold ∂L/∂logits (mean over T·B positions).
    use Section::Backward as B;
    let dh: Vec<View> = (0..layers)
        .map(|l| plan.buffer(format!("dh_l{l}"), rows * h, Elem::Float))
        .collect();
    let grad = |offset: usize, len: usize| grads.sub(offset, len);
    let (head_w_off, head_b_off) = layout.head();
    plan.push(B, Op::Fill { dst: grads, value: 0.0 });
    // ∂V += ∂logitsᵀ·H, ∂c += Σ_rows ∂logits, ∂H_top = ∂logits·V.
    plan.push(
        B,
        Op::Matmul(Matmul {
            c: grad(head_w_off, classes * h),
            a: logits,
            b: outputs(layers - 1),
            bias: None,
            m: classes,
            n: h,
            k: rows,
            a_trans: true,
            b_trans: false,
            accumulate: true,
        }),
    );
    plan.push(
        B,
        Op::ColumnSum {
            out: grad(head_b_off, classes),
            x: logits,
            cols: classes,
        },
    );
    let top = layers - 1;
    plan.push(
        B,
        Op::Matmul(Matmul {
            c: dh[top],
            a: logits,
            b: head_w,
            bias: None,
            m: rows,
            n: h,
            k: classes,
            a_trans: false,
            b_trans: false,
            accumulate: false,
        }),
    );
    for l in (0..layers).rev() {
        let p = layout.layer(l);
        let input = config.layer_input(l);
        // Steps backward: ∂pre_t = ∂h_t ⊙ act'(h_t) in place, then
        // ∂h_{t-1} += ∂pre_t·W_hh. ∂h_T from the next block is cut (zero).
        for t in (0..t_len).rev() {
            let dpre = dh[l].row(t, b * h);
            plan.push(
                B,
                Op::RnnCellBackward {
                    dpre,
                    h: hs[l].row(t + 1, b * h),
                    activation: act,
                },
            );
            if t > 0 {
                let w_hh = param(p.weight_hh, g * h);
                plan.push(
                    B,
                    Op::Matmul(Matmul {
                        c: dh[l].row(t - 1, b * h),
                        a: dpre,
                        b: w_hh,
                        bias: None,
                        m: b,
                        n: h,
                        k: g,
                        a_trans: false,
                        b_trans: false,
                        accumulate: true,
                    }),
                );
            }
        }
        // Weight gradients as single GEMMs over K = T·B, bias gradients as column sums.
        let dpre_all = dh[l];
        let weight_grad = |c: View, x: View, n: usize| {
            Op::Matmul(Matmul {
                c,
                a: dpre_all,
                b: x,
                bias: None,
                m: g,
                n,
                k: rows,
                a_trans: true,
                b_trans: false,
                accumulate: true,
            })
        };
        plan.push(B, weight_grad(grad(p.weight_hh, g * h), hs[l].rows(0, t_len, b * h), h));
        plan.push(
            B,
            Op::ColumnSum {
                out: grad(p.bias_hh, g),
                x: dpre_all,
                cols: g,
            },
        );
        plan.push(
            B,
            Op::ColumnSum {
                out: grad(p.bias_ih, g),
                x: dpre_all,
                cols: g,
            },
        );
        if l == 0 {
            plan.push(
                B,
                Op::EmbedBackward {
                    dweight: grad(p.weight_ih, g * input),
                    dout: dpre_all,
                    tokens,
                    vocab,
                },
            );
        } else {
            plan.push(B, weight_grad(grad(p.weight_ih, g * input), outputs(l - 1), input));
            // ∂H_{l-1} = ∂pre·W_ih: the gradient flowing into the layer below.
            plan.push(
                B,
                Op::Matmul(Matmul {
                    c: dh[l - 1],
                    a: dpre_all,
                    b: param(p.weight_ih, g * input),
                    bias: None,
                    m: rows,
                    n: input,
                    k: g,
                    a_trans: false,
                    b_trans: false,
                    accumulate: false,
                }),
            );
        }
    }

    // ---- update: global norm (clip factor on the device), then one optimizer dispatch.
    use Section::Update as U;
    let partials = plan.buffer("norm_partials", layout.total().div_ceil(NORM_CHUNK), Elem::Float);
    let norm = stats.sub(1, 2);
    plan.push(U, Op::GradNormPartial { partials, grads });
    plan.push(
        U,
        Op::GradNormFinish {
            stats: norm,
            partials,
            max_norm: clip_norm,
        },
    );
    let update = match optimizer {
        Optimizer::Sgd { momentum, .. } => Op::SgdMomentum {
            params,
            velocity: opt_state[0],
            grads,
            stats: norm,
            hyper,
            momentum,
        },
        Optimizer::Adagrad { eps, .. } => Op::Adagrad {
            params,
            sum_sq: opt_state[0],
            grads,
            stats: norm,
            hyper,
            eps,
        },
        Optimizer::Adam { beta1, beta2, eps, .. } => Op::Adam {
            params,
            m: opt_state[0],
            v: opt_state[1],
            grads,
            stats: norm,
            hyper,
            beta1,
            beta2,
            eps,
        },
    };
    plan.push(U, update);
    Graph {
        plan,
        params,
        grads: Some(grads),
        state_h,
        tokens,
        targets,
        hyper: Some(hyper),
        stats,
        logits,
    }
}
