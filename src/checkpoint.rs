//! Checkpoints as safetensors files with PyTorch's state_dict names and shapes
//! (`weight_ih_l0` … `bias_hh_l{L-1}`, as `nn.RNN`/`nn.LSTM`/`nn.GRU` name them,
//! plus `head.weight`, `head.bias`), so weights move to and from PyTorch with
//! no conversion. Metadata carries the configuration and the vocabulary.
//! Files are written to a temporary file and renamed, so a crash never leaves
//! half a checkpoint; every tensor is checked on the way in.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::config::{Cell, Head, Input, ModelConfig, Readout};
use crate::data::Vocab;
use crate::error::{Error, Result};
use crate::params::ParamLayout;

/// The `format` metadata value of files this crate writes.
const FORMAT: &str = "rnn-wgpu";

/// Little-endian bytes of f32 values (the safetensors byte order).
pub(crate) fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes named f32 tensors and metadata atomically: a temporary file in the
/// same directory, flushed to disk, then renamed over `path`.
pub(crate) fn write(
    path: &Path,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let io = |source| Error::Io { path: path.display().to_string(), source };
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, _, v)| f32_bytes(v)).collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), data)| TensorView::new(Dtype::F32, shape.clone(), data).map(|v| (name.clone(), v)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Internal(format!("building a safetensors view: {e}")))?;
    let file = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::Checkpoint { path: path.display().to_string(), reason: e.to_string() })?;
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&file)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// A checkpoint file read into memory.
pub(crate) struct File {
    path: String,
    bytes: Vec<u8>,
}

impl File {
    pub(crate) fn read(path: &Path) -> Result<File> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        let file = File { path: path.display().to_string(), bytes };
        file.parse()?;
        Ok(file)
    }

    fn parse(&self) -> Result<SafeTensors<'_>> {
        SafeTensors::deserialize(&self.bytes).map_err(|e| Error::Checkpoint {
            path: self.path.clone(),
            reason: format!("not a valid safetensors file: {e}"),
        })
    }

    /// The metadata map (empty when the file has none, as PyTorch writes it).
    pub(crate) fn metadata(&self) -> Result<HashMap<String, String>> {
        let (_, meta) = SafeTensors::read_metadata(&self.bytes)
            .map_err(|e| Error::Checkpoint { path: self.path.clone(), reason: e.to_string() })?;
        Ok(meta.metadata().clone().unwrap_or_default())
    }

    /// A checkpoint error about this file.
    pub(crate) fn error(&self, reason: String) -> Error {
        Error::Checkpoint { path: self.path.clone(), reason }
    }

    /// One metadata value, parsed; a missing or unparsable value names the key.
    pub(crate) fn meta<T: std::str::FromStr>(&self, meta: &HashMap<String, String>, key: &str) -> Result<T> {
        let raw = meta
            .get(key)
            .ok_or_else(|| Error::Checkpoint { path: self.path.clone(), reason: format!("metadata has no {key:?}") })?;
        raw.parse().map_err(|_| Error::Checkpoint {
            path: self.path.clone(),
            reason: format!("metadata {key:?} = {raw:?} is not valid"),
        })
    }

    /// The tensors `expected` (name, shape) as f32 values in that order,
    /// after checking that the file holds exactly these names, each F32 with
    /// the expected shape; the error lists every difference at once.
    pub(crate) fn tensors(&self, expected: &[(String, Vec<usize>)]) -> Result<Vec<Vec<f32>>> {
        let st = self.parse()?;
        let names: Vec<String> = st.names().into_iter().map(String::from).collect();
        let missing: Vec<String> =
            expected.iter().filter(|(n, _)| !names.contains(n)).map(|(n, _)| n.clone()).collect();
        let mut unexpected: Vec<String> =
            names.iter().filter(|n| !expected.iter().any(|(e, _)| e == *n)).cloned().collect();
        unexpected.sort();
        let mut mismatched = Vec::new();
        for (name, shape) in expected {
            if let Ok(t) = st.tensor(name)
                && (t.dtype() != Dtype::F32 || t.shape() != shape.as_slice())
            {
                mismatched.push(format!("{name}: expected F32 {shape:?}, got {:?} {:?}", t.dtype(), t.shape()));
            }
        }
        if !(missing.is_empty() && unexpected.is_empty() && mismatched.is_empty()) {
            return Err(Error::CheckpointMismatch { path: self.path.clone(), missing, unexpected, mismatched });
        }
        expected
            .iter()
            .map(|(name, _)| {
                let t = st
                    .tensor(name)
                    .map_err(|e| Error::Checkpoint { path: self.path.clone(), reason: e.to_string() })?;
                Ok(t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
            })
            .collect()
    }
}

