//! Big floats that carry a rigorous bound on their own error.
//!
//! An [`Ax`] is a value `v` (an astro-float number, always finite), an
//! optional bound `2^err` on `|true - v|`, and what is known of the sign of
//! `true - v` (`dir`). Every operation here computes its result with
//! round-to-nearest-even at a chosen precision and propagates the bound:
//! first-order terms, plus the rounding of the operation itself, each with a
//! factor of two to spare. The bookkeeping is done on base-2 exponents (`i64`),
//! so it costs nothing next to the arithmetic.
//!
//! `err == None` means `v` is exact, except, when `dir != 0`, for an
//! *infinitesimal* of sign `dir`: a remainder below [`E_INF`] (in practice the
//! exponential of a number below `-2^30`, which the big floats do not hold).
//! Infinitesimals are far smaller than any other quantity this crate meets,
//! so the only thing kept of them is their sign; once mixed with a rounded
//! quantity they count as an error of `2^E_INF`.

use astro_float::{BigFloat, Consts, RoundingMode, Sign};
use std::cell::RefCell;
use std::sync::{Arc, Mutex};

/// Rounding used everywhere: to nearest, ties to even.
pub(crate) const RM: RoundingMode = RoundingMode::ToEven;

/// `dir` value meaning "the sign of `true - v` is not known".
pub(crate) const UNK: i8 = 2;

/// Bound (base-2 exponent) on the magnitude of infinitesimals, including the
/// sum of up to 2^64 of them: `exp(-2^30) = 2^-1549082004.68`.
pub(crate) const E_INF: i64 = -1_549_081_940;

/// Exponent (astro convention, `|x| < 2^e`) from which `exp(-|x|)` is an
/// infinitesimal: `|x| >= 2^30`.
pub(crate) const EXP_LIMIT_EX: i64 = 31;

/// An exponent below every exponent that can occur, standing for `log2(0)`.
const EX_ZERO: i64 = i64::MIN / 8;

thread_local! {
    static CC: RefCell<Consts> = RefCell::new(Consts::new().expect("astro-float constants cache"));
}

/// Runs `f` with this thread's astro-float constants cache.
pub(crate) fn with_cc<R>(f: impl FnOnce(&mut Consts) -> R) -> R {
    CC.with(|cc| f(&mut cc.borrow_mut()))
}

/// Panics unless `v` is a finite number (astro-float reports errors as NaN).
pub(crate) fn fin(v: BigFloat) -> BigFloat {
    assert!(!v.is_nan() && !v.is_inf(), "softmax-oracle: big-float operation failed ({:?})", v.err());
    v
}

/// The astro exponent: `2^(e-1) <= |v| < 2^e`; a huge negative number for 0.
pub(crate) fn ex(v: &BigFloat) -> i64 {
    if v.is_zero() { EX_ZERO } else { i64::from(v.exponent().expect("finite")) }
}

/// The sign of `v`: -1, 0 or 1.
pub(crate) fn sgn(v: &BigFloat) -> i8 {
    if v.is_zero() {
        0
    } else if v.is_negative() {
        -1
    } else {
        1
    }
}

/// Whether `|v|` is a power of two (false for zero).
pub(crate) fn is_pow2(v: &BigFloat) -> bool {
    match v.as_raw_parts() {
        Some((m, _, _, _, _)) if !v.is_zero() => {
            let (top, rest) = m.split_last().expect("non-empty mantissa");
            *top == 1 << 63 && rest.iter().all(|w| *w == 0)
        }
        _ => false,
    }
}

/// Exact big float of an `f64` (finite). Does its own decomposition: the
/// library's `from_f64` is off by a factor of two on subnormals.
pub(crate) fn bf_from_f64(x: f64) -> BigFloat {
    assert!(x.is_finite(), "softmax-oracle: non-finite input {x}");
    if x == 0.0 {
        return BigFloat::new(64);
    }
    let bits = x.to_bits();
    let sign = if bits >> 63 == 1 { Sign::Neg } else { Sign::Pos };
    let e = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1 << 52) - 1);
    // x = m * 2^q
    let (m, q) = if e == 0 { (frac, -1074) } else { (frac | (1 << 52), e - 1075) };
    // from_words reads the words as a fraction below one: m / 2^64 * 2^(q+64).
    let v = fin(BigFloat::from_words(&[m], sign, (q + 64) as i32));
    debug_assert!(!v.inexact());
    v
}

