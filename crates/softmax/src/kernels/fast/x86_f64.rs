//! The x86-64 `f64` kernels: softmax, log-softmax and logsumexp of contiguous rows, and the
//! softmax backward pass (below, [`backward_rows`]), generic over a small vector trait and
//! compiled for AVX-512 (8 lanes) and AVX2+FMA (4 lanes).
//!
//! The plan is the `f32` one (see the parent module) carried to `f64`, with one difference:
//! the exponentials are of `x − m` formed exactly as a pair (TwoSum), so that a row and the row
//! shifted by a constant (when the shift is exact) give bitwise the same outputs.
//! 1. the maximum `m`;
//! 2. each term `exp(x − m)` as an unrounded pair `hi + lo` times `2^n`: `x − m = dh + dl`
//!    exactly, `n = round(dh/ln 2)`, `r = (dh − n·C1) + (dl − n·C2)` with the first difference
//!    exact and one rounding in all, then the Taylor polynomial of degree 13 (truncation below
//!    2⁻⁵⁷ on `|r| ≤ ln 2 / 2`) with its last step split into `hi + lo`. The `hi` parts are summed
//!    with a compensated (TwoSum) accumulator per lane, the `lo` parts plainly; the maximum's
//!    ties (whose terms are exactly 1) are counted apart;
//! 3. softmax: the pair recomputed and multiplied by `1/s` (a double-double) with one rounding,
//!    the ties (whose pair is exactly 1) getting `RN(1/(c + rest))` from it; log-softmax: `RN((x − m) − ln s)` with both
//!    subtractions error-free and one final rounding.
//!
//! The error per output is 0.5 ulp for the final rounding plus about 2⁻⁵⁴ relative for the
//! term and the sum: about 1 ulp at worst (0.92 measured). Rows with a NaN or an infinite
//! maximum, or a maximum beyond ±[`MAX_ABS_MAX`], are handed back to the portable path.

use std::arch::x86_64::*;

use super::Op;
use crate::kernels::dd::{Dd, fast_two_sum, two_sum};
use crate::kernels::exp::ln_1p_dd;

/// `ln 2 = C1 + C2` to about 2⁻⁸⁵ relative: `C1` has 32 significant bits, so `n·C1` is exact for
/// `|n| < 2^21` and `d − n·C1` is exact (Sterbenz) for the `n = round(d/ln 2)` of any `|d| ≤
/// FLOOR`; `C2` is the rest rounded to `f64`.
const C1: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const C2: f64 = 1.908_214_929_270_587_7e-10;
const LOG2_E: f64 = std::f64::consts::LOG2_E;

/// `1/(k + 1)!` for k = 12 down to 1: `exp(r) = 1 + r·(1 + r·(1/2 + r·(1/6 + …)))`.
const Q: [f64; 12] = [
    1.0 / 6_227_020_800.0,
    1.0 / 479_001_600.0,
    1.0 / 39_916_800.0,
    1.0 / 3_628_800.0,
    1.0 / 362_880.0,
    1.0 / 40_320.0,
    1.0 / 5_040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
];

/// Entries further than this below the maximum have terms under `2⁻¹⁰⁹⁰` (nothing an `f64`
/// output can see); they are clamped to it, keeping the reduction in its exact range.
const FLOOR: f64 = 760.0;

/// Pass 2 sums its terms scaled by `2^LIFT`, so that terms down to `e⁻⁷⁶⁰` are normal numbers
/// and keep all their bits (10⁵ terms of `e⁻⁷¹⁸` add up to a normal `1.5e−307`).
const LIFT: f64 = 600.0;

/// The largest `|max|` of a row the vector path takes: up to it, the clamp `m − FLOOR` is formed
/// to within 2⁻¹² and every clamped `x − m` is finite.
pub(crate) const MAX_ABS_MAX: f64 = 1_099_511_627_776.0;

pub(super) trait SimdD: Copy {
    const LANES: usize;
    type Mask: Copy;

