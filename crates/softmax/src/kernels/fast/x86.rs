//! The x86-64 kernels: one generic row algorithm ([`row`]) over a small vector trait, compiled
//! twice, for AVX-512 (16 lanes) and AVX2+FMA (8 lanes). Everything generic is
//! `#[inline(always)]`, so each copy is built with its own target features.

use std::arch::x86_64::*;

use crate::kernels::fast::x86_f64::{D4, D8, SimdD};

use super::{
    BackwardFallback, CeColumn, CeRowStats, ColumnPart, Fallback, LOG2_E, LseFallback, MAX_ABS_MAX, Op,
    Stats, Ties,
};

pub(super) mod half;

/// `2^(i/32) = EXP2_HI[i] + EXP2_LO[i]` for `i = 0..32`, each part rounded to nearest (the pair is
/// within 2⁻⁴⁹ of the exact power; checked against `f64` in the tests). The 8-lane kernels use
/// every second entry, `2^(i/16)`.
const EXP2_HI: [f32; 32] = [
    1.0,
    1.0218972,
    1.0442737,
    1.0671405,
    1.0905077,
    1.1143868,
    1.1387886,
    1.1637249,
    1.1892071,
    1.2152474,
    1.2418578,
    1.269051,
    1.2968396,
    1.3252367,
    1.3542556,
    1.38391,
    std::f32::consts::SQRT_2,
    1.4451808,
    1.4768262,
    1.5091645,
    1.5422108,
    1.5759809,
    1.6104903,
    1.6457555,
    1.6817929,
    1.7186193,
    1.7562522,
    1.7947091,
    1.8340081,
    1.8741677,
    1.9152066,
    1.9571441,
];
const EXP2_LO: [f32; 32] = [
    0.0,
    -4.81156e-8,
    4.83347e-8,
    -5.933752e-8,
    -1.307754e-8,
    -5.43554e-8,
    5.3862223e-8,
    -4.0514415e-8,
    3.7976353e-8,
    -3.267395e-8,
    4.496838e-8,
    1.4193333e-9,
    -4.0189995e-8,
    -3.4963733e-8,
    -1.0123349e-8,
    -5.8755774e-8,
    2.4203235e-8,
    3.3242e-8,
    -4.500899e-8,
    -2.4959373e-8,
    8.070905e-9,
    -5.6610254e-8,
    9.836217e-9,
    -5.124972e-8,
    -2.4755327e-8,
    -4.8496176e-8,
    -9.23577e-9,
    -1.1415045e-8,
    -1.1239278e-8,
    -4.6630056e-8,
    9.845328e-9,
    -1.7021804e-8,
];

/// `exp(r) ≈ 1 + r + r²·(c₂ + c₃·r)` on `|r| ≤ 1.01·ln 2/64` (the 32-entry table), relative error
/// below 2⁻³³ with these `f32` coefficients (a minimax fit for relative error by Lawson's
/// iteration, checked on a fine grid).
const POLY32: [f32; 3] = [0.500_004_1, 0.166_666_92, 0.0];
/// `exp(r) ≈ 1 + r + r²·(c₂ + c₃·r + c₄·r²)` on `|r| ≤ 1.01·ln 2/32` (the 16-entry table of
/// the 8-lane kernels), relative error below 2⁻³⁷ likewise.
const POLY16: [f32; 3] = [0.5, 0.166_670_13, 0.041_665_077];

/// `1.5·2²³`: adding it to a value below 2²² in magnitude rounds that value to an integer, which
/// then sits in the low bits of the sum's significand.
const ROUNDER: f32 = 12_582_912.0;

/// Entries further than this below the maximum contribute nothing an `f32` can hold (`e⁻¹¹⁰` is
/// below the smallest subnormal relative to the row's largest term); they are clamped to it so
/// that the reduction stays in its exact range.
const FLOOR: f32 = 110.0;

trait Simd: Copy {
    const LANES: usize;
    type Mask: Copy;
    type Acc: Copy;

    unsafe fn load(p: *const f32) -> Self;
    unsafe fn store(self, p: *mut f32);
    /// The first `n < LANES` lanes from `p`, the others `fill` (masked: no stack round trip,
    /// whose store-to-load stall would dominate short rows).
    unsafe fn load_part(p: *const f32, n: usize, fill: f32) -> Self;
    /// Stores the first `n < LANES` lanes to `p`.
    unsafe fn store_part(self, p: *mut f32, n: usize);
    /// Stores to `p`, aligned to the vector's size, past the caches (a non-temporal store).
    unsafe fn stream(self, p: *mut f32);
    fn splat(v: f32) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn max(self, o: Self) -> Self;
    /// `a·b + c`, rounded once.
    fn fma(a: Self, b: Self, c: Self) -> Self;
    /// Round to the nearest integer, ties to even.
    fn round(self) -> Self;
    /// An exponent for [`Simd::scale`] from `k`, which scales by `2^⌊k⌋`: `vscalefps` floors
    /// its exponent itself, so AVX-512 passes `k` unchanged; AVX2 rounds it toward −∞.
    fn floor_exponent(k: Self) -> Self;
    /// `log₂` of the exponential's table size.
    const TABLE_BITS: u32;
    /// A table of `2^TABLE_BITS` values held in registers.
    type Table: Copy;
    /// The table of `2^(i/2^TABLE_BITS)` taken from every `32/2^TABLE_BITS`-th of `values`.
    fn table(values: &[f32; 32]) -> Self::Table;
    /// `table[i]` where `i` is the low `TABLE_BITS` bits of each lane's bit pattern.
    fn lookup(table: Self::Table, index: Self) -> Self;
    /// `self · 2^⌊k⌋` for `⌊k⌋` in `[−160, 66]`, `k` from [`Simd::floor_exponent`].
    fn scale(self, k: Self) -> Self;
    fn reduce_max(self) -> f32;
    fn reduce_add(self) -> f64;
    fn eq(self, o: Self) -> Self::Mask;
    fn bits(mask: Self::Mask) -> u32;
    fn zero_where(self, mask: Self::Mask) -> Self;
    fn acc_zero() -> Self::Acc;
    /// Adds the lanes, widened to `f64`.
    fn acc_add(acc: Self::Acc, v: Self) -> Self::Acc;
    /// The accumulator's lanes, in lane order (the first `LANES` of the array).
    fn acc_lanes(acc: Self::Acc) -> [f64; 16];
    /// 1.0 where `mask` is set, 0 elsewhere.
    fn ones_where(mask: Self::Mask) -> Self;
    /// `a` where `mask` is set, `self` elsewhere.
    fn blend(self, mask: Self::Mask, a: Self) -> Self;
    /// The lanes, in order (the first `LANES` of the array).
    fn lanes(self) -> [f32; 16];
    /// `RN(y·(dy − dot))` with the arithmetic in `f64` (the difference exact but for `dot`'s own
    /// rounding, so a cancelling `dy − dot` keeps its bits).
    fn vjp_out(y: Self, dy: Self, dot: f64) -> Self;
    /// `RN((x − m) − l)` lane by lane, with `m` and `l` given per lane, in `f64`.
    fn log_out_lanes(x: Self, m: &[f64; 16], l: &[f64; 16]) -> Self;
    /// Adds the lanes' products `a·b`, formed exactly in `f64`.
    fn acc_fma(acc: Self::Acc, a: Self, b: Self) -> Self::Acc;
    /// `RN((x − m) − l)` with the arithmetic in `f64`.
    fn log_out(x: Self, m: f64, l: f64) -> Self;
    /// `f64` vectors of half the lanes each: those of the `f64` kernels.
    type W: SimdD + crate::kernels::exp::Lanes;
    /// The lanes widened to `f64` (exactly): the first half, then the second.
    fn widen(self) -> (Self::W, Self::W);
    /// The lanes of `lo` then of `hi`, each rounded to `f32`.
    fn narrow(lo: Self::W, hi: Self::W) -> Self;
    /// The accumulator's lanes, split as [`Simd::widen`] splits them.
    fn acc_halves(acc: Self::Acc) -> (Self::W, Self::W);
}

#[derive(Clone, Copy)]
struct V16(__m512);

impl Simd for V16 {
    const LANES: usize = 16;
    type Mask = __mmask16;
    type Acc = (__m512d, __m512d);

    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        unsafe { V16(_mm512_loadu_ps(p)) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        unsafe { _mm512_storeu_ps(p, self.0) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize, fill: f32) -> Self {
        unsafe { V16(_mm512_mask_loadu_ps(_mm512_set1_ps(fill), ((1u32 << n) - 1) as __mmask16, p)) }
    }
    #[inline(always)]
    unsafe fn store_part(self, p: *mut f32, n: usize) {
        unsafe { _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as __mmask16, self.0) }
    }
    #[inline(always)]
    unsafe fn stream(self, p: *mut f32) {
        unsafe { _mm512_stream_ps(p, self.0) }
    }
    #[inline(always)]
    fn splat(v: f32) -> Self {
        unsafe { V16(_mm512_set1_ps(v)) }
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        unsafe { V16(_mm512_add_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        unsafe { V16(_mm512_sub_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        unsafe { V16(_mm512_mul_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        unsafe { V16(_mm512_max_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn fma(a: Self, b: Self, c: Self) -> Self {
        unsafe { V16(_mm512_fmadd_ps(a.0, b.0, c.0)) }
    }
    #[inline(always)]
    fn round(self) -> Self {
        unsafe { V16(_mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self.0)) }
    }
    #[inline(always)]
    fn floor_exponent(k: Self) -> Self {
        k
    }
    const TABLE_BITS: u32 = 5;
    type Table = (__m512, __m512);
    #[inline(always)]
    fn table(values: &[f32; 32]) -> Self::Table {
        unsafe { (_mm512_loadu_ps(values.as_ptr()), _mm512_loadu_ps(values.as_ptr().add(16))) }
    }
    #[inline(always)]
    fn lookup(table: Self::Table, index: Self) -> Self {
        unsafe { V16(_mm512_permutex2var_ps(table.0, _mm512_castps_si512(index.0), table.1)) }
    }
    #[inline(always)]
    fn scale(self, k: Self) -> Self {
        unsafe { V16(_mm512_scalef_ps(self.0, k.0)) }
    }
    #[inline(always)]
    fn reduce_max(self) -> f32 {
        unsafe { _mm512_reduce_max_ps(self.0) }
    }
    #[inline(always)]
    fn reduce_add(self) -> f64 {
        let (lo, hi) = self.widen();
        lo.add(hi).total()
    }
    #[inline(always)]
    fn eq(self, o: Self) -> Self::Mask {
        unsafe { _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(self.0, o.0) }
    }
    #[inline(always)]
    fn bits(mask: Self::Mask) -> u32 {
        mask as u32
    }
    #[inline(always)]
    fn zero_where(self, mask: Self::Mask) -> Self {
        unsafe { V16(_mm512_maskz_mov_ps(!mask, self.0)) }
    }
    #[inline(always)]
    fn acc_zero() -> Self::Acc {
        unsafe { (_mm512_setzero_pd(), _mm512_setzero_pd()) }
    }
    #[inline(always)]
    fn acc_add(acc: Self::Acc, v: Self) -> Self::Acc {
        unsafe {
            let (lo, hi) = halves512(v.0);
            (_mm512_add_pd(acc.0, _mm512_cvtps_pd(lo)), _mm512_add_pd(acc.1, _mm512_cvtps_pd(hi)))
        }
    }
    #[inline(always)]
    fn acc_lanes(acc: Self::Acc) -> [f64; 16] {
        let mut out = [0.0; 16];
        unsafe {
            _mm512_storeu_pd(out.as_mut_ptr(), acc.0);
            _mm512_storeu_pd(out.as_mut_ptr().add(8), acc.1);
        }
        out
    }
    #[inline(always)]
    fn ones_where(mask: Self::Mask) -> Self {
        unsafe { V16(_mm512_maskz_mov_ps(mask, _mm512_set1_ps(1.0))) }
    }
    #[inline(always)]
    fn blend(self, mask: Self::Mask, a: Self) -> Self {
        unsafe { V16(_mm512_mask_mov_ps(self.0, mask, a.0)) }
    }
    #[inline(always)]
    fn lanes(self) -> [f32; 16] {
        let mut out = [0.0; 16];
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), self.0) };
        out
    }
    #[inline(always)]
    fn vjp_out(y: Self, dy: Self, dot: f64) -> Self {
        unsafe {
            let ((y0, y1), (d0, d1)) = (halves512(y.0), halves512(dy.0));
            let dot = _mm512_set1_pd(dot);
            let lo =
                _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_sub_pd(_mm512_cvtps_pd(d0), dot), _mm512_cvtps_pd(y0)));
            let hi =
                _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_sub_pd(_mm512_cvtps_pd(d1), dot), _mm512_cvtps_pd(y1)));
            let joined =
                _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi));
            V16(_mm512_castpd_ps(joined))
        }
    }
    #[inline(always)]
    fn log_out_lanes(x: Self, m: &[f64; 16], l: &[f64; 16]) -> Self {
        unsafe {
            let (lo, hi) = halves512(x.0);
            let (m0, m1) = (_mm512_loadu_pd(m.as_ptr()), _mm512_loadu_pd(m.as_ptr().add(8)));
            let (l0, l1) = (_mm512_loadu_pd(l.as_ptr()), _mm512_loadu_pd(l.as_ptr().add(8)));
            let lo = _mm512_cvtpd_ps(_mm512_sub_pd(_mm512_sub_pd(_mm512_cvtps_pd(lo), m0), l0));
            let hi = _mm512_cvtpd_ps(_mm512_sub_pd(_mm512_sub_pd(_mm512_cvtps_pd(hi), m1), l1));
            let joined =
                _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi));
            V16(_mm512_castpd_ps(joined))
        }
    }
    #[inline(always)]
    fn acc_fma(acc: Self::Acc, a: Self, b: Self) -> Self::Acc {
        unsafe {
            let ((a0, a1), (b0, b1)) = (halves512(a.0), halves512(b.0));
            (
                _mm512_fmadd_pd(_mm512_cvtps_pd(a0), _mm512_cvtps_pd(b0), acc.0),
                _mm512_fmadd_pd(_mm512_cvtps_pd(a1), _mm512_cvtps_pd(b1), acc.1),
            )
        }
    }
    #[inline(always)]
    fn log_out(x: Self, m: f64, l: f64) -> Self {
        unsafe {
            let (lo, hi) = halves512(x.0);
            let (m, l) = (_mm512_set1_pd(m), _mm512_set1_pd(l));
            let lo = _mm512_cvtpd_ps(_mm512_sub_pd(_mm512_sub_pd(_mm512_cvtps_pd(lo), m), l));
            let hi = _mm512_cvtpd_ps(_mm512_sub_pd(_mm512_sub_pd(_mm512_cvtps_pd(hi), m), l));
            let joined =
                _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi));
            V16(_mm512_castpd_ps(joined))
        }
    }
    type W = D8;
    #[inline(always)]
    fn widen(self) -> (D8, D8) {
        let (lo, hi) = halves512(self.0);
        unsafe { (D8(_mm512_cvtps_pd(lo)), D8(_mm512_cvtps_pd(hi))) }
    }
    #[inline(always)]
    fn narrow(lo: D8, hi: D8) -> Self {
        unsafe {
            let (lo, hi) = (_mm512_cvtpd_ps(lo.0), _mm512_cvtpd_ps(hi.0));
            let joined =
                _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi));
            V16(_mm512_castpd_ps(joined))
        }
    }
    #[inline(always)]
    fn acc_halves(acc: Self::Acc) -> (D8, D8) {
        (D8(acc.0), D8(acc.1))
    }
}

