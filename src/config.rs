//! Plain-data configuration: what network to build and how to train it.
//! Nothing here touches a device; `validate` checks every field up front so
//! that bad values become errors before any buffer exists.

use crate::error::{Error, Result};
use crate::optim::Optimizer;

/// The recurrent cell of every layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// Elman RNN with tanh: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (PyTorch `nn.RNN`, the default).
    RnnTanh,
    /// Elman RNN with relu: h' = relu(W_ih x + b_ih + W_hh h + b_hh) (`nonlinearity="relu"`).
    RnnRelu,
    /// PyTorch `nn.LSTM`: gate blocks [i; f; g; o], state (h, c).
    Lstm,
    /// PyTorch `nn.GRU`: gate blocks [r; z; n], r applied to (W_hn h + b_hn).
    Gru,
}

impl Cell {
    /// Rows of `weight_ih` / `weight_hh` per hidden unit (PyTorch's gate blocks).
    pub fn gates(self) -> usize {
        match self {
            Cell::RnnTanh | Cell::RnnRelu => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }

    /// The name used on the command line and in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            Cell::RnnTanh => "rnn_tanh",
            Cell::RnnRelu => "rnn_relu",
            Cell::Lstm => "lstm",
            Cell::Gru => "gru",
        }
    }

    /// The cell called `name` (as written by [`Cell::name`]).
    pub fn from_name(name: &str) -> Result<Cell> {
        [Cell::RnnTanh, Cell::RnnRelu, Cell::Lstm, Cell::Gru]
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| Error::invalid("cell", name, "expected rnn_tanh, rnn_relu, lstm or gru"))
    }
}

/// What the first layer reads at each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Token ids in `0..vocab`, one-hot in the math: `W_ih · onehot(v)` is
    /// column `v` of `W_ih`, so the input projection is a gather.
    Tokens { vocab: usize },
    /// `features` floats per step (PyTorch's `input_size`): the input
    /// projection of all positions is one GEMM.
    Dense { features: usize },
}

/// What sits on top of the last layer: `z = V h + c`, then a loss against
/// the block's targets (PyTorch's mean reduction in every case).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    /// `softmax(z)` with cross-entropy against a target class
    /// (`nn.CrossEntropyLoss`).
    Softmax { classes: usize },
    /// `σ(z)` per output with binary cross-entropy against targets in [0, 1]
    /// (`nn.BCEWithLogitsLoss`): one or several independent yes/no outputs.
    Sigmoid { outputs: usize },
    /// `z` itself with mean squared error against real targets (`nn.MSELoss`): regression.
    Linear { outputs: usize },
}

impl Head {
    /// Width of `z`: classes or outputs.
    pub fn width(self) -> usize {
        match self {
            Head::Softmax { classes } => classes,
            Head::Sigmoid { outputs } | Head::Linear { outputs } => outputs,
        }
    }

    /// The name used in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            Head::Softmax { .. } => "softmax",
            Head::Sigmoid { .. } => "sigmoid",
            Head::Linear { .. } => "linear",
        }
    }

    /// The head called `name` with `width` outputs (as written by [`Head::name`]).
    pub fn from_name(name: &str, width: usize) -> Result<Head> {
        match name {
            "softmax" => Ok(Head::Softmax { classes: width }),
            "sigmoid" => Ok(Head::Sigmoid { outputs: width }),
            "linear" => Ok(Head::Linear { outputs: width }),
            _ => Err(Error::invalid("head", name, "expected softmax, sigmoid or linear")),
        }
    }
}

/// Where the head reads the network and the loss applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readout {
    /// At every step (many-to-many: language models, per-step labels):
    /// targets are `[T, B]` rows.
    EveryStep,
    /// At each sequence's last valid step only (many-to-one: sequence
    /// classification or regression, PyTorch's `out[len - 1]`): targets are
    /// `[B]` rows.
    LastStep,
}

