//! Softmax and log-softmax of `f16` and `bf16` rows read and written in their own format: the
//! values are widened as they are loaded and rounded once as they are stored, with `f32`
//! arithmetic in between.
//!
//! A half output needs far less than the `f32` kernels' exactness: its own ulp is 2⁻¹¹ (`f16`)
//! or 2⁻⁸ (`bf16`) relative, and an `f32` result within about 2⁻¹³ of exact rounds to within
//! `0.5 + 2⁻²` ulp of the half type (SPEC asks for 1). So:
//! - `x − m` is rounded in `f32`: exact but for rows so wide that the entry is far below
//!   anything an output can show (relative error `|x − m|·2⁻²⁴` otherwise, under 2⁻¹⁷ for the
//!   `|x − m| ≤ 92` that can reach a half output);
//! - `exp` has a two-part Cody–Waite reduction and a polynomial of degree 4 (about 2⁻¹⁷·⁵
//!   relative, 2⁻⁶·⁵ of an `f16` ulp);
//! - the sum is accumulated in `f32` lanes, 64 accumulators per row (32 with AVX2): a row of at
//!   most [`CHUNK`] (2¹⁶) elements adds at most 2048 terms into one, within 2¹¹·2⁻²⁴ = 2⁻¹³
//!   relative at worst (and about 2⁻¹⁸ for sums whose roundings do not all go one way). Longer
//!   rows are cut into chunks whose sums are added in `f64`.
//!
//! Softmax stores each term, as an `f32`, in a scratch row in pass 2 and scales it from there in
//! pass 3, where the half output is rounded once (rows longer than [`CHUNK`], whose terms would
//! not stay in cache, recompute them instead). Log-softmax counts the maximum's ties apart (their
//! terms are exactly 1), so that `Σ − 1` and with it a dominant class's log-probability keep
//! their relative accuracy. Rows with a NaN or an infinite maximum are handed back to the caller.
//!
//! [`CHUNK`]: super::super::CHUNK

use super::*;

/// `ln 2 = LN2_HI + LN2_LO`, `LN2_HI` with 16 significant bits (`n·LN2_HI` exact for `|n| < 2^8`).
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// Below `x − m = −104` no half output can be reached (`e⁻⁹²` is under the smallest `bf16`).
const FLOOR: f32 = -104.0;

/// `exp(r) ≈ 1 + r + r²·(P2 + P3·r + P4·r²)`, relative error below 2⁻¹⁷·⁵ on `|r| ≤ 0.3468`
/// with these `f32` coefficients (fitted by iteratively reweighted least squares on Chebyshev
/// nodes against the exact exponential, then checked on a fine grid): 2⁻⁶·⁵ of an `f16` ulp.
const P2: f32 = 0.500_051_26;
const P3: f32 = 0.167_536_14;
const P4: f32 = 0.041_277_297;

/// The constants of one half type.
trait HalfFormat {
    /// The bits of `−inf`.
    const NEG_INF: u16;
    /// The largest finite value, and the `f32` halfway between it and the next power of two,
    /// which `Element::from_f64` rounds down to it (not up to infinity).
    const MAX: f32;
    const EDGE: f32;
}

/// Loads and stores of one half type with one vector width.
trait HalfIo<S: Simd>: HalfFormat {
    unsafe fn load(p: *const u16) -> S;
    unsafe fn store(v: S, p: *mut u16);
}

struct F16;
struct Bf16;

impl HalfFormat for F16 {
    const NEG_INF: u16 = 0xFC00;
    const MAX: f32 = 65504.0;
    const EDGE: f32 = 65520.0;
}

impl HalfFormat for Bf16 {
    const NEG_INF: u16 = 0xFF80;
    const MAX: f32 = f32::from_bits(0x7F7F_0000);
    const EDGE: f32 = f32::from_bits(0x7F7F_8000);
}

