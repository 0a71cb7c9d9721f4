//! Forward row kernels: the `(max, sum)` statistics of a row, and softmax, log-softmax and
//! logsumexp from them.
//!
//! The exactness comes from three choices:
//! - the maximum is taken in input units, and `(x − max)/τ` is formed in double-double (`x − max`
//!   exactly, then a double-double division), so the exponential's argument is never rounded (the
//!   rounding of `x − max` is what costs the usual implementations their 64–98 ulp) and no
//!   temperature, however small, makes a finite `x/τ` overflow into an infinity;
//! - each `exp` is accurate to about 2⁻⁵⁸ and summed in double-double, with its power of two kept
//!   apart until the final store, so tiny terms keep their bits;
//! - the sum is kept as `1 + rest`, and `ln s` is `ln_1p(rest)`, so a dominant class gets its
//!   log-probability `−tiny` to full relative accuracy, and every quotient is a double-double
//!   division rounded once.

use super::dd::{Dd, two_prod, two_sum};
use super::exp::{exp_dd, exp_f64, ln_1p_precise};
use crate::options::MaskedRows;

/// The exponentials are summed scaled by `2^SUM_SHIFT`, so that terms down to 2⁻¹¹⁵⁰ keep all their
/// bits even when they are subnormal on their own; the sum is scaled back once.
const SUM_SHIFT: i32 = 128;

/// The temperature as the kernels use it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Temperature {
    tau: f64,
}

impl Temperature {
    /// `tau` must already be validated (finite and positive).
    pub fn new(tau: f64) -> Self {
        Temperature { tau }
    }

    /// `x / τ` as a double-double (exact up to 2⁻¹⁰⁴ relative); `±inf` only where the exact
    /// quotient is beyond `f64::MAX`.
    #[inline(always)]
    pub fn scale(self, x: f64) -> Dd {
        if self.tau == 1.0 {
            return Dd::new(x);
        }
        let hi = x / self.tau;
        if !hi.is_finite() || hi == 0.0 {
            return Dd::new(hi);
        }
        // x − hi·τ exactly: hi·τ is within one rounding of x.
        let (p, e) = two_prod(hi, self.tau);
        let residual = if p.is_finite() { (x - p) - e } else { (-hi).mul_add(self.tau, x) };
        Dd { hi, lo: residual / self.tau }
    }

    /// `(x − max)/τ` as a double-double: the difference exactly (halved first if it would
    /// overflow), then a double-double division. `−inf` for `x = −inf`.
    #[inline(always)]
    pub fn offset(self, x: f64, max: f64) -> Dd {
        let (d, e) = two_sum(x, -max);
        if d.is_finite() {
            let d = Dd { hi: d, lo: e };
            if self.tau == 1.0 { d } else { d.div(Dd::new(self.tau)) }
        } else if x.is_finite() {
            let (d, e) = two_sum(0.5 * x, -0.5 * max);
            Dd { hi: d, lo: e }.div(Dd::new(self.tau)).ldexp(1)
        } else {
            Dd::new(d)
        }
    }

    /// `(x − max)/τ` in plain `f64` (relative error 2⁻⁵²).
    #[inline(always)]
    pub fn offset_f64(self, x: f64, max: f64) -> f64 {
        let d = x - max;
        if d.is_finite() || !x.is_finite() {
            if self.tau == 1.0 { d } else { d / self.tau }
        } else {
            ((0.5 * x - 0.5 * max) / self.tau) * 2.0
        }
    }

    /// `v / τ` for a double-double, rounded to `f64`.
    #[inline(always)]
    pub fn divide(self, v: Dd) -> f64 {
        if self.tau == 1.0 { v.to_f64() } else { v.div(Dd::new(self.tau)).to_f64() }
    }
}

/// How the exponentials of a row are computed: the two precisions the kernels come in.
pub(crate) trait Precision {
    /// `exp((x − max)/τ) · 2^SUM_SHIFT`, to be summed.
    fn term(x: f64, max: f64, tau: Temperature) -> Dd;
    /// `exp((x − max)/τ) / sum`.
    fn probability(x: f64, max: f64, tau: Temperature, sum: Dd) -> f64;
    /// `(x − max)/τ − ln_sum`.
    fn log_probability(x: f64, max: f64, tau: Temperature, ln_sum: Dd) -> f64;
}

/// For `f64` outputs: every exponential to about 2⁻⁵⁸ in double-double with its power of two
/// kept apart, double-double sums and quotients.
pub(crate) struct Exact;

