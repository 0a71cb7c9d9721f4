//! Sigmoid, log-sigmoid and softplus of one double-double argument.
//!
//! `sigmoid(q) = softmax([q, 0])₀`, and it is computed the same way: the exponential of the
//! non-positive one of `±q`, kept as `p · 2^n` until a double-double division rounds it once.

use super::dd::{Dd, ldexp};
use super::exp::{exp_dd, ln_1p_dd};

/// `1 / (1 + exp(−q))`.
#[inline(always)]
pub(crate) fn sigmoid(q: Dd) -> f64 {
    if q.hi.is_nan() {
        return f64::NAN;
    }
    if q.hi >= 0.0 {
        // exp(−q) ≤ 1.
        let (p, n) = exp_dd(q.neg());
        Dd::ONE.div(Dd::ONE.add(p.ldexp(n))).to_f64()
    } else {
        // exp(q) / (1 + exp(q)), with the power of two of exp(q) applied after the division.
        let (p, n) = exp_dd(q);
        ldexp(p.div(Dd::ONE.add(p.ldexp(n))).to_f64(), n)
    }
}

/// `ln(1 + exp(q))`, as a double-double.
#[inline(always)]
pub(crate) fn softplus(q: Dd) -> Dd {
    if q.hi.is_nan() {
        return Dd::new(f64::NAN);
    }
    if q.hi <= 0.0 {
        let (p, n) = exp_dd(q);
        ln_1p_dd(p.ldexp(n))
    } else if q.hi == f64::INFINITY {
        Dd::new(f64::INFINITY)
    } else {
        // q + ln(1 + exp(−q)): two positive terms.
        let (p, n) = exp_dd(q.neg());
        q.add(ln_1p_dd(p.ldexp(n)))
    }
}

/// `ln sigmoid(q) = −softplus(−q)`.
#[inline(always)]
pub(crate) fn log_sigmoid(q: Dd) -> f64 {
    softplus(q.neg()).neg().to_f64()
}
