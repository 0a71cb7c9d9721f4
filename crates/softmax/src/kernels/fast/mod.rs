//! Vectorised kernels for AVX-512 and AVX2+FMA: for `f32`, softmax, log-softmax and logsumexp
//! along the last axis, the softmax backward pass, the column kernels (a non-last axis) and the
//! fused cross-entropy; for `f64` (`x86_f64`), softmax, log-softmax, logsumexp, the softmax and
//! log-softmax backward passes and the fused cross-entropy, and for `f16`/`bf16` (`x86::half`),
//! softmax and log-softmax, along the last axis, each with its own plan described there. What
//! follows is the `f32` plan.
//!
//! # Method
//! Three passes over a row `x` of `f32`:
//! 1. the maximum `m`;
//! 2. `e_i = exp(x_i − j·ln 2)`, where `j = round(m / ln 2) − 2`, as `hi + lo` (two `f32`s, the
//!    pair within 1.5·10⁻⁹ relative, 2⁻²⁹·³; 2.9·10⁻⁹ with AVX2), summed in `f64` (the `lo`
//!    parts in `f32`); softmax also stores `hi`, the term rounded to `f32`, in the output. For
//!    log-softmax, logsumexp and the cross-entropy the maximum's ties are counted apart, so that
//!    the sum relative to the maximum is `c + rest` with `rest` exact to a few ulp of itself;
//! 3. softmax: each stored term multiplied by `1/s` (an `f32` pair) with one rounding (see
//!    [`stored_scale`]); log-softmax: `y_i = RN((x_i − m) − ln(c + rest))` in `f64`.
//!
//! The exponential reduces `x` itself (not `x − m`, which `f32` would round):
//! `n = round(x·2^b/ln 2)` and `r = x − n·ln 2/2^b`, with `ln 2/2^b = C1 + C2`; `x − n·C1` is
//! exact (one FMA) for every `x` the kernels take, so `r` carries one rounding. `2^((n mod 2^b)/2^b)`
//! comes from a table held in registers (`b = 5` with AVX-512, one `vpermt2ps` for each of the
//! table's high and low parts; `b = 4` with AVX2, two `vpermps` and a blend), as an `f32` pair
//! good to 2⁻⁴⁹, and `exp(r)` from a polynomial of degree 3 (AVX-512) or 4 (AVX2), within 2⁻³³
//! on `|r| ≤ 1.01·ln 2/2^(b+1)`. Scaling by `2^(⌊n/2^b⌋ − j + 2)` keeps every term that can
//! produce an output above `f32::MIN_POSITIVE` a normal number.
//!
//! Error budget per softmax output, in ulp: 0.5 for the final rounding; up to `c_m/2 < 1` for
//! the stored term's rounding to `f32`, where `c_m ∈ [1, 2)` is the significand of `1/s` (an
//! error of half an ulp of the term is seen by the output in its own ulps scaled by the ratio
//! of their significands); and about four times the terms' relative error for the term and
//! the sum, seen by an output whose significand is near 2: 0.13 (0.2 with AVX2). That bounds it
//! near 1.65; measured at most 1.375 in the accuracy report, 1.45 over 1.2 M normal outputs of
//! rows spread over ±300, and 1.48 in a random search over rows built to share one rounding
//! (many copies of one value). Storing the term halves pass 3's work; an earlier version
//! recomputed it there instead (0.89 ulp with the previous exponential, 0.52 with this one, at
//! about two thirds of this speed). Pass 3 multiplies by `(1/s)·2³²` and scales the product
//! back by `2⁻³²` last, which is exact for every normal output, so that the small product of
//! the pair stays normal for outputs near `f32::MIN_POSITIVE`. A term that is subnormal in
//! `f32` only feeds outputs below `f32::MIN_POSITIVE` as long as `1/s` (times the
//! cross-entropy's factor) is at most 1; rows where it is not recompute the terms from `x`.
//! A stored term equal to the maximum's own gets the maximum's probability `RN(e_max/s)`
//! instead, so that a row of `k` equal values gives exactly `RN(1/k)`. Rows longer than
//! [`CHUNK`] (and the cross-entropy's gradient) get the same from the tie records of pass 2
//! ([`Ties`]); along an axis longer than [`AXIS_CHUNK`], whose chunks store terms relative to
//! their own maxima, ties are scaled like the other terms (within the bound, not exact).
//! Log-softmax reads no term back: its error is the final rounding plus `ln s`'s, 0.50 ulp
//! measured.
//!
//! Rows the kernels do not take go to the exact portable path, row by row: a NaN or `+inf`
//! (`−inf` entries are taken: their terms are 0), a maximum beyond ±[`MAX_ABS_MAX`], and for
//! logsumexp a row where `m + ln s` cancels (rows of log-probabilities). Rows under a
//! temperature or a mask are prepared for these kernels first (`prepare`, and see
//! `ops::forward::vector_rows_with`). The softmax backward pass and the column kernels (a
//! non-last axis) follow the same plan.
//!
//! Rows longer than [`CHUNK`] are cut into chunks that take passes 1 and 2 back to back while
//! they are in L2, each relative to its own maximum, and are merged in order (see
//! [`long_stats`]); pass 3 runs over the chunks in parallel. Batches of shorter rows are shared
//! among threads a task of rows at a time. Either way the arithmetic of every output is fixed by
//! the input alone, so results are bitwise the same for any number of threads.
//!
//! The fused cross-entropy ([`cross_entropy_rows_f32`]) is passes 1–3 of softmax with the loss
//! and the gradient's factor taken from the same statistics. Softmax along a non-last axis and
//! rows of 2 to 16 elements (the column kernels) store their terms the same way, in the output
//! at each entry's place, with each column's own `rh + rl` (an axis cut into chunks: per chunk
//! and column, relative to the chunk's maximum, as long rows are); measured 1.47 and 1.48 ulp
//! at most over 1.6 M and 6.9 M outputs.
//!
//! On other architectures (ARM included: there are no NEON kernels yet, as nothing here could
//! build or test them) every row runs the portable path.

#![allow(unsafe_code)]

mod prepare;
mod transpose;
#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "x86_64")]
mod x86_f64;

use std::sync::atomic::{AtomicU8, Ordering};

pub(crate) use prepare::{mask_same, mask_widen, narrow_from_f64, narrow_to_odd_f32, tempered, zero_masked};
pub(crate) use transpose::{lanes_to_rows, rows_to_lanes};

/// The instruction sets the kernels are built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Isa {
    /// Plain Rust in double-double: the reference every other path is checked against.
    Portable,
    /// x86-64 with AVX2 and FMA (8 lanes of `f32`).
    Avx2,
    /// x86-64 with AVX-512 F and DQ (16 lanes of `f32`).
    Avx512,
}

impl Isa {
    /// The name used by `SOFTMAX_ISA` and [`crate::isa`]: `portable`, `avx2` or `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The instruction set named `name` (as [`Isa::name`] spells it).
    pub fn from_name(name: &str) -> Option<Isa> {
        match name.trim().to_ascii_lowercase().as_str() {
            "portable" | "none" | "scalar" => Some(Isa::Portable),
            "avx2" => Some(Isa::Avx2),
            "avx512" | "avx-512" => Some(Isa::Avx512),
            _ => None,
        }
    }

    /// Whether this machine can run it.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512dq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every instruction set this machine can run, best first.
    pub fn available() -> Vec<Isa> {
        [Isa::Avx512, Isa::Avx2, Isa::Portable].into_iter().filter(|isa| isa.is_available()).collect()
    }

    fn code(self) -> u8 {
        match self {
            Isa::Portable => 1,
            Isa::Avx2 => 2,
            Isa::Avx512 => 3,
        }
    }

    fn from_code(code: u8) -> Isa {
        match code {
            2 => Isa::Avx2,
            3 => Isa::Avx512,
            _ => Isa::Portable,
        }
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// 0 until chosen; then an [`Isa::code`].
static CHOSEN: AtomicU8 = AtomicU8::new(0);

/// The instruction set this process uses: `SOFTMAX_ISA` if set to an available one, otherwise the
/// best available. Read once; [`set_isa`] changes it.
pub(crate) fn current() -> Isa {
    match CHOSEN.load(Ordering::Relaxed) {
        0 => {
            let best = Isa::available()[0];
            let isa = match std::env::var("SOFTMAX_ISA") {
                Ok(name) => Isa::from_name(&name).filter(|isa| isa.is_available()).unwrap_or(best),
                Err(_) => best,
            };
            CHOSEN.store(isa.code(), Ordering::Relaxed);
            isa
        }
        code => Isa::from_code(code),
    }
}

/// Pins the instruction set for the whole process (for tests and benchmarks comparing paths).
///
/// # Errors
/// An instruction set this machine cannot run.
pub(crate) fn set_isa(isa: Isa) -> Result<(), Isa> {
    if isa.is_available() {
        CHOSEN.store(isa.code(), Ordering::Relaxed);
        Ok(())
    } else {
        Err(isa)
    }
}

/// The largest `|max|` of a row the vector path takes: it keeps `|x| < 2810` for every `x` within
/// 110 of the maximum, inside the range where the reduction's first step is exact (`x − n·C1`,
/// see the method above; `x86`'s tests check the exponential at maxima of ±2700).
pub(crate) const MAX_ABS_MAX: f32 = 2700.0;

/// Whether a row (or chunk) with this maximum is one the vector kernels take: not NaN, not
/// infinite, and within ±[`MAX_ABS_MAX`].
pub(crate) fn in_range(max: f32) -> bool {
    !max.is_nan() && max.abs() <= MAX_ABS_MAX
}

/// Which forward operation a row pass computes (the N-D layer's own enum).
pub(crate) use crate::ops::Normalize as Op;

/// The statistics of pass 2, relative to the maximum: `Σ exp(x_i − m) = ties + rest`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Stats {
    pub max: f32,
    /// `4·exp(m − j·ln 2)`: the (unrounded) term of each tie of the maximum.
    pub e_max: f64,
    /// The number of entries equal to the maximum.
    pub ties: f64,
    /// `Σ` over entries below the maximum of `4·exp(x_i − j·ln 2)`.
    pub rest: f64,
}

impl Stats {
    /// `j = round(m / ln 2)` exactly as the vector code rounds it, and the shift it implies.
    pub fn shift(max: f32) -> f32 {
        (max * LOG2_E).round_ties_even() - 2.0
    }

    pub fn new(max: f32, ties: f64, rest: f64) -> Stats {
        let j = Stats::shift(max) as f64;
        // m − j·ln 2 is within 0.35 of 2·ln 2: the crate's own f64 exponential (within an ulp)
        // is plenty, and cheaper than a call into libm, which short rows notice. The column
        // kernels compute the same bits for a vector of maxima (`x86::stats_lanes`).
        let e_max = crate::kernels::exp::exp_lanes(max as f64 - j * std::f64::consts::LN_2);
        Stats { max, e_max, ties, rest }
    }

    /// `Σ exp(x_i − m)` minus one, to full relative accuracy: `(c − 1) + rest/e_max`.
    pub fn sum_minus_one(&self) -> f64 {
        (self.ties - 1.0) + self.rest / self.e_max
    }

    /// `Σ 4·exp(x_i − j·ln 2)`, the sum of the terms pass 2 forms (and stores).
    pub fn sum(&self) -> f64 {
        self.ties * self.e_max + self.rest
    }

    /// `ln Σ exp(x_i − m)`.
    pub fn ln_sum(&self) -> f64 {
        // Within 2⁻⁵⁰, far below what an `f32` result can see; the bits the vector kernels'
        // batches of rows compute for it (`x86::ln_sums`).
        crate::kernels::exp::ln_1p_f64(self.sum_minus_one())
    }

    /// `logsumexp` of the row rounded to `f32` (see [`lse_f32`]).
    pub fn logsumexp_f32(&self) -> Option<f32> {
        lse_f32(self.max, self.ln_sum())
    }