impl Precision for Exact {
    #[inline(always)]
    fn term(x: f64, max: f64, tau: Temperature) -> Dd {
        let (p, n) = exp_dd(tau.offset(x, max));
        p.ldexp(n + SUM_SHIFT)
    }
    #[inline(always)]
    fn probability(x: f64, max: f64, tau: Temperature, sum: Dd) -> f64 {
        let (p, n) = exp_dd(tau.offset(x, max));
        super::dd::ldexp(p.div(sum).to_f64(), n)
    }
    #[inline(always)]
    fn log_probability(x: f64, max: f64, tau: Temperature, ln_sum: Dd) -> f64 {
        // (x − max)/τ − ln s, both terms ≤ 0: no cancellation.
        tau.offset(x, max).sub(ln_sum).to_f64()
    }
}

/// For outputs of 24 bits or fewer (`f32`, `f16`, `bf16`): `(x − max)/τ` and the exponentials in
/// plain `f64` (relative error a few 2⁻⁵³, about 2⁻²⁸ of an `f32` ulp), summed in
/// double-double. Several times cheaper than [`Exact`], and as exact once rounded to `f32`.
pub(crate) struct Narrow;

impl Precision for Narrow {
    #[inline(always)]
    fn term(x: f64, max: f64, tau: Temperature) -> Dd {
        Dd::new(super::dd::ldexp(exp_f64(tau.offset_f64(x, max)), SUM_SHIFT))
    }
    #[inline(always)]
    fn probability(x: f64, max: f64, tau: Temperature, sum: Dd) -> f64 {
        exp_f64(tau.offset_f64(x, max)) / sum.to_f64()
    }
    #[inline(always)]
    fn log_probability(x: f64, max: f64, tau: Temperature, ln_sum: Dd) -> f64 {
        tau.offset_f64(x, max) - ln_sum.to_f64()
    }
}

/// Whether position `i` takes part (no mask: every position does).
#[inline(always)]
pub(crate) fn included(mask: Option<&[bool]>, i: usize) -> bool {
    mask.is_none_or(|m| m[i])
}

/// The log-sum-exp statistics of a row or of a chunk of one: a commutative monoid under
/// [`RowStats::merge`].
///
/// The maximum is kept in input units (`x`, not `x/τ`): `x/τ` may overflow where every
/// `(x − max)/τ` that matters does not. The sum is kept as `s = 1 + rest`: one entry attaining
/// the maximum contributes exactly 1, and `rest` sums all the others. A dominant class then keeps
/// the full relative accuracy of `rest` (which may be 1e-30), where `1 + rest` in double-double
/// would keep only 2⁻¹⁰⁶ of 1 and `ln s` would lose its last bits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RowStats {
    /// Largest finite `x` taking part (`-inf` when there is none).
    pub max: f64,
    /// `Σ exp((x − max)/τ) − 1` over the finite `x` taking part (0 when there is none).
    pub rest: Dd,
    /// How many `x` taking part are `+inf`.
    pub posinf: u64,
    /// Whether a NaN takes part.
    pub nan: bool,
}

/// What a row's outputs are, decided by its statistics.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RowKind {
    /// A NaN takes part: every output is NaN.
    Nan,
    /// `k` entries are `+inf`: they share the mass.
    PosInf(u64),
    /// Nothing finite or `+inf` takes part (all `-inf`, all masked, or empty).
    NoMass,
    /// The ordinary case.
    Finite,
}

impl RowStats {
    pub const EMPTY: RowStats = RowStats { max: f64::NEG_INFINITY, rest: Dd::ZERO, posinf: 0, nan: false };

    /// Two passes over the row: the maximum (and where it is), then the sum of the other
    /// exponentials.
    pub fn of_row<P: Precision>(x: &[f64], mask: Option<&[bool]>, tau: Temperature) -> RowStats {
        let mut stats = RowStats::EMPTY;
        let mut argmax = 0;
        for (i, &xi) in x.iter().enumerate() {
            if !included(mask, i) {
                continue;
            }
            if xi.is_nan() {
                stats.nan = true;
            } else if xi == f64::INFINITY {
                stats.posinf += 1;
            } else if xi > stats.max {
                stats.max = xi;
                argmax = i;
            }
        }
        if stats.nan || stats.posinf > 0 || stats.max == f64::NEG_INFINITY {
            return stats;
        }
        let mut scaled = Dd::ZERO;
        for (i, &xi) in x.iter().enumerate() {
            if i != argmax && included(mask, i) {
                scaled = scaled.add(P::term(xi, stats.max, tau));
            }
        }
        stats.rest = scaled.ldexp(-SUM_SHIFT);
        stats
    }

    /// `s = Σ exp((x − max)/τ)`, at least 1 when anything finite takes part.
    pub fn sum(&self) -> Dd {
        if self.max == f64::NEG_INFINITY { Dd::ZERO } else { Dd::ONE.add(self.rest) }
    }

