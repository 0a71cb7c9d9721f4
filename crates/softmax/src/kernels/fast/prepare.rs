//! Rows prepared for the vector kernels at a temperature other than 1 or with a mask (see
//! `ops::forward::vector_rows_with` and `ops::backward::vector_backward_with`): `z = (x − m)/τ`
//! in `f64`, masked positions replaced, and the results rounded back to the input's type. Plain loops over any element type, compiled once per instruction set (the
//! compiler vectorises them with that set's registers).

use super::Isa;
use crate::element::Element;

/// Each row of `len` of `x` as `z = (x − m)·(1/τ)` in `f64`, `m` its largest entry (within
/// 3·2⁻⁵³ of `(x − m)/τ`, relative), written to `maxima` (one per row). Rows whose
/// largest entry is `±inf` (or that hold nothing but NaN) get a placeholder row of zeros and are
/// listed in `portable`, for the caller's portable path. A NaN elsewhere carries into `z`
/// (the `f64` kernels then decline the row).
#[inline(always)]
fn tempered_rows<T: Element>(
    x: &[T],
    len: usize,
    tau: f64,
    z: &mut [f64],
    maxima: &mut [f64],
    portable: &mut Vec<usize>,
) {
    let rows = x.chunks_exact(len).zip(z.chunks_exact_mut(len)).zip(maxima.iter_mut());
    for (r, ((xr, zr), max)) in rows.enumerate() {
        // Eight maxima side by side, so that the loop runs in vector registers; `max` skips NaN.
        let mut acc = [f64::NEG_INFINITY; 8];
        let mut chunks = xr.chunks_exact(8);
        for c in &mut chunks {
            for (a, v) in acc.iter_mut().zip(c) {
                *a = a.max(v.to_f64());
            }
        }
        for v in chunks.remainder() {
            acc[0] = acc[0].max(v.to_f64());
        }
        let m = acc.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        *max = m;
        if m.is_infinite() {
            portable.push(r);
            zr.fill(0.0);
            continue;
        }
        // A product, not a quotient: the division's throughput would cost as much as the
        // `f64` kernels' passes. `1/τ` and the product each round by 2⁻⁵³ relative.
        // Where `1/τ` is not a normal number (`τ` below 2⁻¹⁰²⁴ or above 2¹⁰²²), the quotient
        // itself (`0·∞` would be NaN).
        let inverse = 1.0 / tau;
        if inverse.is_normal() {
            for (zi, v) in zr.iter_mut().zip(xr) {
                *zi = (v.to_f64() - m) * inverse;
            }
        } else {
            for (zi, v) in zr.iter_mut().zip(xr) {
                *zi = (v.to_f64() - m) / tau;
            }
        }
    }
}

/// `dst = T::from_f64(src·scale)`, element by element (the product rounded to `f64`, then to
/// `T`).
#[inline(always)]
fn narrow<T: Element>(src: &[f64], scale: f64, dst: &mut [T]) {
    for (d, &v) in dst.iter_mut().zip(src) {
        *d = T::from_f64(v * scale);
    }
}

/// `dst = src` rounded to `f32` with round-to-odd (exact when representable, otherwise the
/// neighbour toward zero with its last bit set): rounding that once more to a half type, to
/// nearest, gives the correctly rounded half (see `element::f32_round_to_odd`, which this is
/// without branches, so that it vectorises).
/// The values are `src·scale`, the product rounded to `f64` first.
#[inline(always)]
fn narrow_odd(src: &[f64], scale: f64, dst: &mut [f32]) {
    for (d, &v) in dst.iter_mut().zip(src) {
        let v = v * scale;
        let nearest = v as f32;
        let back = f64::from(nearest);
        let inexact = back != v && nearest.is_finite();
        let bits = nearest.to_bits() - u32::from(inexact && back.abs() > v.abs());
        *d = f32::from_bits(bits | u32::from(inexact));
    }
}

/// One call of this module's loops, so that a single pair of wrappers compiles them all per
/// instruction set.
enum Job<'a, T> {
    Tempered {
        x: &'a [T],
        len: usize,
        tau: f64,
        z: &'a mut [f64],
        maxima: &'a mut [f64],
        portable: &'a mut Vec<usize>,
    },
    Narrow {
        src: &'a [f64],
        scale: f64,
        dst: &'a mut [T],
    },
    NarrowOdd {
        src: &'a [f64],
        scale: f64,
        dst: &'a mut [f32],
    },
    /// `dst = src` widened to `f64` where `mask` is true (everywhere without one), `excluded`
    /// elsewhere.
    MaskWiden {
        src: &'a [T],
        mask: Option<&'a [bool]>,
        excluded: f64,
        dst: &'a mut [f64],
    },
    /// `dst = src` where `mask` is true, `excluded` elsewhere.
    MaskSame {
        src: &'a [T],
        mask: &'a [bool],
        excluded: T,
        dst: &'a mut [T],
    },
    /// `dst = 0` where `mask` is false.
    ZeroMasked {
        mask: &'a [bool],
        dst: &'a mut [T],
    },
}

