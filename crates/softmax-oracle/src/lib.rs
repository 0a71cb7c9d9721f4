//! Test oracle for the `softmax` crate: the softmax family computed in
//! arbitrary precision, and the error of a computed `f64`/`f32`/`f16`/`bf16`
//! value measured in units in the last place (ulp).
//!
//! The inputs are the already-rounded floats (`x`, `tau`); the oracle gives
//! the real-number result of the formula on them, as an [`Exact`]:
//!
//! * [`softmax`]: `exp(q_i - m) / sum_j exp(q_j - m)`,
//! * [`log_softmax`]: `q_i - m - ln(sum_j exp(q_j - m))`,
//! * [`logsumexp`]: `m + ln(sum_j exp(q_j - m))`,
//! * [`sigmoid`]: `1 / (1 + exp(-x))`,
//! * [`log_sigmoid`]: `-ln(1 + exp(-x))`,
//! * [`softplus`]: `ln(1 + exp(x))`,
//!
//! with `q_i = x_i / tau` and `m = max_i q_i`.
//!
//! ```
//! use softmax_oracle as oracle;
//! // The exact softmax of [1, 2, 3], and the error of a float32 result against it.
//! let exact = oracle::softmax(&[1.0, 2.0, 3.0], 1.0);
//! assert_eq!(exact[2].to_f64(), 0.6652409557748219);
//! assert!(exact[2].ulp_error_f32(0.66524094) <= 0.5);
//! // logsumexp of an empty row has no value.
//! assert!(oracle::logsumexp(&[], 1.0).is_none());
//! ```
//!
//! # How exact
//!
//! Everything is done in binary big floats (the pure-Rust `astro-float`
//! crate) with a rigorous error bound carried along every operation (first
//! order terms plus the rounding of each operation, with margins). A result
//! is accepted only when that bound is below `2^-(PRECISION+3)` of its
//! magnitude; it is then rounded to [`PRECISION`] = 256 bits. Otherwise the
//! whole computation is redone at twice the working precision (320, 640,
//! 1280, 2560 bits). So every [`Exact`] the oracle returns is within
//! `2^-255` relative of the true value, far more than the 53 bits of an `f64`
//! plus the ~60 further bits that settle its correct rounding in all but
//! astronomically rare cases.
//!
//! The one exception: if the highest precision allowed is reached without
//! establishing that (2560 bits for scalars and rows of up to 256 elements,
//! 1280 up to 4096, 640 beyond, as a retry redoes every exponential), the
//! result is returned anyway, with its proven bound and "side unknown" shown
//! by `{:?}`. Only contrived inputs get there: near-ties far below the
//! working precision in long rows (e.g. values `1e-300` apart when `tau = 1`),
//! or a second-largest scaled logit within ~250 above the `-2^30` cut-off below.
//!
//! # Values next to a rounding boundary
//!
//! Some true values lie closer to an exactly representable number than any
//! fixed precision can tell: `sigmoid(1000) = 1 - 5e-435`, the largest
//! softmax output of `[0, -1000]`, `softplus(1e6) = 1e6 + e^-1e6`, the
//! log-softmax `-(2^53 + 1) - ln(1 + e^-(2^53+1))`, which is just past an
//! `f64` tie. Rounded to 256 bits those are exactly `1`, `1`, `1e6`, `-(2^53+1)`,
//! yet the sign of the remainder decides the correct rounding at a tie and the
//! binade (so the ulp) at a power of two. The oracle therefore also records
//! the sign of `true - value` whenever its bound proves it (the formulas are
//! evaluated so that the remainder is computed, not lost: `1 - u` with `u`
//! relative-accurate, `1/(k + R)` through `1 - v (k + R)`, `d - L`...).
//! [`Exact::to_f64`] breaks ties with it and the ulp functions use it to pick
//! the binade. This is what makes, for example, `ulp_error_f64(1.0 - 2^-53)`
//! of `sigmoid(1000)` equal 1 (one ulp of the binade below 1) rather than 0.5.
//!
//! # Very negative exponents
//!
//! A term `exp(d)` with `d < -2^30` (e.g. `x_i - max = -1e300`) is not
//! computed: it is below `2^-1549082004`, far below the last bit of any other
//! quantity the oracle deals with (its errors included), so it can change
//! no rounding; only its sign is kept (an *infinitesimal*, which is
//! what lets `sigmoid(1e300)` be known to lie just below 1, or
//! `softmax([0, -1e300])[1]` be known positive). All other terms are computed,
//! however small: `exp(-1e5)` is an ordinary big float (exponent `-144270`),
//! so the sums stay exact to full relative precision whatever the spread of
//! the row, and even outputs far below the `f64` range are right (they read as
//! `0.0` through [`Exact::to_f64`], and a kernel's `0.0` then measures less than
//! 1 ulp). The exponential costs the same at any argument (table-driven
//! reduction), so a row of 10^6 elements takes a few seconds (two threads).
//!
//! # Panics
//!
//! This is a test-only crate: bad inputs (non-finite values, `tau <= 0`) and
//! operations outside the big floats' range panic with a message.