impl HalfIo<V16> for F16 {
    #[inline(always)]
    unsafe fn load(p: *const u16) -> V16 {
        unsafe { V16(_mm512_cvtph_ps(_mm256_loadu_si256(p.cast()))) }
    }
    #[inline(always)]
    unsafe fn store(v: V16, p: *mut u16) {
        unsafe {
            let h = _mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v.0);
            _mm256_storeu_si256(p.cast(), h)
        }
    }
}

impl HalfIo<V16> for Bf16 {
    #[inline(always)]
    unsafe fn load(p: *const u16) -> V16 {
        unsafe {
            let w = _mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(_mm256_loadu_si256(p.cast())));
            V16(_mm512_castsi512_ps(w))
        }
    }
    #[inline(always)]
    unsafe fn store(v: V16, p: *mut u16) {
        // To nearest, ties to even (the rows here hold no NaN).
        unsafe {
            let b = _mm512_castps_si512(v.0);
            let odd = _mm512_and_si512(_mm512_srli_epi32::<16>(b), _mm512_set1_epi32(1));
            let rounded = _mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7FFF)), odd);
            _mm256_storeu_si256(p.cast(), _mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(rounded)))
        }
    }
}

impl HalfIo<V8> for F16 {
    #[inline(always)]
    unsafe fn load(p: *const u16) -> V8 {
        unsafe { V8(_mm256_cvtph_ps(_mm_loadu_si128(p.cast()))) }
    }
    #[inline(always)]
    unsafe fn store(v: V8, p: *mut u16) {
        unsafe { _mm_storeu_si128(p.cast(), _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v.0)) }
    }
}

impl HalfIo<V8> for Bf16 {
    #[inline(always)]
    unsafe fn load(p: *const u16) -> V8 {
        unsafe {
            let w = _mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(_mm_loadu_si128(p.cast())));
            V8(_mm256_castsi256_ps(w))
        }
    }
    #[inline(always)]
    unsafe fn store(v: V8, p: *mut u16) {
        unsafe {
            let b = _mm256_castps_si256(v.0);
            let odd = _mm256_and_si256(_mm256_srli_epi32::<16>(b), _mm256_set1_epi32(1));
            let rounded = _mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7FFF)), odd);
            let bits = _mm256_srli_epi32::<16>(rounded);
            let packed = _mm_packus_epi32(_mm256_castsi256_si128(bits), _mm256_extracti128_si256::<1>(bits));
            _mm_storeu_si128(p.cast(), packed)
        }
    }
}

/// The first `n < LANES` values from `p`, the others `fill` (through a small buffer: once per
/// row).
#[inline(always)]
unsafe fn load_part<S: Simd, H: HalfIo<S>>(p: *const u16, n: usize, fill: u16) -> S {
    let mut buf = [fill; 16];
    unsafe {
        std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n);
        H::load(buf.as_ptr())
    }
}

/// Stores the first `n < LANES` lanes to `p`.
#[inline(always)]
unsafe fn store_part<S: Simd, H: HalfIo<S>>(v: S, p: *mut u16, n: usize) {
    let mut buf = [0u16; 16];
    unsafe {
        H::store(v, buf.as_mut_ptr());
        std::ptr::copy_nonoverlapping(buf.as_ptr(), p, n);
    }
}

/// The constants of one row, broadcast once.
#[derive(Clone, Copy)]
struct Consts<S> {
    max: S,
    floor: S,
    log2e: S,
    neg_ln2_hi: S,
    neg_ln2_lo: S,
    p: [S; 3],
    one: S,
}

impl<S: Simd> Consts<S> {
    #[inline(always)]
    fn new(max: f32) -> Self {
        Consts {
            max: S::splat(max),
            floor: S::splat(FLOOR),
            log2e: S::splat(LOG2_E),
            neg_ln2_hi: S::splat(-LN2_HI),
            neg_ln2_lo: S::splat(-LN2_LO),
            p: [S::splat(P4), S::splat(P3), S::splat(P2)],
            one: S::splat(1.0),
        }
    }

