//! numpy arrays in and out: dtype checks, views without copies, and results written back.
//!
//! An input array is read in place through an `ndarray` view with its own strides (negative,
//! zero or any multiple of the element size); only an array that Rust cannot view soundly (a
//! misaligned buffer, or strides that are not whole elements) is copied first, as numpy's own
//! ufuncs do. An ndarray keeps its dtype: another dtype is a `TypeError`, never a silent
//! conversion. Python numbers and sequences, which have no dtype, are converted.

use ndarray::{ArrayD, ArrayViewMutD};

use crate::errors::detached;
use numpy::{
    Element as NumpyElement, PyArray, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn,
    PyUntypedArray, PyUntypedArrayMethods, dtype,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// The most axes `rust-numpy` views (numpy itself allows 64).
const MAX_AXES: usize = 32;

/// An element type both the library and numpy know: float16, float32 or float64.
pub trait Float: softmax::Element + NumpyElement {}
impl<T: softmax::Element + NumpyElement> Float for T {}

/// The float dtype of the array a call works on; it fixes the dtype of every other operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatDtype {
    F16,
    F32,
    F64,
}

/// Evaluates `$body` with the type alias `$T` standing for the element type of `$dtype`.
macro_rules! with_float {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::arrays::FloatDtype::F16 => {
                type $T = half::f16;
                $body
            }
            $crate::arrays::FloatDtype::F32 => {
                type $T = f32;
                $body
            }
            $crate::arrays::FloatDtype::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}
pub(crate) use with_float;

fn float_dtype(arr: &Bound<'_, PyUntypedArray>) -> Option<FloatDtype> {
    let (py, dt) = (arr.py(), arr.dtype());
    if dt.is_equiv_to(&dtype::<f32>(py)) {
        Some(FloatDtype::F32)
    } else if dt.is_equiv_to(&dtype::<f64>(py)) {
        Some(FloatDtype::F64)
    } else if dt.is_equiv_to(&dtype::<half::f16>(py)) {
        Some(FloatDtype::F16)
    } else {
        None
    }
}

/// The name numpy gives a dtype (`float32`, `int64`, `>f4`, …), for messages.
pub fn dtype_name(arr: &Bound<'_, PyUntypedArray>) -> String {
    arr.dtype().to_string()
}

fn numpy(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("numpy")
}

/// `numpy.asarray(obj, dtype)`, with a `TypeError` naming the argument when `obj` is not numeric.
pub fn asarray<'py>(
    obj: &Bound<'py, PyAny>,
    dtype: Option<&Bound<'py, PyAny>>,
    name: &str,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let converted = match dtype {
        Some(dt) => numpy(obj.py())?.call_method1("asarray", (obj, dt)),
        None => numpy(obj.py())?.call_method1("asarray", (obj,)),
    };
    let converted = converted.map_err(|e| {
        PyTypeError::new_err(format!("{name} must be a numpy array or a sequence of numbers ({e})"))
    })?;
    Ok(converted.cast_into::<PyUntypedArray>()?)
}

/// A `TypeError` for a `numpy.ma.MaskedArray`: its mask would silently play no part.
fn reject_masked(arr: &Bound<'_, PyUntypedArray>, name: &str) -> PyResult<()> {
    let masked_array = numpy(arr.py())?.getattr("ma")?.getattr("MaskedArray")?;
    if arr.is_instance(&masked_array)? {
        return Err(PyTypeError::new_err(format!(
            "{name} is a masked array, whose mask softmax_rs would not see; pass {name}.data \
             with where=~numpy.ma.getmaskarray({name})"
        )));
    }
    Ok(())
}

