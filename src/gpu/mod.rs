//! The GPU backend: adapter and device (`context`), the kernels' uniforms and
//! dispatch grids (`kernels`, twins of `shaders/*.wgsl`), and compiled plans (`program`).

pub(crate) mod context;
pub(crate) mod core_kernels;
pub(crate) mod kernels;
pub(crate) mod program;
mod uniforms;