    unsafe fn load(p: *const f64) -> Self;
    unsafe fn store(self, p: *mut f64);
    /// The first `n < LANES` lanes from `p`, the others `fill`.
    unsafe fn load_part(p: *const f64, n: usize, fill: f64) -> Self;
    /// Stores the first `n < LANES` lanes to `p`.
    unsafe fn store_part(self, p: *mut f64, n: usize);
    fn splat(v: f64) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    fn max(self, o: Self) -> Self;
    fn fma(a: Self, b: Self, c: Self) -> Self;
    /// Round to the nearest integer, ties to even.
    fn round(self) -> Self;
    /// `self · 2^k` for integral `k` in `[−1150, 700]`.
    fn scale(self, k: Self) -> Self;
    fn reduce_max(self) -> f64;
    fn eq(self, o: Self) -> Self::Mask;
    fn bits(mask: Self::Mask) -> u32;
    fn zero_where(self, mask: Self::Mask) -> Self;
    /// `a` where `mask` is set, `self` elsewhere.
    fn blend(self, mask: Self::Mask, a: Self) -> Self;
    /// The lanes, in order (the first `LANES` of the array).
    fn lanes(self) -> [f64; 8];
}

#[derive(Clone, Copy)]
pub(super) struct D8(pub(super) __m512d);

impl SimdD for D8 {
    const LANES: usize = 8;
    type Mask = __mmask8;

    #[inline(always)]
    unsafe fn load(p: *const f64) -> Self {
        unsafe { D8(_mm512_loadu_pd(p)) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f64) {
        unsafe { _mm512_storeu_pd(p, self.0) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f64, n: usize, fill: f64) -> Self {
        unsafe { D8(_mm512_mask_loadu_pd(_mm512_set1_pd(fill), ((1u32 << n) - 1) as __mmask8, p)) }
    }
    #[inline(always)]
    unsafe fn store_part(self, p: *mut f64, n: usize) {
        unsafe { _mm512_mask_storeu_pd(p, ((1u32 << n) - 1) as __mmask8, self.0) }
    }
    #[inline(always)]
    fn splat(v: f64) -> Self {
        unsafe { D8(_mm512_set1_pd(v)) }
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        unsafe { D8(_mm512_add_pd(self.0, o.0)) }
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        unsafe { D8(_mm512_sub_pd(self.0, o.0)) }
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        unsafe { D8(_mm512_mul_pd(self.0, o.0)) }
    }
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        unsafe { D8(_mm512_div_pd(self.0, o.0)) }
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        unsafe { D8(_mm512_max_pd(self.0, o.0)) }
    }
    #[inline(always)]
    fn fma(a: Self, b: Self, c: Self) -> Self {
        unsafe { D8(_mm512_fmadd_pd(a.0, b.0, c.0)) }
    }
    #[inline(always)]
    fn round(self) -> Self {
        unsafe { D8(_mm512_roundscale_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self.0)) }
    }
    #[inline(always)]
    fn scale(self, k: Self) -> Self {
        unsafe { D8(_mm512_scalef_pd(self.0, k.0)) }
    }
    #[inline(always)]
    fn reduce_max(self) -> f64 {
        unsafe { _mm512_reduce_max_pd(self.0) }
    }
    #[inline(always)]
    fn eq(self, o: Self) -> Self::Mask {
        unsafe { _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(self.0, o.0) }
    }
    #[inline(always)]
    fn bits(mask: Self::Mask) -> u32 {
        u32::from(mask)
    }
    #[inline(always)]
    fn zero_where(self, mask: Self::Mask) -> Self {
        unsafe { D8(_mm512_maskz_mov_pd(!mask, self.0)) }
    }
    #[inline(always)]
    fn blend(self, mask: Self::Mask, a: Self) -> Self {
        unsafe { D8(_mm512_mask_mov_pd(self.0, mask, a.0)) }
    }
    #[inline(always)]
    fn lanes(self) -> [f64; 8] {
        let mut out = [0.0; 8];
        unsafe { _mm512_storeu_pd(out.as_mut_ptr(), self.0) };
        out
    }
}

/// All-ones in the first `n` of 4 lanes.
#[inline(always)]
fn part_mask4(n: usize) -> __m256i {
    unsafe { _mm256_cmpgt_epi64(_mm256_set1_epi64x(n as i64), _mm256_setr_epi64x(0, 1, 2, 3)) }
}

