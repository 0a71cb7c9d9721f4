//! The N-D operations users call: validation, layout (any axis, any strides) and the mapping of
//! rows onto the row kernels. No numerics live here.

pub(crate) mod backward;
pub(crate) mod forward;
pub(crate) mod loss;

use ndarray::{ArrayView1, ArrayViewD, ArrayViewMut1, Dimension};

use crate::element::Element;
use crate::error::{Error, ErrorKind, Result};
use crate::kernels::dispatch::kernels_for;
use crate::kernels::forward::Temperature;
use crate::options::MaskedRows;

/// Which normalisation a forward row computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Normalize {
    Softmax,
    LogSoftmax,
}

/// One forward row for results of type `T`, through the dispatch table: statistics, then the
/// normalised outputs.
pub(crate) fn normalize_row<T: Element>(
    op: Normalize,
    x: &[f64],
    mask: Option<&[bool]>,
    tau: Temperature,
    policy: MaskedRows,
    out: &mut [f64],
) {
    let k = kernels_for::<T>();
    let stats = (k.stats)(x, mask, tau);
    let normalize = match op {
        Normalize::Softmax => k.softmax,
        Normalize::LogSoftmax => k.log_softmax,
    };
    normalize(&stats, x, mask, tau, policy, out);
}

/// `Error` for two shapes that must be equal.
pub(crate) fn check_same_shape(what: &str, shape: &[usize], input_shape: &[usize]) -> Result<()> {
    if shape == input_shape {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Shape,
            format!("{what} has shape {shape:?} but the input has shape {input_shape:?}"),
        ))
    }
}

/// Checks an optional mask against the input's shape.
pub(crate) fn check_mask(mask: Option<&ArrayViewD<'_, bool>>, input_shape: &[usize]) -> Result<()> {
    match mask {
        Some(m) => check_same_shape("the mask", m.shape(), input_shape),
        None => Ok(()),
    }
}

/// Calls `f` with an optional mask's flags in standard (row-major) order, laid out as a
/// contiguous input's elements (copied only where the mask is not laid out so); `f(None)`
/// without a mask.
pub(crate) fn with_mask_rows<R>(
    mask: Option<&ArrayViewD<'_, bool>>,
    f: impl FnOnce(Option<&[bool]>) -> R,
) -> R {
    match mask {
        None => f(None),
        Some(mask) => match mask.as_slice() {
            Some(flags) => f(Some(flags)),
            // `iter` walks the flags in standard order.
            None => f(Some(&mask.iter().copied().collect::<Vec<bool>>())),
        },
    }
}

/// An optional mask cut like its input into pieces of `size` flags (the last may be shorter),
/// or `None` for each of the input's `len.div_ceil(size)` pieces without one: to zip beside the
/// input's chunks.
pub(crate) fn mask_chunks(mask: Option<&[bool]>, len: usize, size: usize) -> Vec<Option<&[bool]>> {
    match mask {
        Some(m) => m.chunks(size).map(Some).collect(),
        None => vec![None; len.div_ceil(size)],
    }
}

/// Widens a lane (any stride) into a reusable `f64` buffer.
pub(crate) fn load<T: Element>(lane: ArrayView1<'_, T>, buffer: &mut Vec<f64>) {
    buffer.clear();
    buffer.extend(lane.iter().map(|v| v.to_f64()));
}

/// The next lane of an optional mask (walked in step with the input's lanes), copied into a
/// reusable buffer; `None` when there is no mask.
pub(crate) fn next_mask_row<'m, 'b>(
    lanes: &mut Option<impl Iterator<Item = ArrayView1<'m, bool>>>,
    buffer: &'b mut Vec<bool>,
) -> Option<&'b [bool]> {
    let lane = lanes.as_mut()?.next()?;
    buffer.clear();
    buffer.extend(lane.iter().copied());
    Some(buffer.as_slice())
}

/// Rounds results once into a lane (any stride).
pub(crate) fn store<T: Element>(values: &[f64], lane: ArrayViewMut1<'_, T>) {
    for (dst, &v) in lane.into_iter().zip(values) {
        *dst = T::from_f64(v);
    }
}

/// Elements per block of lanes copied into rows (whole lanes; at least one lane): the block's
/// rows and results stay in L2.
pub(crate) const GATHER_BLOCK: usize = 1 << 14;

/// How many adjacent lanes of a contiguous `(outer, k, inner)` array (`k` the axis) go into one
/// block of rows.
pub(crate) fn lanes_per_block(k: usize, inner: usize) -> usize {
    (GATHER_BLOCK / k.max(1)).clamp(8, 256).min(inner)
}

/// Whether the slabs (or blocks of rows) of `slab` elements of a contiguous array of `total` are
/// worth sharing among the pool's threads (at least two, 2¹⁶ elements in all, and more than one
/// thread). Each lane's arithmetic is the same either way. Below that, waking the other thread
/// costs more than it saves: the blocks of lanes copied into rows along a non-last axis (16 000
/// elements at a time) ran the backward pass 2–3× slower when each block was shared out.
pub(crate) fn split_slabs(total: usize, slab: usize) -> bool {
    total >= 1 << 16 && total >= 2 * slab && rayon::current_num_threads() > 1
}

/// Lanes `j0..j0 + b` of a contiguous `(k, inner)` slab (`k` the axis) copied into `b` rows of `k`
/// with the current instruction set (see `kernels::fast::transpose`).
pub(crate) fn lanes_to_rows<T: Copy>(
    slab: &[T],
    rows: &mut [T],
    k: usize,
    inner: usize,
    j0: usize,
    b: usize,
) {
    crate::kernels::fast::lanes_to_rows(crate::kernels::fast::current(), slab, rows, (k, inner, j0, b));
}

/// The inverse of [`lanes_to_rows`]: `b` rows of `k` copied into lanes `j0..j0 + b` of the slab.
pub(crate) fn rows_to_lanes<T: Copy>(
    rows: &[T],
    slab: &mut [T],
    k: usize,
    inner: usize,
    j0: usize,
    b: usize,
) {
    crate::kernels::fast::rows_to_lanes(crate::kernels::fast::current(), rows, slab, (k, inner, j0, b));
}

/// Turns an internal dynamic-rank result back into the caller's dimension type.
pub(crate) fn into_dim<T, D: Dimension>(a: ndarray::ArrayD<T>) -> Result<ndarray::Array<T, D>> {
    a.into_dimensionality::<D>()
        .map_err(|e| Error::new(ErrorKind::Shape, format!("internal error: result rank does not fit: {e}")))
}
