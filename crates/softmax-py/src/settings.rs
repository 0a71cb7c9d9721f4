//! The keyword arguments every forward and backward function shares: `axis`, `temperature`,
//! `where` and `masked_rows`, turned into the library's `Options`.

use ndarray::ArrayViewD;
use numpy::{PyArrayDyn, PyReadonlyArrayDyn};
use pyo3::prelude::*;
use softmax::{MaskedRows, Options};

use crate::arrays::{broadcast_mask, mask_operand, read};
use crate::options::masked_rows;

/// `axis`, `temperature`, `where` and `masked_rows`, checked for type; values are checked by the
/// library, which names them in its errors.
pub struct Settings<'py> {
    axis: isize,
    temperature: f64,
    mask: Option<Bound<'py, PyArrayDyn<bool>>>,
    masked_rows: MaskedRows,
}

/// A read borrow of the mask, kept alive while `Options` views it.
pub struct MaskBorrow<'py>(Option<PyReadonlyArrayDyn<'py, bool>>);

impl<'py> Settings<'py> {
    /// Checks the arguments' types and parses `masked_rows`.
    pub fn new(
        axis: isize,
        temperature: f64,
        mask: Option<&Bound<'py, PyAny>>,
        masked_rows_name: &str,
    ) -> PyResult<Self> {
        Ok(Settings {
            axis,
            temperature,
            mask: mask.map(|m| mask_operand(m, "where")).transpose()?,
            masked_rows: masked_rows(masked_rows_name)?,
        })
    }

    /// Borrows the mask for reading, broadcast to the input's `shape`.
    pub fn borrow_mask(&self, shape: &[usize]) -> PyResult<MaskBorrow<'py>> {
        let borrow = |m| read(&broadcast_mask(m, shape, "where")?, "where");
        Ok(MaskBorrow(self.mask.as_ref().map(borrow).transpose()?))
    }

    /// The axis as an index into an array of rank `ndim`, once the library has checked it.
    pub fn axis_index(&self, ndim: usize) -> usize {
        if self.axis < 0 { (self.axis + ndim as isize) as usize } else { self.axis as usize }
    }

    /// The library's options, viewing the borrowed mask.
    pub fn options<'a>(&self, mask: &'a MaskBorrow<'py>) -> Options<'a> {
        let mask: Option<ArrayViewD<'a, bool>> = mask.0.as_ref().map(|m| m.as_array());
        Options { axis: self.axis, temperature: self.temperature, mask, masked_rows: self.masked_rows }
    }
}
