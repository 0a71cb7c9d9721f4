//! Double-double arithmetic: a real carried as the unevaluated sum `hi + lo` of two `f64`, with
//! `|lo| <= ulp(hi) / 2`, good to about 2⁻¹⁰⁴ relative.
//!
//! Only the few error-free transformations and operations the kernels need live here. Every
//! helper is `#[inline(always)]`: they are tiny, sit in the innermost loops, and must be inlined
//! into their (future) `#[target_feature]` callers to keep those features.

/// A double-double value `hi + lo`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Dd {
    pub hi: f64,
    pub lo: f64,
}

impl Dd {
    pub const ZERO: Dd = Dd { hi: 0.0, lo: 0.0 };
    pub const ONE: Dd = Dd { hi: 1.0, lo: 0.0 };

    #[inline(always)]
    pub fn new(hi: f64) -> Dd {
        Dd { hi, lo: 0.0 }
    }

    /// `hi + lo` rounded to one `f64`.
    #[inline(always)]
    pub fn to_f64(self) -> f64 {
        self.hi + self.lo
    }

    /// `self + other`. An infinite or NaN sum drops the (meaningless) low part.
    #[inline(always)]
    pub fn add(self, other: Dd) -> Dd {
        let (s, e) = two_sum(self.hi, other.hi);
        if !s.is_finite() {
            return Dd::new(s);
        }
        let (hi, lo) = fast_two_sum(s, e + (self.lo + other.lo));
        Dd { hi, lo }
    }

    /// `self + x` for a single `f64`.
    #[inline(always)]
    pub fn add_f64(self, x: f64) -> Dd {
        self.add(Dd::new(x))
    }

    /// `-self`.
    #[inline(always)]
    pub fn neg(self) -> Dd {
        Dd { hi: -self.hi, lo: -self.lo }
    }

    /// `self - other`.
    #[inline(always)]
    pub fn sub(self, other: Dd) -> Dd {
        self.add(other.neg())
    }

    /// `self * other`.
    #[inline(always)]
    pub fn mul(self, other: Dd) -> Dd {
        let (p, e) = two_prod(self.hi, other.hi);
        if !p.is_finite() {
            return Dd::new(p);
        }
        let (hi, lo) = fast_two_sum(p, e + (self.hi * other.lo + self.lo * other.hi));
        Dd { hi, lo }
    }

    /// `self * x` for a single `f64`.
    #[inline(always)]
    pub fn mul_f64(self, x: f64) -> Dd {
        self.mul(Dd::new(x))
    }

    /// `self / other`: one `f64` quotient and one correction from the exact remainder.
    #[inline(always)]
    pub fn div(self, other: Dd) -> Dd {
        let q1 = self.hi / other.hi;
        if !q1.is_finite() || q1 == 0.0 {
            return Dd::new(q1 + self.lo / other.hi);
        }
        let (p, e) = two_prod(q1, other.hi);
        if !p.is_finite() {
            // q1 · other.hi rounds past f64::MAX: the quotient is within an ulp of overflow, and
            // its correction would be inf − inf.
            return Dd::new(q1);
        }
        // `self.hi - p` is exact: p is within one rounding of self.hi (Sterbenz).
        let remainder = ((self.hi - p) - e) + self.lo - q1 * other.lo;
        let (hi, lo) = fast_two_sum(q1, remainder / other.hi);
        Dd { hi, lo }
    }

    /// Multiplies by `2^n` (exactly, unless the result leaves the normal range).
    #[inline(always)]
    pub fn ldexp(self, n: i32) -> Dd {
        Dd { hi: ldexp(self.hi, n), lo: ldexp(self.lo, n) }
    }
}

/// `a + b = s + err` exactly (Knuth's TwoSum; no condition on the magnitudes).
#[inline(always)]
pub(crate) fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let b_virtual = s - a;
    let a_virtual = s - b_virtual;
    (s, (a - a_virtual) + (b - b_virtual))
}

/// `a + b = s + err` exactly, provided `|a| >= |b|` or `a == 0` (Dekker's FastTwoSum).
#[inline(always)]
pub(crate) fn fast_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (s, b - (s - a))
}