    /// The softmax of each entry equal to the maximum: `1/Σ exp(x_i − m)`, rounded once.
    pub fn top_probability(&self) -> f32 {
        (1.0 / (self.ties + self.rest / self.e_max)) as f32
    }
}

/// `m + ln s` rounded to `f32`, or `None` where the two cancel too far for the vector path.
/// The sum's terms are each within 2⁻²⁸ (see `x86::Consts::exp_parts`), so `ln s` is within
/// 2⁻²⁸·`ln s` (ties counted exactly: the error is at most `2⁻²⁸·rest/s ≤ 2⁻²⁸·ln s`), and
/// `ln_1p_f64` adds 2⁻⁵⁰ of it. Where `|m + ln s| ≥ ln s/4` that is at most 2⁻²⁶ of the result,
/// a quarter of an `f32` ulp before the one rounding; rows of log-probabilities, whose
/// logsumexp is a tiny number next to `m`, fall below and take the portable path.
pub(crate) fn lse_f32(max: f32, ln_s: f64) -> Option<f32> {
    let lse = f64::from(max) + ln_s;
    (lse.abs() >= 0.25 * ln_s).then_some(lse as f32)
}

pub(crate) const LOG2_E: f32 = std::f32::consts::LOG2_E;

/// Where the row's maximum occurs, recorded in pass 2 so that pass 3 can give those outputs
/// their exact value; if there are too many ties to record, pass 3 scans the row instead.
pub(crate) struct Ties {
    at: [(usize, u32); 8],
    count: usize,
    overflow: bool,
}

impl Ties {
    pub(crate) fn new() -> Self {
        Ties { at: [(0, 0); 8], count: 0, overflow: false }
    }

    #[inline(always)]
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code, reason = "only the x86 kernels record ties"))]
    pub(crate) fn record(&mut self, start: usize, bits: u32) {
        if self.count < self.at.len() {
            self.at[self.count] = (start, bits);
            self.count += 1;
        } else {
            self.overflow = true;
        }
    }

    pub(crate) fn apply(&self, x: &[f32], y: &mut [f32], max: f32, value: f32) {
        if self.overflow {
            for (yi, &xi) in y.iter_mut().zip(x) {
                if xi == max {
                    *yi = value;
                }
            }
            return;
        }
        for &(start, mut bits) in &self.at[..self.count] {
            while bits != 0 {
                let lane = bits.trailing_zeros() as usize;
                // Tail lanes beyond the row are padding and never equal the maximum.
                y[start + lane] = value;
                bits &= bits - 1;
            }
        }
    }
}

/// What a kernel calls for a row it does not take: the portable path for one row.
pub(crate) type Fallback = dyn Fn(&[f32], &mut [f32]) + Sync;
/// As [`Fallback`], for `f64` rows.
pub(crate) type Fallback64 = dyn Fn(&[f64], &mut [f64]) + Sync;
/// As [`BackwardFallback`], for `f64` rows.
pub(crate) type BackwardFallback64 = dyn Fn(&[f64], &[f64], &mut [f64]) + Sync;
/// As [`LseFallback`], for `f64` rows.
pub(crate) type LseFallback64 = dyn Fn(&[f64]) -> f64 + Sync;
/// As [`Fallback`], for logsumexp.
pub(crate) type LseFallback = dyn Fn(&[f32]) -> f32 + Sync;
/// As [`Fallback`], for the softmax backward pass: `(y, dy, dx)`.
pub(crate) type BackwardFallback = dyn Fn(&[f32], &[f32], &mut [f32]) + Sync;

/// Softmax or log-softmax along the middle axis of `(outer, k, inner)`, for a range of columns,
/// rejected columns listed.
type ColumnsFn = unsafe fn(Op, &[f32], *mut f32, usize, usize, (usize, usize), &mut Vec<(usize, usize)>);
/// `(x, y, start, inner, rows, width, given maxima, out)`: see `x86::avx512::column_stats`.
type ColumnStatsFn =
    unsafe fn(&[f32], *mut f32, usize, usize, usize, usize, Option<&[f32]>, &mut [ColumnPart]);
/// `(y, start, inner, rows, width, factors)`: see `x86::avx512::column_scale`.
type ColumnScaleFn = unsafe fn(*mut f32, usize, usize, usize, usize, &[[f32; 3]]);
/// `(op, x, y, start, inner, rows, width, stats)`: see `x86::avx512::column_apply`.
type ColumnApplyFn = unsafe fn(Op, &[f32], *mut f32, usize, usize, usize, usize, &[Stats]);

/// Columns of one call of the column kernels: four vectors of 16 lanes side by side.
pub(crate) const COLUMN_BAND: usize = 64;

/// What passes 1 and 2 found in one column over a range of its axis.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code, reason = "only the x86 kernels build parts"))]
pub(crate) enum ColumnPart {
    /// The statistics relative to the range's own maximum.
    Summed(Stats),
    /// The range lies wholly far below the reduction's range (or is `−inf`), with this
    /// maximum: summed later against the whole column's.
    Later(f32),
    /// A NaN, `+inf` or a maximum above `MAX_ABS_MAX`: the column goes to the portable path.
    Reject,
}

/// Stand-in statistics of a column the vector path does not take: its lanes compute something
/// harmless, which the caller overwrites.
pub(crate) const PLACEHOLDER: Stats = Stats { max: 0.0, e_max: 1.0, ties: 1.0, rest: 0.0 };

/// A non-last axis longer than this is cut into chunks of this many entries, always (whatever
/// the number of threads), as long rows are cut into [`CHUNK`]s: each chunk of a band of
/// columns (at most 64 × 1024 values, 256 KiB) takes its maxima and then its sums while it is in
/// L2, the chunks run in parallel, and their statistics are merged in order.
pub(crate) const AXIS_CHUNK: usize = 1024;

/// The output pointer shared by tasks that write disjoint columns.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: the tasks given one `SharedOut` write disjoint elements (see `columns_f32`).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// The pointer (a method, so that closures capture the whole `Sync` wrapper).
    fn get(&self) -> *mut f32 {
        self.0
    }
}

/// The entry points of one instruction set (`f32`, then `f64`).
struct Kernels {
    rows: unsafe fn(Op, &[f32], &mut [f32], usize, &Fallback),
    lse_rows: unsafe fn(&[f32], &mut [f32], usize, &LseFallback),
    lse_columns: unsafe fn(&[f32], usize, &mut [f32], &mut Vec<usize>),
    ce_columns: CeColumnsFn,
    max: unsafe fn(&[f32]) -> f32,
    sum: unsafe fn(&[f32], f32, &mut Ties) -> (f64, f64),
    sum_store: SumStoreFn,
    scale: unsafe fn(&mut [f32], f32, f32, f32),
    exp_scale: unsafe fn(&[f32], &mut [f32], f32, f32, f32),
    /// The last argument: whether to store `y` past the caches (see [`STREAM_FROM`]).
    log: unsafe fn(&[f32], &mut [f32], f64, f64, bool),
    backward_rows: unsafe fn(&[f32], &[f32], &mut [f32], usize, &BackwardFallback),
    columns: ColumnsFn,
    column_stats: ColumnStatsFn,
    column_apply: ColumnApplyFn,
    column_scale: ColumnScaleFn,
    dot: unsafe fn(&[f32], &[f32]) -> f64,
    /// The last argument: whether to store `dx` past the caches (see [`STREAM_FROM`]).
    vjp: unsafe fn(&[f32], &[f32], &mut [f32], f64, bool),
    ce_rows: unsafe fn(&CeRowStats) -> [[f64; 16]; 4],
    /// The `f64` kernels (see `x86_f64`).
    rows64: unsafe fn(Op, &[f64], &mut [f64], usize, &Fallback64),
    lse_rows64: unsafe fn(&[f64], &mut [f64], usize, &LseFallback64),
    backward_rows64: BackwardRows64,
    cross_entropy_row64: CrossEntropyRow64,
    cross_entropy_rows64: CrossEntropyRows64,
}

/// `f64` rows shorter than this go through the kernels in batches of rows (log-softmax,
/// logsumexp and the fused cross-entropy: see `x86_f64::rows`); longer ones one by one, each
/// prefetching the next.
const F64_BATCH_BELOW: usize = 2048;

/// The `f64` fused cross-entropy of rows shorter than [`F64_BATCH_BELOW`], in batches:
/// `(x, len, targets, divisor, grad, out)`; see `x86_f64::cross_entropy_rows`.
type CrossEntropyRows64 =
    unsafe fn(&[f64], usize, &[Option<(usize, f64)>], f64, Option<&mut [f64]>, &mut [Option<f64>]);

/// The `f64` backward passes of contiguous rows: `(log, y, dy, dx, len, fallback)`.
type BackwardRows64 = unsafe fn(bool, &[f64], &[f64], &mut [f64], usize, &BackwardFallback64);

/// The `f64` fused cross-entropy of one row: `(x, class, weight, divisor, grad, next row) → loss`.
type CrossEntropyRow64 =
    unsafe fn(&[f64], usize, f64, f64, Option<&mut [f64]>, Option<&[f64]>) -> Option<f64>;

/// The fused cross-entropy of short rows as columns: `(x, k, params, losses, g, rejected)`; see
/// `x86::ce_columns`.
type CeColumnsFn = unsafe fn(&[f32], usize, &[CeColumn], &mut [f64], *mut f32, &mut Vec<usize>);

/// One column of the fused cross-entropy of short rows: its class, weight and gradient factor
/// (both finite).
pub(crate) type CeColumn = (usize, f64, f64);

/// What the fused cross-entropy of a batch of up to 16 rows needs of each row for its per-row
/// arithmetic (`x86::ce_rows`): pass 2's maximum, ties and rest, the class entry `x_c`, the
/// weight and the gradient factor (zeros and a tie of one for rows not taken).
pub(crate) struct CeRowStats {
    pub max: [f32; 16],
    pub ties: [f64; 16],
    pub rest: [f64; 16],
    pub xc: [f32; 16],
    pub w: [f64; 16],
    pub factor: [f64; 16],
}

/// Pass 2 storing its terms: `(x, out, max, ties) → (ties, rest)`.
type SumStoreFn = unsafe fn(&[f32], &mut [f32], f32, &mut Ties) -> (f64, f64);

/// The kernels of `isa` if this machine runs it and it has vector kernels.
fn kernels(isa: Isa) -> Option<&'static Kernels> {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX512: Kernels = Kernels {
            rows: x86::avx512::rows,
            lse_rows: x86::avx512::lse_rows,
            lse_columns: x86::avx512::lse_columns,
            ce_columns: x86::avx512::ce_columns,
            max: x86::avx512::max,
            sum: x86::avx512::sum,
            sum_store: x86::avx512::sum_store,
            scale: x86::avx512::scale,
            exp_scale: x86::avx512::exp_scale,
            log: x86::avx512::log,
            backward_rows: x86::avx512::backward_rows,
            columns: x86::avx512::columns,
            column_stats: x86::avx512::column_stats,
            column_apply: x86::avx512::column_apply,
            column_scale: x86::avx512::column_scale,
            dot: x86::avx512::dot,
            vjp: x86::avx512::vjp,
            ce_rows: x86::avx512::ce_rows,
            rows64: x86_f64::avx512::rows,
            lse_rows64: x86_f64::avx512::lse_rows,
            backward_rows64: x86_f64::avx512::backward_rows,
            cross_entropy_row64: x86_f64::avx512::cross_entropy_row,
            cross_entropy_rows64: x86_f64::avx512::cross_entropy_rows,
        };
        static AVX2: Kernels = Kernels {
            rows: x86::avx2::rows,
            lse_rows: x86::avx2::lse_rows,
            lse_columns: x86::avx2::lse_columns,
            ce_columns: x86::avx2::ce_columns,
            max: x86::avx2::max,
            sum: x86::avx2::sum,
            sum_store: x86::avx2::sum_store,
            scale: x86::avx2::scale,
            exp_scale: x86::avx2::exp_scale,
            log: x86::avx2::log,
            backward_rows: x86::avx2::backward_rows,
            columns: x86::avx2::columns,
            column_stats: x86::avx2::column_stats,
            column_apply: x86::avx2::column_apply,
            column_scale: x86::avx2::column_scale,
            dot: x86::avx2::dot,
            vjp: x86::avx2::vjp,
            ce_rows: x86::avx2::ce_rows,
            rows64: x86_f64::avx2::rows,
            lse_rows64: x86_f64::avx2::lse_rows,
            backward_rows64: x86_f64::avx2::backward_rows,
            cross_entropy_row64: x86_f64::avx2::cross_entropy_row,
            cross_entropy_rows64: x86_f64::avx2::cross_entropy_rows,
        };
        match isa {
            Isa::Avx512 if isa.is_available() => Some(&AVX512),
            Isa::Avx2 if isa.is_available() => Some(&AVX2),
            _ => None,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = isa;
        None
    }
}

