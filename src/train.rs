//! The trainer and the evaluator: a compiled block plan, the hidden state
//! that stays on the device between blocks, and the optimizer step count.

use std::collections::HashMap;
use std::path::Path;

use crate::bptt::{self, Graph, Mode};
use crate::checkpoint;
use crate::config::{Head, ModelConfig, Readout, TrainConfig};
use crate::cpu::kernels::lowbias32;
use crate::data::{Block, Feed, Inputs, Targets, Values};
use crate::error::{Error, Result, check_finite};
use crate::model::Model;
use crate::plan::{Plan, Section, View};
use crate::program::Program;

/// What one block reported (read only when asked).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// The head's loss over the block (PyTorch's mean reduction).
    pub loss: f32,
    /// Global gradient norm before clipping, for a training step (`None`
    /// after [`Trainer::compute_gradients`], which computes no norm).
    pub grad_norm: Option<f32>,
    /// True when the gradient norm was not finite and the update was skipped:
    /// parameters and optimizer state were left as they were (the step still
    /// counts for Adam's bias correction).
    pub skipped: bool,
}

/// Trains a model on truncated-BPTT blocks. The hidden state stays on the
/// device between blocks (forward connection kept, backward cut).
pub struct Trainer {
    model: Model,
    config: TrainConfig,
    graph: Graph,
    program: Program,
    /// Optimizer steps taken (Adam's t).
    steps: u64,
    /// Blocks run (steps and gradient-only blocks): the dropout mask counter.
    blocks: u64,
    /// Sections run by the last block, for the stats read.
    last: Option<&'static [Section]>,
}

const TRAIN: &[Section] = &[Section::Forward, Section::Backward, Section::Update];
const GRADIENTS: &[Section] = &[Section::Forward, Section::Backward];

impl Trainer {
    /// Builds the block plan for `config` and compiles it for the model's device.
    pub fn new(model: Model, config: TrainConfig) -> Result<Trainer> {
        config.validate()?;
        let mode = Mode::Train { optimizer: config.optimizer, clip_norm: config.clip_norm };
        let graph = bptt::build(model.config(), model.layout(), config.batch, config.bptt, mode);
        let bound = vec![(graph.params.buf, model.storage().clone())];
        let program = Program::new(model.device(), graph.plan.clone(), bound, graph.stats)?;
        Ok(Trainer { model, config, graph, program, steps: 0, blocks: 0, last: None })
    }

    /// One training block: forward, backward, clip, optimizer, all in one
    /// submit with no readback. Call [`Trainer::stats`] to read the loss.
    pub fn step(&mut self, block: &Block) -> Result<()> {
        self.upload(block)?;
        let hyper = self.config.optimizer.hyper(self.steps + 1);
        self.program.write(self.graph.hyper.expect("training plan"), &hyper)?;
        self.program.run(TRAIN)?;
        self.steps += 1;
        self.last = Some(TRAIN);
        Ok(())
    }

    /// Forward and backward only: the state advances and the gradients are
    /// left in the gradient buffer ([`Trainer::gradients`]); no update.
    pub fn compute_gradients(&mut self, block: &Block) -> Result<()> {
        self.upload(block)?;
        self.program.run(GRADIENTS)?;
        self.last = Some(GRADIENTS);
        Ok(())
    }

    fn upload(&mut self, block: &Block) -> Result<()> {
        let feed = block.feed(self.config.bptt, self.config.batch, self.model.config())?;
        write_feed(&self.program, &self.graph, feed)?;
        if let Some(seed) = self.graph.dropout_seed {
            self.program.write_ids(seed, &[mask_seed(self.config.seed, self.blocks)])?;
        }
        self.blocks += 1;
        Ok(())
    }

    /// Loss and gradient norm of the last block (one small readback).
    pub fn stats(&mut self) -> Result<StepStats> {
        let sections =
            self.last.ok_or_else(|| Error::invalid("stats request", "before any block", "run a block first"))?;
        let s = self.program.readout()?;
        let loss = s[0];
        let grad_norm = sections.contains(&Section::Update).then_some(s[1]);
        // The optimizer kernels skip exactly when the norm or the clip factor is not finite.
        let skipped = grad_norm.is_some() && !(s[1].is_finite() && s[2].is_finite());
        if skipped {
            log::warn!("non-finite gradient norm {} (loss {loss}): update skipped", s[1]);
        }
        Ok(StepStats { loss, grad_norm, skipped })
    }