/// A rough `f64` value of `v` (53 good bits while `v` is in f64 range), for
/// choosing reduction indices only.
fn approx_f64(v: &BigFloat) -> f64 {
    if v.is_zero() {
        return 0.0;
    }
    let (m, _, s, e, _) = v.as_raw_parts().expect("finite");
    let top = *m.last().expect("non-empty mantissa") as f64;
    let e = (i64::from(e) - 64).clamp(-1100, 1100) as i32;
    let mag = top * 2f64.powi(e);
    if s == Sign::Neg { -mag } else { mag }
}

/// `ceil(log2(n))` for `n >= 1`.
pub(crate) fn clog2(n: u64) -> i64 {
    i64::from(64 - (n.max(1) - 1).leading_zeros())
}

/// Combines two signs of small deviations that are added together.
pub(crate) fn combine(a: i8, b: i8) -> i8 {
    if a == UNK || b == UNK {
        UNK
    } else if a == 0 {
        b
    } else if b == 0 || a == b {
        a
    } else {
        UNK
    }
}

/// The sign of `s * d` where `d` may be [`UNK`].
fn mulsign(s: i8, d: i8) -> i8 {
    if s == 0 {
        0
    } else if d == UNK {
        UNK
    } else {
        s * d
    }
}

/// Bound on a sum of errors: `log2(sum 2^e_i) <= max + ceil(log2(count))`.
pub(crate) fn err_sum(errs: &[Option<i64>]) -> Option<i64> {
    let mut count = 0u64;
    let mut max = EX_ZERO;
    for e in errs.iter().flatten() {
        count += 1;
        max = max.max(*e);
    }
    if count == 0 { None } else { Some(max + clog2(count)) }
}

/// Takes an operation's result, clears the sticky inexact flag (every stored
/// number keeps it clear, so that the flag after an operation tells about that
/// operation alone) and returns whether the operation rounded.
fn take(v: BigFloat) -> (BigFloat, bool) {
    let mut v = fin(v);
    let inexact = v.inexact();
    v.set_inexact(false);
    (v, inexact)
}

/// Rounding error bound of a result `y` at precision `p`, if it was rounded.
fn round_err(y: &BigFloat, p: usize, inexact: bool) -> Option<i64> {
    inexact.then(|| ex(y) - p as i64)
}

/// A value with a rigorous error bound, see the module documentation.
#[derive(Clone, Debug)]
pub(crate) struct Ax {
    /// The computed value.
    pub v: BigFloat,
    /// `|true - v| <= 2^err`; `None`: exact up to an infinitesimal.
    pub err: Option<i64>,
    /// Sign of `true - v` when known: -1, 0 (exact), 1, or [`UNK`].
    pub dir: i8,
}

impl Ax {
    /// An exact value.
    pub fn exact(v: BigFloat) -> Ax {
        Ax { v, err: None, dir: 0 }
    }

    /// An exact `f64`.
    pub fn f64(x: f64) -> Ax {
        Ax::exact(bf_from_f64(x))
    }

    /// An infinitesimal of sign `s` (the value 0 plus a remainder below `2^E_INF`).
    pub fn infinitesimal(s: i8) -> Ax {
        Ax { v: BigFloat::new(64), err: None, dir: s }
    }

    fn new(v: BigFloat, err: Option<i64>, dir: i8) -> Ax {
        match (err, dir) {
            // Infinitesimals of both signs met: only a magnitude is left.
            (None, UNK) => Ax { v, err: Some(E_INF), dir: UNK },
            (Some(e), d) => Ax { v, err: Some(e.max(E_INF)), dir: d },
            (None, d) => Ax { v, err: None, dir: d },
        }
    }

    /// The error bound, with an infinitesimal counted as `2^E_INF`.
    pub fn eff_err(&self) -> Option<i64> {
        match (self.err, self.dir) {
            (Some(e), _) => Some(e),
            (None, 0) => None,
            (None, _) => Some(E_INF),
        }
    }

    /// Whether the error is so small next to `|v|` that second-order terms
    /// cannot decide a sign.
    fn rel_small(&self) -> bool {
        match self.err {
            None => true,
            Some(e) => e <= ex(&self.v) - 8,
        }
    }