/// Rows longer than this are cut into chunks of this many elements, always (whatever the number
/// of threads), so that results are bitwise the same for any thread count: each pass runs over
/// the chunks in parallel and the chunks' sums are added in order. 2¹⁶ `f32` (256 KiB) keep a
/// chunk's output in L2 between its passes.
pub(crate) const CHUNK: usize = 1 << 16;

/// Batches of short rows are split into tasks of about this many elements for the thread pool.
const TASK: usize = 1 << 15;

fn parallel(elements: usize) -> bool {
    elements >= 2 * TASK && rayon::current_num_threads() > 1
}

/// Softmax or log-softmax of each contiguous row of length `len` in `x` into `y` with the
/// chosen instruction set, on the current rayon pool. Rows it cannot take are passed to
/// `fallback`. Returns false (doing nothing) where `isa` has no vector kernels.
pub(crate) fn rows_f32(isa: Isa, op: Op, x: &[f32], y: &mut [f32], len: usize, fallback: &Fallback) -> bool {
    use rayon::prelude::*;
    debug_assert_eq!(x.len(), y.len());
    let Some(k) = kernels(isa) else { return false };
    if len == 0 {
        return true;
    }
    if len == 1 {
        // A row of one finite value: probability 1, log-probability 0, exactly.
        let one = if op == Op::Softmax { 1.0 } else { 0.0 };
        for (xr, yr) in x.chunks_exact(1).zip(y.chunks_exact_mut(1)) {
            if xr[0].is_finite() { yr[0] = one } else { fallback(xr, yr) }
        }
    } else if len > CHUNK {
        for (xr, yr) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)) {
            long_row(k, op, xr, yr, fallback);
        }
    } else {
        let batch = |xs: &[f32], ys: &mut [f32]| {
            if len <= SHORT {
                short_rows(isa, k, op, xs, ys, len, fallback);
            } else {
                // SAFETY: `kernels` checked that the machine runs this instruction set.
                unsafe { (k.rows)(op, xs, ys, len, fallback) }
            }
        };
        if parallel(x.len()) {
            let per_task = (TASK / len).max(1) * len;
            x.par_chunks(per_task).zip(y.par_chunks_mut(per_task)).for_each(|(xs, ys)| batch(xs, ys));
        } else {
            batch(x, y);
        }
    }
    true
}

/// Rows up to this long go through the column kernels, [`COLUMN_BAND`] rows at a time.
const SHORT: usize = 16;

/// Rows of `2..=SHORT` elements: a row's fixed costs (its reductions across lanes, its
/// statistics, the division) would otherwise dominate, one row after another. Each block of
/// [`COLUMN_BAND`] rows is transposed into scratch, so that the rows become columns, one row per
/// lane; the column kernels run on it; and the result is transposed back. A row's arithmetic is
/// that of a column, whatever block it falls in.
fn short_rows(isa: Isa, k: &Kernels, op: Op, x: &[f32], y: &mut [f32], len: usize, fallback: &Fallback) {
    short_rows_with(isa, k, op, x, y, len, &mut |_, xr, yr| fallback(xr, yr));
}

/// What [`short_rows_with`] does with a row the kernels do not take: `(row, x, y)`.
type Reject<'a> = dyn FnMut(usize, &[f32], &mut [f32]) + 'a;

/// [`short_rows`], handing each row the kernels do not take to `reject` as `(row, x, y)`.
fn short_rows_with(
    isa: Isa,
    k: &Kernels,
    op: Op,
    x: &[f32],
    y: &mut [f32],
    len: usize,
    reject: &mut Reject<'_>,
) {
    let mut scratch = ShortScratch::new();
    let (xt, yt) = scratch.split();
    let mut rejected = Vec::new();
    for (b, (xb, yb)) in x.chunks(len * COLUMN_BAND).zip(y.chunks_mut(len * COLUMN_BAND)).enumerate() {
        let n = xb.len() / len;
        rows_to_columns(isa, xb, len, &mut xt[..len * n]);
        rejected.clear();
        // SAFETY: `kernels` checked that the machine runs the instruction set; `yt` holds the
        // `len × n` block the kernel writes.
        unsafe { (k.columns)(op, &xt[..len * n], yt.as_mut_ptr(), len, n, (0, n), &mut rejected) };
        columns_to_rows(isa, &yt[..len * n], len, yb);
        for &(_, r) in &rejected {
            reject(b * COLUMN_BAND + r, &xb[r * len..(r + 1) * len], &mut yb[r * len..(r + 1) * len]);
        }
    }
}

/// Scratch for a block of short rows as columns, in and out: two runs of `SHORT·COLUMN_BAND`
/// values 64 bytes apart more than 4 KiB, so that an input and an output at the same place do
/// not alias in the L1 cache's 4 KiB address check (the kernel reads one and writes the other at
/// the same offsets).
struct ShortScratch([f32; 2 * SHORT * COLUMN_BAND + 16]);

impl ShortScratch {
    fn new() -> Self {
        ShortScratch([0.0; 2 * SHORT * COLUMN_BAND + 16])
    }

    fn split(&mut self) -> (&mut [f32], &mut [f32]) {
        let (a, b) = self.0.split_at_mut(SHORT * COLUMN_BAND);
        (a, &mut b[16..])
    }
}

/// The rows of `len` elements in `block` as columns: `columns[kk·n + j] = block[j·len + kk]`
/// for the block's `n` rows.
fn rows_to_columns(isa: Isa, block: &[f32], len: usize, columns: &mut [f32]) {
    let n = block.len() / len;
    rows_to_lanes(isa, block, columns, (len, n, 0, n));
}

/// The inverse of [`rows_to_columns`]: `block[j·len + kk] = columns[kk·n + j]`.
fn columns_to_rows(isa: Isa, columns: &[f32], len: usize, block: &mut [f32]) {
    let n = block.len() / len;
    lanes_to_rows(isa, columns, block, (len, n, 0, n));
}

/// The fused cross-entropy of rows of `1..=SHORT` elements, as [`cross_entropy_rows`] gives it
/// row by row: a block of rows transposed into columns, their statistics, `ln s`, losses and
/// gradients in vectors (`x86::ce_columns`), the gradient transposed back. Ignored rows get loss
/// 0 and gradient 0; rows with a weight or factor that is not finite, and those the kernel does
/// not take, are returned for the caller.
#[allow(clippy::too_many_arguments)]
fn short_cross_entropy(
    isa: Isa,
    k: &Kernels,
    x: &[f32],
    len: usize,
    classes: &[Option<usize>],
    scale: &CrossEntropyScale<'_>,
    losses: &mut [f64],
    grad: Option<&mut [f32]>,
) -> Vec<usize> {
    let task =
        |first: usize, xs: &[f32], cs: &[Option<usize>], ls: &mut [f64], mut gs: Option<&mut [f32]>| {
            let mut scratch = ShortScratch::new();
            let (xt, gt) = scratch.split();
            let (mut out, mut rejected) = (Vec::new(), Vec::new());
            let mut params = [(0usize, 0.0f64, 0.0f64); COLUMN_BAND];
            for (b, (xb, cb)) in xs.chunks(len * COLUMN_BAND).zip(cs.chunks(COLUMN_BAND)).enumerate() {
                let (n, at) = (cb.len(), b * COLUMN_BAND);
                // Ignored rows and rows left to the caller run as class 0 with weight 0.
                let (mut ignored, mut left) = ([false; COLUMN_BAND], [false; COLUMN_BAND]);
                for (i, &c) in cb.iter().enumerate() {
                    params[i] = (0, 0.0, 0.0);
                    match c {
                        None => ignored[i] = true,
                        Some(c) => match scale.of(c) {
                            Some((w, factor)) => params[i] = (c, w, factor),
                            None => left[i] = true,
                        },
                    }
                }
                rows_to_columns(isa, xb, len, &mut xt[..len * n]);
                rejected.clear();
                let g = if gs.is_some() { gt.as_mut_ptr() } else { std::ptr::null_mut() };
                // SAFETY: `kernels` checked that the machine runs the instruction set; `xt` holds
                // the `len × n` block, every class is below `len` (the caller checked them), and
                // `gt` has room for the block.
                unsafe {
                    (k.ce_columns)(&xt[..len * n], len, &params[..n], &mut ls[at..at + n], g, &mut rejected)
                };
                for &r in &rejected {
                    left[r] |= !ignored[r];
                }
                if let Some(gs) = gs.as_deref_mut() {
                    let gb = &mut gs[at * len..(at + n) * len];
                    columns_to_rows(isa, &gt[..len * n], len, gb);
                    for (row, _) in gb.chunks_exact_mut(len).zip(&ignored).filter(|(_, i)| **i) {
                        row.fill(0.0);
                    }
                }
                for i in 0..n {
                    if ignored[i] {
                        ls[at + i] = 0.0;
                    } else if left[i] {
                        out.push(first + at + i);
                    }
                }
            }
            out
        };
    // Tasks of whole blocks of rows.
    let rows_per_task = (TASK / len).max(1).next_multiple_of(COLUMN_BAND);
    loss_tasks(x, len, classes, losses, grad, rows_per_task, &task)
}

/// Logsumexp of rows of `2..=SHORT` elements, as [`short_rows`]: a block of rows transposed into
/// columns, their statistics and `ln s` in vectors (no call per row).
fn short_logsumexp(isa: Isa, k: &Kernels, x: &[f32], out: &mut [f32], len: usize, fallback: &LseFallback) {
    let mut xt = [0.0f32; SHORT * COLUMN_BAND];
    let mut rejected = Vec::new();
    for (xb, ob) in x.chunks(len * COLUMN_BAND).zip(out.chunks_mut(COLUMN_BAND)) {
        rows_to_columns(isa, xb, len, &mut xt[..xb.len()]);
        rejected.clear();
        // SAFETY: `kernels` checked that the machine runs the instruction set; `xt` holds the
        // `len × n` block, `ob` its `n` results.
        unsafe { (k.lse_columns)(&xt[..xb.len()], len, ob, &mut rejected) };
        for &r in &rejected {
            ob[r] = fallback(&xb[r * len..(r + 1) * len]);
        }
    }
}

/// Runs `f` on batches of whole rows of `len` and their one output each (logsumexp): tasks of
/// about [`TASK`] elements shared among the pool's threads when there is more than one row and
/// enough work, else one call for all.
fn row_output_tasks<A: Sync, B: Send>(
    x: &[A],
    out: &mut [B],
    len: usize,
    f: &(dyn Fn(&[A], &mut [B]) + Sync),
) {
    use rayon::prelude::*;
    if parallel(x.len()) && x.len() > len {
        let rows_per_task = (TASK / len).max(1);
        x.par_chunks(rows_per_task * len)
            .zip(out.par_chunks_mut(rows_per_task))
            .for_each(|(xs, os)| f(xs, os));
    } else {
        f(x, out);
    }
}

