//! Code the examples share: choosing the device, the cell flag, the learned-
//! or-not verdict, SVG plots and the gradient-flow diagnostic.
//!
//! Each example compiles this module on its own and uses part of it.
#![allow(dead_code)]

pub mod adding;
pub mod flow;
pub mod plot;

use clap::ValueEnum;
use rnn_wgpu::{Cell, Device};

/// The error type of every example's `main`.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// The best wgpu adapter, or the CPU backend when there is none.
    Auto,
    /// A wgpu adapter; no adapter is an error.
    Gpu,
    /// The CPU backend.
    Cpu,
}

/// The device `backend` asks for; `auto` falls back to the CPU backend (and
/// says why) unless an adapter was named.
pub fn open_device(backend: BackendArg, adapter: Option<&str>) -> Result<Device> {
    let gpu = || match adapter {
        Some(name) => Device::select(None, Some(name)),
        None => Device::best(),
    };
    match (backend, adapter) {
        (BackendArg::Cpu, Some(_)) => Err("--adapter names a GPU adapter; it cannot be used with --backend cpu".into()),
        (BackendArg::Cpu, None) => Ok(Device::cpu()),
        (BackendArg::Gpu, _) | (BackendArg::Auto, Some(_)) => {
            gpu().map_err(|e| format!("no usable GPU adapter: {e}").into())
        }
        (BackendArg::Auto, None) => Ok(gpu().unwrap_or_else(|e| {
            eprintln!("no usable GPU adapter ({e}); falling back to the CPU backend");
            Device::cpu()
        })),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CellArg {
    /// Vanilla RNN, h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
    Rnn,
    /// Vanilla RNN with relu
    RnnRelu,
    /// LSTM (PyTorch's nn.LSTM)
    Lstm,
    /// GRU (PyTorch's nn.GRU)
    Gru,
}

impl CellArg {
    pub fn cell(self) -> Cell {
        match self {
            CellArg::Rnn => Cell::RnnTanh,
            CellArg::RnnRelu => Cell::RnnRelu,
            CellArg::Lstm => Cell::Lstm,
            CellArg::Gru => Cell::Gru,
        }
    }
}

/// The three cells the comparisons run, in table order.
pub const CELLS: [Cell; 3] = [Cell::RnnTanh, Cell::Lstm, Cell::Gru];

/// A short name for tables and legends.
pub fn short_name(cell: Cell) -> &'static str {
    match cell {
        Cell::RnnTanh => "rnn",
        Cell::RnnRelu => "rnn-relu",
        Cell::Lstm => "lstm",
        Cell::Gru => "gru",
    }
}

/// The verdict every example ends with: prints each check, and fails (so
/// the process exits non-zero) unless all of them hold.
#[derive(Default)]
pub struct Verdict {
    failed: Vec<String>,
}

impl Verdict {
    /// Records one check: `what` should hold.
    pub fn check(&mut self, what: &str, holds: bool) {
        println!("check: {what}: {}", if holds { "yes" } else { "NO" });
        if !holds {
            self.failed.push(what.to_string());
        }
    }

    /// Ok when every check held, otherwise an error listing those that did not.
    pub fn finish(self) -> Result<()> {
        match self.failed.is_empty() {
            true => Ok(()),
            false => Err(format!("did not learn what it should: {}", self.failed.join("; ")).into()),
        }
    }
}
