//! The copies between lanes of a contiguous `(k, inner)` slab (`k` the reduced axis) and rows
//! of `k`, for every path that feeds row kernels with lanes (`ops::lanes_to_rows`, along other
//! axes) or column kernels with rows (`short_rows`, rows of up to 16): 2-, 4- and 8-byte
//! elements go in whole blocks transposed in registers (8 × 8, 8 × 8 and 4 × 4: a load and a
//! store of adjacent elements per run, where the plain copy moves one element at a time), the
//! elements no whole block covers, and every other type, instruction set or shape too small for
//! a block, one at a time. Bits are copied, never interpreted, so any `Copy` type goes through.

use super::Isa;

/// Steps along the axis per tile of the element-by-element copies: the tile's lines of
/// the slab, a power of two apart when the lanes are, may all fall in one set of L1, so there are
/// no more of them than its ways (8 on Zen 4 and most x86 cores). Measured against 16 and 4:
/// 2.3× and 1.03× faster than 16 for the softmax backward pass along axis 1 of `(8, 19, 64, 64)`
/// and for softmax along axis 0 of `(1000, 256)` `f64`.
const TILE: usize = 8;

/// Lanes `j0..j0 + b` of a contiguous `(k, inner)` slab copied into `b` rows of `k`.
pub(crate) fn lanes_to_rows<T: Copy>(
    isa: Isa,
    slab: &[T],
    rows: &mut [T],
    (k, inner, j0, b): (usize, usize, usize, usize),
) {
    check(slab.len(), rows.len(), (k, inner, j0, b));
    let step = block_step::<T>(isa, k, b);
    #[cfg(target_arch = "x86_64")]
    {
        // Block `(k0, l0)`: runs of lanes from the slab (`inner` apart) become runs of steps in
        // the rows (`k` apart).
        let place = |k0: usize, l0: usize| (k0 * inner + j0 + l0, inner, l0 * k + k0, k);
        // SAFETY: AVX2 is available (`block_step`); every whole block lies inside both slices
        // (`check`), and `T` has the block's element size.
        if let Some(step) = step {
            unsafe { blocks::<T>(step, (k, b), place, slab.as_ptr(), rows.as_mut_ptr()) };
        }
    }
    // SAFETY (the element copies): `check` showed every index of the copy in bounds.
    let visit = |r: usize, s: usize| unsafe { *rows.get_unchecked_mut(r) = *slab.get_unchecked(s) };
    match step {
        Some(step) => rest(step, (k, inner, j0, b), visit),
        None => tiled(k, inner, j0, b, visit),
    }
}

/// The inverse of [`lanes_to_rows`]: `b` rows of `k` copied into lanes `j0..j0 + b` of the slab.
pub(crate) fn rows_to_lanes<T: Copy>(
    isa: Isa,
    rows: &[T],
    slab: &mut [T],
    (k, inner, j0, b): (usize, usize, usize, usize),
) {
    check(slab.len(), rows.len(), (k, inner, j0, b));
    let step = block_step::<T>(isa, k, b);
    #[cfg(target_arch = "x86_64")]
    {
        // Block `(k0, l0)`: runs of steps from the rows become runs of lanes in the slab.
        let place = |k0: usize, l0: usize| (l0 * k + k0, k, k0 * inner + j0 + l0, inner);
        // SAFETY: as in `lanes_to_rows`.
        if let Some(step) = step {
            unsafe { blocks::<T>(step, (k, b), place, rows.as_ptr(), slab.as_mut_ptr()) };
        }
    }
    // SAFETY (the element copies): as in `lanes_to_rows`.
    let visit = |r: usize, s: usize| unsafe { *slab.get_unchecked_mut(s) = *rows.get_unchecked(r) };
    match step {
        Some(step) => rest(step, (k, inner, j0, b), visit),
        None => tiled(k, inner, j0, b, visit),
    }
}

/// The side of a whole block for `T` (8 for 2 and 4 bytes, 4 for 8), or `None` where this module
/// does not copy `T` with `isa` in blocks, or the copy (`k` steps of `b` lanes) holds no whole
/// block: rows of 2 to 7 copy quicker element by element than through the blocks' loops.
fn block_step<T>(isa: Isa, k: usize, b: usize) -> Option<usize> {
    let step = match std::mem::size_of::<T>() {
        2 | 4 => 8,
        8 => 4,
        _ => return None,
    };
    (cfg!(target_arch = "x86_64") && matches!(isa, Isa::Avx512 | Isa::Avx2) && isa.is_available())
        .then_some(step)
        .filter(|&step| k >= step && b >= step)
}