/// Softmax or log-softmax of each contiguous `f64` row of length `len` with the chosen
/// instruction set (see `x86_f64`), batches of rows shared among the pool's threads (a row is
/// never split: its arithmetic is the same for any thread count). Rows it cannot take are passed
/// to `fallback`. Returns false (doing nothing) where `isa` has no vector kernels.
pub(crate) fn rows_f64(
    isa: Isa,
    op: Op,
    x: &[f64],
    y: &mut [f64],
    len: usize,
    fallback: &Fallback64,
) -> bool {
    use rayon::prelude::*;
    debug_assert_eq!(x.len(), y.len());
    let Some(rows) = kernels(isa).map(|k| k.rows64) else { return false };
    if len == 0 {
        return true;
    }
    if parallel(x.len()) && x.len() > len {
        let per_task = (TASK / len).max(1) * len;
        x.par_chunks(per_task).zip(y.par_chunks_mut(per_task)).for_each(|(xs, ys)| {
            // SAFETY: the instruction set was checked to be available.
            unsafe { rows(op, xs, ys, len, fallback) }
        });
    } else {
        // SAFETY: as above.
        unsafe { rows(op, x, y, len, fallback) };
    }
    true
}

/// Softmax or log-softmax of contiguous half-precision rows of length `len`, given as their
/// bits, read and written in their own format (see `x86::half`). Batches of rows are shared
/// among the pool's threads; a row longer than [`CHUNK`] is cut into chunks whose statistics
/// (each relative to its own maximum, added in `f64` after scaling by `exp(m_c − m)`) are merged
/// in order, and whose outputs are then written in parallel; either way the results are the same
/// for any number of threads. Returns the rows the vector path did not take (for the caller's
/// portable path), or `None` where there are no such kernels (another instruction set, or AVX2
/// without F16C for `f16`).
pub(crate) fn rows_half(
    isa: Isa,
    kind: crate::element::HalfKind,
    op: Op,
    x: &[u16],
    y: &mut [u16],
    len: usize,
) -> Option<Vec<usize>> {
    if len == 0 || x.len() != y.len() {
        return None;
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (isa, kind, op);
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        use rayon::prelude::*;
        let k = half_kernels(isa, kind)?;
        let mut rejected = Vec::new();
        if len > CHUNK {
            for (r, (xr, yr)) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)).enumerate() {
                let Some((max, ties, rest)) = long_half_stats(k, xr) else {
                    rejected.push(r);
                    continue;
                };
                let param = x86::half::pass3_param(op, ties, rest);
                // SAFETY (all kernel calls): `half_kernels` checked the instruction set (and F16C).
                yr.par_chunks_mut(CHUNK)
                    .zip(xr.par_chunks(CHUNK))
                    .for_each(|(yc, xc)| unsafe { (k.out)(op, xc, yc, max, param) });
            }
        } else {
            let f32_kernels = kernels(isa)?;
            // Rows of up to 16 widen to `f32` and take its short rows' column kernels, each
            // output rounded once more to the half type: within 1.33 `f32` ulp before that,
            // 2⁻¹³ of a half ulp, so still within SPEC's 1 (and nearly always correctly rounded).
            let task = |first: usize, xs: &[u16], ys: &mut [u16]| {
                let mut rejected = Vec::new();
                if (2..=SHORT).contains(&len) {
                    let (mut wide, mut out) = ([0.0f32; SHORT * COLUMN_BAND], [0.0f32; SHORT * COLUMN_BAND]);
                    let rows = xs.chunks(len * COLUMN_BAND).zip(ys.chunks_mut(len * COLUMN_BAND));
                    for (b, (xb, yb)) in rows.enumerate() {
                        let (wide, out) = (&mut wide[..xb.len()], &mut out[..xb.len()]);
                        let at = first + b * COLUMN_BAND;
                        match kind {
                            crate::element::HalfKind::F16 => halves::f16_to_f32(xb, wide),
                            crate::element::HalfKind::Bf16 => halves::bf16_to_f32(xb, wide),
                        }
                        short_rows_with(isa, f32_kernels, op, wide, out, len, &mut |r, _, _| {
                            rejected.push(at + r)
                        });
                        narrow_to_half_bits(kind, out, yb);
                    }
                } else {
                    unsafe { (k.rows)(op, xs, ys, len, first, &mut rejected) };
                }
                rejected
            };
            if parallel(x.len()) {
                let rows_per_task = (TASK / len).max(1);
                let per_task = rows_per_task * len;
                let parts: Vec<Vec<usize>> = x
                    .par_chunks(per_task)
                    .zip(y.par_chunks_mut(per_task))
                    .enumerate()
                    .map(|(t, (xs, ys))| task(t * rows_per_task, xs, ys))
                    .collect();
                rejected = parts.concat();
            } else {
                rejected = task(0, x, y);
            }
        }
        Some(rejected)
    }
}

/// `src` rounded into half-type bits as [`crate::Element::narrow_from_f32`] rounds it (the one
/// value halfway to the next power of two above the largest finite one gives that largest value,
/// as the portable path does).
#[cfg(target_arch = "x86_64")]
fn narrow_to_half_bits(kind: crate::element::HalfKind, src: &[f32], dst: &mut [u16]) {
    use crate::element::{Element, HalfKind};
    use half::slice::HalfBitsSliceExt;
    match kind {
        HalfKind::F16 => <half::f16 as Element>::narrow_from_f32(src, dst.reinterpret_cast_mut()),
        HalfKind::Bf16 => <half::bf16 as Element>::narrow_from_f32(src, dst.reinterpret_cast_mut()),
    }
}

/// The half kernels of `kind` with the instruction set `isa`, where it has them (AVX2 needs
/// F16C for `f16`).
#[cfg(target_arch = "x86_64")]
fn half_kernels(isa: Isa, kind: crate::element::HalfKind) -> Option<&'static x86::half::HalfKernels> {
    use crate::element::HalfKind;
    use x86::half;
    let f16c = std::arch::is_x86_feature_detected!("f16c");
    match (isa, kind) {
        (Isa::Avx512, HalfKind::F16) if isa.is_available() => Some(&half::f16_avx512::KERNELS),
        (Isa::Avx512, HalfKind::Bf16) if isa.is_available() => Some(&half::bf16_avx512::KERNELS),
        (Isa::Avx2, HalfKind::F16) if isa.is_available() && f16c => Some(&half::f16_avx2::KERNELS),
        (Isa::Avx2, HalfKind::Bf16) if isa.is_available() => Some(&half::bf16_avx2::KERNELS),
        _ => None,
    }
}

/// `(max, ties, rest)` of a half row longer than [`CHUNK`]: its chunks' statistics (computed in
/// parallel, each relative to its own maximum) merged in order, `rest` in `f64` after scaling
/// by `exp(m_c − m)`; the same for any number of threads. `None` for a NaN or an infinite
/// maximum in any chunk.
#[cfg(target_arch = "x86_64")]
fn long_half_stats(k: &x86::half::HalfKernels, x: &[u16]) -> x86::half::ChunkStats {
    use rayon::prelude::*;
    // SAFETY: `half_kernels` checked the instruction set (and F16C).
    let parts: Vec<x86::half::ChunkStats> = x.par_chunks(CHUNK).map(|c| unsafe { (k.stats)(c) }).collect();
    let parts = parts.into_iter().collect::<Option<Vec<_>>>()?;
    let max = parts.iter().fold(f32::NEG_INFINITY, |m, p| m.max(p.0));
    let (mut ties, mut rest) = (0.0, 0.0);
    for &(m, t, s) in &parts {
        if m == max {
            ties += t;
            rest += s;
        } else {
            rest += (t + s) * (f64::from(m) - f64::from(max)).exp();
        }
    }
    Some((max, ties, rest))
}

/// `logsumexp` of contiguous half-precision rows of length `len` (given as their bits) through
/// the half kernels' passes 1 and 2: `out[r] = m + ln_1p((ties − 1) + rest)` in `f64`, or `NaN`
/// where the row is not taken (a NaN, an infinite maximum, or a result that cancels: `|m + ln s|
/// < ln s`, where the sum's error, up to 2⁻¹³ of `s`, would show) for the caller's portable path.
/// Batches of rows are shared among the pool's threads, and long rows are cut into chunks as in
/// [`rows_half`]: the same results for any number of threads. False where there are no half
/// kernels.
///
/// The sum is within 2⁻¹³ relative (see `x86::half`), so `ln s` is within 2⁻¹³ absolute and,
/// with `|m + ln s| ≥ ln s`, also relative (for small `ln s` the error is relative to `s − 1`,
/// which `ln_1p` keeps): a quarter of an `f16` ulp before the one rounding to the half type.
pub(crate) fn logsumexp_half(
    isa: Isa,
    kind: crate::element::HalfKind,
    x: &[u16],
    out: &mut [f64],
    len: usize,
) -> bool {
    if len == 0 || x.len() != out.len() * len {
        return false;
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (isa, kind);
        false
    }
    #[cfg(target_arch = "x86_64")]
    {
        let Some(k) = half_kernels(isa, kind) else { return false };
        let result = |st: x86::half::ChunkStats| match st {
            Some((m, ties, rest)) => {
                let ln_sum = crate::kernels::exp::ln_1p_f64((ties - 1.0) + rest);
                let lse = f64::from(m) + ln_sum;
                if lse.abs() >= ln_sum { lse } else { f64::NAN }
            }
            None => f64::NAN,
        };
        if len > CHUNK {
            for (xr, o) in x.chunks_exact(len).zip(out.iter_mut()) {
                *o = result(long_half_stats(k, xr));
            }
        } else {
            let Some(f32_kernels) = kernels(isa) else { return false };
            let rows = |xs: &[u16], os: &mut [f64]| {
                if (2..=SHORT).contains(&len) {
                    // Widened to `f32` for its short rows' column kernels (see `rows_half`): the
                    // `f32` result within 0.75 of its ulp, a tiny part of a half ulp; rows it
                    // leaves (`NaN`) go to the caller's portable path.
                    let (mut wide, mut lse) = ([0.0f32; SHORT * COLUMN_BAND], [0.0f32; COLUMN_BAND]);
                    for (xb, ob) in xs.chunks(len * COLUMN_BAND).zip(os.chunks_mut(COLUMN_BAND)) {
                        let (wide, lse) = (&mut wide[..xb.len()], &mut lse[..ob.len()]);
                        match kind {
                            crate::element::HalfKind::F16 => halves::f16_to_f32(xb, wide),
                            crate::element::HalfKind::Bf16 => halves::bf16_to_f32(xb, wide),
                        }
                        short_logsumexp(isa, f32_kernels, wide, lse, len, &|_| f32::NAN);
                        for (o, &v) in ob.iter_mut().zip(lse.iter()) {
                            *o = f64::from(v);
                        }
                    }
                    return;
                }
                for (xr, o) in xs.chunks_exact(len).zip(os.iter_mut()) {
                    // SAFETY: `half_kernels` checked the instruction set (and F16C).
                    *o = result(unsafe { (k.stats)(xr) });
                }
            };
            row_output_tasks(x, out, len, &rows);
        }
        true
    }
}

/// `logsumexp` of each contiguous `f64` row of length `len` (`len > 0`) into `out` with the
/// chosen instruction set, batches of rows shared among the pool's threads; rows it cannot take
/// (or whose result cancels) go to `fallback`. False where `isa` has no vector kernels.
pub(crate) fn logsumexp_rows_f64(
    isa: Isa,
    x: &[f64],
    out: &mut [f64],
    len: usize,
    fallback: &LseFallback64,
) -> bool {
    let Some(lse) = kernels(isa).map(|k| k.lse_rows64) else { return false };
    // SAFETY: the instruction set was checked to be available.
    row_output_tasks(x, out, len, &|xs, os| unsafe { lse(xs, os, len, fallback) });
    true
}

