//! `exp` and `ln(1 + u)` in the strengths the kernels need: double-double to about 2⁻⁵⁸ with the
//! power of two kept apart, so that tiny terms keep their bits until the final store
//! ([`exp_dd`], [`ln_1p_dd`]); double-double to about 2⁻¹⁰⁰ for the once-per-row `ln s`
//! ([`ln_1p_precise`]); and plain `f64` under an ulp for results of 24 bits or fewer
//! ([`exp_f64`]). Each is held to its bound against the oracle by the tests below.

use super::dd::{Dd, fast_two_sum, round_to_int, two_prod, two_sum};

/// ln 2 split in three: `LN2_HI` has 32 significant bits, so `n * LN2_HI` is exact for
/// `|n| < 2^21`; the three parts together are good to about 2⁻¹³⁸.
pub(crate) const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
pub(crate) const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
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
    let (p, n) = exp_parts(t);
    super::dd::ldexp(p, n as i32)
}

/// The plain `f64` arithmetic of [`exp_f64`] and [`ln_1p_f64`], on one value or on each lane of
/// a vector. The functions generic over it ([`exp_lanes`], [`ln_1p_lanes`]) use nothing else,
/// every operation rounded once (no fused multiply-add), so a lane computes exactly the bits the
/// same value computes alone: a row's statistics do not depend on whether its `ln s` came from a
/// batch of rows or from the row by itself.
pub(crate) trait Lanes: Copy {
    fn fill(v: f64) -> Self;
    fn plus(self, o: Self) -> Self;
    fn minus(self, o: Self) -> Self;
    fn times(self, o: Self) -> Self;
    fn over(self, o: Self) -> Self;
    /// `self·2^n` for integral `n` in `[−1022, 1023]` where the result is normal: exact.
    fn pow2_scale(self, n: Self) -> Self;
    /// `(e, f)` with `self = 2^e·f` and `f` in `[√½, √2)`, for positive normal `self`: exact.
    fn split_sqrt2(self) -> (Self, Self);
}