/// `2^k` for integral `k` in `[−1022, 1023]`, built from its exponent bits.
#[inline(always)]
fn pow2_4(k: __m256d) -> __m256d {
    unsafe {
        // Adding 1.5·2^52 leaves the integer in the low bits of the significand.
        let magic = _mm256_set1_pd(6_755_399_441_055_744.0);
        let bits = _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(k, magic)), _mm256_castpd_si256(magic));
        _mm256_castsi256_pd(_mm256_slli_epi64::<52>(_mm256_add_epi64(bits, _mm256_set1_epi64x(1023))))
    }
}

#[derive(Clone, Copy)]
pub(super) struct D4(pub(super) __m256d);

impl SimdD for D4 {
    const LANES: usize = 4;
    type Mask = __m256d;

    #[inline(always)]
    unsafe fn load(p: *const f64) -> Self {
        unsafe { D4(_mm256_loadu_pd(p)) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f64) {
        unsafe { _mm256_storeu_pd(p, self.0) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f64, n: usize, fill: f64) -> Self {
        unsafe {
            let mask = part_mask4(n);
            D4(_mm256_blendv_pd(_mm256_set1_pd(fill), _mm256_maskload_pd(p, mask), _mm256_castsi256_pd(mask)))
        }
    }
    #[inline(always)]
    unsafe fn store_part(self, p: *mut f64, n: usize) {
        unsafe { _mm256_maskstore_pd(p, part_mask4(n), self.0) }
    }
    #[inline(always)]
    fn splat(v: f64) -> Self {
        unsafe { D4(_mm256_set1_pd(v)) }
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        unsafe { D4(_mm256_add_pd(self.0, o.0)) }
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        unsafe { D4(_mm256_sub_pd(self.0, o.0)) }
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        unsafe { D4(_mm256_mul_pd(self.0, o.0)) }
    }
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        unsafe { D4(_mm256_div_pd(self.0, o.0)) }
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        unsafe { D4(_mm256_max_pd(self.0, o.0)) }
    }
    #[inline(always)]
    fn fma(a: Self, b: Self, c: Self) -> Self {
        unsafe { D4(_mm256_fmadd_pd(a.0, b.0, c.0)) }
    }
    #[inline(always)]
    fn round(self) -> Self {
        unsafe { D4(_mm256_round_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self.0)) }
    }
    #[inline(always)]
    fn scale(self, k: Self) -> Self {
        // Two exact powers of two, so that results down to the subnormals are reached: the first
        // factor stays normal (k₁ ≥ −1022), the second carries the rest (k − k₁ ≥ −130).
        unsafe {
            let k1 = _mm256_max_pd(k.0, _mm256_set1_pd(-1022.0));
            let k2 = _mm256_sub_pd(k.0, k1);
            D4(_mm256_mul_pd(_mm256_mul_pd(self.0, pow2_4(k1)), pow2_4(k2)))
        }
    }
    #[inline(always)]
    fn reduce_max(self) -> f64 {
        unsafe {
            let m = _mm_max_pd(_mm256_castpd256_pd128(self.0), _mm256_extractf128_pd::<1>(self.0));
            _mm_cvtsd_f64(_mm_max_sd(m, _mm_unpackhi_pd(m, m)))
        }
    }
    #[inline(always)]
    fn eq(self, o: Self) -> Self::Mask {
        unsafe { _mm256_cmp_pd::<_CMP_EQ_OQ>(self.0, o.0) }
    }
    #[inline(always)]
    fn bits(mask: Self::Mask) -> u32 {
        unsafe { _mm256_movemask_pd(mask) as u32 }
    }
    #[inline(always)]
    fn zero_where(self, mask: Self::Mask) -> Self {
        unsafe { D4(_mm256_andnot_pd(mask, self.0)) }
    }
    #[inline(always)]
    fn blend(self, mask: Self::Mask, a: Self) -> Self {
        unsafe { D4(_mm256_blendv_pd(self.0, a.0, mask)) }
    }
    #[inline(always)]
    fn lanes(self) -> [f64; 8] {
        let mut out = [0.0; 8];
        unsafe { _mm256_storeu_pd(out.as_mut_ptr(), self.0) };
        out
    }
}

/// The constants of one row's exponentials, broadcast once.
#[derive(Clone, Copy)]
struct Consts<S> {
    max: S,
    neg_max: S,
    floor: S,
    log2e: S,
    neg_c1: S,
    neg_c2: S,
    q: [S; 12],
    one: S,
    lift: S,
}

