//! The x86-64 `f64` kernels: softmax, log-softmax and logsumexp of contiguous rows, and (below)
//! the fused cross-entropy ([`cross_entropy_row`]) and the softmax and log-softmax backward
//! passes ([`backward_rows`]), generic over a small vector trait and
//! compiled for AVX-512 (8 lanes) and AVX2+FMA (4 lanes).
//!
//! The plan is the `f32` one (see the parent module) carried to `f64`, with one difference:
//! the exponentials are of `x − m` formed exactly as a pair, so that a row and the row shifted
//! by a constant (when the shift is exact) give bitwise the same outputs.
//! 1. the maximum `m` and the minimum;
//! 2. each term `v = exp(x − m)·2^LIFT`, and `hi = RN(v)`: `x − m = dh + dl` exactly by
//!    Fast2Sum, its operands ordered by magnitude (lane by lane with a `min` and a `max`, after
//!    clamping `x` to `m − 760`; or once per row, without the clamp, when the minimum shows that
//!    every entry is within 760 of `m` and on one side of `−m`); `n = round(16·dh/ln 2)`;
//!    `2^(j/16)` for `j = n mod 16` from a table (in registers with AVX-512, one `vpermt2pd`;
//!    gathered with AVX2) as `th·(1 + τ)`; `r + τ = (dh − n·C1) + (dl + τ − n·C2)` with the first
//!    difference exact; `p = exp(r + τ) − 1` by its Taylor polynomial of degree 7; `v = th·(1 +
//!    p)` with `th` scaled by `2^(⌊n/16⌋ + LIFT)`, within 2⁻⁵⁷·⁶ of the exact term (the tests
//!    hold it to 2⁻⁵⁷ against the oracle), and `hi` by one FMA. Each lane keeps a compensated
//!    sum: `t = s + hi`, and what that missed of `v`, `th·p + (th − (t − s))` with one FMA, goes
//!    to the compensation, so that the sum is good to about 2⁻¹⁰⁰. Softmax starts `s` above every
//!    term (Fast2Sum) and stores `hi` in the output. For log-softmax and logsumexp the
//!    maximum's ties (whose terms are exactly `2^LIFT`) are counted apart and the rest summed by
//!    TwoSum from zero, so that it keeps a few ulp of itself however small;
//! 3. softmax: each stored term multiplied by `2⁶⁴/s` (a double-double) with one rounding and
//!    scaled back by `2⁻⁶⁴`, exact for normal outputs; the maximum's ties, stored as exactly
//!    `2^LIFT`, get `RN(1/s)`. Log-softmax: `RN(x − (m + ln s))`, `x − lh` exact and `ll`
//!    taken from its low part when `m + ln s = lh + ll` is close enough to exact, else `RN((x −
//!    m) − ln s)` with both subtractions error-free; one final rounding either way. Rows of 2048
//!    or more prefetch the next row into L2 during pass 2.
//!
//! Softmax's error per output is 0.5 ulp for the final rounding, up to `c_m/2 < 1` for the
//! stored term's rounding (as for `f32`), and about four times the terms' and the sum's relative
//! error, 2⁻⁵⁷·⁶ against an ulp of 2⁻⁵³: about 1.65 at worst. Measured: 1.45 ulp at most over
//! 1.8 M outputs of rows spread over ±300 and ±700, rows of one value repeated, and pairs. An
//! earlier version recomputed each term in pass 3 (degree 13, no table) at about half this
//! speed, for 0.92 ulp. Log-softmax reads no term back: 0.51 ulp measured. Rows with a NaN or
//! an infinite maximum, or a maximum beyond ±[`MAX_ABS_MAX`], are handed back to the portable
//! path (softmax may have stored terms in the output by then; the portable path overwrites
//! them).

use std::arch::x86_64::*;

use super::Op;
use crate::kernels::dd::{Dd, fast_two_sum, two_sum};
use crate::kernels::exp::{exp_dd, ln_1p_dd};

/// `2^(j/16) = EXP2_HI[j] + EXP2_LO[j]` for `j = 0..16`: `EXP2_HI[j]` is the nearest `f64` and the
/// pair is good to about 2⁻¹⁰⁶ (checked in the tests by raising it to the 16th power).
const EXP2_HI: [f64; 16] = [
    f64::from_bits(0x3FF0_0000_0000_0000),
    f64::from_bits(0x3FF0_B558_6CF9_890F),
    f64::from_bits(0x3FF1_72B8_3C7D_517B),
    f64::from_bits(0x3FF2_387A_6E75_6238),
    f64::from_bits(0x3FF3_06FE_0A31_B715),
    f64::from_bits(0x3FF3_DEA6_4C12_3422),
    f64::from_bits(0x3FF4_BFDA_D536_2A27),
    f64::from_bits(0x3FF5_AB07_DD48_5429),
    f64::from_bits(0x3FF6_A09E_667F_3BCD),
    f64::from_bits(0x3FF7_A114_73EB_0187),
    f64::from_bits(0x3FF8_ACE5_422A_A0DB),
    f64::from_bits(0x3FF9_C491_82A3_F090),
    f64::from_bits(0x3FFA_E89F_995A_D3AD),
    f64::from_bits(0x3FFC_199B_DD85_529C),
    f64::from_bits(0x3FFD_5818_DCFB_A487),
    f64::from_bits(0x3FFE_A4AF_A2A4_90DA),
];
const EXP2_LO: [f64; 16] = [
    0.0,
    8.551_889_705_537_965e-17,
    -3.046_782_079_812_471e-17,
    8.912_812_676_025_408e-17,
    3.982_015_231_465_646e-17,
    4.658_027_591_836_937e-17,
    2.538_250_279_488_831_5e-17,
    7.700_948_379_802_99e-17,
    -9.667_293_313_452_913e-17,
    -3.483_994_556_892_796e-17,
    7.949_834_809_697_621e-17,
    2.470_719_256_979_788_8e-17,
    8.199_010_020_581_497e-17,
    2.960_140_695_448_873e-17,
    3.283_107_224_245_627e-17,
    -1.061_994_605_619_596_3e-16,
];

/// `EXP2_LO[j]/EXP2_HI[j]`, so that `2^(j/16) = EXP2_HI[j]·(1 + EXP2_TAU[j])` to about 2⁻¹⁰⁶.
const EXP2_TAU: [f64; 16] = {
    let mut tau = [0.0; 16];
    let mut j = 0;
    while j < 16 {
        tau[j] = EXP2_LO[j] / EXP2_HI[j];
        j += 1;
    }
    tau
};

/// `ln 2/16 = C1 + C2` to about 2⁻⁸⁹ relative: `C1` has 32 significant bits, so `n·C1` is exact
/// for `|n| < 2^21` and `d − n·C1` is exact (Sterbenz) for the `n = round(16·d/ln 2)` of any
/// `|d| ≤ FLOOR`; `C2` is the rest rounded to `f64`.
const C1: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000) / 16.0;
const C2: f64 = 1.192_634_330_794_117_3e-11;
/// `16/ln 2`.
const SCALE: f64 = 16.0 * std::f64::consts::LOG2_E;
/// `1.5·2⁵²`: adding it to a number below 2⁵¹ in magnitude rounds that number to an integer and
/// leaves the integer in the low bits of the sum's bit pattern.
const MAGIC: f64 = 6_755_399_441_055_744.0;

/// `1/k!` for k = 7 down to 3: `exp(r) = 1 + r + r²·(1/2 + r·(1/6 + r·(1/24 + …)))`.
const Q: [f64; 5] = [1.0 / 5_040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0];

/// Entries further than this below the maximum have terms under `2⁻¹⁰⁹⁰` (nothing an `f64`
/// output can see); they are clamped to it, keeping the reduction in its exact range.
const FLOOR: f64 = 760.0;

/// How pass 2 forms `x − m` exactly (see [`Consts::term`] and [`reduction`]): in general the
/// clamp to `m − FLOOR` and Fast2Sum with its operands ordered lane by lane; for rows whose
/// entries are all within `FLOOR` of the maximum, no clamp and a fixed order.
const GENERAL: u8 = 0;
const X_FIRST: u8 = 1;
const MAX_FIRST: u8 = 2;

/// The way a row with this maximum and minimum takes (see [`GENERAL`]).
fn reduction(max: f64, min: f64) -> u8 {
    if min < max - FLOOR {
        GENERAL
    } else if max < 0.0 {
        X_FIRST
    } else if min >= -max {
        MAX_FIRST
    } else {
        GENERAL
    }
}

/// Pass 2 computes its terms scaled by `2^LIFT`, so that terms down to `e⁻⁷⁶⁰` are normal numbers
/// and keep all their bits (10⁵ terms of `e⁻⁷¹⁸` add up to a normal `1.5e−307`); softmax stores
/// them so.
const LIFT: f64 = 600.0;

/// Softmax's running sums start at this (above every term, which is at most `2^LIFT`), so that
/// each addition's error is found by Fast2Sum in two operations (see [`Acc::add`]).
const BIAS: f64 = f64::from_bits((1023 + 601) << 52);

/// Pass 3 of softmax multiplies by `2⁶⁴/s` and scales the product back by `2⁻⁶⁴` last: exact
/// for every normal output, and it keeps the small product of the pair a normal number for
/// outputs near `f64::MIN_POSITIVE`.
const OUT_LIFT: i32 = 64;

/// The largest `|max|` of a row the vector path takes: up to it, the clamp `m − FLOOR` is formed
/// to within 2⁻¹² and every clamped `x − m` is finite.
pub(crate) const MAX_ABS_MAX: f64 = 1_099_511_627_776.0;