/// The softmax backward pass (or with `log`, the log-softmax one) of contiguous `f64` rows of
/// length `len` (temperature 1, no mask): `dx = RN(y·(dy − ⟨y, dy⟩))` with the dot product in
/// double-double, or `dx = RN(dy − exp(ly)·Σ dy)` (see `x86_f64`'s `log_backward_row`), batches
/// of rows shared among the pool's threads (a row is never split). Rows with a NaN or an
/// infinity go to `fallback`. False where `isa` has no vector kernels.
pub(crate) fn softmax_backward_rows_f64(
    isa: Isa,
    log: bool,
    y: &[f64],
    dy: &[f64],
    dx: &mut [f64],
    len: usize,
    fallback: &BackwardFallback64,
) -> bool {
    use rayon::prelude::*;
    let Some(backward) = kernels(isa).map(|k| k.backward_rows64) else { return false };
    if len == 0 {
        return true;
    }
    if parallel(y.len()) && y.len() > len {
        let per_task = (TASK / len).max(1) * len;
        let tasks = y.par_chunks(per_task).zip(dy.par_chunks(per_task)).zip(dx.par_chunks_mut(per_task));
        tasks.for_each(|((a, b), o)| {
            // SAFETY: the instruction set was checked to be available.
            unsafe { backward(log, a, b, o, len, fallback) }
        });
    } else {
        // SAFETY: as above.
        unsafe { backward(log, y, dy, dx, len, fallback) };
    }
    true
}

/// Passes 1 and 2 of a long row, chunk by chunk: the statistics and the chunks' tie records, or
/// `None` for a row the vector path does not take. With `out` (softmax, the cross-entropy's
/// gradient), each chunk's terms are stored there, relative to the chunk's own maximum.
///
/// Each chunk takes its maximum and then its sum relative to that maximum while it is still in
/// L2, so that `x` is read from memory once (pass 3 then reads the stored terms, or for
/// log-softmax `x` again). The chunks' statistics are then merged in order, the `(max, sum)` monoid:
/// a chunk below the row's maximum adds `(ties·e_max + rest)·2^(j_c − j)` (a power of two, exact
/// in `f64`) and its ties are not the row's. A chunk whose own maximum is out of the reduction's
/// range (all of it far below, or `−inf`) is summed again against the row's maximum.
fn long_stats(k: &Kernels, x: &[f32], out: Option<&mut [f32]>) -> Option<LongStats> {
    use rayon::prelude::*;
    enum Part {
        Summed(Stats, Ties),
        /// Entirely below `−MAX_ABS_MAX` (or `−inf`): summed later against the row's maximum.
        Later(f32),
        /// A NaN, `+inf` or a maximum above `MAX_ABS_MAX`: the row goes to the portable path.
        Reject,
    }
    let chunk = |xc: &[f32], yc: Option<&mut [f32]>| {
        // SAFETY: `kernels` checked that the machine runs the instruction set.
        let max = unsafe { (k.max)(xc) };
        if max.is_nan() || max > MAX_ABS_MAX {
            return Part::Reject;
        }
        if max < -MAX_ABS_MAX {
            return Part::Later(max);
        }
        match short_stats_at(k, xc, max, yc) {
            Some((st, ties)) => Part::Summed(st, ties),
            None => Part::Reject,
        }
    };
    let stored = out.is_some();
    let parts: Vec<Part> = match out {
        Some(y) => {
            x.par_chunks(CHUNK).zip(y.par_chunks_mut(CHUNK)).map(|(xc, yc)| chunk(xc, Some(yc))).collect()
        }
        None => x.par_chunks(CHUNK).map(|xc| chunk(xc, None)).collect(),
    };
    let mut max = f32::NEG_INFINITY;
    for p in &parts {
        match p {
            Part::Reject => return None,
            Part::Summed(st, _) => max = max.max(st.max),
            Part::Later(m) => max = max.max(*m),
        }
    }
    if max.abs() > MAX_ABS_MAX {
        return None;
    }
    let j = Stats::shift(max);
    let (mut count, mut rest) = (0.0, 0.0);
    let mut ties = Vec::with_capacity(parts.len());
    let mut offsets = Vec::with_capacity(parts.len());
    for (p, xc) in parts.into_iter().zip(x.chunks(CHUNK)) {
        match p {
            Part::Summed(st, t) if st.max == max => {
                count += st.ties;
                rest += st.rest;
                ties.push(t);
                offsets.push(stored.then_some(0));
            }
            Part::Summed(st, _) => {
                let offset = (Stats::shift(st.max) - j) as i32;
                rest += (st.ties * st.e_max + st.rest) * 2f64.powi(offset);
                ties.push(Ties::new());
                offsets.push(stored.then_some(offset));
            }
            Part::Later(_) => {
                let mut t = Ties::new();
                // SAFETY: as above. Every entry lies far below `max`: no ties, terms of 0 or
                // nearly so.
                let (c, r) = unsafe { (k.sum)(xc, max, &mut t) };
                count += c;
                rest += r;
                ties.push(t);
                offsets.push(None);
            }
            Part::Reject => unreachable!("rejected above"),
        }
    }
    if !rest.is_finite() {
        return None;
    }
    Some(LongStats { st: Stats::new(max, count, rest), ties, offsets })
}

/// What [`long_stats`] finds: the row's statistics, and for each chunk its ties of the row's
/// maximum and, where pass 2 stored its terms, their offset: the stored terms are
/// `2^−offset` times the row's (`offset ≤ 0`).
struct LongStats {
    st: Stats,
    ties: Vec<Ties>,
    offsets: Vec<Option<i32>>,
}

/// Stored terms whose chunk's maximum lies this far below the row's (in powers of two) are
/// recomputed instead: their outputs are 0 or nearly so, and `2^(offset − LIFT)` must stay a
/// normal `f32`.
const LOWEST_OFFSET: i32 = -90;

/// Pass 3 of softmax (or of the cross-entropy gradient) for one row, chunk by chunk (one chunk
/// of [`CHUNK`] elements per entry of `ties` and `offsets`; a row of one chunk runs on the
/// calling thread): `y = e·r` from the terms pass 2 stored in `y` (their offset as in
/// [`LongStats`], or `None` where it stored none), or recomputed from `x` where they cannot give
/// every normal output to the bound (see [`stored_scale`]); then the ties of the maximum get `top`.
#[allow(clippy::too_many_arguments, reason = "the row, its statistics and its chunks' records")]
fn scale_row(
    k: &Kernels,
    x: &[f32],
    y: &mut [f32],
    max: f32,
    r: f64,
    top: f32,
    ties: &[Ties],
    offsets: &[Option<i32>],
) {
    use rayon::prelude::*;
    let chunk = |xc: &[f32], yc: &mut [f32], t: &Ties, offset: Option<i32>| {
        match offset.and_then(|offset| stored_scale(r, offset)) {
            // SAFETY (both arms): `kernels` checked that the machine runs the instruction set.
            Some((rh, rl, post)) => unsafe { (k.scale)(yc, rh, rl, post) },
            None => {
                let rh = r as f32;
                unsafe { (k.exp_scale)(xc, yc, max, rh, (r - f64::from(rh)) as f32) }
            }
        }
        t.apply(xc, yc, max, top);
    };
    if let ([t], [offset]) = (ties, offsets) {
        chunk(x, y, t, *offset);
    } else {
        let chunks = y.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK));
        chunks
            .zip(ties.par_iter().zip(offsets))
            .for_each(|((yc, xc), (t, &offset))| chunk(xc, yc, t, offset));
    }
}

fn long_row(k: &Kernels, op: Op, x: &[f32], y: &mut [f32], fallback: &Fallback) {
    use rayon::prelude::*;
    match op {
        Op::Softmax => {
            let Some(long) = long_stats(k, x, Some(y)) else { return fallback(x, y) };
            let st = long.st;
            scale_row(k, x, y, st.max, 1.0 / st.sum(), st.top_probability(), &long.ties, &long.offsets);
        }
        Op::LogSoftmax => {
            let Some(long) = long_stats(k, x, None) else { return fallback(x, y) };
            let (max, ln_sum) = (long.st.max as f64, long.st.ln_sum());
            let stream = x.len() >= STREAM_FROM;
            y.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(yc, xc)| {
                // SAFETY: as in `long_stats`.
                unsafe { (k.log)(xc, yc, max, ln_sum, stream) };
            });
        }
    }
}

/// Softmax or log-softmax along the middle axis of a contiguous `(outer, k, inner)` array
/// (`k, inner > 0`), the columns read in place, many at a time. Returns the columns `(o, j)` the
/// vector path did not take (for the portable path), or `None` where `isa` has no vector
/// kernels. Blocks of the outer axis are shared among the pool's threads.
pub(crate) fn columns_f32(
    isa: Isa,
    op: Op,
    x: &[f32],
    y: &mut [f32],
    k: usize,
    inner: usize,
) -> Option<Vec<(usize, usize)>> {
    use rayon::prelude::*;
    let k_ = kernels(isa)?;
    assert_eq!(x.len(), y.len());
    if k > AXIS_CHUNK {
        return Some(columns_chunked(k_, op, x, y, k, inner));
    }
    let block = k * inner;
    let outer = x.len() / block;
    if !parallel(x.len()) {
        let mut rejected = Vec::new();
        // SAFETY: `kernels` checked that the machine runs this instruction set; `y` is ours.
        unsafe { (k_.columns)(op, x, y.as_mut_ptr(), k, inner, (0, inner), &mut rejected) };
        return Some(rejected);
    }
    // Tasks of about `TASK` elements: whole blocks of the outer axes when there are enough of
    // them, otherwise also ranges of columns within a block: multiples of 64 (the widest band),
    // or of 16 (one vector) where that is what it takes to give every thread some columns. Each
    // column's arithmetic is the same whatever range it falls in.
    let threads = rayon::current_num_threads();
    let width = if outer >= 2 * threads {
        inner
    } else {
        let unit = if inner < 64 * threads { 16 } else { 64 };
        let share = inner.div_ceil(threads).div_ceil(unit) * unit;
        (TASK / k).div_ceil(unit).max(1).saturating_mul(unit).min(share).min(inner)
    };
    let tasks: Vec<(usize, usize)> =
        (0..outer).flat_map(|o| (0..inner).step_by(width).map(move |j| (o, j))).collect();
    let out = SharedOut(y.as_mut_ptr());
    let parts: Vec<Vec<(usize, usize)>> = tasks
        .par_iter()
        .map(|&(o, j)| {
            let mut rejected = Vec::new();
            let xs = &x[o * block..(o + 1) * block];
            // SAFETY: as above; each task writes only its own columns of its own block, and
            // nothing reads `y` until every task is done.
            unsafe {
                (k_.columns)(
                    op,
                    xs,
                    out.get().add(o * block),
                    k,
                    inner,
                    (j, (j + width).min(inner)),
                    &mut rejected,
                )
            };
            rejected.into_iter().map(|(_, j)| (o, j)).collect()
        })
        .collect();
    Some(parts.concat())
}

