//! Text to token blocks: a character vocabulary, a train/validation split,
//! and B contiguous streams cut into truncated-BPTT blocks as in char-rnn.

use std::collections::HashMap;

use crate::config::{Head, Input, ModelConfig, Readout, positive};
use crate::error::{Error, Result, check_finite};

/// The characters of a text, in a stable order (sorted by code point), each
/// with its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocab {
    chars: Vec<char>,
    ids: HashMap<char, u32>,
}

impl Vocab {
    /// Every distinct character of `text`, sorted: the same text always
    /// gives the same ids.
    pub fn from_text(text: &str) -> Result<Vocab> {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Vocab::from_chars(chars)
    }

    /// A vocabulary with exactly these characters in this order (as stored in a checkpoint).
    pub fn from_chars(chars: Vec<char>) -> Result<Vocab> {
        positive("vocabulary size", chars.len())?;
        let ids: HashMap<char, u32> = chars.iter().enumerate().map(|(i, &c)| (c, i as u32)).collect();
        if ids.len() != chars.len() {
            return Err(Error::invalid(
                "vocabulary",
                format!("{} characters", chars.len()),
                "characters must be distinct",
            ));
        }
        Ok(Vocab { chars, ids })
    }

    /// Number of characters.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Always false: a vocabulary has at least one character.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of every character of `text`; a character outside the
    /// vocabulary is an error naming it and its position.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        text.chars()
            .enumerate()
            .map(|(position, ch)| self.ids.get(&ch).copied().ok_or(Error::UnknownChar { ch, position }))
            .collect()
    }

    /// The text of `ids`; an id past the vocabulary is an error.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        ids.iter()
            .enumerate()
            .map(|(position, &id)| {
                self.chars.get(id as usize).copied().ok_or(Error::TokenOutOfRange { id, position, vocab: self.len() })
            })
            .collect()
    }
}

/// What a block feeds the first layer, time-major.
#[derive(Clone, Debug, PartialEq)]
pub enum Inputs {
    /// `[T, B]` token ids.
    Tokens(Vec<u32>),
    /// `[T, B, features]` floats.
    Dense(Vec<f32>),
}

/// What the head's loss compares with: one row per step and stream (`[T, B]`)
/// for [`Readout::EveryStep`], one per stream (`[B]`) for [`Readout::LastStep`].
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// A class id per row (softmax head).
    Classes(Vec<u32>),
    /// `outputs` values per row: in [0, 1] for a sigmoid head, any finite
    /// value for a linear head.
    Values(Vec<f32>),
}

/// One truncated-BPTT block of `steps` × `batch`: what stream `b` reads at
/// step `t` and what the head should produce (time-major), and optionally
/// each stream's length: steps past it are padding, which neither feeds the
/// loss nor moves the state (the final state is the state at the length).
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub steps: usize,
    pub batch: usize,
    pub inputs: Inputs,
    pub targets: Targets,
    /// Valid steps per stream `[B]`, each in `1..=steps`; `None` = all.
    pub lengths: Option<Vec<u32>>,
}

/// A block as the contents of a plan's per-block buffers.
pub(crate) struct Feed {
    pub inputs: Values,
    /// `[T, B]` rows of targets (a last-step target sits at its stream's last valid row).
    pub targets: Values,
    /// Each target row's loss weight (PyTorch's mean: 1 / the count of
    /// terms), 0 for padding and, for a last-step readout, for every row but
    /// the last valid one.
    pub weights: Vec<f32>,
    /// Per stream, the row of `hs [(T+1)·B, H]` holding its final state: `len·B + b`.
    pub final_rows: Vec<u32>,
    /// A bidirectional model's reversed inputs and index maps.
    pub reversal: Option<Reversal>,
}

/// What a bidirectional plan needs per block. The reverse direction reads
/// stream b's steps `len_b - 1, …, 0`, then the padding: row `s·B + b` of
/// its step order is row `reverse_rows[s·B + b]` of time order (a
/// permutation that is its own inverse). A layer's output `[T·B, 2H]` is
/// gathered as half-rows of H from its `hs` buffer, which holds both
/// directions' `[T+1, B, H]` rows one after the other.
pub(crate) struct Reversal {
    pub inputs_rev: Values,
    pub reverse_rows: Vec<u32>,
    /// Half-row `2r + d` of the output ← row of `hs` (d = direction).
    pub cat_index: Vec<u32>,
    /// Row of `dh` (both directions' `[T, B, H]`, one after the other) ← half-row of ∂(output).
    pub cat_inverse: Vec<u32>,
    /// The top layer's maps: the same, except that under a last-step readout
    /// each stream's last row carries the reverse direction's final state
    /// (PyTorch's `h_n`) instead of its state at that time step.
    pub cat_index_top: Vec<u32>,
    pub cat_inverse_top: Vec<u32>,
}