#![deny(missing_docs)]

mod ax;
mod round;

use astro_float::{BigFloat, Sign};
use ax::{Ax, E_INF, RM, UNK, add, bf_from_f64, div, err_sum, ex, fin, mul, neg, sgn, sub};
use round::{BF16, F16, F32, F64, Format};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Precision, in bits, of the values held by an [`Exact`] (the computations
/// run at 320 bits or more, and the results are rounded to this).
pub const PRECISION: usize = 256;

/// Working precisions tried in turn for a scalar or short row.
const LEVELS: [usize; 4] = [320, 640, 1280, 2560];

/// A high-precision real number: a 256-bit binary float with a proven bound on
/// its distance to the true value it stands for and, when known, the sign of
/// that distance.
///
/// Values made by [`Exact::from_f64`] are exact. Values returned by the
/// oracle functions are within `2^-255` relative of the true result (see the
/// crate documentation for what is kept beyond that).
#[derive(Clone)]
pub struct Exact {
    /// The value, at most [`PRECISION`] bits.
    v: BigFloat,
    /// `|true - v| <= 2^err`; `None`: exact up to an infinitesimal.
    err: Option<i64>,
    /// Sign of `true - v`: -1, 0, 1, or `UNK`.
    dir: i8,
}

fn zero() -> BigFloat {
    BigFloat::new(64)
}

/// Rounds `y` to an [`Exact`]. `resid` gets the rounded value `v` and returns
/// an [`Ax`] with the sign of `true - v`; it should be computed so that a
/// remainder far below the last bit of `v` is not lost. Returns `None`
/// (meaning: retry at a higher precision) when the accuracy of `y` or the
/// sign is not established, unless `force`.
fn finalize(y: &Ax, resid: impl FnOnce(&Ax) -> Ax, force: bool) -> Option<Exact> {
    if y.v.is_zero() {
        return match y.err {
            None => Some(Exact { v: zero(), err: None, dir: y.dir }),
            Some(_) if force => Some(Exact { v: zero(), err: y.err, dir: y.dir }),
            Some(_) => None,
        };
    }
    if let Some(e) = y.err
        && e > ex(&y.v) - 1 - (PRECISION as i64 + 3)
        && !force
    {
        return None;
    }
    let mut v = y.v.clone();
    v.set_precision(PRECISION, RM).expect("set_precision");
    v.set_inexact(false);
    let z = resid(&Ax::exact(v.clone()));
    let dir = if !z.v.is_zero() {
        if z.err.is_none_or(|e| e < ex(&z.v) - 1) { sgn(&z.v) } else { UNK }
    } else {
        z.dir
    };
    if dir == UNK && !force {
        return None;
    }
    let err = if dir == 0 {
        None
    } else {
        let py = y.v.mantissa_max_bit_len().expect("finite") + 64;
        let gap = fin(y.v.sub(&v, py, RM));
        let gap = (!gap.is_zero()).then(|| ex(&gap));
        match err_sum(&[y.eff_err(), gap]) {
            None if dir == UNK => Some(E_INF),
            e => e,
        }
    };
    Some(Exact { v, err, dir })
}

/// The residual of a plain value: `y - v`.
fn plain(y: &Ax, p: usize) -> impl FnOnce(&Ax) -> Ax + '_ {
    move |v| sub(y, v, p + 128)
}