pub(super) trait SimdD: Copy + crate::kernels::exp::Lanes {
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
    fn min(self, o: Self) -> Self;
    fn fma(a: Self, b: Self, c: Self) -> Self;
    /// The first `n < LANES` lanes, the others 0.
    fn keep_first(self, n: usize) -> Self;
    /// `self · 2^⌊k⌋` for `⌊k⌋` in `[−1022, 1023]`, where the result is a normal number.
    fn scale_floor(self, k: Self) -> Self;
    /// The table of `2^(j/16)` ([`EXP2_HI`], [`EXP2_TAU`]) as the lookup wants it.
    type Table: Copy;
    fn table() -> Self::Table;
    /// `(EXP2_HI[j], EXP2_TAU[j])` where `j` is the low 4 bits of each lane's bit pattern.
    fn lookup(table: &Self::Table, index: Self) -> (Self, Self);
    fn reduce_max(self) -> f64;
    fn eq(self, o: Self) -> Self::Mask;
    fn bits(mask: Self::Mask) -> u32;
    fn zero_where(self, mask: Self::Mask) -> Self;
    /// `a` where `mask` is set, `self` elsewhere.
    fn blend(self, mask: Self::Mask, a: Self) -> Self;
    /// The lanes, in order (the first `LANES` of the array).
    fn lanes(self) -> [f64; 8];
    /// The sum of the lanes in a fixed order: halves added lane by lane, then the halves of that,
    /// down to one lane (8 lanes: `((v₀ + v₄) + (v₂ + v₆)) + ((v₁ + v₅) + (v₃ + v₇))`).
    fn total(self) -> f64;
    /// The [`SimdD::total`]s of `LANES` vectors, lane `i` that of `rows[i]`, with the same bits:
    /// the additions of one horizontal sum each, done for all of them at once (a transposed
    /// reduction of a few shuffles a vector instead of a chain of them per vector).
    fn totals(rows: &[Self]) -> Self;
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
    fn min(self, o: Self) -> Self {
        unsafe { D8(_mm512_min_pd(self.0, o.0)) }
    }
    #[inline(always)]
    fn keep_first(self, n: usize) -> Self {
        unsafe { D8(_mm512_maskz_mov_pd(((1u32 << n) - 1) as __mmask8, self.0)) }
    }
    #[inline(always)]
    fn fma(a: Self, b: Self, c: Self) -> Self {
        unsafe { D8(_mm512_fmadd_pd(a.0, b.0, c.0)) }
    }
    #[inline(always)]
    fn scale_floor(self, k: Self) -> Self {
        unsafe { D8(_mm512_scalef_pd(self.0, k.0)) }
    }
    type Table = [__m512d; 4];
    #[inline(always)]
    fn table() -> Self::Table {
        unsafe {
            [
                _mm512_loadu_pd(EXP2_HI.as_ptr()),
                _mm512_loadu_pd(EXP2_HI.as_ptr().add(8)),
                _mm512_loadu_pd(EXP2_TAU.as_ptr()),
                _mm512_loadu_pd(EXP2_TAU.as_ptr().add(8)),
            ]
        }
    }
    #[inline(always)]
    fn lookup(table: &Self::Table, index: Self) -> (Self, Self) {
        // `vpermt2pd` reads the low 4 bits of each index: 3 for the lane, 1 for the register.
        unsafe {
            let i = _mm512_castpd_si512(index.0);
            (
                D8(_mm512_permutex2var_pd(table[0], i, table[1])),
                D8(_mm512_permutex2var_pd(table[2], i, table[3])),
            )
        }
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
    #[inline(always)]
    fn total(self) -> f64 {
        unsafe {
            let a = _mm256_add_pd(_mm512_castpd512_pd256(self.0), _mm512_extractf64x4_pd::<1>(self.0));
            let b = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd::<1>(a));
            _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)))
        }
    }
    #[inline(always)]
    fn totals(rows: &[Self]) -> Self {
        let r = |i: usize| rows[i].0;
        // Each row's halves added, rows two by two (one row's 4 lanes in each half of a vector);
        // then those halves' halves (four rows' pairs of lanes in each); then each pair's two
        // lanes, which leaves the totals in the order 0, 4, 1, 5, 2, 6, 3, 7.
        let (s01, s23) = (halves8(r(0), r(1)), halves8(r(2), r(3)));
        let (s45, s67) = (halves8(r(4), r(5)), halves8(r(6), r(7)));
        let (u0, u1) = (quarters8(s01, s23), quarters8(s45, s67));
        unsafe {
            let t = _mm512_add_pd(_mm512_unpacklo_pd(u0, u1), _mm512_unpackhi_pd(u0, u1));
            D8(_mm512_permutexvar_pd(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7), t))
        }
    }
}

/// `[a₀ + a₄, …, a₃ + a₇, b₀ + b₄, …, b₃ + b₇]`: the first step of [`SimdD::total`] for two vectors.
#[inline(always)]
fn halves8(a: __m512d, b: __m512d) -> __m512d {
    unsafe { _mm512_add_pd(_mm512_shuffle_f64x2::<0x44>(a, b), _mm512_shuffle_f64x2::<0xEE>(a, b)) }
}

/// The second step of [`SimdD::total`] for the four rows of two [`halves8`]: 128-bit quarters
/// 0 + 1 and 2 + 3 of `a`, then of `b`.
#[inline(always)]
fn quarters8(a: __m512d, b: __m512d) -> __m512d {
    unsafe { _mm512_add_pd(_mm512_shuffle_f64x2::<0x88>(a, b), _mm512_shuffle_f64x2::<0xDD>(a, b)) }
}

/// [`crate::kernels::exp::Lanes`] for a vector type: [`SimdD`]'s arithmetic, and its own
/// `split_sqrt2` (the function named).
macro_rules! lanes_of {
    ($t:ty, $split:ident) => {
        impl crate::kernels::exp::Lanes for $t {
            #[inline(always)]
            fn fill(v: f64) -> Self {
                <$t as SimdD>::splat(v)
            }
            #[inline(always)]
            fn plus(self, o: Self) -> Self {
                SimdD::add(self, o)
            }
            #[inline(always)]
            fn minus(self, o: Self) -> Self {
                SimdD::sub(self, o)
            }
            #[inline(always)]
            fn times(self, o: Self) -> Self {
                SimdD::mul(self, o)
            }
            #[inline(always)]
            fn over(self, o: Self) -> Self {
                SimdD::div(self, o)
            }
            #[inline(always)]
            fn pow2_scale(self, n: Self) -> Self {
                self.scale_floor(n)
            }
            #[inline(always)]
            fn split_sqrt2(self) -> (Self, Self) {
                $split(self)
            }
        }
    };
}

lanes_of!(D8, split_sqrt2_8);
lanes_of!(D4, split_sqrt2_4);

/// `(e, f)` with `u = 2^e·f`, `f` in `[√½, √2)`, for positive normal lanes `u`: the exponent and
/// significand instructions, then the halving of `f` above `√2`.
#[inline(always)]
fn split_sqrt2_8(u: D8) -> (D8, D8) {
    unsafe {
        let e = _mm512_getexp_pd(u.0);
        let f = _mm512_getmant_pd::<_MM_MANT_NORM_1_2, _MM_MANT_SIGN_SRC>(u.0);
        let big = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(f, _mm512_set1_pd(std::f64::consts::SQRT_2));
        (
            D8(_mm512_mask_add_pd(e, big, e, _mm512_set1_pd(1.0))),
            D8(_mm512_mask_mul_pd(f, big, f, _mm512_set1_pd(0.5))),
        )
    }
}

/// [`split_sqrt2_8`] from the bits, for AVX2.
#[inline(always)]
fn split_sqrt2_4(u: D4) -> (D4, D4) {
    unsafe {
        let bits = _mm256_castpd_si256(u.0);
        // The biased exponent as the low bits of 2^52's significand: `2^52 + b`, exactly.
        let two52 = _mm256_set1_pd(4_503_599_627_370_496.0);
        let biased = _mm256_or_si256(_mm256_srli_epi64::<52>(bits), _mm256_castpd_si256(two52));
        let e = _mm256_sub_pd(_mm256_castsi256_pd(biased), _mm256_set1_pd(4_503_599_627_370_496.0 + 1023.0));
        let mantissa = _mm256_and_si256(bits, _mm256_set1_epi64x((1 << 52) - 1));
        let f = _mm256_castsi256_pd(_mm256_or_si256(mantissa, _mm256_set1_epi64x(1023 << 52)));
        let big = _mm256_cmp_pd::<_CMP_GT_OQ>(f, _mm256_set1_pd(std::f64::consts::SQRT_2));
        (
            D4(_mm256_add_pd(e, _mm256_and_pd(big, _mm256_set1_pd(1.0)))),
            D4(_mm256_blendv_pd(f, _mm256_mul_pd(f, _mm256_set1_pd(0.5)), big)),
        )
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
    fn min(self, o: Self) -> Self {
        unsafe { D4(_mm256_min_pd(self.0, o.0)) }
    }
    #[inline(always)]
    fn keep_first(self, n: usize) -> Self {
        unsafe { D4(_mm256_and_pd(self.0, _mm256_castsi256_pd(part_mask4(n)))) }
    }
    #[inline(always)]
    fn fma(a: Self, b: Self, c: Self) -> Self {
        unsafe { D4(_mm256_fmadd_pd(a.0, b.0, c.0)) }
    }
    #[inline(always)]
    fn scale_floor(self, k: Self) -> Self {
        unsafe {
            let k = _mm256_round_pd::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(k.0);
            D4(_mm256_mul_pd(self.0, pow2_4(k)))
        }
    }
    type Table = ();
    #[inline(always)]
    fn table() -> Self::Table {}
    #[inline(always)]
    fn lookup(_: &Self::Table, index: Self) -> (Self, Self) {
        // Gathered from memory: AVX2 has no permute across more than 8 `f32`.
        unsafe {
            let i = _mm256_and_si256(_mm256_castpd_si256(index.0), _mm256_set1_epi64x(15));
            (
                D4(_mm256_i64gather_pd::<8>(EXP2_HI.as_ptr(), i)),
                D4(_mm256_i64gather_pd::<8>(EXP2_TAU.as_ptr(), i)),
            )
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
    #[inline(always)]
    fn total(self) -> f64 {
        unsafe {
            let b = _mm_add_pd(_mm256_castpd256_pd128(self.0), _mm256_extractf128_pd::<1>(self.0));
            _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)))
        }
    }
    #[inline(always)]
    fn totals(rows: &[Self]) -> Self {
        // Each row's halves added, two rows to a vector; then each pair's two lanes, which leaves
        // the totals in the order 0, 2, 1, 3.
        let (s01, s23) = (halves4(rows[0].0, rows[1].0), halves4(rows[2].0, rows[3].0));
        unsafe {
            let t = _mm256_add_pd(_mm256_unpacklo_pd(s01, s23), _mm256_unpackhi_pd(s01, s23));
            D4(_mm256_permute4x64_pd::<0xD8>(t))
        }
    }
}

