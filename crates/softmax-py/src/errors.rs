//! Errors across the boundary: the library's errors become `ValueError` with its message, and a
//! kernel call runs with the GIL released and any panic caught.

use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

/// The library's error as a `ValueError` carrying its message (which names the value and where).
pub fn value_error(err: softmax::Error) -> PyErr {
    PyValueError::new_err(err.message().to_owned())
}

/// Runs a library call with the GIL released, so that other Python threads run meanwhile.
///
/// The library does not panic on any input; should a bug make it panic all the same, the panic
/// becomes a `RuntimeError` here rather than pyo3's `PanicException`, which escapes
/// `except Exception`.
pub fn detached<T, F>(py: Python<'_>, call: F) -> PyResult<T>
where
    F: Send + FnOnce() -> softmax::Result<T>,
    T: Send,
{
    match py.detach(|| catch_unwind(AssertUnwindSafe(call))) {
        Ok(result) => result.map_err(value_error),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(PyRuntimeError::new_err(format!("internal error in softmax_rs (please report it): {what}")))
        }
    }
}