/// Rows of `per` values taken in the order `index`.
fn permute_rows<T: Copy>(index: &[u32], per: usize, values: &[T]) -> Vec<T> {
    index.iter().flat_map(|&r| values[r as usize * per..(r as usize + 1) * per].iter().copied()).collect()
}

impl Reversal {
    fn new(inputs: &Values, lengths: &[usize], steps: usize, last_step: bool) -> Reversal {
        let batch = lengths.len();
        let rows = steps * batch;
        let reverse_rows: Vec<u32> = (0..rows)
            .map(|r| {
                let (t, b) = (r / batch, r % batch);
                let t = if t < lengths[b] { lengths[b] - 1 - t } else { t };
                (t * batch + b) as u32
            })
            .collect();
        let inputs_rev = match inputs {
            Values::Ids(ids) => Values::Ids(permute_rows(&reverse_rows, 1, ids)),
            Values::Floats(x) => Values::Floats(permute_rows(&reverse_rows, x.len() / rows, x)),
        };
        // hs rows: forward (t+1)·B + b, reverse (T+1)·B + (s+1)·B + b; dh rows: forward
        // t·B + b, reverse T·B + s·B + b.
        let reverse_hs = (steps + 1) * batch;
        let mut cat_index = vec![0u32; 2 * rows];
        let mut cat_inverse = vec![0u32; 2 * rows];
        for r in 0..rows {
            let s = reverse_rows[r] as usize;
            cat_index[2 * r] = (batch + r) as u32;
            cat_index[2 * r + 1] = (reverse_hs + batch + s) as u32;
            cat_inverse[r] = (2 * r) as u32;
            cat_inverse[rows + s] = (2 * r + 1) as u32;
        }
        let (mut cat_index_top, mut cat_inverse_top) = (cat_index.clone(), cat_inverse.clone());
        if last_step {
            for (b, &len) in lengths.iter().enumerate() {
                // Stream b's last valid row reads the reverse direction's final
                // state (its step len-1, whose time-aligned row is time 0) instead
                // of its step 0. In the inverse, the final state takes the last
                // row's gradient, and step 0 (read by no row now) takes time 0's,
                // which is zero (the loss reads only the last row) unless len = 1,
                // when the two are one row and the second assignment wins.
                let last = (len - 1) * batch + b;
                let (first_step, final_step) = (b, (len - 1) * batch + b);
                cat_index_top[2 * last + 1] = (reverse_hs + batch + final_step) as u32;
                cat_inverse_top[rows + first_step] = (2 * b + 1) as u32;
                cat_inverse_top[rows + final_step] = (2 * last + 1) as u32;
            }
        }
        Reversal { inputs_rev, reverse_rows, cat_index, cat_inverse, cat_index_top, cat_inverse_top }
    }
}

/// The contents of one buffer.
pub(crate) enum Values {
    Ids(Vec<u32>),
    Floats(Vec<f32>),
}

impl Block {
    /// A block of token ids and target classes (a character model's block).
    pub fn new(steps: usize, batch: usize, inputs: Vec<u32>, targets: Vec<u32>) -> Result<Block> {
        Block::with(steps, batch, Inputs::Tokens(inputs), Targets::Classes(targets))
    }