/// `[a₀ + a₂, a₁ + a₃, b₀ + b₂, b₁ + b₃]`: the first step of [`SimdD::total`] for two vectors.
#[inline(always)]
fn halves4(a: __m256d, b: __m256d) -> __m256d {
    unsafe { _mm256_add_pd(_mm256_permute2f128_pd::<0x20>(a, b), _mm256_permute2f128_pd::<0x31>(a, b)) }
}

/// The constants of one row's exponentials, broadcast once.
#[derive(Clone, Copy)]
struct Consts<S: SimdD> {
    max: S,
    neg_max: S,
    floor: S,
    scale: S,
    magic: S,
    neg_c1: S,
    neg_c2: S,
    q: [S; 5],
    half: S,
    sixteenth: S,
    lift: S,
    table: S::Table,
}

impl<S: SimdD> Consts<S> {
    #[inline(always)]
    fn new(max: f64) -> Self {
        Consts {
            max: S::splat(max),
            neg_max: S::splat(-max),
            floor: S::splat(max - FLOOR),
            scale: S::splat(SCALE),
            magic: S::splat(MAGIC),
            neg_c1: S::splat(-C1),
            neg_c2: S::splat(-C2),
            q: Q.map(S::splat),
            half: S::splat(0.5),
            sixteenth: S::splat(1.0 / 16.0),
            lift: S::splat(LIFT),
            table: S::table(),
        }
    }

    /// `exp(x − m)·2^LIFT ≈ v = th·(1 + p)` (good to about 2⁻⁵⁷·⁶ relative) as `(hi, th, p)`,
    /// `hi = RN(v)`: `th` is the table's entry scaled by the power of two, and `p` the polynomial.
    #[inline(always)]
    fn term<const MODE: u8>(&self, x: S) -> (S, S, S) {
        let (dh, dl) = match MODE {
            // Fast2Sum, with the operand of larger magnitude first: `x` itself when the maximum
            // is negative (every `x ≤ m < 0`), `−m` when `−m ≤ x ≤ m` for the whole row.
            X_FIRST => {
                let dh = x.add(self.neg_max);
                (dh, self.neg_max.sub(dh.sub(x)))
            }
            MAX_FIRST => {
                let dh = x.add(self.neg_max);
                (dh, x.sub(dh.add(self.max)))
            }
            _ => {
                // `max(floor, x)` returns its second operand when either is NaN: a NaN goes on
                // into the sum, which reports it; `−inf` becomes the floor, whose output is 0.
                let x = self.floor.max(x);
                // Fast2Sum with the operand of larger magnitude chosen lane by lane: it is the
                // smaller of `x` and `−m` (for `m ≥ 0`, `x < −m` is the only way `|x|` can
                // exceed `|m|`; for `m < 0`, every `x ≤ m < −m`). `dh` comes from `x` itself,
                // so that a NaN reaches it.
                let dh = x.add(self.neg_max);
                let (a, b) = (x.min(self.neg_max), x.max(self.neg_max));
                (dh, b.sub(dh.sub(a)))
            }
        };
        // n = round(16·dh/ln 2), as an `f64` and in the low bits of `t`.
        let t = S::fma(dh, self.scale, self.magic);
        let n = t.sub(self.magic);
        // r = (dh − n·C1) + (dl − n·C2): the first difference exact, one rounding in all.
        // 2^(j/16) = th·(1 + τ) with j = n mod 16, and exp(r) = exp(r + τ)/(1 + τ) to 2⁻¹⁰⁵.
        let (th, tau) = S::lookup(&self.table, t);
        // r + τ = (dh − n·C1) + (dl + τ − n·C2): the first difference exact, and one rounding
        // that matters, of the sum (`|dl| < 2⁻⁴⁴`, `|τ| < 2⁻⁵³`).
        let r = S::fma(n, self.neg_c1, dh).add(S::fma(n, self.neg_c2, dl.add(tau)));
        // exp(r) − 1 = r + r²·(1/2 + r/6 + … + r⁵/7!): truncation below 2⁻⁵⁹ for |r| ≤ ln 2/32.
        let mut q = S::fma(self.q[0], r, self.q[1]);
        for &c in &self.q[2..] {
            q = S::fma(q, r, c);
        }
        q = S::fma(q, r, self.half);
        let p = S::fma(r.mul(r), q, r);
        // ⌊n/16⌋ + LIFT, which the scaling rounds down to.
        let th = th.scale_floor(S::fma(n, self.sixteenth, self.lift));
        (S::fma(th, p, th), th, p)
    }
}

/// Pass 1: the row's maximum and minimum (a NaN may be missed: pass 2 finds it).
#[inline(always)]
unsafe fn extremes_pass<S: SimdD>(x: &[f64]) -> (f64, f64) {
    let (n, p, l) = (x.len(), x.as_ptr(), S::LANES);
    let mut hi = [S::splat(f64::NEG_INFINITY); 2];
    let mut lo = [S::splat(f64::INFINITY); 2];
    let mut i = 0;
    unsafe {
        while i + 2 * l <= n {
            for u in 0..2 {
                let v = S::load(p.add(i + u * l));
                hi[u] = hi[u].max(v);
                lo[u] = lo[u].min(v);
            }
            i += 2 * l;
        }
        if i + l <= n {
            let v = S::load(p.add(i));
            hi[0] = hi[0].max(v);
            lo[0] = lo[0].min(v);
            i += l;
        }
        if i < n {
            let v = S::load_part(p.add(i), n - i, x[0]);
            hi[1] = hi[1].max(v);
            lo[1] = lo[1].min(v);
        }
    }
    let min = -(S::splat(0.0).sub(lo[0].min(lo[1]))).reduce_max();
    (hi[0].max(hi[1]).reduce_max(), min)
}

/// A compensated running sum per lane (`s + c`), and the plain sum of the `lo` parts.
#[derive(Clone, Copy)]
struct Acc<S> {
    s: S,
    c: S,
    lo: S,
}

impl<S: SimdD> Acc<S> {
    fn new(start: f64) -> Self {
        let zero = S::splat(0.0);
        Acc { s: S::splat(start), c: zero, lo: zero }
    }

    /// Adds `hi + lo`, the error of `s + hi` going to `c` by TwoSum.
    #[inline(always)]
    fn add(&mut self, hi: S, lo: S) {
        self.add_exact(hi);
        self.lo = self.lo.add(lo);
    }

    /// Adds `v`, the error of `s + v` going to `c` by TwoSum.
    #[inline(always)]
    fn add_exact(&mut self, v: S) {
        let (t, err) = two_sum_v(self.s, v);
        self.c = self.c.add(err);
        self.s = t;
    }

    /// Adds a term `v = th·(1 + p)` given with `hi = RN(v)`: `s + hi` rounded, and what it missed
    /// of `v` to `c`. `g = t − s` is the part of `hi` that went into the sum (exactly; when
    /// `fast`, by Fast2Sum, valid as long as `|s| ≥ |hi|`, which softmax ensures by starting `s`
    /// at [`BIAS`]); `v − g = th·p + (th − g)` with one rounding, where `th − g` is exact
    /// (Sterbenz) or, when `g` is `hi` rounded to a grid much coarser than `hi`, off by at most
    /// 2⁻⁵⁴ of that grid. Either error is about 2⁻¹⁰⁵ of the sum.
    #[inline(always)]
    fn add_term(&mut self, hi: S, th: S, p: S, fast: bool) {
        let t = self.s.add(hi);
        let g = t.sub(self.s);
        let missed = S::fma(th, p, th.sub(g));
        // TwoSum: when |hi| may exceed |s|, s itself may lose bits in t; `s − (t − g)` is exact.
        self.c = if fast { self.c.add(missed) } else { self.c.add(self.s.sub(t.sub(g)).add(missed)) };
        self.s = t;
    }
}