    /// `exp(x − m)` to about 2⁻¹⁷ relative (0 or nearly so below the floor).
    #[inline(always)]
    fn exp(&self, x: S) -> S {
        // `max(floor, d)` returns `d` when it is NaN, which then reaches the sum.
        let d = self.floor.max(x.sub(self.max));
        let n = d.mul(self.log2e).round();
        let r = S::fma(n, self.neg_ln2_lo, S::fma(n, self.neg_ln2_hi, d));
        let mut q = S::fma(self.p[0], r, self.p[1]);
        q = S::fma(q, r, self.p[2]);
        q = S::fma(q, r, self.one);
        S::fma(r, q, self.one).scale(n)
    }
}

#[inline(always)]
unsafe fn max_pass<S: Simd, H: HalfIo<S>>(x: &[u16]) -> f32 {
    let (n, p, l) = (x.len(), x.as_ptr(), S::LANES);
    let mut acc = [S::splat(f32::NEG_INFINITY); 2];
    let mut i = 0;
    unsafe {
        while i + 2 * l <= n {
            acc[0] = acc[0].max(H::load(p.add(i)));
            acc[1] = acc[1].max(H::load(p.add(i + l)));
            i += 2 * l;
        }
        if i + l <= n {
            acc[0] = acc[0].max(H::load(p.add(i)));
            i += l;
        }
        if i < n {
            acc[1] = acc[1].max(load_part::<S, H>(p.add(i), n - i, x[0]));
        }
    }
    acc[0].max(acc[1]).reduce_max()
}

/// One vector of pass 2 (a closure would not inherit the caller's target features): with
/// `TIES`, the maximum's terms are counted, not summed; with `STORE`, the term is written to `out`
/// (`n` lanes of it, all when `n` is `LANES`).
#[inline(always)]
unsafe fn sum_step<S: Simd, const STORE: bool, const TIES: bool>(
    c: &Consts<S>,
    acc: &mut S,
    ties: &mut u32,
    v: S,
    out: *mut f32,
    n: usize,
) {
    let mut e = c.exp(v);
    if STORE {
        unsafe { if n == S::LANES { e.store(out) } else { e.store_part(out, n) } }
    }
    if TIES {
        let eq = v.eq(c.max);
        let bits = S::bits(eq);
        if bits != 0 {
            *ties += bits.count_ones();
            e = e.zero_where(eq);
        }
    }
    *acc = acc.add(e);
}

/// Pass 2: the number of ties of the maximum and the sum of the other terms `exp(x − m)`
/// (without `TIES`: no ties, every term in the sum); with `STORE`, the terms are also written to
/// `out` (`x`'s length) for [`scale_out`].
#[inline(always)]
unsafe fn sum_pass<S: Simd, H: HalfIo<S>, const STORE: bool, const TIES: bool>(
    x: &[u16],
    c: &Consts<S>,
    out: *mut f32,
) -> (f64, f64) {
    let (n, p, l) = (x.len(), x.as_ptr(), S::LANES);
    let mut acc = [S::splat(0.0); 4];
    let mut ties = 0;
    let mut i = 0;
    let at = |i: usize| out.wrapping_add(i);
    unsafe {
        while i + 4 * l <= n {
            for (u, a) in acc.iter_mut().enumerate() {
                let j = i + u * l;
                sum_step::<S, STORE, TIES>(c, a, &mut ties, H::load(p.add(j)), at(j), l);
            }
            i += 4 * l;
        }
        let mut u = 0;
        while i + l <= n {
            sum_step::<S, STORE, TIES>(c, &mut acc[u], &mut ties, H::load(p.add(i)), at(i), l);
            (i, u) = (i + l, u + 1);
        }
        if i < n {
            // Padding of −inf: terms of 0 that never tie.
            let v = load_part::<S, H>(p.add(i), n - i, H::NEG_INF);
            sum_step::<S, STORE, TIES>(c, &mut acc[3], &mut ties, v, at(i), n - i);
        }
    }
    (
        f64::from(ties),
        (acc[0].reduce_add() + acc[1].reduce_add()) + (acc[2].reduce_add() + acc[3].reduce_add()),
    )
}