/// Visits the elements of the copy as `(index in the rows, index in the slab)`, in tiles of
/// [`TILE`] steps along the axis; an axis of one tile or less in the slab's order instead (each
/// line of the slab visited once, in order: softmax of rows of 2, whose columns go this way,
/// ran 1.7× faster than with the lanes visited one by one).
#[inline(always)]
fn tiled(k: usize, inner: usize, j0: usize, b: usize, mut visit: impl FnMut(usize, usize)) {
    if k <= TILE {
        for kk in 0..k {
            for l in 0..b {
                visit(l * k + kk, kk * inner + j0 + l);
            }
        }
        return;
    }
    for k0 in (0..k).step_by(TILE) {
        for l in 0..b {
            for kk in k0..(k0 + TILE).min(k) {
                visit(l * k + kk, kk * inner + j0 + l);
            }
        }
    }
}

/// Panics unless every index of the copy lies inside the slab and the rows (a caller's bug; the
/// block copies rely on it).
fn check(slab: usize, rows: usize, (k, inner, j0, b): (usize, usize, usize, usize)) {
    assert!(b * k <= rows && (k == 0 || b == 0 || (k - 1) * inner + j0 + b <= slab));
}

/// The elements of the copy no whole block of `step × step` covers: `visit(index in the rows,
/// index in the slab)` for the lanes past the whole blocks, then the steps past them.
fn rest(step: usize, (k, inner, j0, b): (usize, usize, usize, usize), mut visit: impl FnMut(usize, usize)) {
    let (k_whole, b_whole) = (k - k % step, b - b % step);
    for l in b_whole..b {
        for kk in 0..k {
            visit(l * k + kk, kk * inner + j0 + l);
        }
    }
    for l in 0..b_whole {
        for kk in k_whole..k {
            visit(l * k + kk, kk * inner + j0 + l);
        }
    }
}

/// Every whole block of `step` steps by `step` lanes, bands of `step` steps outermost (so that
/// a band's lines of the slab stay in L1): `place(k0, l0)` gives `(src, src_run, dst,
/// dst_run)`, where the block's `step` source runs of `step` adjacent elements start at `src +
/// i·src_run` and its destination runs at `dst + j·dst_run`; element `j` of source run `i` goes
/// to element `i` of destination run `j`. Offsets count elements of `T`.
///
/// # Safety
/// AVX2 must be available, `T` must be 2, 4 or 8 bytes with `step` from [`block_step`], and
/// every element of every whole block must lie in `src` and `dst`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn blocks<T>(
    step: usize,
    (k, b): (usize, usize),
    place: impl Fn(usize, usize) -> (usize, usize, usize, usize),
    src: *const T,
    dst: *mut T,
) {
    let (k_whole, b_whole) = (k - k % step, b - b % step);
    for k0 in (0..k_whole).step_by(step) {
        for l0 in (0..b_whole).step_by(step) {
            let (s, s_run, d, d_run) = place(k0, l0);
            // SAFETY: the caller's guarantees.
            unsafe {
                let (src, dst) = (src.add(s), dst.add(d));
                match std::mem::size_of::<T>() {
                    2 => block_8x8_u16(src.cast(), s_run, dst.cast(), d_run),
                    4 => block_8x8(src.cast(), s_run, dst.cast(), d_run),
                    _ => block_4x4(src.cast(), s_run, dst.cast(), d_run),
                }
            }
        }
    }
}

/// An 8 × 8 block of 2-byte elements, transposed in 128-bit registers (three rounds of
/// interleaving: 16-, 32- and 64-bit pieces).
///
/// # Safety
/// AVX2 (SSE2 suffices); eight runs of eight elements at `src + i·s_run` and at `dst + j·d_run`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_8x8_u16(src: *const u16, s_run: usize, dst: *mut u16, d_run: usize) {
    use std::arch::x86_64::*;
    // SAFETY: the caller's guarantees (unaligned loads and stores).
    unsafe {
        let r: [__m128i; 8] = std::array::from_fn(|i| _mm_loadu_si128(src.add(i * s_run).cast()));
        let a: [__m128i; 8] = std::array::from_fn(|i| {
            let (x, y) = (r[2 * (i / 2)], r[2 * (i / 2) + 1]);
            if i % 2 == 0 { _mm_unpacklo_epi16(x, y) } else { _mm_unpackhi_epi16(x, y) }
        });
        // a[0], a[1]: runs 0 and 1 interleaved (columns 0–3, 4–7); a[2], a[3]: runs 2 and 3; …
        let b = [
            _mm_unpacklo_epi32(a[0], a[2]),
            _mm_unpackhi_epi32(a[0], a[2]),
            _mm_unpacklo_epi32(a[1], a[3]),
            _mm_unpackhi_epi32(a[1], a[3]),
            _mm_unpacklo_epi32(a[4], a[6]),
            _mm_unpackhi_epi32(a[4], a[6]),
            _mm_unpacklo_epi32(a[5], a[7]),
            _mm_unpackhi_epi32(a[5], a[7]),
        ];
        // b[c]: columns 2c and 2c + 1 of runs 0–3; b[4 + c]: of runs 4–7.
        for c in 0..4 {
            _mm_storeu_si128(dst.add(2 * c * d_run).cast(), _mm_unpacklo_epi64(b[c], b[4 + c]));
            _mm_storeu_si128(dst.add((2 * c + 1) * d_run).cast(), _mm_unpackhi_epi64(b[c], b[4 + c]));
        }
    }
}