/// [`columns_f32`] for an axis longer than [`AXIS_CHUNK`]: tasks of one chunk of the axis of
/// one band of [`COLUMN_BAND`] columns; each column's chunks merged in order with the
/// `(max, sum)` monoid as in [`long_stats`]. Softmax stores each chunk's terms in `y` in pass 2,
/// relative to the chunk's own maxima, and pass 3 scales them in place (rescaled by a power of
/// two per column, as [`scale_row`] does for a row's chunks); a task with a column whose chunk
/// lies [`LOWEST_OFFSET`] or more binades below the column's maximum recomputes its terms.
fn columns_chunked(
    kn: &Kernels,
    op: Op,
    x: &[f32],
    y: &mut [f32],
    k: usize,
    inner: usize,
) -> Vec<(usize, usize)> {
    use rayon::prelude::*;
    let outer = x.len() / (k * inner);
    let (bands, chunks) = (inner.div_ceil(COLUMN_BAND), k.div_ceil(AXIS_CHUNK));
    let width = |band: usize| (inner - (band % bands) * COLUMN_BAND).min(COLUMN_BAND);
    // Task `t = band·chunks + c`, where `band = o·bands + b` counts bands over all blocks:
    // `(start, rows, width)`.
    let geometry = |t: usize| {
        let (band, c) = (t / chunks, t % chunks);
        let (o, b) = (band / bands, band % bands);
        let rows = (k - c * AXIS_CHUNK).min(AXIS_CHUNK);
        (o * k * inner + c * AXIS_CHUNK * inner + b * COLUMN_BAND, rows, width(band))
    };
    let (out, store) = (SharedOut(y.as_mut_ptr()), op == Op::Softmax);
    let stats_of = |t: usize, given: Option<&[f32]>| {
        let (start, rows, width) = geometry(t);
        let mut parts = vec![ColumnPart::Reject; width];
        let terms = if store { out.get() } else { std::ptr::null_mut() };
        // SAFETY: `kernels` checked that the machine runs the instruction set; the task's
        // entries are in `x` and `y` (`start + (rows − 1)·inner + width ≤ x.len()`), and it
        // writes only its own entries of `y`, which nothing else reads meanwhile.
        unsafe { (kn.column_stats)(x, terms, start, inner, rows, width, given, &mut parts) };
        parts
    };
    let tasks = outer * bands * chunks;
    let mut parts: Vec<Vec<ColumnPart>> = if parallel(x.len()) {
        (0..tasks).into_par_iter().map(|t| stats_of(t, None)).collect()
    } else {
        (0..tasks).map(|t| stats_of(t, None)).collect()
    };
    let mut rejected = Vec::new();
    let mut stats = Vec::with_capacity(outer * bands);
    // Per task, with stored terms: each column's `[rh, rl, post]` for pass 3, or `None` where the
    // task recomputes its terms.
    let mut factors: Vec<Option<Vec<[f32; 3]>>> = Vec::with_capacity(if store { tasks } else { 0 });
    for band in 0..outer * bands {
        let (w, tasks) = (width(band), band * chunks..(band + 1) * chunks);
        // The whole columns' maxima; a column with a rejected chunk, or far below throughout,
        // goes to the portable path.
        let mut maxima = vec![0.0f32; w];
        let mut ok = vec![true; w];
        for lane in 0..w {
            let mut max = f32::NEG_INFINITY;
            for t in tasks.clone() {
                match parts[t][lane] {
                    ColumnPart::Summed(st) => max = max.max(st.max),
                    ColumnPart::Later(m) => max = max.max(m),
                    ColumnPart::Reject => ok[lane] = false,
                }
            }
            ok[lane] &= max.abs() <= MAX_ABS_MAX;
            maxima[lane] = if ok[lane] { max } else { 0.0 };
        }
        // Chunks far below their column's maximum are summed again against it. Stored terms are
        // then stored again, for every column of the task, relative to the columns' maxima: all
        // of its columns take the new statistics.
        for t in tasks.clone() {
            let later =
                |lane: usize, parts: &[ColumnPart]| ok[lane] && matches!(parts[lane], ColumnPart::Later(_));
            if (0..w).any(|lane| later(lane, &parts[t])) {
                let again = stats_of(t, Some(&maxima));
                for lane in 0..w {
                    if store || later(lane, &parts[t]) {
                        parts[t][lane] = again[lane];
                    }
                }
            }
        }
        let mut column = vec![PLACEHOLDER; w];
        for lane in 0..w {
            let max = maxima[lane];
            let j = Stats::shift(max);
            let (mut count, mut rest) = (0.0, 0.0);
            for t in tasks.clone() {
                match parts[t][lane] {
                    ColumnPart::Summed(st) if st.max == max => {
                        count += st.ties;
                        rest += st.rest;
                    }
                    ColumnPart::Summed(st) => {
                        let scale = 2f64.powi((Stats::shift(st.max) - j) as i32);
                        rest += (st.ties * st.e_max + st.rest) * scale;
                    }
                    ColumnPart::Later(_) | ColumnPart::Reject => ok[lane] = false,
                }
            }
            ok[lane] &= rest.is_finite();
            if ok[lane] {
                column[lane] = Stats::new(max, count, rest);
            } else {
                rejected.push((band / bands, (band % bands) * COLUMN_BAND + lane));
            }
        }
        if store {
            factors.extend(tasks.map(|t| stored_factors(&parts[t], &column, &ok)));
        }
        stats.push(column);
    }
    // Pass 3.
    let apply = |t: usize| {
        let (start, rows, width) = geometry(t);
        // SAFETY: as above; each task writes only its own entries of `y`, and nothing reads `y`
        // until every task is done.
        unsafe {
            match factors.get(t) {
                Some(Some(factors)) => (kn.column_scale)(out.get(), start, inner, rows, width, factors),
                _ => (kn.column_apply)(op, x, out.get(), start, inner, rows, width, &stats[t / chunks]),
            }
        }
    };
    if parallel(x.len()) {
        (0..tasks).into_par_iter().for_each(apply);
    } else {
        (0..tasks).for_each(apply);
    }
    rejected
}

/// Pass 3's factors for one task of [`columns_chunked`] whose terms pass 2 stored (relative to
/// each column's maximum over the task, its `parts`): per column, `[rh, rl, post]` of
/// [`stored_scale`] with the power of two between that maximum and the whole column's folded
/// into `post`; or `None` if a column's offset is below [`LOWEST_OFFSET`]. Columns not `ok` (the
/// portable path's) get zeros.
fn stored_factors(parts: &[ColumnPart], columns: &[Stats], ok: &[bool]) -> Option<Vec<[f32; 3]>> {
    let mut factors = vec![[0.0; 3]; parts.len()];
    for ((f, part), (st, &ok)) in factors.iter_mut().zip(parts).zip(columns.iter().zip(ok)) {
        let ColumnPart::Summed(own) = part else { continue };
        if !ok {
            continue;
        }
        let offset = (Stats::shift(own.max) - Stats::shift(st.max)) as i32;
        let (rh, rl, post) = stored_scale(1.0 / st.sum(), offset)?;
        *f = [rh, rl, post];
    }
    Some(factors)
}

/// Passes 1 and 2 of a short row (at most [`CHUNK`] elements), or `None` for a row the vector
/// path does not take; with `out`, pass 2 stores the terms there.
fn short_stats(k: &Kernels, x: &[f32], out: Option<&mut [f32]>) -> Option<(Stats, Ties)> {
    // SAFETY: `kernels` checked that the machine runs the instruction set.
    let max = unsafe { (k.max)(x) };
    if !in_range(max) {
        return None;
    }
    short_stats_at(k, x, max, out)
}

/// Pass 2 of [`short_stats`], given the maximum.
fn short_stats_at(k: &Kernels, x: &[f32], max: f32, out: Option<&mut [f32]>) -> Option<(Stats, Ties)> {
    let mut ties = Ties::new();
    // SAFETY: as above.
    let (count, rest) = match out {
        Some(y) => unsafe { (k.sum_store)(x, y, max, &mut ties) },
        None => unsafe { (k.sum)(x, max, &mut ties) },
    };
    rest.is_finite().then(|| (Stats::new(max, count, rest), ties))
}

/// The class weights and the mean's divisor of a fused cross-entropy call.
pub(crate) struct CrossEntropyScale<'a> {
    /// One weight per class.
    pub weight: &'a [f64],
    /// What each gradient is divided by (1 unless the reduction is the mean).
    pub divisor: f64,
}

impl CrossEntropyScale<'_> {
    /// Class `c`'s weight and gradient factor `w/divisor`, or `None` where either is not finite:
    /// such rows are left to the caller, whose path gives them PyTorch's NaN and infinity rules.
    fn of(&self, c: usize) -> Option<(f64, f64)> {
        let w = self.weight[c];
        let factor = w / self.divisor;
        (w.is_finite() && factor.is_finite()).then_some((w, factor))
    }
}

/// The fused cross-entropy of contiguous rows of length `len` (`len > 0`) against class indices
/// (`None`: an ignored row, loss 0 and gradient 0), forward and backward from the same passes:
/// - `losses[i] = w_c·(ln Σ exp(x − m) − (x_c − m))` in `f64` (two non-negative terms, no
///   cancellation);
/// - with `grad`, `g = (w_c/divisor)·(softmax(x) − onehot(c))`: pass 3 of softmax with the factor
///   folded into `1/s` (one rounding per element), the maximum's ties likewise, and the target's
///   own element from `1 − y_c`, formed without cancellation (`(Σ − 1)/Σ` when `x_c` is the
///   maximum) and rounded once.
///
/// Returns the rows the vector path did not take (their losses and gradients left for the
/// caller), or `None` where `isa` has no vector kernels. Rows are shared among the pool's threads;
/// every row's arithmetic is the same whatever the split.
pub(crate) fn cross_entropy_rows_f32(
    isa: Isa,
    x: &[f32],
    len: usize,
    classes: &[Option<usize>],
    scale: &CrossEntropyScale<'_>,
    losses: &mut [f64],
    grad: Option<&mut [f32]>,
) -> Option<Vec<usize>> {
    let k = kernels(isa)?;
    assert!(len > 0 && x.len() == len * classes.len() && losses.len() == classes.len());
    if len <= SHORT {
        return Some(short_cross_entropy(isa, k, x, len, classes, scale, losses, grad));
    }
    if len <= CE_BATCH_LEN {
        let task =
            |first: usize, xs: &[f32], cs: &[Option<usize>], ls: &mut [f64], gs: Option<&mut [f32]>| {
                ce_batch(k, scale, len, first, (xs, cs, ls, gs))
            };
        return Some(loss_tasks(x, len, classes, losses, grad, (TASK / len).max(1), &task));
    }
    // Long rows parallelise inside the row (see `long_stats`).
    let row = |xr: &[f32], c, w, factor, gr: Option<&mut [f32]>, _: Option<&[f32]>| {
        cross_entropy_row(k, xr, c, w, factor, gr)
    };
    Some(cross_entropy_rows(x, len, classes, scale, losses, grad, len > CHUNK, &row))
}

/// The fused cross-entropy of contiguous `f64` rows, as [`cross_entropy_rows_f32`] (see
/// `x86_f64`'s `cross_entropy_row`); a row is never split.
pub(crate) fn cross_entropy_rows_f64(
    isa: Isa,
    x: &[f64],
    len: usize,
    classes: &[Option<usize>],
    scale: &CrossEntropyScale<'_>,
    losses: &mut [f64],
    grad: Option<&mut [f64]>,
) -> Option<Vec<usize>> {
    let k = kernels(isa)?;
    if len < F64_BATCH_BELOW {
        let task =
            |first: usize, xs: &[f64], cs: &[Option<usize>], ls: &mut [f64], gs: Option<&mut [f64]>| {
                // Rows whose weight or factor is not finite are left to the caller, as below.
                let targets: Vec<Option<(usize, f64)>> =
                    cs.iter().map(|&c| c.and_then(|c| Some((c, scale.of(c)?.0)))).collect();
                let mut out = vec![None; cs.len()];
                let mut gs = gs;
                // SAFETY: the instruction set was checked to be available; the classes are below
                // `len` (the caller checked them) and `gs` holds whole rows.
                unsafe {
                    (k.cross_entropy_rows64)(xs, len, &targets, scale.divisor, gs.as_deref_mut(), &mut out)
                };
                let mut rejected = Vec::new();
                let mut g_rows = gs.map(|g| g.chunks_exact_mut(len));
                for (i, ((c, o), l)) in cs.iter().zip(out).zip(ls.iter_mut()).enumerate() {
                    let gr = g_rows.as_mut().and_then(Iterator::next);
                    match (c, o) {
                        (None, _) => {
                            if let Some(g) = gr {
                                g.fill(0.0);
                            }
                            *l = 0.0;
                        }
                        (Some(_), Some(loss)) => *l = loss,
                        (Some(_), None) => rejected.push(first + i),
                    }
                }
                rejected
            };
        return Some(loss_tasks(x, len, classes, losses, grad, (TASK / len).max(1), &task));
    }
    // The kernel folds `w/divisor` into its scaling unrounded.
    let row = |xr: &[f64], c, w, _, gr: Option<&mut [f64]>, ahead: Option<&[f64]>| {
        // SAFETY: the instruction set was checked to be available; `c < len` (the caller checked
        // the classes) and `gr` is a whole row.
        unsafe { (k.cross_entropy_row64)(xr, c, w, scale.divisor, gr, ahead) }
    };
    Some(cross_entropy_rows(x, len, classes, scale, losses, grad, false, &row))
}

