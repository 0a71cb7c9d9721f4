//! The Python module `softmax_rs`: the `softmax` library's operations on numpy arrays.
//!
//! Functions are named as in `scipy.special` and `torch.nn.functional` and take numpy arrays of
//! float16, float32 or float64 of any rank and strides, read in place. Every call checks its
//! arguments, releases the GIL while the kernels run (so Python threads scale), and reports bad
//! input as `TypeError` (a wrong dtype or type) or `ValueError` (bad values, shapes, axes or
//! class indices, with the library's message).
//!
//! With the GIL released, another Python thread could write into an input while a call reads
//! it, as with any numpy extension that releases the GIL; such a program has a data race of
//! its own. Overlapping writes between calls of this module are refused (`ValueError`), and
//! `out=` may alias an input (the result then goes through a temporary).

mod arrays;
mod backward;
mod errors;
mod forward;
mod loss;
mod options;
mod settings;

use pyo3::prelude::*;

/// The row-kernel implementation in use (``"portable"``, or the instruction set chosen at run time).
///
/// Example
/// -------
/// >>> isinstance(softmax_rs.isa(), str)
/// True
#[pyfunction]
fn isa() -> &'static str {
    softmax::isa().name()
}

/// The native part of `softmax_rs`; `python/softmax_rs/__init__.py` re-exports it.
#[pymodule]
fn _softmax_rs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(forward::softmax, m)?)?;
    m.add_function(wrap_pyfunction!(forward::log_softmax, m)?)?;
    m.add_function(wrap_pyfunction!(forward::logsumexp, m)?)?;
    m.add_function(wrap_pyfunction!(forward::sigmoid, m)?)?;
    m.add_function(wrap_pyfunction!(forward::log_sigmoid, m)?)?;
    m.add_function(wrap_pyfunction!(backward::softmax_backward, m)?)?;
    m.add_function(wrap_pyfunction!(backward::log_softmax_backward, m)?)?;
    m.add_function(wrap_pyfunction!(backward::sigmoid_backward, m)?)?;
    m.add_function(wrap_pyfunction!(backward::softmax_jacobian, m)?)?;
    m.add_function(wrap_pyfunction!(loss::cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(loss::nll_loss, m)?)?;
    m.add_function(wrap_pyfunction!(loss::binary_cross_entropy_with_logits, m)?)?;
    m.add_function(wrap_pyfunction!(isa, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