    /// Combines the statistics of two disjoint parts of a row, taken at temperature `tau`.
    pub fn merge(self, other: RowStats, tau: Temperature) -> RowStats {
        let nan = self.nan || other.nan;
        let posinf = self.posinf.saturating_add(other.posinf);
        let (big, small) = if other.max > self.max { (other, self) } else { (self, other) };
        let rest = if small.max == f64::NEG_INFINITY {
            big.rest
        } else {
            // big.rest + f·(1 + small.rest), with f = exp((small.max − big.max)/τ) ≤ 1, its power
            // of two applied last.
            let (p, n) = exp_dd(tau.offset(small.max, big.max));
            big.rest.add(p.mul(Dd::ONE.add(small.rest)).ldexp(n))
        };
        RowStats { max: big.max, rest, posinf, nan }
    }

    pub fn kind(&self) -> RowKind {
        if self.nan {
            RowKind::Nan
        } else if self.posinf > 0 {
            RowKind::PosInf(self.posinf)
        } else if self.max == f64::NEG_INFINITY {
            RowKind::NoMass
        } else {
            RowKind::Finite
        }
    }

    /// `ln s = ln(1 + rest)` of a finite row, to about 2⁻¹⁰⁰ relative.
    pub fn ln_sum(&self) -> Dd {
        ln_1p_precise(self.rest)
    }

    /// `ln Σ exp(x/τ)`: `+inf` with an `+inf` entry, `-inf` when nothing has mass (whatever the
    /// masked-row policy: it is `ln 0`, as for an empty row), NaN with a NaN.
    pub fn logsumexp(&self, tau: Temperature) -> f64 {
        match self.kind() {
            RowKind::Nan => f64::NAN,
            RowKind::PosInf(_) => f64::INFINITY,
            RowKind::NoMass => f64::NEG_INFINITY,
            RowKind::Finite => tau.scale(self.max).add(self.ln_sum()).to_f64(),
        }
    }

    /// Softmax of the positions of `x` (the whole row or one chunk of it) given the row's
    /// statistics.
    pub fn softmax_into<P: Precision>(
        &self,
        x: &[f64],
        mask: Option<&[bool]>,
        tau: Temperature,
        policy: MaskedRows,
        out: &mut [f64],
    ) {
        let per_entry = || {
            let sum = self.sum();
            move |xi| P::probability(xi, self.max, tau, sum)
        };
        self.write_row(x, mask, policy, out, 0.0, |k| 1.0 / k as f64, per_entry);
    }

    /// Log-softmax of the positions of `x` given the row's statistics.
    pub fn log_softmax_into<P: Precision>(
        &self,
        x: &[f64],
        mask: Option<&[bool]>,
        tau: Temperature,
        policy: MaskedRows,
        out: &mut [f64],
    ) {
        let per_entry = || {
            let ln_sum = self.ln_sum();
            move |xi| P::log_probability(xi, self.max, tau, ln_sum)
        };
        self.write_row(x, mask, policy, out, f64::NEG_INFINITY, |k| -(k as f64).ln(), per_entry);
    }

    /// The special-value rules shared by softmax and log-softmax: `nothing` is what an entry
    /// without mass gives (0 or `−inf`), `share(k)` what each of `k` `+inf` entries gets, and
    /// `per_entry` builds (only for a finite row, since `ln s` costs a few hundred operations)
    /// the function of an ordinary entry.
    #[allow(clippy::too_many_arguments, reason = "the two callers differ in exactly these")]
    fn write_row<F: Fn(f64) -> f64>(
        &self,
        x: &[f64],
        mask: Option<&[bool]>,
        policy: MaskedRows,
        out: &mut [f64],
        nothing: f64,
        share: impl Fn(u64) -> f64,
        per_entry: impl FnOnce() -> F,
    ) {
        match self.kind() {
            RowKind::Nan => out.fill(f64::NAN),
            RowKind::NoMass => out.fill(match policy {
                MaskedRows::Nan => f64::NAN,
                MaskedRows::Zeros => nothing,
            }),
            RowKind::PosInf(k) => {
                let share = share(k);
                for (i, (o, &xi)) in out.iter_mut().zip(x).enumerate() {
                    *o = if included(mask, i) && xi == f64::INFINITY { share } else { nothing };
                }
            }
            RowKind::Finite => {
                let value = per_entry();
                for (i, (o, &xi)) in out.iter_mut().zip(x).enumerate() {
                    *o = if included(mask, i) { value(xi) } else { nothing };
                }
            }
        }
    }
}
