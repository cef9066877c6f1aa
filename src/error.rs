//! One error type for the whole crate. Every variant says what was expected
//! and what came, so a caller can act on it without reading our source.

/// Everything that can go wrong in rnn-wgpu.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No wgpu adapter could be found at all.
    #[error("no GPU adapter found (backends searched: {backends}); use Device::cpu() for the CPU backend")]
    NoAdapter { backends: String },

    /// `WGPU_ADAPTER_NAME` (or an explicit name) matched none of the adapters.
    #[error("no adapter matches {wanted:?}; adapters found: {found:?}")]
    AdapterNotFound { wanted: String, found: Vec<String> },

    /// The adapter refused to give us a device.
    #[error("could not open a device on adapter {adapter:?}: {reason}")]
    RequestDevice { adapter: String, reason: String },

    /// A wgpu validation or out-of-memory error, caught by an error scope or
    /// the uncaptured-error handler. `during` names what we were doing.
    #[error("GPU error during {during}: {message}")]
    Gpu { during: String, message: String },

    /// The device was lost (driver reset, removal, or an earlier fatal error).
    #[error("GPU device lost: {0}")]
    DeviceLost(String),

    /// Waiting for the GPU took longer than allowed.
    #[error("GPU did not finish {during} within {seconds} s")]
    Timeout { during: String, seconds: u64 },

    /// A buffer would exceed a device limit.
    #[error("buffer {name:?} needs {bytes} bytes but the device allows at most {limit} bytes per storage binding")]
    BufferTooLarge { name: String, bytes: u64, limit: u64 },

    /// A shape, size or count that does not fit what was expected.
    #[error("{what}: expected {expected}, got {got}")]
    Shape { what: String, expected: String, got: String },

    /// A configuration value outside its valid range (zero sizes, non-finite
    /// learning rates, dropout outside [0, 1), ...).
    #[error("invalid {what}: {got} ({why})")]
    InvalidConfig { what: String, got: String, why: String },

    /// A token id at or past the vocabulary size.
    #[error("token id {id} at position {position} is outside the vocabulary of size {vocab}")]
    TokenOutOfRange { id: u32, position: usize, vocab: usize },

    /// A character that the vocabulary does not contain.
    #[error("character {ch:?} at position {position} is not in the vocabulary")]
    UnknownChar { ch: char, position: usize },

    /// A non-finite value where a finite one is required.
    #[error("{what} must be finite, got {got}")]
    NonFinite { what: String, got: f32 },

    /// Two objects that must belong together do not (a model from another
    /// device, a vocabulary of another size, ...).
    #[error("mismatch: {0}")]
    Mismatch(String),

    /// A checkpoint that is not a readable safetensors file (truncated,
    /// corrupt header, bad metadata).
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: String, reason: String },

    /// A checkpoint whose tensors do not match the model: every missing,
    /// unexpected and mismatched tensor is named.
    #[error(
        "checkpoint {path} does not match the model: missing {missing:?}, unexpected {unexpected:?}, mismatched {mismatched:?}"
    )]
    CheckpointMismatch {
        path: String,
        missing: Vec<String>,
        unexpected: Vec<String>,
        /// "name: expected F32 [4, 8], got F32 [4, 7]".
        mismatched: Vec<String>,
    },

    /// File-system errors.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// A bug in rnn-wgpu itself; please report it.
    #[error("internal error: {0}")]
    Internal(String),
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn shape(what: impl Into<String>, expected: impl ToString, got: impl ToString) -> Self {
        Error::Shape { what: what.into(), expected: expected.to_string(), got: got.to_string() }
    }

    pub(crate) fn invalid(what: impl Into<String>, got: impl ToString, why: impl Into<String>) -> Self {
        Error::InvalidConfig { what: what.into(), got: got.to_string(), why: why.into() }
    }
}

/// Every value finite, or [`Error::NonFinite`] naming `what` and the first bad index.
pub(crate) fn check_finite(what: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(Error::NonFinite { what: format!("{what}[{i}]"), got: values[i] }),
        None => Ok(()),
    }
}