/// One vector of pass 2 (a closure would not inherit the caller's target features): its terms,
/// stored at `y` when `STORE`, added to `acc`; when `TIES`, the maximum's ties are counted in
/// `ties` and left out of the sum.
#[inline(always)]
unsafe fn sum_step<S: SimdD, const STORE: bool, const TIES: bool, const MODE: u8>(
    c: &Consts<S>,
    acc: &mut Acc<S>,
    ties: &mut u32,
    v: S,
    y: *mut f64,
    part: usize,
) {
    let (mut hi, mut th, mut p) = c.term::<MODE>(v);
    if part != 0 {
        // The padding (NaN, never a tie) takes no part.
        (hi, th, p) = (hi.keep_first(part), th.keep_first(part), p.keep_first(part));
    }
    if STORE {
        unsafe { if part == 0 { hi.store(y) } else { hi.store_part(y, part) } }
    }
    if TIES {
        let eq = v.eq(c.max);
        let bits = S::bits(eq);
        if bits != 0 {
            *ties += bits.count_ones();
            hi = hi.zero_where(eq);
            th = th.zero_where(eq);
        }
    }
    acc.add_term(hi, th, p, !TIES);
}

/// Pass 2: `Σ exp(x − m)·2^LIFT` (double-double). When `TIES`, the number of ties of the
/// maximum and the sum of the other terms (with a relative error of a few ulp of itself, what
/// log-softmax needs); else the whole sum. When `STORE`, each term is also stored at `y`.
#[inline(always)]
unsafe fn sum_pass<S: SimdD, const STORE: bool, const TIES: bool, const MODE: u8>(
    x: &[f64],
    y: *mut f64,
    ahead: Option<&[f64]>,
    c: &Consts<S>,
) -> (f64, Dd) {
    let (n, p, l) = (x.len(), x.as_ptr(), S::LANES);
    let start = if TIES { 0.0 } else { BIAS };
    let mut acc = [Acc::new(start); 2];
    let mut ties = 0u32;
    let mut i = 0;
    unsafe {
        while i + 2 * l <= n {
            if let Some(a) = ahead {
                // The next row, into L2 while this one computes, for its pass 1 to find there.
                let a = a.as_ptr().wrapping_add(i);
                _mm_prefetch::<_MM_HINT_T1>(a.cast());
                _mm_prefetch::<_MM_HINT_T1>(a.wrapping_add(l).cast());
            }
            sum_step::<S, STORE, TIES, MODE>(
                c,
                &mut acc[0],
                &mut ties,
                S::load(p.add(i)),
                y.wrapping_add(i),
                0,
            );
            let (v, o) = (S::load(p.add(i + l)), y.wrapping_add(i + l));
            sum_step::<S, STORE, TIES, MODE>(c, &mut acc[1], &mut ties, v, o, 0);
            i += 2 * l;
        }
        while i + l <= n {
            sum_step::<S, STORE, TIES, MODE>(
                c,
                &mut acc[0],
                &mut ties,
                S::load(p.add(i)),
                y.wrapping_add(i),
                0,
            );
            i += l;
        }
        if i < n {
            let v = S::load_part(p.add(i), n - i, f64::NAN);
            sum_step::<S, STORE, TIES, MODE>(c, &mut acc[1], &mut ties, v, y.wrapping_add(i), n - i);
        }
    }
    let mut sum = combine(&acc);
    if !TIES {
        sum = sum.add_f64(-2.0 * S::LANES as f64 * BIAS);
    }
    (f64::from(ties), sum)
}

/// Pass 3 of softmax, in place over the stored terms: `RN(t·(rh + rl))·2⁻⁶⁴`, where
/// `rh + rl = 2⁶⁴/s`. The maximum's own term is exactly `2^LIFT`, so its ties get `RN(1/s)`.
#[inline(always)]
unsafe fn scale_pass<S: SimdD>(y: &mut [f64], r: Dd) {
    let (n, py, l) = (y.len(), y.as_mut_ptr(), S::LANES);
    let (rh, rl, down) = (S::splat(r.hi), S::splat(r.lo), S::splat(2f64.powi(-OUT_LIFT)));
    let mut i = 0;
    unsafe {
        while i + l <= n {
            let t = S::load(py.add(i));
            S::fma(t, rh, t.mul(rl)).mul(down).store(py.add(i));
            i += l;
        }
        if i < n {
            let t = S::load_part(py.add(i), n - i, 0.0);
            S::fma(t, rh, t.mul(rl)).mul(down).store_part(py.add(i), n - i);
        }
    }
}

/// `(a + b, error)` lane by lane (TwoSum).
#[inline(always)]
fn two_sum_v<S: SimdD>(a: S, b: S) -> (S, S) {
    let s = a.add(b);
    let bb = s.sub(a);
    (s, a.sub(s.sub(bb)).add(b.sub(bb)))
}

/// Pass 3 of log-softmax: `RN(x − (m + ln s))`. When `L = m + ln s` is held closely enough as a
/// double-double `lh + ll` (`ONE_SUM`, see [`row`]), `x − lh` is formed exactly (TwoSum) and `ll`
/// subtracted from its low part; else `RN((x − m) − ln s)` with both subtractions error-free.
#[inline(always)]
unsafe fn log_pass<S: SimdD, const ONE_SUM: bool>(x: &[f64], y: &mut [f64], m: f64, ln_sum: Dd) {
    let (n, px, py, l) = (x.len(), x.as_ptr(), y.as_mut_ptr(), S::LANES);
    let (neg_m, neg_lh, neg_ll) = if ONE_SUM {
        let lse = Dd::new(m).add(ln_sum);
        (S::splat(0.0), S::splat(-lse.hi), S::splat(-lse.lo))
    } else {
        (S::splat(-m), S::splat(-ln_sum.hi), S::splat(-ln_sum.lo))
    };
    let mut i = 0;
    unsafe {
        while i + l <= n {
            log_out::<S, ONE_SUM>(S::load(px.add(i)), neg_m, neg_lh, neg_ll).store(py.add(i));
            i += l;
        }
        if i < n {
            let v = S::load_part(px.add(i), n - i, 0.0);
            log_out::<S, ONE_SUM>(v, neg_m, neg_lh, neg_ll).store_part(py.add(i), n - i);
        }
    }
}

#[inline(always)]
fn log_out<S: SimdD, const ONE_SUM: bool>(v: S, neg_m: S, neg_lh: S, neg_ll: S) -> S {
    // TwoSum of −inf gives NaN for its error: a −inf entry's log-probability is −inf.
    let neg_inf = S::splat(f64::NEG_INFINITY);
    let y = if ONE_SUM {
        let (th, tl) = two_sum_v(v, neg_lh);
        th.add(tl.add(neg_ll))
    } else {
        let (dh, dl) = two_sum_v(v, neg_m);
        let (th, tl) = two_sum_v(dh, neg_lh);
        th.add(tl.add(dl.add(neg_ll)))
    };
    y.blend(v.eq(neg_inf), neg_inf)
}

/// Passes 1 and 2 of a row (see [`sum_pass`]): its maximum and the sum's two parts scaled back
/// by `2^−LIFT` (`ties + rest` when `TIES`, else `0 + sum`), or `None` for a row the vector path
/// does not take.
#[inline(always)]
unsafe fn stats<S: SimdD, const STORE: bool, const TIES: bool>(
    x: &[f64],
    y: *mut f64,
    ahead: Option<&[f64]>,
) -> Option<(f64, f64, Dd)> {
    unsafe { stats_from::<S, STORE, TIES>(x, y, ahead, extremes_pass::<S>(x)) }
}

/// Pass 2 of [`stats`], given the row's pass 1 (its maximum and minimum).
#[inline(always)]
unsafe fn stats_from<S: SimdD, const STORE: bool, const TIES: bool>(
    x: &[f64],
    y: *mut f64,
    ahead: Option<&[f64]>,
    (max, min): (f64, f64),
) -> Option<(f64, f64, Dd)> {
    // NaN, ±inf or a maximum beyond the kernel's range: the portable path.
    if max.is_nan() || max.abs() > MAX_ABS_MAX {
        return None;
    }
    let c = Consts::<S>::new(max);
    let (ties, rest) = unsafe {
        match reduction(max, min) {
            X_FIRST => sum_pass::<S, STORE, TIES, X_FIRST>(x, y, ahead, &c),
            MAX_FIRST => sum_pass::<S, STORE, TIES, MAX_FIRST>(x, y, ahead, &c),
            _ => sum_pass::<S, STORE, TIES, GENERAL>(x, y, ahead, &c),
        }
    };
    // A NaN anywhere in the row has made the sum NaN.
    if !rest.hi.is_finite() {
        return None;
    }
    Some((max, ties, rest.ldexp(-(LIFT as i32))))
}

