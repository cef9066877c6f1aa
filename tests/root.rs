//! One test binary (one link of wgpu) holding every suite.
mod suite;