/// The residual of a sum `a + b`: `(a - v) + b`.
fn sum_resid<'a>(a: &'a Ax, b: &'a Ax, p: usize) -> impl FnOnce(&Ax) -> Ax + 'a {
    move |v| add(&sub(a, v, p + 128), b, p + 128)
}

/// Runs `f(p, force)` at the working precisions in `levels` until it gives a
/// result (the last one is forced).
fn with_levels<T>(levels: &[usize], mut f: impl FnMut(usize, bool) -> Option<T>) -> T {
    for (i, &p) in levels.iter().enumerate() {
        if let Some(r) = f(p, i + 1 == levels.len()) {
            return r;
        }
    }
    unreachable!("the last level is forced")
}

impl Exact {
    fn ax(&self) -> Ax {
        Ax { v: self.v.clone(), err: self.err, dir: self.dir }
    }

    fn from_op(op: impl Fn(usize) -> Ax) -> Exact {
        with_levels(&LEVELS[..3], |p, force| {
            let y = op(p);
            finalize(&y, plain(&y, p), force)
        })
    }

    /// The exact value of a finite `f64` (`-0.0` gives zero).
    ///
    /// # Panics
    /// If `v` is NaN or infinite.
    pub fn from_f64(v: f64) -> Exact {
        Exact { v: bf_from_f64(v), err: None, dir: 0 }
    }

    /// A decimal string (such as `"-1.25e-3"`) rounded to [`PRECISION`] bits,
    /// for writing reference values in tests. Such a value is treated as
    /// approximate (its error bound is about `2^-300` relative), even when the
    /// decimal is exactly representable.
    ///
    /// # Panics
    /// If the string is not a decimal number.
    pub fn from_decimal(s: &str) -> Exact {
        let v = ax::with_cc(|cc| BigFloat::parse(s, astro_float::Radix::Dec, 512, RM, cc));
        assert!(!v.is_nan() && !v.is_inf(), "softmax-oracle: cannot parse {s:?} as a number");
        let mut v = fin(v);
        v.set_inexact(false);
        let err = (!v.is_zero()).then(|| ex(&v) - 500);
        let y = Ax { v, err, dir: UNK };
        finalize(&y, plain(&y, 512), true).expect("forced")
    }

    /// The value rounded to the nearest `f64`, ties to even (a tie in the
    /// stored value is broken by the known sign of the remainder, when there is
    /// one). Beyond the largest finite `f64` the result is `±inf`; below the
    /// normal range it is subnormal or `±0`, rounded correctly.
    pub fn to_f64(&self) -> f64 {
        round::round_to(&self.v, self.dir, F64)
    }

    /// The value rounded to the nearest `f32` (as [`Exact::to_f64`]).
    pub fn to_f32(&self) -> f32 {
        round::round_to(&self.v, self.dir, F32) as f32
    }

    /// The value rounded to the nearest `f16` (as [`Exact::to_f64`]).
    pub fn to_f16(&self) -> half::f16 {
        half::f16::from_f64(round::round_to(&self.v, self.dir, F16))
    }

    /// The value rounded to the nearest `bf16` (as [`Exact::to_f64`]).
    pub fn to_bf16(&self) -> half::bf16 {
        half::bf16::from_f64(round::round_to(&self.v, self.dir, BF16))
    }

    /// `self + o`.
    pub fn add(&self, o: &Exact) -> Exact {
        Exact::from_op(|p| add(&self.ax(), &o.ax(), p))
    }

    /// `self - o`.
    pub fn sub(&self, o: &Exact) -> Exact {
        Exact::from_op(|p| sub(&self.ax(), &o.ax(), p))
    }

    /// `self * o`.
    pub fn mul(&self, o: &Exact) -> Exact {
        Exact::from_op(|p| mul(&self.ax(), &o.ax(), p))
    }

    /// `self / o`.
    ///
    /// # Panics
    /// If `o` is zero.
    pub fn div(&self, o: &Exact) -> Exact {
        Exact::from_op(|p| div(&self.ax(), &o.ax(), p))
    }

    /// `-self`.
    pub fn neg(&self) -> Exact {
        Exact { v: self.v.neg(), err: self.err, dir: if self.dir == UNK { UNK } else { -self.dir } }
    }

