//! Backward row kernels (vector–Jacobian products) and the softmax Jacobian.
//!
//! Dot products and sums are accumulated in double-double from exact products, so the only
//! rounding that reaches an output is the final one plus a relative 2⁻¹⁰⁴ of the row's norms.

use super::dd::{Dd, two_prod};
use super::exp::{exp_dd, exp_f64};
use super::forward::{Temperature, included};

/// Whether any taking-part position of `a` or `b` is NaN.
#[inline(always)]
fn row_has_nan(a: &[f64], b: &[f64], mask: Option<&[bool]>) -> bool {
    a.iter().zip(b).enumerate().any(|(i, (x, y))| included(mask, i) && (x.is_nan() || y.is_nan()))
}

/// Fills the outputs of a row that holds a NaN: NaN where the position takes part, 0 where it
/// is masked (a masked position's gradient is 0 under every policy).
fn fill_nan_row(mask: Option<&[bool]>, out: &mut [f64]) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = if included(mask, i) { f64::NAN } else { 0.0 };
    }
}

/// `dx = y ⊙ (dy − ⟨dy, y⟩) / τ`, over the positions that take part; 0 elsewhere.
pub(crate) fn softmax_backward_row(
    y: &[f64],
    dy: &[f64],
    mask: Option<&[bool]>,
    tau: Temperature,
    out: &mut [f64],
) {
    if row_has_nan(y, dy, mask) {
        return fill_nan_row(mask, out);
    }
    let mut dot = Dd::ZERO;
    for (i, (&yi, &dyi)) in y.iter().zip(dy).enumerate() {
        // A zero probability contributes 0, even against an infinite dy (no 0·inf = NaN).
        if included(mask, i) && yi != 0.0 {
            let (p, e) = two_prod(yi, dyi);
            dot = dot.add(Dd { hi: p, lo: e });
        }
    }
    for (i, (o, (&yi, &dyi))) in out.iter_mut().zip(y.iter().zip(dy)).enumerate() {
        *o = if included(mask, i) && yi != 0.0 {
            tau.divide(Dd::new(dyi).sub(dot).mul_f64(yi))
        } else {
            // A zero probability (a −inf logit, or a masked position) has gradient 0.
            0.0
        };
    }
}

/// `dx = (dy − exp(ly) · Σ dy) / τ`, over the positions that take part; 0 at masked positions
/// and where `ly = −inf` (a `−inf` logit gets gradient 0, as SPEC.md says). The sum and the
/// product are in double-double; `exp(ly)` too, or for results of 24 bits or fewer (`NARROW`) in
/// plain `f64` (under an ulp of `f64`, `2²⁹` times finer than the result, and about five times
/// faster).
pub(crate) fn log_softmax_backward_row<const NARROW: bool>(
    ly: &[f64],
    dy: &[f64],
    mask: Option<&[bool]>,
    tau: Temperature,
    out: &mut [f64],
) {
    if row_has_nan(ly, dy, mask) {
        return fill_nan_row(mask, out);
    }
    let mut total = Dd::ZERO;
    for (i, &dyi) in dy.iter().enumerate() {
        if included(mask, i) {
            total = total.add_f64(dyi);
        }
    }
    for (i, (o, (&lyi, &dyi))) in out.iter_mut().zip(ly.iter().zip(dy)).enumerate() {
        *o = if included(mask, i) && lyi != f64::NEG_INFINITY {
            let term = if NARROW {
                total.mul_f64(exp_f64(lyi))
            } else {
                let (p, n) = exp_dd(Dd::new(lyi));
                total.mul(p.ldexp(n))
            };
            tau.divide(Dd::new(dyi).sub(term))
        } else {
            0.0
        };
    }
}

/// `dx = dy ⊙ y ⊙ (1 − y) / τ`, one element.
#[inline(always)]
pub(crate) fn sigmoid_backward_one(y: f64, dy: f64, tau: Temperature) -> f64 {
    if y.is_nan() || dy.is_nan() {
        return f64::NAN;
    }
    // 1 − y is exact in double-double.
    tau.divide(Dd::ONE.sub(Dd::new(y)).mul_f64(y).mul_f64(dy))
}

/// One row's Jacobian `(diag(y) − y yᵀ) / τ`, given the row's softmax `y`, into a `K × K`
/// row-major block; rows and columns of masked positions are 0.
///
/// The diagonal needs `1 − yᵢ`: exact from the rounded `yᵢ` when `yᵢ ≤ 1/2`, but for the one
/// entry above 1/2 it is formed as the sum of all the others, which keeps its relative accuracy
/// when that entry dominates (`1 − 0.9999999` from a rounded `0.9999999` would keep few bits).
pub(crate) fn softmax_jacobian_row(y: &[f64], mask: Option<&[bool]>, tau: Temperature, out: &mut [f64]) {
    let k = y.len();
    let dominant = y.iter().position(|&v| v > 0.5);
    let dominant_complement = dominant
        .map(|d| y.iter().enumerate().filter(|&(j, _)| j != d).fold(Dd::ZERO, |acc, (_, &v)| acc.add_f64(v)));
    for (i, &yi) in y.iter().enumerate() {
        for (j, &yj) in y.iter().enumerate() {
            let entry = if !included(mask, i) || !included(mask, j) {
                // A masked position's row and column are 0 under every policy.
                Dd::ZERO
            } else if i == j {
                let complement = match (dominant, dominant_complement) {
                    (Some(d), Some(c)) if d == i => c,
                    _ => Dd::ONE.sub(Dd::new(yi)),
                };
                complement.mul_f64(yi)
            } else {
                let (p, e) = two_prod(yi, yj);
                Dd { hi: -p, lo: -e }
            };
            out[i * k + j] = tau.divide(entry);
        }
    }
}