impl Lanes for f64 {
    #[inline(always)]
    fn fill(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn plus(self, o: Self) -> Self {
        self + o
    }
    #[inline(always)]
    fn minus(self, o: Self) -> Self {
        self - o
    }
    #[inline(always)]
    fn times(self, o: Self) -> Self {
        self * o
    }
    #[inline(always)]
    fn over(self, o: Self) -> Self {
        self / o
    }
    #[inline(always)]
    fn pow2_scale(self, n: Self) -> Self {
        self * f64::from_bits(((n as i64 + 1023) as u64) << 52)
    }
    #[inline(always)]
    fn split_sqrt2(self) -> (Self, Self) {
        const MANTISSA: u64 = (1 << 52) - 1;
        let bits = self.to_bits();
        let (e, f) = (((bits >> 52) as i64 - 1023) as f64, f64::from_bits(bits & MANTISSA | 1023 << 52));
        if f > std::f64::consts::SQRT_2 { (e + 1.0, 0.5 * f) } else { (e, f) }
    }
}

/// `exp(t) = p·2^n`: `n = round(t/ln 2)` and `p` in `[0.70, 1.42]`, for `|t| ≤ 1400` (NaN and
/// infinities are the callers' to screen).
#[inline(always)]
fn exp_parts<L: Lanes>(t: L) -> (L, L) {
    const SHIFTER: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52: see `round_to_int`
    let s = L::fill;
    let n = t.times(s(LOG2_E)).plus(s(SHIFTER)).minus(s(SHIFTER));
    // n·LN2_HI is exact; the rest of ln 2 costs at most 2⁻⁵³ of n·LN2_LO.
    let r = t.minus(n.times(s(LN2_HI))).minus(n.times(s(LN2_LO)));
    // exp(r) = 1 + (r + r²·Q(r)), Q(r) = Σ r^k/(k+2)! for k = 0..=11 (truncation under 2⁻⁵⁷ on
    // |r| <= ln2/2), by Estrin's scheme: a short dependency chain instead of Horner's eleven
    // steps, and the two largest terms added last so that they round once.
    let c = |k: usize| s(INV_FACT[k + 2]);
    let pair = |k: usize| c(k).plus(c(k + 1).times(r));
    let r2 = r.times(r);
    let r4 = r2.times(r2);
    let r8 = r4.times(r4);
    let q = pair(0)
        .plus(r2.times(pair(2)))
        .plus(r4.times(pair(4).plus(r2.times(pair(6)))))
        .plus(r8.times(pair(8).plus(r2.times(pair(10)))));
    (s(1.0).plus(r.plus(r2.times(q))), n)
}

/// [`exp_f64`] on lanes, for `|t| ≤ 700` (where the result is normal): the same bits.
#[inline(always)]
pub(crate) fn exp_lanes<L: Lanes>(t: L) -> L {
    let (p, n) = exp_parts(t);
    p.pow2_scale(n)
}

/// `2/(2k + 1)` for `k = 1..=12`: `ln f = 2·atanh(z) = 2z + z·w·Σ 2w^(k−1)/(2k + 1)` with
/// `z = (f − 1)/(f + 1)`, `w = z²`. On `f` in `[√½, √2)`, `|z| ≤ 0.1716`: [`ln_1p_lanes`] takes
/// the first ten (the first term left out, `w¹⁰/21` of `2z`, is below 2⁻⁵⁵ of it), the vector
/// kernels' double-double `ln_1p` all twelve (`w¹²/25`: below 2⁻⁶⁵).
pub(crate) const ATANH: [f64; 12] = [
    2.0 / 3.0,
    2.0 / 5.0,
    2.0 / 7.0,
    2.0 / 9.0,
    2.0 / 11.0,
    2.0 / 13.0,
    2.0 / 15.0,
    2.0 / 17.0,
    2.0 / 19.0,
    2.0 / 21.0,
    2.0 / 23.0,
    2.0 / 25.0,
];

/// `ln(1 + t)` in plain `f64` for finite `t ≥ 0`, within about 2⁻⁵⁰ relative (tested against
/// the oracle): the `ln s` of the vector kernels' `f32` and half rows, whose outputs need 2⁻³⁰.
/// The same bits on one value and on lanes (see [`Lanes`]); no table, no branch, no library call.
#[inline(always)]
pub(crate) fn ln_1p_lanes<L: Lanes>(t: L) -> L {
    let (s, one) = (L::fill, L::fill(1.0));
    let u = one.plus(t);
    // ln(1 + t) = ln u + ln(1 + c) with c = (t − (u − 1))/u, the rounding of `u` relative to it;
    // `u − 1` is exact while `u < 2`, and beyond that `c` is below 2⁻⁵³ of a result above ln 2.
    let c = t.minus(u.minus(one)).over(u);
    let (e, f) = u.split_sqrt2();
    // f − 1 is exact (Sterbenz): z carries two roundings, under 2⁻⁵² relative.
    let z = f.minus(one).over(f.plus(one));
    let w = z.times(z);
    // Σ ATANH[k]·w^k by Estrin's scheme: a row's `ln s` on its own waits on a chain of five
    // multiplications, not of ten multiply-adds.
    let pair = |k: usize| s(ATANH[k]).plus(s(ATANH[k + 1]).times(w));
    let w2 = w.times(w);
    let w4 = w2.times(w2);
    let r = pair(0)
        .plus(w2.times(pair(2)))
        .plus(w4.times(pair(4).plus(w2.times(pair(6)))))
        .plus(w4.times(w4).times(pair(8)));
    let ln_f = z.plus(z).plus(z.times(w).times(r));
    // e·LN2_HI is exact (LN2_HI has 32 significant bits, |e| < 2¹⁰).
    e.times(s(LN2_HI)).plus(ln_f.plus(e.times(s(LN2_LO)).plus(c)))
}

/// [`ln_1p_lanes`] on one value.
#[inline(always)]
pub(crate) fn ln_1p_f64(t: f64) -> f64 {
    ln_1p_lanes(t)
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
    fn ln_1p_f64_is_good_to_2_pow_minus_50() {
        let mut worst: f64 = 0.0;
        let special = [0.0, 2f64.powi(-60), 1e-17, 0.25, 0.4142135623730951, 0.41421356237309515, 1.0];
        let edges =
            [std::f64::consts::SQRT_2 - 1.0, 2.0 * std::f64::consts::SQRT_2 - 1.0, 3.0, 1e10, 2f64.powi(40)];
        for t in arguments(20_000, -60.0, 41.0)
            .map(|e| 2f64.powf(e))
            .chain(arguments(5_000, 0.0, 3.0))
            .chain(special)
            .chain(edges.iter().flat_map(|&v| [v, v.next_up(), v.next_down()]))
        {
            let got = ln_1p_f64(t);
            if t == 0.0 {
                assert_eq!(got.to_bits(), 0, "ln_1p(0) must be +0");
                continue;
            }
            let exact = Exact::from_f64(t).add(&Exact::from_f64(1.0)).ln();
            worst = worst.max(relative_error(&Exact::from_f64(got), &exact));
        }
        assert!(worst < 2f64.powi(-50), "worst relative error {worst:e}");
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
