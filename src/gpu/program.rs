//! A plan compiled for the GPU: one pipeline per kernel (cached on the
//! context), one bind group per distinct (kernel, buffers) pair, and every
//! op's uniform in one buffer at a 256-byte-aligned slot, selected with a
//! dynamic offset. All of it is built once; running a block is then one
//! encoder, one compute pass, one dispatch per op, and one submit.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::context::{Context, Pipeline};
use crate::gpu::kernels::lower;
use crate::plan::{Plan, Section, View};

struct Dispatch {
    section: Section,
    pipeline: Arc<Pipeline>,
    bind_group: usize,
    uniform_offset: u32,
    workgroups: [u32; 3],
}

/// A readout: a view copied to a staging buffer at the end of every run, so
/// reading it later costs a map but no extra submit.
struct Readout {
    view: View,
    staging: wgpu::Buffer,
}

pub(crate) struct GpuProgram {
    ctx: Arc<Context>,
    dispatches: Vec<Dispatch>,
    bind_groups: Vec<wgpu::BindGroup>,
    /// Kept alive for the bind groups.
    _uniforms: wgpu::Buffer,
    buffers: Vec<Arc<wgpu::Buffer>>,
    readout: Readout,
}

impl GpuProgram {
    pub(crate) fn new(ctx: Arc<Context>, plan: &Plan, buffers: Vec<Arc<wgpu::Buffer>>, readout: View) -> Result<Self> {
        let align = ctx.limits.min_uniform_buffer_offset_alignment.max(16) as usize;
        let mut uniform_bytes: Vec<u8> = Vec::new();
        let mut lowered = Vec::new();
        for (section, ops) in &plan.sections {
            for op in ops {
                let d = lower(op, ctx.options);
                let offset = uniform_bytes.len();
                uniform_bytes.extend_from_slice(&d.uniform);
                uniform_bytes.resize((offset + d.uniform.len()).next_multiple_of(align), 0);
                lowered.push((*section, d, offset));
            }
        }
        uniform_bytes.resize(uniform_bytes.len().max(align), 0);
        let uniforms = ctx.scoped("creating the uniform buffer", || {
            let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("uniforms"),
                size: uniform_bytes.len() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            ctx.queue.write_buffer(&buffer, 0, &uniform_bytes);
            buffer
        })?;

        let mut bind_groups = Vec::new();
        let mut by_key: HashMap<(&'static str, Vec<usize>), usize> = HashMap::new();
        let mut dispatches = Vec::with_capacity(lowered.len());
        for (section, d, offset) in lowered {
            let pipeline = ctx.pipeline(d.kernel, d.uniform.len() as u64)?;
            let key = (d.kernel.label, d.views.iter().map(|v| v.buf.0).collect::<Vec<_>>());
            let bind_group = match by_key.get(&key) {
                Some(&i) => i,
                None => {
                    let mut entries = vec![wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: &uniforms,
                            offset: 0,
                            size: wgpu::BufferSize::new(d.uniform.len() as u64),
                        }),
                    }];
                    for (i, v) in d.views.iter().enumerate() {
                        let buffer = buffers
                            .get(v.buf.0)
                            .ok_or_else(|| Error::Internal(format!("{}: no buffer {}", d.kernel.name, v.buf.0)))?;
                        entries
                            .push(wgpu::BindGroupEntry { binding: i as u32 + 1, resource: buffer.as_entire_binding() });
                    }
                    let group = ctx.scoped(&format!("binding kernel {}", d.kernel.label), || {
                        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                            label: Some(d.kernel.label),
                            layout: &pipeline.layout,
                            entries: &entries,
                        })
                    })?;
                    bind_groups.push(group);
                    by_key.insert(key, bind_groups.len() - 1);
                    bind_groups.len() - 1
                }
            };
            dispatches.push(Dispatch {
                section,
                pipeline,
                bind_group,
                uniform_offset: offset as u32,
                workgroups: d.workgroups,
            });
        }
        let bytes = (readout.len * 4) as u64;
        let staging = ctx.scoped("creating the readout buffer", || {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readout"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        Ok(GpuProgram {
            ctx,
            dispatches,
            bind_groups,
            _uniforms: uniforms,
            buffers,
            readout: Readout { view: readout, staging },
        })
    }

    /// Records the ops of `sections` into one compute pass, copies the readout
    /// to its staging buffer, and submits once. Returns the dispatch count.
    pub(crate) fn run(&self, sections: &[Section]) -> Result<usize> {
        let ctx = &self.ctx;
        ctx.check()?;
        let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("block") });
        let mut count = 0;
        {
            let mut pass = encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("block"), timestamp_writes: None });
            let mut current: Option<*const Pipeline> = None;
            for d in self.dispatches.iter().filter(|d| sections.contains(&d.section)) {
                if current != Some(Arc::as_ptr(&d.pipeline)) {
                    pass.set_pipeline(&d.pipeline.pipeline);
                    current = Some(Arc::as_ptr(&d.pipeline));
                }
                pass.set_bind_group(0, &self.bind_groups[d.bind_group], &[d.uniform_offset]);
                let [x, y, z] = d.workgroups;
                pass.dispatch_workgroups(x, y, z);
                count += 1;
            }
        }
        let r = &self.readout;
        encoder.copy_buffer_to_buffer(
            &self.buffers[r.view.buf.0],
            (r.view.offset * 4) as u64,
            &r.staging,
            0,
            (r.view.len * 4) as u64,
        );
        ctx.submit(encoder);
        ctx.check()?;
        Ok(count)
    }

    /// The readout as of the last run (waits for it to finish).
    pub(crate) fn readout(&self) -> Result<Vec<f32>> {
        let bytes = self.ctx.map_read(&self.readout.staging, (self.readout.view.len * 4) as u64)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}