    /// The gradients of the last block, flat in layout order (before clipping).
    pub fn gradients(&self) -> Result<Vec<f32>> {
        self.program.read(self.graph.grads.expect("training plan"))
    }

    /// The top layer's outputs h_1..h_T of the last block `[T, batch, hidden]`
    /// (what PyTorch's `nn.LSTM` returns as `output`).
    pub fn outputs(&self) -> Result<Vec<f32>> {
        self.layer_outputs(self.model.config().layers - 1)
    }

    /// Layer `layer`'s output at every step of the last block `[T, batch,
    /// directions · hidden]` (both directions side by side when bidirectional).
    pub fn layer_outputs(&self, layer: usize) -> Result<Vec<f32>> {
        self.program.read(layer_view(&self.graph.layer_outputs, layer)?)
    }

    /// ∂L/∂h_t of layer `layer` for every step of the last block `[directions,
    /// T, batch, hidden]` (all of it: from the layer above or the head, and
    /// through the recurrence; a reverse direction's steps in its own order,
    /// each stream read backwards from its last valid step). Its norm against
    /// the distance from the loss is the vanishing-gradient picture.
    pub fn hidden_gradients(&self, layer: usize) -> Result<Vec<f32>> {
        self.program.read(layer_view(&self.graph.hidden_grads, layer)?)
    }

    /// The carried hidden state `[layers · directions, batch, hidden]` (PyTorch's `h_n`).
    pub fn hidden_state(&self) -> Result<Vec<f32>> {
        self.program.read(self.graph.state_h)
    }

    /// Sets the carried hidden state `[layers · directions, batch, hidden]`.
    pub fn set_hidden_state(&mut self, state: &[f32]) -> Result<()> {
        check_finite("hidden state", state)?;
        self.program.write(self.graph.state_h, state)
    }

    /// The carried LSTM cell state `[layers · directions, batch, hidden]`; an error for other cells.
    pub fn cell_state(&self) -> Result<Vec<f32>> {
        self.program.read(self.state_c()?)
    }

    /// Sets the carried LSTM cell state `[layers · directions, batch, hidden]`.
    pub fn set_cell_state(&mut self, state: &[f32]) -> Result<()> {
        check_finite("cell state", state)?;
        self.program.write(self.state_c()?, state)
    }

    fn state_c(&self) -> Result<View> {
        let cell = self.model.config().cell;
        self.graph.state_c.ok_or_else(|| Error::Mismatch(format!("a {} model has no cell state", cell.name())))
    }

    /// Zeroes the hidden (and cell) state of every stream and layer.
    pub fn reset_state(&mut self) -> Result<()> {
        zero_state(&self.program, &self.graph)
    }

    /// Zeroes the state of one stream (h and c, every layer), e.g. at a document boundary.
    pub fn reset_stream(&mut self, stream: usize) -> Result<()> {
        let (b, h) = (self.config.batch, self.model.config().hidden);
        if stream >= b {
            return Err(Error::shape("stream index", format!("< {b}"), stream));
        }
        let zeros = vec![0.0; h];
        // State rows are (layer, direction) pairs, PyTorch's h_n order.
        for l in 0..self.model.config().layers * self.model.config().directions() {
            for state in [Some(self.graph.state_h), self.graph.state_c].into_iter().flatten() {
                self.program.write(state.sub((l * b + stream) * h, h), &zeros)?;
            }
        }
        Ok(())
    }

