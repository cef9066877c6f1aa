//! Kernel benchmarks: one op repeated R times in a hand-made plan, run with
//! [`rnn_wgpu::run_plan`] on each backend.
//!
//! `run_plan` also creates the buffers, uploads their contents, builds the
//! bind groups and reads every buffer back, once per call. Two things keep
//! that out of the figures: R is large (as many repetitions as fit in
//! `BUDGET`, between `MIN_REPS` and `MAX_REPS`), and the time of a one-op plan
//! is subtracted, so time/op = (t(R) − t(1)) / (R − 1). Every plan is run once
//! untimed first (compiling its pipeline, touching its memory) and timed on
//! the second call. The bench measures every case once per pass, `PASSES`
//! passes, and keeps each case's fastest: the shared host's speed drifts
//! over minutes, and passes spread a case's timings over the whole table's
//! time. On the GPU the R dispatches share one compute pass, with the
//! barriers between them that wgpu inserts (each writes what the next
//! reads), as in a training block.

use std::time::{Duration, Instant};

use rnn_wgpu::plan::{BufId, BufferSpec, CellOp, Elem, Matmul, Op, Plan, Section, View};
use rnn_wgpu::{BufferInit, Device, run_plan};

/// Time the R repetitions of one op should take (estimated from a short probe).
const BUDGET: Duration = Duration::from_millis(500);
const MIN_REPS: usize = 20;
const MAX_REPS: usize = 200;
/// Repetitions of the probe that sizes R.
const PROBE_REPS: usize = 5;
/// Passes over all cases; each case's fastest counts.
pub const PASSES: usize = 3;

/// What a kernel's figure counts.
#[derive(Clone, Copy)]
pub enum Work {
    /// Floating-point operations per dispatch (reported in GFLOP/s).
    Flops(f64),
    /// Bytes read plus bytes written per dispatch (reported in GB/s).
    Bytes(f64),
}

impl Work {
    pub fn unit(self) -> &'static str {
        match self {
            Work::Flops(_) => "GFLOP/s",
            Work::Bytes(_) => "GB/s",
        }
    }

    /// GFLOP/s or GB/s at `secs` per dispatch.
    pub fn rate(self, secs: f64) -> f64 {
        match self {
            Work::Flops(x) | Work::Bytes(x) => x / secs / 1e9,
        }
    }
}

/// One benchmarked op with its buffers (the op's views index `buffers`).
pub struct Case {
    pub kernel: &'static str,
    pub shape: String,
    pub work: Work,
    buffers: Vec<BufferSpec>,
    op: Op,
}

/// One backend's measurement of a case.
#[derive(Clone, Copy)]
pub struct Measure {
    pub reps: usize,
    pub secs_per_op: f64,
}

/// Buffers declared in order; `view` returns the whole of the one just added.
#[derive(Default)]
struct Buffers(Vec<BufferSpec>);

impl Buffers {
    fn view(&mut self, name: &str, len: usize) -> View {
        self.0.push(BufferSpec { name: name.to_string(), len, elem: Elem::Float });
        View::whole(BufId(self.0.len() - 1), len)
    }
}