/// Metadata describing a model (and its vocabulary, when given).
pub(crate) fn model_metadata(config: &ModelConfig, vocab: Option<&Vocab>) -> HashMap<String, String> {
    let mut m = HashMap::new();
    m.insert("format".into(), FORMAT.into());
    m.insert("cell".into(), config.cell.name().into());
    m.insert("layers".into(), config.layers.to_string());
    m.insert("hidden".into(), config.hidden.to_string());
    let input = match config.input {
        Input::Tokens { .. } => "tokens",
        Input::Dense { .. } => "dense",
    };
    m.insert("input".into(), input.into());
    m.insert("input_width".into(), config.input_width().to_string());
    m.insert("head".into(), config.head.name().into());
    m.insert("outputs".into(), config.outputs().to_string());
    let readout = match config.readout {
        Readout::EveryStep => "every_step",
        Readout::LastStep => "last_step",
    };
    m.insert("readout".into(), readout.into());
    m.insert("bidirectional".into(), config.bidirectional.to_string());
    m.insert("dropout".into(), config.dropout.to_string());
    m.insert("config".into(), format!("{config:?}"));
    if let Some(v) = vocab {
        m.insert("vocabulary".into(), v.chars().iter().collect());
    }
    m
}

/// The configuration and vocabulary a checkpoint's metadata describes.
pub(crate) fn config_from(file: &File) -> Result<(ModelConfig, Option<Vocab>)> {
    let meta = file.metadata()?;
    let cell: String = file.meta(&meta, "cell")?;
    // Files from before dense inputs and other heads name only "vocab" and "classes".
    let input = match meta.get("input").map(String::as_str) {
        None => Input::Tokens { vocab: file.meta(&meta, "vocab")? },
        Some("tokens") => Input::Tokens { vocab: file.meta(&meta, "input_width")? },
        Some("dense") => Input::Dense { features: file.meta(&meta, "input_width")? },
        Some(other) => return Err(file.error(format!("unknown input kind {other:?}"))),
    };
    let head = match meta.get("head") {
        None => Head::Softmax { classes: file.meta(&meta, "classes")? },
        Some(name) => Head::from_name(name, file.meta(&meta, "outputs")?)?,
    };
    let readout = match meta.get("readout").map(String::as_str) {
        None | Some("every_step") => Readout::EveryStep,
        Some("last_step") => Readout::LastStep,
        Some(other) => return Err(file.error(format!("unknown readout {other:?}"))),
    };
    let bidirectional = match meta.get("bidirectional") {
        None => false,
        Some(_) => file.meta(&meta, "bidirectional")?,
    };
    let config = ModelConfig {
        readout,
        bidirectional,
        cell: Cell::from_name(&cell)?,
        layers: file.meta(&meta, "layers")?,
        hidden: file.meta(&meta, "hidden")?,
        input,
        head,
        dropout: file.meta(&meta, "dropout")?,
    };
    config.validate()?;
    let vocab = match meta.get("vocabulary") {
        Some(chars) => Some(Vocab::from_chars(chars.chars().collect())?),
        None => None,
    };
    if let Some(v) = &vocab
        && Some(v.len()) != config.vocab()
    {
        let inputs = config.input_width();
        return Err(file.error(format!("vocabulary of {} characters for a model with {inputs} token inputs", v.len())));
    }
    Ok((config, vocab))
}

/// (name, shape) of every parameter, in layout order.
pub(crate) fn expected(layout: &ParamLayout) -> Vec<(String, Vec<usize>)> {
    layout.tensors().iter().map(|t| (t.name.clone(), t.shape.clone())).collect()
}