#[inline(always)]
fn run<T: Element>(job: Job<'_, T>) {
    match job {
        Job::Tempered { x, len, tau, z, maxima, portable } => tempered_rows(x, len, tau, z, maxima, portable),
        Job::Narrow { src, scale, dst } => narrow(src, scale, dst),
        Job::NarrowOdd { src, scale, dst } => narrow_odd(src, scale, dst),
        Job::MaskWiden { src, mask: Some(mask), excluded, dst } => {
            for ((d, v), &k) in dst.iter_mut().zip(src).zip(mask) {
                *d = if k { v.to_f64() } else { excluded };
            }
        }
        Job::MaskWiden { src, mask: None, dst, .. } => {
            for (d, v) in dst.iter_mut().zip(src) {
                *d = v.to_f64();
            }
        }
        Job::MaskSame { src, mask, excluded, dst } => {
            for ((d, &v), &k) in dst.iter_mut().zip(src).zip(mask) {
                *d = if k { v } else { excluded };
            }
        }
        Job::ZeroMasked { mask, dst } => {
            let zero = T::from_f64(0.0);
            for (d, &k) in dst.iter_mut().zip(mask) {
                if !k {
                    *d = zero;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,fma")]
unsafe fn run_avx512<T: Element>(job: Job<'_, T>) {
    run(job)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<T: Element>(job: Job<'_, T>) {
    run(job)
}

/// `job` with the instruction set `isa` (the plain build where it has none).
fn dispatch<T: Element>(isa: Isa, job: Job<'_, T>) {
    match isa {
        // SAFETY: the instruction set was checked to be available.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if isa.is_available() => unsafe { run_avx512(job) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if isa.is_available() => unsafe { run_avx2(job) },
        _ => run(job),
    }
}

/// [`tempered_rows`] with the instruction set `isa`.
pub(crate) fn tempered<T: Element>(
    isa: Isa,
    x: &[T],
    len: usize,
    tau: f64,
    z: &mut [f64],
    maxima: &mut [f64],
    portable: &mut Vec<usize>,
) {
    debug_assert!(len > 0 && x.len() == z.len() && x.len().is_multiple_of(len));
    debug_assert_eq!(maxima.len() * len, x.len());
    dispatch(isa, Job::Tempered { x, len, tau, z, maxima, portable });
}

/// [`narrow`] with the instruction set `isa`.
pub(crate) fn narrow_from_f64<T: Element>(isa: Isa, src: &[f64], scale: f64, dst: &mut [T]) {
    debug_assert_eq!(src.len(), dst.len());
    dispatch(isa, Job::Narrow { src, scale, dst });
}

/// [`narrow_odd`] with the instruction set `isa`.
pub(crate) fn narrow_to_odd_f32(isa: Isa, src: &[f64], scale: f64, dst: &mut [f32]) {
    debug_assert_eq!(src.len(), dst.len());
    dispatch::<f32>(isa, Job::NarrowOdd { src, scale, dst });
}

/// `dst = src` (widened) where `mask` is true or absent, `excluded` elsewhere, with `isa`.
pub(crate) fn mask_widen<T: Element>(
    isa: Isa,
    src: &[T],
    mask: Option<&[bool]>,
    excluded: f64,
    dst: &mut [f64],
) {
    debug_assert!(src.len() == dst.len() && mask.is_none_or(|m| m.len() == src.len()));
    dispatch(isa, Job::MaskWiden { src, mask, excluded, dst });
}

/// `dst = src` where `mask` is true, `excluded` elsewhere, with `isa`.
pub(crate) fn mask_same<T: Element>(isa: Isa, src: &[T], mask: &[bool], excluded: T, dst: &mut [T]) {
    debug_assert!(src.len() == dst.len() && mask.len() == src.len());
    dispatch(isa, Job::MaskSame { src, mask, excluded, dst });
}

/// `dst = 0` where `mask` is false, with `isa`.
pub(crate) fn zero_masked<T: Element>(isa: Isa, mask: &[bool], dst: &mut [T]) {
    debug_assert_eq!(mask.len(), dst.len());
    dispatch(isa, Job::ZeroMasked { mask, dst });
}
