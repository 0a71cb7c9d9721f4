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

/// `a * b = p + err` exactly (barring underflow), with one fused multiply-add.
#[inline(always)]
pub(crate) fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
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
