//! String keyword arguments as the library's option types: masked-row policies, reductions.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use softmax::{MaskedRows, Reduction};

/// `masked_rows="nan" | "zeros"`.
pub fn masked_rows(name: &str) -> PyResult<MaskedRows> {
    match name {
        "nan" => Ok(MaskedRows::Nan),
        "zeros" => Ok(MaskedRows::Zeros),
        other => {
            Err(PyValueError::new_err(format!("masked_rows must be \"nan\" or \"zeros\", got {other:?}")))
        }
    }
}

/// `reduction="none" | "sum" | "mean"`.
pub fn reduction(name: &str) -> PyResult<Reduction> {
    match name {
        "none" => Ok(Reduction::None),
        "sum" => Ok(Reduction::Sum),
        "mean" => Ok(Reduction::Mean),
        other => Err(PyValueError::new_err(format!(
            "reduction must be \"none\", \"sum\" or \"mean\", got {other:?}"
        ))),
    }
}
