//! Where a model runs: a wgpu adapter or the CPU backend, behind one type.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::gpu::context::{Context, describe};
use crate::plan::Elem;

/// A compute device: a GPU adapter through wgpu, or the CPU backend.
/// Cheap to clone; clones share the adapter, its device and its pipelines.
#[derive(Clone)]
pub struct Device {
    backend: Backend,
}

#[derive(Clone)]
pub(crate) enum Backend {
    Gpu(Arc<Context>),
    Cpu,
}

/// Memory of one plan buffer on a device.
#[derive(Clone)]
pub(crate) enum Storage {
    Gpu(Arc<wgpu::Buffer>),
    CpuFloat(Arc<CpuFloats>),
    CpuId(Arc<Mutex<Vec<u32>>>),
}

/// A float buffer of the CPU backend, and how many times it has been
/// written: by the host, or by a program whose plan writes it. A CPU
/// program keeps its copies of weights in faster layouts (the packed W_hh,
/// the W_ih token table) while this count has not moved (see
/// `cpu::Workspace::begin`).
pub(crate) struct CpuFloats {
    values: Mutex<Vec<f32>>,
    writes: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a Vec<f32> half-valid in a
    // way that matters more than the panic itself; keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Device {
    /// The best adapter: discrete > integrated > CPU-type (lavapipe), native
    /// APIs before GL. Honours `WGPU_BACKEND` (a comma list such as
    /// `vulkan,gl`) and `WGPU_ADAPTER_NAME` (a case-insensitive substring of
    /// the adapter name; matching nothing is an error listing the adapters).
    pub fn best() -> Result<Device> {
        let backends = std::env::var("WGPU_BACKEND").ok();
        let name = std::env::var("WGPU_ADAPTER_NAME").ok().filter(|n| !n.is_empty());
        Device::select(backends.as_deref(), name.as_deref())
    }

    /// The best adapter among `backends` (a comma list, all when `None`)
    /// whose name contains `name` (any when `None`).
    pub fn select(backends: Option<&str>, name: Option<&str>) -> Result<Device> {
        let backends = match backends {
            None => wgpu::Backends::all(),
            Some(list) => {
                let parsed = wgpu::Backends::from_comma_list(list);
                if parsed.is_empty() {
                    return Err(Error::invalid(
                        "WGPU_BACKEND",
                        list,
                        "expected a comma list of vulkan, metal, dx12, gl",
                    ));
                }
                parsed
            }
        };
        let ctx = Context::open(backends, name)?;
        Ok(Device { backend: Backend::Gpu(Arc::new(ctx)) })
    }

    /// This GPU with the optional subgroup kernels off: the portable kernels
    /// that need no optional feature, on the same wgpu device (buffers and
    /// models are not shared between the two handles' programs, but any
    /// model may be built on either). The CPU backend is returned unchanged.
    /// Setting `RNN_WGPU_NO_SUBGROUPS=1` does the same for every device.
    pub fn without_subgroups(&self) -> Device {
        match &self.backend {
            Backend::Gpu(ctx) => Device { backend: Backend::Gpu(Arc::new(ctx.without_subgroups())) },
            Backend::Cpu => self.clone(),
        }
    }

    /// True when ops run on kernels that use subgroup operations (a CPU
    /// adapter such as lavapipe offering wgpu's `Features::SUBGROUP` with
    /// 8-lane subgroups, and they were not switched off).
    pub fn uses_subgroups(&self) -> bool {
        match &self.backend {
            Backend::Gpu(ctx) => ctx.options.subgroups,
            Backend::Cpu => false,
        }
    }

    /// Queue submits made on this device so far (0 on the CPU backend). A
    /// training block is one submit; see also [`Device::readbacks`].
    pub fn submits(&self) -> u64 {
        match &self.backend {
            Backend::Gpu(ctx) => ctx.traffic().0,
            Backend::Cpu => 0,
        }
    }

    /// Device-to-host readbacks (buffer maps) waited for so far (0 on the
    /// CPU backend). A training block makes none; `Trainer::stats` makes one.
    pub fn readbacks(&self) -> u64 {
        match &self.backend {
            Backend::Gpu(ctx) => ctx.traffic().1,
            Backend::Cpu => 0,
        }
    }

    /// The CPU backend.
    pub fn cpu() -> Device {
        Device { backend: Backend::Cpu }
    }

    /// True for a wgpu adapter.
    pub fn is_gpu(&self) -> bool {
        matches!(self.backend, Backend::Gpu(_))
    }