#[inline(always)]
fn halves512(v: __m512) -> (__m256, __m256) {
    unsafe {
        let lo = _mm512_castps512_ps256(v);
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
        (lo, hi)
    }
}

/// All-ones in the first `n` of 8 lanes.
#[inline(always)]
fn part_mask8(n: usize) -> __m256i {
    unsafe { _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)) }
}

#[derive(Clone, Copy)]
struct V8(__m256);

impl Simd for V8 {
    const LANES: usize = 8;
    type Mask = __m256;
    type Acc = (__m256d, __m256d);

    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        unsafe { V8(_mm256_loadu_ps(p)) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        unsafe { _mm256_storeu_ps(p, self.0) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize, fill: f32) -> Self {
        unsafe {
            let mask = part_mask8(n);
            V8(_mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, mask), _mm256_castsi256_ps(mask)))
        }
    }
    #[inline(always)]
    unsafe fn store_part(self, p: *mut f32, n: usize) {
        unsafe { _mm256_maskstore_ps(p, part_mask8(n), self.0) }
    }
    #[inline(always)]
    unsafe fn stream(self, p: *mut f32) {
        unsafe { _mm256_stream_ps(p, self.0) }
    }
    #[inline(always)]
    fn splat(v: f32) -> Self {
        unsafe { V8(_mm256_set1_ps(v)) }
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        unsafe { V8(_mm256_add_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        unsafe { V8(_mm256_sub_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        unsafe { V8(_mm256_mul_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        unsafe { V8(_mm256_max_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn fma(a: Self, b: Self, c: Self) -> Self {
        unsafe { V8(_mm256_fmadd_ps(a.0, b.0, c.0)) }
    }
    #[inline(always)]
    fn round(self) -> Self {
        unsafe { V8(_mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self.0)) }
    }
    #[inline(always)]
    fn floor_exponent(k: Self) -> Self {
        unsafe { V8(_mm256_round_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(k.0)) }
    }
    const TABLE_BITS: u32 = 4;
    type Table = (__m256, __m256);
    #[inline(always)]
    fn table(values: &[f32; 32]) -> Self::Table {
        let v = values;
        unsafe {
            (
                _mm256_setr_ps(v[0], v[2], v[4], v[6], v[8], v[10], v[12], v[14]),
                _mm256_setr_ps(v[16], v[18], v[20], v[22], v[24], v[26], v[28], v[30]),
            )
        }
    }
    #[inline(always)]
    fn lookup(table: Self::Table, index: Self) -> Self {
        unsafe {
            // Each half by its low three bits, then the half chosen by bit 3 (moved to the sign).
            let i = _mm256_castps_si256(index.0);
            let (a, b) = (_mm256_permutevar8x32_ps(table.0, i), _mm256_permutevar8x32_ps(table.1, i));
            V8(_mm256_blendv_ps(a, b, _mm256_castsi256_ps(_mm256_slli_epi32::<28>(i))))
        }
    }
    #[inline(always)]
    fn scale(self, k: Self) -> Self {
        // Two exact powers of two, so that results down to the subnormals are reached: the first
        // factor stays normal (k₁ ≥ −126), the second carries the rest (k − k₁ ≥ −34).
        unsafe {
            let k = _mm256_cvtps_epi32(k.0);
            let k1 = _mm256_max_epi32(k, _mm256_set1_epi32(-126));
            let k2 = _mm256_sub_epi32(k, k1);
            let bias = _mm256_set1_epi32(127);
            let s1 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(k1, bias)));
            let s2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(k2, bias)));
            V8(_mm256_mul_ps(_mm256_mul_ps(self.0, s1), s2))
        }
    }
    #[inline(always)]
    fn reduce_max(self) -> f32 {
        unsafe {
            let m = _mm_max_ps(_mm256_castps256_ps128(self.0), _mm256_extractf128_ps::<1>(self.0));
            let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
            let m = _mm_max_ss(m, _mm_shuffle_ps::<0b01>(m, m));
            _mm_cvtss_f32(m)
        }
    }
    #[inline(always)]
    fn reduce_add(self) -> f64 {
        let (lo, hi) = self.widen();
        lo.add(hi).total()
    }
    #[inline(always)]
    fn eq(self, o: Self) -> Self::Mask {
        unsafe { _mm256_cmp_ps::<_CMP_EQ_OQ>(self.0, o.0) }
    }
    #[inline(always)]
    fn bits(mask: Self::Mask) -> u32 {
        unsafe { _mm256_movemask_ps(mask) as u32 }
    }
    #[inline(always)]
    fn zero_where(self, mask: Self::Mask) -> Self {
        unsafe { V8(_mm256_andnot_ps(mask, self.0)) }
    }
    #[inline(always)]
    fn acc_zero() -> Self::Acc {
        unsafe { (_mm256_setzero_pd(), _mm256_setzero_pd()) }
    }
    #[inline(always)]
    fn acc_add(acc: Self::Acc, v: Self) -> Self::Acc {
        unsafe {
            let lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v.0));
            let hi = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v.0));
            (_mm256_add_pd(acc.0, lo), _mm256_add_pd(acc.1, hi))
        }
    }
    #[inline(always)]
    fn acc_lanes(acc: Self::Acc) -> [f64; 16] {
        let mut out = [0.0; 16];
        unsafe {
            _mm256_storeu_pd(out.as_mut_ptr(), acc.0);
            _mm256_storeu_pd(out.as_mut_ptr().add(4), acc.1);
        }
        out
    }
    #[inline(always)]
    fn ones_where(mask: Self::Mask) -> Self {
        unsafe { V8(_mm256_and_ps(mask, _mm256_set1_ps(1.0))) }
    }
    #[inline(always)]
    fn blend(self, mask: Self::Mask, a: Self) -> Self {
        unsafe { V8(_mm256_blendv_ps(self.0, a.0, mask)) }
    }
    #[inline(always)]
    fn lanes(self) -> [f32; 16] {
        let mut out = [0.0; 16];
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), self.0) };
        out
    }
    #[inline(always)]
    fn vjp_out(y: Self, dy: Self, dot: f64) -> Self {
        unsafe {
            let dot = _mm256_set1_pd(dot);
            let y0 = _mm256_cvtps_pd(_mm256_castps256_ps128(y.0));
            let y1 = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(y.0));
            let d0 = _mm256_cvtps_pd(_mm256_castps256_ps128(dy.0));
            let d1 = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(dy.0));
            let lo = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_sub_pd(d0, dot), y0));
            let hi = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_sub_pd(d1, dot), y1));
            V8(_mm256_set_m128(hi, lo))
        }
    }
    #[inline(always)]
    fn log_out_lanes(x: Self, m: &[f64; 16], l: &[f64; 16]) -> Self {
        unsafe {
            let lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x.0));
            let hi = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x.0));
            let (m0, m1) = (_mm256_loadu_pd(m.as_ptr()), _mm256_loadu_pd(m.as_ptr().add(4)));
            let (l0, l1) = (_mm256_loadu_pd(l.as_ptr()), _mm256_loadu_pd(l.as_ptr().add(4)));
            let lo = _mm256_cvtpd_ps(_mm256_sub_pd(_mm256_sub_pd(lo, m0), l0));
            let hi = _mm256_cvtpd_ps(_mm256_sub_pd(_mm256_sub_pd(hi, m1), l1));
            V8(_mm256_set_m128(hi, lo))
        }
    }
    #[inline(always)]
    fn acc_fma(acc: Self::Acc, a: Self, b: Self) -> Self::Acc {
        unsafe {
            let a0 = _mm256_cvtps_pd(_mm256_castps256_ps128(a.0));
            let a1 = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(a.0));
            let b0 = _mm256_cvtps_pd(_mm256_castps256_ps128(b.0));
            let b1 = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(b.0));
            (_mm256_fmadd_pd(a0, b0, acc.0), _mm256_fmadd_pd(a1, b1, acc.1))
        }
    }
    #[inline(always)]
    fn log_out(x: Self, m: f64, l: f64) -> Self {
        unsafe {
            let (m, l) = (_mm256_set1_pd(m), _mm256_set1_pd(l));
            let lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x.0));
            let hi = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x.0));
            let lo = _mm256_cvtpd_ps(_mm256_sub_pd(_mm256_sub_pd(lo, m), l));
            let hi = _mm256_cvtpd_ps(_mm256_sub_pd(_mm256_sub_pd(hi, m), l));
            V8(_mm256_set_m128(hi, lo))
        }
    }
    type W = D4;
    #[inline(always)]
    fn widen(self) -> (D4, D4) {
        unsafe {
            (
                D4(_mm256_cvtps_pd(_mm256_castps256_ps128(self.0))),
                D4(_mm256_cvtps_pd(_mm256_extractf128_ps::<1>(self.0))),
            )
        }
    }
    #[inline(always)]
    fn narrow(lo: D4, hi: D4) -> Self {
        unsafe { V8(_mm256_set_m128(_mm256_cvtpd_ps(hi.0), _mm256_cvtpd_ps(lo.0))) }
    }
    #[inline(always)]
    fn acc_halves(acc: Self::Acc) -> (D4, D4) {
        (D4(acc.0), D4(acc.1))
    }
}

/// The constants of one row's exponentials, broadcast once.
#[derive(Clone, Copy)]
struct Consts<S: Simd> {
    max: S,
    floor: S,
    /// `ROUNDER − 2^b·shift`, where `shift = j − 2` and `j = round(m·log₂ e)`: terms are
    /// `4·exp(x − j·ln 2)`.
    rounder: S,
}

/// `ln 2/2^b = C1 + C2` for a table of `2^b` entries: `C1` rounded to `f32`, `C2` the rest
/// rounded (its own error, about 2⁻⁵⁴·ln 2/2^b, times `|n| < 2¹⁸` stays below 2⁻³⁶ absolute).
const fn ln2_parts(bits: u32) -> (f32, f32) {
    let step = std::f64::consts::LN_2 / (1u32 << bits) as f64;
    let c1 = step as f32;
    (c1, (step - c1 as f64) as f32)
}

impl<S: Simd> Consts<S> {
    /// The table's size `2^b`.
    const SIZE: f32 = (1u32 << S::TABLE_BITS) as f32;
    const LN2_PARTS: (f32, f32) = ln2_parts(S::TABLE_BITS);
    const POLY: [f32; 3] = if S::TABLE_BITS == 5 { POLY32 } else { POLY16 };

    #[inline(always)]
    fn new(max: f32) -> Self {
        Consts::lanewise(S::splat(max))
    }

    /// A maximum per lane (for columns); the same arithmetic as [`Stats::shift`] lane by lane.
    /// The exponential's other constants are not kept here but splatted where they are used, so
    /// that the column kernels' several sets of these stay small.
    #[inline(always)]
    fn lanewise(max: S) -> Self {
        let shift = max.mul(S::splat(LOG2_E)).round().sub(S::splat(2.0));
        Consts {
            max,
            floor: max.sub(S::splat(FLOOR)),
            rounder: S::fma(shift, S::splat(-Self::SIZE), S::splat(ROUNDER)),
        }
    }

    /// `4·exp(x − j·ln 2)` as `hi + lo`.
    #[inline(always)]
    fn exp(&self, x: S) -> (S, S) {
        let (hi, lo, k) = self.exp_parts(x);
        (hi.scale(k), lo.scale(k))
    }

    /// `4·exp(x − j·ln 2) = (hi + lo)·2^⌊k⌋` (`k` as [`Simd::scale`] takes it), with
    /// `hi + lo = 2^(i/2^b)·exp(r)` in `[1, 2]` unscaled.
    ///
    /// `x = n·ln 2/2^b + r` with `n = 2^b·k' + i`; `x − n·C1` is exact for `|x| < 2810` (both are
    /// multiples of `C1`'s last place, and the difference is below `2^−5`), so `r` carries one
    /// rounding. With the table's pair (to 2⁻⁴⁹), the polynomial (error below 2⁻³³) and three
    /// roundings of about `|r|·2⁻²⁴` each, `hi + lo` is within 1.5·10⁻⁹ (2⁻²⁹·³) of the
    /// exponential with 16 lanes and 2.9·10⁻⁹ with 8 (measured; bounded at 2⁻²⁸ by the tests):
    /// about 0.03 and 0.05 of an `f32` ulp.
    #[inline(always)]
    fn exp_parts(&self, x: S) -> (S, S, S) {
        // `max(floor, x)` returns its second operand when either is NaN: a NaN goes on into the
        // sum, which is how pass 2 reports it; `−inf` becomes the floor, whose term is 0.
        let x = self.floor.max(x);
        // `z = ROUNDER + n − 2^b·shift` with `n = round(x·2^b·log₂ e)`; its low `b` bits are
        // `n mod 2^b`, the table's index.
        let z = S::fma(x, S::splat(Self::SIZE * LOG2_E), self.rounder);
        let n = z.sub(self.rounder);
        let k = S::floor_exponent(S::fma(z, S::splat(1.0 / Self::SIZE), S::splat(-ROUNDER / Self::SIZE)));
        let t = S::fma(n, S::splat(-Self::LN2_PARTS.0), x);
        let r = S::fma(n, S::splat(-Self::LN2_PARTS.1), t);
        let (th, tl) = (S::lookup(S::table(&EXP2_HI), z), S::lookup(S::table(&EXP2_LO), z));
        let p = Self::POLY;
        let c = if S::TABLE_BITS == 5 {
            S::fma(S::splat(p[1]), r, S::splat(p[0]))
        } else {
            S::fma(S::fma(S::splat(p[2]), r, S::splat(p[1])), r, S::splat(p[0]))
        };
        let pm1 = S::fma(r.mul(r), c, r);
        let u = S::fma(th, pm1, S::fma(tl, pm1, tl));
        let hi = th.add(u);
        let lo = th.sub(hi).add(u);
        (hi, lo, k)
    }
}

