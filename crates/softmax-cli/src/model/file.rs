//! The model file: JSON with a format tag and version, the standardisation, the layers in order
//! (`linear`, and `sigmoid` between two linear layers), and a note of how the model was trained.
//!
//! ```json
//! { "format": "softmax-model", "version": 1, "features": 64, "classes": 10,
//!   "standardise": { "mean": [...], "scale": [...] },
//!   "layers": [ { "type": "linear", "weight": [[...], ...], "bias": [...] } ],
//!   "training": { "data": "...", "seed": 42, ... } }
//! ```
//!
//! Numbers are written in the shortest form that reads back to the same `f64` (and are read with
//! correct rounding), so a saved model predicts bit for bit what the trained one did.

use std::path::Path;

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use softmax::nn::Linear;

use super::{Model, Standardiser};
use crate::error::CliError;

const FORMAT: &str = "softmax-model";
const VERSION: u32 = 1;

/// How a model was trained, kept in its file for reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingNote {
    /// Where the training data came from.
    pub data: String,
    /// The seed of the split, the initial weights and the shuffles.
    pub seed: u64,
    /// Passes over the training samples.
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// The learning rate.
    pub learning_rate: f64,
    /// The momentum coefficient.
    pub momentum: f64,
    /// The L2 weight decay.
    pub weight_decay: f64,
    /// The label smoothing of the loss.
    pub label_smoothing: f64,
    /// The fraction of samples held out.
    pub test_fraction: f64,
    /// Accuracy on the training samples.
    pub train_accuracy: f64,
    /// Accuracy on the held-out samples, if any were held out.
    pub test_accuracy: Option<f64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    format: String,
    version: u32,
    features: usize,
    classes: usize,
    standardise: StandardiseFile,
    layers: Vec<LayerFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    training: Option<TrainingNote>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StandardiseFile {
    mean: Vec<f64>,
    scale: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum LayerFile {
    Linear { weight: Vec<Vec<f64>>, bias: Vec<f64> },
    Sigmoid,
}

fn linear_file(layer: &Linear<f64>) -> LayerFile {
    LayerFile::Linear {
        weight: layer.weight.rows().into_iter().map(|r| r.to_vec()).collect(),
        bias: layer.bias.to_vec(),
    }
}

fn linear_layer(index: usize, weight: Vec<Vec<f64>>, bias: Vec<f64>) -> Result<Linear<f64>, String> {
    let outputs = weight.len();
    let inputs = weight.first().map_or(0, Vec::len);
    if outputs == 0 || inputs == 0 {
        return Err(format!("layer {index}: an empty weight matrix"));
    }
    if let Some(row) = weight.iter().position(|r| r.len() != inputs) {
        return Err(format!(
            "layer {index}: weight row {row} has {} values, row 0 has {inputs}",
            weight[row].len()
        ));
    }
    let flat: Vec<f64> = weight.into_iter().flatten().collect();
    let weight =
        Array2::from_shape_vec((outputs, inputs), flat).map_err(|e| format!("layer {index}: {e}"))?;
    Linear::from_parameters(weight, Array1::from(bias)).map_err(|e| format!("layer {index}: {e}"))
}

fn expect_linear(item: Option<(usize, LayerFile)>, missing: &str) -> Result<Linear<f64>, String> {
    match item {
        Some((i, LayerFile::Linear { weight, bias })) => linear_layer(i, weight, bias),
        Some((i, LayerFile::Sigmoid)) => Err(format!("layer {i} is a sigmoid where a linear layer belongs")),
        None => Err(missing.to_string()),
    }
}

impl Model {
    /// Writes the model and its training note to `path` as JSON.
    pub fn save(&self, path: &Path, note: Option<&TrainingNote>) -> Result<(), CliError> {
        let text = self
            .to_json(note)
            .map_err(|e| CliError::data(format!("{}: cannot encode the model: {e}", path.display())))?;
        std::fs::write(path, text)
            .map_err(|e| CliError::usage(format!("{}: cannot write: {e}", path.display())))
    }

    /// The text of the model file.
    pub fn to_json(&self, note: Option<&TrainingNote>) -> Result<String, String> {
        let mut layers = Vec::new();
        if let Some(hidden) = &self.hidden {
            layers.extend([linear_file(hidden), LayerFile::Sigmoid]);
        }
        layers.push(linear_file(&self.output));
        let file = ModelFile {
            format: FORMAT.to_string(),
            version: VERSION,
            features: self.features(),
            classes: self.classes(),
            standardise: StandardiseFile {
                mean: self.standardiser.mean.to_vec(),
                scale: self.standardiser.scale.to_vec(),
            },
            layers,
            training: note.cloned(),
        };
        let mut text = serde_json::to_string_pretty(&file).map_err(|e| e.to_string())?;
        text.push('\n');
        Ok(text)
    }

    /// Reads a model written by [`Model::save`], checking every shape and value.
    pub fn load(path: &Path) -> Result<(Model, Option<TrainingNote>), CliError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| CliError::open(&name, &e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            CliError::data(format!(
                "{name}: not a valid model file: not UTF-8 text (byte {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        Self::from_json(&text)
            .map_err(|why| CliError::data(format!("{}: not a valid model file: {why}", path.display())))
    }

    /// Parses and checks the text of a model file.
    pub fn from_json(text: &str) -> Result<(Model, Option<TrainingNote>), String> {
        let file: ModelFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if file.format != FORMAT {
            return Err(format!("\"format\" is {:?}, expected {FORMAT:?}", file.format));
        }
        if file.version != VERSION {
            return Err(format!("version {} (this softmax reads version {VERSION})", file.version));
        }
        let StandardiseFile { mean, scale } = file.standardise;
        if mean.len() != file.features {
            return Err(format!("{} features but {} standardisation means", file.features, mean.len()));
        }
        if let Some(i) = scale.iter().position(|&s| !(s.is_finite() && s > 0.0)) {
            return Err(format!("standardisation scale {i} is {}, not a positive number", scale[i]));
        }
        let standardiser = Standardiser { mean: Array1::from(mean), scale: Array1::from(scale) };
        let mut layers = file.layers.into_iter().enumerate();
        let first = expect_linear(layers.next(), "no layers")?;
        let model = match layers.next() {
            None => Model::from_parts(standardiser, None, first)?,
            Some((_, LayerFile::Sigmoid)) => {
                let output = expect_linear(layers.next(), "a sigmoid with no output layer after it")?;
                if let Some((i, _)) = layers.next() {
                    return Err(format!("layer {i}: at most linear, sigmoid, linear are supported"));
                }
                Model::from_parts(standardiser, Some(first), output)?
            }
            Some((i, LayerFile::Linear { .. })) => {
                return Err(format!("layer {i}: two linear layers need a sigmoid between them"));
            }
        };
        if model.classes() != file.classes {
            return Err(format!("{} classes but the output layer has {}", file.classes, model.classes()));
        }
        let finite = |l: &Linear<f64>| l.weight.iter().chain(l.bias.iter()).all(|v| v.is_finite());
        if !model.hidden.iter().chain([&model.output]).all(finite) {
            return Err("a weight or bias that is not a finite number".to_string());
        }
        Ok((model, file.training))
    }
}