    /// Whether the value is known to be exact (no rounding, no infinitesimal).
    #[cfg(test)]
    pub fn is_exact(&self) -> bool {
        self.err.is_none() && self.dir == 0
    }
}

/// `-a` (exact).
pub(crate) fn neg(a: &Ax) -> Ax {
    Ax { v: a.v.neg(), err: a.err, dir: if a.dir == UNK { UNK } else { -a.dir } }
}

/// `a + b` at precision `p`.
pub(crate) fn add(a: &Ax, b: &Ax, p: usize) -> Ax {
    let (y, inx) = take(a.v.add(&b.v, p, RM));
    let dir = if inx { UNK } else { combine(a.dir, b.dir) };
    let err = if a.err.is_none() && b.err.is_none() && !inx {
        None
    } else {
        err_sum(&[a.eff_err(), b.eff_err(), round_err(&y, p, inx)])
    };
    Ax::new(y, err, dir)
}

/// `a - b` at precision `p`.
pub(crate) fn sub(a: &Ax, b: &Ax, p: usize) -> Ax {
    add(a, &neg(b), p)
}

/// `a * b` at precision `p`.
pub(crate) fn mul(a: &Ax, b: &Ax, p: usize) -> Ax {
    let (y, inx) = take(a.v.mul(&b.v, p, RM));
    let (ea, eb) = (a.eff_err(), b.eff_err());
    let err = if a.err.is_none() && b.err.is_none() && !inx {
        None
    } else {
        // |a'b' - ab| <= |a| eb + |b| ea + ea eb, with |a| < 2^ex(a).
        let second = match (ea, eb) {
            (Some(x), Some(y)) => Some(x + y),
            _ => None,
        };
        err_sum(&[eb.map(|e| e + ex(&a.v)), ea.map(|e| e + ex(&b.v)), second, round_err(&y, p, inx)])
    };
    let dir = if inx || !a.rel_small() || !b.rel_small() {
        UNK
    } else if a.v.is_zero() && b.v.is_zero() {
        mulsign(a.dir, b.dir)
    } else {
        combine(mulsign(sgn(&a.v), b.dir), mulsign(sgn(&b.v), a.dir))
    };
    Ax::new(y, err, dir)
}

/// `a / b` at precision `p`. Panics if `b` is zero.
pub(crate) fn div(a: &Ax, b: &Ax, p: usize) -> Ax {
    assert!(!b.v.is_zero(), "softmax-oracle: division by zero");
    let (y, inx) = take(a.v.div(&b.v, p, RM));
    let (ea, eb) = (a.eff_err(), b.eff_err());
    let err = if a.err.is_none() && b.err.is_none() && !inx {
        None
    } else {
        // Relative error of b, with |b| >= 2^(ex(b)-1).
        let rel_b = eb.map(|e| e - (ex(&b.v) - 1));
        let quot = ex(&a.v) - (ex(&b.v) - 1); // |a/b| < 2^quot
        if rel_b.is_some_and(|r| r > -2) {
            // The divisor is not known to within a quarter: no accuracy.
            Some(quot.max(ex(&y)) + 64)
        } else {
            // a'/b' - a/b = da/b' - (a/b)(db/b'), with |b'| >= 3|b|/4.
            err_sum(&[ea.map(|e| e - (ex(&b.v) - 1) + 1), rel_b.map(|r| quot + r + 1), round_err(&y, p, inx)])
        }
    };
    let dir = if inx || !a.rel_small() || !b.rel_small() {
        UNK
    } else {
        // d(a/b) = da/b - a db / b^2
        combine(mulsign(sgn(&b.v), a.dir), mulsign(-sgn(&a.v), b.dir))
    };
    Ax::new(y, err, dir)
}

fn bf_one() -> BigFloat {
    BigFloat::from_word(1, 64)
}

fn is_one(v: &BigFloat) -> bool {
    v.cmp(&bf_one()) == Some(0)
}

/// Result error of a smooth function `f` at `a` with `|f'| <= 2^(slope)`
/// near `a`, given `y = f(a)` computed with relative error `2^-(p-1)`.
fn fn_err(a: &Ax, y: &BigFloat, p: usize, slope: i64) -> Option<i64> {
    err_sum(&[a.eff_err().map(|e| e + slope + 1), (!y.is_zero()).then(|| ex(y) - p as i64 + 1)])
}