/// `logsumexp` of each contiguous row of length `len` into `out`: `m + ln Σ` in double-double,
/// rounded once. A row where the two terms nearly cancel (`|m + ln Σ| < ln Σ`: rows of
/// log-probabilities) goes to `fallback`, whose `ln Σ` is good to 2⁻¹⁰⁰, as does any row the
/// vector path does not take.
#[inline(always)]
unsafe fn lse_rows<S: SimdD>(x: &[f64], out: &mut [f64], len: usize, fallback: &super::LseFallback64) {
    if len < PREFETCH_FROM {
        // In batches, their `ln s` in vectors, as log-softmax's rows (see [`rows`]).
        for (xs, os) in batches(x, len).zip(out.chunks_mut(batch_rows(len))) {
            // Every row's extremes first: a row's pass 2 then waits for no reduction just finished.
            let (mut found, mut extremes) = ([None; 16], [(0.0, 0.0); 16]);
            for (xr, e) in xs.chunks_exact(len).zip(extremes.iter_mut()) {
                *e = unsafe { extremes_pass::<S>(xr) };
            }
            for ((xr, st), e) in xs.chunks_exact(len).zip(found.iter_mut()).zip(extremes) {
                *st = unsafe { stats_from::<S, false, true>(xr, std::ptr::null_mut(), None, e) };
            }
            let ln = ln_sums_dd::<S>(&found);
            for (((xr, o), st), ln) in xs.chunks_exact(len).zip(os.iter_mut()).zip(found).zip(ln) {
                *o = st
                    .zip(ln)
                    .and_then(|((max, _, _), ln_sum)| lse_of(max, ln_sum))
                    .unwrap_or_else(|| fallback(xr));
            }
        }
        return;
    }
    for (r, (xr, o)) in x.chunks_exact(len).zip(out.iter_mut()).enumerate() {
        *o = unsafe { stats::<S, false, true>(xr, std::ptr::null_mut(), next_row(x, len, r)) }
            .and_then(|(max, ties, rest)| lse_of(max, ln_1p_dd(rest.add_f64(ties - 1.0))))
            .unwrap_or_else(|| fallback(xr));
    }
}

/// `m + ln Σ` rounded once, or `None` where the two nearly cancel.
#[inline(always)]
fn lse_of(max: f64, ln_sum: Dd) -> Option<f64> {
    let lse = Dd::new(max).add(ln_sum);
    (lse.hi.abs() >= ln_sum.hi).then(|| lse.to_f64())
}

/// One row of softmax or log-softmax; false if the row must take the portable path (softmax
/// may have written terms to `y` by then).
#[inline(always)]
unsafe fn row<S: SimdD>(op: Op, x: &[f64], y: &mut [f64], ahead: Option<&[f64]>) -> bool {
    match op {
        Op::Softmax => {
            // Σ exp(x − m)·2^LIFT, the terms stored in y.
            let Some((_, _, sum)) = (unsafe { stats::<S, true, false>(x, y.as_mut_ptr(), ahead) }) else {
                return false;
            };
            unsafe { scale_pass::<S>(y, softmax_factor(sum)) };
        }
        Op::LogSoftmax => {
            // Σ exp(x − m) = ties + rest: the maximum's own terms are exactly 1.
            let Some((max, ties, rest)) =
                (unsafe { stats::<S, false, true>(x, std::ptr::null_mut(), ahead) })
            else {
                return false;
            };
            unsafe { log_softmax_out::<S>(x, y, max, ln_1p_dd(rest.add_f64(ties - 1.0))) };
        }
    }
    true
}

/// Softmax's pass-3 factor: `1/s` scaled by `2^OUT_LIFT` and by `2^−LIFT`, to meet the terms
/// stored lifted (`sum` is `Σ exp(x − m)·2^LIFT`).
#[inline(always)]
fn softmax_factor(sum: Dd) -> Dd {
    Dd::ONE.div(sum).ldexp(OUT_LIFT - LIFT as i32)
}

/// Pass 3 of log-softmax given the row's maximum and `ln s`.
#[inline(always)]
unsafe fn log_softmax_out<S: SimdD>(x: &[f64], y: &mut [f64], max: f64, ln_sum: Dd) {
    // Every output is at least ln s in magnitude, and `m + ln s` as a double-double is within
    // about 2⁻¹⁰⁶ of itself: when that is under 2⁻⁶⁶·ln s, one sum keeps the outputs at 0.5 ulp.
    // (Beyond, it could cost up to an ulp more, where ln s is near 2⁻⁵³·|m|: the exact path
    // keeps them at 0.5 there too.)
    if ln_sum.hi >= 2f64.powi(-40) * (max.abs() + ln_sum.hi) {
        unsafe { log_pass::<S, true>(x, y, max, ln_sum) };
    } else {
        unsafe { log_pass::<S, false>(x, y, max, ln_sum) };
    }
}

/// The fused cross-entropy of one row against class `c` with weight `w` (see
/// `super::cross_entropy_rows_f64`): the loss `w·(ln s − (x_c − m))` from the two non-negative
/// parts in double-double, and with `grad`, `g = (w/d)·softmax(x)` (`d` the mean's divisor) by
/// softmax's own passes 2 and 3, the factor folded unrounded into `2⁶⁴·w/(d·s)` (the maximum's
/// ties get `RN(w/(d·s))`), then the target's own `−(w/d)·(1 − y_c)` with `1 − t_c/s` in
/// double-double, `t_c` the stored term: exactly `2^LIFT` when `x_c` is the maximum (and
/// `s = ties + rest` held exactly enough that `1 − 1/s` keeps its bits however small), else
/// rounded by at most about half an ulp of the difference (`y_c ≤ 1/2` then). `None` for a row the vector path does not take (a
/// NaN, an infinity, a maximum beyond its range, or a nonzero `w/d` outside `[2⁻⁴⁰⁰, 2⁸⁰⁰]`,
/// where the scaled products could leave the normal range); the gradient may hold stored terms
/// by then.
#[inline(always)]
unsafe fn cross_entropy_row<S: SimdD>(
    x: &[f64],
    c: usize,
    weight: f64,
    divisor: f64,
    grad: Option<&mut [f64]>,
    ahead: Option<&[f64]>,
) -> Option<f64> {
    let mut grad = grad;
    let st = unsafe { ce_stats::<S>(x, (c, weight, divisor), grad.as_deref_mut(), ahead) }?;
    let ln_sum = ln_1p_dd(st.2.add_f64(st.1 - 1.0));
    Some(unsafe { ce_finish::<S>(x, (c, weight, divisor), grad, st, ln_sum) })
}

/// Passes 1 and 2 of [`cross_entropy_row`] against `(class, weight, divisor)` (storing the
/// terms in `grad` when there is one): `(max, ties, rest)`, or `None` for a row the vector path
/// does not take.
#[inline(always)]
unsafe fn ce_stats<S: SimdD>(
    x: &[f64],
    (c, weight, divisor): (usize, f64, f64),
    grad: Option<&mut [f64]>,
    ahead: Option<&[f64]>,
) -> Option<(f64, f64, Dd)> {
    let xc = x[c];
    let factor = weight / divisor;
    let factor_ok = factor == 0.0 || (2f64.powi(-400)..=2f64.powi(800)).contains(&factor.abs());
    if !xc.is_finite() || !factor_ok {
        return None;
    }
    let ahead = ahead.filter(|_| x.len() >= PREFETCH_FROM);
    unsafe {
        match grad {
            Some(g) => stats::<S, true, true>(x, g.as_mut_ptr(), ahead),
            None => stats::<S, false, true>(x, std::ptr::null_mut(), ahead),
        }
    }
}

/// The rest of [`cross_entropy_row`] from its statistics and `ln s`: the loss, and pass 3 of
/// the gradient.
#[inline(always)]
unsafe fn ce_finish<S: SimdD>(
    x: &[f64],
    (c, weight, divisor): (usize, f64, f64),
    grad: Option<&mut [f64]>,
    (max, ties, rest): (f64, f64, Dd),
    ln_sum: Dd,
) -> f64 {
    // x_c − m exactly, ≤ 0.
    let (oh, ol) = two_sum(x[c], -max);
    // A zero weight makes the loss 0 (as the portable path's `0 · ln 0 = 0` rule does).
    let loss = if weight == 0.0 { 0.0 } else { ln_sum.sub(Dd { hi: oh, lo: ol }).mul_f64(weight).to_f64() };
    if let Some(g) = grad {
        let sum = rest.add_f64(ties);
        // The target's stored term, before pass 3 scales it.
        let tc = g[c];
        let r = Dd::new(weight).div(sum.mul_f64(divisor)).ldexp(OUT_LIFT - LIFT as i32);
        unsafe { scale_pass::<S>(g, r) };
        // 1 − y_c: the maximum's stored term is exactly 2^LIFT, and any other term's rounding is at
        // most about half an ulp of the difference (y_c ≤ 1/2 then).
        let rest_of_one = Dd::ONE.sub(Dd::new(tc).ldexp(-(LIFT as i32)).div(sum));
        g[c] = rest_of_one.mul(Dd::new(weight).div(Dd::new(divisor))).neg().to_f64();
    }
    loss
}

/// [`cross_entropy_row`] for rows shorter than [`PREFETCH_FROM`], in batches ([`batches`]):
/// every row's passes 1 and 2, then their `ln s` a vector of rows at a time ([`ln_sums_dd`]),
/// then every row's loss and pass 3. `targets[i]` is row `i`'s class and weight, or `None` for a
/// row not to compute; `out[i]` gets its loss, or stays `None` for a row the vector path does
/// not take (its gradient row may hold stored terms by then).
#[inline(always)]
unsafe fn cross_entropy_rows<S: SimdD>(
    x: &[f64],
    len: usize,
    targets: &[Option<(usize, f64)>],
    divisor: f64,
    grad: Option<&mut [f64]>,
    out: &mut [Option<f64>],
) {
    let n = batch_rows(len);
    let mut g_batches = grad.map(|g| g.chunks_mut(n * len));
    for ((xs, ts), os) in batches(x, len).zip(targets.chunks(n)).zip(out.chunks_mut(n)) {
        let mut gb = g_batches.as_mut().and_then(Iterator::next);
        let mut found = [None; 16];
        let mut g_rows = gb.as_deref_mut().map(|g| g.chunks_exact_mut(len));
        for ((xr, t), st) in xs.chunks_exact(len).zip(ts).zip(found.iter_mut()) {
            let gr = g_rows.as_mut().and_then(Iterator::next);
            if let Some((c, w)) = *t {
                *st = unsafe { ce_stats::<S>(xr, (c, w, divisor), gr, None) };
            }
        }
        let ln = ln_sums_dd::<S>(&found);
        let mut g_rows = gb.map(|g| g.chunks_exact_mut(len));
        for (i, ((xr, t), o)) in xs.chunks_exact(len).zip(ts).zip(os.iter_mut()).enumerate() {
            let gr = g_rows.as_mut().and_then(Iterator::next);
            if let (Some((c, w)), Some(st), Some(ln_sum)) = (*t, found[i], ln[i]) {
                *o = Some(unsafe { ce_finish::<S>(xr, (c, w, divisor), gr, st, ln_sum) });
            }
        }
    }
}

