//! A model: its configuration, the PyTorch-named layout, and the flat
//! parameter buffer on a device.

use std::path::Path;

use crate::checkpoint;
use crate::config::{Input, ModelConfig};
use crate::data::{Inputs, Vocab};
use crate::device::{Device, Storage};
use crate::error::{Error, Result, check_finite};
use crate::params::ParamLayout;
use crate::plan::Elem;
use crate::train::Evaluator;

/// Weights of a recurrent network on a device.
pub struct Model {
    device: Device,
    config: ModelConfig,
    layout: ParamLayout,
    params: Storage,
}

impl Model {
    /// A model with PyTorch's default initialisation drawn from `seed`
    /// (the same weights on every backend).
    pub fn new(device: &Device, config: &ModelConfig, seed: u64) -> Result<Model> {
        config.validate()?;
        let layout = ParamLayout::new(config);
        // Allocate first: a model past the device's limits fails before any
        // host memory is spent on its initial values.
        let storage = device.alloc("params", layout.total(), Elem::Float)?;
        device.write(&storage, 0, &layout.init(config.hidden, seed))?;
        Ok(Model { device: device.clone(), config: *config, layout, params: storage })
    }

    /// A model with the given flat parameters (in [`ParamLayout`] order).
    pub fn from_params(device: &Device, config: &ModelConfig, params: &[f32]) -> Result<Model> {
        config.validate()?;
        let layout = ParamLayout::new(config);
        check_params(&layout, params)?;
        let storage = device.alloc("params", layout.total(), Elem::Float)?;
        device.write(&storage, 0, params)?;
        Ok(Model { device: device.clone(), config: *config, layout, params: storage })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Device memory of the parameters in bytes (f32).
    pub fn device_bytes(&self) -> u64 {
        4 * self.layout.total() as u64
    }

    /// All parameters, read back in layout order.
    pub fn params(&self) -> Result<Vec<f32>> {
        self.device.read(&self.params, 0, self.layout.total())
    }

    /// Replaces all parameters (checked for length and finiteness first).
    pub fn set_params(&mut self, params: &[f32]) -> Result<()> {
        check_params(&self.layout, params)?;
        self.device.write(&self.params, 0, params)
    }

    /// One tensor by its PyTorch name, read back.
    pub fn tensor(&self, name: &str) -> Result<Vec<f32>> {
        let t = self.layout.get(name).ok_or_else(|| Error::Mismatch(format!("model has no tensor {name:?}")))?;
        self.device.read(&self.params, t.offset, t.len())
    }

    /// Every layer's output at every step of one input sequence, run forward
    /// from a zero state: `result[layer]` is `[T, directions · hidden]`, rows
    /// h_1..h_T (both directions side by side when bidirectional). `inputs`
    /// is one stream: T token ids, or T·features floats. Builds a one-off
    /// [`Evaluator`]; for many sequences of one length, build one and call
    /// [`Evaluator::forward`].
    pub fn layer_outputs(&self, inputs: &Inputs) -> Result<Vec<Vec<f32>>> {
        let steps = match (inputs, self.config.input) {
            (Inputs::Tokens(ids), _) => ids.len(),
            (Inputs::Dense(x), Input::Dense { features }) => {
                if !x.len().is_multiple_of(features) {
                    return Err(Error::shape(
                        "inputs of one stream [T, features]",
                        format!("a multiple of {features} values"),
                        x.len(),
                    ));
                }
                x.len() / features
            }
            // The evaluator names the mismatch of dense inputs and a token model.
            (Inputs::Dense(x), Input::Tokens { .. }) => x.len(),
        };
        crate::config::positive("input steps", steps)?;
        let mut evaluator = Evaluator::new(self, 1, steps)?;
        evaluator.forward(inputs.clone(), None)?;
        (0..self.config.layers).map(|l| evaluator.layer_outputs(l)).collect()
    }

    /// Writes a safetensors checkpoint: every tensor under its PyTorch name,
    /// the configuration (and `vocab`, when given) in the metadata. Atomic:
    /// a temporary file is written and renamed over `path`.
    pub fn save(&self, path: impl AsRef<Path>, vocab: Option<&Vocab>) -> Result<()> {
        let params = self.params()?;
        let tensors: Vec<_> = self
            .layout
            .tensors()
            .iter()
            .map(|t| (t.name.clone(), t.shape.clone(), params[t.range()].to_vec()))
            .collect();
        checkpoint::write(path.as_ref(), &tensors, checkpoint::model_metadata(&self.config, vocab))
    }

    /// Loads a checkpoint written by [`Model::save`]: the configuration comes
    /// from its metadata; every tensor is checked by name, shape and dtype.
    pub fn load(device: &Device, path: impl AsRef<Path>) -> Result<(Model, Option<Vocab>)> {
        let file = checkpoint::File::read(path.as_ref())?;
        let (config, vocab) = checkpoint::config_from(&file)?;
        Ok((Model::from_file(device, &config, &file)?, vocab))
    }

    /// Loads weights for a known configuration from any safetensors file with
    /// PyTorch's names — e.g. `nn.LSTM(...).state_dict()` plus `head.weight`,
    /// `head.bias`, saved with `safetensors.torch.save_file`. A missing,
    /// unexpected or misshapen tensor is an error naming each one.
    pub fn load_state_dict(device: &Device, config: &ModelConfig, path: impl AsRef<Path>) -> Result<Model> {
        config.validate()?;
        Model::from_file(device, config, &checkpoint::File::read(path.as_ref())?)
    }

    fn from_file(device: &Device, config: &ModelConfig, file: &checkpoint::File) -> Result<Model> {
        let layout = ParamLayout::new(config);
        let tensors = file.tensors(&checkpoint::expected(&layout))?;
        Model::from_params(device, config, &tensors.concat())
    }

    /// Another handle on the same live weights (what samplers and evaluators
    /// read while a trainer updates them).
    pub(crate) fn share(&self) -> Model {
        Model {
            device: self.device.clone(),
            config: self.config,
            layout: self.layout.clone(),
            params: self.params.clone(),
        }
    }

    pub(crate) fn storage(&self) -> &Storage {
        &self.params
    }
}

fn check_params(layout: &ParamLayout, params: &[f32]) -> Result<()> {
    if params.len() != layout.total() {
        return Err(Error::shape("parameter count", layout.total(), params.len()));
    }
    for t in layout.tensors() {
        check_finite(&t.name, &params[t.range()])?;
    }
    Ok(())
}