/// Pass 1: the maximum. A NaN may or may not survive `max`; pass 2 catches it (see [`stats`]).
#[inline(always)]
unsafe fn max_pass<S: Simd>(x: &[f32]) -> f32 {
    let (n, p, l) = (x.len(), x.as_ptr(), S::LANES);
    let mut acc = [S::splat(f32::NEG_INFINITY); 4];
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

/// The running sums of pass 2 (two of each, for two independent chains of additions).
struct Sums<S: Simd> {
    acc: [S::Acc; 2],
    lo: [S; 2],
    ties: u32,
    /// Where the terms go when they are stored.
    out: *mut f32,
}

impl<S: Simd> Sums<S> {
    /// One vector of pass 2 (a closure would not inherit the caller's target features); with
    /// `STORE`, the term (ties included) is also written to `self.out`, rounded to `f32`, `n`
    /// lanes of it (all when `n` is `LANES`).
    #[inline(always)]
    unsafe fn step<const STORE: bool, const TIES: bool>(
        &mut self,
        u: usize,
        c: &Consts<S>,
        v: S,
        start: usize,
        ties: &mut Ties,
        n: usize,
    ) {
        let out = self.out;
        let (mut hi, mut lo) = c.exp(v);
        if STORE {
            unsafe {
                if n == S::LANES {
                    hi.store(out.add(start));
                } else {
                    hi.store_part(out.add(start), n);
                }
            }
        }
        let eq = v.eq(c.max);
        let bits = if TIES { S::bits(eq) } else { 0 };
        if bits != 0 {
            self.ties += bits.count_ones();
            ties.record(start, bits);
            hi = hi.zero_where(eq);
            lo = lo.zero_where(eq);
        }
        self.acc[u] = S::acc_add(self.acc[u], hi);
        self.lo[u] = self.lo[u].add(lo);
    }
}

/// Pass 2: the sum of the terms below the maximum and the number of ties (recorded in `ties`);
/// with `STORE`, each term `4·exp(x − j·ln 2)` rounded to `f32` is written to `out` (which has
/// `x`'s length), for [`scale_pass`]. Without `TIES`, the maximum's terms are summed with the
/// rest and the count is 0.
#[inline(always)]
unsafe fn sum_pass<S: Simd, const STORE: bool, const TIES: bool>(
    x: &[f32],
    out: *mut f32,
    c: &Consts<S>,
    ties: &mut Ties,
) -> (f64, f64) {
    let (count, lanes) = unsafe { sum_lanes::<S, STORE, TIES>(x, out, c, ties) };
    (count, lanes.total())
}

/// [`sum_pass`] with the sum left in lanes (its [`SimdD::total`] is the sum): batches of rows
/// add the lanes of several rows at once ([`totals`]), to the same bits.
#[inline(always)]
unsafe fn sum_lanes<S: Simd, const STORE: bool, const TIES: bool>(
    x: &[f32],
    out: *mut f32,
    c: &Consts<S>,
    ties: &mut Ties,
) -> (f64, S::W) {
    let (n, p, l) = (x.len(), x.as_ptr(), S::LANES);
    let mut sums = Sums::<S> { acc: [S::acc_zero(); 2], lo: [S::splat(0.0); 2], ties: 0, out };
    let mut i = 0;
    unsafe {
        while i + 2 * l <= n {
            sums.step::<STORE, TIES>(0, c, S::load(p.add(i)), i, ties, l);
            sums.step::<STORE, TIES>(1, c, S::load(p.add(i + l)), i + l, ties, l);
            i += 2 * l;
        }
        while i + l <= n {
            sums.step::<STORE, TIES>(0, c, S::load(p.add(i)), i, ties, l);
            i += l;
        }
        if i < n {
            // Padding far below the floor: its terms are exactly 0 and it never ties.
            let pad = x[i] - 4.0 * FLOOR;
            sums.step::<STORE, TIES>(1, c, S::load_part(p.add(i), n - i, pad), i, ties, n - i);
        }
    }
    (sums.ties as f64, fold::<S>(sums.acc, sums.lo[0].add(sums.lo[1])))
}

/// Two accumulators and a vector of `f32` small parts in one vector of `f64` lanes, in a fixed
/// order (each added lane by lane, exactly as [`Simd::widen`] splits them).
#[inline(always)]
fn fold<S: Simd>(acc: [S::Acc; 2], lo: S) -> S::W {
    let ((a0, a1), (b0, b1), (l0, l1)) = (S::acc_halves(acc[0]), S::acc_halves(acc[1]), lo.widen());
    a0.add(a1).add(b0.add(b1)).add(l0.add(l1))
}

/// The [`SimdD::total`]s of the first `rows` of up to 16 vectors, a transposed reduction of
/// `W::LANES` of them at a time (the same bits).
#[inline(always)]
fn totals<W: SimdD>(lanes: &[W; 16], rows: usize) -> [f64; 16] {
    let mut out = [0.0f64; 16];
    let mut i = 0;
    while i < rows.min(16) {
        // SAFETY: `i + W::LANES ≤ 16`: `W::LANES` divides 16.
        unsafe { W::totals(&lanes[i..i + W::LANES]).store(out.as_mut_ptr().add(i)) };
        i += W::LANES;
    }
    out
}

/// Pass 3 of softmax over the terms pass 2 stored: `y = RN(e·(rh + rl))·post`, where `rh + rl`
/// is `2^P/s` and `post = 2^−P` brings the product back (see [`super::stored_scale`]); a stored
/// term equal to `top.0` (the maximum's, see [`top_lanes`]) gets `top.1` instead.
#[inline(always)]
unsafe fn scale_pass<S: Simd>(y: &mut [f32], rh: f32, rl: f32, post: f32, top: (f32, f32)) {
    let (n, py, l) = (y.len(), y.as_mut_ptr(), S::LANES);
    let f = (S::splat(rh), S::splat(rl), S::splat(post), S::splat(top.0), S::splat(top.1));
    let mut i = 0;
    unsafe {
        while i + l <= n {
            scaled(S::load(py.add(i)), f).store(py.add(i));
            i += l;
        }
        if i < n {
            scaled(S::load_part(py.add(i), n - i, 0.0), f).store_part(py.add(i), n - i);
        }
    }
}

/// One vector of pass 3 over stored terms `e`, given `(rh, rl, post, e_max, top)`:
/// `RN(e·(rh + rl))·post`, or `top` where `e` is the maximum's stored term `e_max`.
#[inline(always)]
fn scaled<S: Simd>(e: S, (rh, rl, post, e_max, top): (S, S, S, S, S)) -> S {
    S::fma(e, rh, e.mul(rl)).mul(post).blend(e.eq(e_max), top)
}

/// The maximum's probability, for pass 3 over stored terms: `(E, RN(e_max/s))` where `E` is the
/// term pass 2 stored for an entry equal to the maximum (`hi` of `e_max = hi + lo`), and `s` the
/// sum of all the terms. An output whose stored term is `E` lies within about 2⁻²⁴ of the
/// maximum's own (its term rounds to the same `f32`), and gets that probability rounded once: a
/// row of equal values gives exactly `RN(1/k)`. Computed lane by lane from a vector of maxima.
#[inline(always)]
fn top_lanes<S: Simd>(c: &Consts<S>, sums: (S::W, S::W)) -> (S, S) {
    let (hi, lo) = c.exp(c.max);
    let ((h0, h1), (l0, l1)) = (hi.widen(), lo.widen());
    (hi, S::narrow(h0.add(l0).div(sums.0), h1.add(l1).div(sums.1)))
}

/// Each lane's `e_max` for a vector of maxima, in the halves of [`Simd::widen`]: the bits
/// [`Stats::new`] computes for one (the same shift, rounded in `f32`, and the same exponential).
#[inline(always)]
fn e_max_lanes<S: Simd>(max: S) -> (S::W, S::W) {
    use crate::kernels::exp::exp_lanes;
    let j = max.mul(S::splat(LOG2_E)).round().sub(S::splat(2.0));
    let ((m0, m1), (j0, j1)) = (max.widen(), j.widen());
    let ln2 = <S::W as SimdD>::splat(std::f64::consts::LN_2);
    (exp_lanes(m0.sub(j0.mul(ln2))), exp_lanes(m1.sub(j1.mul(ln2))))
}

/// `ln s` of each of up to 16 rows' (or columns') statistics, a vector of them at a time: the
/// bits [`Stats::ln_sum`] computes for one, without a call per row.
#[inline(always)]
fn ln_sums<S: Simd>(stats: &[Stats]) -> [f64; 16] {
    use crate::kernels::exp::ln_1p_lanes;
    let (mut ties, mut rest, mut e_max) = ([1.0f64; 16], [0.0f64; 16], [1.0f64; 16]);
    for (i, st) in stats.iter().enumerate().take(16) {
        (ties[i], rest[i], e_max[i]) = (st.ties, st.rest, st.e_max);
    }
    let mut out = [0.0f64; 16];
    let w = <S::W as SimdD>::LANES;
    let mut i = 0;
    while i < stats.len().min(16) {
        // SAFETY: `i + w ≤ 16`: the arrays hold 16 lanes and `w` divides 16.
        unsafe {
            let load = |a: &[f64; 16]| <S::W as SimdD>::load(a.as_ptr().add(i));
            ln_1p_lanes(sum_minus_one_lanes(load(&ties), load(&rest), load(&e_max)))
                .store(out.as_mut_ptr().add(i));
        }
        i += w;
    }
    out
}

/// `RN((hi + lo)·(rh + rl))·2^k`, the products' small parts added first: one rounding, so the
/// term's own error (about 2⁻²⁹) is all that an output sees besides it. The product is formed on
/// the unscaled pair (`hi` in `[1, 2]`, and `rh` above 2⁻⁴⁰ for any row shorter than 2³⁴ elements,
/// smaller only by the cross-entropy's factor, which [`super`] bounds), where none of its parts
/// can underflow; scaling a normal result by `2^k` is exact.
#[inline(always)]
fn quotient<S: Simd>(parts: (S, S, S), rh: S, rl: S) -> S {
    let (hi, lo, k) = parts;
    S::fma(hi, rh, S::fma(lo, rh, hi.mul(rl))).scale(k)
}

/// Pass 3 of softmax where the terms were not stored (see `super::scale_terms`: a cross-entropy
/// factor over `s` above 1, a chunk far below the row's maximum): each term recomputed from `x`
/// and multiplied by `1/s = rh + rl`.
#[inline(always)]
unsafe fn exp_scale_pass<S: Simd>(x: &[f32], y: &mut [f32], c: &Consts<S>, rh: f32, rl: f32) {
    let (n, px, py, l) = (x.len(), x.as_ptr(), y.as_mut_ptr(), S::LANES);
    let (rh, rl) = (S::splat(rh), S::splat(rl));
    let mut i = 0;
    unsafe {
        while i + l <= n {
            quotient(c.exp_parts(S::load(px.add(i))), rh, rl).store(py.add(i));
            i += l;
        }
        if i < n {
            let v = S::load_part(px.add(i), n - i, x[i] - 4.0 * FLOOR);
            quotient(c.exp_parts(v), rh, rl).store_part(py.add(i), n - i);
        }
    }
}

/// How many of the `n` outputs from `p` come before the first address aligned to the vector's
/// size, which streaming stores need.
#[inline(always)]
fn aligned_head<S: Simd>(p: *mut f32, n: usize) -> usize {
    ((p as usize).wrapping_neg() % (4 * S::LANES) / 4).min(n)
}

/// Pass 3 of log-softmax: `y = RN((x − m) − l)`; with `STREAM` (chunks of long rows, see
/// `super::STREAM_FROM`), from the first aligned vector on written past the caches.
#[inline(always)]
unsafe fn log_pass<S: Simd, const STREAM: bool>(x: &[f32], y: &mut [f32], m: f64, l: f64) {
    let (n, px, py, lanes) = (x.len(), x.as_ptr(), y.as_mut_ptr(), S::LANES);
    let mut i = 0;
    unsafe {
        if STREAM {
            let head = aligned_head::<S>(py, n);
            if head > 0 {
                S::log_out(S::load_part(px, head, 0.0), m, l).store_part(py, head);
                i = head;
            }
            while i + lanes <= n {
                S::log_out(S::load(px.add(i)), m, l).stream(py.add(i));
                i += lanes;
            }
            _mm_sfence();
        }
        while i + lanes <= n {
            S::log_out(S::load(px.add(i)), m, l).store(py.wrapping_add(i));
            i += lanes;
        }
        if i < n {
            S::log_out(S::load_part(px.add(i), n - i, 0.0), m, l).store_part(py.add(i), n - i);
        }
    }
}

/// Passes 1 and 2: the row's maximum, the count of its ties and the sum of the terms below it,
/// or `None` for a row the vector path does not take. [`Stats::new`] (or [`stats_of_rows`], a
/// vector of rows at a time) completes them.
#[inline(always)]
unsafe fn raw_stats<S: Simd>(x: &[f32], ties: &mut Ties) -> Option<(f32, f64, f64)> {
    let max = unsafe { max_pass::<S>(x) };
    let (count, lanes) = unsafe { sum_from_max::<S, false, true>(x, std::ptr::null_mut(), max, ties) }?;
    let rest = lanes.total();
    // A NaN anywhere in the row has made the sum NaN.
    rest.is_finite().then_some((max, count, rest))
}

/// [`sum_lanes`] given the row's maximum (pass 1), or `None` for a maximum the vector path does
/// not take: NaN, `+inf`, or one too large for the exact reduction.
#[inline(always)]
unsafe fn sum_from_max<S: Simd, const STORE: bool, const TIES: bool>(
    x: &[f32],
    out: *mut f32,
    max: f32,
    ties: &mut Ties,
) -> Option<(f64, S::W)> {
    if !super::in_range(max) {
        return None;
    }
    Some(unsafe { sum_lanes::<S, STORE, TIES>(x, out, &Consts::<S>::new(max), ties) })
}

/// Passes 1 and 2: the row's statistics, or `None` for a row the vector path does not take.
#[inline(always)]
unsafe fn stats<S: Simd>(x: &[f32], ties: &mut Ties) -> Option<Stats> {
    unsafe { raw_stats::<S>(x, ties) }.map(|(max, count, rest)| Stats::new(max, count, rest))
}

/// Pass 1 of up to 16 contiguous rows of `len` (0 past the last), all before any row's pass 2,
/// which then waits for no reduction just finished.
#[inline(always)]
unsafe fn maxima<S: Simd>(x: &[f32], len: usize) -> [f32; 16] {
    let mut max = [0.0f32; 16];
    for (m, xr) in max.iter_mut().zip(x.chunks_exact(len)) {
        *m = unsafe { max_pass::<S>(xr) };
    }
    max
}

/// The statistics and `ln s` of up to 16 contiguous rows of `len`: each row's passes 1 and 2,
/// then the maxima's `e_max` ([`e_max_lanes`]) and `ln s` ([`ln_sums`]) a vector at a time, the
/// bits [`Stats::new`] and [`Stats::ln_sum`] compute for one, without a scalar exponential and
/// logarithm per row. `ok[i]` is false for a row the vector path does not take.
#[inline(always)]
unsafe fn stats_of_rows<S: Simd>(x: &[f32], len: usize) -> ([Stats; 16], [f64; 16], [bool; 16]) {
    let (mut found, mut ok, mut max) =
        ([super::PLACEHOLDER; 16], [false; 16], unsafe { maxima::<S>(x, len) });
    let (mut lanes, mut counts) = ([S::W::splat(0.0); 16], [None; 16]);
    for (i, xr) in x.chunks_exact(len).take(16).enumerate() {
        let ties = &mut Ties::new();
        if let Some((c, l)) =
            unsafe { sum_from_max::<S, false, true>(xr, std::ptr::null_mut(), max[i], ties) }
        {
            (counts[i], lanes[i]) = (Some(c), l);
        }
    }
    let rows = (x.len() / len).min(16);
    for (i, rest) in totals(&lanes, rows).into_iter().enumerate().take(rows) {
        // A NaN anywhere in the row has made the sum NaN.
        match counts[i] {
            Some(count) if rest.is_finite() => {
                (found[i].max, found[i].ties, found[i].rest, ok[i]) = (max[i], count, rest, true);
            }
            _ => max[i] = 0.0,
        }
    }
    let mut e_max = [0.0f64; 16];
    let half = S::LANES / 2;
    let mut i = 0;
    while i < 16 {
        // SAFETY: `i + S::LANES ≤ 16`, and each half holds `S::LANES / 2` lanes.
        unsafe {
            let (e0, e1) = e_max_lanes(S::load(max.as_ptr().add(i)));
            e0.store(e_max.as_mut_ptr().add(i));
            e1.store(e_max.as_mut_ptr().add(i + half));
        }
        i += S::LANES;
    }
    for (st, e) in found.iter_mut().zip(e_max).take(rows) {
        st.e_max = e;
    }
    let ln = ln_sums::<S>(&found[..rows]);
    (found, ln, ok)
}

/// One row of softmax or log-softmax; false if the row must take the portable path.
#[inline(always)]
unsafe fn row<S: Simd>(op: Op, x: &[f32], y: &mut [f32]) -> bool {
    let mut ties = Ties::new();
    match op {
        Op::Softmax => {
            // The maximum's own terms need no exact treatment here (unlike log-softmax's
            // `ln(1 + rest)`): they are scaled like the others, to the same bound.
            let max = unsafe { max_pass::<S>(x) };
            if !super::in_range(max) {
                return false;
            }
            let c = Consts::<S>::new(max);
            let (_, sum) = unsafe { sum_pass::<S, true, false>(x, y.as_mut_ptr(), &c, &mut ties) };
            // A NaN anywhere in the row has made the sum NaN. `s ≥ 2.8` (the maximum's own
            // term), so `1/s ≤ 1` and the stored terms serve.
            let Some((rh, rl, post)) = super::stored_scale(1.0 / sum, 0).filter(|_| sum.is_finite()) else {
                return false;
            };
            // The maximum's probability as in `top_lanes`, one lane of it.
            let (hi, lo) = c.exp(c.max);
            let (e_max, lo) = (hi.lanes()[0], lo.lanes()[0]);
            let top = ((f64::from(e_max) + f64::from(lo)) / sum) as f32;
            unsafe { scale_pass::<S>(y, rh, rl, post, (e_max, top)) };
        }
        Op::LogSoftmax => {
            let Some(st) = (unsafe { stats::<S>(x, &mut ties) }) else {
                return false;
            };
            unsafe { log_pass::<S, false>(x, y, st.max as f64, st.ln_sum()) };
        }
    }
    true
}

/// `⟨y, dy⟩` with exact products summed in `f64`.
#[inline(always)]
unsafe fn dot_pass<S: Simd>(y: &[f32], dy: &[f32]) -> f64 {
    unsafe { dot_lanes::<S>(y, dy) }.total()
}

/// [`dot_pass`] with the sum left in lanes (its [`SimdD::total`] is the dot product).
#[inline(always)]
unsafe fn dot_lanes<S: Simd>(y: &[f32], dy: &[f32]) -> S::W {
    let (n, py, pd, l) = (y.len(), y.as_ptr(), dy.as_ptr(), S::LANES);
    let mut acc = [S::acc_zero(); 2];
    let mut i = 0;
    unsafe {
        while i + 2 * l <= n {
            acc[0] = S::acc_fma(acc[0], S::load(py.add(i)), S::load(pd.add(i)));
            acc[1] = S::acc_fma(acc[1], S::load(py.add(i + l)), S::load(pd.add(i + l)));
            i += 2 * l;
        }
        while i + l <= n {
            acc[0] = S::acc_fma(acc[0], S::load(py.add(i)), S::load(pd.add(i)));
            i += l;
        }
        if i < n {
            acc[1] =
                S::acc_fma(acc[1], S::load_part(py.add(i), n - i, 0.0), S::load_part(pd.add(i), n - i, 0.0));
        }
    }
    let ((a0, a1), (b0, b1)) = (S::acc_halves(acc[0]), S::acc_halves(acc[1]));
    a0.add(a1).add(b0.add(b1))
}

/// `dx = y·(dy − dot)`. For `dot` of moderate size (0, or between 2⁻¹⁰⁰ and 2¹⁰⁰ in magnitude),
/// in `f32`: `dot = dh + dl` (a pair good to 2⁻⁴⁸), `dy − dh = s + e` exactly (TwoSum, which
/// cannot overflow: `|dh|` is below half an ulp of `f32::MAX`), and `dx = RN(y·s + RN(y·RN(e −
/// dl)))`, one FMA. Where `s` does not cancel the small part, that is within half an ulp plus
/// 2⁻²² of the output; where it does, within about 1.5 ulp; plus, either way, `dot`'s own error
/// (about 2⁻⁵³ of `Σ|y·dy|`). Measured: 0.50 ulp against a double-double reference, but up to
/// 1 ulp for outputs below about 2⁻¹⁰², whose small product `y·(e − dl)` is subnormal.
/// Otherwise (a tiny or huge `dot`, where the pair would lose bits to the `f32` range),
/// `RN(y·(dy − dot))` in `f64`: within half an ulp plus `dot`'s error. With `STREAM` (long rows,
/// see `super::STREAM_FROM`), the `f32` arithmetic's outputs from the first aligned vector on are
/// written past the caches; the bits are the same.
#[inline(always)]
unsafe fn vjp_pass<S: Simd, const STREAM: bool>(y: &[f32], dy: &[f32], dx: &mut [f32], dot: f64) {
    let (n, py, pd, px, l) = (y.len(), y.as_ptr(), dy.as_ptr(), dx.as_mut_ptr(), S::LANES);
    let mut i = 0;
    let moderate = dot == 0.0 || (2f64.powi(-100)..=2f64.powi(100)).contains(&dot.abs());
    unsafe {
        if moderate {
            let h = dot as f32;
            let (dh, dl) = (S::splat(h), S::splat((dot - f64::from(h)) as f32));
            if STREAM {
                // Up to the first vector-aligned output with ordinary stores, then past the caches.
                let head = aligned_head::<S>(px, n);
                if head > 0 {
                    let (a, b) = (S::load_part(py, head, 0.0), S::load_part(pd, head, 0.0));
                    vjp_f32(a, b, dh, dl).store_part(px, head);
                    i = head;
                }
                while i + l <= n {
                    vjp_f32(S::load(py.add(i)), S::load(pd.add(i)), dh, dl).stream(px.add(i));
                    i += l;
                }
                _mm_sfence();
            }
            while i + l <= n {
                vjp_f32(S::load(py.add(i)), S::load(pd.add(i)), dh, dl).store(px.add(i));
                i += l;
            }
            if i < n {
                let (a, b) = (S::load_part(py.add(i), n - i, 0.0), S::load_part(pd.add(i), n - i, 0.0));
                vjp_f32(a, b, dh, dl).store_part(px.add(i), n - i);
            }
            return;
        }
        while i + l <= n {
            S::vjp_out(S::load(py.add(i)), S::load(pd.add(i)), dot).store(px.add(i));
            i += l;
        }
        if i < n {
            let (a, b) = (S::load_part(py.add(i), n - i, 0.0), S::load_part(pd.add(i), n - i, 0.0));
            S::vjp_out(a, b, dot).store_part(px.add(i), n - i);
        }
    }
}

/// One vector of [`vjp_pass`]'s `f32` arithmetic: `RN(y·s + RN(y·RN(e − dl)))` where
/// `s + e = dy − dh` (TwoSum).
#[inline(always)]
fn vjp_f32<S: Simd>(y: S, dy: S, dh: S, dl: S) -> S {
    let s = dy.sub(dh);
    let b = s.sub(dy);
    let e = dy.sub(s.sub(b)).sub(dh.add(b));
    S::fma(y, s, y.mul(e.sub(dl)))
}

#[inline(always)]
unsafe fn backward_rows<S: Simd>(
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    len: usize,
    fallback: &BackwardFallback,
) {
    // Short rows a batch at a time, every row's dot product before any row's outputs: a row's
    // outputs then wait for no reduction just finished.
    let batch = (BACKWARD_BATCH_ELEMS / len).clamp(1, 16);
    let batches = y.chunks(batch * len).zip(dy.chunks(batch * len)).zip(dx.chunks_mut(batch * len));
    for ((ys, dys), dxs) in batches {
        let mut lanes = [S::W::splat(0.0); 16];
        for ((yr, dyr), d) in ys.chunks_exact(len).zip(dys.chunks_exact(len)).zip(lanes.iter_mut()) {
            *d = unsafe { dot_lanes::<S>(yr, dyr) };
        }
        let dots = totals(&lanes, ys.len() / len);
        let rows = ys.chunks_exact(len).zip(dys.chunks_exact(len)).zip(dxs.chunks_exact_mut(len));
        for (((yr, dyr), dxr), dot) in rows.zip(dots) {
            // A NaN or infinity in y or dy (even 0·inf) makes the dot product non-finite.
            if dot.is_finite() {
                unsafe { vjp_pass::<S, false>(yr, dyr, dxr, dot) };
            } else {
                fallback(yr, dyr, dxr);
            }
        }
    }
}

/// The most elements of `y` a batch of [`backward_rows`] holds: with `dy` and `dx`, 48 KiB, which
/// the outputs' pass finds in L1 and L2 (measured a little faster than 2048 at rows of 512 and
/// 1000, and the same at 2048).
const BACKWARD_BATCH_ELEMS: usize = 4096;

/// How many rows of `len` softmax and log-softmax take together: their statistics, then their
/// `ln s` or reciprocals as vectors, then their outputs. A batch holds up to [`BATCH_ELEMS`]
/// elements (up to 16 rows), so that pass 3 finds them in L1; `None` for rows longer than that,
/// which go one by one and whose scalar per-row work is lost in their length.
fn batch_rows(len: usize) -> Option<usize> {
    (len <= BATCH_ELEMS).then(|| (BATCH_ELEMS / len).min(16))
}

const BATCH_ELEMS: usize = 4096;

#[inline(always)]
unsafe fn rows<S: Simd>(op: Op, x: &[f32], y: &mut [f32], len: usize, fallback: &Fallback) {
    if let Some(batch) = batch_rows(len) {
        for (xs, ys) in x.chunks(batch * len).zip(y.chunks_mut(batch * len)) {
            match op {
                Op::LogSoftmax => unsafe { log_softmax_batch::<S>(xs, ys, len, fallback) },
                Op::Softmax => unsafe { softmax_batch::<S>(xs, ys, len, fallback) },
            }
        }
        return;
    }
    for (xr, yr) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)) {
        if !unsafe { row::<S>(op, xr, yr) } {
            fallback(xr, yr);
        }
    }
}