    /// Saves what training needs to resume exactly, beside a model checkpoint:
    /// the optimizer's buffers, its step count, the dropout block counter and
    /// the carried state (atomic, like [`Model::save`]).
    pub fn save_state(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut tensors = Vec::new();
        for (i, view) in self.graph.opt_state.iter().enumerate() {
            tensors.push((format!("optimizer_state{i}"), vec![view.len], self.program.read(*view)?));
        }
        let c = self.model.config();
        let (l, b, h) = (c.layers * c.directions(), self.config.batch, c.hidden);
        for (name, view) in [("state_h", Some(self.graph.state_h)), ("state_c", self.graph.state_c)] {
            if let Some(view) = view {
                tensors.push((name.to_string(), vec![l, b, h], self.program.read(view)?));
            }
        }
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), "rnn-wgpu-trainer".to_string());
        meta.insert("optimizer".to_string(), self.config.optimizer.name().to_string());
        meta.insert("steps".to_string(), self.steps.to_string());
        meta.insert("blocks".to_string(), self.blocks.to_string());
        checkpoint::write(path.as_ref(), &tensors, meta)
    }

    /// Restores what [`Trainer::save_state`] wrote; the optimizer kind, the
    /// parameter count and the state shape must match this trainer.
    pub fn load_state(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let file = checkpoint::File::read(path.as_ref())?;
        let meta = file.metadata()?;
        let kind: String = file.meta(&meta, "optimizer")?;
        if kind != self.config.optimizer.name() {
            return Err(Error::Mismatch(format!(
                "{}: optimizer state of {kind}, but this trainer uses {}",
                path.as_ref().display(),
                self.config.optimizer.name()
            )));
        }
        let c = self.model.config();
        let (l, b, h) = (c.layers * c.directions(), self.config.batch, c.hidden);
        let mut views: Vec<(String, View, Vec<usize>)> = self
            .graph
            .opt_state
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("optimizer_state{i}"), *v, vec![v.len]))
            .collect();
        views.push(("state_h".into(), self.graph.state_h, vec![l, b, h]));
        views.extend(self.graph.state_c.map(|v| ("state_c".to_string(), v, vec![l, b, h])));
        let expected: Vec<(String, Vec<usize>)> = views.iter().map(|(n, _, s)| (n.clone(), s.clone())).collect();
        let tensors = file.tensors(&expected)?;
        for ((name, _), values) in expected.iter().zip(&tensors) {
            check_finite(name, values)?;
        }
        let (steps, blocks) = (file.meta(&meta, "steps")?, file.meta(&meta, "blocks")?);
        for ((_, view, _), values) in views.iter().zip(&tensors) {
            self.program.write(*view, values)?;
        }
        (self.steps, self.blocks) = (steps, blocks);
        Ok(())
    }

    /// Changes the learning rate from the next block on.
    pub fn set_learning_rate(&mut self, lr: f32) -> Result<()> {
        let optimizer = self.config.optimizer.with_lr(lr);
        optimizer.validate()?;
        self.config.optimizer = optimizer;
        Ok(())
    }

    /// Optimizer steps taken so far (restored by [`Trainer::load_state`]).
    pub fn steps_taken(&self) -> u64 {
        self.steps
    }

    /// Kernel dispatches (GPU) or ops (CPU) recorded for the last block.
    pub fn dispatches_per_block(&self) -> usize {
        self.program.last_count()
    }

    /// Device memory of this trainer in bytes: activations of a block,
    /// gradients, optimizer state, carried state and inputs (the model's
    /// parameters are counted by [`Model::device_bytes`]).
    pub fn device_bytes(&self) -> u64 {
        self.program.owned_bytes()
    }

    /// The block plan this trainer runs (buffers and ops), for inspection
    /// and benchmarks.
    pub fn plan(&self) -> &Plan {
        &self.graph.plan
    }

    /// Dispatches a full training block records, known before running one.
    pub fn planned_dispatches(&self) -> usize {
        self.graph.plan.count(TRAIN)
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn into_model(self) -> Model {
        self.model
    }
}

/// Mean loss over blocks with a hidden state of its own: the model's weights
/// and any trainer's state are left untouched.
pub struct Evaluator {
    graph: Graph,
    program: Program,
    config: ModelConfig,
    batch: usize,
    steps: usize,
}

impl Evaluator {
    /// An evaluator for blocks of `steps` × `batch` over `model`'s live weights.
    pub fn new(model: &Model, batch: usize, steps: usize) -> Result<Evaluator> {
        crate::config::positive("batch", batch)?;
        crate::config::positive("steps", steps)?;
        let graph = bptt::build(model.config(), model.layout(), batch, steps, Mode::Eval);
        let bound = vec![(graph.params.buf, model.storage().clone())];
        let program = Program::new(model.device(), graph.plan.clone(), bound, graph.stats)?;
        Ok(Evaluator { graph, program, config: *model.config(), batch, steps })
    }

