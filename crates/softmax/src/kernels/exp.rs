//! `exp` and `ln(1 + u)` in the strengths the kernels need: double-double to about 2⁻⁵⁸ with the
//! power of two kept apart, so that tiny terms keep their bits until the final store
//! ([`exp_dd`], [`ln_1p_dd`]); double-double to about 2⁻¹⁰⁰ for the once-per-row `ln s`
//! ([`ln_1p_precise`]); and plain `f64` under an ulp for results of 24 bits or fewer
//! ([`exp_f64`]). Each is held to its bound against the oracle by the tests below.

use super::dd::{Dd, fast_two_sum, round_to_int, two_prod, two_sum};

/// ln 2 split in three: `LN2_HI` has 32 significant bits, so `n * LN2_HI` is exact for
/// `|n| < 2^21`; the three parts together are good to about 2⁻¹³⁸.
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
const LN2_LO2: f64 = 1.161_222_722_936_253_2e-26;
const LOG2_E: f64 = std::f64::consts::LOG2_E;

/// Below this argument `exp` is under 2⁻¹¹⁰⁰ and is returned as exactly zero: no result of this
/// crate can see it (every sum it joins is at least 1, and an `f64` output stops at 2⁻¹⁰⁷⁴).
const EXP_ZERO_BELOW: f64 = -762.0;
/// Above this argument the power of two would leave `ldexp`'s range; callers never get near it
/// (they exponentiate differences to a maximum, or logarithms of sums).
const EXP_INF_ABOVE: f64 = 1400.0;

/// `1/k!` for k = 0..=14: Taylor coefficients of `exp`. The double-double path uses k = 3..=14
/// (truncation after `a^14/14!` leaves under 2⁻⁶³ on `|a| <= ln2/2`), the plain one k = 2..=13,
/// the column kernels' statistics k = 0..=13.
pub(crate) const INV_FACT: [f64; 15] = [
    1.0,
    1.0,
    0.5,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40320.0,
    1.0 / 362880.0,
    1.0 / 3628800.0,
    1.0 / 39916800.0,
    1.0 / 479001600.0,
    1.0 / 6227020800.0,
    1.0 / 87178291200.0,
];

/// `exp(t)` as `(p, n)` with `exp(t) ≈ p · 2^n`, `p` in `[0.70, 1.42]` (or exactly 0), accurate to
/// about 2⁻⁵⁸ relative. `exp(0)` is exactly `(1, 0)`. NaN gives NaN, `-inf` gives 0, and
/// arguments above 1400 give `+inf`.
#[inline(always)]
pub(crate) fn exp_dd(t: Dd) -> (Dd, i32) {
    if t.hi < EXP_ZERO_BELOW {
        return (Dd::ZERO, 0);
    }
    if t.hi.is_nan() || t.hi > EXP_INF_ABOVE {
        return (Dd::new(t.hi * f64::INFINITY), 0);
    }
    let n = round_to_int(t.hi * LOG2_E);
    // Exact: n * LN2_HI has at most 43 significant bits, and it lies within a factor two of
    // t.hi whenever n != 0 (Sterbenz).
    let r_hi = t.hi - n * LN2_HI;
    let (c_hi, c_lo) = two_prod(n, LN2_LO);
    let (a, b) = two_sum(r_hi, -c_hi);
    let (r, r_lo) = fast_two_sum(a, b - c_lo - n * LN2_LO2 + t.lo);
    (exp_reduced(r, r_lo), n as i32)
}

/// `exp(t)` in plain `f64`, to under an ulp of `f64`: for results that are rounded to 24 bits or
/// fewer. Below −745.2 (where `exp` is below half the smallest `f64`) it is 0; NaN gives NaN.
#[inline(always)]
pub(crate) fn exp_f64(t: f64) -> f64 {
    if t < -745.2 {
        return 0.0;
    }
    if t.is_nan() || t > EXP_INF_ABOVE {
        return t * f64::INFINITY;
    }
    let n = round_to_int(t * LOG2_E);
    // n·LN2_HI is exact; the rest of ln 2 costs at most 2⁻⁵³ of n·LN2_LO.
    let r = (t - n * LN2_HI) - n * LN2_LO;
    // exp(r) = 1 + (r + r²·Q(r)), Q(r) = Σ r^k/(k+2)! for k = 0..=11 (truncation under 2⁻⁵⁷ on
    // |r| <= ln2/2), by Estrin's scheme: a short dependency chain instead of Horner's eleven
    // steps, and the two largest terms added last so that they round once.
    let c = |k: usize| INV_FACT[k + 2];
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let q01 = c(0) + c(1) * r;
    let q23 = c(2) + c(3) * r;
    let q45 = c(4) + c(5) * r;
    let q67 = c(6) + c(7) * r;
    let q89 = c(8) + c(9) * r;
    let q1011 = c(10) + c(11) * r;
    let q = (q01 + r2 * q23) + r4 * (q45 + r2 * q67) + r8 * (q89 + r2 * q1011);
    super::dd::ldexp(1.0 + (r + r2 * q), n as i32)
}

