//! Text generation: feed a prime string, then draw one character at a time
//! from the head's distribution, carrying the hidden state across calls.
//!
//! The draw happens on the device (`sample_next`), so a chunk of steps —
//! embed, layers, head and draw for every stream, step after step — is one
//! submit with one readback of the chunk's tokens; a character costs no round
//! trip of its own. Several streams generate side by side (batch).

use crate::bptt::{self, Generation};
use crate::config::Head;
use crate::data::Vocab;
use crate::device::Storage;
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

/// A compiled generation plan of a given number of steps.
struct Chunk {
    steps: usize,
    graph: Generation,
    program: Program,
}

/// Generates text from a model: `streams` texts side by side, `chunk` steps
/// per submit.
pub struct Sampler {
    model: Model,
    vocab: Vocab,
    streams: usize,
    chunk: usize,
    choice: Choice,
    seed: u32,
    /// Steps drawn so far: the random stream continues across calls.
    drawn: u32,
    state_h: Storage,
    state_c: Option<Storage>,
    /// Plans by step count: the full chunk and any remainder seen.
    plans: Vec<Chunk>,
}

impl Sampler {
    /// A sampler of one stream over `model`'s live weights; `vocab` must match
    /// the model's input and head.
    pub fn new(model: &Model, vocab: &Vocab) -> Result<Sampler> {
        Sampler::with_streams(model, vocab, 1)
    }

    /// A sampler of `streams` independent texts generated side by side.
    pub fn with_streams(model: &Model, vocab: &Vocab, streams: usize) -> Result<Sampler> {
        crate::config::positive("streams", streams)?;
        let c = model.config();
        if c.bidirectional {
            return Err(Error::Mismatch("a bidirectional model reads the future and cannot generate".into()));
        }
        if !matches!(c.head, Head::Softmax { .. }) || c.vocab() != Some(vocab.len()) || vocab.len() != c.outputs() {
            return Err(Error::Mismatch(format!(
                "a sampler needs token input and a softmax head over one vocabulary: {} characters for {:?} and {:?}",
                vocab.len(),
                c.input,
                c.head
            )));
        }
        let state_len = c.layers * streams * c.hidden;
        let device = model.device();
        let state_h = device.alloc("sampler state_h", state_len, Elem::Float)?;
        let state_c = match c.cell {
            crate::Cell::Lstm => Some(device.alloc("sampler state_c", state_len, Elem::Float)?),
            _ => None,
        };
        Ok(Sampler {
            model: model.share(),
            vocab: vocab.clone(),
            streams,
            chunk: DEFAULT_CHUNK,
            choice: Choice { greedy: false, temperature: 1.0, top_k: 0 },
            seed: 0,
            drawn: 0,
            state_h,
            state_c,
            plans: Vec::new(),
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
        let device = self.model.device();
        for state in std::iter::once(&self.state_h).chain(&self.state_c) {
            let len = self.model.config().layers * self.streams * self.model.config().hidden;
            device.write(state, 0, &vec![0.0; len])?;
        }
        Ok(())
    }

    /// Feeds `prime` (at least one character), then generates `len` more
    /// characters; returns only the generated ones. One stream only.
    pub fn generate(&mut self, prime: &str, len: usize) -> Result<String> {
        if self.streams != 1 {
            return Err(Error::Mismatch(format!(
                "generate() on a sampler of {} streams; use generate_streams",
                self.streams
            )));
        }
        let mut texts = self.generate_streams(&[prime], len)?;
        Ok(texts.pop().unwrap_or_default())
    }

    /// Feeds each stream its prime (one per stream, all of the same length
    /// in characters), then generates `len` characters per stream.
    pub fn generate_streams(&mut self, primes: &[&str], len: usize) -> Result<Vec<String>> {
        let n = self.streams;
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
        let n = self.streams;
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
        let chunk = self.plan(steps)?;
        chunk.program.write_ids(chunk.graph.tokens, &tokens)?;
        chunk.program.write_ids(chunk.graph.control, &control)?;
        chunk.program.run(&[Section::Forward])?;
        // Ids below 2²⁴ are exact in f32.
        Ok(chunk.program.readout()?.into_iter().map(|x| x as u32).collect())
    }

    /// The compiled plan of `steps` steps, built on first use.
    fn plan(&mut self, steps: usize) -> Result<&mut Chunk> {
        let i = match self.plans.iter().position(|c| c.steps == steps) {
            Some(i) => i,
            None => {
                let m = &self.model;
                let graph = bptt::build_generation(m.config(), m.layout(), self.streams, steps);
                let mut bound =
                    vec![(graph.params.buf, m.storage().clone()), (graph.state_h.buf, self.state_h.clone())];
                if let (Some(view), Some(storage)) = (graph.state_c, &self.state_c) {
                    bound.push((view.buf, storage.clone()));
                }
                let program = Program::new(m.device(), graph.plan.clone(), bound, graph.samples)?;
                self.plans.push(Chunk { steps, graph, program });
                self.plans.len() - 1
            }
        };
        Ok(&mut self.plans[i])
    }
}
