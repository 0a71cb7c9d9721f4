//! The one dispatch point: which implementation of the row kernels this process uses, chosen
//! once and cached.
//!
//! The choice is a table of function pointers, so a call costs one indirect jump and no
//! feature test. This version has the portable path only; the vectorised paths join the table
//! here, each checked against it.

use std::sync::OnceLock;

use super::backward::{log_softmax_backward_row, softmax_backward_row};
use super::forward::{Exact, Narrow, RowStats, Temperature};
use crate::element::Element;
use crate::options::MaskedRows;

type StatsFn = fn(&[f64], Option<&[bool]>, Temperature) -> RowStats;
type NormalizeFn = fn(&RowStats, &[f64], Option<&[bool]>, Temperature, MaskedRows, &mut [f64]);
type BackwardFn = fn(&[f64], &[f64], Option<&[bool]>, Temperature, &mut [f64]);

/// One implementation of the row kernels.
pub(crate) struct RowKernels {
    pub stats: StatsFn,
    pub softmax: NormalizeFn,
    pub log_softmax: NormalizeFn,
    pub softmax_backward: BackwardFn,
    pub log_softmax_backward: BackwardFn,
}

static PORTABLE_EXACT: RowKernels = RowKernels {
    stats: RowStats::of_row::<Exact>,
    softmax: RowStats::softmax_into::<Exact>,
    log_softmax: RowStats::log_softmax_into::<Exact>,
    softmax_backward: softmax_backward_row,
    log_softmax_backward: log_softmax_backward_row::<false>,
};

static PORTABLE_NARROW: RowKernels = RowKernels {
    stats: RowStats::of_row::<Narrow>,
    softmax: RowStats::softmax_into::<Narrow>,
    log_softmax: RowStats::log_softmax_into::<Narrow>,
    softmax_backward: softmax_backward_row,
    log_softmax_backward: log_softmax_backward_row::<true>,
};

/// The kernels of one instruction set, in both precisions.
struct KernelSet {
    /// For `f64` results: double-double throughout.
    exact: &'static RowKernels,
    /// For results of 24 bits or fewer: `f64` where it suffices.
    narrow: &'static RowKernels,
}

fn chosen() -> &'static KernelSet {
    static CHOSEN: OnceLock<KernelSet> = OnceLock::new();
    CHOSEN.get_or_init(|| KernelSet { exact: &PORTABLE_EXACT, narrow: &PORTABLE_NARROW })
}

/// The row kernels of this process for results of type `T`.
#[inline]
pub(crate) fn kernels_for<T: Element>() -> &'static RowKernels {
    let set = chosen();
    if T::NARROW { set.narrow } else { set.exact }
}

/// The row kernels of this process for `f64` results (and for work whose precision does not
/// depend on the element type).
#[inline]
pub(crate) fn kernels() -> &'static RowKernels {
    chosen().exact
}
