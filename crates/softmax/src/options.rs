//! Options of the operations.

use ndarray::{ArrayView, ArrayViewD, Dimension};

use crate::error::{Error, ErrorKind, Result};

/// What a row with nothing to normalise gives: a row whose every entry is `−inf` or masked out.
///
/// (A row along an empty axis has no outputs at all, and `logsumexp` of any such row is `−inf`,
/// the logarithm of an empty sum, under either policy.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MaskedRows {
    /// Every output of the row is NaN, as PyTorch gives for `softmax` of an all-`−inf` row.
    #[default]
    Nan,
    /// Softmax gives 0, log-softmax `−inf`, and the gradients 0.
    Zeros,
}

/// Options of the N-D forward and backward operations.
///
/// ```
/// use softmax::{MaskedRows, Options};
/// let opts = Options::new().axis(0).temperature(0.5).masked_rows(MaskedRows::Zeros);
/// assert_eq!(opts.axis, 0);
/// ```
#[derive(Clone, Debug)]
pub struct Options<'a> {
    /// The axis the operation normalises along; negative counts from the end. Default −1.
    pub axis: isize,
    /// The temperature `τ`: the operation acts on `x / τ`. Finite and positive; default 1.
    pub temperature: f64,
    /// Which positions take part (`true`) and which are excluded (`false`), of the same shape as
    /// the input. Excluded positions give 0 in softmax and `−inf` in log-softmax, take no part in
    /// the maximum or the sum, and get gradient 0.
    pub mask: Option<ArrayViewD<'a, bool>>,
    /// What a row with nothing finite to normalise gives.
    pub masked_rows: MaskedRows,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options { axis: -1, temperature: 1.0, mask: None, masked_rows: MaskedRows::Nan }
    }
}

impl<'a> Options<'a> {
    /// The defaults: last axis, temperature 1, no mask, [`MaskedRows::Nan`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the axis (negative counts from the end).
    pub fn axis(mut self, axis: isize) -> Self {
        self.axis = axis;
        self
    }

    /// Sets the temperature.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = temperature;
        self
    }

    /// Sets the mask (`false` = excluded); it must have the input's shape.
    pub fn mask<D: Dimension>(mut self, mask: ArrayView<'a, bool, D>) -> Self {
        self.mask = Some(mask.into_dyn());
        self
    }

    /// Sets the policy for rows with nothing finite to normalise.
    pub fn masked_rows(mut self, policy: MaskedRows) -> Self {
        self.masked_rows = policy;
        self
    }
}

/// Options of the slice API, which works on contiguous rows of a given length.
///
/// ```
/// use softmax::RowOptions;
/// let mask = [true, false, true];
/// let opts = RowOptions::new().temperature(2.0).mask(&mask);
/// assert_eq!(opts.temperature, 2.0);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RowOptions<'a> {
    /// The temperature `τ`, finite and positive; default 1.
    pub temperature: f64,
    /// Which positions take part, one flag per element of the whole slice.
    pub mask: Option<&'a [bool]>,
    /// What a row with nothing finite to normalise gives.
    pub masked_rows: MaskedRows,
}

impl Default for RowOptions<'_> {
    fn default() -> Self {
        RowOptions { temperature: 1.0, mask: None, masked_rows: MaskedRows::Nan }
    }
}

impl<'a> RowOptions<'a> {
    /// The defaults: temperature 1, no mask, [`MaskedRows::Nan`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the temperature.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = temperature;
        self
    }

    /// Sets the mask (`false` = excluded), one flag per element.
    pub fn mask(mut self, mask: &'a [bool]) -> Self {
        self.mask = Some(mask);
        self
    }

    /// Sets the policy for rows with nothing finite to normalise.
    pub fn masked_rows(mut self, policy: MaskedRows) -> Self {
        self.masked_rows = policy;
        self
    }
}

/// Checks a temperature: finite and positive.
pub(crate) fn check_temperature(temperature: f64) -> Result<()> {
    if temperature.is_finite() && temperature > 0.0 {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Temperature,
            format!("temperature must be finite and positive, got {temperature}"),
        ))
    }
}

/// Maps a possibly negative axis onto `0..rank`.
pub(crate) fn check_axis(axis: isize, rank: usize) -> Result<usize> {
    let r = rank as isize;
    if (-r..r).contains(&axis) {
        Ok(if axis < 0 { (axis + r) as usize } else { axis as usize })
    } else {
        Err(Error::new(
            ErrorKind::Axis,
            format!("axis {axis} is out of range for an array of rank {rank} (valid: {}..{})", -r, r),
        ))
    }
}