    /// The adapter name, API and type, or "CPU backend".
    pub fn name(&self) -> String {
        match &self.backend {
            Backend::Gpu(ctx) => describe(&ctx.info),
            Backend::Cpu => {
                format!("CPU backend ({} threads)", std::thread::available_parallelism().map_or(1, |n| n.get()))
            }
        }
    }

    /// True when both handles are the same device.
    pub fn same(&self, other: &Device) -> bool {
        match (&self.backend, &other.backend) {
            (Backend::Gpu(a), Backend::Gpu(b)) => Arc::ptr_eq(a, b),
            (Backend::Cpu, Backend::Cpu) => true,
            _ => false,
        }
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.backend
    }

    /// A zero-filled buffer of `len` elements.
    pub(crate) fn alloc(&self, name: &str, len: usize, elem: Elem) -> Result<Storage> {
        Ok(match (&self.backend, elem) {
            (Backend::Gpu(ctx), _) => Storage::Gpu(Arc::new(ctx.buffer(name, len, elem)?)),
            (Backend::Cpu, Elem::Float) => {
                Storage::CpuFloat(Arc::new(CpuFloats { values: Mutex::new(vec![0.0; len]), writes: AtomicU64::new(0) }))
            }
            (Backend::Cpu, Elem::Id) => Storage::CpuId(Arc::new(Mutex::new(vec![0; len]))),
        })
    }

    /// Writes `data` at element `offset` of a float buffer.
    pub(crate) fn write(&self, storage: &Storage, offset: usize, data: &[f32]) -> Result<()> {
        match (&self.backend, storage) {
            (Backend::Gpu(ctx), Storage::Gpu(buffer)) => {
                ctx.queue.write_buffer(buffer, (offset * 4) as u64, bytemuck::cast_slice(data));
                ctx.check()
            }
            (Backend::Cpu, Storage::CpuFloat(v)) => {
                let mut values = lock(&v.values);
                v.writes.fetch_add(1, Ordering::Relaxed);
                values[offset..offset + data.len()].copy_from_slice(data);
                Ok(())
            }
            _ => Err(Error::Internal("float write to a buffer of another kind".into())),
        }
    }

    /// Writes ids at element `offset` of an id buffer.
    pub(crate) fn write_ids(&self, storage: &Storage, offset: usize, data: &[u32]) -> Result<()> {
        match (&self.backend, storage) {
            (Backend::Gpu(ctx), Storage::Gpu(buffer)) => {
                ctx.queue.write_buffer(buffer, (offset * 4) as u64, bytemuck::cast_slice(data));
                ctx.check()
            }
            (Backend::Cpu, Storage::CpuId(v)) => {
                lock(v)[offset..offset + data.len()].copy_from_slice(data);
                Ok(())
            }
            _ => Err(Error::Internal("id write to a buffer of another kind".into())),
        }
    }

    /// Reads `len` floats at element `offset` (blocks until the GPU is done).
    pub(crate) fn read(&self, storage: &Storage, offset: usize, len: usize) -> Result<Vec<f32>> {
        match (&self.backend, storage) {
            (Backend::Gpu(ctx), Storage::Gpu(buffer)) => {
                let bytes = ctx.read(buffer, (offset * 4) as u64, (len * 4) as u64)?;
                Ok(bytemuck::pod_collect_to_vec(&bytes))
            }
            (Backend::Cpu, Storage::CpuFloat(v)) => Ok(lock(&v.values)[offset..offset + len].to_vec()),
            _ => Err(Error::Internal("float read of a buffer of another kind".into())),
        }
    }
}

impl Storage {
    pub(crate) fn lock_float(&self) -> Option<MutexGuard<'_, Vec<f32>>> {
        match self {
            Storage::CpuFloat(v) => Some(lock(&v.values)),
            _ => None,
        }
    }

    /// Counts a write into a CPU float buffer; the caller holds its lock.
    pub(crate) fn note_write(&self) {
        if let Storage::CpuFloat(v) = self {
            v.writes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The writes counted so far (0 for other kinds of storage); read under
    /// the buffer's lock, it is the count of the contents the lock sees.
    pub(crate) fn writes(&self) -> u64 {
        match self {
            Storage::CpuFloat(v) => v.writes.load(Ordering::Relaxed),
            _ => 0,
        }
    }

    pub(crate) fn lock_ids(&self) -> Option<MutexGuard<'_, Vec<u32>>> {
        match self {
            Storage::CpuId(v) => Some(lock(v)),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Device({})", self.name())
    }
}