    /// A block of any inputs and targets, checked for shape: each holds a
    /// whole number of values per step and stream (the model checks the rest).
    pub fn with(steps: usize, batch: usize, inputs: Inputs, targets: Targets) -> Result<Block> {
        positive("block steps", steps)?;
        positive("block batch", batch)?;
        let rows = steps * batch;
        let whole = |what: &str, len: usize, per: usize, shape: String| {
            if len == 0 || !len.is_multiple_of(per) {
                return Err(Error::shape(what, format!("a positive multiple of {shape} = {per}"), len));
            }
            Ok(())
        };
        let every = format!("{steps} x {batch}");
        match &inputs {
            Inputs::Tokens(ids) => whole("block inputs (token ids)", ids.len(), rows, every)?,
            Inputs::Dense(x) => whole("block inputs (features)", x.len(), rows, every)?,
        }
        // [T, B] rows, or [B] rows for a last-step readout.
        match &targets {
            Targets::Classes(ids) => whole("block targets (class ids)", ids.len(), batch, format!("{batch}"))?,
            Targets::Values(y) => whole("block targets (values)", y.len(), batch, format!("{batch}"))?,
        }
        Ok(Block { steps, batch, inputs, targets, lengths: None })
    }

    /// The same block with each stream's length (each in `1..=steps`).
    pub fn with_lengths(mut self, lengths: Vec<u32>) -> Result<Block> {
        if lengths.len() != self.batch {
            return Err(Error::shape("block lengths (one per stream)", self.batch, lengths.len()));
        }
        if let Some(bad) = lengths.iter().find(|&&l| l == 0 || l as usize > self.steps) {
            return Err(Error::invalid("sequence length", bad, format!("must be in 1..={}", self.steps)));
        }
        self.lengths = Some(lengths);
        Ok(self)
    }

    /// Checks the block against the shape a trainer expects and the model's
    /// input and head, and returns what the plan's buffers get.
    pub(crate) fn feed(&self, steps: usize, batch: usize, config: &ModelConfig) -> Result<Feed> {
        if (self.steps, self.batch) != (steps, batch) {
            return Err(Error::shape(
                "block [steps, batch]",
                format!("[{steps}, {batch}]"),
                format!("[{}, {}]", self.steps, self.batch),
            ));
        }
        let rows = steps * batch;
        let inputs = match (&self.inputs, config.input) {
            (Inputs::Tokens(ids), Input::Tokens { vocab }) => {
                expect_len("block inputs (token ids)", ids.len(), rows)?;
                check_ids(ids, vocab)?;
                Values::Ids(ids.clone())
            }
            (Inputs::Dense(x), Input::Dense { features }) => {
                expect_len("block inputs (features)", x.len(), rows * features)?;
                check_finite("block inputs", x)?;
                Values::Floats(x.clone())
            }
            (given, wanted) => {
                let given = match given {
                    Inputs::Tokens(_) => "token ids",
                    Inputs::Dense(_) => "features",
                };
                return Err(Error::Mismatch(format!("block inputs are {given} for a model with {wanted:?}")));
            }
        };
        let width = config.outputs();
        let lengths: Vec<usize> = match &self.lengths {
            Some(l) => l.iter().map(|&l| l as usize).collect(),
            None => vec![steps; batch],
        };
        // The [T, B] rows the loss reads: every valid one, or each stream's last.
        let last_step = config.readout == Readout::LastStep;
        let target_rows = if last_step { batch } else { rows };
        let loss_rows: Vec<usize> = match last_step {
            true => (0..batch).map(|b| (lengths[b] - 1) * batch + b).collect(),
            false => (0..rows).filter(|r| r / batch < lengths[r % batch]).collect(),
        };
        // Spreads per-target rows over [T, B] rows (zeros where the loss does not look).
        let spread = |values: &[f32], per: usize| -> Vec<f32> {
            if !last_step {
                return values.to_vec();
            }
            let mut out = vec![0.0; rows * per];
            for (b, &r) in loss_rows.iter().enumerate() {
                out[r * per..(r + 1) * per].copy_from_slice(&values[b * per..(b + 1) * per]);
            }
            out
        };
        let targets = match (&self.targets, config.head) {
            (Targets::Classes(ids), Head::Softmax { classes }) => {
                expect_len("block targets (class ids)", ids.len(), target_rows)?;
                check_ids(ids, classes)?;
                let mut spread_ids = if last_step { vec![0; rows] } else { ids.clone() };
                if last_step {
                    for (b, &r) in loss_rows.iter().enumerate() {
                        spread_ids[r] = ids[b];
                    }
                }
                Values::Ids(spread_ids)
            }
            (Targets::Values(y), Head::Sigmoid { .. } | Head::Linear { .. }) => {
                expect_len("block targets (values)", y.len(), target_rows * width)?;
                check_finite("block targets", y)?;
                if matches!(config.head, Head::Sigmoid { .. })
                    && let Some(bad) = y.iter().find(|v| !(0.0..=1.0).contains(*v))
                {
                    return Err(Error::invalid("sigmoid target", bad, "must be in [0, 1]"));
                }
                Values::Floats(spread(y, width))
            }
            (given, wanted) => {
                let given = match given {
                    Targets::Classes(_) => "class ids",
                    Targets::Values(_) => "values",
                };
                return Err(Error::Mismatch(format!("block targets are {given} for a model with {wanted:?}")));
            }
        };
        // PyTorch's mean: over rows for cross-entropy, over every output for BCE and MSE.
        let terms = match config.head {
            Head::Softmax { .. } => loss_rows.len(),
            Head::Sigmoid { .. } | Head::Linear { .. } => loss_rows.len() * width,
        };
        let mut weights = vec![0.0; rows];
        for &r in &loss_rows {
            weights[r] = 1.0 / terms as f32;
        }
        let final_rows = (0..batch).map(|b| (lengths[b] * batch + b) as u32).collect();
        let reversal = config.bidirectional.then(|| Reversal::new(&inputs, &lengths, steps, last_step));
        Ok(Feed { inputs, targets, weights, final_rows, reversal })
    }
}