/// `ln(1 + u)` for lanes of double-doubles `u = uh + ul ≥ 0` (finite, `1 + uh` below 2¹⁰²³), to
/// about 2⁻⁵⁸ relative however small `u` is: the vector kernels' `ln s` of a batch of short
/// rows, where [`ln_1p_dd`] (a library `ln_1p` and a Newton step through `exp`, about 2⁻⁵⁶) would
/// cost a scalar chain per row.
///
/// `1 + u = 2^e·(1 + t)` with `1 + t` in `[√½, √2)`, `t` formed exactly as a double-double (for
/// `e = 0` it is `u` itself, so a tiny `u` keeps its relative accuracy); `z = t/(2 + t)` by one
/// division and an exact remainder (FMA), within about 2⁻¹⁰⁴; then `ln(1 + t) = 2·atanh(z) = 2z +
/// z·w·P(w)`, the series in plain `f64` (it is at most 0.01 of `2z`, so its roundings cost under
/// 2⁻⁵⁸ of the result), and `e·ln 2` in two parts.
#[inline(always)]
fn ln_1p_dd_lanes<S: SimdD>(uh: S, ul: S) -> (S, S) {
    use crate::kernels::exp::{ATANH, LN2_HI, LN2_LO};
    let (one, two) = (S::splat(1.0), S::splat(2.0));
    // 1 + u = sh + se + ul, sh = RN(1 + uh) and se its error, exactly.
    let (sh, se) = two_sum_v(one, uh);
    let (e, f) = crate::kernels::exp::Lanes::split_sqrt2(sh);
    // t = (f − 1) + (se + ul)·2^−e: f − 1 is exact (Sterbenz), the scalings too; `se` and `ul`
    // join only after the TwoSum, so that a tiny `u` (where `f − 1 = 0` and `se = uh`) keeps
    // both its parts.
    let down = S::splat(0.0).sub(e);
    let (th, tl0) = two_sum_v(f.sub(one), se.scale_floor(down));
    let tl = tl0.add(ul.scale_floor(down));
    // z = t/(2 + t): q1 = RN(th/dh), the remainder th − q1·dh exact by FMA.
    let (dh, de) = two_sum_v(two, th);
    let dl = de.add(tl);
    let q1 = th.div(dh);
    let rem = S::fma(S::splat(0.0).sub(q1), dh, th).add(tl).sub(q1.mul(dl));
    let (zh, zl) = fast_two_sum_v(q1, rem.div(dh));
    let w = zh.mul(zh);
    // Σ ATANH[k]·w^k (all twelve) by Estrin's scheme.
    let c = |k: usize| S::splat(ATANH[k]);
    let pair = |k: usize| S::fma(c(k + 1), w, c(k));
    let (w2, w4) = (w.mul(w), w.mul(w).mul(w.mul(w)));
    let w8 = w4.mul(w4);
    let p = S::fma(
        w8,
        S::fma(w2, pair(10), pair(8)),
        S::fma(w4, S::fma(w2, pair(6), pair(4)), S::fma(w2, pair(2), pair(0))),
    );
    let tail = zh.mul(w).mul(p);
    // e·ln 2 + 2z + tail: e·LN2_HI is exact (|e| < 2¹⁰, 32-bit LN2_HI), 2z too.
    let (ah, al) = two_sum_v(e.mul(S::splat(LN2_HI)), zh.add(zh));
    let lo = al.add(e.mul(S::splat(LN2_LO)).add(zl.add(zl).add(tail)));
    fast_two_sum_v(ah, lo)
}

/// `(a + b, error)` lane by lane for `|a| ≥ |b|` or `a = 0` (FastTwoSum).
#[inline(always)]
fn fast_two_sum_v<S: SimdD>(a: S, b: S) -> (S, S) {
    let s = a.add(b);
    (s, b.sub(s.sub(a)))
}

/// `ln s` of up to 16 rows from their statistics `(ties, rest)` (`s = ties + rest`), a vector of
/// rows at a time ([`ln_1p_dd_lanes`] of `(ties − 1) + rest`); `None` stays `None`.
#[inline(always)]
fn ln_sums_dd<S: SimdD>(found: &[Option<(f64, f64, Dd)>; 16]) -> [Option<Dd>; 16] {
    let (mut uh, mut ul) = ([0.0f64; 16], [0.0f64; 16]);
    for (i, st) in found.iter().enumerate() {
        if let Some((_, ties, rest)) = st {
            let u = rest.add_f64(ties - 1.0);
            (uh[i], ul[i]) = (u.hi, u.lo);
        }
    }
    let (mut lh, mut ll) = ([0.0f64; 16], [0.0f64; 16]);
    let mut i = 0;
    while i < 16 {
        // SAFETY: `i + S::LANES ≤ 16`: the arrays hold 16 lanes and `S::LANES` divides 16.
        unsafe {
            let (h, l) = ln_1p_dd_lanes(S::load(uh.as_ptr().add(i)), S::load(ul.as_ptr().add(i)));
            h.store(lh.as_mut_ptr().add(i));
            l.store(ll.as_mut_ptr().add(i));
        }
        i += S::LANES;
    }
    let mut out = [None; 16];
    for (i, (o, st)) in out.iter_mut().zip(found).enumerate() {
        *o = st.map(|_| Dd { hi: lh[i], lo: ll[i] });
    }
    out
}

/// Softmax or log-softmax of each contiguous row of length `len`; rows the vector path does
/// not take go to `fallback`. Log-softmax rows shorter than [`PREFETCH_FROM`] go in batches
/// ([`batches`]): every row's passes 1 and 2, then their `ln s` a vector of rows at a time
/// ([`ln_sums_dd`]) instead of a scalar chain per row, then every row's pass 3. (Softmax's `1/s`
/// is cheaper, and batching its rows measured no faster.)
#[inline(always)]
unsafe fn rows<S: SimdD>(op: Op, x: &[f64], y: &mut [f64], len: usize, fallback: &super::Fallback64) {
    if op == Op::LogSoftmax && len < PREFETCH_FROM {
        for (xs, ys) in batches(x, len).zip(y.chunks_mut(batch_rows(len) * len)) {
            // Every row's extremes first: a row's pass 2 then waits for no reduction just finished.
            let (mut found, mut extremes) = ([None; 16], [(0.0, 0.0); 16]);
            for (xr, e) in xs.chunks_exact(len).zip(extremes.iter_mut()) {
                *e = unsafe { extremes_pass::<S>(xr) };
            }
            for ((xr, st), e) in xs.chunks_exact(len).zip(found.iter_mut()).zip(extremes) {
                *st = unsafe { stats_from::<S, false, true>(xr, std::ptr::null_mut(), None, e) };
            }
            let ln = ln_sums_dd::<S>(&found);
            for (((xr, yr), st), ln) in xs.chunks_exact(len).zip(ys.chunks_exact_mut(len)).zip(found).zip(ln)
            {
                match (st, ln) {
                    (Some((max, _, _)), Some(ln_sum)) => unsafe { log_softmax_out::<S>(xr, yr, max, ln_sum) },
                    _ => fallback(xr, yr),
                }
            }
        }
        return;
    }
    for (r, (xr, yr)) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)).enumerate() {
        if !unsafe { row::<S>(op, xr, yr, next_row(x, len, r)) } {
            fallback(xr, yr);
        }
    }
}

/// Rows of `len` (below [`PREFETCH_FROM`]) a batch holds: up to 16 and [`BATCH_ELEMS`] elements,
/// so that pass 3 finds them in L1.
fn batch_rows(len: usize) -> usize {
    (BATCH_ELEMS / len).clamp(1, 16)
}

/// `x` in batches of [`batch_rows`] rows.
fn batches(x: &[f64], len: usize) -> std::slice::Chunks<'_, f64> {
    x.chunks(batch_rows(len) * len)
}

/// The most elements a batch of short rows holds (16 KiB of `f64`).
const BATCH_ELEMS: usize = 2048;

/// Rows at least this long have the next row prefetched into L2 during their pass 2, so that
/// its pass 1 (which only loads and compares) does not wait for memory.
const PREFETCH_FROM: usize = super::F64_BATCH_BELOW;

