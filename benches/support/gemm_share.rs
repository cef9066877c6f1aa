//! How close a training step comes to its GEMMs alone: the block plan's
//! GEMMs — every matmul, and the GEMM half of every fused step — are put in
//! a plan of their own (same buffers, same shapes and flags, same order) and
//! timed, against the time of the whole step. The ratio says how much of the
//! matmul kernel's rate the step keeps once cells, losses, reductions, the
//! optimizer and the dispatches between them are added.
//!
//! Timing: `run_plan` creates, uploads and reads back every buffer, so the
//! GEMM list is timed once and twice in one plan, and the difference is one
//! list's time (each plan run once untimed first).

use std::time::{Duration, Instant};

use rnn_wgpu::plan::{Elem, Op, Plan, Section};
use rnn_wgpu::{BufferInit, Device, run_plan};

/// The GEMMs of one training block.
pub struct Gemms {
    plan: Plan,
    /// 2·m·n·k summed over them.
    pub flops: f64,
}

/// The GEMMs of `block` (a training plan): every `Op::Matmul` and every fused
/// step's matmul, in order.
pub fn gemms(block: &Plan) -> Gemms {
    let all = [Section::Forward, Section::Backward, Section::Update];
    let ops: Vec<Op> = block
        .ops(&all)
        .filter_map(|op| match *op {
            Op::Matmul(mm) | Op::Step { matmul: mm, .. } => Some(Op::Matmul(mm)),
            _ => None,
        })
        .collect();
    let flops =
        ops.iter().map(|op| if let Op::Matmul(mm) = op { 2.0 * (mm.m * mm.n * mm.k) as f64 } else { 0.0 }).sum();
    Gemms { plan: Plan { buffers: block.buffers.clone(), sections: vec![(Section::Forward, ops)] }, flops }
}

impl Gemms {
    /// Seconds the GEMMs of one block take alone on `device`.
    pub fn measure(&self, device: &Device) -> rnn_wgpu::Result<f64> {
        let init: Vec<BufferInit> = self
            .plan
            .buffers
            .iter()
            .map(|spec| match spec.elem {
                Elem::Float => BufferInit::Float(vec![0.0; spec.len]),
                Elem::Id => BufferInit::Id(vec![0; spec.len]),
            })
            .collect();
        let repeated = |times: usize| {
            let ops = self.plan.sections[0].1.repeat(times);
            Plan { buffers: self.plan.buffers.clone(), sections: vec![(Section::Forward, ops)] }
        };
        let (once, twice) = (repeated(1), repeated(2));
        let run = |plan: &Plan| -> rnn_wgpu::Result<Duration> {
            let start = Instant::now();
            run_plan(device, plan, &init)?;
            Ok(start.elapsed())
        };
        run(&once)?;
        let one = run(&once)?;
        let two = run(&twice)?;
        // Should noise ever make the difference vanish, fall back to the plain time.
        let diff = two.saturating_sub(one).as_secs_f64();
        Ok(if diff > 0.0 { diff } else { one.as_secs_f64() })
    }
}