/// An 8 × 8 block of 4-byte elements, transposed in registers (unpack, shuffle, swap halves).
///
/// # Safety
/// AVX2; eight runs of eight elements at `src + i·s_run` and at `dst + j·d_run`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_8x8(src: *const f32, s_run: usize, dst: *mut f32, d_run: usize) {
    use std::arch::x86_64::*;
    // SAFETY: the caller's guarantees (unaligned loads and stores).
    unsafe {
        let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * s_run)));
        // Pairs of runs interleaved, then pairs of pairs: each 128-bit half holds four elements
        // of one column.
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let out = [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ];
        for (j, v) in out.into_iter().enumerate() {
            _mm256_storeu_ps(dst.add(j * d_run), v);
        }
    }
}

/// A 4 × 4 block of 8-byte elements, transposed in registers.
///
/// # Safety
/// AVX2; four runs of four elements at `src + i·s_run` and at `dst + j·d_run`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_4x4(src: *const f64, s_run: usize, dst: *mut f64, d_run: usize) {
    use std::arch::x86_64::*;
    // SAFETY: the caller's guarantees (unaligned loads and stores).
    unsafe {
        let r: [__m256d; 4] = std::array::from_fn(|i| _mm256_loadu_pd(src.add(i * s_run)));
        let t0 = _mm256_unpacklo_pd(r[0], r[1]);
        let t1 = _mm256_unpackhi_pd(r[0], r[1]);
        let t2 = _mm256_unpacklo_pd(r[2], r[3]);
        let t3 = _mm256_unpackhi_pd(r[2], r[3]);
        let out = [
            _mm256_permute2f128_pd::<0x20>(t0, t2),
            _mm256_permute2f128_pd::<0x20>(t1, t3),
            _mm256_permute2f128_pd::<0x31>(t0, t2),
            _mm256_permute2f128_pd::<0x31>(t1, t3),
        ];
        for (j, v) in out.into_iter().enumerate() {
            _mm256_storeu_pd(dst.add(j * d_run), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both copies against the element-by-element definition, for every size (1-byte elements
    /// and small shapes one element at a time), at shapes with and without partial blocks, on
    /// every instruction set the machine has and the portable path.
    #[test]
    fn block_copies_match_the_definition() {
        fn run<T: Copy + PartialEq + std::fmt::Debug>(from: fn(usize) -> T) {
            for isa in [Isa::Avx512, Isa::Avx2, Isa::Portable] {
                if !isa.is_available() {
                    continue;
                }
                for (k, inner, j0, b) in [
                    (16, 16, 0, 16),
                    (19, 37, 5, 13),
                    (8, 8, 0, 8),
                    (3, 40, 2, 30),
                    (33, 9, 1, 8),
                    (5, 64, 0, 64),
                    (16, 7, 0, 7),
                ] {
                    let slab: Vec<T> = (0..k * inner).map(from).collect();
                    let mut rows = vec![from(usize::MAX); b * k];
                    lanes_to_rows(isa, &slab, &mut rows, (k, inner, j0, b));
                    for l in 0..b {
                        for kk in 0..k {
                            assert_eq!(
                                rows[l * k + kk],
                                slab[kk * inner + j0 + l],
                                "{isa:?} to rows {k} {inner} {j0} {b}"
                            );
                        }
                    }
                    let mut back: Vec<T> = (0..k * inner).map(|i| from(i + 7)).collect();
                    let before = back.clone();
                    rows_to_lanes(isa, &rows, &mut back, (k, inner, j0, b));
                    for kk in 0..k {
                        for j in 0..inner {
                            let want = if (j0..j0 + b).contains(&j) {
                                slab[kk * inner + j]
                            } else {
                                before[kk * inner + j]
                            };
                            assert_eq!(back[kk * inner + j], want, "{isa:?} to lanes {k} {inner} {j0} {b}");
                        }
                    }
                }
            }
        }
        run::<u16>(|i| i as u16);
        run::<u32>(|i| i as u32);
        run::<f64>(|i| i as f64 + 0.5);
        run::<bool>(|i| i % 3 == 0);
    }
}
