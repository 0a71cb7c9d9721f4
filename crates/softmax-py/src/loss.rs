//! The losses, with the semantics of `torch.nn.functional`: cross_entropy, nll_loss and
//! binary_cross_entropy_with_logits, each optionally with its gradient.

use std::fmt::Display;

use ndarray::{ArrayD, ArrayView1, ArrayViewD, Dimension, Ix1};
use numpy::{
    Element as NumpyElement, PyArray, PyArrayDescrMethods, PyReadonlyArrayDyn, PyUntypedArray,
    PyUntypedArrayMethods, dtype,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use softmax::{BceOptions, LossOptions, Reduction, Target};

use crate::arrays::{
    Float, Out, asarray, dtype_name, float_operand, loss_value, primary_input, primary_typed, read,
    shape_str, typed, with_float,
};
use crate::errors::detached;
use crate::options::reduction;

/// Class-index targets as `int64`: an int64 array read in place, any other integer dtype
/// converted (targets hold one value per sample, not per class).
enum Classes<'py> {
    Borrowed(PyReadonlyArrayDyn<'py, i64>),
    Owned(ArrayD<i64>),
}

impl Classes<'_> {
    fn view(&self) -> ArrayViewD<'_, i64> {
        match self {
            Classes::Borrowed(b) => b.as_array(),
            Classes::Owned(o) => o.view(),
        }
    }
}

/// `arr` as class indices if it has the integer dtype `I`; `Ok(None)` for another dtype.
fn widen<I>(arr: &Bound<'_, PyUntypedArray>, name: &str) -> PyResult<Option<ArrayD<i64>>>
where
    I: NumpyElement + Copy + Display,
    i64: TryFrom<I>,
{
    if !arr.dtype().is_equiv_to(&dtype::<I>(arr.py())) {
        return Ok(None);
    }
    let arr = typed::<I>(arr.clone(), name)?;
    let borrowed = read(&arr, name)?;
    let view = borrowed.as_array();
    if let Some((index, c)) = view.indexed_iter().find(|(_, c)| i64::try_from(**c).is_err()) {
        return Err(PyValueError::new_err(format!(
            "{name} has class index {c} at position {:?}, beyond any number of classes",
            index.slice()
        )));
    }
    Ok(Some(view.mapv(|c| i64::try_from(c).unwrap_or(i64::MAX))))
}

/// Class indices of any integer dtype.
fn class_indices<'py>(arr: &Bound<'py, PyUntypedArray>, name: &str) -> PyResult<Classes<'py>> {
    if arr.dtype().is_equiv_to(&dtype::<i64>(arr.py())) {
        return Ok(Classes::Borrowed(read(&typed::<i64>(arr.clone(), name)?, name)?));
    }
    type Widen = fn(&Bound<'_, PyUntypedArray>, &str) -> PyResult<Option<ArrayD<i64>>>;
    let widens: [Widen; 7] =
        [widen::<i32>, widen::<u8>, widen::<i16>, widen::<i8>, widen::<u16>, widen::<u32>, widen::<u64>];
    for widen in widens {
        if let Some(converted) = widen(arr, name)? {
            return Ok(Classes::Owned(converted));
        }
    }
    Err(PyTypeError::new_err(format!("{name} has dtype {}, which is not an integer dtype", dtype_name(arr))))
}

/// An integer array (or sequence) of class indices.
fn classes_operand<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Classes<'py>> {
    let arr = match obj.cast::<PyUntypedArray>() {
        Ok(arr) => arr.clone(),
        Err(_) => asarray(obj, None, name)?,
    };
    match arr.dtype().kind() {
        b'i' | b'u' => class_indices(&arr, name),
        _ => Err(PyTypeError::new_err(format!(
            "{name} must hold class indices of an integer dtype, got dtype {}",
            dtype_name(&arr)
        ))),
    }
}