/// `exp(r + r_lo)` for `|r| <= ln2/2 + tiny` and `|r_lo| <= ulp(r)`.
#[inline(always)]
fn exp_reduced(r: f64, r_lo: f64) -> Dd {
    Dd::ONE.add(expm1_reduced(r, r_lo))
}

/// `exp(r + r_lo) − 1` for `|r| <= ln2/2 + tiny`, to about 2⁻⁵⁸ relative, however small `r` is.
#[inline(always)]
fn expm1_reduced(r: f64, r_lo: f64) -> Dd {
    // r + r²/2 + r³·P(r): r²/2 is split exactly, so only r³·P(r) (at most 0.0075, and tiny
    // relative to r when r is small) carries an f64 rounding error.
    let (sq, sq_err) = two_prod(r, r);
    let half_sq = 0.5 * sq;
    // Plain multiply-and-add, not `mul_add`: the polynomial's own rounding (relative 2⁻⁵², on a
    // term at most 0.0075) is far below what matters, and without hardware FMA at compile time
    // `mul_add` is a library call.
    let coefficients = &INV_FACT[3..];
    let mut poly = coefficients[coefficients.len() - 1];
    for &c in coefficients[..coefficients.len() - 1].iter().rev() {
        poly = poly * r + c;
    }
    let cubic = sq * r * poly;
    let (s, e) = two_sum(r, half_sq);
    // exp(r + r_lo) − 1 = expm1(r) + r_lo·exp(r) + …: r_lo·(1 + r + r²/2) is its first-order part.
    let lo = e + (0.5 * sq_err + cubic + r_lo * (1.0 + (r + half_sq)));
    let (hi, lo) = fast_two_sum(s, lo);
    Dd { hi, lo }
}

/// `exp(t) - 1`, with relative accuracy about 2⁻⁵⁶ for every `t >= -0.5`, tiny `t` included.
#[inline(always)]
fn expm1_dd(t: Dd) -> Dd {
    if round_to_int(t.hi * LOG2_E) == 0.0 {
        // No reduction: t itself is the reduced argument.
        let (r, r_lo) = fast_two_sum(t.hi, t.lo);
        expm1_reduced(r, r_lo)
    } else {
        let (p, n) = exp_dd(t);
        p.ldexp(n).add_f64(-1.0)
    }
}

/// `ln(1 + u)` for `u >= 0` (or NaN/+inf, passed through), to about 2⁻⁵⁶ relative: the `f64`
/// `ln_1p` of `u.hi`, then one Newton step on `expm1(L) = u` carried in double-double.
#[inline(always)]
pub(crate) fn ln_1p_dd(u: Dd) -> Dd {
    ln_1p_newton::<false>(u)
}

/// `ln(1 + u)` as [`ln_1p_dd`], but to about 2⁻¹⁰⁰ relative: the Newton step evaluates
/// `expm1` entirely in double-double. It costs a few hundred operations, paid once per row: it
/// is what keeps `logsumexp = m + ln s` exact when the two terms nearly cancel (the logsumexp
/// of log-probabilities, for example, is a tiny number next to `m`).
pub(crate) fn ln_1p_precise(u: Dd) -> Dd {
    ln_1p_newton::<true>(u)
}

#[inline(always)]
/// (`PRECISE` picks the `expm1`: a function passed in would be called through a shim that the
/// vector kernels, compiled with other target features, do not inline.)
fn ln_1p_newton<const PRECISE: bool>(u: Dd) -> Dd {
    let l0 = u.hi.ln_1p();
    if !l0.is_finite() || l0 == 0.0 {
        return Dd::new(l0 + u.lo);
    }
    let residual = u.sub(if PRECISE { expm1_precise(Dd::new(l0)) } else { expm1_dd(Dd::new(l0)) });
    // d/dL expm1(L) = 1 + u at the root; the step is tiny, so its own rounding does not matter.
    let step = residual.hi / (1.0 + u.hi);
    let (hi, lo) = fast_two_sum(l0, step);
    Dd { hi, lo }
}