impl<S: SimdD> Consts<S> {
    #[inline(always)]
    fn new(max: f64) -> Self {
        Consts {
            max: S::splat(max),
            neg_max: S::splat(-max),
            floor: S::splat(max - FLOOR),
            log2e: S::splat(LOG2_E),
            neg_c1: S::splat(-C1),
            neg_c2: S::splat(-C2),
            q: Q.map(S::splat),
            one: S::splat(1.0),
            lift: S::splat(LIFT),
        }
    }

    /// `exp(x − m) = (hi + lo)·2^k`, the pair unscaled (near 1).
    #[inline(always)]
    fn exp_parts(&self, x: S) -> (S, S, S) {
        // `max(floor, x)` returns its second operand when either is NaN: a NaN goes on into the
        // sum, which reports it; `−inf` becomes the floor, whose term is 0.
        let x = self.floor.max(x);
        let (dh, dl) = two_sum_v(x, self.neg_max);
        let n = dh.mul(self.log2e).round();
        let t = S::fma(n, self.neg_c1, dh);
        let r = t.add(S::fma(n, self.neg_c2, dl));
        let mut q = S::fma(self.q[0], r, self.q[1]);
        for &c in &self.q[2..] {
            q = S::fma(q, r, c);
        }
        q = S::fma(q, r, self.one);
        let hi = S::fma(r, q, self.one);
        let lo = S::fma(r, q, self.one.sub(hi));
        (hi, lo, n)
    }
}

#[inline(always)]
unsafe fn max_pass<S: SimdD>(x: &[f64]) -> f64 {
    let (n, p, l) = (x.len(), x.as_ptr(), S::LANES);
    let mut acc = [S::splat(f64::NEG_INFINITY); 4];
    let mut i = 0;
    unsafe {
        while i + 4 * l <= n {
            for (u, a) in acc.iter_mut().enumerate() {
                *a = a.max(S::load(p.add(i + u * l)));
            }
            i += 4 * l;
        }
        while i + l <= n {
            acc[0] = acc[0].max(S::load(p.add(i)));
            i += l;
        }
        if i < n {
            acc[1] = acc[1].max(S::load_part(p.add(i), n - i, x[0]));
        }
    }
    acc[0].max(acc[1]).max(acc[2].max(acc[3])).reduce_max()
}

/// A compensated running sum per lane (`s + c`, TwoSum), and the plain sum of the `lo` parts.
#[derive(Clone, Copy)]
struct Acc<S> {
    s: S,
    c: S,
    lo: S,
}

impl<S: SimdD> Acc<S> {
    #[inline(always)]
    fn add(&mut self, hi: S, lo: S) {
        let t = self.s.add(hi);
        let b = t.sub(self.s);
        let err = self.s.sub(t.sub(b)).add(hi.sub(b));
        self.c = self.c.add(err);
        self.s = t;
        self.lo = self.lo.add(lo);
    }
}

/// One vector of pass 2 (a closure would not inherit the caller's target features).
#[inline(always)]
fn sum_step<S: SimdD>(c: &Consts<S>, acc: &mut Acc<S>, ties: &mut u32, v: S) {
    let (mut hi, mut lo, k) = c.exp_parts(v);
    let k = k.add(c.lift);
    let eq = v.eq(c.max);
    let bits = S::bits(eq);
    if bits != 0 {
        *ties += bits.count_ones();
        hi = hi.zero_where(eq);
        lo = lo.zero_where(eq);
    }
    acc.add(hi.scale(k), lo.scale(k));
}

/// Pass 2: the number of ties of the maximum and the sum of the other terms `exp(x − m)`
/// (double-double), times `2^LIFT`.
#[inline(always)]
unsafe fn sum_pass<S: SimdD>(x: &[f64], c: &Consts<S>) -> (f64, Dd) {
    let (n, p, l) = (x.len(), x.as_ptr(), S::LANES);
    let zero = S::splat(0.0);
    let mut acc = [Acc { s: zero, c: zero, lo: zero }; 2];
    let mut ties = 0u32;
    let mut i = 0;
    unsafe {
        while i + 2 * l <= n {
            sum_step(c, &mut acc[0], &mut ties, S::load(p.add(i)));
            sum_step(c, &mut acc[1], &mut ties, S::load(p.add(i + l)));
            i += 2 * l;
        }
        while i + l <= n {
            sum_step(c, &mut acc[0], &mut ties, S::load(p.add(i)));
            i += l;
        }
        if i < n {
            // Padding below the floor: its terms are exactly 0 and it never ties.
            sum_step(c, &mut acc[1], &mut ties, S::load_part(p.add(i), n - i, f64::NEG_INFINITY));
        }
    }
    (f64::from(ties), combine(&acc))
}