/// `c[m,n] (+)= op(a)[m,k] · op(b)[k,n] (+ bias)`, 2·m·n·k FLOPs.
fn matmul(
    label: &str,
    (m, n, k): (usize, usize, usize),
    a_trans: bool,
    b_trans: bool,
    bias: bool,
    accumulate: bool,
) -> Case {
    let mut bufs = Buffers::default();
    let c = bufs.view("c", m * n);
    let a = bufs.view("a", m * k);
    let b = bufs.view("b", k * n);
    let bias = bias.then(|| bufs.view("bias", n));
    let flags: Vec<&str> = [(a_trans, "a_trans"), (b_trans, "b_trans"), (accumulate, "acc")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    Case {
        kernel: "matmul",
        shape: format!("{label} [{m} × {n}], K = {k} {}", flags.join(" ")).trim_end().to_string(),
        work: Work::Flops(2.0 * (m * n * k) as f64),
        buffers: bufs.0,
        op: Op::Matmul(Matmul { c, a, b, bias, m, n, k, a_trans, b_trans, accumulate }),
    }
}

/// The four GEMMs of a training block for a cell with `gates` blocks, flagged
/// as `bptt.rs` records them: the recurrent step, its backward into h, the
/// weight gradient over K = T·B, and the softmax head.
fn block_gemms(tag: &str, gates: usize, hidden: usize, batch: usize, bptt: usize, classes: usize) -> Vec<Case> {
    let (g, h, rows) = (gates * hidden, hidden, bptt * batch);
    vec![
        matmul(&format!("{tag} recurrent step"), (batch, g, h), false, true, true, true),
        matmul(&format!("{tag} step backward ∂h"), (batch, h, g), false, false, false, true),
        matmul(&format!("{tag} ∂W_hh"), (g, h, rows), true, false, false, true),
        matmul(&format!("{tag} head"), (rows, classes, h), false, true, true, false),
    ]
}

/// The fused cell kernels at `batch` × `hidden`; bytes are those the kernel
/// must touch (in-place buffers count as read and written).
fn cells(batch: usize, hidden: usize) -> Vec<Case> {
    let n = batch * hidden;
    let shape = format!("B = {batch}, H = {hidden}");
    let bytes = |floats: usize| Work::Bytes(4.0 * (floats * n) as f64);
    let mut out = Vec::new();

    let mut b = Buffers::default();
    let op = Op::Cell(CellOp::LstmForward {
        gates: b.view("gates", 4 * n),
        c: b.view("c", n),
        h: b.view("h", n),
        c_prev: b.view("c_prev", n),
        hidden,
    });
    // Reads gates 4n, c_prev n; writes gates 4n, c n, h n.
    out.push(Case { kernel: "lstm_cell_forward", shape: shape.clone(), work: bytes(5 + 6), buffers: b.0, op });

    let mut b = Buffers::default();
    let op = Op::Cell(CellOp::LstmBackward {
        dgates: b.view("dgates", 4 * n),
        dc: b.view("dc", n),
        dh: b.view("dh", n),
        gates: b.view("gates", 4 * n),
        c: b.view("c", n),
        c_prev: b.view("c_prev", n),
        hidden,
    });
    // Reads dh, gates 4n, c, c_prev, dc; writes dgates 4n, dc.
    out.push(Case { kernel: "lstm_cell_backward", shape: shape.clone(), work: bytes(8 + 5), buffers: b.0, op });

    let mut b = Buffers::default();
    let op = Op::Cell(CellOp::GruForward {
        gates: b.view("gates", 3 * n),
        h: b.view("h", n),
        hw: b.view("hw", 3 * n),
        h_prev: b.view("h_prev", n),
        hidden,
    });
    // Reads gates 3n, hw 3n, h_prev n; writes gates 3n, h n.
    out.push(Case { kernel: "gru_cell_forward", shape: shape.clone(), work: bytes(7 + 4), buffers: b.0, op });

    let mut b = Buffers::default();
    let op = Op::Cell(CellOp::GruBackward {
        dxw: b.view("dxw", 3 * n),
        dhw: b.view("dhw", 3 * n),
        dh_prev: Some(b.view("dh_prev", n)),
        dh: b.view("dh", n),
        gates: b.view("gates", 3 * n),
        hw: b.view("hw", 3 * n),
        h_prev: b.view("h_prev", n),
        hidden,
    });
    // Reads dh, gates 3n, the n block of hw, h_prev, dh_prev; writes dxw 3n, dhw 3n, dh_prev.
    out.push(Case { kernel: "gru_cell_backward", shape, work: bytes(7 + 7), buffers: b.0, op });
    out
}

/// The fused LSTM step kernels (recurrent GEMM + cell, `Op::Step`) at
/// `batch` × `hidden`, laid out as a block lays them out; FLOPs are the
/// GEMM's 2·B·4H·H (the cell's few per element are not counted).
fn lstm_steps(tag: &str, batch: usize, hidden: usize) -> Vec<Case> {
    let (n, g) = (batch * hidden, 4 * hidden);
    let flops = Work::Flops(2.0 * (batch * g * hidden) as f64);
    let shape = format!("{tag} B = {batch}, H = {hidden}");
    let mut b = Buffers::default();
    let params = b.view("params", g * hidden + g);
    let (w, bias) = (params.sub(0, g * hidden), params.sub(g * hidden, g));
    let hs = b.view("hs", 2 * n);
    let xw = b.view("xw", batch * g);
    let cs = b.view("cs", 2 * n);
    let (h_prev, h) = (hs.sub(0, n), hs.sub(n, n));
    let matmul = Matmul {
        c: xw,
        a: h_prev,
        b: w,
        bias: Some(bias),
        m: batch,
        n: g,
        k: hidden,
        a_trans: false,
        b_trans: true,
        accumulate: true,
    };
    let cell = CellOp::LstmForward { gates: xw, c: cs.sub(n, n), h, c_prev: cs.sub(0, n), hidden };
    let forward = Case {
        kernel: "lstm_step_forward",
        shape: shape.clone(),
        work: flops,
        buffers: b.0,
        op: Op::Step { matmul, cell },
    };

    let mut b = Buffers::default();
    let params = b.view("params", g * hidden);
    let dpre = b.view("dpre", 2 * batch * g);
    let dh = b.view("dh", n);
    let dc = b.view("dc", n);
    let gates = b.view("gates", batch * g);
    let cs = b.view("cs", 2 * n);
    let matmul = Matmul {
        c: dh,
        a: dpre.sub(batch * g, batch * g),
        b: params,
        bias: None,
        m: batch,
        n: hidden,
        k: g,
        a_trans: false,
        b_trans: false,
        accumulate: true,
    };
    let cell = CellOp::LstmBackward {
        dgates: dpre.sub(0, batch * g),
        dc,
        dh,
        gates,
        c: cs.sub(n, n),
        c_prev: cs.sub(0, n),
        hidden,
    };
    let backward =
        Case { kernel: "lstm_step_backward", shape, work: flops, buffers: b.0, op: Op::Step { matmul, cell } };
    vec![forward, backward]
}

/// Every kernel case: the GEMMs of configs (b) lstm L=1 H=128 B=32 T=64 and
/// (e) lstm L=2 H=512 B=64 T=64 (vocab 65), a square 1024³ GEMM, and the
/// fused cells at B = 64, H = 512.
pub fn cases(classes: usize) -> Vec<Case> {
    let mut out = block_gemms("(b)", 4, 128, 32, 64, classes);
    out.extend(block_gemms("(e)", 4, 512, 64, 64, classes));
    out.push(matmul("square", (1024, 1024, 1024), false, false, false, false));
    out.extend(lstm_steps("(b)", 32, 128));
    out.extend(lstm_steps("(e)", 64, 512));
    out.extend(cells(64, 512));
    out
}

/// Deterministic values in [-0.5, 0.5) (small enough that repeated in-place
/// updates stay finite).
fn values(len: usize, seed: u32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 8) as f32 / 16_777_216.0 - 0.5
        })
        .collect()
}