/// Terms of the double-double Taylor series of `expm1` on `|r| <= ln2/2`: the first omitted
/// term, `r^24/24!`, is below 2⁻¹²⁰.
const PRECISE_TERMS: u32 = 23;

/// `exp(t) − 1` for `|t| <= 1400`, to about 2⁻¹⁰⁰ relative: the same reduction as [`exp_dd`],
/// then the Taylor series in double-double by Horner's rule.
fn expm1_precise(t: Dd) -> Dd {
    let n = round_to_int(t.hi * LOG2_E);
    let r_hi = t.hi - n * LN2_HI;
    let (c_hi, c_lo) = two_prod(n, LN2_LO);
    let (a, b) = two_sum(r_hi, -c_hi);
    let (r, r_lo) = fast_two_sum(a, b - c_lo - n * LN2_LO2 + t.lo);
    let r = Dd { hi: r, lo: r_lo };
    // expm1(r) = r (1 + r/2 (1 + r/3 (1 + … (1 + r/N)))).
    let mut acc = Dd::ONE;
    for k in (2..=PRECISE_TERMS).rev() {
        acc = Dd::ONE.add(acc.mul(r).div(Dd::new(f64::from(k))));
    }
    let expm1_r = acc.mul(r);
    if n == 0.0 { expm1_r } else { Dd::ONE.add(expm1_r).ldexp(n as i32).add_f64(-1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use softmax_oracle::Exact;

    fn exact_dd(v: Dd) -> Exact {
        Exact::from_f64(v.hi).add(&Exact::from_f64(v.lo))
    }

    /// |got / exact − 1|, in f64.
    fn relative_error(got: &Exact, exact: &Exact) -> f64 {
        got.sub(exact).div(exact).to_f64().abs()
    }

    fn arguments(count: usize, lo: f64, hi: f64) -> impl Iterator<Item = f64> {
        let mut state = 0x5eed_u64;
        (0..count).map(move |_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((state >> 11) as f64 / (1u64 << 53) as f64)
        })
    }

    #[test]
    fn exp_dd_is_good_to_2_pow_minus_58() {
        let mut worst: f64 = 0.0;
        for t in arguments(20_000, -700.0, 0.0)
            .chain(arguments(5_000, -1.0, 1.0))
            .chain(arguments(2_000, -1e-9, 1e-9))
        {
            let lo = t * 1e-17; // a low part, as q − max carries
            let (p, n) = exp_dd(Dd { hi: t, lo });
            let got = exact_dd(p).mul(&Exact::from_f64(2f64.powi(n)));
            let exact = Exact::from_f64(t).add(&Exact::from_f64(lo)).exp();
            worst = worst.max(relative_error(&got, &exact));
        }
        assert!(worst < 2f64.powi(-58), "worst relative error {worst:e}");
        assert_eq!(exp_dd(Dd::ZERO), (Dd::ONE, 0));
    }

    #[test]
    fn exp_f64_is_within_an_ulp() {
        let mut worst: f64 = 0.0;
        for t in arguments(20_000, -700.0, 0.0).chain(arguments(5_000, -1.0, 1.0)) {
            let exact = Exact::from_f64(t).exp();
            worst = worst.max(relative_error(&Exact::from_f64(exp_f64(t)), &exact));
        }
        assert!(worst < 2f64.powi(-52), "worst relative error {worst:e}");
        assert_eq!(exp_f64(0.0), 1.0);
        assert_eq!(exp_f64(-800.0), 0.0);
    }

    #[test]
    fn ln_1p_is_good_to_2_pow_minus_56_and_the_precise_one_to_2_pow_minus_100() {
        let (mut worst, mut worst_precise): (f64, f64) = (0.0, 0.0);
        for e in arguments(3_000, -60.0, 20.0) {
            let u = Dd { hi: 2f64.powf(e), lo: 2f64.powf(e) * 3e-17 };
            let exact = exact_dd(u).add(&Exact::from_f64(1.0)).ln();
            worst = worst.max(relative_error(&exact_dd(ln_1p_dd(u)), &exact));
            worst_precise = worst_precise.max(relative_error(&exact_dd(ln_1p_precise(u)), &exact));
        }
        assert!(worst < 2f64.powi(-56), "ln_1p_dd: {worst:e}");
        assert!(worst_precise < 2f64.powi(-100), "ln_1p_precise: {worst_precise:e}");
    }
}
