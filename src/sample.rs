//! Text generation: feed a prime string, then draw one character at a time
//! from the head's distribution, carrying the hidden state across characters.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::bptt::{self, Graph, Mode};
use crate::data::Vocab;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::plan::Section;
use crate::program::Program;

/// How the next character is chosen from the log-probabilities.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Choice {
    /// The most likely character.
    Greedy,
    /// Drawn from softmax(log p / temperature), among the `top_k` most likely if set.
    Sample { temperature: f32, top_k: Option<usize> },
}

/// Generates text from a model, one character per forward step (batch 1).
pub struct Sampler {
    graph: Graph,
    program: Program,
    vocab: Vocab,
    choice: Choice,
    rng: ChaCha8Rng,
    /// Scratch for the candidate (id, weight) list, reused across characters.
    candidates: Vec<(u32, f64)>,
}

impl Sampler {
    /// A sampler over `model`'s live weights; `vocab` must match the model's input and head.
    pub fn new(model: &Model, vocab: &Vocab) -> Result<Sampler> {
        let c = model.config();
        if vocab.len() != c.vocab() || vocab.len() != c.classes() {
            return Err(Error::Mismatch(format!(
                "vocabulary of {} characters for a model with {} inputs and {} classes",
                vocab.len(),
                c.vocab(),
                c.classes()
            )));
        }
        let graph = bptt::build(c, model.layout(), 1, 1, Mode::Infer);
        let bound = vec![(graph.params.buf, model.storage().clone())];
        let program = Program::new(model.device(), graph.plan.clone(), bound, graph.logits)?;
        Ok(Sampler {
            graph,
            program,
            vocab: vocab.clone(),
            choice: Choice::Sample { temperature: 1.0, top_k: None },
            rng: ChaCha8Rng::seed_from_u64(0),
            candidates: Vec::with_capacity(vocab.len()),
        })
    }

    /// Sample at this temperature (> 0; below 1 is more conservative).
    pub fn temperature(mut self, temperature: f32) -> Result<Self> {
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(Error::invalid("temperature", temperature, "must be finite and > 0"));
        }
        let top_k = match self.choice {
            Choice::Sample { top_k, .. } => top_k,
            Choice::Greedy => None,
        };
        self.choice = Choice::Sample { temperature, top_k };
        Ok(self)
    }

    /// Sample only among the `k` most likely characters (k ≥ 1).
    pub fn top_k(mut self, k: usize) -> Result<Self> {
        crate::config::positive("top_k", k)?;
        let temperature = match self.choice {
            Choice::Sample { temperature, .. } => temperature,
            Choice::Greedy => 1.0,
        };
        self.choice = Choice::Sample { temperature, top_k: Some(k) };
        Ok(self)
    }

    /// Always take the most likely character.
    pub fn greedy(mut self) -> Self {
        self.choice = Choice::Greedy;
        self
    }

    /// Seeds the random draws: one seed, one text.
    pub fn seed(mut self, seed: u64) -> Self {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
        self
    }

    /// Clears the hidden state (it is otherwise carried from call to call).
    pub fn reset(&mut self) -> Result<()> {
        self.program.write(self.graph.state_h, &vec![0.0; self.graph.state_h.len])
    }

    /// Feeds `prime` (at least one character), then generates `len` more
    /// characters; returns only the generated ones.
    pub fn generate(&mut self, prime: &str, len: usize) -> Result<String> {
        let prime = self.vocab.encode(prime)?;
        let Some(&last) = prime.last() else {
            return Err(Error::invalid("prime", "an empty string", "give at least one character"));
        };
        for &id in &prime[..prime.len() - 1] {
            self.forward(id)?;
        }
        let mut next = last;
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            let log_probs = self.forward(next)?;
            next = self.choose(&log_probs);
            out.push(next);
        }
        self.vocab.decode(&out)
    }

    /// One step from `id`; returns the log-probabilities of the next character.
    fn forward(&mut self, id: u32) -> Result<Vec<f32>> {
        self.program.write_ids(self.graph.tokens, &[id])?;
        self.program.run(&[Section::Forward])?;
        self.program.readout()
    }

    fn choose(&mut self, log_probs: &[f32]) -> u32 {
        let argmax =
            |xs: &[f32]| xs.iter().enumerate().fold(0, |best, (i, &x)| if x > xs[best] { i } else { best }) as u32;
        let Choice::Sample { temperature, top_k } = self.choice else {
            return argmax(log_probs);
        };
        // softmax(log p / τ) is softmax(logits / τ): the shift by logsumexp cancels.
        let c = &mut self.candidates;
        c.clear();
        c.extend(log_probs.iter().enumerate().map(|(i, &lp)| (i as u32, lp as f64 / temperature as f64)));
        c.sort_by(|a, b| b.1.total_cmp(&a.1));
        c.truncate(top_k.unwrap_or(c.len()).min(c.len()));
        let max = c[0].1;
        let total: f64 = c
            .iter_mut()
            .map(|(_, w)| {
                *w = (*w - max).exp();
                *w
            })
            .sum();
        let mut u = self.rng.random::<f64>() * total;
        for &(id, w) in c.iter() {
            if u < w {
                return id;
            }
            u -= w;
        }
        c[c.len() - 1].0
    }
}
