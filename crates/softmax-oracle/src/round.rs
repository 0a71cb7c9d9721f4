//! Correct rounding of big floats to the IEEE binary formats, and ulp sizes.

use crate::ax::{UNK, ex, sgn};
use astro_float::BigFloat;

/// An IEEE-754 binary format.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Format {
    /// Significand bits, the implicit one included.
    pub mant: i64,
    /// Exponent (`floor(log2)`) of the smallest normal number.
    pub emin: i64,
    /// Exponent of the largest finite numbers.
    pub emax: i64,
}

pub(crate) const F64: Format = Format { mant: 53, emin: -1022, emax: 1023 };
pub(crate) const F32: Format = Format { mant: 24, emin: -126, emax: 127 };
pub(crate) const F16: Format = Format { mant: 11, emin: -14, emax: 15 };
pub(crate) const BF16: Format = Format { mant: 8, emin: -126, emax: 127 };

/// Bit `i` of the significand of `v`, counted from the leading one (`i = 0`);
/// zero past its end.
fn bit(m: &[u64], i: i64) -> bool {
    let len = m.len() as i64;
    let word = len - 1 - i / 64;
    if i < 0 || word < 0 {
        return false;
    }
    (m[word as usize] >> (63 - i % 64)) & 1 == 1
}

/// Whether any bit of the significand from index `i` on is set.
fn any_from(m: &[u64], i: i64) -> bool {
    let i = i.max(0);
    let len = m.len() as i64;
    let word = len - 1 - i / 64;
    if word < 0 {
        return false;
    }
    let w = word as usize;
    let off = i % 64;
    let mask = if off == 0 { u64::MAX } else { u64::MAX >> off };
    m[w] & mask != 0 || m[..w].iter().any(|x| *x != 0)
}

/// `v + t` rounded to nearest-even in `f`, where `t` is a remainder much
/// smaller than the last bit of `v` whose sign is `tail` (0: none, [`UNK`]:
/// unknown, then an exact tie in `v` goes to even). Returns the result as an
/// `f64` (exact: every value of the smaller formats is an `f64`).
pub(crate) fn round_to(v: &BigFloat, tail: i8, f: Format) -> f64 {
    let s = sgn(v);
    if s == 0 {
        // Zero, or an infinitesimal: rounds to a zero of its sign.
        return if tail == -1 { -0.0 } else { 0.0 };
    }
    let (m, _, _, e, _) = v.as_raw_parts().expect("finite");
    let neg = s < 0;
    // The remainder's sign relative to |v|.
    let mag_tail = if tail == UNK { 0 } else { tail * s };
    let big_e = i64::from(e) - 1; // floor(log2 |v|)
    let q = big_e.max(f.emin) - (f.mant - 1); // weight of the last kept bit
    let kb = big_e - q + 1; // number of kept bits
    let mut n: u64 = 0;
    for i in 0..kb.max(0) {
        n = (n << 1) | u64::from(bit(m, i));
    }
    let half = kb >= 0 && bit(m, kb);
    let sticky = any_from(m, kb + 1);
    let up = half && (sticky || mag_tail > 0 || (mag_tail == 0 && n & 1 == 1));
    let mut q = q;
    if up {
        n += 1;
        if n == 1 << f.mant {
            n >>= 1;
            q += 1;
        }
    }
    let mag = if n == 0 {
        0.0
    } else {
        let lead = q + 63 - i64::from(n.leading_zeros());
        if lead > f.emax { f64::INFINITY } else { dyadic(n, q) }
    };
    if neg { -mag } else { mag }
}

/// `n 2^q` as an `f64`, for values that are `f64` numbers.
fn dyadic(n: u64, q: i64) -> f64 {
    let bl = 64 - i64::from(n.leading_zeros());
    let lead = q + bl - 1;
    if lead >= -1022 {
        let mant = n << (53 - bl);
        f64::from_bits((((lead + 1023) as u64) << 52) | (mant & ((1 << 52) - 1)))
    } else {
        f64::from_bits(n << (q + 1074))
    }
}