    /// `e^self`. Below `-2^30` the result is a positive infinitesimal (stored
    /// as zero, known to be positive).
    ///
    /// # Panics
    /// If `self >= 2^30` (the result would leave the big floats' range).
    pub fn exp(&self) -> Exact {
        Exact::from_op(|p| ax::exp(&self.ax(), p))
    }

    /// The natural logarithm.
    ///
    /// # Panics
    /// If the stored value is not positive.
    pub fn ln(&self) -> Exact {
        Exact::from_op(|p| ax::ln(&self.ax(), p))
    }

    /// Whether the value is exactly zero (an infinitesimal, such as
    /// `softmax([0, -1e300])[1]`, is not zero).
    pub fn is_zero(&self) -> bool {
        self.v.is_zero() && self.err.is_none() && self.dir == 0
    }

    fn ulp_error(&self, got: f64, f: Format) -> f64 {
        if !got.is_finite() {
            return f64::INFINITY;
        }
        let e = round::floor_log2(&self.v, self.dir).unwrap_or(f.emin).max(f.emin);
        let q = e - (f.mant - 1);
        let mut d = fin(bf_from_f64(got).sub(&self.v, PRECISION + 256, RM));
        if d.is_zero() {
            return 0.0;
        }
        d.set_sign(Sign::Pos);
        let de = i64::from(d.exponent().expect("finite")) - q;
        d.set_exponent(i32::try_from(de).expect("ulp error exponent in range"));
        round::round_to(&d, 0, F64)
    }

    /// `|got - self| / ulp(self)` where `ulp(v) = 2^(max(floor(log2|v|), -1022) - 52)`,
    /// the spacing of `f64` numbers at `|v|` (for `v` zero or infinitesimal,
    /// the smallest subnormal). `f64::INFINITY` if `got` is NaN or infinite
    /// (callers check special values separately).
    ///
    /// So a correctly rounded result measures at most 0.5 and a faithful one
    /// less than 1. `floor(log2|v|)` is that of the true value: when the stored
    /// value is a power of two and the true value is known to lie just below
    /// it, the binade below is used (if the side is unknown, which only the
    /// exception in the crate documentation produces, the stored value's).
    /// The measure itself is exact to far more digits than an `f64` shows.
    pub fn ulp_error_f64(&self, got: f64) -> f64 {
        self.ulp_error(got, F64)
    }

    /// As [`Exact::ulp_error_f64`] for `f32`: `ulp(v) = 2^(max(floor(log2|v|), -126) - 23)`.
    pub fn ulp_error_f32(&self, got: f32) -> f64 {
        self.ulp_error(f64::from(got), F32)
    }

    /// As [`Exact::ulp_error_f64`] for `f16`: `ulp(v) = 2^(max(floor(log2|v|), -14) - 10)`.
    pub fn ulp_error_f16(&self, got: half::f16) -> f64 {
        self.ulp_error(got.to_f64(), F16)
    }

    /// As [`Exact::ulp_error_f64`] for `bf16`: `ulp(v) = 2^(max(floor(log2|v|), -126) - 7)`.
    pub fn ulp_error_bf16(&self, got: half::bf16) -> f64 {
        self.ulp_error(got.to_f64(), BF16)
    }
}

impl fmt::Display for Exact {
    /// The stored value in decimal (all its digits).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.v.is_zero() && self.dir != 0 && self.dir != UNK {
            let s = if self.dir > 0 { "+" } else { "-" };
            return write!(f, "{s}0 (infinitesimal)");
        }
        write!(f, "{}", self.v)
    }
}

impl fmt::Debug for Exact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match (self.err, self.dir) {
            (None, 0) => "exact".to_string(),
            (None, d) => format!("plus an infinitesimal of sign {d}"),
            (Some(e), d) => {
                let s = match d {
                    -1 => "true value below",
                    1 => "true value above",
                    _ => "side unknown",
                };
                format!("error <= 2^{e}, {s}")
            }
        };
        f.debug_struct("Exact")
            .field("value", &format_args!("{}", self.v))
            .field("f64", &self.to_f64())
            .field("status", &status)
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Rows.

