//! One-to-many generation, carrying the hidden state across calls:
//! [`Sampler`] feeds a prime string and draws one character at a time from a
//! softmax head; [`Forecaster`] feeds a prime sequence of features and feeds
//! a linear head's predictions back as the next inputs.
//!
//! The next input is made on the device (`sample_next`, or the prediction
//! written where the next step reads), so a chunk of steps — input, layers,
//! head and feedback for every stream, step after step — is one submit with
//! one readback; a step costs no round trip of its own. Several streams
//! generate side by side (batch), from a zero state or one you set.

use crate::bptt::{self, Feedback, Generation, GenerationIo};
use crate::config::{Head, Input};
use crate::data::Vocab;
use crate::device::Storage;
use crate::error::check_finite;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::plan::{Elem, SAMPLE_CONTROL_HEADER, Section};
use crate::program::Program;

/// Steps per submit unless [`Sampler::chunk`] says otherwise.
const DEFAULT_CHUNK: usize = 32;

/// How the next character is chosen from the head's distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Choice {
    /// Take the most likely character.
    greedy: bool,
    /// Draw from softmax(logits / temperature) ...
    temperature: f32,
    /// ... among the `top_k` most likely (0 = all).
    top_k: u32,
}

/// A compiled generation plan of a given shape.
struct Chunk {
    steps: usize,
    feedback: Feedback,
    graph: Generation,
    program: Program,
}

/// What both generators hold: the model's live weights, the carried state
/// of every stream, and the plans compiled so far (by steps and feedback).
struct Core {
    model: Model,
    streams: usize,
    state_h: Storage,
    state_c: Option<Storage>,
    plans: Vec<Chunk>,
}

impl Core {
    fn new(model: &Model, streams: usize) -> Result<Core> {
        crate::config::positive("streams", streams)?;
        let c = model.config();
        if c.bidirectional {
            return Err(Error::Mismatch("a bidirectional model reads the future and cannot generate".into()));
        }
        let device = model.device();
        let state_h = device.alloc("generator state_h", c.layers * streams * c.hidden, Elem::Float)?;
        let state_c = match c.cell {
            crate::Cell::Lstm => Some(device.alloc("generator state_c", c.layers * streams * c.hidden, Elem::Float)?),
            _ => None,
        };
        Ok(Core { model: model.share(), streams, state_h, state_c, plans: Vec::new() })
    }

    fn state_len(&self) -> usize {
        self.model.config().layers * self.streams * self.model.config().hidden
    }

    /// Zeroes h (and the LSTM's c).
    fn reset(&self) -> Result<()> {
        let zeros = vec![0.0; self.state_len()];
        for state in std::iter::once(&self.state_h).chain(&self.state_c) {
            self.model.device().write(state, 0, &zeros)?;
        }
        Ok(())
    }

    /// Sets h `[layers, streams, hidden]` (and c for an LSTM, else `None`).
    fn set_state(&self, h: &[f32], c: Option<&[f32]>) -> Result<()> {
        let len = self.state_len();
        for (what, values, storage) in
            [("hidden state", Some(h), Some(&self.state_h)), ("cell state", c, self.state_c.as_ref())]
        {
            match (values, storage) {
                (Some(v), Some(storage)) => {
                    if v.len() != len {
                        return Err(Error::shape(what, len, v.len()));
                    }
                    check_finite(what, v)?;
                    self.model.device().write(storage, 0, v)?;
                }
                (None, None) => {}
                (Some(_), None) => return Err(Error::Mismatch(format!("a {what} for a model without one"))),
                (None, Some(_)) => return Err(Error::Mismatch(format!("an LSTM needs its {what} too"))),
            }
        }
        Ok(())
    }

    /// The compiled plan of `steps` steps with `feedback`, built on first use.
    fn plan(&mut self, steps: usize, feedback: Feedback) -> Result<&mut Chunk> {
        let i = match self.plans.iter().position(|c| c.steps == steps && c.feedback == feedback) {
            Some(i) => i,
            None => {
                let m = &self.model;
                let graph = bptt::build_generation(m.config(), m.layout(), self.streams, steps, feedback);
                let mut bound =
                    vec![(graph.params.buf, m.storage().clone()), (graph.state_h.buf, self.state_h.clone())];
                if let (Some(view), Some(storage)) = (graph.state_c, &self.state_c) {
                    bound.push((view.buf, storage.clone()));
                }
                let readout = match graph.io {
                    GenerationIo::Tokens { samples, .. } => samples,
                    GenerationIo::Dense { values, .. } => values,
                };
                let program = Program::new(m.device(), graph.plan.clone(), bound, readout)?;
                self.plans.push(Chunk { steps, feedback, graph, program });
                self.plans.len() - 1
            }
        };
        Ok(&mut self.plans[i])
    }
}

