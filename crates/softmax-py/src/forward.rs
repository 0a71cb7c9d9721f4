//! The forward functions: softmax, log_softmax, logsumexp, sigmoid, log_sigmoid.

use ndarray::Axis;
use numpy::PyUntypedArray;
use pyo3::prelude::*;

use crate::arrays::{Float, Out, deliver, primary_input, primary_typed, read, with_float};
use crate::errors::detached;
use crate::settings::Settings;

/// The forward operations (and the Jacobian, which shares their arguments) on one array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unary {
    Softmax,
    LogSoftmax,
    Logsumexp { keepdims: bool },
    Sigmoid,
    LogSigmoid,
    Jacobian,
}

/// Defines a pyfunction `name(x, axis=-1, *, temperature=1.0, where=None, masked_rows="nan",
/// out=None)` computing a [`Unary`] operation, with the doc comments given.
macro_rules! row_function {
    ($(#[$doc:meta])* $name:ident => $op:expr) => {
        $(#[$doc])*
        #[pyfunction]
        #[pyo3(
            signature = (x, axis=-1, *, temperature=1.0, r#where=None, masked_rows="nan", out=None),
            text_signature = "(x, axis=-1, *, temperature=1.0, where=None, masked_rows='nan', out=None)"
        )]
        pub fn $name<'py>(
            py: Python<'py>,
            x: &Bound<'py, PyAny>,
            axis: isize,
            temperature: f64,
            r#where: Option<&Bound<'py, PyAny>>,
            masked_rows: &str,
            out: Option<&Bound<'py, PyAny>>,
        ) -> PyResult<Bound<'py, PyAny>> {
            $crate::forward::unary(py, $op, x, Settings::new(axis, temperature, r#where, masked_rows)?, out)
        }
    };
}
pub(crate) use row_function;

/// Defines a pyfunction `name(x, *, temperature=1.0, where=None, out=None)` computing an
/// element-wise [`Unary`] operation, with the doc comments given.
macro_rules! elementwise_function {
    ($(#[$doc:meta])* $name:ident => $op:expr) => {
        $(#[$doc])*
        #[pyfunction]
        #[pyo3(signature = (x, *, temperature=1.0, r#where=None, out=None))]
        pub fn $name<'py>(
            py: Python<'py>,
            x: &Bound<'py, PyAny>,
            temperature: f64,
            r#where: Option<&Bound<'py, PyAny>>,
            out: Option<&Bound<'py, PyAny>>,
        ) -> PyResult<Bound<'py, PyAny>> {
            unary(py, $op, x, Settings::new(-1, temperature, r#where, "nan")?, out)
        }
    };
}

row_function! {
    /// Softmax along an axis: ``exp(x/τ − m) / Σ exp(x/τ − m)`` with ``m = max(x/τ)``.
    ///
    /// Every output is within 2 ulp of the exact result (in practice correctly rounded), at any
    /// temperature, row length and offset. A NaN in a row makes the row NaN; ``+inf`` entries share
    /// the row's mass; ``-inf`` entries give 0; a row with nothing finite follows ``masked_rows``.
    ///
    /// Parameters
    /// ----------
    /// x : numpy.ndarray of float16, float32 or float64, any shape and strides (read without a copy)
    /// axis : int, the axis to normalise along (negative counts from the end), default -1
    /// temperature : float, finite and > 0; the operation acts on ``x / temperature``
    /// where : bool array broadcastable to ``x``; False positions take no part and give 0
    /// masked_rows : "nan" (default, as PyTorch) or "zeros": what a row with nothing finite gives
    /// out : array of ``x``'s shape and dtype to write into (any strides); it is returned
    ///
    /// Returns
    /// -------
    /// numpy.ndarray of ``x``'s shape and dtype.
    ///
    /// Example
    /// -------
    /// >>> softmax_rs.softmax(np.array([1.0, 2.0, 3.0]))
    /// array([0.09003057, 0.24472847, 0.66524096])
    /// >>> softmax_rs.softmax(np.array([[100.0, 101.0], [0.0, 0.0]], dtype=np.float32), temperature=2.0)
    /// array([[0.37754068, 0.62245935],
    ///        [0.5       , 0.5       ]], dtype=float32)
    softmax => Unary::Softmax
}

row_function! {
    /// Log-softmax along an axis: ``x/τ − m − ln Σ exp(x/τ − m)``, never computed as ``log(softmax)``.
    ///
    /// A dominant class keeps its tiny negative log-probability to full relative accuracy. Masked
    /// positions and ``-inf`` entries give ``-inf``. Arguments as for ``softmax``.
    ///
    /// Example
    /// -------
    /// >>> softmax_rs.log_softmax(np.array([0.0, -40.0, -50.0]))
    /// array([-4.24854713e-18, -4.00000000e+01, -5.00000000e+01])
    log_softmax => Unary::LogSoftmax
}

elementwise_function! {
    /// The logistic sigmoid ``1 / (1 + exp(−x/τ))``, element by element, stable for every finite x.
    ///
    /// ``where=False`` positions give 0. ``temperature``, ``where`` and ``out`` as for ``softmax``.
    ///
    /// Example
    /// -------
    /// >>> softmax_rs.sigmoid(np.array([0.0, 800.0, -800.0]))
    /// array([0.5, 1. , 0. ])
    sigmoid => Unary::Sigmoid
}

elementwise_function! {
    /// ``log(sigmoid(x/τ)) = −softplus(−x/τ)``, element by element, never computed as ``log(sigmoid)``.
    ///
    /// ``where=False`` positions give ``-inf``. ``temperature``, ``where`` and ``out`` as for
    /// ``softmax``.
    ///
    /// Example
    /// -------
    /// >>> softmax_rs.log_sigmoid(np.array([-800.0, 0.0, 40.0]))
    /// array([-8.00000000e+02, -6.93147181e-01, -4.24835426e-18])
    log_sigmoid => Unary::LogSigmoid
}

/// Runs a [`Unary`] operation on the array `x`, in its own dtype.
pub(crate) fn unary<'py>(
    py: Python<'py>,
    op: Unary,
    x: &Bound<'py, PyAny>,
    settings: Settings<'py>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (x, dtype) = primary_input(x, "x")?;
    with_float!(dtype, T => unary_typed::<T>(py, op, &x, &settings, out))
}

fn unary_typed<'py, T: Float>(
    py: Python<'py>,
    op: Unary,
    x: &Bound<'py, PyUntypedArray>,
    settings: &Settings<'py>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let x = primary_typed::<T>(x, "x")?;
    let out = out.map(|o| Out::<T>::new(o, "x")).transpose()?;
    let x_read = read(&x, "x")?;
    let xv = x_read.as_array();
    let mask = settings.borrow_mask(xv.shape())?;
    let opts = settings.options(&mask);
    // Softmax and log-softmax write straight into an `out` that Rust can view and that overlaps
    // no input; every other result goes through a temporary.
    if let Some(o) = &out
        && matches!(op, Unary::Softmax | Unary::LogSoftmax)
        && let Some(done) = o.write_with(xv.shape(), |ov| match op {
            Unary::LogSoftmax => ::softmax::log_softmax_into(&xv, ov, &opts),
            _ => ::softmax::softmax_into(&xv, ov, &opts),
        })?
    {
        return Ok(done);
    }
    let result = detached(py, || match op {
        Unary::Softmax => ::softmax::softmax(&xv, &opts),
        Unary::LogSoftmax => ::softmax::log_softmax(&xv, &opts),
        Unary::Logsumexp { .. } => ::softmax::logsumexp(&xv, &opts),
        Unary::Sigmoid => ::softmax::sigmoid(&xv, &opts),
        Unary::LogSigmoid => ::softmax::log_sigmoid(&xv, &opts),
        Unary::Jacobian => ::softmax::softmax_jacobian(&xv, &opts),
    })?;
    let result = match op {
        // The library has checked the axis against the rank.
        Unary::Logsumexp { keepdims: true } => result.insert_axis(Axis(settings.axis_index(xv.ndim()))),
        _ => result,
    };
    // Release the read borrows first, so that `out` may be written in place.
    drop((mask, x_read));
    deliver(py, result, out)
}

/// ``log Σ exp(x/τ)`` along an axis, which is removed (kept with length 1 if ``keepdims``).
///
/// Within 2 ulp of the exact result. An empty axis, or a row with nothing finite (all ``-inf``
/// or masked), gives ``-inf``, as SciPy does; ``+inf`` in a row gives ``+inf``; NaN gives NaN.
/// ``masked_rows`` is accepted for symmetry and has no effect. Other arguments as for
/// ``softmax``; ``out`` has the result's shape.
///
/// Example
/// -------
/// >>> float(softmax_rs.logsumexp(np.array([1000.0, 1000.0])))
/// 1000.6931471805599
/// >>> softmax_rs.logsumexp(np.zeros((2, 3), dtype=np.float32), axis=0, keepdims=True)
/// array([[0.6931472, 0.6931472, 0.6931472]], dtype=float32)
#[pyfunction]
#[pyo3(
    signature = (x, axis=-1, *, temperature=1.0, r#where=None, masked_rows="nan", keepdims=false, out=None),
    text_signature = "(x, axis=-1, *, temperature=1.0, where=None, masked_rows='nan', keepdims=False, out=None)"
)]
#[allow(clippy::too_many_arguments, reason = "one parameter per Python keyword argument")]
pub fn logsumexp<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    axis: isize,
    temperature: f64,
    r#where: Option<&Bound<'py, PyAny>>,
    masked_rows: &str,
    keepdims: bool,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let settings = Settings::new(axis, temperature, r#where, masked_rows)?;
    unary(py, Unary::Logsumexp { keepdims }, x, settings, out)
}
