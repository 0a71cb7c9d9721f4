//! The one dispatch point: which implementation of the row kernels this process uses, chosen
//! once and cached.
//!
//! The choice is a table of function pointers, so a call costs one indirect jump and no
//! feature test. This version has the portable path only; the vectorised paths join the table
//! here, each checked against it.

use std::sync::OnceLock;

use super::backward::{log_softmax_backward_row, softmax_backward_row};
use super::forward::{RowStats, Temperature};
use crate::options::MaskedRows;

type StatsFn = fn(&[f64], Option<&[bool]>, Temperature) -> RowStats;
type NormalizeFn = fn(&RowStats, &[f64], Option<&[bool]>, Temperature, MaskedRows, &mut [f64]);
type BackwardFn = fn(&[f64], &[f64], Option<&[bool]>, Temperature, &mut [f64]);

/// One implementation of the row kernels.
pub(crate) struct RowKernels {
    /// Its name, as [`crate::isa`] reports it.
    pub name: &'static str,
    pub stats: StatsFn,
    pub softmax: NormalizeFn,
    pub log_softmax: NormalizeFn,
    pub softmax_backward: BackwardFn,
    pub log_softmax_backward: BackwardFn,
}

static PORTABLE: RowKernels = RowKernels {
    name: "portable",
    stats: RowStats::of_row,
    softmax: RowStats::softmax_into,
    log_softmax: RowStats::log_softmax_into,
    softmax_backward: softmax_backward_row,
    log_softmax_backward: log_softmax_backward_row,
};

/// The row kernels of this process.
#[inline]
pub(crate) fn kernels() -> &'static RowKernels {
    static CHOSEN: OnceLock<&'static RowKernels> = OnceLock::new();
    CHOSEN.get_or_init(|| &PORTABLE)
}