impl Case {
    fn plan(&self, reps: usize) -> Plan {
        Plan { buffers: self.buffers.clone(), sections: vec![(Section::Forward, vec![self.op; reps])] }
    }

    /// Seconds per dispatch on `device` (see the module comment for the method).
    pub fn measure(&self, device: &Device) -> rnn_wgpu::Result<Measure> {
        let init: Vec<BufferInit> = self
            .buffers
            .iter()
            .enumerate()
            .map(|(i, spec)| BufferInit::Float(values(spec.len, i as u32 + 1)))
            .collect();
        let run = |reps: usize| -> rnn_wgpu::Result<Duration> {
            let plan = self.plan(reps);
            let start = Instant::now();
            run_plan(device, &plan, &init)?;
            Ok(start.elapsed())
        };
        let warm_then_time = |reps: usize| -> rnn_wgpu::Result<Duration> {
            run(reps)?;
            run(reps)
        };
        let one = warm_then_time(1)?;
        let probe = run(PROBE_REPS)?;
        let estimate = (probe.saturating_sub(one).as_secs_f64() / (PROBE_REPS - 1) as f64).max(1e-7);
        let reps = ((BUDGET.as_secs_f64() / estimate) as usize).clamp(MIN_REPS, MAX_REPS);
        let many = warm_then_time(reps)?;
        let diff = many.saturating_sub(one).as_secs_f64() / (reps - 1) as f64;
        // Should noise ever make the difference vanish, fall back to the plain mean.
        let secs_per_op = if diff > 0.0 { diff } else { many.as_secs_f64() / reps as f64 };
        Ok(Measure { reps, secs_per_op })
    }
}
