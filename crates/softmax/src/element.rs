//! The element types the operations accept: `f32`, `f64`, and the storage-only `f16` and `bf16`.

use half::{bf16, f16};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for half::f16 {}
    impl Sealed for half::bf16 {}
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
    /// Widens to `f64`, exactly.
    fn to_f64(self) -> f64;
    /// Rounds an `f64` to this type, to nearest with ties to even, keeping subnormals.
    fn from_f64(value: f64) -> Self;
}

impl Element for f64 {
    const NAME: &'static str = "f64";
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value
    }
}

impl Element for f32 {
    const NAME: &'static str = "f32";
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        // `as` rounds to nearest, ties to even, and keeps subnormals.
        value as f32
    }
}

impl Element for f16 {
    const NAME: &'static str = "f16";
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f16::to_f64(self)
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        // `half` rounds straight from f64 (one rounding, ties to even).
        f16::from_f64(value)
    }
}

impl Element for bf16 {
    const NAME: &'static str = "bf16";
    #[inline(always)]
    fn to_f64(self) -> f64 {
        bf16::to_f64(self)
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        bf16::from_f64(value)
    }
}
