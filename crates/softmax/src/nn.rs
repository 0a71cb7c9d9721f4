//! Layers with forward and backward passes, enough to build and train a small classifier:
//! [`Linear`], [`Sigmoid`], [`Softmax`], [`LogSoftmax`] and [`CrossEntropyLoss`].
//!
//! Each layer caches what its backward pass needs during `forward`; `backward` takes the
//! gradient of the loss with respect to the layer's output and returns the gradient with respect
//! to its input. Calling `backward` before `forward`, or with a gradient of the wrong shape, is an
//! error, never a panic.
//!
//! ```
//! use ndarray::array;
//! use softmax::nn::{CrossEntropyLoss, Linear};
//! use softmax::Target;
//! // One step of softmax regression on two samples with three features and two classes.
//! let mut linear = Linear::<f64>::new(3, 2, 42);
//! let mut loss_fn = CrossEntropyLoss::new();
//! let x = array![[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]];
//! let y = array![0i64, 1];
//! let logits = linear.forward(&x).unwrap();
//! let loss = loss_fn.forward(&logits, Target::classes(y.view())).unwrap();
//! let dlogits = loss_fn.backward().unwrap();
//! linear.backward(&dlogits).unwrap();
//! linear.sgd_step(0.1);
//! let after = loss_fn.forward(&linear.forward(&x).unwrap(), Target::classes(y.view())).unwrap();
//! assert!(after[[]] < loss[[]]);
//! ```

use ndarray::{Array1, Array2, ArrayBase, ArrayD, Axis, Data, Dimension, Ix2, LinalgScalar};

use crate::element::Element;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::loss::{LossOptions, Reduction, Target};
use crate::options::{MaskedRows, Options, check_temperature};

fn not_run(layer: &str) -> Error {
    Error::new(ErrorKind::Order, format!("{layer}.backward was called before forward"))
}

fn grad_shape(layer: &str, got: &[usize], cached: &[usize]) -> Result<()> {
    if got == cached {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Shape,
            format!("{layer}.backward got a gradient of shape {got:?} but forward produced shape {cached:?}"),
        ))
    }
}

/// The normalising options a softmax layer keeps (a layer holds no borrowed mask).
#[derive(Clone, Copy, Debug)]
struct LayerOptions {
    axis: isize,
    temperature: f64,
    masked_rows: MaskedRows,
}

impl LayerOptions {
    fn new(axis: isize, temperature: f64) -> Result<Self> {
        check_temperature(temperature)?;
        Ok(LayerOptions { axis, temperature, masked_rows: MaskedRows::Nan })
    }
    fn options(&self) -> Options<'static> {
        Options::new().axis(self.axis).temperature(self.temperature).masked_rows(self.masked_rows)
    }
}

macro_rules! normalising_layer {
    ($(#[$doc:meta])* $name:ident, $forward:path, $backward:path) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name<T: Element> {
            options: LayerOptions,
            output: Option<ArrayD<T>>,
        }

        impl<T: Element> Default for $name<T> {
            fn default() -> Self {
                $name { options: LayerOptions { axis: -1, temperature: 1.0, masked_rows: MaskedRows::Nan }, output: None }
            }
        }

        impl<T: Element> $name<T> {
            /// Along the last axis, at temperature 1.
            pub fn new() -> Self {
                Self::default()
            }

            /// Along `axis` (negative counts from the end), at `temperature`.
            ///
            /// # Errors
            /// A temperature that is not finite and positive.
            pub fn with_options(axis: isize, temperature: f64) -> Result<Self> {
                Ok($name { options: LayerOptions::new(axis, temperature)?, output: None })
            }

            /// Sets what rows with nothing finite give (see [`MaskedRows`]).
            pub fn masked_rows(mut self, policy: MaskedRows) -> Self {
                self.options.masked_rows = policy;
                self
            }

            /// The forward pass; keeps its output for [`Self::backward`].
            ///
            /// # Errors
            /// An axis out of range for `x`.
            pub fn forward<S, D>(&mut self, x: &ArrayBase<S, D>) -> Result<ndarray::Array<T, D>>
            where
                S: Data<Elem = T>,
                D: Dimension,
            {
                // A failed call leaves nothing behind for backward to use.
                self.output = None;
                let y = $forward(x, &self.options.options())?;
                self.output = Some(y.clone().into_dyn());
                Ok(y)
            }

            /// The backward pass: the gradient with respect to the last forward input.
            ///
            /// # Errors
            /// No forward pass yet, or `dy` of another shape than the forward output.
            pub fn backward<S, D>(&self, dy: &ArrayBase<S, D>) -> Result<ndarray::Array<T, D>>
            where
                S: Data<Elem = T>,
                D: Dimension,
            {
                let y = self.output.as_ref().ok_or_else(|| not_run(stringify!($name)))?;
                grad_shape(stringify!($name), dy.shape(), y.shape())?;
                let dx = $backward(y, &dy.view().into_dyn(), &self.options.options())?;
                crate::ops::into_dim(dx)
            }
        }
    };
}

