//! Loss row kernels: cross-entropy of a row of logits against a coefficient vector (which covers
//! class indices, class weights, label smoothing and probability targets alike), and binary
//! cross-entropy with logits for one element.

use super::dd::{Dd, ldexp};
use super::dispatch::kernels;
use super::exp::exp_dd;
use super::forward::{RowKind, Temperature};
use super::sigmoid::{sigmoid, softplus};
use crate::options::MaskedRows;

/// `loss = −Σⱼ aⱼ · log_softmax(x)ⱼ`, and, when `grad` is given, `∂loss/∂x = y · Σa − a`.
///
/// Terms with `aⱼ = 0` contribute nothing, even where `log_softmax(x)ⱼ = −inf` (the `0 · ln 0 = 0`
/// convention). With `aⱼ ≥ 0` every term is non-negative, so the sum has no cancellation and the
/// loss is good to about one rounding. The coefficients are double-double so that weights times
/// `ε/K` and `1 − ε` enter unrounded. `scratch` holds at least `x.len()` values.
pub(crate) fn cross_entropy_row(x: &[f64], a: &[Dd], grad: Option<&mut [f64]>, scratch: &mut [f64]) -> f64 {
    let unit = Temperature::new(1.0);
    let k = kernels();
    let stats = (k.stats)(x, None, unit);
    let mut coefficient_sum = Dd::ZERO;
    let mut loss = Dd::ZERO;
    match stats.kind() {
        RowKind::Finite => {
            let ln_sum = stats.ln_sum();
            for (&xi, &ai) in x.iter().zip(a) {
                coefficient_sum = coefficient_sum.add(ai);
                if ai.hi != 0.0 {
                    // −log_softmax = ln s − (x − max) ≥ 0.
                    loss = loss.add(ln_sum.sub(unit.offset(xi, stats.max)).mul(ai));
                }
            }
            if let Some(grad) = grad {
                let sum = stats.sum();
                for ((g, &xi), &ai) in grad.iter_mut().zip(x).zip(a) {
                    let (p, n) = exp_dd(unit.offset(xi, stats.max));
                    // y·Σa = q·2ⁿ: where nothing is subtracted, q is rounded once and scaled
                    // last, so that a subnormal gradient is rounded once more at most (a
                    // double-double scaled into the subnormal range would lose its low part).
                    let q = p.div(sum).mul(coefficient_sum);
                    *g = if ai.hi == 0.0 && q.hi.is_finite() {
                        ldexp(q.to_f64(), n)
                    } else {
                        p.div(sum).ldexp(n).mul(coefficient_sum).sub(ai).to_f64()
                    };
                }
            }
        }
        _ => {
            // NaN, +inf or no mass: the special-value rules of log-softmax and softmax decide.
            let log_probs = &mut scratch[..x.len()];
            (k.log_softmax)(&stats, x, None, unit, MaskedRows::Nan, log_probs);
            for (&ly, &ai) in log_probs.iter().zip(a) {
                coefficient_sum = coefficient_sum.add(ai);
                if ai.hi != 0.0 {
                    loss = loss.add(Dd::new(-ly).mul(ai));
                }
            }
            if let Some(grad) = grad {
                (k.softmax)(&stats, x, None, unit, MaskedRows::Nan, grad);
                for (g, &ai) in grad.iter_mut().zip(a) {
                    *g = Dd::new(*g).mul(coefficient_sum).sub(ai).to_f64();
                }
            }
        }
    }
    loss.to_f64()
}

/// Binary cross-entropy with logits for one element, as `(loss, ∂loss/∂x)`:
/// `w · (p·t·softplus(−x) + (1 − t)·softplus(x))`, the two terms each non-negative for
/// `t ∈ [0, 1]`, `p ≥ 0` (never `ln(sigmoid)`, and no cancellation between the terms).
#[inline(always)]
pub(crate) fn bce_with_logits_one(x: f64, t: f64, pos_weight: f64, weight: f64) -> (f64, f64) {
    let xd = Dd::new(x);
    let positive = pos_weight * t;
    let negative = Dd::ONE.sub(Dd::new(t));
    let mut loss = Dd::ZERO;
    if positive != 0.0 {
        loss = loss.add(softplus(xd.neg()).mul_f64(positive));
    }
    if negative.hi != 0.0 {
        loss = loss.add(softplus(xd).mul(negative));
    }
    let loss = loss.mul_f64(weight).to_f64();
    // ∂/∂x = w · ((1 − t)·σ(x) − p·t·σ(−x)).
    let grad = Dd::new(sigmoid(xd))
        .mul(negative)
        .sub(Dd::new(sigmoid(xd.neg())).mul_f64(positive))
        .mul_f64(weight)
        .to_f64();
    (loss, grad)
}
