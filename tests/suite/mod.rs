pub mod common;
mod errors;
mod gradcheck;
mod learning;