    /// Mean loss over `blocks`, starting from a zero state carried across them.
    pub fn evaluate<'a>(&mut self, blocks: impl IntoIterator<Item = &'a Block>) -> Result<f32> {
        zero_state(&self.program, &self.graph)?;
        let (mut total, mut count) = (0.0f64, 0usize);
        for block in blocks {
            let feed = block.feed(self.steps, self.batch, &self.config)?;
            write_feed(&self.program, &self.graph, feed)?;
            self.program.run(&[Section::Forward])?;
            total += self.program.readout()?[0] as f64;
            count += 1;
        }
        if count == 0 {
            return Err(Error::invalid("validation blocks", 0, "need at least one block"));
        }
        Ok((total / count as f64) as f32)
    }

    /// Runs the forward pass over `inputs` alone (`[T, batch]` token ids or
    /// `[T, batch, features]` floats, with each stream's length if given) from
    /// a zero state; no targets and no loss. [`Evaluator::layer_outputs`] and
    /// [`Evaluator::head_outputs`] then read what it computed.
    pub fn forward(&mut self, inputs: Inputs, lengths: Option<Vec<u32>>) -> Result<()> {
        // The plan's loss reads targets; any valid ones do, since nothing reads the loss.
        let rows = if self.config.readout == Readout::LastStep { self.batch } else { self.steps * self.batch };
        let targets = match self.config.head {
            Head::Softmax { .. } => Targets::Classes(vec![0; rows]),
            Head::Sigmoid { outputs } | Head::Linear { outputs } => Targets::Values(vec![0.0; rows * outputs]),
        };
        let mut block = Block::with(self.steps, self.batch, inputs, targets)?;
        if let Some(lengths) = lengths {
            block = block.with_lengths(lengths)?;
        }
        zero_state(&self.program, &self.graph)?;
        write_feed(&self.program, &self.graph, block.feed(self.steps, self.batch, &self.config)?)?;
        self.program.run(&[Section::Forward])
    }

    /// Layer `layer`'s hidden activations h_1..h_T `[T, batch, directions ·
    /// hidden]` of the last block evaluated or run forward (what a cell
    /// "sees" at each step of the input).
    pub fn layer_outputs(&self, layer: usize) -> Result<Vec<f32>> {
        self.program.read(layer_view(&self.graph.layer_outputs, layer)?)
    }

    /// The head's outputs z `[T, batch, outputs]` of the last block evaluated or run forward:
    /// logits for a softmax or sigmoid head, the predictions of a linear head.
    /// With a last-step readout, stream b's output is at row `(len_b - 1)·batch + b`.
    pub fn head_outputs(&self) -> Result<Vec<f32>> {
        self.program.read(self.graph.logits)
    }
}

/// The view of layer `layer`, or an error naming the layers there are.
fn layer_view(views: &[View], layer: usize) -> Result<View> {
    views
        .get(layer)
        .copied()
        .ok_or_else(|| Error::invalid("layer", layer, format!("the model has {} layers", views.len())))
}

/// Writes a block's per-block buffers into a program.
fn write_feed(program: &Program, graph: &Graph, feed: Feed) -> Result<()> {
    for (view, values) in graph.feed_views(feed)? {
        match values {
            Values::Ids(ids) => program.write_ids(view, &ids)?,
            Values::Floats(x) => program.write(view, &x)?,
        }
    }
    Ok(())
}

/// Zeroes the carried state of a program (h, and c for LSTM).
pub(crate) fn zero_state(program: &Program, graph: &Graph) -> Result<()> {
    for state in [Some(graph.state_h), graph.state_c].into_iter().flatten() {
        program.write(state, &vec![0.0; state.len])?;
    }
    Ok(())
}

/// The dropout seed of block number `block` under the training seed `seed`.
fn mask_seed(seed: u64, block: u64) -> u32 {
    let mix = |x: u64| lowbias32(x as u32 ^ lowbias32((x >> 32) as u32));
    lowbias32(mix(seed) ^ mix(block.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}