fn check_row(x: &[f64], tau: f64) {
    assert!(
        tau.is_finite() && tau > 0.0,
        "softmax-oracle: the temperature must be finite and > 0, got {tau}"
    );
    if let Some(v) = x.iter().find(|v| !v.is_finite()) {
        panic!("softmax-oracle: inputs must be finite, got {v}");
    }
}

/// Elements per unit of parallel work.
const CHUNK: usize = 8192;

/// `f` over the chunks of `0..n`, on up to the available cores, results in
/// chunk order (so the results do not depend on the number of threads).
fn par_chunks<T: Send>(n: usize, f: impl Fn(std::ops::Range<usize>) -> T + Sync) -> Vec<T> {
    let chunks = n.div_ceil(CHUNK);
    let range = |c: usize| c * CHUNK..((c + 1) * CHUNK).min(n);
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).min(chunks).min(8);
    if threads <= 1 {
        return (0..chunks).map(|c| f(range(c))).collect();
    }
    let next = AtomicUsize::new(0);
    let mut out: Vec<(usize, T)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let c = next.fetch_add(1, Ordering::Relaxed);
                        if c >= chunks {
                            break mine;
                        }
                        mine.push((c, f(range(c))));
                    }
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("oracle worker panicked")).collect()
    });
    out.sort_by_key(|(c, _)| *c);
    out.into_iter().map(|(_, t)| t).collect()
}

/// Working precisions for a row of `n` elements (long rows stop earlier:
/// a retry redoes every exponential).
fn row_levels(n: usize) -> &'static [usize] {
    if n <= 256 {
        &LEVELS
    } else if n <= 4096 {
        &LEVELS[..3]
    } else {
        &LEVELS[..2]
    }
}

/// A row's shared quantities at one working precision.
struct Row<'a> {
    x: &'a [f64],
    tau: f64,
    xmax: f64,
    /// Number of elements equal to the maximum.
    k: u64,
    /// Precision of the outputs' computation.
    p: usize,
    /// Precision of the arguments and sums: `p + 64`.
    w: usize,
}