/// Log-softmax of up to 16 rows ([`stats_of_rows`], then pass 3 row by row).
#[inline(always)]
unsafe fn log_softmax_batch<S: Simd>(xs: &[f32], ys: &mut [f32], len: usize, fallback: &Fallback) {
    let (found, ln, ok) = unsafe { stats_of_rows::<S>(xs, len) };
    for (i, (xr, yr)) in xs.chunks_exact(len).zip(ys.chunks_exact_mut(len)).enumerate() {
        if ok[i] {
            unsafe { log_pass::<S, false>(xr, yr, found[i].max as f64, ln[i]) };
        } else {
            fallback(xr, yr);
        }
    }
}

/// Softmax of up to 16 rows: each row's passes 1 and 2 (storing its terms), then the maxima's
/// probabilities together ([`top_lanes`], the bits [`row`] computes lane by lane), then pass 3
/// row by row.
#[inline(always)]
unsafe fn softmax_batch<S: Simd>(xs: &[f32], ys: &mut [f32], len: usize, fallback: &Fallback) {
    let (mut max, mut sum, mut ok) = (unsafe { maxima::<S>(xs, len) }, [1.0f64; 16], [false; 16]);
    let (mut lanes, mut summed) = ([S::W::splat(0.0); 16], [false; 16]);
    for (i, (xr, yr)) in xs.chunks_exact(len).zip(ys.chunks_exact_mut(len)).enumerate() {
        let ties = &mut Ties::new();
        if let Some((_, l)) = unsafe { sum_from_max::<S, true, false>(xr, yr.as_mut_ptr(), max[i], ties) } {
            (summed[i], lanes[i]) = (true, l);
        }
    }
    for (i, s) in totals(&lanes, xs.len() / len).into_iter().enumerate() {
        // A NaN anywhere in the row has made the sum NaN.
        if summed[i] && s.is_finite() {
            (sum[i], ok[i]) = (s, true);
        } else {
            max[i] = 0.0;
        }
    }
    let (mut e_max, mut top) = ([0.0f32; 16], [0.0f32; 16]);
    let half = S::LANES / 2;
    let mut i = 0;
    while i < 16 {
        // SAFETY: `i + S::LANES ≤ 16`, and each half holds `S::LANES / 2` lanes.
        unsafe {
            let c = Consts::lanewise(S::load(max.as_ptr().add(i)));
            let sums = (
                <S::W as SimdD>::load(sum.as_ptr().add(i)),
                <S::W as SimdD>::load(sum.as_ptr().add(i + half)),
            );
            let (e, t) = top_lanes(&c, sums);
            e.store(e_max.as_mut_ptr().add(i));
            t.store(top.as_mut_ptr().add(i));
        }
        i += S::LANES;
    }
    for (i, (xr, yr)) in xs.chunks_exact(len).zip(ys.chunks_exact_mut(len)).enumerate() {
        // `s ≥ 2.8` (the maximum's own term), so `1/s ≤ 1` and the stored terms serve.
        match super::stored_scale(1.0 / sum[i], 0).filter(|_| ok[i]) {
            Some((rh, rl, post)) => unsafe { scale_pass::<S>(yr, rh, rl, post, (e_max[i], top[i])) },
            None => fallback(xr, yr),
        }
    }
}