/// Pass 3 of softmax: `RN((hi + lo)·(rh + rl))·2^k`. A tie of the maximum has `r = 0`, so its
/// pair is exactly `1 + 0` and its output exactly `RN(1/s)`: nothing to patch afterwards.
#[inline(always)]
unsafe fn exp_scale_pass<S: SimdD>(x: &[f64], y: &mut [f64], c: &Consts<S>, r: Dd) {
    let (n, px, py, l) = (x.len(), x.as_ptr(), y.as_mut_ptr(), S::LANES);
    let (rh, rl) = (S::splat(r.hi), S::splat(r.lo));
    let mut i = 0;
    unsafe {
        while i + l <= n {
            quotient(c, S::load(px.add(i)), rh, rl).store(py.add(i));
            i += l;
        }
        if i < n {
            let v = S::load_part(px.add(i), n - i, f64::NEG_INFINITY);
            quotient(c, v, rh, rl).store_part(py.add(i), n - i);
        }
    }
}

/// `RN((hi + lo)·(rh + rl))·2^k` for the terms of `v`.
#[inline(always)]
fn quotient<S: SimdD>(c: &Consts<S>, v: S, rh: S, rl: S) -> S {
    let (hi, lo, k) = c.exp_parts(v);
    S::fma(hi, rh, S::fma(lo, rh, hi.mul(rl))).scale(k)
}

/// `(a + b, error)` lane by lane (TwoSum).
#[inline(always)]
fn two_sum_v<S: SimdD>(a: S, b: S) -> (S, S) {
    let s = a.add(b);
    let bb = s.sub(a);
    (s, a.sub(s.sub(bb)).add(b.sub(bb)))
}

/// Pass 3 of log-softmax: `RN((x − m) − ln s)`, both subtractions error-free (`x − m` is
/// exact in two parts, and so is its difference with `ln s`'s high part).
#[inline(always)]
unsafe fn log_pass<S: SimdD>(x: &[f64], y: &mut [f64], m: f64, ln_sum: Dd) {
    let (n, px, py, l) = (x.len(), x.as_ptr(), y.as_mut_ptr(), S::LANES);
    let (neg_m, neg_lh, neg_ll) = (S::splat(-m), S::splat(-ln_sum.hi), S::splat(-ln_sum.lo));
    let mut i = 0;
    unsafe {
        while i + l <= n {
            log_out(S::load(px.add(i)), neg_m, neg_lh, neg_ll).store(py.add(i));
            i += l;
        }
        if i < n {
            log_out(S::load_part(px.add(i), n - i, 0.0), neg_m, neg_lh, neg_ll).store_part(py.add(i), n - i);
        }
    }
}

#[inline(always)]
fn log_out<S: SimdD>(v: S, neg_m: S, neg_lh: S, neg_ll: S) -> S {
    let (dh, dl) = two_sum_v(v, neg_m);
    let (th, tl) = two_sum_v(dh, neg_lh);
    // TwoSum of −inf gives NaN for its error: a −inf entry's log-probability is −inf.
    let neg_inf = S::splat(f64::NEG_INFINITY);
    th.add(tl.add(dl.add(neg_ll))).blend(v.eq(neg_inf), neg_inf)
}

/// Passes 1 and 2 of a row: its maximum and `Σ exp(x − m) = ties + rest`, or `None` for a row
/// the vector path does not take.
#[inline(always)]
unsafe fn stats<S: SimdD>(x: &[f64]) -> Option<(f64, f64, Dd)> {
    let max = unsafe { max_pass::<S>(x) };
    // NaN, ±inf or a maximum beyond the kernel's range: the portable path.
    if max.is_nan() || max.abs() > MAX_ABS_MAX {
        return None;
    }
    let (ties, rest) = unsafe { sum_pass::<S>(x, &Consts::<S>::new(max)) };
    // A NaN anywhere in the row has made the sum NaN.
    if !rest.hi.is_finite() {
        return None;
    }
    let unlift = 2f64.powi(-(LIFT as i32));
    Some((max, ties, Dd { hi: rest.hi * unlift, lo: rest.lo * unlift }))
}