/// The target of `cross_entropy`: class indices (any integer dtype) or probabilities (the
/// logits' dtype), each borrowed for reading.
enum TargetArg<'py, T: NumpyElement> {
    Classes(Classes<'py>),
    Probs(PyReadonlyArrayDyn<'py, T>),
}

impl<'py, T: Float> TargetArg<'py, T> {
    fn new(obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        let (arr, is_array) = match obj.cast::<PyUntypedArray>() {
            Ok(arr) => (arr.clone(), true),
            Err(_) => (asarray(obj, None, "target")?, false),
        };
        match arr.dtype().kind() {
            b'i' | b'u' => Ok(TargetArg::Classes(class_indices(&arr, "target")?)),
            b'f' => {
                // A sequence of floats takes the logits' dtype; an array must have it.
                let source = if is_array { arr.as_any() } else { obj };
                let probs = float_operand::<T>(source, "target", "logits")?;
                Ok(TargetArg::Probs(read(&probs, "target")?))
            }
            _ => Err(PyTypeError::new_err(format!(
                "target must hold class indices (an integer dtype) or probabilities (the logits' \
                 dtype), got dtype {}",
                dtype_name(&arr)
            ))),
        }
    }

    fn target(&self) -> Target<'_, T> {
        match self {
            TargetArg::Classes(c) => Target::Classes(c.view()),
            TargetArg::Probs(p) => Target::Probs(p.as_array()),
        }
    }
}

/// The keyword arguments of `cross_entropy` and `nll_loss` other than the class weights.
struct LossSettings {
    class_axis: Option<isize>,
    ignore_index: Option<i64>,
    label_smoothing: f64,
    reduction: Reduction,
}

impl LossSettings {
    fn new(
        axis: Option<isize>,
        ignore_index: Option<i64>,
        label_smoothing: f64,
        reduction_name: &str,
    ) -> PyResult<Self> {
        Ok(LossSettings {
            class_axis: axis,
            ignore_index,
            label_smoothing,
            reduction: reduction(reduction_name)?,
        })
    }

    fn options<'a, T>(&self, weight: Option<ArrayView1<'a, T>>) -> LossOptions<'a, T> {
        LossOptions {
            class_axis: self.class_axis,
            weight,
            ignore_index: self.ignore_index,
            label_smoothing: self.label_smoothing,
            reduction: self.reduction,
        }
    }
}

/// Class weights: one per class, of the logits' dtype, borrowed for reading.
fn class_weights<'py, T: Float>(
    weight: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<PyReadonlyArrayDyn<'py, T>>> {
    weight.map(|w| read(&float_operand::<T>(w, "weight", "logits")?, "weight")).transpose()
}

fn one_d<'a, T>(weight: Option<&'a PyReadonlyArrayDyn<'_, T>>) -> PyResult<Option<ArrayView1<'a, T>>>
where
    T: NumpyElement,
{
    weight
        .map(|w| {
            w.as_array().into_dimensionality::<Ix1>().map_err(|_| {
                PyValueError::new_err(format!(
                    "weight must be 1-D (one weight per class), got shape {}",
                    shape_str(w.as_array().shape())
                ))
            })
        })
        .transpose()
}

/// Runs a loss with the GIL released, and returns the loss or, with `return_grad`, `(loss, grad)`.
fn run_loss<'py, T: Float>(
    py: Python<'py>,
    return_grad: bool,
    loss_only: impl Send + FnOnce() -> softmax::Result<ArrayD<T>>,
    with_grad: impl Send + FnOnce() -> softmax::Result<(ArrayD<T>, ArrayD<T>)>,
) -> PyResult<Bound<'py, PyAny>> {
    if !return_grad {
        return loss_value(py, detached(py, loss_only)?);
    }
    let (loss, grad) = detached(py, with_grad)?;
    let loss = loss_value(py, loss)?;
    Ok(PyTuple::new(py, [loss, PyArray::from_owned_array(py, grad).into_any()])?.into_any())
}