/// Logsumexp of contiguous rows, sixteen at a time ([`stats_of_rows`]).
#[inline(always)]
unsafe fn lse_rows<S: Simd>(x: &[f32], out: &mut [f32], len: usize, fallback: &LseFallback) {
    for (xs, os) in x.chunks(16 * len).zip(out.chunks_mut(16)) {
        let (found, ln, ok) = unsafe { stats_of_rows::<S>(xs, len) };
        for (i, (xr, o)) in xs.chunks_exact(len).zip(os.iter_mut()).enumerate() {
            // `m + ln s` cancels in rows of log-probabilities: see `super::lse_f32`.
            *o = ok[i].then(|| super::lse_f32(found[i].max, ln[i])).flatten().unwrap_or_else(|| fallback(xr));
        }
    }
}

/// Softmax or log-softmax along the middle axis of a contiguous `(outer, k, inner)` block,
/// `S::LANES` columns at a time (strided lanes, read in place). Columns the vector path does not
/// take are listed in `rejected` as `(o, j)` for the caller's portable path.
#[inline(always)]
unsafe fn columns<S: Simd, const LOG: bool>(
    x: &[f32],
    y: *mut f32,
    k: usize,
    inner: usize,
    columns: (usize, usize),
    rejected: &mut Vec<(usize, usize)>,
) {
    let outer = x.len() / (k * inner);
    for o in 0..outer {
        let base = o * k * inner;
        let mut j0 = columns.0;
        while j0 < columns.1 {
            let start = base + j0;
            // Pass 3's factors in vectors: no per-column division, exponential or logarithm.
            let width = (columns.1 - j0).min(BAND * S::LANES);
            let band = Band { start, inner, rows: k, width };
            if LOG {
                unsafe { band_log_softmax::<S>(x, y, band, o, j0, rejected) }
            } else {
                unsafe { band_softmax::<S>(x, y, band, o, j0, rejected) }
            }
            j0 += width;
        }
    }
}

/// The first `n` lanes at `p` (all of them if `full`), the rest `fill`.
#[inline(always)]
unsafe fn load_n<S: Simd>(p: *const f32, full: bool, n: usize, fill: f32) -> S {
    unsafe { if full { S::load(p) } else { S::load_part(p, n, fill) } }
}

/// Stores the first `n` lanes at `p` (all of them if `full`).
#[inline(always)]
unsafe fn store_n<S: Simd>(v: S, p: *mut f32, full: bool, n: usize) {
    unsafe { if full { v.store(p) } else { v.store_part(p, n) } }
}

/// Columns handled together: a band of up to `BAND` vectors side by side, so that each pass
/// reads `BAND·LANES` contiguous values of every row of the axis (whole cache lines, in order).
const BAND: usize = 4;

/// Passes 1 and 2 of `width ≤ COLUMN_BAND` columns over `rows` entries of the axis, the first
/// at `x[start]`, the next `inner` further on, and so on: per column, its maximum and its sum
/// relative to it (or, given maxima, the sums relative to those, and no pass 1). With a non-null
/// `y`, each term is also stored there at its entry's place (for [`column_scale`]), and the
/// maximum's ties are summed with the rest (counted as none).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn column_stats<S: Simd>(
    x: &[f32],
    y: *mut f32,
    start: usize,
    inner: usize,
    rows: usize,
    width: usize,
    given: Option<&[f32]>,
    out: &mut [ColumnPart],
) {
    let band = BAND * S::LANES;
    let mut j = 0;
    while j < width {
        let w = (width - j).min(band);
        let given = given.map(|g| &g[j..j + w]);
        let band = Band { start: start + j, inner, rows, width: w };
        unsafe { band_stats::<S>(x, y, band, given, &mut out[j..j + w]) };
        j += w;
    }
}

/// Pass 3 of `width ≤ COLUMN_BAND` columns over `rows` entries of the axis (laid out as in
/// [`column_stats`]), given each column's statistics.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn column_apply<S: Simd>(
    op: Op,
    x: &[f32],
    y: *mut f32,
    start: usize,
    inner: usize,
    rows: usize,
    width: usize,
    stats: &[Stats],
) {
    let band = BAND * S::LANES;
    let mut j = 0;
    while j < width {
        let w = (width - j).min(band);
        let band = Band { start: start + j, inner, rows, width: w };
        unsafe { band_apply::<S>(op, x, y, band, &stats[j..j + w]) };
        j += w;
    }
}

/// Pass 3 of softmax over the terms [`column_stats`] stored in `y` (laid out as there): per
/// column, `y = RN(e·(rh + rl))·post` with its own `[rh, rl, post]`.
#[inline(always)]
unsafe fn column_scale<S: Simd>(
    y: *mut f32,
    start: usize,
    inner: usize,
    rows: usize,
    width: usize,
    factors: &[[f32; 3]],
) {
    let (band_width, l) = (BAND * S::LANES, S::LANES);
    let mut j = 0;
    while j < width {
        let w = (width - j).min(band_width);
        let band = Band { start: start + j, inner, rows, width: w };
        // No stored term is NaN: the maximum's probability is not taken here.
        let (zero, never) = (S::splat(0.0), S::splat(f32::NAN));
        let mut scale = [(zero, zero, zero, never, zero); BAND];
        for (b, sc) in scale.iter_mut().enumerate().take(band.blocks::<S>()) {
            let mut parts = [[0.0f32; 16]; 3];
            for lane in 0..band.lanes::<S>(b) {
                for (part, &f) in parts.iter_mut().zip(&factors[j + b * l + lane]) {
                    part[lane] = f;
                }
            }
            let (rh, rl, post) = unsafe {
                (S::load(parts[0].as_ptr()), S::load(parts[1].as_ptr()), S::load(parts[2].as_ptr()))
            };
            *sc = (rh, rl, post, never, zero);
        }
        unsafe { band.scale_out::<S>(y, &scale) };
        j += w;
    }
}

/// One band of columns (`width ≤ BAND·LANES`) over `rows` entries of the axis, the first at
/// `start`, the next `inner` further on: block `b` of `S::LANES` columns starts at
/// `start + b·LANES` and holds `lanes(b)` of them (only the last may be partial).
#[derive(Clone, Copy)]
struct Band {
    start: usize,
    inner: usize,
    rows: usize,
    width: usize,
}

impl Band {
    #[inline(always)]
    fn blocks<S: Simd>(&self) -> usize {
        self.width.div_ceil(S::LANES)
    }

    #[inline(always)]
    fn lanes<S: Simd>(&self, b: usize) -> usize {
        if b + 1 == self.blocks::<S>() { self.width - b * S::LANES } else { S::LANES }
    }

    /// The lanes of block `b` whose sum (in the halves of [`Simd::widen`]) is not finite, as
    /// bits: a NaN anywhere in a column reaches its sum, whatever pass 1 saw.
    #[inline(always)]
    fn not_finite<S: Simd>(&self, b: usize, sums: (S::W, S::W)) -> u32 {
        let (lanes, half) = ([sums.0.lanes(), sums.1.lanes()], S::LANES / 2);
        (0..self.lanes::<S>(b))
            .filter(|&lane| !lanes[lane / half][lane % half].is_finite())
            .fold(0, |bits, lane| bits | 1 << lane)
    }

    /// Lists the columns set in `bad` (bits per block) as `(o, j0 + column)`, for the portable
    /// path.
    #[inline(always)]
    fn list<S: Simd>(&self, bad: &[u32; BAND], o: usize, j0: usize, rejected: &mut Vec<(usize, usize)>) {
        for (b, &bits) in bad.iter().enumerate().take(self.blocks::<S>()) {
            let first = j0 + b * S::LANES;
            rejected.extend(
                (0..self.lanes::<S>(b)).filter(|lane| bits >> lane & 1 == 1).map(|lane| (o, first + lane)),
            );
        }
    }

    /// Pass 1: the maximum of each column.
    #[inline(always)]
    unsafe fn max<S: Simd>(&self, px: *const f32) -> [S; BAND] {
        let (l, nb) = (S::LANES, self.blocks::<S>());
        let mut max = [S::splat(f32::NEG_INFINITY); BAND];
        for kk in 0..self.rows {
            let row = self.start + kk * self.inner;
            for (b, m) in max.iter_mut().enumerate().take(nb) {
                let n = self.lanes::<S>(b);
                *m = m.max(unsafe { load_n::<S>(px.add(row + b * l), n == l, n, f32::NEG_INFINITY) });
            }
        }
        max
    }

    /// A column whose maximum is out of the reduction's range goes on with a harmless one (so
    /// that what a column gets never depends on its neighbours): it is rejected, or, wholly far
    /// below (or `−inf`), marked for summing against a larger maximum found elsewhere. Returns
    /// the bits of both kinds per block, and the maxima as found.
    #[inline(always)]
    fn screen<S: Simd>(&self, max: &mut [S; BAND]) -> ([u32; BAND], [u32; BAND], [[f32; 16]; BAND]) {
        let (mut reject, mut later) = ([0u32; BAND], [0u32; BAND]);
        let mut found = [[0.0f32; 16]; BAND];
        for (b, m) in max.iter_mut().enumerate().take(self.blocks::<S>()) {
            found[b] = m.lanes();
            let mut values = found[b];
            for (lane, v) in values.iter_mut().enumerate().take(self.lanes::<S>(b)) {
                if v.is_nan() || v.abs() > MAX_ABS_MAX {
                    if *v < -MAX_ABS_MAX {
                        later[b] |= 1 << lane;
                    } else {
                        reject[b] |= 1 << lane;
                    }
                    *v = 0.0;
                }
            }
            if reject[b] | later[b] != 0 {
                *m = unsafe { S::load(values.as_ptr()) };
            }
        }
        (reject, later, found)
    }

    /// Pass 2: per column, the sum of the terms below the maximum (`f64` lanes plus their low
    /// parts) and the number of ties; without `TIES`, the maximum's terms are summed with the
    /// rest and the counts are 0. With `STORE`, each term rounded to `f32` is written to `py` at
    /// its own place, for [`Band::scale_out`].
    #[inline(always)]
    unsafe fn sums<S: Simd, const STORE: bool, const TIES: bool>(
        &self,
        px: *const f32,
        py: *mut f32,
        consts: &[Consts<S>; BAND],
    ) -> ([S::Acc; BAND], [S; BAND], [S; BAND]) {
        let (l, nb) = (S::LANES, self.blocks::<S>());
        let mut acc = [S::acc_zero(); BAND];
        let (mut lo_acc, mut ties) = ([S::splat(0.0); BAND], [S::splat(0.0); BAND]);
        for kk in 0..self.rows {
            let row = self.start + kk * self.inner;
            for b in 0..nb {
                let (n, at) = (self.lanes::<S>(b), row + b * l);
                let c = &consts[b];
                let v = unsafe { load_n::<S>(px.add(at), n == l, n, 0.0) };
                let (mut hi, mut lo) = c.exp(v);
                if STORE {
                    unsafe { store_n(hi, py.add(at), n == l, n) };
                }
                if TIES {
                    let eq = v.eq(c.max);
                    (hi, lo) = (hi.zero_where(eq), lo.zero_where(eq));
                    ties[b] = ties[b].add(S::ones_where(eq));
                }
                acc[b] = S::acc_add(acc[b], hi);
                lo_acc[b] = lo_acc[b].add(lo);
            }
        }
        (acc, lo_acc, ties)
    }

    /// Pass 3 of softmax over the terms [`Band::sums`] stored in `py`: per block, lane by lane,
    /// `y = RN(e·(rh + rl))·post`, or the maximum's probability (as [`scale_pass`] does for a
    /// row), given `(rh, rl, post, e_max, top)`.
    #[inline(always)]
    unsafe fn scale_out<S: Simd>(&self, py: *mut f32, scale: &[(S, S, S, S, S); BAND]) {
        let (l, nb) = (S::LANES, self.blocks::<S>());
        for kk in 0..self.rows {
            let row = self.start + kk * self.inner;
            for (b, &f) in scale.iter().enumerate().take(nb) {
                let (n, at) = (self.lanes::<S>(b), row + b * l);
                let e = unsafe { load_n::<S>(py.add(at), n == l, n, 0.0) };
                unsafe { store_n(scaled(e, f), py.add(at), n == l, n) };
            }
        }
    }

    /// Pass 3 of softmax, given per block `1/s = rh + rl` and the ties' probability.
    #[inline(always)]
    unsafe fn softmax_out<S: Simd>(
        &self,
        px: *const f32,
        py: *mut f32,
        consts: &[Consts<S>; BAND],
        scale: &[(S, S, S); BAND],
    ) {
        let (l, nb) = (S::LANES, self.blocks::<S>());
        for kk in 0..self.rows {
            let row = self.start + kk * self.inner;
            for b in 0..nb {
                let (n, at) = (self.lanes::<S>(b), row + b * l);
                let (rh, rl, top) = scale[b];
                let v = unsafe { load_n::<S>(px.add(at), n == l, n, 0.0) };
                let out = quotient(consts[b].exp_parts(v), rh, rl).blend(v.eq(consts[b].max), top);
                unsafe { store_n(out, py.add(at), n == l, n) };
            }
        }
    }

    /// Pass 3 of log-softmax, given per lane the maximum and `ln s`.
    #[inline(always)]
    unsafe fn log_softmax_out<S: Simd>(
        &self,
        px: *const f32,
        py: *mut f32,
        ml: &[([f64; 16], [f64; 16]); BAND],
    ) {
        let (l, nb) = (S::LANES, self.blocks::<S>());
        for kk in 0..self.rows {
            let row = self.start + kk * self.inner;
            for (b, (m, ln)) in ml.iter().enumerate().take(nb) {
                let (n, at) = (self.lanes::<S>(b), row + b * l);
                let v = unsafe { load_n::<S>(px.add(at), n == l, n, 0.0) };
                let out = S::log_out_lanes(v, m, ln);
                unsafe { store_n(out, py.add(at), n == l, n) };
            }
        }
    }
}

/// `2^P/s` per lane of one vector of columns (`P` = [`super::LIFT`]), from their sums `s` in two
/// halves of `f64` lanes, as an `f32` pair `rh + rl`: the factors of [`Band::scale_out`] (what
/// [`super::stored_scale`] computes one lane at a time).
#[inline(always)]
fn lifted_reciprocal<S: Simd>(sums: (S::W, S::W)) -> (S, S) {
    let lift = S::W::splat(2f64.powi(super::LIFT));
    let (r0, r1) = (lift.div(sums.0), lift.div(sums.1));
    let rh = S::narrow(r0, r1);
    let (h0, h1) = rh.widen();
    (rh, S::narrow(r0.sub(h0), r1.sub(h1)))
}

/// Passes 1 and 2 of one band of columns over the whole axis: per vector of columns, the maxima,
/// the sums in the halves of [`Simd::widen`] (with `TIES`, of
/// the terms below the maximum, the ties counted apart; with `STORE`, every term, each also
/// stored in `py`), and the columns the vector path does not take, as bits.
struct BandSums<S: Simd> {
    max: [S; BAND],
    sums: [(S::W, S::W); BAND],
    ties: [S; BAND],
    bad: [u32; BAND],
}

