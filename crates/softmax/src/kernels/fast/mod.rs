//! Vectorised `f32` row kernels for contiguous rows: softmax, log-softmax and logsumexp along
//! the last axis, for AVX-512 and AVX2+FMA.
//!
//! # Method
//! Three passes over a row `x` of `f32`:
//! 1. the maximum `m`, and a check that every value is finite;
//! 2. `e_i = exp(x_i − j·ln 2)`, where `j = round(m / ln 2)`, as `hi + lo` (two `f32`s, the
//!    pair accurate to about 2⁻²⁶), summed in `f64`; the terms of the maximum's ties are counted
//!    apart, so that the sum relative to the maximum is `c + rest` with `rest` exact to a few
//!    ulp of itself;
//! 3. softmax: `y_i = RN(hi_i · (1/s))` with `1/s` as an `f32` pair, and the maximum's ties
//!    set to `RN(1/(c + rest))`; log-softmax: `y_i = RN((x_i − m) − ln(c + rest))` in `f64`.
//!
//! The exponential reduces `x` itself (not `x − m`, which `f32` would round): `n = round(x/ln 2)`
//! and `r = x − n·ln 2` with `ln 2` split in three so that the first two steps are exact for
//! `|x| < 2⁸·11` (and every `x` that matters lies within 110 of `m`, see [`MAX_ABS_MAX`]). A degree-6
//! polynomial, accurate to 2⁻²⁷·⁹ relative on `|r| ≤ 0.3475`, is evaluated with its last step
//! split into `hi + lo` exactly. Scaling by `2^(n − j + 2)` keeps every term that can produce an
//! output above `f32::MIN_POSITIVE` a normal number.
//!
//! Error budget per output, in ulp: 0.5 for the final rounding, up to 1 for `hi` having been
//! rounded once to `f32` (the relative error `2⁻²⁴` of a value whose significand is near 1,
//! seen by an output whose significand is near 2), and about 0.1 for everything else. Measured:
//! see the accuracy report.
//!
//! Rows the kernels do not take (a non-finite value, a maximum beyond ±[`MAX_ABS_MAX`]) go to
//! the exact portable path, row by row; so does every row under a temperature or a mask.

#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
mod x86;

use std::sync::atomic::{AtomicU8, Ordering};

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
/// 110 of the maximum, where the reduction's first two steps are exact (`|n| < 4096`).
pub(crate) const MAX_ABS_MAX: f32 = 2700.0;

/// Which forward operation a row pass computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Softmax,
    LogSoftmax,
}

/// The statistics of pass 2, relative to the maximum: `Σ exp(x_i − m) = ties + rest`.
#[derive(Clone, Copy, Debug)]
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
        let e_max = (max as f64 - j * std::f64::consts::LN_2).exp();
        Stats { max, e_max, ties, rest }
    }

    /// `Σ exp(x_i − m)` minus one, to full relative accuracy: `(c − 1) + rest/e_max`.
    pub fn sum_minus_one(&self) -> f64 {
        (self.ties - 1.0) + self.rest / self.e_max
    }

    /// `ln Σ exp(x_i − m)`.
    pub fn ln_sum(&self) -> f64 {
        // ln_1p is within an ulp of f64, far below what an f32 result can see.
        self.sum_minus_one().ln_1p()
    }

    /// `logsumexp` of the row.
    pub fn logsumexp(&self) -> f64 {
        self.max as f64 + self.ln_sum()
    }
}

pub(crate) const LOG2_E: f32 = std::f32::consts::LOG2_E;

/// Softmax or log-softmax of each contiguous row of length `len` in `x` into `y` with the
/// chosen instruction set. Rows it cannot take are passed to `fallback(row, out)`.
/// Returns false (doing nothing) on the portable path.
pub(crate) fn rows_f32(
    isa: Isa,
    op: Op,
    x: &[f32],
    y: &mut [f32],
    len: usize,
    fallback: &mut dyn FnMut(&[f32], &mut [f32]),
) -> bool {
    debug_assert_eq!(x.len(), y.len());
    if len == 0 {
        return true;
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if Isa::Avx512.is_available() => {
            // SAFETY: the features were detected just above.
            unsafe { x86::rows_avx512(op, x, y, len, fallback) };
            true
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if Isa::Avx2.is_available() => {
            // SAFETY: as above.
            unsafe { x86::rows_avx2(op, x, y, len, fallback) };
            true
        }
        _ => false,
    }
}

/// `logsumexp` of each contiguous row of length `len` (`len > 0`) into `out`, one per row;
/// rows it cannot take are passed to `fallback`. Returns false on the portable path.
pub(crate) fn logsumexp_rows_f32(
    isa: Isa,
    x: &[f32],
    out: &mut [f32],
    len: usize,
    fallback: &mut dyn FnMut(&[f32]) -> f32,
) -> bool {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if Isa::Avx512.is_available() => {
            // SAFETY: the features were detected just above.
            unsafe { x86::lse_rows_avx512(x, out, len, fallback) };
            true
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if Isa::Avx2.is_available() => {
            // SAFETY: as above.
            unsafe { x86::lse_rows_avx2(x, out, len, fallback) };
            true
        }
        _ => false,
    }
}
