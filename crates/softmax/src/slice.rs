//! The slice API: contiguous rows of `row_len` elements in a flat slice, for users of other
//! tensor types (candle, burn, their own buffers). It calls the same row kernels as the N-D API.
//!
//! ```
//! use softmax::{RowOptions, slice};
//! let logits = [1.0f32, 2.0, 3.0, 10.0, 10.0, 10.0];
//! let mut probs = [0.0f32; 6];
//! slice::softmax(&logits, &mut probs, 3, &RowOptions::new()).unwrap();
//! assert_eq!(probs[3], 1.0 / 3.0);
//! ```

use crate::element::Element;
use crate::error::{Error, ErrorKind, Result, check_len};
use crate::kernels::dispatch::{kernels, kernels_for};
use crate::kernels::forward::Temperature;
use crate::ops::backward::vector_backward_with;
use crate::ops::forward::{vector_logsumexp_with, vector_rows_with};
use crate::ops::{Normalize, normalize_row};
use crate::options::{RowOptions, check_temperature};

/// The number of rows, after checking that `len` splits into rows of `row_len`.
fn row_count(len: usize, row_len: usize) -> Result<usize> {
    match (len, row_len) {
        (0, 0) => Ok(0),
        (_, 0) => {
            Err(Error::new(ErrorKind::Option, format!("row length 0 cannot split a slice of {len} elements")))
        }
        _ if !len.is_multiple_of(row_len) => Err(Error::new(
            ErrorKind::Shape,
            format!("a slice of {len} elements does not split into rows of {row_len}"),
        )),
        _ => Ok(len / row_len),
    }
}

/// Validates the options and returns the temperature and the number of rows.
fn prepare(len: usize, row_len: usize, opts: &RowOptions<'_>) -> Result<(Temperature, usize)> {
    check_temperature(opts.temperature)?;
    if let Some(mask) = opts.mask {
        check_len("the mask", mask.len(), len, "the input")?;
    }
    Ok((Temperature::new(opts.temperature), row_count(len, row_len)?))
}

/// The vector kernels' rows, out of place from `src` or in place in `dst`, at any temperature
/// and with an optional mask; false where they do not run (nothing is then written that counts).
fn vector_rows_slice<T: Element>(
    op: Normalize,
    src: Option<&[T]>,
    dst: &mut [T],
    row_len: usize,
    opts: &RowOptions<'_>,
) -> bool {
    let (tau, mask, policy) = (opts.temperature, opts.mask, opts.masked_rows);
    if let Some(src) = src {
        return vector_rows_with(op, src, dst, row_len, tau, mask, policy);
    }
    // In place: the kernels read each row after writing part of it, so rows go through a
    // scratch copy, a bounded number at a time.
    let per_chunk = ((1 << 16) / row_len + 1) * row_len;
    let mut scratch = Vec::with_capacity(per_chunk.min(dst.len()));
    for (c, chunk) in dst.chunks_mut(per_chunk).enumerate() {
        scratch.clear();
        scratch.extend_from_slice(chunk);
        let mask = mask.map(|m| &m[c * per_chunk..c * per_chunk + chunk.len()]);
        if !vector_rows_with(op, &scratch, chunk, row_len, tau, mask, policy) {
            return false;
        }
    }
    true
}

fn normalize_rows<T: Element>(
    op: Normalize,
    src: Option<&[T]>,
    dst: &mut [T],
    row_len: usize,
    opts: &RowOptions<'_>,
) -> Result<()> {
    if let Some(src) = src {
        check_len("the output", dst.len(), src.len(), "the input")?;
    }
    let (tau, rows) = prepare(dst.len(), row_len, opts)?;
    if rows > 0 && vector_rows_slice(op, src, dst, row_len, opts) {
        return Ok(());
    }
    // Buffers only for rows that exist: an empty slice may come with any row length.
    let width = if rows == 0 { 0 } else { row_len };
    let (mut row, mut result) = (vec![0.0; width], vec![0.0; width]);
    for r in 0..rows {
        let range = r * row_len..(r + 1) * row_len;
        let input = src.map_or(&dst[range.clone()], |s| &s[range.clone()]);
        for (v, x) in row.iter_mut().zip(input) {
            *v = x.to_f64();
        }
        let mask = opts.mask.map(|m| &m[range.clone()]);
        normalize_row::<T>(op, &row, mask, tau, opts.masked_rows, &mut result);
        for (o, &v) in dst[range].iter_mut().zip(&result) {
            *o = T::from_f64(v);
        }
    }
    Ok(())
}

/// Softmax of each row of `src` into `dst` (see [`crate::softmax`] for the semantics).
///
/// # Errors
/// Lengths that do not split into rows of `row_len` or do not match, a bad temperature.
pub fn softmax<T: Element>(src: &[T], dst: &mut [T], row_len: usize, opts: &RowOptions<'_>) -> Result<()> {
    normalize_rows(Normalize::Softmax, Some(src), dst, row_len, opts)
}