#[inline(always)]
unsafe fn band_sums<S: Simd, const STORE: bool, const TIES: bool>(
    x: &[f32],
    py: *mut f32,
    band: Band,
) -> BandSums<S> {
    let px = x.as_ptr();
    let mut max = unsafe { band.max::<S>(px) };
    let (mut bad, later, _) = band.screen::<S>(&mut max);
    let consts = band_consts(&max);
    let (acc, lo_acc, ties) = unsafe { band.sums::<S, STORE, TIES>(px, py, &consts) };
    let zero = <S::W as SimdD>::splat(0.0);
    let mut sums = [(zero, zero); BAND];
    for b in 0..band.blocks::<S>() {
        let (a0, a1) = S::acc_halves(acc[b]);
        let (l0, l1) = lo_acc[b].widen();
        sums[b] = (a0.add(l0), a1.add(l1));
        // A column far below the reduction's range (`later`) takes the portable path.
        bad[b] |= later[b] | band.not_finite::<S>(b, sums[b]);
    }
    BandSums { max, sums, ties, bad }
}

/// Softmax of one band of columns over the whole axis: the maxima, the terms stored in `py` with
/// their sums, then each term scaled in place; rejected columns are listed as `(o, j0 + lane)`.
/// `s ≥ 2.8` (the maximum's own term), so that `1/s ≤ 1` and the stored terms serve every output
/// (see [`super::stored_scale`]).
#[inline(always)]
unsafe fn band_softmax<S: Simd>(
    x: &[f32],
    py: *mut f32,
    band: Band,
    o: usize,
    j0: usize,
    rejected: &mut Vec<(usize, usize)>,
) {
    let px = x.as_ptr();
    let mut max = unsafe { band.max::<S>(px) };
    let (mut bad, later, _) = band.screen::<S>(&mut max);
    let consts = band_consts(&max);
    let (acc, lo_acc, _) = unsafe { band.sums::<S, true, false>(px, py, &consts) };
    let (zero, post) = (S::splat(0.0), S::splat(2f32.powi(-super::LIFT)));
    let mut scale = [(zero, zero, post, zero, zero); BAND];
    for (b, sc) in scale.iter_mut().enumerate().take(band.blocks::<S>()) {
        let (a0, a1) = S::acc_halves(acc[b]);
        let (l0, l1) = lo_acc[b].widen();
        let sums = (a0.add(l0), a1.add(l1));
        bad[b] |= later[b] | band.not_finite::<S>(b, sums);
        let (rh, rl) = lifted_reciprocal::<S>(sums);
        let (e_max, top) = top_lanes(&consts[b], sums);
        *sc = (rh, rl, post, e_max, top);
    }
    band.list::<S>(&bad, o, j0, rejected);
    unsafe { band.scale_out::<S>(py, &scale) };
}

/// `ln s` of each vector of columns of a band, from passes 1 and 2 with ties counted apart
/// ([`ln_sums`]'s arithmetic: the same bits), in the halves of [`Simd::widen`].
#[inline(always)]
fn band_ln_sums<S: Simd>(bs: &BandSums<S>, b: usize) -> (S::W, S::W) {
    use crate::kernels::exp::ln_1p_lanes;
    let ((c0, c1), (e0, e1), rest) = (bs.ties[b].widen(), e_max_lanes(bs.max[b]), bs.sums[b]);
    (ln_1p_lanes(sum_minus_one_lanes(c0, rest.0, e0)), ln_1p_lanes(sum_minus_one_lanes(c1, rest.1, e1)))
}

/// [`Stats::sum_minus_one`] on lanes, operation for operation (the same bits).
#[inline(always)]
fn sum_minus_one_lanes<W: SimdD>(ties: W, rest: W, e_max: W) -> W {
    ties.sub(W::splat(1.0)).add(rest.div(e_max))
}

/// Log-softmax of one band of columns over the whole axis, as [`band_softmax`]: the maxima, the
/// sums of the terms below them and the ties, then `ln s` of each vector of columns
/// ([`band_ln_sums`]) and `RN((x − m) − ln s)`.
#[inline(always)]
unsafe fn band_log_softmax<S: Simd>(
    x: &[f32],
    py: *mut f32,
    band: Band,
    o: usize,
    j0: usize,
    rejected: &mut Vec<(usize, usize)>,
) {
    let bs = unsafe { band_sums::<S, false, true>(x, std::ptr::null_mut(), band) };
    let half = S::LANES / 2;
    let mut ml = [([0.0f64; 16], [0.0f64; 16]); BAND];
    for (b, (m, ln)) in ml.iter_mut().enumerate().take(band.blocks::<S>()) {
        let ((m0, m1), (l0, l1)) = (bs.max[b].widen(), band_ln_sums(&bs, b));
        // SAFETY: each array holds 16 lanes, two halves of at most 8.
        unsafe {
            m0.store(m.as_mut_ptr());
            m1.store(m.as_mut_ptr().add(half));
            l0.store(ln.as_mut_ptr());
            l1.store(ln.as_mut_ptr().add(half));
        }
    }
    band.list::<S>(&bs.bad, o, j0, rejected);
    unsafe { band.log_softmax_out::<S>(x.as_ptr(), py, &ml) };
}

/// Logsumexp of each column of `x`, `k` rows of `out.len()` columns (contiguous): `m + ln s` in
/// `f64` from [`band_ln_sums`], rounded once; columns the vector path does not take, and those
/// where `m + ln s` cancels (as in [`lse_rows`]), are listed in `rejected` and left alone.
#[inline(always)]
unsafe fn lse_columns<S: Simd>(x: &[f32], k: usize, out: &mut [f32], rejected: &mut Vec<usize>) {
    let (inner, half) = (out.len(), S::LANES / 2);
    let mut j0 = 0;
    while j0 < inner {
        let width = (inner - j0).min(BAND * S::LANES);
        let band = Band { start: j0, inner, rows: k, width };
        let bs = unsafe { band_sums::<S, false, true>(x, std::ptr::null_mut(), band) };
        for b in 0..band.blocks::<S>() {
            let ((m0, m1), (l0, l1)) = (bs.max[b].widen(), band_ln_sums(&bs, b));
            let (m, ln) = ([m0.lanes(), m1.lanes()], [l0.lanes(), l1.lanes()]);
            for lane in 0..band.lanes::<S>(b) {
                let (j, (m, ln)) =
                    (j0 + b * S::LANES + lane, (m[lane / half][lane % half], ln[lane / half][lane % half]));
                // `m + ln s` cancels in rows of log-probabilities: see `super::lse_f32`.
                match super::lse_f32(m as f32, ln) {
                    Some(lse) if bs.bad[b] >> lane & 1 == 0 => out[j] = lse,
                    _ => rejected.push(j),
                }
            }
        }
        j0 += width;
    }
}

/// The fused cross-entropy of columns, as `super::cross_entropy_row` computes it for a row:
/// `x` holds `k` rows of `n = params.len()` columns (a block of the caller's short rows,
/// transposed), the statistics and `ln s` are formed in vectors ([`band_ln_sums`]), each loss is
/// `w·(ln s − (x_c − m))`, and with a non-null `g` (laid out as `x`) the gradient is pass 3 of
/// softmax with the factor folded into `1/s` ([`Band::softmax_out`], as `exp_scale` does for a
/// row), the target's own entry from `1 − y_c`. Columns the vector path does not take are listed
/// in `rejected`, their loss and gradient left alone (the gradient's column holds garbage).
#[inline(always)]
unsafe fn ce_columns<S: Simd>(
    x: &[f32],
    k: usize,
    params: &[CeColumn],
    losses: &mut [f64],
    g: *mut f32,
    rejected: &mut Vec<usize>,
) {
    let (n, l, half) = (params.len(), S::LANES, S::LANES / 2);
    let mut j0 = 0;
    while j0 < n {
        let width = (n - j0).min(BAND * l);
        let band = Band { start: j0, inner: n, rows: k, width };
        let bs = unsafe { band_sums::<S, false, true>(x, std::ptr::null_mut(), band) };
        let zero = S::splat(0.0);
        let mut scale = [(zero, zero, zero); BAND];
        let mut targets = [(0usize, 0.0f32); BAND * 16];
        for (b, sc) in scale.iter_mut().enumerate().take(band.blocks::<S>()) {
            // Each lane's class entry, weight and factor, as `f64` lanes.
            let (mut xc, mut w, mut factor) = ([0.0f32; 16], [0.0f64; 16], [0.0f64; 16]);
            for lane in 0..band.lanes::<S>(b) {
                let j = j0 + b * l + lane;
                let (c, wj, fj) = params[j];
                (xc[lane], w[lane], factor[lane]) = (x[c * n + j], wj, fj);
            }
            let ((m0, m1), (x0, x1)) = (bs.max[b].widen(), unsafe { S::load(xc.as_ptr()) }.widen());
            let halves = [
                ce_lanes(&bs, b, 0, (m0, x0), (&w, &factor)),
                ce_lanes(&bs, b, half, (m1, x1), (&w, &factor)),
            ];
            let (mut rh, mut rl, mut top) = ([0.0f32; 16], [0.0f32; 16], [0.0f32; 16]);
            for lane in 0..band.lanes::<S>(b) {
                let (j, c) = (j0 + b * l + lane, params[j0 + b * l + lane].0);
                let (loss, r, t, target) = halves[lane / half][lane % half];
                // As for a row: small parts of the products stay normal while r ≥ 2⁻⁹⁰.
                if bs.bad[b] >> lane & 1 == 1 || !g.is_null() && r != 0.0 && r < 2f64.powi(-90) {
                    rejected.push(j);
                    continue;
                }
                losses[j] = loss;
                (rh[lane], top[lane]) = (r as f32, t as f32);
                rl[lane] = (r - f64::from(rh[lane])) as f32;
                targets[b * 16 + lane] = (c * n + j, target as f32);
            }
            // SAFETY: 16 lanes each.
            *sc = unsafe { (S::load(rh.as_ptr()), S::load(rl.as_ptr()), S::load(top.as_ptr())) };
        }
        if !g.is_null() {
            let consts = band_consts(&bs.max);
            unsafe { band.softmax_out::<S>(x.as_ptr(), g, &consts, &scale) };
            for b in 0..band.blocks::<S>() {
                for lane in 0..band.lanes::<S>(b) {
                    let (at, v) = targets[b * 16 + lane];
                    if !rejected.contains(&(j0 + b * l + lane)) {
                        // SAFETY: `at = c·n + j` with `c < k`: inside the block.
                        unsafe { *g.add(at) = v };
                    }
                }
            }
        }
        j0 += width;
    }
}

/// Per lane of one half (`first` = 0 or `LANES/2`) of block `b` of [`ce_columns`], from the
/// maxima and class entries as `f64` lanes and the weights and factors (16 lanes each):
/// `(loss, r, top, target)`, in `f64`, as `super::cross_entropy_row` forms them for a row: the loss
/// `w·(ln s − (x_c − m))` (0 where `w = 0`), the factor over the sum of pass 2's terms `r`, the
/// ties' gradient `factor/Σ` and the target's own, `−factor·(1 − y_c)`.
#[inline(always)]
fn ce_lanes<S: Simd>(
    bs: &BandSums<S>,
    b: usize,
    first: usize,
    (m, xc): (S::W, S::W),
    (w, factor): (&[f64; 16], &[f64; 16]),
) -> [(f64, f64, f64, f64); 8] {
    type W<S> = <S as Simd>::W;
    let pick = |pair: (W<S>, W<S>)| if first == 0 { pair.0 } else { pair.1 };
    let (ln, e_max, rest, ties) =
        (pick(band_ln_sums(bs, b)), pick(e_max_lanes(bs.max[b])), pick(bs.sums[b]), pick(bs.ties[b].widen()));
    // SAFETY: `first + LANES/2 ≤ 16`.
    let (w, factor) =
        unsafe { (W::<S>::load(w.as_ptr().add(first)), W::<S>::load(factor.as_ptr().add(first))) };
    let (loss, r, top, target) = ce_math(ln, (e_max, rest, ties), xc.sub(m), w, factor);
    let (loss, r, top, target) = (loss.lanes(), r.lanes(), top.lanes(), target.lanes());
    std::array::from_fn(|i| (loss[i], r[i], top[i], target[i]))
}

/// The fused cross-entropy's arithmetic on lanes, from `ln s`, the statistics `(e_max, rest,
/// ties)`, `x_c − m`, the weight and the gradient factor: `(loss, r, top, target)` as
/// `super::ce_scalars` forms them for one row, operation for operation (the same bits).
#[inline(always)]
fn ce_math<W: SimdD>(ln: W, (e_max, rest, ties): (W, W, W), offset: W, w: W, factor: W) -> (W, W, W, W) {
    let (zero, one) = (W::splat(0.0), W::splat(1.0));
    let loss = w.mul(ln.sub(offset)).blend(w.eq(zero), zero);
    // `Stats::sum` and Σ exp(x_i − m) = ties + rest/e_max.
    let (r, total) = (factor.div(ties.mul(e_max).add(rest)), ties.add(rest.div(e_max)));
    let top = factor.div(total);
    // 1 − y_c: from the sum without its top term when x_c is the maximum (`Stats::sum_minus_one`),
    // directly otherwise (y_c ≤ 1/2 then). Offsets below −700 (−inf too) give an exponential
    // under 2⁻¹⁰⁰⁹, which 1 − e/Σ (with Σ ≥ 1) cannot see.
    let sum_minus_one = sum_minus_one_lanes(ties, rest, e_max);
    let e = crate::kernels::exp::exp_lanes(offset.max(W::splat(-700.0)));
    let rest_of_one = one.sub(e.div(total)).blend(offset.eq(zero), sum_minus_one.div(total));
    (loss, r, top, W::splat(-1.0).mul(factor).mul(rest_of_one))
}

/// The fused cross-entropy's per-row arithmetic for up to 16 rows (`super::ce_batch`), a
/// vector of rows at a time: from each row's maximum, ties and rest (pass 2's), its class
/// entry, weight and factor, `[loss, r, top, target]` with `e_max` and `ln s` formed as
/// [`e_max_lanes`] and [`ln_sums`] do ([`ce_math`]: the bits of `super::ce_scalars`).
#[inline(always)]
fn ce_rows<S: Simd>(rows: &CeRowStats) -> [[f64; 16]; 4] {
    use crate::kernels::exp::ln_1p_lanes;
    let mut out = [[0.0f64; 16]; 4];
    let half = S::LANES / 2;
    let mut i = 0;
    while i < 16 {
        // SAFETY: `i + S::LANES ≤ 16`; each half holds `S::LANES / 2` lanes of the 16.
        unsafe {
            let m = S::load(rows.max.as_ptr().add(i));
            let (e0, e1) = e_max_lanes(m);
            let ((m0, m1), (c0, c1)) = (m.widen(), S::load(rows.xc.as_ptr().add(i)).widen());
            for (at, e_max, m, xc) in [(i, e0, m0, c0), (i + half, e1, m1, c1)] {
                let load = |a: &[f64; 16]| <S::W as SimdD>::load(a.as_ptr().add(at));
                let (ties, rest) = (load(&rows.ties), load(&rows.rest));
                let ln = ln_1p_lanes(sum_minus_one_lanes(ties, rest, e_max));
                let (loss, r, top, target) =
                    ce_math(ln, (e_max, rest, ties), xc.sub(m), load(&rows.w), load(&rows.factor));
                for (o, v) in out.iter_mut().zip([loss, r, top, target]) {
                    v.store(o.as_mut_ptr().add(at));
                }
            }
        }
        i += S::LANES;
    }
    out
}