impl<'a> Row<'a> {
    fn new(x: &'a [f64], tau: f64, p: usize) -> Row<'a> {
        let xmax = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let k = x.iter().filter(|v| **v == xmax).count() as u64;
        Row { x, tau, xmax, k, p, w: p + 64 }
    }

    /// `(x_i - max) / tau`.
    fn d(&self, i: usize) -> Ax {
        let diff = sub(&Ax::f64(self.x[i]), &Ax::f64(self.xmax), self.w);
        if self.tau == 1.0 { diff } else { div(&diff, &Ax::f64(self.tau), self.w) }
    }

    /// `m = max / tau`.
    fn m(&self) -> Ax {
        div(&Ax::f64(self.xmax), &Ax::f64(self.tau), self.w)
    }

    /// `R = sum over the non-maximal elements of exp(d_j)`, and, if `keep`,
    /// each `exp(d_j)` (zero for the maximal elements).
    fn sum(&self, keep: bool) -> (Ax, Vec<Ax>) {
        struct Part {
            e: Vec<Ax>,
            sum: BigFloat,
            max_rel: i64,
            terms: u64,
            infinitesimals: u64,
        }
        let parts = par_chunks(self.x.len(), |r| {
            let mut part =
                Part { e: Vec::new(), sum: zero(), max_rel: i64::MIN / 8, terms: 0, infinitesimals: 0 };
            for i in r {
                if self.x[i] == self.xmax {
                    if keep {
                        part.e.push(Ax::f64(0.0));
                    }
                    continue;
                }
                let e = ax::exp(&self.d(i), self.p);
                if e.v.is_zero() {
                    part.infinitesimals += 1;
                } else {
                    let rel = e.err.expect("a computed exponential is rounded") - (ex(&e.v) - 1);
                    part.max_rel = part.max_rel.max(rel);
                    part.terms += 1;
                    part.sum = fin(part.sum.add(&e.v, self.w, RM));
                }
                if keep {
                    part.e.push(e);
                }
            }
            part
        });
        let mut sum = zero();
        let (mut max_rel, mut terms, mut infinitesimals) = (i64::MIN / 8, 0u64, 0u64);
        let mut e = Vec::with_capacity(if keep { self.x.len() } else { 0 });
        for part in parts {
            sum = fin(sum.add(&part.sum, self.w, RM));
            max_rel = max_rel.max(part.max_rel);
            terms += part.terms;
            infinitesimals += part.infinitesimals;
            e.extend(part.e);
        }
        sum.set_inexact(false);
        let r = if terms == 0 {
            if infinitesimals > 0 { Ax::infinitesimal(1) } else { Ax::exact(zero()) }
        } else {
            // Each term within 2^max_rel of itself, the terms positive; plus
            // one rounding (at w bits) per addition, each below 2^(ex(R) - w).
            let exr = ex(&sum);
            let adds = terms + self.x.len().div_ceil(CHUNK) as u64;
            // The infinitesimal terms left out add up to less than 2^E_INF.
            let err = err_sum(&[
                Some(max_rel + exr),
                Some(exr - self.w as i64 + ax::clog2(adds)),
                (infinitesimals > 0).then_some(E_INF),
            ]);
            Ax { v: sum, err, dir: UNK }
        };
        (r, e)
    }

    /// `S = k + R`.
    fn s(&self, r: &Ax) -> Ax {
        add(&Ax::f64(self.k as f64), r, self.w)
    }

    /// `L = ln(k + R)` (as `ln1p(R)` when `k = 1`).
    fn l(&self, r: &Ax) -> Ax {
        if self.k == 1 { ax::ln1p(r, self.p) } else { ax::ln(&self.s(r), self.p) }
    }

    /// The outputs `f(i)` over the row (in parallel), or `None` if one of them
    /// asks for more precision.
    fn outputs(&self, f: impl Fn(usize) -> Option<Exact> + Sync) -> Option<Vec<Exact>> {
        let parts = par_chunks(self.x.len(), |r| r.map(&f).collect::<Option<Vec<_>>>());
        let mut out = Vec::with_capacity(self.x.len());
        for part in parts {
            out.extend(part?);
        }
        Some(out)
    }
}

/// The softmax of `x / tau`: `exp(q_i - m) / sum_j exp(q_j - m)` with
/// `q = x / tau`, `m = max q`. An empty row gives an empty vector.
///
/// All inputs must be finite (filter special values and masked positions
/// first) and `tau` finite and `> 0`.
///
/// # Panics
/// On non-finite inputs or a bad temperature.
pub fn softmax(x: &[f64], tau: f64) -> Vec<Exact> {
    check_row(x, tau);
    if x.is_empty() {
        return Vec::new();
    }
    with_levels(row_levels(x.len()), |p, force| {
        let row = Row::new(x, tau, p);
        let (r, e) = row.sum(true);
        let s = row.s(&r);
        let k = Ax::f64(row.k as f64);
        // The maximal elements: 1 / (k + R), whose remainder has the sign of
        // 1 - v k - v R (1 - v k exact), so that 1 - tiny is seen below 1.
        let y = div(&Ax::f64(1.0), &s, p);
        let top = finalize(
            &y,
            |v| {
                let vk = mul(v, &k, PRECISION + 128);
                let c = sub(&Ax::f64(1.0), &vk, PRECISION + 256);
                sub(&c, &mul(v, &r, p + 128), p + 128)
            },
            force,
        )?;
        row.outputs(|i| {
            if x[i] == row.xmax {
                Some(top.clone())
            } else {
                let y = div(&e[i], &s, p);
                finalize(&y, plain(&y, p), force)
            }
        })
    })
}

/// The log-softmax of `x / tau`: `q_i - m - ln(sum_j exp(q_j - m))`. An empty
/// row gives an empty vector. Same input rules as [`softmax`].
///
/// # Panics
/// On non-finite inputs or a bad temperature.
pub fn log_softmax(x: &[f64], tau: f64) -> Vec<Exact> {
    check_row(x, tau);
    if x.is_empty() {
        return Vec::new();
    }
    with_levels(row_levels(x.len()), |p, force| {
        let row = Row::new(x, tau, p);
        let (r, _) = row.sum(false);
        let nl = neg(&row.l(&r));
        let top = finalize(&nl, plain(&nl, p), force)?;
        row.outputs(|i| {
            if x[i] == row.xmax {
                Some(top.clone())
            } else {
                let d = row.d(i);
                let y = add(&d, &nl, p);
                finalize(&y, sum_resid(&d, &nl, row.w), force)
            }
        })
    })
}

/// The log-sum-exp of `x / tau`: `m + ln(sum_j exp(q_j - m))`; `None` for an
/// empty row. Same input rules as [`softmax`].
///
/// Cancellation (`m < 0` close to `-ln(sum)`) is detected by the error
/// bound and the computation repeated at higher precision.
///
/// # Panics
/// On non-finite inputs or a bad temperature.
pub fn logsumexp(x: &[f64], tau: f64) -> Option<Exact> {
    check_row(x, tau);
    if x.is_empty() {
        return None;
    }
    Some(with_levels(row_levels(x.len()), |p, force| {
        let row = Row::new(x, tau, p);
        let (r, _) = row.sum(false);
        let l = row.l(&r);
        let m = row.m();
        let y = add(&m, &l, p);
        finalize(&y, sum_resid(&m, &l, row.w), force)
    }))
}

fn check_scalar(x: f64) -> Ax {
    assert!(x.is_finite(), "softmax-oracle: input must be finite, got {x}");
    Ax::f64(x)
}

/// The logistic sigmoid `1 / (1 + exp(-x))`, for any finite `x`.
///
/// # Panics
/// If `x` is not finite.
pub fn sigmoid(x: f64) -> Exact {
    let xa = check_scalar(x);
    if x == 0.0 {
        return Exact::from_f64(0.5);
    }
    let one = Ax::f64(1.0);
    with_levels(&LEVELS, |p, force| {
        if x > 0.0 {
            // 1 - u with u = 1 / (1 + e^x) = t / (1 + t), t = e^-x.
            let t = ax::exp(&neg(&xa), p);
            let u = div(&t, &add(&one, &t, p + 64), p);
            let nu = neg(&u);
            let y = add(&one, &nu, p);
            finalize(&y, sum_resid(&one, &nu, p), force)
        } else {
            let t = ax::exp(&xa, p);
            let y = div(&t, &add(&one, &t, p + 64), p);
            finalize(&y, plain(&y, p), force)
        }
    })
}

/// The softplus `ln(1 + exp(x))`, for any finite `x`.
///
/// # Panics
/// If `x` is not finite.
pub fn softplus(x: f64) -> Exact {
    let xa = check_scalar(x);
    with_levels(&LEVELS, |p, force| {
        if x > 0.0 {
            // x + ln1p(e^-x)
            let b = ax::ln1p(&ax::exp(&neg(&xa), p), p);
            let y = add(&xa, &b, p);
            finalize(&y, sum_resid(&xa, &b, p), force)
        } else {
            let y = ax::ln1p(&ax::exp(&xa, p), p);
            finalize(&y, plain(&y, p), force)
        }
    })
}

/// The log-sigmoid `-ln(1 + exp(-x))`, for any finite `x`.
///
/// # Panics
/// If `x` is not finite.
pub fn log_sigmoid(x: f64) -> Exact {
    softplus(-x).neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancellation_asks_for_more_precision() {
        // -p/q agrees with -ln 2 to 2^-106.
        let x = [-1554903831458736.0, -1554903831458736.0];
        let tau = 2243252046704767.0;
        let at = |p: usize| {
            let row = Row::new(&x, tau, p);
            let (r, _) = row.sum(false);
            let l = row.l(&r);
            let m = row.m();
            let y = add(&m, &l, p);
            finalize(&y, sum_resid(&m, &l, row.w), false)
        };
        assert!(at(320).is_none());
        assert!(at(640).is_some());
    }

    #[test]
    fn near_tie_asks_for_more_precision() {
        let at = |p: usize| {
            let row = Row::new(&[5e-324, 0.0], 1.0, p);
            let (_, e) = row.sum(true);
            let (r, _) = row.sum(false);
            let y = div(&e[1], &row.s(&r), p);
            finalize(&y, plain(&y, p), false)
        };
        assert!(at(320).is_none());
        assert!(at(640).is_none());
        assert_eq!(at(1280).expect("resolved").dir, -1);
    }
}