/// Pass 3 of softmax over the terms [`sum_pass`] stored: `y = e·(1/s)`, rounded once to the half
/// type from `f32`.
#[inline(always)]
unsafe fn scale_out<S: Simd, H: HalfIo<S>>(terms: &[f32], y: &mut [u16], r: f32) {
    let (n, pe, py, l) = (y.len(), terms.as_ptr(), y.as_mut_ptr(), S::LANES);
    let r = S::splat(r);
    let mut i = 0;
    unsafe {
        while i + l <= n {
            H::store(S::load(pe.add(i)).mul(r), py.add(i));
            i += l;
        }
        if i < n {
            store_part::<S, H>(S::load_part(pe.add(i), n - i, 0.0).mul(r), py.add(i), n - i);
        }
    }
}

/// Pass 3 of softmax: `exp(x − m)·(1/s)` (exactly `1/s` at a tie of the maximum, whose `exp`
/// is exactly 1).
#[inline(always)]
fn softmax_out<S: Simd>(c: &Consts<S>, v: S, r: S) -> S {
    c.exp(v).mul(r)
}

/// Pass 3 of log-softmax: `(x − m) − ln s`, with `Element::from_f64`'s rounding at the edge.
#[inline(always)]
fn log_out<S: Simd>(c: &Consts<S>, v: S, l: S, neg_edge: S, neg_max: S) -> S {
    let y = v.sub(c.max).sub(l);
    y.blend(y.eq(neg_edge), neg_max)
}

/// Passes 1 and 2 of a row or a chunk of one: `(max, ties, rest)`, or `None` for a NaN or an
/// infinite maximum.
#[inline(always)]
unsafe fn stats<S: Simd, H: HalfIo<S>>(x: &[u16]) -> Option<(f32, f64, f64)> {
    unsafe { stats_from::<S, H>(x, max_pass::<S, H>(x)) }
}

/// Pass 2 of [`stats`], given the row's pass 1.
#[inline(always)]
unsafe fn stats_from<S: Simd, H: HalfIo<S>>(x: &[u16], max: f32) -> Option<(f32, f64, f64)> {
    if !max.is_finite() {
        return None;
    }
    let (ties, rest) =
        unsafe { sum_pass::<S, H, false, true>(x, &Consts::<S>::new(max), std::ptr::null_mut()) };
    // A NaN anywhere in the row has made the sum NaN.
    rest.is_finite().then_some((max, ties, rest))
}

/// Pass 3 of a row or a chunk of one, given the row's maximum and `1/s` (softmax) or `ln s`
/// (log-softmax).
#[inline(always)]
unsafe fn out<S: Simd, H: HalfIo<S>>(op: Op, x: &[u16], y: &mut [u16], max: f32, param: f64) {
    let c = Consts::<S>::new(max);
    let (n, px, py, l) = (x.len(), x.as_ptr(), y.as_mut_ptr(), S::LANES);
    let mut i = 0;
    match op {
        Op::Softmax => {
            let r = S::splat(param as f32);
            unsafe {
                while i + l <= n {
                    H::store(softmax_out(&c, H::load(px.add(i)), r), py.add(i));
                    i += l;
                }
                if i < n {
                    let v = load_part::<S, H>(px.add(i), n - i, H::NEG_INF);
                    store_part::<S, H>(softmax_out(&c, v, r), py.add(i), n - i);
                }
            }
        }
        Op::LogSoftmax => {
            let ln_sum = S::splat(param as f32);
            let (neg_edge, neg_max) = (S::splat(-H::EDGE), S::splat(-H::MAX));
            unsafe {
                while i + l <= n {
                    H::store(log_out(&c, H::load(px.add(i)), ln_sum, neg_edge, neg_max), py.add(i));
                    i += l;
                }
                if i < n {
                    let v = load_part::<S, H>(px.add(i), n - i, 0);
                    store_part::<S, H>(log_out(&c, v, ln_sum, neg_edge, neg_max), py.add(i), n - i);
                }
            }
        }
    }
}