fn expect_len(what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::shape(what, want, got));
    }
    Ok(())
}

/// Every id below `vocab`, or an error naming the first that is not.
pub(crate) fn check_ids(ids: &[u32], vocab: usize) -> Result<()> {
    match ids.iter().position(|&id| id as usize >= vocab) {
        Some(position) => Err(Error::TokenOutOfRange { id: ids[position], position, vocab }),
        None => Ok(()),
    }
}

/// Splits `tokens` into a training part and a validation part of about
/// `validation` of the whole (the validation part comes last, as in char-rnn).
pub fn split(tokens: &[u32], validation: f32) -> Result<(&[u32], &[u32])> {
    if !(validation.is_finite() && (0.0..1.0).contains(&validation)) {
        return Err(Error::invalid("validation fraction", validation, "must be in [0, 1)"));
    }
    let cut = tokens.len() - (tokens.len() as f64 * validation as f64).round() as usize;
    Ok(tokens.split_at(cut))
}

/// B contiguous streams over one token sequence: stream `b` reads
/// `tokens[b·S .. (b+1)·S]` and predicts the token after each, S = ⌊(N-1)/B⌋.
/// Block `i` covers positions `i·T .. (i+1)·T` of every stream, so carrying
/// the hidden state from block `i` to `i + 1` continues each stream.
#[derive(Clone, Debug)]
pub struct Streams<'a> {
    tokens: &'a [u32],
    batch: usize,
    steps: usize,
    stream_len: usize,
}

impl<'a> Streams<'a> {
    pub fn new(tokens: &'a [u32], batch: usize, steps: usize) -> Result<Streams<'a>> {
        positive("batch", batch)?;
        positive("steps", steps)?;
        let stream_len = tokens.len().saturating_sub(1) / batch;
        if stream_len < steps {
            return Err(Error::shape(
                "token count for the streams",
                format!("at least {} (batch {batch} x steps {steps} + 1)", batch * steps + 1),
                tokens.len(),
            ));
        }
        Ok(Streams { tokens, batch, steps, stream_len })
    }

    /// Whole blocks per pass over the streams.
    pub fn len(&self) -> usize {
        self.stream_len / self.steps
    }

    /// Always false: construction requires at least one block.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Block `i` (wrapping around after the last).
    pub fn block(&self, i: usize) -> Block {
        let start = (i % self.len()) * self.steps;
        let (b, t) = (self.batch, self.steps);
        let mut inputs = Vec::with_capacity(t * b);
        let mut targets = Vec::with_capacity(t * b);
        for step in 0..t {
            for stream in 0..b {
                let at = stream * self.stream_len + start + step;
                inputs.push(self.tokens[at]);
                targets.push(self.tokens[at + 1]);
            }
        }
        Block { steps: t, batch: b, inputs: Inputs::Tokens(inputs), targets: Targets::Classes(targets), lengths: None }
    }

    /// Blocks `0..len()` in order.
    pub fn blocks(&self) -> impl Iterator<Item = Block> + '_ {
        (0..self.len()).map(|i| self.block(i))
    }
}
