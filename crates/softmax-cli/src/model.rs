//! The classifier of `softmax train` and `softmax predict`: standardised features, then softmax
//! regression (`Linear`) or one hidden sigmoid layer (`Linear → Sigmoid → Linear`), giving logits
//! that `Softmax` turns into probabilities. Every layer is the library's, with its own backward
//! pass; this module only chains them.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use softmax::nn::{Linear, Sigmoid};

use crate::error::CliError;

mod file;

pub use file::TrainingNote;

/// Feature standardisation learned on the training samples: `z = (x − mean) / scale`.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardiser {
    /// The mean of each feature.
    pub mean: Array1<f64>,
    /// The standard deviation of each feature, or 1 where it is 0 (a constant feature).
    pub scale: Array1<f64>,
}

impl Standardiser {
    /// Mean and (population) standard deviation of each column of `x`.
    pub fn fit(x: ArrayView2<'_, f64>) -> Self {
        let n = x.nrows().max(1) as f64;
        let mean = x.sum_axis(Axis(0)) / n;
        let mut var = Array1::<f64>::zeros(x.ncols());
        for row in x.rows() {
            var.zip_mut_with(&(&row - &mean), |v, d| *v += d * d);
        }
        let scale = var.mapv(|v| if v > 0.0 { (v / n).sqrt() } else { 1.0 });
        Standardiser { mean, scale }
    }

    /// `(x − mean) / scale`, row by row.
    pub fn apply(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        (&x - &self.mean) / &self.scale
    }
}

/// A classifier: standardisation, then one or two linear layers.
#[derive(Clone, Debug)]
pub struct Model {
    /// Applied to raw features before the first layer.
    pub standardiser: Standardiser,
    /// The hidden layer (`--hidden N`), followed by a sigmoid.
    pub hidden: Option<Linear<f64>>,
    activation: Sigmoid<f64>,
    /// The layer that gives one logit per class.
    pub output: Linear<f64>,
}

impl Model {
    /// A freshly initialised model (Glorot-uniform weights from `seed`, zero biases).
    pub fn new(standardiser: Standardiser, hidden: Option<usize>, classes: usize, seed: u64) -> Self {
        let features = standardiser.mean.len();
        let (hidden, output) = match hidden {
            Some(units) => (
                Some(Linear::new(features, units, seed)),
                // Another stream for the second layer, so its weights are not the first's.
                Linear::new(units, classes, seed ^ 0xD1B5_4A32_D192_ED03),
            ),
            None => (None, Linear::new(features, classes, seed)),
        };
        Model { standardiser, hidden, activation: Sigmoid::new(), output }
    }

    /// A model from its parts; the shapes must chain.
    pub fn from_parts(
        standardiser: Standardiser,
        hidden: Option<Linear<f64>>,
        output: Linear<f64>,
    ) -> Result<Self, String> {
        let features = standardiser.mean.len();
        if standardiser.scale.len() != features {
            return Err(format!(
                "the standardisation has {features} means but {} scales",
                standardiser.scale.len()
            ));
        }
        let into_output = match &hidden {
            Some(h) if h.inputs() != features => {
                return Err(format!("the hidden layer takes {} inputs, not {features} features", h.inputs()));
            }
            Some(h) => h.outputs(),
            None => features,
        };
        if output.inputs() != into_output {
            return Err(format!("the output layer takes {} inputs, not {into_output}", output.inputs()));
        }
        if output.outputs() < 2 {
            return Err(format!(
                "the output layer has {} classes; a classifier needs 2 or more",
                output.outputs()
            ));
        }
        Ok(Model { standardiser, hidden, activation: Sigmoid::new(), output })
    }

    /// The number of features a sample must have.
    pub fn features(&self) -> usize {
        self.standardiser.mean.len()
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.output.outputs()
    }

    /// `"softmax regression, 64 → 10"` or `"one hidden sigmoid layer, 64 → 32 → 10"`.
    pub fn describe(&self) -> String {
        match &self.hidden {
            None => format!("softmax regression, {} → {}", self.features(), self.classes()),
            Some(h) => {
                format!(
                    "one hidden sigmoid layer, {} → {} → {}",
                    self.features(),
                    h.outputs(),
                    self.classes()
                )
            }
        }
    }

    /// The number of weights and biases.
    pub fn parameter_count(&self) -> usize {
        let count = |l: &Linear<f64>| l.weight.len() + l.bias.len();
        self.hidden.as_ref().map_or(0, count) + count(&self.output)
    }

    /// The logits of standardised samples `z`; keeps what [`Model::backward`] needs.
    pub fn forward(&mut self, z: &Array2<f64>) -> Result<Array2<f64>, CliError> {
        match &mut self.hidden {
            None => Ok(self.output.forward(z)?),
            Some(hidden) => {
                let a = self.activation.forward(&hidden.forward(z)?)?;
                Ok(self.output.forward(&a)?)
            }
        }
    }

    /// Back-propagates `∂loss/∂logits` through the layers of the last [`Model::forward`],
    /// leaving each layer's parameter gradients in it.
    pub fn backward(&mut self, dlogits: &Array2<f64>) -> Result<(), CliError> {
        let da = self.output.backward(dlogits)?;
        if let Some(hidden) = &mut self.hidden {
            hidden.backward(&self.activation.backward(&da)?)?;
        }
        Ok(())
    }

    /// The layers with parameters, first to last.
    pub fn linear_layers_mut(&mut self) -> impl Iterator<Item = &mut Linear<f64>> {
        self.hidden.iter_mut().chain(std::iter::once(&mut self.output))
    }

    /// The logits of raw (unstandardised) samples, computed in batches so that the copies the
    /// layers keep for a backward pass stay small.
    pub fn logits(&mut self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>, CliError> {
        const BATCH: usize = 4096;
        let mut out = Array2::zeros((x.nrows(), self.classes()));
        for (chunk, mut dst) in
            x.axis_chunks_iter(Axis(0), BATCH).zip(out.axis_chunks_iter_mut(Axis(0), BATCH))
        {
            dst.assign(&self.forward(&self.standardiser.apply(chunk))?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