/// The row after row `r` of `x` (rows of `len`), if there is one and rows are long enough to
/// prefetch.
#[inline(always)]
fn next_row(x: &[f64], len: usize, r: usize) -> Option<&[f64]> {
    if len < PREFETCH_FROM { None } else { x.get((r + 1) * len..(r + 2) * len) }
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

/// The softmax backward pass of contiguous rows of length `len` (with `log`, the log-softmax
/// one: [`log_backward_row`]). Softmax rows whose dot product is not finite (a NaN or an infinity
/// in `y` or `dy`), and the log-softmax rows [`log_backward_row`] leaves, go to `fallback`.
#[inline(always)]
unsafe fn backward_rows<S: SimdD>(
    log: bool,
    y: &[f64],
    dy: &[f64],
    dx: &mut [f64],
    len: usize,
    fallback: &super::BackwardFallback64,
) {
    if log {
        let rows = y.chunks_exact(len).zip(dy.chunks_exact(len)).zip(dx.chunks_exact_mut(len));
        for ((yr, dyr), dxr) in rows {
            if !unsafe { log_backward_row::<S>(yr, dyr, dxr) } {
                fallback(yr, dyr, dxr);
            }
        }
        return;
    }
    // Short rows a batch at a time (up to 16 rows, `BATCH_ELEMS` elements), every row's dot
    // product before any row's outputs: a row's outputs then wait for no reduction just finished.
    let batch = batch_rows(len) * len;
    for ((ys, dys), dxs) in y.chunks(batch).zip(dy.chunks(batch)).zip(dx.chunks_mut(batch)) {
        let mut dots = [Dd { hi: 0.0, lo: 0.0 }; 16];
        for ((yr, dyr), d) in ys.chunks_exact(len).zip(dys.chunks_exact(len)).zip(dots.iter_mut()) {
            *d = unsafe { dot_pass::<S>(yr, dyr) };
        }
        let rows = ys.chunks_exact(len).zip(dys.chunks_exact(len)).zip(dxs.chunks_exact_mut(len));
        for (((yr, dyr), dxr), dot) in rows.zip(dots) {
            if dot.hi.is_finite() && dot.lo.is_finite() {
                unsafe { vjp_pass::<S>(yr, dyr, dxr, dot) };
            } else {
                fallback(yr, dyr, dxr);
            }
        }
    }
}

/// One vector of [`log_backward_row`]'s pass 2: `RN(dy − C·exp(ly − m))`, 0 where `ly = −inf`
/// (a function, not a closure, so that it inherits the caller's target features).
#[inline(always)]
fn log_backward_out<S: SimdD>(k: &Consts<S>, y: S, d: S, neg_ch: S, neg_cl: S) -> S {
    // exp(ly − m) = hi + missed, both scaled back from 2^LIFT (exact while normal).
    let down = S::splat(2f64.powi(-(LIFT as i32)));
    let (hi, th, q) = k.term::<GENERAL>(y);
    let missed = S::fma(th, q, th.sub(hi)).mul(down);
    let hi = hi.mul(down);
    // dy − C·(hi + missed): C_h·hi = P + Pe exactly, dy − P = s + se exactly.
    let prod = hi.mul(neg_ch);
    let prod_err = S::fma(hi, neg_ch, S::splat(0.0).sub(prod));
    let (s, se) = two_sum_v(d, prod);
    let small = S::fma(neg_cl, hi, S::fma(neg_ch, missed, se.add(prod_err)));
    s.add(small).zero_where(y.eq(S::splat(f64::NEG_INFINITY)))
}

/// One row of the log-softmax backward pass: `dx = dy − exp(ly)·Σ dy`. Pass 1 takes `Σ dy`
/// (compensated, good to about 2⁻¹⁰⁰) and the maximum `m` of `ly`; pass 2 forms each
/// `exp(ly − m)` as softmax's pass 2 does (`hi`, and what `hi` missed of it) and
/// `dx = RN(dy − C·exp(ly − m))` with `C = Σ dy·exp(m)` a double-double: `dy − C_h·hi` formed
/// exactly (the product's error by FMA, the difference by TwoSum) and the small terms added to its
/// low part, so that the one rounding that matters is the last. Entries where `ly = −inf` get 0.
/// False, to leave the row to the fallback (`dx` may be written by then), for a row with a NaN or
/// an infinity (other than `ly = −inf`), or `m` outside `[−600, 20]`: log-probabilities have
/// `m ≤ 0`, and within that range a term that pass 2 clamps (`ly < m − 760`) or that falls below
/// the normal range once scaled back is worth under `2⁻¹⁰⁴⁰·|Σ dy|`, while `C` and its low part
/// stay normal for any `|Σ dy| ≥ 2⁻¹⁰⁰`.
#[inline(always)]
unsafe fn log_backward_row<S: SimdD>(ly: &[f64], dy: &[f64], dx: &mut [f64]) -> bool {
    let (n, pl, pd, px, l) = (ly.len(), ly.as_ptr(), dy.as_ptr(), dx.as_mut_ptr(), S::LANES);
    let zero = S::splat(0.0);
    let mut acc = [Acc::new(0.0); 2];
    let mut top = [S::splat(f64::NEG_INFINITY); 2];
    let mut i = 0;
    unsafe {
        while i + 2 * l <= n {
            for u in 0..2 {
                acc[u].add_exact(S::load(pd.add(i + u * l)));
                top[u] = top[u].max(S::load(pl.add(i + u * l)));
            }
            i += 2 * l;
        }
        while i < n {
            let part = (n - i).min(l);
            let (d, y) = if part == l {
                (S::load(pd.add(i)), S::load(pl.add(i)))
            } else {
                (S::load_part(pd.add(i), part, 0.0), S::load_part(pl.add(i), part, f64::NEG_INFINITY))
            };
            acc[0].add_exact(d);
            top[0] = top[0].max(y);
            i += part;
        }
    }
    let total = combine(&acc);
    let m = top[0].max(top[1]).reduce_max();
    // A NaN or an infinity in dy shows in the sum; +inf (or all −inf) in ly, in m. A NaN in ly
    // may hide from the maximum: pass 2's outputs show it.
    if !total.hi.is_finite() || !(-600.0..=20.0).contains(&m) {
        return false;
    }
    let (p, e) = exp_dd(Dd::new(m));
    let c = total.mul(p).ldexp(e);
    if !c.hi.is_finite() {
        return false;
    }
    let k = Consts::<S>::new(m);
    let (neg_ch, neg_cl) = (S::splat(-c.hi), S::splat(-c.lo));
    let mut check = zero;
    let mut i = 0;
    unsafe {
        while i + l <= n {
            let v = log_backward_out(&k, S::load(pl.add(i)), S::load(pd.add(i)), neg_ch, neg_cl);
            check = check.add(v.sub(v));
            v.store(px.add(i));
            i += l;
        }
        if i < n {
            let (y, d) = (S::load_part(pl.add(i), n - i, 0.0), S::load_part(pd.add(i), n - i, 0.0));
            let v = log_backward_out(&k, y, d, neg_ch, neg_cl);
            check = check.add(v.sub(v));
            v.store_part(px.add(i), n - i);
        }
    }
    // Finite inputs give finite outputs: a NaN here came from a NaN in ly.
    check.lanes().iter().take(S::LANES).all(|v| *v == 0.0)
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
            /// As [`rows`]; `c < x.len()`, and `grad` (if any) as long as `x`.
            #[target_feature(enable = $features)]
            pub unsafe fn cross_entropy_row(
                x: &[f64],
                c: usize,
                weight: f64,
                divisor: f64,
                grad: Option<&mut [f64]>,
                ahead: Option<&[f64]>,
            ) -> Option<f64> {
                unsafe { super::cross_entropy_row::<$v>(x, c, weight, divisor, grad, ahead) }
            }

            /// # Safety
            /// As [`rows`]; `len < PREFETCH_FROM`, `x` whole rows, one target (a class below
            /// `len`) and one output per row, and `grad` (if any) as long as `x`.
            #[target_feature(enable = $features)]
            pub unsafe fn cross_entropy_rows(
                x: &[f64],
                len: usize,
                targets: &[Option<(usize, f64)>],
                divisor: f64,
                grad: Option<&mut [f64]>,
                out: &mut [Option<f64>],
            ) {
                unsafe { super::cross_entropy_rows::<$v>(x, len, targets, divisor, grad, out) }
            }

            /// # Safety
            /// As [`rows`]; the slices have one length, a multiple of `len`.
            #[target_feature(enable = $features)]
            pub unsafe fn backward_rows(
                log: bool,
                y: &[f64],
                dy: &[f64],
                dx: &mut [f64],
                len: usize,
                fallback: &super::super::BackwardFallback64,
            ) {
                unsafe { super::backward_rows::<$v>(log, y, dy, dx, len, fallback) }
            }
        }
    };
}

entry_points!(avx512, D8, "avx512f,avx512dq,avx2,fma,popcnt");
entry_points!(avx2, D4, "avx2,fma,popcnt");

#[cfg(test)]
mod tests {
    use super::*;
    use softmax_oracle::Exact;

    #[test]
    fn the_exponential_table_is_the_nearest_pair() {
        for j in 0..16 {
            let (hi, lo) = (EXP2_HI[j], EXP2_LO[j]);
            // Raised to the 16th power (four double-double squarings, each within about 2⁻¹⁰⁴),
            // the pair must give 2^j: an error δ in it shows as 16δ.
            let mut v = Dd { hi, lo };
            for _ in 0..4 {
                v = v.mul(v);
            }
            let exact = 2f64.powi(j as i32);
            let err = ((v.hi - exact) + v.lo) / exact;
            assert!(err.abs() < 2f64.powi(-100), "entry {j}: the 16th power is off by {err:e}");
            let ulp = f64::from_bits(hi.to_bits() + 1) - hi;
            assert!(lo.abs() <= ulp / 2.0, "entry {j}: the high part is not the nearest f64");
        }
    }

