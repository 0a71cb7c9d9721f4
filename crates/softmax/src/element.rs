//! The element types the operations accept: `f32`, `f64`, and the storage-only `f16` and `bf16`.

use half::{bf16, f16};

use crate::kernels::fast::halves;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for half::f16 {}
    impl Sealed for half::bf16 {}
}

/// Which half-precision type a slice of bits holds (for the crate's own kernels).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HalfKind {
    F16,
    Bf16,
}

/// A floating-point element type the kernels read and write.
///
/// Every kernel computes internally in `f64` with double-double corrections where a single `f64`
/// would lose bits, and each result is rounded once into the element type on store (an `f32`
/// result is rounded from an `f64` that is itself within a hair of the exact value, so the output
/// is the correctly rounded one except in rare near-tie cases). `f16` and `bf16` are never
/// accumulated in: they are widened on load and rounded on store.
///
/// The trait is sealed: the four types above are the ones there are.
pub trait Element: Copy + Send + Sync + PartialEq + std::fmt::Debug + 'static + sealed::Sealed {
    /// The type's usual name (`"f32"`, `"f64"`, `"f16"`, `"bf16"`).
    const NAME: &'static str;
    /// Whether results of this type have 24 significant bits or fewer, so that the kernels may
    /// compute in plain `f64` where the `f64` results need double-double.
    #[doc(hidden)]
    const NARROW: bool;
    /// Widens to `f64`, exactly.
    fn to_f64(self) -> f64;
    /// Rounds an `f64` to this type, to nearest with ties to even, keeping subnormals; except
    /// that a value exactly halfway between the type's largest finite value and the next power
    /// of two rounds to that largest value, not to infinity.
    ///
    /// The `f64` results this rounds are themselves rounded, so a result exactly on that
    /// boundary may stand for an exact value just below it: the largest finite value is then
    /// within half an ulp either way, where infinity could be infinitely wrong.
    fn from_f64(value: f64) -> Self;

    /// The slice as `f32`s when `Self` is `f32` (the type the vectorised kernels take).
    #[doc(hidden)]
    fn as_f32(values: &[Self]) -> Option<&[f32]> {
        let _ = values;
        None
    }

    /// The slice as `f32`s when `Self` is `f32`.
    #[doc(hidden)]
    fn as_f32_mut(values: &mut [Self]) -> Option<&mut [f32]> {
        let _ = values;
        None
    }

    /// The slice as `f64`s when `Self` is `f64`.
    #[doc(hidden)]
    fn as_f64(values: &[Self]) -> Option<&[f64]> {
        let _ = values;
        None
    }

    /// The slice as `f64`s when `Self` is `f64`.
    #[doc(hidden)]
    fn as_f64_mut(values: &mut [Self]) -> Option<&mut [f64]> {
        let _ = values;
        None
    }

    /// For the half types: which one, and the values' bits.
    #[doc(hidden)]
    fn half_bits(values: &[Self]) -> Option<(HalfKind, &[u16])> {
        let _ = values;
        None
    }

    /// For the half types: the values' bits, to write.
    #[doc(hidden)]
    fn half_bits_mut(values: &mut [Self]) -> Option<&mut [u16]> {
        let _ = values;
        None
    }

    /// For the half types: widens `src` into `dst` (same length), exactly; false for the others.
    #[doc(hidden)]
    fn widen_to_f32(src: &[Self], dst: &mut [f32]) -> bool {
        let _ = (src, dst);
        false
    }

    /// For the half types: rounds `src` into `dst` once, as [`Element::from_f64`] would.
    #[doc(hidden)]
    fn narrow_from_f32(src: &[f32], dst: &mut [Self]) {
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = Self::from_f64(f64::from(v));
        }
    }
}

/// Rounds `src` into a half type with `half`'s vectorised conversion (to nearest, ties to even),
/// then gives the one value it rounds differently from [`Element::from_f64`] (exactly halfway
/// between the largest finite value and the next power of two) that function's result.
fn narrow_half<T: Element>(src: &[f32], dst: &mut [T], edge: f32, convert: fn(&[f32], &mut [u16]))
where
    [T]: half::slice::HalfFloatSliceExt,
{
    convert(src, half::slice::HalfFloatSliceExt::reinterpret_cast_mut(dst));
    // A vector scan; the fix-up is almost never needed.
    if halves::any_magnitude(src, edge) {
        for (d, &v) in dst.iter_mut().zip(src) {
            if v.abs() == edge {
                *d = T::from_f64(f64::from(v));
            }
        }
    }
}