/// The constants of each vector of a band, from its maxima (no closure: it would not inherit the
/// caller's target features, and the intrinsics inside would become calls).
#[inline(always)]
fn band_consts<S: Simd>(max: &[S; BAND]) -> [Consts<S>; BAND] {
    const { assert!(BAND == 4) };
    [Consts::lanewise(max[0]), Consts::lanewise(max[1]), Consts::lanewise(max[2]), Consts::lanewise(max[3])]
}

/// [`column_stats`] for one band (`width ≤ BAND·LANES`).
#[inline(always)]
unsafe fn band_stats<S: Simd>(
    x: &[f32],
    py: *mut f32,
    band: Band,
    given: Option<&[f32]>,
    out: &mut [ColumnPart],
) {
    let (px, l, nb) = (x.as_ptr(), S::LANES, band.blocks::<S>());
    let mut max = match given {
        Some(given) => std::array::from_fn(|b| {
            let n = if b < nb { band.lanes::<S>(b) } else { 0 };
            if n == 0 {
                S::splat(0.0)
            } else {
                unsafe { load_n::<S>(given.as_ptr().add(b * l), n == l, n, 0.0) }
            }
        }),
        None => unsafe { band.max::<S>(px) },
    };
    let (reject, later, found) = band.screen::<S>(&mut max);
    let consts = band_consts(&max);
    let (acc, lo_acc, ties) = unsafe {
        if py.is_null() {
            band.sums::<S, false, true>(px, py, &consts)
        } else {
            band.sums::<S, true, false>(px, py, &consts)
        }
    };
    for b in 0..nb {
        let (m, sums, los, counts) =
            (max[b].lanes(), S::acc_lanes(acc[b]), lo_acc[b].lanes(), ties[b].lanes());
        let (e0, e1) = e_max_lanes(max[b]);
        let (e_max, half) = ([e0.lanes(), e1.lanes()], l / 2);
        for lane in 0..band.lanes::<S>(b) {
            let rest = sums[lane] + f64::from(los[lane]);
            // A NaN anywhere in the column reaches its sum, whatever pass 1 saw.
            out[b * l + lane] = if reject[b] >> lane & 1 == 1 || !rest.is_finite() {
                ColumnPart::Reject
            } else if later[b] >> lane & 1 == 1 {
                ColumnPart::Later(found[b][lane])
            } else {
                let (max, ties, e_max) = (m[lane], f64::from(counts[lane]), e_max[lane / half][lane % half]);
                ColumnPart::Summed(Stats { max, e_max, ties, rest })
            };
        }
    }
}

/// [`column_apply`] for one band (`width ≤ BAND·LANES`).
#[inline(always)]
unsafe fn band_apply<S: Simd>(op: Op, x: &[f32], py: *mut f32, band: Band, stats: &[Stats]) {
    let (px, l, nb) = (x.as_ptr(), S::LANES, band.blocks::<S>());
    let lanes = |b: usize| band.lanes::<S>(b);
    let mut consts = [Consts::new(0.0); BAND];
    for (b, c) in consts.iter_mut().enumerate().take(nb) {
        let mut m = [0.0f32; 16];
        for (lane, v) in m.iter_mut().enumerate().take(lanes(b)) {
            *v = stats[b * l + lane].max;
        }
        *c = Consts::lanewise(unsafe { S::load(m.as_ptr()) });
    }
    match op {
        Op::Softmax => {
            let mut scale = [(S::splat(0.0), S::splat(0.0), S::splat(0.0)); BAND];
            for (b, sc) in scale.iter_mut().enumerate().take(nb) {
                let (mut rh, mut rl, mut top) = ([0.0f32; 16], [0.0f32; 16], [0.0f32; 16]);
                for lane in 0..lanes(b) {
                    (rh[lane], rl[lane]) = super::reciprocal_pair(&stats[b * l + lane]);
                    top[lane] = stats[b * l + lane].top_probability();
                }
                *sc = unsafe { (S::load(rh.as_ptr()), S::load(rl.as_ptr()), S::load(top.as_ptr())) };
            }
            unsafe { band.softmax_out::<S>(px, py, &consts, &scale) };
        }
        Op::LogSoftmax => {
            let mut ml = [([0.0f64; 16], [0.0f64; 16]); BAND];
            for (b, (m, ln)) in ml.iter_mut().enumerate().take(nb) {
                for lane in 0..lanes(b) {
                    m[lane] = f64::from(stats[b * l + lane].max);
                }
                *ln = ln_sums::<S>(&stats[b * l..b * l + lanes(b)]);
            }
            unsafe { band.log_softmax_out::<S>(px, py, &ml) };
        }
    }
}

/// The entry points of one instruction set: whole batches of short rows, and the three passes
/// separately for long rows split into chunks.
macro_rules! entry_points {
    ($isa:ident, $v:ty, $features:literal) => {
        pub(super) mod $isa {
            use super::*;

            /// # Safety
            /// The CPU must have the module's target features.
            #[target_feature(enable = $features)]
            pub unsafe fn rows(op: Op, x: &[f32], y: &mut [f32], len: usize, fallback: &Fallback) {
                unsafe { super::rows::<$v>(op, x, y, len, fallback) }
            }

            /// # Safety
            /// As [`rows`].
            #[target_feature(enable = $features)]
            pub unsafe fn lse_rows(x: &[f32], out: &mut [f32], len: usize, fallback: &LseFallback) {
                unsafe { super::lse_rows::<$v>(x, out, len, fallback) }
            }

            /// # Safety
            /// The CPU must have the target features.
            #[target_feature(enable = $features)]
            pub unsafe fn ce_rows(rows: &CeRowStats) -> [[f64; 16]; 4] {
                super::ce_rows::<$v>(rows)
            }

            /// # Safety
            /// As [`rows`]; `x` holds `k` rows of `params.len()` columns, each class below `k`;
            /// `losses` holds as many; `g` is null or has room for `x.len()` values.
            #[target_feature(enable = $features)]
            pub unsafe fn ce_columns(
                x: &[f32],
                k: usize,
                params: &[CeColumn],
                losses: &mut [f64],
                g: *mut f32,
                rejected: &mut Vec<usize>,
            ) {
                unsafe { super::ce_columns::<$v>(x, k, params, losses, g, rejected) }
            }

            /// # Safety
            /// As [`rows`]; `x` holds `k` rows of `out.len()` columns.
            #[target_feature(enable = $features)]
            pub unsafe fn lse_columns(x: &[f32], k: usize, out: &mut [f32], rejected: &mut Vec<usize>) {
                unsafe { super::lse_columns::<$v>(x, k, out, rejected) }
            }

            /// # Safety
            /// As [`rows`]; `x` holds whole `(outer, k, inner)` blocks (`k, inner > 0`), `y` points
            /// to as many elements, of which nothing else touches the given columns meanwhile.
            pub unsafe fn columns(
                op: Op,
                x: &[f32],
                y: *mut f32,
                k: usize,
                inner: usize,
                columns: (usize, usize),
                rejected: &mut Vec<(usize, usize)>,
            ) {
                // One function per operation: with both bands inlined into one, the softmax of
                // rows of 16 ran at 0.62 instead of 0.76 Gelem/s.
                match op {
                    Op::Softmax => unsafe { columns_of::<false>(x, y, k, inner, columns, rejected) },
                    Op::LogSoftmax => unsafe { columns_of::<true>(x, y, k, inner, columns, rejected) },
                }
            }

            #[target_feature(enable = $features)]
            unsafe fn columns_of<const LOG: bool>(
                x: &[f32],
                y: *mut f32,
                k: usize,
                inner: usize,
                columns: (usize, usize),
                rejected: &mut Vec<(usize, usize)>,
            ) {
                unsafe { super::columns::<$v, LOG>(x, y, k, inner, columns, rejected) }
            }

            /// # Safety
            /// As [`rows`]; the entries `start + kk·inner + j` for `kk < rows`, `j < width`
            /// are in `x`, `width ≤ COLUMN_BAND` and `out` (and `given`) hold `width` lanes; `y`
            /// is null or has room for the same entries, which nothing else touches meanwhile.
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = $features)]
            pub unsafe fn column_stats(
                x: &[f32],
                y: *mut f32,
                start: usize,
                inner: usize,
                rows: usize,
                width: usize,
                given: Option<&[f32]>,
                out: &mut [ColumnPart],
            ) {
                unsafe { super::column_stats::<$v>(x, y, start, inner, rows, width, given, out) }
            }

            /// # Safety
            /// As [`column_stats`] with a non-null `y`, which holds the terms it stored there;
            /// `factors` holds `width` lanes.
            #[target_feature(enable = $features)]
            pub unsafe fn column_scale(
                y: *mut f32,
                start: usize,
                inner: usize,
                rows: usize,
                width: usize,
                factors: &[[f32; 3]],
            ) {
                unsafe { super::column_scale::<$v>(y, start, inner, rows, width, factors) }
            }

            /// # Safety
            /// As [`column_stats`]; `y` has room for the same entries, which nothing else
            /// touches meanwhile, and `stats` holds `width` lanes.
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = $features)]
            pub unsafe fn column_apply(
                op: Op,
                x: &[f32],
                y: *mut f32,
                start: usize,
                inner: usize,
                rows: usize,
                width: usize,
                stats: &[Stats],
            ) {
                unsafe { super::column_apply::<$v>(op, x, y, start, inner, rows, width, stats) }
            }

            /// # Safety
            /// As [`rows`].
            #[target_feature(enable = $features)]
            pub unsafe fn max(x: &[f32]) -> f32 {
                unsafe { max_pass::<$v>(x) }
            }

            /// # Safety
            /// As [`rows`].
            #[target_feature(enable = $features)]
            pub unsafe fn sum(x: &[f32], max: f32, ties: &mut Ties) -> (f64, f64) {
                unsafe { sum_pass::<$v, false, true>(x, std::ptr::null_mut(), &Consts::<$v>::new(max), ties) }
            }

            /// As [`sum`], also writing each term to `y` (`x`'s length) for [`scale`].
            ///
            /// # Safety
            /// As [`rows`].
            #[target_feature(enable = $features)]
            pub unsafe fn sum_store(x: &[f32], y: &mut [f32], max: f32, ties: &mut Ties) -> (f64, f64) {
                assert_eq!(x.len(), y.len());
                unsafe { sum_pass::<$v, true, true>(x, y.as_mut_ptr(), &Consts::<$v>::new(max), ties) }
            }

            /// # Safety
            /// As [`rows`].
            #[target_feature(enable = $features)]
            pub unsafe fn scale(y: &mut [f32], rh: f32, rl: f32, post: f32) {
                // No stored term is NaN: no entry takes the maximum's probability.
                unsafe { scale_pass::<$v>(y, rh, rl, post, (f32::NAN, 0.0)) }
            }

            /// # Safety
            /// As [`rows`].
            #[target_feature(enable = $features)]
            pub unsafe fn exp_scale(x: &[f32], y: &mut [f32], max: f32, rh: f32, rl: f32) {
                unsafe { exp_scale_pass::<$v>(x, y, &Consts::new(max), rh, rl) }
            }

            /// # Safety
            /// As [`rows`].
            #[target_feature(enable = $features)]
            pub unsafe fn backward_rows(
                y: &[f32],
                dy: &[f32],
                dx: &mut [f32],
                len: usize,
                fallback: &BackwardFallback,
            ) {
                unsafe { super::backward_rows::<$v>(y, dy, dx, len, fallback) }
            }

            /// # Safety
            /// As [`rows`]; the slices have one length.
            #[target_feature(enable = $features)]
            pub unsafe fn dot(y: &[f32], dy: &[f32]) -> f64 {
                unsafe { dot_pass::<$v>(y, dy) }
            }

            /// # Safety
            /// As [`rows`]; the slices have one length.
            #[target_feature(enable = $features)]
            pub unsafe fn vjp(y: &[f32], dy: &[f32], dx: &mut [f32], dot: f64, stream: bool) {
                unsafe {
                    if stream {
                        vjp_pass::<$v, true>(y, dy, dx, dot)
                    } else {
                        vjp_pass::<$v, false>(y, dy, dx, dot)
                    }
                }
            }

            /// # Safety
            /// As [`rows`]; `y` has the length of `x`.
            #[target_feature(enable = $features)]
            pub unsafe fn log(x: &[f32], y: &mut [f32], max: f64, ln_sum: f64, stream: bool) {
                unsafe {
                    if stream {
                        log_pass::<$v, true>(x, y, max, ln_sum)
                    } else {
                        log_pass::<$v, false>(x, y, max, ln_sum)
                    }
                }
            }
        }
    };
}

entry_points!(avx512, V16, "avx512f,avx512dq,avx2,fma,popcnt");
entry_points!(avx2, V8, "avx2,fma,popcnt");

/// Exact widening and round-to-nearest-even narrowing between `f32` and the half types' bits.
pub(super) mod halves {
    use std::arch::x86_64::*;