/// Cross-entropy of ``logits`` against ``target``, as ``torch.nn.functional.cross_entropy``.
///
/// ``target`` holds class indices (any integer dtype; the logits' shape without the class axis)
/// or probabilities (the logits' shape and dtype). Each per-sample loss is within a few ulp of
/// the exact value; with ``return_grad=True`` the gradient with respect to ``logits`` comes from
/// the same pass (for ``reduction="none"``, the gradient of the summed losses). With
/// ``reduction="mean"`` and every target ignored the loss is NaN, as in PyTorch, and the
/// gradient 0.
///
/// Parameters
/// ----------
/// logits : float16, float32 or float64 array with a class axis
/// target : class indices or probabilities, as above
/// weight : one weight per class, of the logits' dtype
/// ignore_index : int or None; class-index targets equal to it are ignored (default -100)
/// label_smoothing : float in [0, 1]
/// reduction : "mean" (default), "sum" or "none"
/// axis : the class axis; None means PyTorch's convention (axis 1, or 0 for 1-D logits)
/// return_grad : also return ``∂loss/∂logits``
/// grad_out : with ``return_grad=True``, an array of the logits' shape and dtype (any strides) to
///     write the gradient into, returned as ``grad``; a training loop that keeps one saves an
///     allocation per step
///
/// Returns
/// -------
/// The loss (a numpy scalar, or an array for ``reduction="none"``), or ``(loss, grad)``.
///
/// Example
/// -------
/// >>> logits = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]])
/// >>> float(softmax_rs.cross_entropy(logits, np.array([0, 1])))
/// 0.13238448798862326
/// >>> loss, grad = softmax_rs.cross_entropy(np.zeros((1, 2), np.float32), np.array([1]), return_grad=True)
/// >>> grad
/// array([[ 0.5, -0.5]], dtype=float32)
#[pyfunction]
#[pyo3(
    signature = (logits, target, *, weight=None, ignore_index=Some(-100), label_smoothing=0.0, reduction="mean", axis=None, return_grad=false, grad_out=None),
    text_signature = "(logits, target, *, weight=None, ignore_index=-100, label_smoothing=0.0, reduction='mean', axis=None, return_grad=False, grad_out=None)"
)]
#[allow(clippy::too_many_arguments, reason = "one parameter per Python keyword argument")]
pub fn cross_entropy<'py>(
    py: Python<'py>,
    logits: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    ignore_index: Option<i64>,
    label_smoothing: f64,
    reduction: &str,
    axis: Option<isize>,
    return_grad: bool,
    grad_out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let settings = LossSettings::new(axis, ignore_index, label_smoothing, reduction)?;
    if grad_out.is_some() && !return_grad {
        return Err(PyValueError::new_err("grad_out is for the gradient: pass return_grad=True with it"));
    }
    let (logits, dtype) = primary_input(logits, "logits")?;
    with_float!(dtype, T => cross_entropy_typed::<T>(py, &logits, target, weight, &settings, (return_grad, grad_out)))
}

fn cross_entropy_typed<'py, T: Float>(
    py: Python<'py>,
    logits: &Bound<'py, PyUntypedArray>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    settings: &LossSettings,
    (return_grad, grad_out): (bool, Option<&Bound<'py, PyAny>>),
) -> PyResult<Bound<'py, PyAny>> {
    let logits = primary_typed::<T>(logits, "logits")?;
    let grad_out = grad_out.map(|o| Out::<T>::named(o, "grad_out", "logits")).transpose()?;
    let target = TargetArg::<T>::new(target)?;
    let weight = class_weights::<T>(weight)?;
    let logits_read = read(&logits, "logits")?;
    let lv = logits_read.as_array();
    let opts = settings.options(one_d(weight.as_ref())?);
    let target = target.target();
    if let Some(out) = grad_out {
        out.check_shape(lv.shape())?;
        // Straight into `grad_out` when Rust can view it and it overlaps no input; otherwise
        // through a temporary, written once the inputs' borrows are released.
        let (loss, grad) = match out.try_write() {
            Some(mut g) => {
                let mut gv = g.as_array_mut();
                let loss = detached(py, || {
                    softmax::cross_entropy_with_grad_into(&lv, target.clone(), &opts, &mut gv)
                })?;
                drop(g);
                (loss, out.to_any())
            }
            None => {
                let (loss, g) =
                    detached(py, || softmax::cross_entropy_with_grad(&lv, target.clone(), &opts))?;
                drop(logits_read);
                (loss, out.store(g)?)
            }
        };
        return Ok(PyTuple::new(py, [loss_value(py, loss)?, grad])?.into_any());
    }
    run_loss(
        py,
        return_grad,
        || softmax::cross_entropy(&lv, target.clone(), &opts),
        || softmax::cross_entropy_with_grad(&lv, target.clone(), &opts),
    )
}