/// `logsumexp` of each contiguous row of length `len` into `out`: `m + ln Σ` in double-double,
/// rounded once. A row where the two terms nearly cancel (`|m + ln Σ| < ln Σ`: rows of
/// log-probabilities) goes to `fallback`, whose `ln Σ` is good to 2⁻¹⁰⁰, as does any row the
/// vector path does not take.
#[inline(always)]
unsafe fn lse_rows<S: SimdD>(x: &[f64], out: &mut [f64], len: usize, fallback: &super::LseFallback64) {
    for (xr, o) in x.chunks_exact(len).zip(out.iter_mut()) {
        *o = match unsafe { stats::<S>(xr) } {
            Some((max, ties, rest)) => {
                let ln_sum = ln_1p_dd(rest.add_f64(ties - 1.0));
                let lse = Dd::new(max).add(ln_sum);
                if lse.hi.abs() >= ln_sum.hi { lse.to_f64() } else { fallback(xr) }
            }
            None => fallback(xr),
        };
    }
}

/// One row of softmax or log-softmax; false if the row must take the portable path.
#[inline(always)]
unsafe fn row<S: SimdD>(op: Op, x: &[f64], y: &mut [f64]) -> bool {
    // Σ exp(x − m) = ties + rest: the maximum's own terms are exactly 1.
    let Some((max, ties, rest)) = (unsafe { stats::<S>(x) }) else { return false };
    let c = Consts::<S>::new(max);
    match op {
        Op::Softmax => {
            let r = Dd::ONE.div(rest.add_f64(ties));
            unsafe { exp_scale_pass::<S>(x, y, &c, r) };
        }
        Op::LogSoftmax => {
            let ln_sum = ln_1p_dd(rest.add_f64(ties - 1.0));
            unsafe { log_pass::<S>(x, y, max, ln_sum) };
        }
    }
    true
}

/// Softmax or log-softmax of each contiguous row of length `len`; rows the vector path does
/// not take go to `fallback`.
#[inline(always)]
unsafe fn rows<S: SimdD>(op: Op, x: &[f64], y: &mut [f64], len: usize, fallback: &super::Fallback64) {
    for (xr, yr) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)) {
        if !unsafe { row::<S>(op, xr, yr) } {
            fallback(xr, yr);
        }
    }
}

/// `⟨y, dy⟩` in double-double: each product split exactly (`p + e`, FMA), the `p` summed with
/// a compensated accumulator per lane.
#[inline(always)]
unsafe fn dot_pass<S: SimdD>(y: &[f64], dy: &[f64]) -> Dd {
    let (n, py, pd, l) = (y.len(), y.as_ptr(), dy.as_ptr(), S::LANES);
    let zero = S::splat(0.0);
    let mut acc = [Acc { s: zero, c: zero, lo: zero }; 2];
    let mut i = 0;
    unsafe {
        while i + 2 * l <= n {
            dot_step(&mut acc[0], S::load(py.add(i)), S::load(pd.add(i)));
            dot_step(&mut acc[1], S::load(py.add(i + l)), S::load(pd.add(i + l)));
            i += 2 * l;
        }
        while i + l <= n {
            dot_step(&mut acc[0], S::load(py.add(i)), S::load(pd.add(i)));
            i += l;
        }
        if i < n {
            dot_step(&mut acc[1], S::load_part(py.add(i), n - i, 0.0), S::load_part(pd.add(i), n - i, 0.0));
        }
    }
    combine(&acc)
}

#[inline(always)]
fn dot_step<S: SimdD>(acc: &mut Acc<S>, y: S, dy: S) {
    let p = y.mul(dy);
    let e = S::fma(y, dy, S::splat(0.0).sub(p));
    acc.add(p, e);
}