normalising_layer!(
    /// Softmax along an axis: `forward(x) = softmax(x/τ)`, `backward(dy) = y ⊙ (dy − ⟨dy, y⟩)/τ`.
    Softmax,
    crate::ops::forward::softmax,
    crate::ops::backward::softmax_backward
);

normalising_layer!(
    /// Log-softmax along an axis: `forward(x) = log_softmax(x/τ)`,
    /// `backward(dy) = (dy − exp(ly)·Σdy)/τ`.
    LogSoftmax,
    crate::ops::forward::log_softmax,
    crate::ops::backward::log_softmax_backward
);

/// The logistic sigmoid, element by element: `forward(x) = σ(x/τ)`,
/// `backward(dy) = dy ⊙ y ⊙ (1 − y)/τ`.
#[derive(Clone, Debug)]
pub struct Sigmoid<T: Element> {
    temperature: f64,
    output: Option<ArrayD<T>>,
}

impl<T: Element> Default for Sigmoid<T> {
    fn default() -> Self {
        Sigmoid { temperature: 1.0, output: None }
    }
}

impl<T: Element> Sigmoid<T> {
    /// At temperature 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// At `temperature`.
    ///
    /// # Errors
    /// A temperature that is not finite and positive.
    pub fn with_temperature(temperature: f64) -> Result<Self> {
        check_temperature(temperature)?;
        Ok(Sigmoid { temperature, output: None })
    }

    /// The forward pass; keeps its output for [`Self::backward`].
    ///
    /// # Errors
    /// None in practice (the temperature was checked at construction); the `Result` keeps the
    /// layers uniform.
    pub fn forward<S, D>(&mut self, x: &ArrayBase<S, D>) -> Result<ndarray::Array<T, D>>
    where
        S: Data<Elem = T>,
        D: Dimension,
    {
        self.output = None;
        let y = crate::ops::forward::sigmoid(x, &Options::new().temperature(self.temperature))?;
        self.output = Some(y.clone().into_dyn());
        Ok(y)
    }

    /// The backward pass: the gradient with respect to the last forward input.
    ///
    /// # Errors
    /// No forward pass yet, or `dy` of another shape than the forward output.
    pub fn backward<S, D>(&self, dy: &ArrayBase<S, D>) -> Result<ndarray::Array<T, D>>
    where
        S: Data<Elem = T>,
        D: Dimension,
    {
        let y = self.output.as_ref().ok_or_else(|| not_run("Sigmoid"))?;
        grad_shape("Sigmoid", dy.shape(), y.shape())?;
        let opts = Options::new().temperature(self.temperature);
        let dx = crate::ops::backward::sigmoid_backward(y, &dy.view().into_dyn(), &opts)?;
        crate::ops::into_dim(dx)
    }
}

/// Cross-entropy on logits with PyTorch's semantics ([`crate::cross_entropy`]); `forward`
/// computes the loss and its gradient in one pass, `backward` returns that gradient.
#[derive(Clone, Debug)]
pub struct CrossEntropyLoss<T: Element> {
    class_axis: Option<isize>,
    weight: Option<Array1<T>>,
    ignore_index: Option<i64>,
    label_smoothing: f64,
    reduction: Reduction,
    grad: Option<ArrayD<T>>,
}

impl<T: Element> Default for CrossEntropyLoss<T> {
    fn default() -> Self {
        let d = LossOptions::<T>::default();
        CrossEntropyLoss {
            class_axis: d.class_axis,
            weight: None,
            ignore_index: d.ignore_index,
            label_smoothing: d.label_smoothing,
            reduction: d.reduction,
            grad: None,
        }
    }
}

impl<T: Element> CrossEntropyLoss<T> {
    /// PyTorch's defaults (mean reduction, `ignore_index = -100`, no weights or smoothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the class weights.
    pub fn weight(mut self, weight: Array1<T>) -> Self {
        self.weight = Some(weight);
        self
    }

    /// Sets the label smoothing `ε ∈ [0, 1]` (checked at `forward`).
    pub fn label_smoothing(mut self, epsilon: f64) -> Self {
        self.label_smoothing = epsilon;
        self
    }

    /// Sets the reduction.
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Sets (or removes) the ignored class index.
    pub fn ignore_index(mut self, index: Option<i64>) -> Self {
        self.ignore_index = index;
        self
    }

    /// Sets the class axis (default: 1, or 0 for 1-D logits).
    pub fn class_axis(mut self, axis: isize) -> Self {
        self.class_axis = Some(axis);
        self
    }