/// What pass 3 needs of the statistics `Σ exp(x − m) = ties + rest`: `1/Σ` for softmax, `ln Σ`
/// for log-softmax (as `ln_1p((ties − 1) + rest)`, so that a dominant class keeps its tiny
/// log-probability).
pub(in super::super) fn pass3_param(op: Op, ties: f64, rest: f64) -> f64 {
    match op {
        Op::Softmax => 1.0 / (ties + rest),
        Op::LogSoftmax => crate::kernels::exp::ln_1p_f64((ties - 1.0) + rest),
    }
}

/// One row of softmax, given its maximum; false if the row must take the portable path. It
/// stores its terms in `terms` (the row's length) and scales them from there; its ties need no
/// separate count.
#[inline(always)]
unsafe fn softmax_row<S: Simd, H: HalfIo<S>>(x: &[u16], y: &mut [u16], terms: &mut [f32], max: f32) -> bool {
    if !max.is_finite() {
        return false;
    }
    let c = Consts::<S>::new(max);
    let (_, sum) = unsafe { sum_pass::<S, H, true, false>(x, &c, terms.as_mut_ptr()) };
    // A NaN anywhere in the row has made the sum NaN.
    if !sum.is_finite() {
        return false;
    }
    unsafe { scale_out::<S, H>(terms, y, (1.0 / sum) as f32) };
    true
}

/// The maximum of row `r` of `x` (rows of `len`), or 0 past the last row.
#[inline(always)]
unsafe fn row_max<S: Simd, H: HalfIo<S>>(x: &[u16], len: usize, r: usize) -> f32 {
    match x.get(r * len..(r + 1) * len) {
        Some(xr) => unsafe { max_pass::<S, H>(xr) },
        None => 0.0,
    }
}

/// Rows of length `len` (at most `CHUNK`); the indices of rows handed back are added to
/// `rejected`, offset by `first`.
#[inline(always)]
unsafe fn rows<S: Simd, H: HalfIo<S>>(
    op: Op,
    x: &[u16],
    y: &mut [u16],
    len: usize,
    first: usize,
    rejected: &mut Vec<usize>,
) {
    let rows = x.chunks_exact(len).zip(y.chunks_exact_mut(len)).enumerate();
    if op == Op::LogSoftmax {
        if len <= LOG_BATCH_LEN {
            unsafe { log_rows::<S, H>(x, y, len, first, rejected) };
            return;
        }
        for (r, (xr, yr)) in rows {
            match unsafe { stats::<S, H>(xr) } {
                Some((max, ties, rest)) => unsafe {
                    out::<S, H>(op, xr, yr, max, pass3_param(op, ties, rest))
                },
                None => rejected.push(first + r),
            }
        }
        return;
    }
    let mut terms = vec![0.0f32; len];
    // Each next row's maximum is taken before the row's own pass 2, which then waits for no
    // reduction just finished.
    let mut next = unsafe { row_max::<S, H>(x, len, 0) };
    for (r, (xr, yr)) in rows {
        let max = next;
        next = unsafe { row_max::<S, H>(x, len, r + 1) };
        if !unsafe { softmax_row::<S, H>(xr, yr, &mut terms, max) } {
            rejected.push(first + r);
        }
    }
}

/// Rows of log-softmax up to this long go sixteen at a time through [`log_rows`] (16 rows of
/// 4096 half values are 128 KiB, in L2 for pass 3); longer ones one by one, where a row's scalar
/// `ln s` is lost in its length.
const LOG_BATCH_LEN: usize = 4096;