/// The exponent `floor(log2 |v + t|)` of a number given as in [`round_to`],
/// or `None` for zero or an infinitesimal.
pub(crate) fn floor_log2(v: &BigFloat, tail: i8) -> Option<i64> {
    let s = sgn(v);
    if s == 0 {
        return None;
    }
    let e = ex(v) - 1;
    let below = tail != UNK && tail * s < 0;
    Some(if below && crate::ax::is_pow2(v) { e - 1 } else { e })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ax::{RM, bf_from_f64};

    #[test]
    fn round_trips_every_kind_of_f64() {
        for x in [
            1.0,
            -1.5,
            0.1,
            5e-324,
            -1.5e-323,
            2.2250738585072014e-308,
            2.225073858507201e-308,
            f64::MAX,
            -f64::MAX,
            1e300,
            3.0,
        ] {
            let b = bf_from_f64(x);
            assert_eq!(round_to(&b, 0, F64), x);
            assert_eq!(round_to(&b, 1, F64), x);
            assert_eq!(round_to(&b, -1, F64), x);
        }
    }

    #[test]
    fn ties_and_tails() {
        // 1 + 2^-53 is a tie between 1 and 1 + 2^-52.
        let one = bf_from_f64(1.0);
        let t = one.add(&bf_from_f64(2f64.powi(-53)), 256, RM);
        assert_eq!(round_to(&t, 0, F64), 1.0);
        assert_eq!(round_to(&t, 1, F64), 1.0 + 2f64.powi(-52));
        assert_eq!(round_to(&t, -1, F64), 1.0);
        let t3 = one.add(&bf_from_f64(3.0 * 2f64.powi(-53)), 256, RM);
        assert_eq!(round_to(&t3, 0, F64), 1.0 + 2.0 * 2f64.powi(-52));
        assert_eq!(round_to(&t3, -1, F64), 1.0 + 2f64.powi(-52));
        // Half the smallest subnormal: a tie between 0 and 5e-324.
        let h = bf_from_f64(5e-324).div(&bf_from_f64(2.0), 256, RM);
        assert_eq!(round_to(&h, 0, F64), 0.0);
        assert_eq!(round_to(&h, 1, F64), 5e-324);
        let q = bf_from_f64(5e-324).div(&bf_from_f64(4.0), 256, RM);
        assert_eq!(round_to(&q, 1, F64), 0.0);
        // Overflow: the tie between MAX and 2^1024 goes to infinity.
        let big = bf_from_f64(f64::MAX).add(&bf_from_f64(2f64.powi(970)), 256, RM);
        assert_eq!(round_to(&big, 0, F64), f64::INFINITY);
        assert_eq!(round_to(&big, -1, F64), f64::MAX);
        // f32 and f16.
        assert_eq!(round_to(&t, 0, F32), 1.0);
        let x = bf_from_f64(65520.0);
        assert_eq!(round_to(&x, 0, F16), f64::INFINITY);
        assert_eq!(round_to(&x, -1, F16), 65504.0);
        let sub16 = bf_from_f64(2f64.powi(-25));
        assert_eq!(round_to(&sub16, 0, F16), 0.0);
        assert_eq!(round_to(&sub16, 1, F16), 2f64.powi(-24));
        assert_eq!(round_to(&bf_from_f64(1.0 + 2f64.powi(-8)), 0, BF16), 1.0);
    }

    #[test]
    fn floor_log2_sees_below_powers_of_two() {
        let one = bf_from_f64(1.0);
        assert_eq!(floor_log2(&one, 0), Some(0));
        assert_eq!(floor_log2(&one, 1), Some(0));
        assert_eq!(floor_log2(&one, -1), Some(-1));
        assert_eq!(floor_log2(&one.neg(), 1), Some(-1));
        assert_eq!(floor_log2(&bf_from_f64(3.0), -1), Some(1));
        assert_eq!(floor_log2(&BigFloat::new(64), 1), None);
    }
}