/// `exp(a)` at precision `p` (relative error of the computation below `2^-(p-1)`).
///
/// Arguments below `-2^30` give an infinitesimal; arguments above `2^30`
/// panic (the result would leave the big floats' exponent range).
pub(crate) fn exp(a: &Ax, p: usize) -> Ax {
    if a.v.is_zero() {
        // exp(d) - 1 has the sign of d, and |exp(d) - 1| <= 2|d| for |d| <= 1.
        return Ax::new(bf_one(), a.err.map(|e| e + 1), a.dir);
    }
    if ex(&a.v) >= EXP_LIMIT_EX {
        assert!(a.v.is_negative(), "softmax-oracle: exp overflow (argument >= 2^30)");
        return Ax::infinitesimal(1);
    }
    let y = exp_core(&a.v, p);
    // Input error d: exp(x + d) = exp(x) (1 + d') with |d'| <= 2|d| for |d| <= 1/2.
    let err = match a.eff_err() {
        Some(e) if e > -2 => Some(ex(&y) + (1i64 << e.clamp(0, 40)) * 2 + 2),
        ea => err_sum(&[ea.map(|e| e + ex(&y) + 1), Some(ex(&y) - p as i64 + 1)]),
    };
    Ax::new(y, err, UNK)
}

/// `ln(a)` at precision `p`. Panics unless `a > 0`.
pub(crate) fn ln(a: &Ax, p: usize) -> Ax {
    assert!(a.v.is_positive() && !a.v.is_zero(), "softmax-oracle: ln of a non-positive number");
    let rel = a.eff_err().map(|e| e - (ex(&a.v) - 1));
    if is_one(&a.v) {
        // ln(1 + d) has the sign of d, |ln(1 + d)| <= 2|d| for |d| <= 1/2.
        let rel = a.err.map(|e| e - (ex(&a.v) - 1));
        return Ax::new(BigFloat::new(64), rel.map(|r| r + 1), a.dir);
    }
    let (y, _) = take(with_cc(|cc| a.v.ln(p, RM, cc)));
    let err = match rel {
        Some(r) if r > -2 => Some(ex(&y).max(8) + 64),
        // The library's ln is correctly rounded; one more bit to spare.
        _ => err_sum(&[rel.map(|r| r + 1), Some(ex(&y) - p as i64 + 1)]),
    };
    Ax::new(y, err, UNK)
}

/// `ln(1 + a)` at precision `p`, accurate relative to the result, for `a >= 0`.
pub(crate) fn ln1p(a: &Ax, p: usize) -> Ax {
    assert!(!a.v.is_negative(), "softmax-oracle: ln1p of a negative number");
    if a.v.is_zero() {
        return Ax::new(BigFloat::new(64), a.err.map(|e| e + 1), a.dir);
    }
    let w = p + 64;
    let mut y = if ex(&a.v) <= -20 {
        // a < 2^-20: alternating series a - a^2/2 + a^3/3 - ..., each term
        // 2^20 times smaller than the one before; the first omitted term is
        // below a 2^-(w+8).
        let n_terms = (w as u64 + 8).div_ceil(20) + 1;
        let mut sum = a.v.clone();
        let mut pw = a.v.clone();
        for n in 2..=n_terms {
            pw = fin(pw.mul(&a.v, w, RM));
            let term = fin(pw.div(&BigFloat::from_word(n, 64), w, RM));
            sum = fin(if n % 2 == 0 { sum.sub(&term, w, RM) } else { sum.add(&term, w, RM) });
        }
        sum
    } else {
        // ln1p(a) >= 2^-21 here, so rounding 1 + a at w + 64 bits costs at
        // most 2^-(w+40) of the result.
        let s = fin(bf_one().add(&a.v, w + 64, RM));
        fin(with_cc(|cc| s.ln(w, RM, cc)))
    };
    y.set_precision(p, RM).expect("set_precision");
    let (y, _) = take(y);
    // d ln1p / da = 1/(1+a) <= 1.
    let err = fn_err(a, &y, p, 0);
    Ax::new(y, err, UNK)
}