/// The array a call works on, and its dtype: an ndarray of float16, float32 or float64 as it is;
/// Python numbers and sequences (which have no dtype) as float64.
///
/// # Errors
/// `TypeError` for an ndarray of another dtype, or an object that is not numeric.
pub fn primary_input<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<(Bound<'py, PyUntypedArray>, FloatDtype)> {
    let arr = match obj.cast::<PyUntypedArray>() {
        Ok(arr) => {
            reject_masked(arr, name)?;
            arr.clone()
        }
        Err(_) => {
            let guess = asarray(obj, None, name)?;
            match guess.dtype().kind() {
                b'f' if float_dtype(&guess).is_some() => guess,
                b'b' | b'i' | b'u' | b'f' => asarray(obj, Some(dtype::<f64>(obj.py()).as_any()), name)?,
                _ => {
                    return Err(PyTypeError::new_err(format!(
                        "{name} must be a numpy array or a sequence of numbers, got {}",
                        obj.get_type().name()?
                    )));
                }
            }
        }
    };
    match float_dtype(&arr) {
        Some(dt) => Ok((arr, dt)),
        None => Err(PyTypeError::new_err(format!(
            "{name} has dtype {}; softmax_rs works on float16, float32 and float64 arrays \
             (convert with {name}.astype(numpy.float32), for example)",
            dtype_name(&arr)
        ))),
    }
}

/// Whether Rust may view the array in place: an aligned buffer, strides in whole elements, and
/// no more axes than `rust-numpy` handles.
fn viewable(arr: &Bound<'_, PyUntypedArray>) -> bool {
    let itemsize = arr.dtype().itemsize() as isize;
    arr.is_aligned()
        && arr.ndim() <= MAX_AXES
        && arr.strides().iter().all(|s| itemsize == 0 || s % itemsize == 0)
}

fn check_axes(arr: &Bound<'_, PyUntypedArray>, name: &str) -> PyResult<()> {
    if arr.ndim() > MAX_AXES {
        Err(PyValueError::new_err(format!(
            "{name} has {} axes; softmax_rs handles at most {MAX_AXES}",
            arr.ndim()
        )))
    } else {
        Ok(())
    }
}

/// `arr` typed as `PyArrayDyn<T>` (its dtype already checked), copied first if Rust cannot view
/// it in place.
pub fn typed<'py, T: NumpyElement>(
    arr: Bound<'py, PyUntypedArray>,
    name: &str,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    check_axes(&arr, name)?;
    let arr = if viewable(&arr) { arr } else { arr.call_method1("copy", ("C",))?.cast_into()? };
    Ok(arr.cast_into::<PyArrayDyn<T>>()?)
}

/// The primary input, typed, viewable in place.
pub fn primary_typed<'py, T: Float>(
    arr: &Bound<'py, PyUntypedArray>,
    name: &str,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    typed(arr.clone(), name)
}

/// Another float operand (`dy`, a probability target, weights): an ndarray must have the dtype
/// of the primary input (`like` names it); Python numbers and sequences are converted to it.
///
/// # Errors
/// `TypeError` for an ndarray of another dtype, or an object that is not numeric.
pub fn float_operand<'py, T: Float>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    like: &str,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let py = obj.py();
    let arr = match obj.cast::<PyUntypedArray>() {
        Ok(arr) => {
            reject_masked(arr, name)?;
            if !arr.dtype().is_equiv_to(&dtype::<T>(py)) {
                return Err(PyTypeError::new_err(format!(
                    "{name} has dtype {} but {like} has dtype {}; pass arrays of one dtype",
                    dtype_name(arr),
                    dtype::<T>(py)
                )));
            }
            arr.clone()
        }
        Err(_) => asarray(obj, Some(dtype::<T>(py).as_any()), name)?,
    };
    typed(arr, name)
}