/// Generates text from a model: `streams` texts side by side, `chunk` steps
/// per submit.
pub struct Sampler {
    core: Core,
    vocab: Vocab,
    chunk: usize,
    choice: Choice,
    seed: u32,
    /// Steps drawn so far: the random stream continues across calls.
    drawn: u32,
}

impl Sampler {
    /// A sampler of one stream over `model`'s live weights; `vocab` must match
    /// the model's input and head.
    pub fn new(model: &Model, vocab: &Vocab) -> Result<Sampler> {
        Sampler::with_streams(model, vocab, 1)
    }

    /// A sampler of `streams` independent texts generated side by side.
    pub fn with_streams(model: &Model, vocab: &Vocab, streams: usize) -> Result<Sampler> {
        let c = model.config();
        if !matches!(c.head, Head::Softmax { .. }) || c.vocab() != Some(vocab.len()) || vocab.len() != c.outputs() {
            return Err(Error::Mismatch(format!(
                "a sampler needs token input and a softmax head over one vocabulary: {} characters for {:?} and {:?}",
                vocab.len(),
                c.input,
                c.head
            )));
        }
        Ok(Sampler {
            core: Core::new(model, streams)?,
            vocab: vocab.clone(),
            chunk: DEFAULT_CHUNK,
            choice: Choice { greedy: false, temperature: 1.0, top_k: 0 },
            seed: 0,
            drawn: 0,
        })
    }

    /// Sample at this temperature (> 0; below 1 is more conservative).
    pub fn temperature(mut self, temperature: f32) -> Result<Self> {
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(Error::invalid("temperature", temperature, "must be finite and > 0"));
        }
        self.choice = Choice { greedy: false, temperature, ..self.choice };
        Ok(self)
    }

    /// Sample only among the `k` most likely characters (k ≥ 1).
    pub fn top_k(mut self, k: usize) -> Result<Self> {
        crate::config::positive("top_k", k)?;
        let top_k = u32::try_from(k).unwrap_or(u32::MAX);
        self.choice = Choice { greedy: false, top_k, ..self.choice };
        Ok(self)
    }

    /// Always take the most likely character.
    pub fn greedy(mut self) -> Self {
        self.choice.greedy = true;
        self
    }

    /// Seeds the random draws: one seed, one text.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = (seed ^ (seed >> 32)) as u32;
        self.drawn = 0;
        self
    }

    /// Steps per submit (≥ 1): more steps, fewer round trips.
    pub fn chunk(mut self, steps: usize) -> Result<Self> {
        crate::config::positive("chunk", steps)?;
        self.chunk = steps;
        Ok(self)
    }

    /// Clears the hidden state (and the LSTM's c); it is otherwise carried
    /// from call to call.
    pub fn reset(&mut self) -> Result<()> {
        self.core.reset()
    }

    /// Starts the next call from this state: h `[layers, streams, hidden]`,
    /// and c for an LSTM (`None` otherwise), e.g. an encoder's final state.
    pub fn set_state(&mut self, h: &[f32], c: Option<&[f32]>) -> Result<()> {
        self.core.set_state(h, c)
    }

    /// Feeds `prime` (at least one character), then generates `len` more
    /// characters; returns only the generated ones. One stream only.
    pub fn generate(&mut self, prime: &str, len: usize) -> Result<String> {
        if self.core.streams != 1 {
            return Err(Error::Mismatch(format!(
                "generate() on a sampler of {} streams; use generate_streams",
                self.core.streams
            )));
        }
        let mut texts = self.generate_streams(&[prime], len)?;
        Ok(texts.pop().unwrap_or_default())
    }

    /// Feeds each stream its prime (one per stream, all of the same length
    /// in characters), then generates `len` characters per stream.
    pub fn generate_streams(&mut self, primes: &[&str], len: usize) -> Result<Vec<String>> {
        let n = self.core.streams;
        if primes.len() != n {
            return Err(Error::shape("primes (one per stream)", n, primes.len()));
        }
        let primes = primes.iter().map(|p| self.vocab.encode(p)).collect::<Result<Vec<_>>>()?;
        let p_len = primes[0].len();
        if p_len == 0 {
            return Err(Error::invalid("prime", "an empty string", "give at least one character"));
        }
        if let Some(other) = primes.iter().find(|p| p.len() != p_len) {
            return Err(Error::shape("prime length in characters (all streams alike)", p_len, other.len()));
        }
        // Step s reads x_s and yields x_{s+1}: x_0 = prime[0], then the rest of the
        // prime is forced, then `len` draws.
        let total = p_len - 1 + len;
        let mut input: Vec<u32> = primes.iter().map(|p| p[0]).collect();
        let mut out = vec![Vec::with_capacity(len); n];
        let mut done = 0;
        while done < total {
            let steps = self.chunk.min(total - done);
            let drawn = self.run_chunk(steps, done, &input, &primes)?;
            for t in 0..steps {
                if done + t >= p_len - 1 {
                    for (r, text) in out.iter_mut().enumerate() {
                        text.push(drawn[t * n + r]);
                    }
                }
            }
            input.copy_from_slice(&drawn[(steps - 1) * n..]);
            done += steps;
        }
        self.drawn = self.drawn.wrapping_add(total as u32);
        out.iter().map(|ids| self.vocab.decode(ids)).collect()
    }

    /// Runs `steps` steps from absolute step `start`; returns the ids of rows
    /// 1..=steps of the token buffer, `[steps, N]`.
    fn run_chunk(&mut self, steps: usize, start: usize, input: &[u32], primes: &[Vec<u32>]) -> Result<Vec<u32>> {
        let n = self.core.streams;
        let mut tokens = vec![0u32; (steps + 1) * n];
        tokens[..n].copy_from_slice(input);
        let mut control = vec![0u32; SAMPLE_CONTROL_HEADER + n];
        let c = self.choice;
        control[..5].copy_from_slice(&[
            self.seed,
            self.drawn.wrapping_add(start as u32),
            c.top_k,
            c.temperature.to_bits(),
            c.greedy.into(),
        ]);
        for (r, prime) in primes.iter().enumerate() {
            // Output t of this chunk is prime[start + t + 1] while the prime lasts.
            let forced = prime.len().saturating_sub(start + 1).min(steps);
            control[SAMPLE_CONTROL_HEADER + r] = forced as u32;
            for t in 0..forced {
                tokens[(t + 1) * n + r] = prime[start + t + 1];
            }
        }
        let chunk = self.core.plan(steps, Feedback::Sample)?;
        let GenerationIo::Tokens { tokens: token_view, control: control_view, .. } = chunk.graph.io else {
            return Err(Error::Internal("a sampling plan without tokens".into()));
        };
        chunk.program.write_ids(token_view, &tokens)?;
        chunk.program.write_ids(control_view, &control)?;
        chunk.program.run(&[Section::Forward])?;
        // Ids below 2²⁴ are exact in f32.
        Ok(chunk.program.readout()?.into_iter().map(|x| x as u32).collect())
    }
}