/// Tables for [`exp_core`] at one internal precision.
struct ExpTables {
    /// Internal working precision (a multiple of 64).
    w: usize,
    /// ln 2 at `w + 128` bits.
    ln2: BigFloat,
    /// exp(j / 2^8 - 1/2), j in 0..256.
    t1: Vec<BigFloat>,
    /// exp(j / 2^16), j in 0..256.
    t2: Vec<BigFloat>,
    /// exp(j / 2^24), j in 0..256.
    t3: Vec<BigFloat>,
    /// 1/n!, n in 0..=degree, in fixed point (see [`Fixed`]).
    coef: Vec<Vec<u64>>,
}

static TABLES: Mutex<Vec<Arc<ExpTables>>> = Mutex::new(Vec::new());

fn tables(w: usize) -> Arc<ExpTables> {
    let mut cache = TABLES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = cache.iter().find(|t| t.w == w) {
        return Arc::clone(t);
    }
    let t = Arc::new(build_tables(w));
    cache.push(Arc::clone(&t));
    t
}

fn build_tables(w: usize) -> ExpTables {
    with_cc(|cc| {
        let pt = w + 64;
        let ln2 = take(cc.ln_2(w + 128, RM)).0;
        let table = |shift: i32, offset: f64, cc: &mut Consts| -> Vec<BigFloat> {
            (0..256)
                .map(|j| {
                    // j / 2^shift - offset, exact.
                    let arg = bf_from_f64(f64::from(j) / f64::from(1u32 << shift) - offset);
                    let mut e = fin(arg.exp(pt, RM, cc));
                    e.set_precision(w, RM).expect("set_precision");
                    take(e).0
                })
                .collect()
        };
        let t1 = table(8, 0.5, cc);
        let t2 = table(16, 0.0, cc);
        let t3 = table(24, 0.0, cc);
        // Degree: 0 <= r < 2^-24, the first omitted term r^(N+1)/(N+1)! below 2^-(w+6).
        let mut degree = 1usize;
        let mut log_fact = 0f64;
        loop {
            log_fact += ((degree + 1) as f64).log2();
            if 24.0 * (degree + 1) as f64 + log_fact >= (w + 6) as f64 {
                break;
            }
            degree += 1;
        }
        let limbs = w / 64;
        let mut coef = Vec::with_capacity(degree + 1);
        let mut fact = bf_one();
        for n in 0..=degree {
            if n > 0 {
                // n! is exact: it has fewer than 64 n bits.
                fact = fin(fact.mul(&BigFloat::from_word(n as u64, 64), 64 * (n + 1), RM));
            }
            let c = take(bf_one().div(&fact, w + 64, RM)).0;
            coef.push(Fixed::from_bf(&c, limbs).0);
        }
        ExpTables { w, ln2, t1, t2, t3, coef }
    })
}

/// Unsigned fixed-point numbers below 2^64: `l` fraction limbs and one
/// integer limb, least significant first (`value = limbs / 2^(64 l)`).
/// Operations truncate (error below `2^-64l` each).
struct Fixed(Vec<u64>);

impl Fixed {
    /// `floor(|v| 2^(64 l))` for `|v| < 2^64`.
    fn from_bf(v: &BigFloat, l: usize) -> Fixed {
        let mut out = vec![0u64; l + 1];
        if v.is_zero() {
            return Fixed(out);
        }
        let (m, _, _, e, _) = v.as_raw_parts().expect("finite");
        // Bit i of the mantissa words has weight 2^(i + e - 64 len); in `out`
        // it goes to bit i + shift.
        let shift = i64::from(e) - 64 * m.len() as i64 + 64 * l as i64;
        for (wi, &word) in m.iter().enumerate() {
            let pos = wi as i64 * 64 + shift;
            if pos <= -64 || word == 0 {
                continue;
            }
            if pos < 0 {
                out[0] |= word >> (-pos);
                continue;
            }
            let (li, off) = ((pos / 64) as usize, (pos % 64) as u32);
            assert!(li < out.len(), "fixed point overflow");
            out[li] |= word << off;
            if off > 0 && word >> (64 - off) != 0 {
                assert!(li + 1 < out.len(), "fixed point overflow");
                out[li + 1] |= word >> (64 - off);
            }
        }
        Fixed(out)
    }

    fn to_bf(&self) -> BigFloat {
        // from_words reads the words as a fraction below one: times 2^64.
        let v = fin(BigFloat::from_words(&self.0, Sign::Pos, 64));
        take(v).0
    }

