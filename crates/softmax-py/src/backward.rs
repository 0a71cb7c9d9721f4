//! The backward functions (vector–Jacobian products) and the batched softmax Jacobian.

use numpy::PyUntypedArray;
use pyo3::prelude::*;

use crate::arrays::{Float, Out, deliver, float_operand, primary_input, primary_typed, read, with_float};
use crate::errors::detached;
use crate::forward::Unary;
use crate::settings::Settings;

/// The vector–Jacobian products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backward {
    Softmax,
    LogSoftmax,
    Sigmoid,
}

impl Backward {
    /// The name of the forward output in messages.
    fn output_name(self) -> &'static str {
        match self {
            Backward::LogSoftmax => "ly",
            Backward::Softmax | Backward::Sigmoid => "y",
        }
    }
}

/// Defines a pyfunction `name(out_name, dy, axis=-1, *, temperature=1.0, where=None, out=None)`
/// computing a row-wise [`Backward`] operation, with the doc comments given.
macro_rules! vjp_function {
    ($(#[$doc:meta])* $name:ident($output:ident) => $op:expr, $text_signature:literal) => {
        $(#[$doc])*
        #[pyfunction]
        #[pyo3(
            signature = ($output, dy, axis=-1, *, temperature=1.0, r#where=None, out=None),
            text_signature = $text_signature
        )]
        #[allow(clippy::too_many_arguments, reason = "one parameter per Python keyword argument")]
        pub fn $name<'py>(
            py: Python<'py>,
            $output: &Bound<'py, PyAny>,
            dy: &Bound<'py, PyAny>,
            axis: isize,
            temperature: f64,
            r#where: Option<&Bound<'py, PyAny>>,
            out: Option<&Bound<'py, PyAny>>,
        ) -> PyResult<Bound<'py, PyAny>> {
            backward(py, $op, $output, dy, Settings::new(axis, temperature, r#where, "nan")?, out)
        }
    };
}

vjp_function! {
    /// The backward pass of ``softmax``: ``dx = y ⊙ (dy − ⟨dy, y⟩) / τ`` along the axis.
    ///
    /// ``y`` is the output of ``softmax``, ``dy`` the gradient of the loss with respect to it (same
    /// shape and dtype); pass the ``axis``, ``temperature`` and ``where`` of the forward call. The
    /// dot product is accumulated exactly. Masked positions, and positions whose probability is 0,
    /// get gradient 0. ``out`` as for ``softmax``.
    ///
    /// Example
    /// -------
    /// >>> y = softmax_rs.softmax(np.array([1.0, 2.0, 3.0]))
    /// >>> softmax_rs.softmax_backward(y, np.array([1.0, 0.0, 0.0]))
    /// array([ 0.08192507, -0.02203304, -0.05989202])
    softmax_backward(y) => Backward::Softmax,
    "(y, dy, axis=-1, *, temperature=1.0, where=None, out=None)"
}

vjp_function! {
    /// The backward pass of ``log_softmax``: ``dx = (dy − exp(ly) · Σ dy) / τ`` along the axis.
    ///
    /// ``ly`` is the output of ``log_softmax``; other arguments as for ``softmax_backward``.
    ///
    /// Example
    /// -------
    /// >>> ly = softmax_rs.log_softmax(np.array([0.0, 0.0]))
    /// >>> softmax_rs.log_softmax_backward(ly, np.array([1.0, 0.0]))
    /// array([ 0.5, -0.5])
    log_softmax_backward(ly) => Backward::LogSoftmax,
    "(ly, dy, axis=-1, *, temperature=1.0, where=None, out=None)"
}

/// The backward pass of ``sigmoid``: ``dx = dy ⊙ y ⊙ (1 − y) / τ``, element by element.
///
/// ``y`` is the output of ``sigmoid``; ``where=False`` positions get 0.
///
/// Example
/// -------
/// >>> softmax_rs.sigmoid_backward(np.array([0.5]), np.array([2.0]))
/// array([0.5])
#[pyfunction]
#[pyo3(signature = (y, dy, *, temperature=1.0, r#where=None, out=None))]
pub fn sigmoid_backward<'py>(
    py: Python<'py>,
    y: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    temperature: f64,
    r#where: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    backward(py, Backward::Sigmoid, y, dy, Settings::new(-1, temperature, r#where, "nan")?, out)
}

fn backward<'py>(
    py: Python<'py>,
    op: Backward,
    y: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    settings: Settings<'py>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (y, dtype) = primary_input(y, op.output_name())?;
    with_float!(dtype, T => backward_typed::<T>(py, op, &y, dy, &settings, out))
}

fn backward_typed<'py, T: Float>(
    py: Python<'py>,
    op: Backward,
    y: &Bound<'py, PyUntypedArray>,
    dy: &Bound<'py, PyAny>,
    settings: &Settings<'py>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = op.output_name();
    let y = primary_typed::<T>(y, name)?;
    let dy = float_operand::<T>(dy, "dy", name)?;
    let out = out.map(|o| Out::<T>::new(o, name)).transpose()?;
    let (y_read, dy_read) = (read(&y, name)?, read(&dy, "dy")?);
    let (yv, dyv) = (y_read.as_array(), dy_read.as_array());
    let mask = settings.borrow_mask(yv.shape())?;
    let opts = settings.options(&mask);
    // Softmax and log-softmax backward write straight into an `out` that Rust can view and that
    // overlaps neither input (as the forward functions do); sigmoid's goes through a temporary.
    if let Some(o) = &out
        && matches!(op, Backward::Softmax | Backward::LogSoftmax)
        && let Some(done) = o.write_with(yv.shape(), |ov| match op {
            Backward::LogSoftmax => softmax::log_softmax_backward_into(&yv, &dyv, ov, &opts),
            _ => softmax::softmax_backward_into(&yv, &dyv, ov, &opts),
        })?
    {
        return Ok(done);
    }
    let result = detached(py, || match op {
        Backward::Softmax => softmax::softmax_backward(&yv, &dyv, &opts),
        Backward::LogSoftmax => softmax::log_softmax_backward(&yv, &dyv, &opts),
        Backward::Sigmoid => softmax::sigmoid_backward(&yv, &dyv, &opts),
    })?;
    drop((mask, dy_read, y_read));
    deliver(py, result, out)
}

crate::forward::row_function! {
    /// The softmax Jacobian of every row along the axis: shape ``(…, K, K)``, where ``…`` is the
    /// shape of ``x`` without the axis and ``J[…, i, j] = (δᵢⱼ yᵢ − yᵢ yⱼ) / τ``.
    ///
    /// Masked positions have zero rows and columns. Arguments as for ``softmax``; ``out`` has the
    /// Jacobian's shape.
    ///
    /// Example
    /// -------
    /// >>> softmax_rs.softmax_jacobian(np.array([[0.0, 0.0]]))
    /// array([[[ 0.25, -0.25],
    ///         [-0.25,  0.25]]])
    softmax_jacobian => Unary::Jacobian
}