impl Element for f64 {
    const NAME: &'static str = "f64";
    const NARROW: bool = false;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value
    }
    fn as_f64(values: &[Self]) -> Option<&[f64]> {
        Some(values)
    }
    fn as_f64_mut(values: &mut [Self]) -> Option<&mut [f64]> {
        Some(values)
    }
}

impl Element for f32 {
    const NAME: &'static str = "f32";
    const NARROW: bool = true;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        // f32::MAX plus half its ulp.
        const EDGE: f64 = f64::from_bits(0x47EF_FFFF_F000_0000);
        if value.abs() == EDGE {
            return f32::MAX.copysign(value as f32);
        }
        // `as` rounds to nearest, ties to even, and keeps subnormals.
        value as f32
    }
    fn as_f32(values: &[Self]) -> Option<&[f32]> {
        Some(values)
    }
    fn as_f32_mut(values: &mut [Self]) -> Option<&mut [f32]> {
        Some(values)
    }
}

impl Element for f16 {
    const NAME: &'static str = "f16";
    const NARROW: bool = true;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f16::to_f64(self)
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        // f16::MAX (65504) plus half its ulp.
        if value.abs() == 65520.0 {
            return if value > 0.0 { f16::MAX } else { f16::MIN };
        }
        f16::from_f32(f32_round_to_odd(value))
    }
    fn widen_to_f32(src: &[Self], dst: &mut [f32]) -> bool {
        halves::f16_to_f32(half::slice::HalfFloatSliceExt::reinterpret_cast(src), dst);
        true
    }
    fn narrow_from_f32(src: &[f32], dst: &mut [Self]) {
        narrow_half(src, dst, 65520.0, halves::f32_to_f16);
    }
    fn half_bits(values: &[Self]) -> Option<(HalfKind, &[u16])> {
        Some((HalfKind::F16, half::slice::HalfFloatSliceExt::reinterpret_cast(values)))
    }
    fn half_bits_mut(values: &mut [Self]) -> Option<&mut [u16]> {
        Some(half::slice::HalfFloatSliceExt::reinterpret_cast_mut(values))
    }
}

impl Element for bf16 {
    const NAME: &'static str = "bf16";
    const NARROW: bool = true;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        bf16::to_f64(self)
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        // bf16::MAX plus half its ulp: (2 − 2⁻⁸)·2¹²⁷.
        const EDGE: f64 = f64::from_bits(0x47EF_F000_0000_0000);
        if value.abs() == EDGE {
            return if value > 0.0 { bf16::MAX } else { bf16::MIN };
        }
        bf16::from_f32(f32_round_to_odd(value))
    }
    fn widen_to_f32(src: &[Self], dst: &mut [f32]) -> bool {
        halves::bf16_to_f32(half::slice::HalfFloatSliceExt::reinterpret_cast(src), dst);
        true
    }
    fn narrow_from_f32(src: &[f32], dst: &mut [Self]) {
        narrow_half(src, dst, f32::from_bits(0x7F7F_8000), halves::f32_to_bf16);
    }
    fn half_bits(values: &[Self]) -> Option<(HalfKind, &[u16])> {
        Some((HalfKind::Bf16, half::slice::HalfFloatSliceExt::reinterpret_cast(values)))
    }
    fn half_bits_mut(values: &mut [Self]) -> Option<&mut [u16]> {
        Some(half::slice::HalfFloatSliceExt::reinterpret_cast_mut(values))
    }
}

