//! The GPU context: adapter choice, the device and queue, error capture, and
//! the pipeline cache. One context per `Device`, shared by every model,
//! trainer and sampler made on it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::gpu::kernels::{Kernel, KernelOptions, PRELUDE};
use crate::plan::Elem;

/// Set to 1 to keep the optional subgroup kernels off on every device (the
/// portable kernels run everywhere; this is for comparing the two).
pub(crate) const NO_SUBGROUPS_ENV: &str = "RNN_WGPU_NO_SUBGROUPS";

/// How long a blocking wait on the GPU may take before it is an error.
pub(crate) const WAIT_TIMEOUT: Duration = Duration::from_secs(120);

/// A compiled kernel: its pipeline and bind group layout.
pub(crate) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

pub(crate) struct Context {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// The optional kernels this context lowers ops to.
    pub options: KernelOptions,
    /// Keyed by `Kernel::label`.
    pipelines: Mutex<HashMap<&'static str, Arc<Pipeline>>>,
    /// The first error reported outside an error scope (uncaptured error or
    /// device loss); every later operation returns it.
    fatal: Arc<Mutex<Option<Error>>>,
    /// Queue submits and readbacks so far (shared by every handle of the device).
    traffic: Arc<Traffic>,
}

/// What crossed between host and device: the counts a real GPU pays for.
#[derive(Default)]
pub(crate) struct Traffic {
    pub submits: AtomicU64,
    pub readbacks: AtomicU64,
}

/// Adapter ranking: discrete > integrated > virtual > CPU-type > other, and
/// among equals the native APIs before GL.
fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 1,
        wgpu::DeviceType::Other => 0,
    };
    let api = u8::from(info.backend != wgpu::Backend::Gl);
    (kind, api)
}

/// "llvmpipe (LLVM 15.0.6, 256 bits) [Vulkan, Cpu]".
pub(crate) fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} [{:?}, {:?}]", info.name, info.backend, info.device_type)
}

