//! A plan bound to memory on a device, ready to run block after block. This
//! is the one place where the two backends part: the CPU interprets the ops,
//! the GPU records them as dispatches.

use crate::cpu::{self, Slot};
use crate::device::{Backend, Device, Storage};
use crate::error::{Error, Result};
use crate::gpu::program::GpuProgram;
use crate::plan::{BufId, Plan, Section, View};

pub(crate) struct Program {
    device: Device,
    plan: Plan,
    storage: Vec<Storage>,
    gpu: Option<GpuProgram>,
    /// The CPU executor's per-plan state (weights kept packed or transposed).
    cpu: Option<cpu::Workspace>,
    /// Per section, the buffers its ops write (counted as written by each run).
    written: Vec<(Section, Vec<BufId>)>,
    readout: View,
    /// Ops (= GPU dispatches) run by the last `run`.
    last_count: usize,
    /// Bytes of the buffers this program allocated (not those bound to it).
    owned_bytes: u64,
}

impl Program {
    /// Validates `plan`, allocates every buffer not in `bound` (zero-filled),
    /// and compiles for the device. `readout` is the view `readout()` returns.
    pub(crate) fn new(device: &Device, plan: Plan, bound: Vec<(BufId, Storage)>, readout: View) -> Result<Program> {
        plan.validate()?;
        let mut storage = Vec::with_capacity(plan.buffers.len());
        let mut owned_bytes = 0;
        for (i, spec) in plan.buffers.iter().enumerate() {
            match bound.iter().find(|(id, _)| id.0 == i) {
                Some((_, s)) => storage.push(s.clone()),
                None => {
                    storage.push(device.alloc(&spec.name, spec.len, spec.elem)?);
                    // f32 and u32 elements alike.
                    owned_bytes += 4 * spec.len as u64;
                }
            }
        }
        let gpu = match device.backend() {
            Backend::Gpu(ctx) => {
                let buffers = storage
                    .iter()
                    .map(|s| match s {
                        Storage::Gpu(b) => Ok(b.clone()),
                        _ => Err(Error::Mismatch("a CPU buffer bound to a GPU program".into())),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Some(GpuProgram::new(ctx.clone(), &plan, buffers, readout)?)
            }
            Backend::Cpu => None,
        };
        let cpu = gpu.is_none().then(|| cpu::Workspace::new(&plan));
        let written = plan
            .sections
            .iter()
            .map(|(section, ops)| {
                let mut bufs: Vec<BufId> = ops.iter().flat_map(|op| op.views().0).map(|v| v.buf).collect();
                bufs.sort_by_key(|b| b.0);
                bufs.dedup();
                (*section, bufs)
            })
            .collect();
        Ok(Program { device: device.clone(), plan, storage, gpu, cpu, written, readout, last_count: 0, owned_bytes })
    }

    pub(crate) fn storage(&self, buf: BufId) -> &Storage {
        &self.storage[buf.0]
    }

    pub(crate) fn write(&self, view: View, data: &[f32]) -> Result<()> {
        check_len(view, data.len())?;
        self.device.write(self.storage(view.buf), view.offset, data)
    }

    pub(crate) fn write_ids(&self, view: View, data: &[u32]) -> Result<()> {
        check_len(view, data.len())?;
        self.device.write_ids(self.storage(view.buf), view.offset, data)
    }

    pub(crate) fn read(&self, view: View) -> Result<Vec<f32>> {
        self.device.read(self.storage(view.buf), view.offset, view.len)
    }

    /// Runs the ops of `sections`: on the GPU one encoder and one submit
    /// with no readback; on the CPU now, in order.
    pub(crate) fn run(&mut self, sections: &[Section]) -> Result<()> {
        self.last_count = match &self.gpu {
            Some(gpu) => gpu.run(sections)?,
            None => {
                // Lock every buffer for the whole block, then run the ops.
                let mut floats: Vec<_> = self.storage.iter().map(Storage::lock_float).collect();
                let mut ids: Vec<_> = self.storage.iter().map(Storage::lock_ids).collect();
                let mut slots = Vec::with_capacity(floats.len());
                for (f, i) in floats.iter_mut().zip(ids.iter_mut()) {
                    match (f, i) {
                        (Some(f), _) => slots.push(Slot::Float(&mut f[..])),
                        (None, Some(i)) => slots.push(Slot::Id(&mut i[..])),
                        _ => return Err(Error::Mismatch("a GPU buffer bound to a CPU program".into())),
                    }
                }
                // Under the locks: count this run's writes, then read every count, so
                // the workspace keeps a copy of a weight only while nothing wrote it.
                let run = self.written.iter().filter(|(section, _)| sections.contains(section));
                run.flat_map(|(_, bufs)| bufs).for_each(|b| self.storage[b.0].note_write());
                let writes: Vec<u64> = self.storage.iter().map(Storage::writes).collect();
                let workspace =
                    self.cpu.as_mut().ok_or_else(|| Error::Internal("a CPU program without its workspace".into()))?;
                // SAFETY: `plan` was validated in `new` and never changes; `workspace` was made for it.
                unsafe { cpu::execute_validated(&self.plan, sections, &mut slots, workspace, Some(&writes)) }
            }
        };
        Ok(())
    }

    /// The readout view as of the last run.
    pub(crate) fn readout(&self) -> Result<Vec<f32>> {
        match &self.gpu {
            Some(gpu) => gpu.readout(),
            None => self.read(self.readout),
        }
    }

    /// Ops run (GPU dispatches recorded) by the last `run`.
    pub(crate) fn last_count(&self) -> usize {
        self.last_count
    }

    /// Bytes of the buffers this program allocated (activations, gradients,
    /// optimizer state, carried state, inputs), not counting bound ones.
    pub(crate) fn owned_bytes(&self) -> u64 {
        self.owned_bytes
    }
}

fn check_len(view: View, len: usize) -> Result<()> {
    if view.len != len {
        return Err(Error::shape("host data for a device view", view.len, len));
    }
    Ok(())
}

/// Initial contents of one plan buffer for [`run_plan`].
#[derive(Clone, Debug)]
pub enum BufferInit {
    Float(Vec<f32>),
    Id(Vec<u32>),
}

/// Runs every section of a hand-made plan once on `device`, with `init[i]`
/// as the contents of `plan.buffers[i]`, and returns every buffer afterwards
/// (id buffers as empty vectors). This is how the kernel tests hold each
/// WGSL entry point to its CPU twin.
pub fn run_plan(device: &Device, plan: &Plan, init: &[BufferInit]) -> Result<Vec<Vec<f32>>> {
    if init.len() != plan.buffers.len() {
        return Err(Error::shape("run_plan initial buffers", plan.buffers.len(), init.len()));
    }
    let readout = View { buf: BufId(0), offset: 0, len: plan.buffers[0].len };
    let mut program = Program::new(device, plan.clone(), Vec::new(), readout)?;
    for (i, data) in init.iter().enumerate() {
        let whole = View { buf: BufId(i), offset: 0, len: plan.buffers[i].len };
        match data {
            BufferInit::Float(v) => program.write(whole, v)?,
            BufferInit::Id(v) => program.write_ids(whole, v)?,
        }
    }
    program.run(&[Section::Forward, Section::Backward, Section::Update])?;
    plan.buffers
        .iter()
        .enumerate()
        .map(|(i, spec)| match spec.elem {
            crate::plan::Elem::Float => program.read(View { buf: BufId(i), offset: 0, len: spec.len }),
            crate::plan::Elem::Id => Ok(Vec::new()),
        })
        .collect()
}
