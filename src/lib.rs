//! # rnn-wgpu
//!
//! Train and run recurrent networks — vanilla RNN (tanh, relu), LSTM, GRU,
//! stacked, with dropout between layers — as WGSL compute shaders through
//! `wgpu`, on any Vulkan, Metal, DX12 or GL adapter, or on the CPU backend
//! that is both the reference the GPU is tested against and the throughput
//! baseline. Weights follow PyTorch's names, shapes and gate order, and
//! checkpoints are safetensors files PyTorch reads and writes.
//!
//! ```no_run
//! use rnn_wgpu::*;
//! # fn main() -> Result<()> {
//! let text = "hello world, hello rnn";
//! let vocab = Vocab::from_text(text)?;
//! let tokens = vocab.encode(text)?;
//! let device = Device::best().unwrap_or_else(|_| Device::cpu());
//! let config = ModelConfig::char_lm(Cell::Lstm, 2, 64, vocab.len());
//! let model = Model::new(&device, &config, 42)?;
//! let mut trainer = Trainer::new(model, TrainConfig {
//!     batch: 2, bptt: 8, optimizer: Optimizer::adam(1e-2), clip_norm: Some(5.0), seed: 1 })?;
//! let streams = Streams::new(&tokens, 2, 8)?;
//! for block in streams.blocks() { trainer.step(&block)?; }   // hidden state stays on the device
//! println!("loss {}", trainer.stats()?.loss);
//! trainer.model().save("model.safetensors", Some(&vocab))?;
//! let text = Sampler::new(trainer.model(), &vocab)?.temperature(0.8)?.generate("h", 20)?;
//! # Ok(()) }
//! ```
//!
//! How a block flows through the crate is in `ARCHITECTURE.md`.

mod bptt;
mod checkpoint;
pub mod config;
pub mod cpu;
mod data;
mod device;
pub mod error;
mod gpu;
mod model;
pub mod optim;
pub mod params;
pub mod plan;
mod program;
pub mod reference;
mod sample;
mod train;

pub use config::{Cell, Head, Input, ModelConfig, Readout, TrainConfig};
pub use data::{Block, Inputs, Streams, Targets, Vocab, split};
pub use device::Device;
pub use error::{Error, Result};
pub use model::Model;
pub use optim::Optimizer;
pub use params::{ParamLayout, ParamTensor};
pub use program::{BufferInit, run_plan};
pub use sample::{Forecaster, Sampler};
pub use train::{Evaluator, StepStats, Trainer};