/// The negative log-likelihood loss, as ``torch.nn.functional.nll_loss``: ``−weight[c] ·
/// log_probs[c]`` per sample at its class index ``c``.
///
/// ``log_probs`` is typically the output of ``log_softmax``; ``target`` holds class indices of
/// any integer dtype. Other arguments as for ``cross_entropy`` (there is no label smoothing).
///
/// Example
/// -------
/// >>> float(softmax_rs.nll_loss(np.array([[-0.1, -2.0], [-3.0, -0.05]]), np.array([0, 1])))
/// 0.07500000000000001
#[pyfunction]
#[pyo3(
    signature = (log_probs, target, *, weight=None, ignore_index=Some(-100), reduction="mean", axis=None, return_grad=false),
    text_signature = "(log_probs, target, *, weight=None, ignore_index=-100, reduction='mean', axis=None, return_grad=False)"
)]
#[allow(clippy::too_many_arguments, reason = "one parameter per Python keyword argument")]
pub fn nll_loss<'py>(
    py: Python<'py>,
    log_probs: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    ignore_index: Option<i64>,
    reduction: &str,
    axis: Option<isize>,
    return_grad: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let settings = LossSettings::new(axis, ignore_index, 0.0, reduction)?;
    let (log_probs, dtype) = primary_input(log_probs, "log_probs")?;
    with_float!(dtype, T => nll_typed::<T>(py, &log_probs, target, weight, &settings, return_grad))
}

fn nll_typed<'py, T: Float>(
    py: Python<'py>,
    log_probs: &Bound<'py, PyUntypedArray>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    settings: &LossSettings,
    return_grad: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let log_probs = primary_typed::<T>(log_probs, "log_probs")?;
    let classes = classes_operand(target, "target")?;
    let weight = class_weights::<T>(weight)?;
    let lp_read = read(&log_probs, "log_probs")?;
    let lpv = lp_read.as_array();
    let cv = classes.view();
    let opts = settings.options(one_d(weight.as_ref())?);
    run_loss(
        py,
        return_grad,
        || softmax::nll_loss(&lpv, &cv, &opts),
        || softmax::nll_loss_with_grad(&lpv, &cv, &opts),
    )
}

/// Binary cross-entropy with logits, as ``torch.nn.functional.binary_cross_entropy_with_logits``:
/// ``weight · (pos_weight · t · softplus(−x) + (1 − t) · softplus(x))`` element by element.
///
/// Computed from softplus, never as ``log(sigmoid)``, and without cancellation between the two
/// terms. ``target`` has the shape and dtype of ``x``; ``weight`` and ``pos_weight`` broadcast
/// to it (``pos_weight`` usually one per class, along the last axis). ``reduction="mean"``
/// averages over all elements.
///
/// Example
/// -------
/// >>> softmax_rs.binary_cross_entropy_with_logits(np.array([0.0, 50.0]), np.array([1.0, 1.0]), reduction="none")
/// array([6.93147181e-01, 1.92874985e-22])
#[pyfunction]
#[pyo3(signature = (x, target, *, weight=None, pos_weight=None, reduction="mean", return_grad=false))]
#[allow(clippy::too_many_arguments, reason = "one parameter per Python keyword argument")]
pub fn binary_cross_entropy_with_logits<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    pos_weight: Option<&Bound<'py, PyAny>>,
    reduction: &str,
    return_grad: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let reduction = crate::options::reduction(reduction)?;
    let (x, dtype) = primary_input(x, "x")?;
    with_float!(dtype, T => bce_typed::<T>(py, &x, target, weight, pos_weight, reduction, return_grad))
}

fn bce_typed<'py, T: Float>(
    py: Python<'py>,
    x: &Bound<'py, PyUntypedArray>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    pos_weight: Option<&Bound<'py, PyAny>>,
    reduction: Reduction,
    return_grad: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let x = primary_typed::<T>(x, "x")?;
    let target = float_operand::<T>(target, "target", "x")?;
    let operand =
        |w: Option<&Bound<'py, PyAny>>, name: &str| -> PyResult<Option<PyReadonlyArrayDyn<'py, T>>> {
            w.map(|w| read(&float_operand::<T>(w, name, "x")?, name)).transpose()
        };
    let (weight, pos_weight) = (operand(weight, "weight")?, operand(pos_weight, "pos_weight")?);
    let (x_read, target_read) = (read(&x, "x")?, read(&target, "target")?);
    let (xv, tv) = (x_read.as_array(), target_read.as_array());
    let opts = BceOptions {
        weight: weight.as_ref().map(|w| w.as_array()),
        pos_weight: pos_weight.as_ref().map(|w| w.as_array()),
        reduction,
    };
    run_loss(
        py,
        return_grad,
        || softmax::binary_cross_entropy_with_logits(&xv, &tv, &opts),
        || softmax::binary_cross_entropy_with_logits_with_grad(&xv, &tv, &opts),
    )
}