    /// The loss (0-dimensional unless the reduction is `None`); keeps `∂loss/∂logits`.
    ///
    /// # Errors
    /// As [`crate::cross_entropy`].
    pub fn forward<S, D>(&mut self, logits: &ArrayBase<S, D>, target: Target<'_, T>) -> Result<ArrayD<T>>
    where
        S: Data<Elem = T>,
        D: Dimension,
    {
        let opts = LossOptions {
            class_axis: self.class_axis,
            weight: self.weight.as_ref().map(|w| w.view()),
            ignore_index: self.ignore_index,
            label_smoothing: self.label_smoothing,
            reduction: self.reduction,
        };
        self.grad = None;
        let (loss, grad) = crate::ops::loss::cross_entropy_with_grad(logits, target, &opts)?;
        self.grad = Some(grad.into_dyn());
        Ok(loss)
    }

    /// `∂loss/∂logits` of the last forward pass (for `Reduction::None`, of the summed losses).
    ///
    /// # Errors
    /// No forward pass yet.
    pub fn backward(&self) -> Result<ArrayD<T>> {
        self.grad.clone().ok_or_else(|| not_run("CrossEntropyLoss"))
    }
}

/// A fully connected layer `y = x Wᵀ + b` on a batch `x` of shape `(N, in)`.
///
/// `backward` stores the parameter gradients in [`Linear::weight_grad`] and [`Linear::bias_grad`]
/// (overwriting them) and returns `∂loss/∂x`.
#[derive(Clone, Debug)]
pub struct Linear<T: Element + LinalgScalar> {
    /// The weights, shape `(out, in)`.
    pub weight: Array2<T>,
    /// The bias, length `out`.
    pub bias: Array1<T>,
    /// `∂loss/∂weight` from the last backward pass.
    pub weight_grad: Array2<T>,
    /// `∂loss/∂bias` from the last backward pass.
    pub bias_grad: Array1<T>,
    input: Option<Array2<T>>,
}

impl<T: Element + LinalgScalar> Linear<T> {
    /// A layer with Glorot-uniform weights drawn from `seed` and zero bias.
    ///
    /// The generator is SplitMix64, written out here so that a seed gives the same weights on
    /// every platform and every version of every dependency.
    pub fn new(inputs: usize, outputs: usize, seed: u64) -> Self {
        let limit = (6.0 / (inputs + outputs).max(1) as f64).sqrt();
        let mut state = seed;
        let weight = Array2::from_shape_simple_fn((outputs, inputs), || {
            let unit = (splitmix64(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
            T::from_f64((2.0 * unit - 1.0) * limit)
        });
        let bias = Array1::from_elem(outputs, T::zero());
        let (weight_grad, bias_grad) = (Array2::zeros(weight.raw_dim()), Array1::zeros(outputs));
        Linear { weight, bias, weight_grad, bias_grad, input: None }
    }

    /// A layer with the given weights `(out, in)` and bias (`out`).
    ///
    /// # Errors
    /// A bias whose length is not the number of outputs.
    pub fn from_parameters(weight: Array2<T>, bias: Array1<T>) -> Result<Self> {
        if bias.len() != weight.nrows() {
            return Err(Error::new(
                ErrorKind::Shape,
                format!("the bias has length {} but the weights have {} outputs", bias.len(), weight.nrows()),
            ));
        }
        let weight_grad = Array2::zeros(weight.raw_dim());
        let bias_grad = Array1::zeros(bias.raw_dim());
        Ok(Linear { weight, bias, weight_grad, bias_grad, input: None })
    }

    /// Number of inputs.
    pub fn inputs(&self) -> usize {
        self.weight.ncols()
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.weight.nrows()
    }

    /// `x Wᵀ + b`; keeps `x` for the backward pass.
    ///
    /// # Errors
    /// `x` whose second axis is not the number of inputs.
    pub fn forward<S: Data<Elem = T>>(&mut self, x: &ArrayBase<S, Ix2>) -> Result<Array2<T>> {
        if x.ncols() != self.inputs() {
            return Err(Error::new(
                ErrorKind::Shape,
                format!(
                    "Linear.forward got input of shape {:?} but the layer has {} inputs",
                    x.shape(),
                    self.inputs()
                ),
            ));
        }
        self.input = None;
        let y = x.dot(&self.weight.t()) + &self.bias;
        self.input = Some(x.to_owned());
        Ok(y)
    }

    /// Stores `∂loss/∂W = dyᵀ x` and `∂loss/∂b = Σ dy`, and returns `∂loss/∂x = dy W`.
    ///
    /// # Errors
    /// No forward pass yet, or `dy` not of shape `(N, out)` for the last forward input.
    pub fn backward<S: Data<Elem = T>, D: Dimension>(&mut self, dy: &ArrayBase<S, D>) -> Result<Array2<T>> {
        let x = self.input.as_ref().ok_or_else(|| not_run("Linear"))?;
        grad_shape("Linear", dy.shape(), &[x.nrows(), self.outputs()])?;
        let dy = dy.view().into_dimensionality::<Ix2>().map_err(|e| Error::new(ErrorKind::Shape, e))?;
        self.weight_grad = dy.t().dot(x);
        self.bias_grad = dy.sum_axis(Axis(0));
        Ok(dy.dot(&self.weight))
    }

    /// Plain gradient descent: `W -= lr · ∂W`, `b -= lr · ∂b`.
    pub fn sgd_step(&mut self, learning_rate: f64) {
        let lr = T::from_f64(learning_rate);
        self.weight.zip_mut_with(&self.weight_grad, |w, &g| *w = *w - lr * g);
        self.bias.zip_mut_with(&self.bias_grad, |b, &g| *b = *b - lr * g);
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