    /// `f32` bits rounded to the upper 16 (bf16), to nearest with ties to even; NaN stays NaN.
    #[inline(always)]
    fn bf16_bits(v: f32) -> u16 {
        let b = v.to_bits();
        if v.is_nan() { ((b >> 16) | 0x40) as u16 } else { ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) as u16 }
    }

    /// Whether some `|v|` in `src` equals `edge`.
    ///
    /// # Safety
    /// AVX-512 F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn any_magnitude_avx512(src: &[f32], edge: f32) -> bool {
        let n = src.len() / 16 * 16;
        let e = _mm512_set1_ps(edge);
        let mut hit: __mmask16 = 0;
        for i in (0..n).step_by(16) {
            // SAFETY: `i + 16 ≤ n ≤ src.len()`.
            let v = unsafe { _mm512_abs_ps(_mm512_loadu_ps(src.as_ptr().add(i))) };
            hit |= _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(v, e);
        }
        hit != 0 || src[n..].iter().any(|v| v.abs() == edge)
    }

    /// Whether some `|v|` in `src` equals `edge`.
    ///
    /// # Safety
    /// AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn any_magnitude_avx2(src: &[f32], edge: f32) -> bool {
        let n = src.len() / 8 * 8;
        let (e, sign) = (_mm256_set1_ps(edge), _mm256_set1_ps(-0.0));
        let mut hit = _mm256_setzero_ps();
        for i in (0..n).step_by(8) {
            // SAFETY: `i + 8 ≤ n ≤ src.len()`.
            let v = _mm256_andnot_ps(sign, unsafe { _mm256_loadu_ps(src.as_ptr().add(i)) });
            hit = _mm256_or_ps(hit, _mm256_cmp_ps::<_CMP_EQ_OQ>(v, e));
        }
        _mm256_movemask_ps(hit) != 0 || src[n..].iter().any(|v| v.abs() == edge)
    }

    /// # Safety
    /// AVX-512 F; the slices have one length.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn f16_to_f32_avx512(src: &[u16], dst: &mut [f32]) {
        let n = src.len() / 16 * 16;
        for i in (0..n).step_by(16) {
            unsafe {
                let h = _mm256_loadu_si256(src.as_ptr().add(i).cast());
                _mm512_storeu_ps(dst.as_mut_ptr().add(i), _mm512_cvtph_ps(h));
            }
        }
        for (d, &s) in dst[n..].iter_mut().zip(&src[n..]) {
            *d = half::f16::from_bits(s).to_f32();
        }
    }

    /// # Safety
    /// AVX-512 F; the slices have one length.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn f32_to_f16_avx512(src: &[f32], dst: &mut [u16]) {
        let n = src.len() / 16 * 16;
        for i in (0..n).step_by(16) {
            unsafe {
                let v = _mm512_loadu_ps(src.as_ptr().add(i));
                let h = _mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v);
                _mm256_storeu_si256(dst.as_mut_ptr().add(i).cast(), h);
            }
        }
        for (d, &s) in dst[n..].iter_mut().zip(&src[n..]) {
            *d = half::f16::from_f32(s).to_bits();
        }
    }

    /// # Safety
    /// AVX-512 F; the slices have one length.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn bf16_to_f32_avx512(src: &[u16], dst: &mut [f32]) {
        let n = src.len() / 16 * 16;
        for i in (0..n).step_by(16) {
            unsafe {
                let h = _mm256_loadu_si256(src.as_ptr().add(i).cast());
                let w = _mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h));
                _mm512_storeu_ps(dst.as_mut_ptr().add(i), _mm512_castsi512_ps(w));
            }
        }
        for (d, &s) in dst[n..].iter_mut().zip(&src[n..]) {
            *d = f32::from_bits(u32::from(s) << 16);
        }
    }

    /// # Safety
    /// AVX-512 F; the slices have one length.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn f32_to_bf16_avx512(src: &[f32], dst: &mut [u16]) {
        let n = src.len() / 16 * 16;
        for i in (0..n).step_by(16) {
            unsafe {
                let v = _mm512_loadu_ps(src.as_ptr().add(i));
                let b = _mm512_castps_si512(v);
                let odd = _mm512_and_si512(_mm512_srli_epi32::<16>(b), _mm512_set1_epi32(1));
                let rounded = _mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7FFF)), odd);
                let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
                let quiet = _mm512_or_si512(b, _mm512_set1_epi32(0x0040_0000));
                let bits = _mm512_srli_epi32::<16>(_mm512_mask_mov_epi32(rounded, nan, quiet));
                _mm256_storeu_si256(dst.as_mut_ptr().add(i).cast(), _mm512_cvtepi32_epi16(bits));
            }
        }
        for (d, &s) in dst[n..].iter_mut().zip(&src[n..]) {
            *d = bf16_bits(s);
        }
    }

    /// # Safety
    /// AVX2 and F16C; the slices have one length.
    #[target_feature(enable = "avx2,f16c")]
    pub unsafe fn f16_to_f32_avx2(src: &[u16], dst: &mut [f32]) {
        let n = src.len() / 8 * 8;
        for i in (0..n).step_by(8) {
            unsafe {
                let h = _mm_loadu_si128(src.as_ptr().add(i).cast());
                _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
            }
        }
        for (d, &s) in dst[n..].iter_mut().zip(&src[n..]) {
            *d = half::f16::from_bits(s).to_f32();
        }
    }

    /// # Safety
    /// AVX2 and F16C; the slices have one length.
    #[target_feature(enable = "avx2,f16c")]
    pub unsafe fn f32_to_f16_avx2(src: &[f32], dst: &mut [u16]) {
        let n = src.len() / 8 * 8;
        for i in (0..n).step_by(8) {
            unsafe {
                let v = _mm256_loadu_ps(src.as_ptr().add(i));
                let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v);
                _mm_storeu_si128(dst.as_mut_ptr().add(i).cast(), h);
            }
        }
        for (d, &s) in dst[n..].iter_mut().zip(&src[n..]) {
            *d = half::f16::from_f32(s).to_bits();
        }
    }

    /// # Safety
    /// AVX2; the slices have one length.
    #[target_feature(enable = "avx2")]
    pub unsafe fn bf16_to_f32_avx2(src: &[u16], dst: &mut [f32]) {
        let n = src.len() / 8 * 8;
        for i in (0..n).step_by(8) {
            unsafe {
                let h = _mm_loadu_si128(src.as_ptr().add(i).cast());
                let w = _mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h));
                _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_castsi256_ps(w));
            }
        }
        for (d, &s) in dst[n..].iter_mut().zip(&src[n..]) {
            *d = f32::from_bits(u32::from(s) << 16);
        }
    }

    /// # Safety
    /// AVX2; the slices have one length.
    #[target_feature(enable = "avx2")]
    pub unsafe fn f32_to_bf16_avx2(src: &[f32], dst: &mut [u16]) {
        let n = src.len() / 16 * 16;
        // (A closure does not inherit the target features: the intrinsics need `unsafe`.)
        #[allow(unused_unsafe)]
        let round = |v: __m256| unsafe {
            let b = _mm256_castps_si256(v);
            let odd = _mm256_and_si256(_mm256_srli_epi32::<16>(b), _mm256_set1_epi32(1));
            let rounded = _mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7FFF)), odd);
            let nan = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_UNORD_Q>(v, v));
            let quiet = _mm256_or_si256(b, _mm256_set1_epi32(0x0040_0000));
            _mm256_srli_epi32::<16>(_mm256_blendv_epi8(rounded, quiet, nan))
        };
        for i in (0..n).step_by(16) {
            unsafe {
                let a = round(_mm256_loadu_ps(src.as_ptr().add(i)));
                let b = round(_mm256_loadu_ps(src.as_ptr().add(i + 8)));
                // packus interleaves 128-bit lanes; the permute puts them back in order.
                let packed = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi32(a, b));
                _mm256_storeu_si256(dst.as_mut_ptr().add(i).cast(), packed);
            }
        }
        for (d, &s) in dst[n..].iter_mut().zip(&src[n..]) {
            *d = bf16_bits(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `f::<V16>()` and `f::<V8>()`, each compiled with its target features, where the machine
    /// has them: `(name, result)` per instruction set run.
    macro_rules! on_each_isa {
        ($f:ident -> $t:ty) => {{
            let mut runs: Vec<(&str, $t)> = Vec::new();
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq") {
                #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
                unsafe fn run() -> $t {
                    $f::<V16>()
                }
                runs.push(("AVX-512", unsafe { run() }));
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn run() -> $t {
                    $f::<V8>()
                }
                runs.push(("AVX2", unsafe { run() }));
            }
            runs
        }};
    }

    #[test]
    fn the_exponential_table_is_within_2_to_the_minus_49() {
        for i in 0..32 {
            let exact = (f64::from(i) / 32.0).exp2();
            let pair = f64::from(EXP2_HI[i as usize]) + f64::from(EXP2_LO[i as usize]);
            assert_eq!(EXP2_HI[i as usize], exact as f32, "entry {i}: not the nearest f32");
            assert!(
                ((pair - exact) / exact).abs() < 2f64.powi(-49),
                "entry {i}: pair off by {}",
                pair - exact
            );
        }
    }

    /// The largest relative error of `hi + lo` (scaled) against the `f64` exponential, over `x`
    /// spread across the reduction's range around several maxima.
    #[inline(always)]
    fn worst_exp_error<S: Simd>() -> f64 {
        let mut worst = 0f64;
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for &max in &[0.0f32, 1.0, -3.7, 88.0, 100.5, -250.0, 1234.5, 2700.0, -2700.0] {
            let c = Consts::<S>::new(max);
            // Terms are exp(x − shift·ln 2) = 4·exp(x − j·ln 2).
            let shift = f64::from(Stats::shift(max));
            for _ in 0..4000 {
                let mut xs = [0f32; 16];
                for x in &mut xs[..S::LANES] {
                    state =
                        state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                    // Mostly within 30 of the maximum (normal terms), some down to the floor.
                    let d = if state & 7 == 0 { u * 110.0 } else { u * 30.0 };
                    *x = max - d as f32;
                }
                let (hi, lo) = c.exp(unsafe { S::load(xs.as_ptr()) });
                let (hi, lo) = (hi.lanes(), lo.lanes());
                for l in 0..S::LANES {
                    let exact = (f64::from(xs[l]) - shift * std::f64::consts::LN_2).exp();
                    if exact < 1e-30 {
                        continue;
                    }
                    let got = f64::from(hi[l]) + f64::from(lo[l]);
                    worst = worst.max(((got - exact) / exact).abs());
                }
            }
        }
        worst
    }

    #[test]
    fn the_vector_exponential_is_within_2_to_the_minus_29() {
        // Measured 1.5e-9 (16 lanes) and 2.9e-9 (8 lanes); the reference's own error (f64's exp
        // within an ulp, x − shift·ln 2 off by up to 3900·2⁻⁵³ absolute) is far below that.
        let bound = 2f64.powi(-28);
        for (isa, worst) in on_each_isa!(worst_exp_error -> f64) {
            assert!(worst < bound, "{isa}: {worst:e}");
        }
    }

    /// Statistics of awkward rows: maxima across the reduction's range (including those whose
    /// shift rounds at a tie), ties counts, and rests from 0 to far above the ties.
    fn sample_stats() -> Vec<Stats> {
        let mut out = Vec::new();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let maxima = [0.0f32, 1.0, -3.7, 88.0, 0.5 * std::f32::consts::LN_2, -2700.0, 2700.0, 1e-30];
        for i in 0..4000 {
            let max = if i < maxima.len() { maxima[i] } else { ((next() - 0.5) * 5000.0) as f32 };
            let ties = (1 + (i % 3) * (i % 7)) as f64;
            let rest = match i % 4 {
                0 => 0.0,
                1 => next() * 1e-20,
                2 => next() * 4.0,
                _ => next() * 1e9,
            };
            out.push(Stats::new(max, ties, rest));
        }
        out
    }

    /// [`e_max_lanes`] and [`ln_sums`] against [`Stats::new`] and [`Stats::ln_sum`], bit for bit.
    #[inline(always)]
    fn lane_mismatches<S: Simd>() -> Vec<String> {
        let mut bad = Vec::new();
        let stats = sample_stats();
        for group in stats.chunks(16) {
            let mut m = [0.0f32; 16];
            for (v, st) in m.iter_mut().zip(group) {
                *v = st.max;
            }
            let mut e = [0.0f64; 32];
            for (c, at) in m[..].chunks(S::LANES).zip((0..).step_by(S::LANES)) {
                let (e0, e1) = e_max_lanes(unsafe { S::load(c.as_ptr()) });
                unsafe {
                    e0.store(e.as_mut_ptr().add(at));
                    e1.store(e.as_mut_ptr().add(at + S::LANES / 2));
                }
            }
            let ln = ln_sums::<S>(group);
            for (i, st) in group.iter().enumerate() {
                if e[i].to_bits() != st.e_max.to_bits() {
                    bad.push(format!("e_max of max {}: {:e} against {:e}", st.max, e[i], st.e_max));
                }
                if ln[i].to_bits() != st.ln_sum().to_bits() {
                    bad.push(format!("ln s of {st:?}: {:e} against {:e}", ln[i], st.ln_sum()));
                }
            }
        }
        bad
    }

    #[test]
    fn lanes_of_statistics_have_the_bits_of_one_row() {
        let runs = on_each_isa!(lane_mismatches -> Vec<String>);
        assert!(!runs.is_empty() || !is_x86_feature_detected!("avx2"), "no instruction set ran");
        for (isa, bad) in runs {
            assert!(bad.is_empty(), "{isa}: {bad:?}");
        }
    }
    /// The documented order of [`SimdD::total`], lane by lane in scalar code: halves added lane
    /// by lane down to one.
    fn tree_total(v: &[f64]) -> f64 {
        if v.len() == 1 {
            return v[0];
        }
        let h = v.len() / 2;
        let halves: Vec<f64> = (0..h).map(|i| v[i] + v[i + h]).collect();
        tree_total(&halves)
    }

    /// Mismatches between [`totals`] (a transposed reduction), each vector's own
    /// [`SimdD::total`] and [`tree_total`], on lanes whose sum depends on the order of the
    /// additions (magnitudes from 2⁻⁶⁰ to 2⁶⁰, both signs, cancelling pairs, a NaN, infinities).
    #[inline(always)]
    fn total_mismatches<S: Simd>() -> Vec<String> {
        let w = <S::W as SimdD>::LANES;
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            state >> 11
        };
        let mut bad = Vec::new();
        for round in 0..2000 {
            let mut values = [[0.0f64; 8]; 16];
            for (r, row) in values.iter_mut().enumerate() {
                for v in row.iter_mut().take(w) {
                    let bits = next();
                    let magnitude =
                        2f64.powi((bits % 121) as i32 - 60) * (1.0 + (bits >> 8) as f64 / 2f64.powi(45));
                    *v = if bits & (1 << 7) == 0 { magnitude } else { -magnitude };
                }
                if round % 3 == 0 {
                    // A cancelling pair: the sum's bits are then those of the smaller lanes'.
                    row[r % w] = 1e16;
                    row[(r + 1) % w] = -1e16;
                }
            }
            if round == 1 {
                values[3][1] = f64::NAN;
                values[5][0] = f64::INFINITY;
                values[6][2 % w] = f64::NEG_INFINITY;
                values[6][3 % w] = f64::INFINITY;
            }
            let rows = 1 + round % 16;
            let lanes: [S::W; 16] =
                std::array::from_fn(|r| unsafe { <S::W as SimdD>::load(values[r].as_ptr()) });
            let got = totals(&lanes, rows);
            for r in 0..rows {
                let (one, tree) = (lanes[r].total(), tree_total(&values[r][..w]));
                if got[r].to_bits() != one.to_bits() || one.to_bits() != tree.to_bits() {
                    bad.push(format!("round {round} row {r}: totals {} total {one} tree {tree}", got[r]));
                }
            }
        }
        bad
    }

    #[test]
    fn transposed_totals_have_the_bits_of_one_vector_s() {
        let runs = on_each_isa!(total_mismatches -> Vec<String>);
        assert!(!runs.is_empty() || !is_x86_feature_detected!("avx2"), "no instruction set ran");
        for (isa, bad) in runs {
            assert!(bad.is_empty(), "{isa}: {} mismatches, first {:?}", bad.len(), &bad[..bad.len().min(3)]);
        }
    }
}