/// One row of a fused cross-entropy: `(x, class, weight, factor, grad, next row) → loss`, or
/// `None` to leave the row to the caller.
type CrossEntropyRow<'a, E> =
    dyn Fn(&[E], usize, f64, f64, Option<&mut [E]>, Option<&[E]>) -> Option<f64> + Sync + 'a;

/// The rows of a fused cross-entropy call, shared among the pool's threads a task of rows at a
/// time (one task for all when `inside`: long rows that parallelise inside themselves). Ignored
/// rows get loss 0 and gradient 0 here; rows whose weight or factor is not finite (or a mean
/// over no weight at all) are left to the caller, whose path gives them PyTorch's NaN and
/// infinity rules. Returns the rows left to the caller.
#[allow(clippy::too_many_arguments)]
fn cross_entropy_rows<E: Copy + Send + Sync + From<f32>>(
    x: &[E],
    len: usize,
    classes: &[Option<usize>],
    scale: &CrossEntropyScale<'_>,
    losses: &mut [f64],
    grad: Option<&mut [E]>,
    inside: bool,
    row: &CrossEntropyRow<'_, E>,
) -> Vec<usize> {
    assert!(len > 0 && x.len() == len * classes.len() && losses.len() == classes.len());
    let task = |first: usize, xs: &[E], cs: &[Option<usize>], ls: &mut [f64], gs: Option<&mut [E]>| {
        let mut rejected = Vec::new();
        let mut gs = gs.map(|g| g.chunks_exact_mut(len));
        for (i, ((xr, &c), l)) in xs.chunks_exact(len).zip(cs).zip(ls.iter_mut()).enumerate() {
            let gr = gs.as_mut().and_then(Iterator::next);
            let Some(c) = c else {
                if let Some(g) = gr {
                    g.fill(E::from(0.0));
                }
                *l = 0.0;
                continue;
            };
            let ahead = xs.get((i + 1) * len..(i + 2) * len);
            match scale.of(c).and_then(|(w, factor)| row(xr, c, w, factor, gr, ahead)) {
                Some(loss) => *l = loss,
                None => rejected.push(first + i),
            }
        }
        rejected
    };
    if inside {
        return task(0, x, classes, losses, grad);
    }
    loss_tasks(x, len, classes, losses, grad, (TASK / len).max(1), &task)
}

/// A task of a fused cross-entropy call: `(first row, x, classes, losses, gradient) → the rows
/// it leaves to the caller`.
type LossTask<'a, E> =
    dyn Fn(usize, &[E], &[Option<usize>], &mut [f64], Option<&mut [E]>) -> Vec<usize> + Sync + 'a;

/// Runs `task` on the pool's threads over tasks of `rows_per_task` rows (and their classes,
/// losses and gradient rows), gathering the rows left to the caller in order; one call for all
/// where the input is too small to share.
fn loss_tasks<E: Send + Sync>(
    x: &[E],
    len: usize,
    classes: &[Option<usize>],
    losses: &mut [f64],
    grad: Option<&mut [E]>,
    rows_per_task: usize,
    task: &LossTask<'_, E>,
) -> Vec<usize> {
    use rayon::prelude::*;
    if !parallel(x.len()) {
        return task(0, x, classes, losses, grad);
    }
    let per_task = rows_per_task * len;
    let xs = x
        .par_chunks(per_task)
        .zip(classes.par_chunks(rows_per_task))
        .zip(losses.par_chunks_mut(rows_per_task));
    let parts: Vec<Vec<usize>> = match grad {
        Some(g) => xs
            .zip(g.par_chunks_mut(per_task))
            .enumerate()
            .map(|(t, (((xs, cs), ls), gs))| task(t * rows_per_task, xs, cs, ls, Some(gs)))
            .collect(),
        None => xs.enumerate().map(|(t, ((xs, cs), ls))| task(t * rows_per_task, xs, cs, ls, None)).collect(),
    };
    parts.concat()
}

/// One `f32` row of [`cross_entropy_rows_f32`] against class `c` (weight `w`, gradient factor
/// `factor`, both finite): its loss, or `None` to leave it to the caller.
fn cross_entropy_row(
    k: &Kernels,
    x: &[f32],
    c: usize,
    w: f64,
    factor: f64,
    grad: Option<&mut [f32]>,
) -> Option<f64> {
    let mut grad = grad;
    // A long row's chunk records, or a short row's ties (its terms stored whenever `grad` is).
    let (st, long, short_ties) = if x.len() > CHUNK {
        let l = long_stats(k, x, grad.as_deref_mut())?;
        (l.st, Some(l), Ties::new())
    } else {
        let (st, ties) = short_stats(k, x, grad.as_deref_mut())?;
        (st, None, ties)
    };
    let offset = f64::from(x[c]) - f64::from(st.max);
    let (loss, scalars) = ce_scalars(&st, offset, w, factor, grad.is_some())?;
    if let (Some(g), Some((r, top, target))) = (grad, scalars) {
        let (ties, offsets): (&[Ties], &[Option<i32>]) = match &long {
            Some(l) => (&l.ties, &l.offsets),
            None => (std::slice::from_ref(&short_ties), &[Some(0)]),
        };
        scale_row(k, x, g, st.max, r, top, ties, offsets);
        g[c] = target;
    }
    Some(loss)
}

/// The scalar part of one row's fused cross-entropy from its statistics and `x_c − m`
/// (`offset`): the loss and, with a gradient, `(r, top, target)`: the factor over the sum of
/// pass 2's terms, the maximum's ties' gradient and the target's own; `None` to leave the row to
/// the caller.
fn ce_scalars(st: &Stats, offset: f64, w: f64, factor: f64, grad: bool) -> Option<CeScalars> {
    // A zero weight makes the loss 0 even where the target's log-probability is −inf.
    let loss = if w == 0.0 { 0.0 } else { w * (st.ln_sum() - offset) };
    if !grad {
        return Some((loss, None));
    }
    // Σ exp(x_i − m), and the factor over Σ of pass 2's terms.
    let total = st.ties + st.rest / st.e_max;
    let r = factor / st.sum();
    // The small parts of pass 3's products stay normal while `r` does not go below 2⁻⁹⁰
    // (a weight near f32's smallest, or a divisor near its largest, takes the portable path).
    if r != 0.0 && r < 2f64.powi(-90) {
        return None;
    }
    let top = (factor / total) as f32;
    // 1 − y_c: from the sum without its top term when x_c is the maximum, directly otherwise
    // (y_c ≤ 1/2 then, so nothing cancels).
    // (The crate's own exponential, within an ulp of f64: no libm call per row.)
    let rest_of_one = if offset == 0.0 {
        st.sum_minus_one() / total
    } else {
        1.0 - crate::kernels::exp::exp_f64(offset) / total
    };
    Some((loss, Some((r, top, (-factor * rest_of_one) as f32))))
}

/// [`ce_scalars`]'s result: the loss and, with a gradient, `(r, top, target)`.
type CeScalars = (f64, Option<(f64, f32, f32)>);

/// One task's rows of a fused cross-entropy: `x`, the classes, the losses and the gradient.
type CeRows<'a> = (&'a [f32], &'a [Option<usize>], &'a mut [f64], Option<&'a mut [f32]>);

/// Rows of the fused cross-entropy up to this long go in batches of 16 ([`ce_batch`]).
const CE_BATCH_LEN: usize = 4096;

/// The fused cross-entropy of rows of `SHORT < len ≤ CE_BATCH_LEN` (one task's share of
/// [`cross_entropy_rows`], same arguments and result), 16 rows at a time: every row's passes 1
/// and 2, then the per-row arithmetic of all of them a vector of rows at a time (`x86::ce_rows`,
/// the bits [`ce_scalars`] gives one row), then every row's pass 3. No row waits on its own
/// scalar tail.
fn ce_batch(
    k: &Kernels,
    scale: &CrossEntropyScale<'_>,
    len: usize,
    first: usize,
    (xs, cs, ls, gs): CeRows<'_>,
) -> Vec<usize> {
    let mut rejected = Vec::new();
    let mut g_batches = gs.map(|g| g.chunks_mut(16 * len));
    for (b, ((xs, cs), ls)) in xs.chunks(16 * len).zip(cs.chunks(16)).zip(ls.chunks_mut(16)).enumerate() {
        let mut gb = g_batches.as_mut().and_then(Iterator::next);
        let mut rows = CeRowStats {
            max: [0.0; 16],
            ties: [1.0; 16],
            rest: [0.0; 16],
            xc: [0.0; 16],
            w: [0.0; 16],
            factor: [0.0; 16],
        };
        let (mut ties, mut taken) = (std::array::from_fn::<Ties, 16, _>(|_| Ties::new()), [false; 16]);
        // The maximum of every row that has a class with a usable weight first: a row's pass 2
        // then waits for no reduction just finished.
        let mut wanted = [None; 16];
        for ((want, xr), &c) in wanted.iter_mut().zip(xs.chunks_exact(len)).zip(cs) {
            if let Some((c, (w, factor))) = c.and_then(|c| Some((c, scale.of(c)?))) {
                // SAFETY: `kernels` checked that the machine runs the instruction set.
                *want = Some((c, w, factor, unsafe { (k.max)(xr) }));
            }
        }
        let mut g_rows = gb.as_deref_mut().map(|g| g.chunks_exact_mut(len));
        for (i, (xr, want)) in xs.chunks_exact(len).zip(wanted).enumerate() {
            let gr = g_rows.as_mut().and_then(Iterator::next);
            let Some((c, w, factor, max)) = want else { continue };
            if !in_range(max) {
                continue;
            }
            // SAFETY: as above; `g` is a whole row.
            let (count, rest) = match gr {
                Some(g) => unsafe { (k.sum_store)(xr, g, max, &mut ties[i]) },
                None => unsafe { (k.sum)(xr, max, &mut ties[i]) },
            };
            // A NaN anywhere in the row has made the sum NaN.
            if rest.is_finite() {
                (rows.max[i], rows.ties[i], rows.rest[i], rows.xc[i]) = (max, count, rest, xr[c]);
                (rows.w[i], rows.factor[i], taken[i]) = (w, factor, true);
            }
        }
        // SAFETY: as above.
        let [loss, r, top, target] = unsafe { (k.ce_rows)(&rows) };
        let mut g_rows = gb.map(|g| g.chunks_exact_mut(len));
        for (i, (xr, &c)) in xs.chunks_exact(len).zip(cs).enumerate() {
            let gr = g_rows.as_mut().and_then(Iterator::next);
            let Some(c) = c else {
                if let Some(g) = gr {
                    g.fill(0.0);
                }
                ls[i] = 0.0;
                continue;
            };
            // The small parts of pass 3's products stay normal while `r` does not go below
            // 2⁻⁹⁰ (as in `ce_scalars`).
            if !taken[i] || (gr.is_some() && r[i] != 0.0 && r[i] < 2f64.powi(-90)) {
                rejected.push(first + 16 * b + i);
                continue;
            }
            ls[i] = loss[i];
            if let Some(g) = gr {
                let (ties, offsets) = (std::slice::from_ref(&ties[i]), &[Some(0)]);
                scale_row(k, xr, g, rows.max[i], r[i], top[i] as f32, ties, offsets);
                g[c] = target[i] as f32;
            }
        }
    }
    rejected
}

