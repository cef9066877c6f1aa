mod checkpoint;
pub mod common;
mod errors;
mod golden;
mod gradcheck;
mod kernels;
mod learning;
mod parity;
mod streaming;