/// A boolean mask (`where=`): an ndarray must be of dtype bool; Python sequences are converted.
///
/// # Errors
/// `TypeError` for an ndarray of another dtype, or an object that is not a mask.
pub fn mask_operand<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Bound<'py, PyArrayDyn<bool>>> {
    let py = obj.py();
    let arr = match obj.cast::<PyUntypedArray>() {
        Ok(arr) => {
            if !arr.dtype().is_equiv_to(&dtype::<bool>(py)) {
                return Err(PyTypeError::new_err(format!(
                    "{name} must be a boolean array (True = take part), got dtype {}",
                    dtype_name(arr)
                )));
            }
            arr.clone()
        }
        Err(_) => asarray(obj, Some(dtype::<bool>(py).as_any()), name)?,
    };
    typed(arr, name)
}

/// A read borrow of an operand, or a `ValueError` when another thread is writing into it.
pub fn read<'py, T: NumpyElement>(
    arr: &Bound<'py, PyArrayDyn<T>>,
    name: &str,
) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    arr.try_readonly().map_err(|_| {
        PyValueError::new_err(format!("{name} is being written by another call (in another thread)"))
    })
}

/// `mask` broadcast to `shape` (a view with zero strides, no copy), as `where=` broadcasts in
/// numpy and JAX.
///
/// # Errors
/// `ValueError` when it does not broadcast.
pub fn broadcast_mask<'py>(
    mask: &Bound<'py, PyArrayDyn<bool>>,
    shape: &[usize],
    name: &str,
) -> PyResult<Bound<'py, PyArrayDyn<bool>>> {
    if mask.shape() == shape {
        return Ok(mask.clone());
    }
    let py = mask.py();
    let broadcast =
        numpy(py)?.call_method1("broadcast_to", (mask, PyTuple::new(py, shape)?)).map_err(|_| {
            PyValueError::new_err(format!(
                "{name} of shape {} does not broadcast to the input's shape {}",
                shape_str(mask.shape()),
                shape_str(shape)
            ))
        })?;
    Ok(broadcast.cast_into()?)
}