/// `1/s` as an `f32` pair (`rh + rl` to about 2⁻⁴⁸).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code, reason = "only the x86 column kernels use it"))]
pub(crate) fn reciprocal_pair(st: &Stats) -> (f32, f32) {
    let r = 1.0 / st.sum();
    let rh = r as f32;
    (rh, (r - f64::from(rh)) as f32)
}

/// How far pass 3 over stored terms lifts its products: `y = RN(e·(rh + rl))·2^−P` with
/// `rh + rl = r·2^P`. The small product `e·rl` is about `2⁻²⁴` of the output; without the lift it
/// would fall below the normal range (and lose bits) for outputs under 2⁻¹⁰², while with it the
/// whole product is normal for every output that is, and the final `·2^−P` is exact for those.
const LIFT: i32 = 32;

/// The factors of pass 3 over stored terms (`x86::scale_pass`) for `y = e·r·2^offset`, the
/// terms stored `2^−offset` times the row's (a chunk below the row's maximum, `offset ≤ 0`):
/// `(rh, rl, 2^(offset − P))`. `None` where the stored terms cannot give every normal output to
/// the bound, and must be recomputed instead: `r > 1` (a large cross-entropy weight), where a
/// normal output could come from a term that is subnormal as an `f32`, or an offset below
/// [`LOWEST_OFFSET`].
pub(crate) fn stored_scale(r: f64, offset: i32) -> Option<(f32, f32, f32)> {
    if r.is_nan() || r > 1.0 || offset < LOWEST_OFFSET {
        return None;
    }
    let lifted = r * 2f64.powi(LIFT);
    let rh = lifted as f32;
    // 2^(offset − P), at least 2⁻¹²² (a normal f32), from its bits: `powi` is a library call.
    let post = f32::from_bits(((offset - LIFT + 127) as u32) << 23);
    Some((rh, (lifted - f64::from(rh)) as f32, post))
}

/// `logsumexp` of each contiguous row of length `len` (`len > 0`) into `out`, one per row;
/// rows it cannot take are passed to `fallback`. Returns false where `isa` has no vector kernels.
pub(crate) fn logsumexp_rows_f32(
    isa: Isa,
    x: &[f32],
    out: &mut [f32],
    len: usize,
    fallback: &LseFallback,
) -> bool {
    let Some(k) = kernels(isa) else { return false };
    if len > CHUNK {
        for (xr, o) in x.chunks_exact(len).zip(out.iter_mut()) {
            *o = match long_stats(k, xr, None) {
                Some(LongStats { st, .. }) => st.logsumexp_f32().unwrap_or_else(|| fallback(xr)),
                None => fallback(xr),
            };
        }
    } else {
        let batch = |xs: &[f32], os: &mut [f32]| {
            if len == 1 {
                // A row of one finite value is its own logsumexp.
                for (&v, o) in xs.iter().zip(os.iter_mut()) {
                    *o = if v.is_finite() { v } else { fallback(&[v]) };
                }
            } else if len <= SHORT {
                short_logsumexp(isa, k, xs, os, len, fallback);
            } else {
                // SAFETY: `kernels` checked that the machine runs this instruction set.
                unsafe { (k.lse_rows)(xs, os, len, fallback) }
            }
        };
        row_output_tasks(x, out, len, &batch);
    }
    true
}

/// Rows of at least this many `f32` elements (2 MiB) get their softmax backward pass (`dx`) and
/// their log-softmax written past the caches, as `memcpy` writes large copies: the row with its
/// input is beyond any L2, and ordinary stores would first read each line of the output from
/// memory. Measured with `softmax bench`, one thread, against the copy: backward 4 × 10⁶ 0.30–0.32
/// → 0.40, 1 × 2²⁴ 0.39–0.43 → 0.48; log-softmax 0.27–0.28 → 0.30–0.31 and 0.38 → 0.40 (at 16 ×
/// 2²⁰ unchanged). The rows of a batch do not: at 4096 × 1024 the streamed backward pass was 10 %
/// slower there (part of the batch stays in L3), and no faster out of cache (`bench/compare.py`'s
/// rotating buffers). Softmax's pass 3 rewrites the terms pass 2 stored, whose lines are already
/// in cache, so streaming would save it nothing.
pub(crate) const STREAM_FROM: usize = 1 << 19;

/// The softmax backward pass `dx = y ⊙ (dy − ⟨y, dy⟩)` of contiguous rows of length `len`
/// (`f32`, temperature 1, no mask). Rows with a NaN or an infinity go to `fallback`. Returns
/// false where `isa` has no vector kernels.
pub(crate) fn softmax_backward_rows_f32(
    isa: Isa,
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    len: usize,
    fallback: &BackwardFallback,
) -> bool {
    use rayon::prelude::*;
    let Some(k) = kernels(isa) else { return false };
    if len == 0 {
        return true;
    }
    if len > CHUNK {
        let stream = len >= STREAM_FROM;
        let rows = y.chunks_exact(len).zip(dy.chunks_exact(len)).zip(dx.chunks_exact_mut(len));
        for ((yr, dyr), dxr) in rows {
            // SAFETY (both passes): `kernels` checked that the machine runs the instruction set.
            let parts: Vec<f64> = yr
                .par_chunks(CHUNK)
                .zip(dyr.par_chunks(CHUNK))
                .map(|(a, b)| unsafe { (k.dot)(a, b) })
                .collect();
            let dot: f64 = parts.iter().sum();
            if !dot.is_finite() {
                fallback(yr, dyr, dxr);
                continue;
            }
            dxr.par_chunks_mut(CHUNK)
                .zip(yr.par_chunks(CHUNK).zip(dyr.par_chunks(CHUNK)))
                .for_each(|(o, (a, b))| unsafe { (k.vjp)(a, b, o, dot, stream) });
        }
    } else if parallel(y.len()) {
        let per_task = (TASK / len).max(1) * len;
        let tasks = y.par_chunks(per_task).zip(dy.par_chunks(per_task)).zip(dx.par_chunks_mut(per_task));
        tasks.for_each(|((a, b), o)| {
            // SAFETY: as above.
            unsafe { (k.backward_rows)(a, b, o, len, fallback) }
        });
    } else {
        // SAFETY: as above.
        unsafe { (k.backward_rows)(y, dy, dx, len, fallback) };
    }
    true
}

/// Conversions between `f32` and the bits of the half types, vectorised where the machine can:
/// widening is exact, narrowing rounds to nearest with ties to even (NaN stays NaN).
pub(crate) mod halves {
    #[cfg(target_arch = "x86_64")]
    use super::x86::halves as x;

    #[cfg(target_arch = "x86_64")]
    fn avx512() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(target_arch = "x86_64")]
    fn avx2() -> bool {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("f16c")
    }

    /// Whether some `|v|` in `src` equals `edge` (vectorised where the machine can).
    pub(crate) fn any_magnitude(src: &[f32], edge: f32) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: the features were detected.
            if avx512() {
                return unsafe { x::any_magnitude_avx512(src, edge) };
            } else if std::arch::is_x86_feature_detected!("avx2") {
                return unsafe { x::any_magnitude_avx2(src, edge) };
            }
        }
        src.iter().any(|v| v.abs() == edge)
    }

    pub(crate) fn f16_to_f32(src: &[u16], dst: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: the features were detected.
            if avx512() {
                return unsafe { x::f16_to_f32_avx512(src, dst) };
            } else if avx2() {
                return unsafe { x::f16_to_f32_avx2(src, dst) };
            }
        }
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = half::f16::from_bits(s).to_f32();
        }
    }

    pub(crate) fn f32_to_f16(src: &[f32], dst: &mut [u16]) {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: the features were detected.
            if avx512() {
                return unsafe { x::f32_to_f16_avx512(src, dst) };
            } else if avx2() {
                return unsafe { x::f32_to_f16_avx2(src, dst) };
            }
        }
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = half::f16::from_f32(s).to_bits();
        }
    }

    pub(crate) fn bf16_to_f32(src: &[u16], dst: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: the features were detected.
            if avx512() {
                return unsafe { x::bf16_to_f32_avx512(src, dst) };
            } else if avx2() {
                return unsafe { x::bf16_to_f32_avx2(src, dst) };
            }
        }
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = f32::from_bits(u32::from(s) << 16);
        }
    }

    pub(crate) fn f32_to_bf16(src: &[f32], dst: &mut [u16]) {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: the features were detected.
            if avx512() {
                return unsafe { x::f32_to_bf16_avx512(src, dst) };
            } else if avx2() {
                return unsafe { x::f32_to_bf16_avx2(src, dst) };
            }
        }
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = half::bf16::from_f32(s).to_bits();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::halves;

    /// Every half bit pattern widens exactly, and `f32` values (every pattern of the top 16 bits
    /// with several low parts, ties among them) narrow as `half` rounds them, on every path the
    /// machine has (the vector loops and their scalar tails).
    #[test]
    fn half_conversions_match_the_reference() {
        let all: Vec<u16> = (0..=u16::MAX).collect();
        let mut wide = vec![0.0f32; all.len()];
        halves::f16_to_f32(&all, &mut wide);
        for (&h, &w) in all.iter().zip(&wide) {
            let want = half::f16::from_bits(h).to_f32();
            assert!(w.to_bits() == want.to_bits() || (w.is_nan() && want.is_nan()), "f16 {h:#06x}");
        }
        halves::bf16_to_f32(&all, &mut wide);
        for (&h, &w) in all.iter().zip(&wide) {
            assert_eq!(w.to_bits(), u32::from(h) << 16, "bf16 {h:#06x}");
        }
        let lows = [0u32, 1, 0x0FFF, 0x1000, 0x1001, 0x7FFF, 0x8000, 0x8001, 0xFFFF];
        let values: Vec<f32> = (0..=u16::MAX)
            .flat_map(|h| lows.iter().map(move |&l| f32::from_bits((u32::from(h) << 16) | l)))
            .collect();
        let mut narrow = vec![0u16; values.len()];
        halves::f32_to_f16(&values, &mut narrow);
        for (&v, &n) in values.iter().zip(&narrow) {
            let want = half::f16::from_f32(v);
            assert!(n == want.to_bits() || (v.is_nan() && half::f16::from_bits(n).is_nan()), "f16 of {v:e}");
        }
        halves::f32_to_bf16(&values, &mut narrow);
        for (&v, &n) in values.iter().zip(&narrow) {
            let want = half::bf16::from_f32(v);
            assert!(
                n == want.to_bits() || (v.is_nan() && half::bf16::from_bits(n).is_nan()),
                "bf16 of {v:e}"
            );
        }
    }

    /// The scan for the one value the half types' vector narrowing rounds apart: found at the
    /// start, in a vector's body and in the tail, with either sign, and not found otherwise (a
    /// neighbour, a NaN, an infinity), on the dispatched path and on AVX2.
    #[test]
    fn the_edge_scan_finds_either_sign_anywhere() {
        let edge = 65520.0f32;
        type Scan = fn(&[f32], f32) -> bool;
        let mut scans: Vec<(&str, Scan)> = vec![("dispatched", halves::any_magnitude)];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was detected.
            scans.push(("avx2", |s, e| unsafe { super::x86::halves::any_magnitude_avx2(s, e) }));
        }
        for (name, scan) in scans {
            for len in [0usize, 1, 7, 8, 15, 16, 17, 40, 333] {
                let mut v: Vec<f32> = (0..len).map(|i| (i as f32 - 20.0) * 1000.5).collect();
                if len > 2 {
                    v[1] = f32::from_bits(edge.to_bits() + 1);
                    v[2] = f32::NAN;
                    v[len - 1] = f32::NEG_INFINITY;
                }
                assert!(!scan(&v, edge), "{name}: length {len}: found where absent");
                for at in [0, len / 2, len.saturating_sub(1)].into_iter().filter(|_| len > 0) {
                    for sign in [1.0f32, -1.0] {
                        let mut w = v.clone();
                        w[at] = sign * edge;
                        assert!(scan(&w, edge), "{name}: length {len}: {} at {at} missed", sign * edge);
                    }
                }
            }
        }
    }
}