/// One-to-many for dense models: feeds a prime sequence of features, then
/// feeds each prediction of a linear head back as the next step's input
/// (outputs = features), for `streams` sequences side by side.
pub struct Forecaster {
    core: Core,
    features: usize,
}

impl Forecaster {
    /// A forecaster of `streams` sequences over `model`'s live weights; the
    /// model needs dense input and a linear head of the same width.
    pub fn new(model: &Model, streams: usize) -> Result<Forecaster> {
        let c = model.config();
        let features = match (c.input, c.head) {
            (Input::Dense { features }, Head::Linear { outputs }) if outputs == features => features,
            (input, head) => {
                return Err(Error::Mismatch(format!(
                    "a forecaster feeds predictions back as inputs: it needs dense input and a linear head of \
                     the same width, not {input:?} and {head:?}"
                )));
            }
        };
        Ok(Forecaster { core: Core::new(model, streams)?, features })
    }

    /// Clears the hidden state (and the LSTM's c).
    pub fn reset(&mut self) -> Result<()> {
        self.core.reset()
    }

    /// Starts the next call from this state: h `[layers, streams, hidden]`,
    /// and c for an LSTM (`None` otherwise).
    pub fn set_state(&mut self, h: &[f32], c: Option<&[f32]>) -> Result<()> {
        self.core.set_state(h, c)
    }

    /// Feeds `prime` (`[P, streams, features]`, P ≥ 1, time-major), then
    /// predicts `steps` more steps, each fed back as the next input; returns
    /// the predictions `[steps, streams, features]`. The state carries on
    /// from the last input fed (the last prediction is not fed).
    pub fn generate(&mut self, prime: &[f32], steps: usize) -> Result<Vec<f32>> {
        let (n, f) = (self.core.streams, self.features);
        let per_step = n * f;
        if prime.is_empty() || !prime.len().is_multiple_of(per_step) {
            return Err(Error::shape(
                "prime [P, streams, features]",
                format!("a positive multiple of {per_step}"),
                prime.len(),
            ));
        }
        check_finite("prime", prime)?;
        if steps == 0 {
            return Ok(Vec::new());
        }
        let p = prime.len() / per_step;
        // Steps 0..P-1 read the prime; the prediction of step P-1 is the first output.
        let total = p - 1 + steps;
        let chunk = self.core.plan(total, Feedback::Predict { forced: p })?;
        let GenerationIo::Dense { values, .. } = chunk.graph.io else {
            return Err(Error::Internal("a forecasting plan without values".into()));
        };
        chunk.program.write(values.sub(0, prime.len()), prime)?;
        chunk.program.run(&[Section::Forward])?;
        let all = chunk.program.readout()?;
        Ok(all[p * per_step..].to_vec())
    }
}