/// `value` rounded to `f32` with round-to-odd: exact when representable, otherwise the
/// neighbour toward zero with its last bit forced to 1.
///
/// Rounding that to a format with at least two bits fewer (f16, bf16) to nearest-even gives the
/// correctly rounded result of `value` in that format: one rounding, as if done directly.
/// (`half`'s own `from_f64` drops the low 32 bits of the significand first, which can turn a value
/// just above a halfway point into a tie and round it the wrong way.)
#[inline(always)]
fn f32_round_to_odd(value: f64) -> f32 {
    let nearest = value as f32;
    if !nearest.is_finite() || f64::from(nearest) == value {
        return nearest;
    }
    let mut bits = nearest.to_bits();
    if f64::from(nearest).abs() > value.abs() {
        // Step one toward zero: the magnitude is in the low 31 bits.
        bits -= 1;
    }
    f32::from_bits(bits | 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nearest value of a format, by exhaustive comparison with its neighbours.
    fn check_nearest<T: Element>(value: f64, step_up: impl Fn(T) -> T, step_down: impl Fn(T) -> T) {
        let got = T::from_f64(value);
        let g = got.to_f64();
        if !g.is_finite() {
            return;
        }
        for neighbour in [step_up(got).to_f64(), step_down(got).to_f64()] {
            let (d_got, d_other) = ((value - g).abs(), (value - neighbour).abs());
            assert!(d_got <= d_other, "{value:e}: got {g:e}, but {neighbour:e} is nearer");
        }
    }

    #[test]
    fn half_types_round_once_to_nearest() {
        let mut state = 0x1234_5678_9abc_def0u64;
        for i in 0..200_000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let magnitude = ((state >> 40) as f64 / (1u64 << 24) as f64 - 0.5) * 40.0;
            let mut v = (if i % 2 == 0 { 1.0 } else { -1.0 }) * magnitude.exp2();
            if i % 3 == 0 {
                // Just above or below a halfway point of f16 (11 bits) or bf16 (8 bits): the case
                // a truncating conversion gets wrong.
                let bits = v.to_bits() & !((1u64 << 41) - 1) | (1u64 << 41) >> 1;
                v = f64::from_bits(if i % 6 == 0 { bits + 1 } else { bits - 1 });
            }
            check_nearest::<f16>(
                v,
                |h| f16::from_bits(h.to_bits() + 1),
                |h| f16::from_bits(h.to_bits().wrapping_sub(1)),
            );
            check_nearest::<bf16>(
                v,
                |h| bf16::from_bits(h.to_bits() + 1),
                |h| bf16::from_bits(h.to_bits().wrapping_sub(1)),
            );
        }
    }

    #[test]
    fn ties_go_to_even_and_specials_pass_through() {
        // 1 + 2^-11 is halfway between two f16 values: ties to the even one, 1.0.
        assert_eq!(f16::from_f64(1.0 + 2f64.powi(-11)).to_f64(), 1.0);
        assert_eq!(
            <f16 as Element>::from_f64(1.0 + 2f64.powi(-11) + 2f64.powi(-40)).to_f64(),
            1.0 + 2f64.powi(-10)
        );
        assert_eq!(
            <bf16 as Element>::from_f64(1.0 + 2f64.powi(-8) + 2f64.powi(-45)).to_f64(),
            1.0 + 2f64.powi(-7)
        );
        assert!(<f16 as Element>::from_f64(f64::NAN).is_nan());
        assert_eq!(<f16 as Element>::from_f64(1e6).to_f64(), f64::INFINITY);
        assert_eq!(<bf16 as Element>::from_f64(-1e300).to_f64(), f64::NEG_INFINITY);
        assert_eq!(<f16 as Element>::from_f64(1e-9).to_f64(), 0.0);
        assert_eq!(<f32 as Element>::from_f64(1e-46), 0.0);
        // The overflow boundary itself stays finite; anything beyond it is infinite.
        assert_eq!(<f16 as Element>::from_f64(-65520.0), f16::MIN);
        assert_eq!(<f16 as Element>::from_f64(65520.000001).to_f64(), f64::INFINITY);
        assert_eq!(<f16 as Element>::from_f64(65519.99).to_f64(), 65504.0);
        let bf16_edge = (2.0 - 2f64.powi(-8)) * 2f64.powi(127);
        assert_eq!(<bf16 as Element>::from_f64(bf16_edge), bf16::MAX);
        assert_eq!(<bf16 as Element>::from_f64(bf16_edge * (1.0 + f64::EPSILON)).to_f64(), f64::INFINITY);
        let f32_edge = f64::from(f32::MAX) + 2f64.powi(127 - 24);
        assert_eq!(<f32 as Element>::from_f64(f32_edge), f32::MAX);
        assert_eq!(<f32 as Element>::from_f64(-f32_edge), f32::MIN);
        assert_eq!(<f32 as Element>::from_f64(f32_edge * (1.0 + f64::EPSILON)), f32::INFINITY);
        assert!(<f32 as Element>::from_f64(1e-45) > 0.0);
    }
}