/// The shape of a model. Plain data: build it, compare it, print it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelConfig {
    /// Cell kind of every layer.
    pub cell: Cell,
    /// Number of stacked layers (PyTorch's `num_layers`), at least 1.
    pub layers: usize,
    /// Hidden units per layer (PyTorch's `hidden_size`), at least 1.
    pub hidden: usize,
    /// What the first layer reads.
    pub input: Input,
    /// What the last layer feeds.
    pub head: Head,
    /// Where the head reads and the loss applies.
    pub readout: Readout,
    /// Run every layer in both directions (PyTorch's `bidirectional`): a
    /// reverse direction with its own `*_reverse` weights reads each sequence
    /// backwards from its last valid step, and the layer's output is
    /// `[forward h; reverse h]` (2H wide) at every step. Whole-sequence
    /// tasks only: it cannot generate, and the state is not carried across
    /// blocks in a meaningful way for the reverse direction.
    pub bidirectional: bool,
    /// Dropout probability on the output of every layer but the last, in
    /// training only (PyTorch's `dropout` argument); 0 records no op at all.
    pub dropout: f32,
}

impl ModelConfig {
    /// A character-level language model: token input and a softmax over the same vocabulary.
    pub fn char_lm(cell: Cell, layers: usize, hidden: usize, vocab: usize) -> Self {
        ModelConfig {
            cell,
            layers,
            hidden,
            input: Input::Tokens { vocab },
            head: Head::Softmax { classes: vocab },
            readout: Readout::EveryStep,
            bidirectional: false,
            dropout: 0.0,
        }
    }

    /// A model over `features` floats per step with `head` on top.
    pub fn dense(cell: Cell, layers: usize, hidden: usize, features: usize, head: Head) -> Self {
        ModelConfig {
            cell,
            layers,
            hidden,
            input: Input::Dense { features },
            head,
            readout: Readout::EveryStep,
            bidirectional: false,
            dropout: 0.0,
        }
    }

    /// Width of layer `layer`'s input: the vocabulary or features for layer
    /// 0, the output of the layer below above it.
    pub fn layer_input(&self, layer: usize) -> usize {
        match layer {
            0 => self.input_width(),
            _ => self.output_width(),
        }
    }

    /// Directions per layer: 2 when bidirectional, else 1.
    pub fn directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    /// Width of every layer's output (and the head's input): directions · hidden.
    pub fn output_width(&self) -> usize {
        self.directions() * self.hidden
    }

    /// Width of the first layer's input: the vocabulary or the features.
    pub fn input_width(&self) -> usize {
        match self.input {
            Input::Tokens { vocab } => vocab,
            Input::Dense { features } => features,
        }
    }

    /// Vocabulary size of a token input (`None` for dense input).
    pub fn vocab(&self) -> Option<usize> {
        match self.input {
            Input::Tokens { vocab } => Some(vocab),
            Input::Dense { .. } => None,
        }
    }

    /// Width of the head's output: classes or outputs.
    pub fn outputs(&self) -> usize {
        self.head.width()
    }

    /// Checks every field; the error names the field and the bad value.
    pub fn validate(&self) -> Result<()> {
        positive("layers", self.layers)?;
        positive("hidden", self.hidden)?;
        positive("input width (vocab or features)", self.input_width())?;
        positive("head outputs", self.outputs())?;
        if !(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout)) {
            return Err(Error::invalid("dropout", self.dropout, "must be in [0, 1)"));
        }
        // A GEMM's columns span at most 65535 workgroups of 64 on the GPU.
        let widest = (self.hidden * self.cell.gates()).max(self.input_width()).max(self.outputs());
        if widest > (1 << 21) {
            return Err(Error::invalid("model width (gate rows, input or outputs)", widest, "at most 2^21"));
        }
        Ok(())
    }
}

/// How to train: the block shape, the optimizer and clipping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainConfig {
    /// Independent streams trained side by side (B).
    pub batch: usize,
    /// Steps per truncated-BPTT block (T).
    pub bptt: usize,
    /// The update rule.
    pub optimizer: Optimizer,
    /// Clip the global gradient norm to this value (PyTorch's `clip_grad_norm_`), if set.
    pub clip_norm: Option<f32>,
    /// Seed of the dropout masks (one mask per block, the same on every backend).
    pub seed: u64,
}

impl TrainConfig {
    /// Checks every field; the error names the field and the bad value.
    pub fn validate(&self) -> Result<()> {
        positive("batch", self.batch)?;
        positive("bptt", self.bptt)?;
        self.optimizer.validate()?;
        if let Some(clip) = self.clip_norm
            && !(clip.is_finite() && clip > 0.0)
        {
            return Err(Error::invalid("clip_norm", clip, "must be finite and > 0"));
        }
        Ok(())
    }
}

pub(crate) fn positive(what: &str, value: usize) -> Result<()> {
    if value == 0 {
        return Err(Error::invalid(what, value, "must be at least 1"));
    }
    Ok(())
}