/// The accumulators' total as a double-double: the high parts added by TwoSum, the small parts
/// (corrections and low sums, about 2⁻⁵³ of the total) plainly.
#[inline(always)]
fn combine<S: SimdD>(acc: &[Acc<S>; 2]) -> Dd {
    let (s, e) = two_sum_v(acc[0].s, acc[1].s);
    let small = acc[0].c.add(acc[1].c).add(acc[0].lo.add(acc[1].lo)).add(e);
    let (mut hi, mut lo) = (0.0, 0.0);
    for (&sv, &sm) in s.lanes().iter().zip(&small.lanes()).take(S::LANES) {
        let (h, err) = two_sum(hi, sv);
        hi = h;
        lo += err + sm;
    }
    let (hi, lo) = fast_two_sum(hi, lo);
    Dd { hi, lo }
}

/// `dx = RN(y·(dy − ⟨y, dy⟩))`: `dy − dot` formed exactly as a pair, then one rounding.
#[inline(always)]
unsafe fn vjp_pass<S: SimdD>(y: &[f64], dy: &[f64], dx: &mut [f64], dot: Dd) {
    let (n, py, pd, px, l) = (y.len(), y.as_ptr(), dy.as_ptr(), dx.as_mut_ptr(), S::LANES);
    let (neg_hi, neg_lo) = (S::splat(-dot.hi), S::splat(-dot.lo));
    let mut i = 0;
    unsafe {
        while i + l <= n {
            vjp_out(S::load(py.add(i)), S::load(pd.add(i)), neg_hi, neg_lo).store(px.add(i));
            i += l;
        }
        if i < n {
            let (a, b) = (S::load_part(py.add(i), n - i, 0.0), S::load_part(pd.add(i), n - i, 0.0));
            vjp_out(a, b, neg_hi, neg_lo).store_part(px.add(i), n - i);
        }
    }
}

#[inline(always)]
fn vjp_out<S: SimdD>(y: S, dy: S, neg_hi: S, neg_lo: S) -> S {
    let (th, tl) = two_sum_v(dy, neg_hi);
    S::fma(y, th, y.mul(tl.add(neg_lo)))
}

/// The softmax backward pass of contiguous rows of length `len`; rows whose dot product is not
/// finite (a NaN or an infinity in `y` or `dy`) go to `fallback`.
#[inline(always)]
unsafe fn backward_rows<S: SimdD>(
    y: &[f64],
    dy: &[f64],
    dx: &mut [f64],
    len: usize,
    fallback: &super::BackwardFallback64,
) {
    let rows = y.chunks_exact(len).zip(dy.chunks_exact(len)).zip(dx.chunks_exact_mut(len));
    for ((yr, dyr), dxr) in rows {
        let dot = unsafe { dot_pass::<S>(yr, dyr) };
        if dot.hi.is_finite() && dot.lo.is_finite() {
            unsafe { vjp_pass::<S>(yr, dyr, dxr, dot) };
        } else {
            fallback(yr, dyr, dxr);
        }
    }
}

/// The entry points of one instruction set.
macro_rules! entry_points {
    ($isa:ident, $v:ty, $features:literal) => {
        pub(super) mod $isa {
            use super::*;

            /// # Safety
            /// The CPU must have the module's target features; the slices hold whole rows.
            #[target_feature(enable = $features)]
            pub unsafe fn rows(
                op: Op,
                x: &[f64],
                y: &mut [f64],
                len: usize,
                fallback: &super::super::Fallback64,
            ) {
                unsafe { super::rows::<$v>(op, x, y, len, fallback) }
            }

            /// # Safety
            /// As [`rows`]; `out` has one element per row.
            #[target_feature(enable = $features)]
            pub unsafe fn lse_rows(
                x: &[f64],
                out: &mut [f64],
                len: usize,
                fallback: &super::super::LseFallback64,
            ) {
                unsafe { super::lse_rows::<$v>(x, out, len, fallback) }
            }

            /// # Safety
            /// As [`rows`]; the slices have one length, a multiple of `len`.
            #[target_feature(enable = $features)]
            pub unsafe fn backward_rows(
                y: &[f64],
                dy: &[f64],
                dx: &mut [f64],
                len: usize,
                fallback: &super::super::BackwardFallback64,
            ) {
                unsafe { super::backward_rows::<$v>(y, dy, dx, len, fallback) }
            }
        }
    };
}

entry_points!(avx512, D8, "avx512f,avx512dq,avx2,fma,popcnt");
entry_points!(avx2, D4, "avx2,fma,popcnt");