    /// `self = c + r * self`, with `r < 1` given as `l` fraction limbs (the
    /// integer limb of `r` ignored); `buf` is scratch space.
    fn horner_step(&mut self, c: &[u64], r: &[u64], buf: &mut Vec<u64>) {
        let l = self.0.len() - 1;
        buf.clear();
        buf.resize(2 * l + 1, 0);
        for i in 0..l {
            let mut carry = 0u128;
            for j in 0..=l {
                let t = u128::from(r[i]) * u128::from(self.0[j]) + u128::from(buf[i + j]) + carry;
                buf[i + j] = t as u64;
                carry = t >> 64;
            }
            buf[i + l + 1] = carry as u64;
        }
        // product = buf >> 64 l, then add c.
        let mut carry = 0u128;
        for k in 0..=l {
            let t = u128::from(buf[l + k]) + u128::from(c[k]) + carry;
            self.0[k] = t as u64;
            carry = t >> 64;
        }
        assert!(carry == 0, "fixed point overflow");
    }
}

/// `exp(x)` for `|x| < 2^30`, rounded to `p` bits; relative error below
/// `2^-p (1/2 + 2^-50)`.
///
/// With `w = p + 64`: `x = k ln2 + r0`, `|r0| <= 0.35` (at `w + 64` bits);
/// `r0 + 1/2` in fixed point is `j1/2^8 + j2/2^16 + j3/2^24 + r` with
/// `0 <= r < 2^-24`, so `exp(x) = 2^k T1[j1] T2[j2] T3[j3] exp(r)`, the
/// tables computed by the library's (correctly rounded) exp and `exp(r)` by
/// its Taylor polynomial in fixed point. The internal error, some 40
/// roundings or truncations of `2^-w`, stays far below the final rounding.
pub(crate) fn exp_core(x: &BigFloat, p: usize) -> BigFloat {
    debug_assert!(ex(x) < EXP_LIMIT_EX);
    let w = p.div_ceil(64) * 64 + 64;
    let l = w / 64;
    let t = tables(w);
    let pr = w + 64;
    let k = (approx_f64(x) / std::f64::consts::LN_2).round() as i64;
    let r0 = if k == 0 {
        x.clone()
    } else {
        let kl = fin(t.ln2.mul(&BigFloat::from_i64(k, 64), pr, RM));
        take(x.sub(&kl, pr, RM)).0
    };
    assert!(ex(&r0) <= -1, "softmax-oracle: exp argument reduction failed");
    // r0 + 1/2, in [0.15, 0.85], as l fraction limbs.
    let mag = Fixed::from_bf(&r0, l).0;
    let mut r = vec![0u64; l];
    let half = 1u64 << 63;
    if r0.is_negative() {
        let mut borrow = false;
        for i in 0..l {
            let h = if i + 1 == l { half } else { 0 };
            let (d1, b1) = h.overflowing_sub(mag[i]);
            let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
            r[i] = d2;
            borrow = b1 || b2;
        }
        assert!(!borrow);
    } else {
        r.copy_from_slice(&mag[..l]);
        r[l - 1] += half;
    }
    let top = r[l - 1];
    let (j1, j2, j3) = ((top >> 56) as usize, ((top >> 48) & 0xff) as usize, ((top >> 40) & 0xff) as usize);
    r[l - 1] &= (1u64 << 40) - 1;
    // Horner: s = c_N; s = c_n + r s.
    let degree = t.coef.len() - 1;
    let mut s = Fixed(t.coef[degree].clone());
    let mut buf = Vec::with_capacity(2 * l + 1);
    for n in (0..degree).rev() {
        s.horner_step(&t.coef[n], &r, &mut buf);
    }
    let mut y = fin(t.t1[j1].mul(&t.t2[j2], w, RM));
    y = fin(y.mul(&t.t3[j3], w, RM));
    y = fin(y.mul(&s.to_bf(), w, RM));
    let e = i64::from(y.exponent().expect("finite")) + k;
    y.set_exponent(i32::try_from(e).expect("exp: exponent in range"));
    y.set_precision(p, RM).expect("set_precision");
    take(y).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel_diff(a: &BigFloat, b: &BigFloat) -> i64 {
        let d = a.sub(b, 2048, RM);
        if d.is_zero() { EX_ZERO } else { ex(&d) - ex(b) }
    }

    #[test]
    fn from_f64_is_exact_on_subnormals() {
        let a = bf_from_f64(5e-324);
        assert_eq!(ex(&a), -1073);
        assert!(is_pow2(&a));
        let b = bf_from_f64(f64::MIN_POSITIVE);
        let q = a.div(&b, 128, RM);
        assert_eq!(ex(&q), -51); // 2^-52
        let c = bf_from_f64(-3.0 * 5e-324);
        assert_eq!(ex(&c), -1072);
        assert!(c.is_negative());
        assert_eq!(ex(&bf_from_f64(1.0)), 1);
        assert_eq!(ex(&bf_from_f64(0.75)), 0);
    }

    #[test]
    fn inexact_flags_are_reliable() {
        let one = Ax::f64(1.0);
        let three = Ax::f64(3.0);
        assert!(div(&one, &Ax::f64(4.0), 320).is_exact());
        assert!(!div(&one, &three, 320).is_exact());
        assert!(add(&one, &Ax::f64(2f64.powi(-300)), 320).is_exact());
        assert!(!add(&one, &Ax::f64(2f64.powi(-400)), 320).is_exact());
        assert!(mul(&three, &three, 64).is_exact());
        let big = Ax::f64(f64::MAX);
        assert!(!mul(&big, &big, 64).is_exact());
        let x = Ax::f64(0.1);
        assert!(sub(&x, &x, 64).is_exact());
    }

    #[test]
    fn exp_core_matches_library_exp() {
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        for (p, count) in [(320usize, 2000), (640, 400), (1280, 100), (2560, 40)] {
            for i in 0..count {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let u = (s >> 11) as f64 / (1u64 << 53) as f64;
                let x = match i % 6 {
                    0 => (u - 0.5) * 2.0,
                    1 => -u * 800.0,
                    2 => (u - 0.5) * 1e-30,
                    3 => -u * 1.0e9,
                    // Next to the table steps and to multiples of ln 2 / 2.
                    4 => (i as f64 / 6.0).round() / 256.0 * (1.0 + (u - 0.5) * 1e-12) - 0.5,
                    _ => (0.5 + (i % 7) as f64) * std::f64::consts::LN_2 + (u - 0.5) * 1e-15,
                };
                let bx = bf_from_f64(x);
                let mine = exp_core(&bx, p);
                let lib = with_cc(|cc| bx.exp(p + 64, RM, cc));
                let d = rel_diff(&mine, &lib);
                assert!(d <= -(p as i64), "exp({x:e}) at {p}: rel diff 2^{d}");
            }
        }
    }

    #[test]
    fn ln1p_series_and_direct_agree_with_library() {
        for x in [1e-30, 3e-7, 2f64.powi(-21), 2f64.powi(-19), 0.5, 7.0, 1e6] {
            let a = Ax::f64(x);
            let mine = ln1p(&a, 320);
            let one_plus = bf_from_f64(1.0).add(&bf_from_f64(x), 4096, RM);
            let lib = with_cc(|cc| one_plus.ln(400, RM, cc));
            assert!(rel_diff(&mine.v, &lib) <= -319, "ln1p({x:e})");
            assert!(mine.err.unwrap() <= ex(&mine.v) - 318);
        }
    }

    #[test]
    fn error_bookkeeping_tracks_infinitesimals() {
        let t = Ax::infinitesimal(1);
        let one = Ax::f64(1.0);
        let den = add(&one, &t, 320);
        assert!(den.err.is_none() && den.dir == 1);
        let u = div(&t, &den, 320);
        assert!(u.err.is_none() && u.dir == 1 && u.v.is_zero());
        let y = sub(&one, &u, 320);
        assert!(y.err.is_none() && y.dir == -1);
        let r = div(&one, &den, 320);
        assert!(r.err.is_none() && r.dir == -1);
        let mixed = add(&div(&one, &Ax::f64(3.0), 320), &t, 320);
        assert!(mixed.err.is_some() && mixed.dir == UNK);
        let l = ln1p(&t, 320);
        assert!(l.err.is_none() && l.dir == 1);
        assert_eq!(exp(&Ax::f64(-2e9), 320).dir, 1);
    }
}
