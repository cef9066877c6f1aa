pub mod common;
mod errors;
mod gradcheck;
mod kernels;
mod learning;
mod parity;
mod streaming;