impl Context {
    /// Opens the best adapter among `backends` whose name contains `name`
    /// (case-insensitive) when a name is given.
    pub(crate) fn open(backends: wgpu::Backends, name: Option<&str>) -> Result<Context> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapters = pollster::block_on(instance.enumerate_adapters(backends));
        if adapters.is_empty() {
            return Err(Error::NoAdapter { backends: format!("{backends:?}") });
        }
        let found: Vec<String> = adapters.iter().map(|a| describe(&a.get_info())).collect();
        let wanted = name.map(str::to_lowercase);
        let adapter = adapters
            .into_iter()
            .filter(|a| wanted.as_ref().is_none_or(|w| a.get_info().name.to_lowercase().contains(w.as_str())))
            .max_by_key(|a| rank(&a.get_info()))
            .ok_or_else(|| Error::AdapterNotFound { wanted: name.unwrap_or_default().to_string(), found })?;
        let info = adapter.get_info();
        // Ask for everything the adapter offers: the WebGPU defaults (128 MiB
        // per storage binding) are often below what the hardware allows, and
        // buffer sizes are checked against these limits before creation.
        let limits = adapter.limits();
        // Subgroups only when the adapter offers them: requesting a missing
        // feature fails device creation. The subgroup matmul core is shaped
        // for a CPU running 8-lane subgroups as SIMD registers (llvmpipe): a
        // workgroup of 8 invocations with a 32x8 block each, which would idle
        // most of a GPU's wider subgroups and spill its registers. So it is
        // chosen on CPU adapters where 8 lanes can occur (its slower branch
        // keeps any other subgroup size correct); GPUs keep the portable,
        // workgroup-memory-tiled core.
        let features = adapter.features() & wgpu::Features::SUBGROUP;
        let off = std::env::var(NO_SUBGROUPS_ENV).is_ok_and(|v| v == "1");
        let subgroups = features.contains(wgpu::Features::SUBGROUP)
            && !off
            && info.device_type == wgpu::DeviceType::Cpu
            && (info.subgroup_min_size..=info.subgroup_max_size).contains(&8);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("rnn-wgpu"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::RequestDevice { adapter: describe(&info), reason: e.to_string() })?;
        let fatal = Arc::new(Mutex::new(None));
        let on_error = fatal.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            log::error!("uncaptured wgpu error: {e}");
            let mut slot = on_error.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(Error::Gpu { during: "an uncaptured operation".into(), message: e.to_string() });
        }));
        let on_lost = fatal.clone();
        device.set_device_lost_callback(move |reason, message| {
            let mut slot = on_lost.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(Error::DeviceLost(format!("{reason:?}: {message}")));
        });
        log::info!("rnn-wgpu: using adapter {} (subgroup kernels: {subgroups})", describe(&info));
        let options = KernelOptions { subgroups };
        let pipelines = Mutex::new(HashMap::new());
        Ok(Context { device, queue, info, limits, options, pipelines, fatal, traffic: Arc::default() })
    }

    /// The same device and queue with the optional subgroup kernels off: the
    /// portable path, for tests and benchmarks that compare both. Pipelines
    /// are cached apart; errors are shared (it is one wgpu device).
    pub(crate) fn without_subgroups(&self) -> Context {
        Context {
            device: self.device.clone(),
            queue: self.queue.clone(),
            info: self.info.clone(),
            limits: self.limits.clone(),
            options: KernelOptions { subgroups: false },
            pipelines: Mutex::new(HashMap::new()),
            fatal: self.fatal.clone(),
            traffic: self.traffic.clone(),
        }
    }

    /// The first fatal error seen so far, if any.
    pub(crate) fn check(&self) -> Result<()> {
        let slot = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
        match &*slot {
            None => Ok(()),
            Some(Error::DeviceLost(m)) => Err(Error::DeviceLost(m.clone())),
            Some(e) => Err(Error::Gpu { during: "an earlier operation".into(), message: e.to_string() }),
        }
    }

    /// Runs `make` inside validation and out-of-memory error scopes, turning
    /// a captured error into `Error::Gpu` naming `during`.
    pub(crate) fn scoped<T>(&self, during: &str, make: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = make();
        let errors = [pollster::block_on(validation.pop()), pollster::block_on(oom.pop())];
        if let Some(e) = errors.into_iter().flatten().next() {
            return Err(Error::Gpu { during: during.to_string(), message: e.to_string() });
        }
        self.check()?;
        Ok(value)
    }

    /// Blocks until all submitted work is done, at most `WAIT_TIMEOUT`.
    pub(crate) fn wait(&self, during: &str) -> Result<()> {
        self.device.poll(wgpu::PollType::Wait { submission_index: None, timeout: Some(WAIT_TIMEOUT) }).map_err(
            |e| match e {
                wgpu::PollError::Timeout => Error::Timeout { during: during.into(), seconds: WAIT_TIMEOUT.as_secs() },
                other => Error::Gpu { during: during.into(), message: other.to_string() },
            },
        )?;
        self.check()
    }

    /// Checks a buffer size against the device's limits before creating it.
    pub(crate) fn check_size(&self, name: &str, bytes: u64) -> Result<()> {
        let limit = self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size);
        if bytes > limit {
            return Err(Error::BufferTooLarge { name: name.into(), bytes, limit });
        }
        Ok(())
    }

    /// The pipeline of `kernel`, compiled on first use.
    pub(crate) fn pipeline(&self, kernel: &'static Kernel, uniform_size: u64) -> Result<Arc<Pipeline>> {
        let mut cache = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = cache.get(kernel.label) {
            return Ok(p.clone());
        }
        if kernel.subgroups && !self.device.features().contains(wgpu::Features::SUBGROUP) {
            return Err(Error::Internal(format!("kernel {} needs subgroups, which the device lacks", kernel.label)));
        }
        let pipeline = self.scoped(&format!("compiling kernel {}", kernel.label), || {
            let source = format!("{PRELUDE}\n{}", kernel.source);
            let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(kernel.label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
            let storage = |binding: u32| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: false },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            };
            let mut entries = vec![wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: wgpu::BufferSize::new(uniform_size),
                },
                count: None,
            }];
            entries.extend((1..=kernel.storage.len() as u32).map(storage));
            let layout = self.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(kernel.label),
                entries: &entries,
            });
            let pipeline_layout = self.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(kernel.label),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(kernel.label),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(kernel.name),
                compilation_options: Default::default(),
                cache: None,
            });
            Pipeline { pipeline, layout }
        })?;
        let pipeline = Arc::new(pipeline);
        cache.insert(kernel.label, pipeline.clone());
        Ok(pipeline)
    }

    /// A storage buffer of `len` elements, zero-filled, checked against the limits.
    /// Its size is whole 16-byte words, so a kernel that binds it as
    /// `array<vec4<f32>>` (the vec4 matmul core) reaches every element.
    pub(crate) fn buffer(&self, name: &str, len: usize, _elem: Elem) -> Result<wgpu::Buffer> {
        let bytes = (len.max(1) * 4).next_multiple_of(16) as u64;
        self.check_size(name, bytes)?;
        self.scoped(&format!("creating buffer {name}"), || {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(name),
                size: bytes,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            })
        })
    }

    /// Copies `bytes` bytes at `offset` of `src` back to the host (blocking, with timeout).
    pub(crate) fn read(&self, src: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        let staging = self.scoped("creating a readback buffer", || {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size: bytes.max(4),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        let mut encoder =
            self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("readback") });
        encoder.copy_buffer_to_buffer(src, offset, &staging, 0, bytes);
        self.submit(encoder);
        self.map_read(&staging, bytes)
    }

    /// Submits `encoder`'s commands: every submit goes through here, so it is counted.
    pub(crate) fn submit(&self, encoder: wgpu::CommandEncoder) {
        self.traffic.submits.fetch_add(1, Ordering::Relaxed);
        self.queue.submit([encoder.finish()]);
    }

    /// (submits, readbacks) so far on this device.
    pub(crate) fn traffic(&self) -> (u64, u64) {
        (self.traffic.submits.load(Ordering::Relaxed), self.traffic.readbacks.load(Ordering::Relaxed))
    }

    /// Maps a MAP_READ buffer whose copy was submitted, waits, and copies its bytes out.
    pub(crate) fn map_read(&self, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        self.traffic.readbacks.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = futures_intrusive::channel::shared::oneshot_channel();
        staging.slice(..bytes).map_async(wgpu::MapMode::Read, move |r| {
            sender.send(r).ok();
        });
        self.wait("a readback")?;
        pollster::block_on(receiver.receive())
            .ok_or_else(|| Error::Internal("map callback dropped".into()))?
            .map_err(|e| Error::Gpu { during: "mapping a readback buffer".into(), message: e.to_string() })?;
        let data = {
            let view = staging
                .slice(..bytes)
                .get_mapped_range()
                .map_err(|e| Error::Gpu { during: "reading a mapped buffer".into(), message: e.to_string() })?;
            view.to_vec()
        };
        staging.unmap();
        Ok(data)
    }
}