    /// The largest relative error of `th·(1 + p)` against `exp(x − m)·2^LIFT` (the oracle's).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn worst_term_error<S: SimdD>(max: f64, x: &[f64]) -> f64 {
        let min = x.iter().fold(f64::INFINITY, |a, &b| a.min(b));
        let general = unsafe { worst_term_error_in::<S, GENERAL>(max, x) };
        general.max(match reduction(max, min) {
            X_FIRST => unsafe { worst_term_error_in::<S, X_FIRST>(max, x) },
            MAX_FIRST => unsafe { worst_term_error_in::<S, MAX_FIRST>(max, x) },
            _ => 0.0,
        })
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn worst_term_error_in<S: SimdD, const MODE: u8>(max: f64, x: &[f64]) -> f64 {
        let c = Consts::<S>::new(max);
        let lift = Exact::from_f64(2f64.powi(LIFT as i32));
        let mut worst = 0f64;
        for chunk in x.chunks_exact(S::LANES) {
            let (_, th, p) = c.term::<MODE>(unsafe { S::load(chunk.as_ptr()) });
            let (th, p) = (th.lanes(), p.lanes());
            for (i, &v) in chunk.iter().enumerate() {
                let exact = Exact::from_f64(v).sub(&Exact::from_f64(max)).exp().mul(&lift);
                let th = Exact::from_f64(th[i]);
                let got = th.add(&th.mul(&Exact::from_f64(p[i])));
                let err = got.sub(&exact).div(&exact).to_f64().abs();
                worst = worst.max(err);
            }
        }
        worst
    }

    #[test]
    fn the_terms_are_within_2_to_the_minus_57() {
        let mut x = Vec::new();
        let mut state = 1u64;
        // Every way of forming x − m: the general one for all, a fixed order where the row allows
        // it (negative maxima; 500 and above, where the row spans zero or not).
        for max in [
            0.0,
            1.234_567_890_123_456_7,
            -3.751_234_567_890_123,
            100.0,
            500.123_456_789_012_3,
            1e6 + 0.1,
            -2.5e8,
            7e11,
        ] {
            // A fine grid near the maximum, the rounding boundaries of n (multiples of ln 2/32),
            // and random values down to the floor.
            x.clear();
            x.extend((0..400).map(|i| max - f64::from(i) * 1e-3));
            x.extend((0..400).map(|i| max - f64::from(i) * std::f64::consts::LN_2 / 32.0));
            let mut unit = || {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                (state >> 11) as f64 / (1u64 << 53) as f64
            };
            for _ in 0..800 {
                x.push(max - unit() * (FLOOR - 1.0));
                // The same with the low bits scrambled, so that x − m is not exact in f64.
                let v = (max - unit() * (FLOOR - 1.0)) * (1.0 - unit() * 2f64.powi(-20));
                x.push(v.clamp(max - (FLOOR - 1.0), max));
            }
            let mut found = vec![];
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512dq")
            {
                found.push(unsafe { worst_term_error_512(max, &x) });
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                found.push(unsafe { worst_term_error::<D4>(max, &x) });
            }
            for worst in found {
                assert!(worst < 2f64.powi(-57), "max {max}: a term off by {worst:e} relative");
            }
        }
    }

    /// Pass 2's sums against the exact sums of the terms it computes (`th·(1 + p)` of each
    /// entry, added up by the oracle): the whole sum (softmax's, Fast2Sum against the bias) and
    /// the sum of the terms other than the maximum's ties (TwoSum from zero), with the ties
    /// counted. Returns the largest relative error of the two sums.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn worst_sum_error<S: SimdD>(x: &[f64]) -> f64 {
        let max = x.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let c = Consts::<S>::new(max);
        let (mut all, mut rest, mut ties) = (Exact::from_f64(0.0), Exact::from_f64(0.0), 0.0);
        for &v in x {
            let (_, th, p) = c.term::<GENERAL>(S::splat(v));
            let th = Exact::from_f64(th.lanes()[0]);
            let term = th.add(&th.mul(&Exact::from_f64(p.lanes()[0])));
            all = all.add(&term);
            if v == max {
                ties += 1.0;
            } else {
                rest = rest.add(&term);
            }
        }
        let (_, got_all) = unsafe { sum_pass::<S, false, false, GENERAL>(x, std::ptr::null_mut(), None, &c) };
        let (got_ties, got_rest) =
            unsafe { sum_pass::<S, false, true, GENERAL>(x, std::ptr::null_mut(), None, &c) };
        assert_eq!(got_ties, ties, "ties of a row of {}", x.len());
        let err = |got: Dd, exact: &Exact| {
            let got = Exact::from_f64(got.hi).add(&Exact::from_f64(got.lo));
            if exact.is_zero() { got.to_f64().abs() } else { got.sub(exact).div(exact).to_f64().abs() }
        };
        err(got_all, &all).max(err(got_rest, &rest))
    }

    #[test]
    fn the_sums_are_within_2_to_the_minus_100() {
        let mut state = 7u64;
        let mut uniform = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut rows: Vec<Vec<f64>> = Vec::new();
        for (len, spread) in
            [(1, 1.0), (7, 3.0), (19, 30.0), (100, 1.0), (1000, 5.0), (1000, 700.0), (3001, 40.0)]
        {
            rows.push((0..len).map(|_| (uniform() - 0.5) * 2.0 * spread).collect());
        }
        // Ties of the maximum, and terms many binades below the rest (whose sum is then tiny).
        rows.push((0..300).map(|i| if i % 7 == 0 { 3.0 } else { 3.0 - 50.0 - uniform() * 600.0 }).collect());
        rows.push((0..64).map(|i| if i % 2 == 0 { -1.5 } else { -1.5 - 1e-9 * uniform() }).collect());
        for x in &rows {
            let mut found = vec![];
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512dq")
            {
                found.push(unsafe { worst_sum_error_512(x) });
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                found.push(unsafe { worst_sum_error::<D4>(x) });
            }
            for worst in found {
                assert!(worst < 2f64.powi(-100), "a row of {}: a sum off by {worst:e} relative", x.len());
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn worst_sum_error_512(x: &[f64]) -> f64 {
        unsafe { worst_sum_error::<D8>(x) }
    }

    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn worst_term_error_512(max: f64, x: &[f64]) -> f64 {
        unsafe { worst_term_error::<D8>(max, x) }
    }
    /// The largest relative error of [`ln_1p_dd_lanes`] over `us`, a vector of them at a time.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn worst_ln_1p_error<S: SimdD>(us: &[Dd]) -> f64 {
        let mut worst: f64 = 0.0;
        for group in us.chunks(S::LANES) {
            let (mut uh, mut ul) = ([0.0f64; 8], [0.0f64; 8]);
            for (i, u) in group.iter().enumerate() {
                (uh[i], ul[i]) = (u.hi, u.lo);
            }
            let (mut lh, mut ll) = ([0.0f64; 8], [0.0f64; 8]);
            unsafe {
                let (h, l) = ln_1p_dd_lanes(S::load(uh.as_ptr()), S::load(ul.as_ptr()));
                h.store(lh.as_mut_ptr());
                l.store(ll.as_mut_ptr());
            }
            for (i, u) in group.iter().enumerate() {
                if u.hi == 0.0 {
                    assert_eq!((lh[i], ll[i]), (0.0, 0.0), "ln_1p(0)");
                    continue;
                }
                let got = Exact::from_f64(lh[i]).add(&Exact::from_f64(ll[i]));
                let exact = Exact::from_f64(u.hi).add(&Exact::from_f64(u.lo)).add(&Exact::from_f64(1.0)).ln();
                let err = got.sub(&exact).div(&exact).to_f64().abs();
                worst = worst.max(err);
            }
        }
        worst
    }

    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn worst_ln_1p_error_512(us: &[Dd]) -> f64 {
        unsafe { worst_ln_1p_error::<D8>(us) }
    }

    /// The batches' `ln s`: `ln(1 + u)` within 2⁻⁵⁷ relative for `u` from 0 and 2⁻¹⁰⁰ to 2⁴⁰,
    /// with low parts, and at the edges of the reduction (`1 + u` near `√2·2^e`).
    #[test]
    fn ln_1p_dd_lanes_is_good_to_2_pow_minus_57() {
        let mut state = 11u64;
        let mut uniform = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut us = vec![Dd::ZERO, Dd { hi: 2f64.powi(-100), lo: 0.0 }, Dd { hi: 1e-25, lo: 1e-42 }];
        for _ in 0..4000 {
            let hi = 2f64.powf(-60.0 + 100.0 * uniform());
            us.push(Dd { hi, lo: hi * (uniform() - 0.5) * 2f64.powi(-53) });
        }
        for _ in 0..2000 {
            let hi = 3.0 * uniform();
            us.push(Dd { hi, lo: hi * (uniform() - 0.5) * 2f64.powi(-53) });
        }
        for e in 0..12 {
            let edge = std::f64::consts::SQRT_2 * 2f64.powi(e) - 1.0;
            for v in [edge, edge.next_up(), edge.next_down(), 2f64.powi(e) - 1.0, 2f64.powi(e)] {
                us.push(Dd { hi: v, lo: 0.0 });
                us.push(Dd { hi: v, lo: v * 1e-17 });
            }
        }
        let mut found = vec![];
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512dq") {
            found.push(unsafe { worst_ln_1p_error_512(&us) });
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            found.push(unsafe { worst_ln_1p_error::<D4>(&us) });
        }
        for worst in found {
            assert!(worst < 2f64.powi(-57), "ln_1p off by {worst:e} relative");
        }
    }
}
