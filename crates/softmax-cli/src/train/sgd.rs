//! Mini-batch SGD with momentum and L2 weight decay; the library's `Linear` keeps the gradients,
//! this keeps the velocities.

use ndarray::{Array1, Array2, Zip};

use crate::model::Model;

/// Step sizes and one velocity per parameter.
pub struct Momentum {
    learning_rate: f64,
    momentum: f64,
    weight_decay: f64,
    velocity: Vec<(Array2<f64>, Array1<f64>)>,
}

impl Momentum {
    /// Zero velocities shaped like `model`'s parameters.
    pub fn new(model: &mut Model, learning_rate: f64, momentum: f64, weight_decay: f64) -> Self {
        let velocity = model
            .linear_layers_mut()
            .map(|l| (Array2::zeros(l.weight.raw_dim()), Array1::zeros(l.bias.len())))
            .collect();
        Momentum { learning_rate, momentum, weight_decay, velocity }
    }

    /// `v ← μ·v + ∂L/∂θ (+ λ·θ for weights)`, then `θ ← θ − lr·v`, for every parameter, using the
    /// gradients the last backward pass left in the layers.
    pub fn step(&mut self, model: &mut Model) {
        let (lr, mu, decay) = (self.learning_rate, self.momentum, self.weight_decay);
        for (layer, (vw, vb)) in model.linear_layers_mut().zip(&mut self.velocity) {
            Zip::from(&mut layer.weight).and(vw).and(&layer.weight_grad).for_each(|w, v, &g| {
                *v = mu * *v + g + decay * *w;
                *w -= lr * *v;
            });
            Zip::from(&mut layer.bias).and(vb).and(&layer.bias_grad).for_each(|b, v, &g| {
                *v = mu * *v + g;
                *b -= lr * *v;
            });
        }
    }
}