/// Softmax of each row of `data`, in place.
///
/// # Errors
/// As [`softmax`].
pub fn softmax_inplace<T: Element>(data: &mut [T], row_len: usize, opts: &RowOptions<'_>) -> Result<()> {
    normalize_rows(Normalize::Softmax, None, data, row_len, opts)
}

/// Log-softmax of each row of `src` into `dst` (see [`crate::log_softmax`]).
///
/// # Errors
/// As [`softmax`].
pub fn log_softmax<T: Element>(
    src: &[T],
    dst: &mut [T],
    row_len: usize,
    opts: &RowOptions<'_>,
) -> Result<()> {
    normalize_rows(Normalize::LogSoftmax, Some(src), dst, row_len, opts)
}

/// Log-softmax of each row of `data`, in place.
///
/// # Errors
/// As [`softmax`].
pub fn log_softmax_inplace<T: Element>(data: &mut [T], row_len: usize, opts: &RowOptions<'_>) -> Result<()> {
    normalize_rows(Normalize::LogSoftmax, None, data, row_len, opts)
}

/// `logsumexp` of each row of `src`, one value per row into `dst` (see [`crate::logsumexp`]).
///
/// With `row_len = 0` and an empty `src` there are no rows, so `dst` must be empty.
///
/// # Errors
/// As [`softmax`], and a `dst` whose length is not the number of rows.
pub fn logsumexp<T: Element>(src: &[T], dst: &mut [T], row_len: usize, opts: &RowOptions<'_>) -> Result<()> {
    let (tau, rows) = prepare(src.len(), row_len, opts)?;
    if dst.len() != rows {
        return Err(Error::new(
            ErrorKind::Shape,
            format!("the output has length {} but the input has {rows} rows of {row_len}", dst.len()),
        ));
    }
    if rows > 0 && vector_logsumexp_with(src, dst, row_len, opts.temperature, opts.mask) {
        return Ok(());
    }
    let mut row = vec![0.0; if rows == 0 { 0 } else { row_len }];
    for (r, o) in dst.iter_mut().enumerate() {
        let range = r * row_len..(r + 1) * row_len;
        for (v, x) in row.iter_mut().zip(&src[range.clone()]) {
            *v = x.to_f64();
        }
        let mask = opts.mask.map(|m| &m[range]);
        *o = T::from_f64((kernels_for::<T>().stats)(&row, mask, tau).logsumexp(tau));
    }
    Ok(())
}

fn backward_rows<T: Element>(
    log: bool,
    y: &[T],
    dy: &[T],
    dx: &mut [T],
    row_len: usize,
    opts: &RowOptions<'_>,
) -> Result<()> {
    check_len("dy", dy.len(), y.len(), "the input")?;
    check_len("the output dx", dx.len(), y.len(), "the input")?;
    let (tau, rows) = prepare(y.len(), row_len, opts)?;
    if rows > 0 && vector_backward_with(log, y, dy, dx, row_len, opts.temperature, opts.mask) {
        return Ok(());
    }
    let k = kernels();
    let kernel = if log { k.log_softmax_backward } else { k.softmax_backward };
    let width = if rows == 0 { 0 } else { row_len };
    let (mut y_row, mut dy_row, mut result) = (vec![0.0; width], vec![0.0; width], vec![0.0; width]);
    for r in 0..rows {
        let range = r * row_len..(r + 1) * row_len;
        for ((a, b), (&yv, &dv)) in
            y_row.iter_mut().zip(dy_row.iter_mut()).zip(y[range.clone()].iter().zip(&dy[range.clone()]))
        {
            *a = yv.to_f64();
            *b = dv.to_f64();
        }
        kernel(&y_row, &dy_row, opts.mask.map(|m| &m[range.clone()]), tau, &mut result);
        for (o, &v) in dx[range].iter_mut().zip(&result) {
            *o = T::from_f64(v);
        }
    }
    Ok(())
}

/// The softmax backward pass per row (see [`crate::softmax_backward`]).
///
/// # Errors
/// As [`softmax`], and `dy` or `dx` of another length than `y`.
pub fn softmax_backward<T: Element>(
    y: &[T],
    dy: &[T],
    dx: &mut [T],
    row_len: usize,
    opts: &RowOptions<'_>,
) -> Result<()> {
    backward_rows(false, y, dy, dx, row_len, opts)
}

/// The log-softmax backward pass per row (see [`crate::log_softmax_backward`]).
///
/// # Errors
/// As [`softmax_backward`].
pub fn log_softmax_backward<T: Element>(
    ly: &[T],
    dy: &[T],
    dx: &mut [T],
    row_len: usize,
    opts: &RowOptions<'_>,
) -> Result<()> {
    backward_rows(true, ly, dy, dx, row_len, opts)
}