/// `a * b = p + err` exactly (barring underflow).
///
/// With FMA in the compile-time target this is one fused multiply-add. Without it, `mul_add`
/// would be a library call, so the portable build splits both factors in halves (Dekker and
/// Veltkamp) and multiplies those exactly, falling back to `mul_add` only where the halves could
/// overflow or the error term underflow.
#[inline(always)]
pub(crate) fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    if !p.is_finite() {
        // No finite error term: callers check `p` (inf − inf would be NaN).
        return (p, 0.0);
    }
    if cfg!(target_feature = "fma") {
        return (p, a.mul_add(b, -p));
    }
    const BIG: f64 = 1.0e290;
    const SMALL: f64 = 1.0e-280;
    let in_range = a.abs() < BIG && b.abs() < BIG && (p == 0.0 || p.abs() > SMALL);
    if !in_range {
        return (p, a.mul_add(b, -p));
    }
    let (a_hi, a_lo) = split(a);
    let (b_hi, b_lo) = split(b);
    let err = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo;
    (p, err)
}

/// Veltkamp's split: `a = hi + lo` with each half of at most 26 significant bits.
#[inline(always)]
fn split(a: f64) -> (f64, f64) {
    const FACTOR: f64 = 134_217_729.0; // 2^27 + 1
    let c = FACTOR * a;
    let hi = c - (c - a);
    (hi, a - hi)
}

/// `x` rounded to the nearest integer, ties to even, for `|x| < 2^51`: adding and subtracting
/// 1.5·2^52 rounds in the FPU's default mode (a library call for `round_ties_even` is avoided on
/// targets without SSE4.1).
#[inline(always)]
pub(crate) fn round_to_int(x: f64) -> f64 {
    const SHIFTER: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52
    (x + SHIFTER) - SHIFTER
}

/// `2^k` for `k` in the normal exponent range `-1022..=1023`.
#[inline(always)]
fn pow2(k: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&k));
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// `x * 2^n` for `|n| <= 2044`, rounding once (only when the result is subnormal).
#[inline(always)]
pub(crate) fn ldexp(x: f64, n: i32) -> f64 {
    if (-1022..=1023).contains(&n) {
        x * pow2(n)
    } else {
        let n = n.clamp(-2044, 2046);
        // The first factor keeps any x in [2^-60, 2^60] normal; only the second can round.
        let first = n / 2;
        x * pow2(first) * pow2(n - first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The split products of the portable build are exact: they agree bit for bit with the fused
    /// multiply-add, including near the edges of the range where `two_prod` falls back to it.
    #[test]
    fn two_prod_is_exact_everywhere() {
        let mut state = 0x0123_4567_89ab_cdefu64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state
        };
        for _ in 0..1_000_000 {
            let (u, v) = (next(), next());
            // Random significands, exponents over the whole range, random signs.
            let a = f64::from_bits((u & 0x800F_FFFF_FFFF_FFFF) | ((u >> 20) % 2046 + 1) << 52);
            let b = f64::from_bits((v & 0x800F_FFFF_FFFF_FFFF) | ((v >> 20) % 2046 + 1) << 52);
            let (p, err) = two_prod(a, b);
            assert_eq!(p, a * b);
            if p.is_finite() && p.abs() > 1e-290 {
                assert_eq!(err, a.mul_add(b, -p), "{a:e} × {b:e}");
            }
        }
        for (a, b) in [(1.0 + f64::EPSILON, 1.0 - f64::EPSILON), (3.0, 1.0 / 3.0), (1e200, 1e-150)] {
            let (p, err) = two_prod(a, b);
            assert_eq!(err, a.mul_add(b, -p));
        }
    }

    #[test]
    fn round_to_int_rounds_half_to_even() {
        for (x, n) in [
            (0.5, 0.0),
            (1.5, 2.0),
            (2.5, 2.0),
            (-0.5, -0.0),
            (-1.5, -2.0),
            (1442.7, 1443.0),
            (-2020.4, -2020.0),
        ] {
            assert_eq!(round_to_int(x), n, "{x}");
        }
    }
}