/// Log-softmax of rows of length `len`, sixteen at a time: each row's passes 1 and 2, then their
/// `ln s` together ([`ln_sums`] on `(ties − 1) + rest/1`, the bits [`pass3_param`] computes for
/// one), then pass 3 row by row.
#[inline(always)]
unsafe fn log_rows<S: Simd, H: HalfIo<S>>(
    x: &[u16],
    y: &mut [u16],
    len: usize,
    first: usize,
    rejected: &mut Vec<usize>,
) {
    for (b, (xs, ys)) in x.chunks(16 * len).zip(y.chunks_mut(16 * len)).enumerate() {
        let (mut found, mut ok, mut maxima) = ([super::super::PLACEHOLDER; 16], [false; 16], [0.0f32; 16]);
        // Every row's maximum first: a row's pass 2 then waits for no reduction just finished.
        for (m, xr) in maxima.iter_mut().zip(xs.chunks_exact(len)) {
            *m = unsafe { max_pass::<S, H>(xr) };
        }
        for (i, xr) in xs.chunks_exact(len).enumerate() {
            if let Some((max, ties, rest)) = unsafe { stats_from::<S, H>(xr, maxima[i]) } {
                (found[i], ok[i]) = (Stats { max, e_max: 1.0, ties, rest }, true);
            }
        }
        let ln = ln_sums::<S>(&found[..xs.len() / len]);
        for (i, (xr, yr)) in xs.chunks_exact(len).zip(ys.chunks_exact_mut(len)).enumerate() {
            if ok[i] {
                unsafe { out::<S, H>(Op::LogSoftmax, xr, yr, found[i].max, ln[i]) };
            } else {
                rejected.push(first + 16 * b + i);
            }
        }
    }
}

/// `(max, ties, rest)` of a row or a chunk.
pub(in super::super) type ChunkStats = Option<(f32, f64, f64)>;
/// Whole rows of at most `CHUNK` (`op, x, y, len, first, rejected`).
type RowsFn = unsafe fn(Op, &[u16], &mut [u16], usize, usize, &mut Vec<usize>);

/// The entry points of one half type and instruction set.
pub(in super::super) struct HalfKernels {
    /// Whole rows of at most `CHUNK`.
    pub rows: RowsFn,
    /// Passes 1 and 2 of a chunk of a long row.
    pub stats: unsafe fn(&[u16]) -> ChunkStats,
    /// Pass 3 of a chunk of a long row.
    pub out: unsafe fn(Op, &[u16], &mut [u16], f32, f64),
}

macro_rules! half_entry {
    ($name:ident, $v:ty, $h:ty, $features:literal) => {
        pub(in super::super) mod $name {
            use super::*;

            /// # Safety
            /// The CPU must have the target features; `x` and `y` hold whole rows of `len`.
            #[target_feature(enable = $features)]
            unsafe fn rows_(
                op: Op,
                x: &[u16],
                y: &mut [u16],
                len: usize,
                first: usize,
                rejected: &mut Vec<usize>,
            ) {
                unsafe { rows::<$v, $h>(op, x, y, len, first, rejected) }
            }

            /// # Safety
            /// As `rows_`.
            #[target_feature(enable = $features)]
            unsafe fn stats_(x: &[u16]) -> ChunkStats {
                unsafe { stats::<$v, $h>(x) }
            }

            /// # Safety
            /// As `rows_`; `y` has the length of `x`.
            #[target_feature(enable = $features)]
            unsafe fn out_(op: Op, x: &[u16], y: &mut [u16], max: f32, param: f64) {
                unsafe { out::<$v, $h>(op, x, y, max, param) }
            }

            pub(in super::super::super) static KERNELS: HalfKernels =
                HalfKernels { rows: rows_, stats: stats_, out: out_ };
        }
    };
}

half_entry!(f16_avx512, V16, F16, "avx512f,avx512dq,avx2,fma,popcnt");
half_entry!(bf16_avx512, V16, Bf16, "avx512f,avx512dq,avx2,fma,popcnt");
half_entry!(f16_avx2, V8, F16, "avx2,fma,popcnt,f16c");
half_entry!(bf16_avx2, V8, Bf16, "avx2,fma,popcnt");