/// A shape as Python prints it: `(2, 3)`, `(4,)`, `()`.
pub fn shape_str(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!("({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// Whether every index of a layout addresses its own element (a sufficient test: with the axes
/// of more than one element ordered by stride, each stride spans the whole of the axes below).
/// A writeable array made by `as_strided` can alias its own elements; Rust must not hold a
/// mutable view of one, so such an `out` is written through `numpy.copyto` instead.
fn distinct_elements(shape: &[usize], strides: &[isize]) -> bool {
    if shape.contains(&0) {
        return true;
    }
    let mut axes: Vec<(usize, usize)> = shape
        .iter()
        .zip(strides)
        .filter(|(len, _)| **len > 1)
        .map(|(&len, &s)| (s.unsigned_abs(), len))
        .collect();
    axes.sort_unstable();
    let mut span = 1;
    for (stride, len) in axes {
        if stride < span {
            return false;
        }
        span = stride.saturating_mul(len);
    }
    true
}

/// A validated `out=` argument: an ndarray of the right dtype that may be written.
pub struct Out<'py, T: NumpyElement> {
    array: Bound<'py, PyArrayDyn<T>>,
    /// The argument's name in messages (`out`, `grad_out`).
    name: &'static str,
    /// Whether Rust may write it in place; otherwise results go through `numpy.copyto`.
    viewable: bool,
}

impl<'py, T: Float> Out<'py, T> {
    /// Checks `out=`: an ndarray (`TypeError` otherwise) of dtype `T` (`TypeError`) that is
    /// writeable (`ValueError`). Its shape is checked against the result's.
    pub fn new(obj: &Bound<'py, PyAny>, like: &str) -> PyResult<Self> {
        Self::named(obj, "out", like)
    }

    /// [`Out::new`] for an argument of another name (`grad_out=`).
    pub fn named(obj: &Bound<'py, PyAny>, name: &'static str, like: &str) -> PyResult<Self> {
        let py = obj.py();
        let arr = obj.cast::<PyUntypedArray>().map_err(|_| {
            PyTypeError::new_err(format!("{name} must be a numpy array, got {}", type_name(obj)))
        })?;
        if !arr.dtype().is_equiv_to(&dtype::<T>(py)) {
            return Err(PyTypeError::new_err(format!(
                "{name} has dtype {} but {like} has dtype {}; the result has the input's dtype",
                dtype_name(arr),
                dtype::<T>(py)
            )));
        }
        if !arr.getattr("flags")?.getattr("writeable")?.extract::<bool>()? {
            return Err(PyValueError::new_err(format!("{name} is read-only")));
        }
        let viewable = viewable(arr) && distinct_elements(arr.shape(), arr.strides());
        Ok(Out { array: arr.clone().cast_into()?, name, viewable })
    }

    /// Checks that the result has the shape of `out`.
    pub fn check_shape(&self, shape: &[usize]) -> PyResult<()> {
        let out_shape = self.array.shape();
        if out_shape == shape {
            Ok(())
        } else {
            Err(PyValueError::new_err(format!(
                "{} has shape {} but the result has shape {}",
                self.name,
                shape_str(out_shape),
                shape_str(shape)
            )))
        }
    }

    /// A write borrow to compute into directly, when `out` is viewable and overlaps no array
    /// borrowed for reading (`out=x` computes into a temporary, then copies).
    pub fn try_write(&self) -> Option<numpy::PyReadwriteArrayDyn<'py, T>> {
        if self.viewable { self.array.try_readwrite().ok() } else { None }
    }

    /// Computes the result straight into `out` with `write` (off the GIL, as [`detached`] runs
    /// it) and returns `out`, when Rust can view `out` and it overlaps no array borrowed for
    /// reading; `None` otherwise, for the caller to compute into a temporary and [`Out::store`]
    /// it. `shape` is the result's, checked against `out`'s first.
    pub fn write_with<F>(&self, shape: &[usize], write: F) -> PyResult<Option<Bound<'py, PyAny>>>
    where
        F: Send + FnOnce(&mut ArrayViewMutD<'_, T>) -> softmax::Result<()>,
    {
        self.check_shape(shape)?;
        let Some(mut target) = self.try_write() else { return Ok(None) };
        let mut view = target.as_array_mut();
        detached(self.array.py(), || write(&mut view))?;
        Ok(Some(self.to_any()))
    }

    /// Writes `result` (of `out`'s shape) into `out` and returns `out`.
    pub fn store(self, result: ArrayD<T>) -> PyResult<Bound<'py, PyAny>> {
        self.check_shape(result.shape())?;
        match self.try_write() {
            Some(mut target) => target.as_array_mut().assign(&result),
            None => {
                let py = self.array.py();
                let source = PyArray::from_owned_array(py, result);
                numpy(py)?.call_method1("copyto", (&self.array, source))?;
            }
        }
        Ok(self.array.into_any())
    }

    /// `out` itself, as the call's result.
    pub fn to_any(&self) -> Bound<'py, PyAny> {
        self.array.clone().into_any()
    }
}

/// A result as a new numpy array (no copy), or written into `out`.
pub fn deliver<'py, T: Float>(
    py: Python<'py>,
    result: ArrayD<T>,
    out: Option<Out<'py, T>>,
) -> PyResult<Bound<'py, PyAny>> {
    match out {
        Some(out) => out.store(result),
        None => Ok(PyArray::from_owned_array(py, result).into_any()),
    }
}

/// A loss as numpy gives a reduction: a numpy scalar of the dtype for a 0-d result, an array
/// otherwise.
pub fn loss_value<'py, T: Float>(py: Python<'py>, loss: ArrayD<T>) -> PyResult<Bound<'py, PyAny>> {
    let is_scalar = loss.ndim() == 0;
    let arr = PyArray::from_owned_array(py, loss).into_any();
    if is_scalar { arr.get_item(PyTuple::empty(py)) } else { Ok(arr) }
}

/// The Python type name of `obj`, for messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "an unknown type".to_owned())
}
