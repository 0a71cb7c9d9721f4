//! The softmax family for Rust, exact to the last bits: softmax, log-softmax, logsumexp,
//! sigmoid and log-sigmoid, their backward passes and Jacobians, cross-entropy, NLL and binary
//! cross-entropy losses, streaming statistics, and layers to train a small network with.
//!
//! # A tour
//!
//! Softmax turns a row of scores (logits) into probabilities. The textbook formula
//! `exp(x) / Σ exp(x)` overflows as soon as a logit passes about 88 in `f32` (709 in `f64`): the
//! classic case is `torch.rand(1, 20) + 100`, where it returns NaN. Because
//! `softmax(x + c) = softmax(x)` for any constant `c`, every implementation subtracts the row
//! maximum first, and so does this one:
//!
//! ```
//! use ndarray::{Array1, array};
//! use softmax::Options;
//!
//! let x: Array1<f32> = (0..20).map(|i| 100.0 + (i as f32 * 0.37).fract()).collect();
//! let naive_sum: f32 = x.iter().map(|v| v.exp()).sum(); // exp(100) = inf in f32
//! assert!(naive_sum.is_infinite());
//!
//! let p = softmax::softmax(&x, &Options::new()).unwrap();
//! let total: f32 = p.sum();
//! assert!((total - 1.0).abs() < 1e-6);
//! ```
//!
//! Temperature scales the logits before normalising, `softmax(x / τ)`: a low `τ` sharpens the
//! distribution, a high one flattens it. Any axis of an array of any rank and strides works,
//! negative axes counting from the end:
//!
//! ```
//! # use ndarray::array;
//! # use softmax::Options;
//! let logits = array![[1.0f64, 2.0, 3.0], [1.0, 1.0, 1.0]];
//! let sharp = softmax::softmax(&logits, &Options::new().temperature(0.1)).unwrap();
//! assert!(sharp[[0, 2]] > 0.9999);
//! let columns = softmax::softmax(&logits, &Options::new().axis(0)).unwrap();
//! assert!((columns[[0, 0]] - 0.5).abs() < 1e-15);
//! ```
//!
//! Losses want logarithms of probabilities. `log_softmax` and `logsumexp` are computed directly
//! (never as `ln(softmax)`), so a dominant class keeps its tiny negative log-probability:
//!
//! ```
//! # use ndarray::array;
//! # use softmax::Options;
//! let ly = softmax::log_softmax(&array![0.0f64, -40.0, -50.0], &Options::new()).unwrap();
//! assert_eq!(ly[0], -4.248547130276385e-18); // −ln(1 + e⁻⁴⁰ + e⁻⁵⁰), to the last bit
//! let lse = softmax::logsumexp(&array![[1000.0f64, 1000.0]], &Options::new()).unwrap();
//! assert_eq!(lse[0], 1000.6931471805599);
//! ```
//!
//! The gradient of softmax is its Jacobian `diag(y) − y yᵀ`, batched here as `(…, K, K)`; a
//! layer's backward pass needs only the vector–Jacobian product
//! `dx = y ⊙ (dy − ⟨dy, y⟩)`, which never builds the matrix:
//!
//! ```
//! # use ndarray::array;
//! # use softmax::Options;
//! let x = array![[0.5f64, -1.0, 2.0]];
//! let o = Options::new();
//! let y = softmax::softmax(&x, &o).unwrap();
//! let j = softmax::softmax_jacobian(&x, &o).unwrap(); // shape (1, 3, 3)
//! let dy = array![[1.0, -2.0, 0.5]];
//! let dx = softmax::softmax_backward(&y, &dy, &o).unwrap();
//! for i in 0..3 {
//!     let jt_dy: f64 = (0..3).map(|k| j[[0, k, i]] * dy[[0, k]]).sum();
//!     assert!((jt_dy - dx[[0, i]]).abs() < 1e-15);
//! }
//! ```
//!
//! For two classes softmax is the logistic sigmoid of the difference,
//! `softmax([a, b])₀ = sigmoid(a − b)`; the sigmoid on its own serves multi-label outputs:
//!
//! ```
//! # use ndarray::array;
//! # use softmax::Options;
//! let o = Options::new();
//! let two = softmax::softmax(&array![3.0f64, 1.0], &o).unwrap();
//! let sig = softmax::sigmoid(&array![2.0f64], &o).unwrap();
//! assert_eq!(two[0], sig[0]);
//! ```
//!
//! Cross-entropy follows `torch.nn.functional.cross_entropy` (class indices or probabilities,
//! class weights, `ignore_index`, label smoothing, reductions) and can return its gradient from the
//! same pass; the [`nn`] module has layers with forward and backward passes to train with:
//!
//! ```
//! # use ndarray::array;
//! use softmax::{LossOptions, Target};
//! let logits = array![[2.0f32, 0.5, -1.0], [0.1, 0.2, 3.0]];
//! let classes = array![0i64, 2];
//! let opts = LossOptions::new().label_smoothing(0.1);
//! let (loss, grad) = softmax::cross_entropy_with_grad(&logits, Target::classes(classes.view()), &opts).unwrap();
//! assert!(loss[[]] > 0.0 && grad.shape() == [2, 3]);
//! ```
//!
//! A row too long for memory, or split across machines, is reduced chunk by chunk with
//! [`LseStats`] (the `(max, sum)` statistics form a monoid) and then normalised locally. The
//! [`slice`](mod@slice) module offers the same operations on flat `&[T]` rows for other tensor types.
//!
//! # The contract
//!
//! - **Accuracy.** Every softmax, log-softmax, logsumexp, sigmoid and log-sigmoid output is within
//!   2 ulp of the exact result of real arithmetic on the given inputs, for `f32` and `f64`, at
//!   every temperature, row length and offset; `f16` and `bf16` are rounded once from that result.
//!   On the portable path the outputs are correctly rounded (at most 0.6 ulp measured) except
//!   where the exact value lies within about 2⁻⁵⁸ of a rounding boundary; the vectorised kernels
//!   (below) trade some of that for speed: `f32` softmax stores each term rounded to `f32` and
//!   scales it (1.375 ulp in the suite, 1.48 at worst measured, bounded near 1.65; the same
//!   along a non-last axis and for rows of up to 16 elements, 1.47 and 1.48 measured), `f32`
//!   log-softmax and logsumexp 0.5; `f64` softmax the same way (1.41 in the suite, 1.45 at worst
//!   measured, bounded near 1.65) and log-softmax 0.51; and the half types
//!   stay within 0.5 ulp of their own. Run
//!   `cargo run --release -p softmax --example accuracy` for the measured figures. The one caveat:
//!   `logsumexp` in `f64` whose result nearly cancels (`|m + ln s|` far below `|m|`) is accurate to
//!   about 2⁻⁵⁸·`max(|m|, ln s)` absolute rather than 2 ulp of the tiny result (2 ulp of a result
//!   near 1e-17 would need the sum to 2⁻¹¹⁰, beyond double-double).
//! - **How.** `x/τ` is carried as a double-double, `x/τ − max` is formed exactly, every `exp` is
//!   good to about 2⁻⁵⁸ and summed in double-double with its power of two kept apart, the sum is
//!   kept as `1 + rest` so that `ln s = ln_1p(rest)` keeps every bit of a dominant class's tiny
//!   log-probability (with a Newton step in double-double), and quotients are double-double
//!   divisions rounded once. The usual implementations lose 64 to 98 ulp by rounding `x − max` before the
//!   exponential and summing in the input precision.
//! - **Special values** (the same in every dtype): a NaN taking part makes every output of its row
//!   NaN; `+inf` entries share the row's mass evenly (softmax `1/k`, log-softmax `−ln k`), the
//!   others get 0 and `−inf`; `−inf` entries get 0, `−inf` and gradient 0; a row with nothing
//!   finite (all `−inf` or all masked) follows [`MaskedRows`] (`Nan` by default, as PyTorch;
//!   `Zeros`), while its `logsumexp` is `−inf` under both; an empty axis gives an empty output;
//!   subnormal outputs are kept. Masked positions (`false` in [`Options::mask`]) take no part,
//!   give 0 and `−inf`, and always get gradient 0. A NaN at a masked position is ignored.
//!   The maximum is taken in input units and `(x − max)/τ` formed exactly, so no temperature,
//!   however small, turns a finite `x/τ` into an infinity.
//! - **Losses** are within a few ulp per sample. Terms with coefficient 0 contribute 0 even at a
//!   `−inf` log-probability (PyTorch gives NaN there for probability targets). With
//!   `Reduction::Mean` and every target ignored the loss is NaN, as in PyTorch, and the gradient 0.
//! - **Errors.** Every fallible call returns [`Result`]; the [`Error`] names the value and where it
//!   is (an axis out of range for the rank, shapes that do not match, a temperature that is not
//!   finite and positive, a class index out of range with its position). No input makes the
//!   library panic.
//! - **Dtypes**: [`Element`] is `f32`, `f64`, `half::f16` and `half::bf16`; on the portable path
//!   all arithmetic is in `f64` (with double-double where `f64` alone would lose bits), each
//!   output rounded once.
//! - **Speed.** Contiguous rows along the last axis at temperature 1 without a mask go through
//!   vectorised kernels for AVX-512 and AVX2+FMA:
//!   - `f32`: softmax, log-softmax, logsumexp, the softmax backward pass, softmax and
//!     log-softmax along a non-last axis of a contiguous array (columns read in place; rows of
//!     2 to 16 elements also go through these, 64 rows at a time, one per lane, and so do the
//!     logsumexp and the fused cross-entropy of such rows), and the fused cross-entropy
//!     (class-index targets, no label smoothing: loss and gradient from the softmax passes).
//!     Each row's `ln s` (and the exponential of its maximum) comes from one plain-`f64`
//!     algorithm, within 2⁻⁵⁰, computed lane by lane for a batch of rows and giving the same
//!     bits for a row alone. Rows up to 4096 elements go in batches of up to 16 (each row's
//!     first two passes, then their `ln s`, or softmax's top probabilities, as vectors, then
//!     each row's outputs), so that no row waits on its own scalar tail; the fused
//!     cross-entropy batches its rows the same way. A logsumexp `m + ln s` that cancels below `ln s/4` (rows of
//!     log-probabilities) takes the portable path: above it, the sum's 2⁻²⁸ stays under a
//!     quarter of an ulp of the result;
//!   - `f64`: softmax, log-softmax, logsumexp (`x − m` formed exactly, so a row and the row
//!     shifted by an exactly representable constant give the same bits), the softmax backward
//!     pass (its dot product in double-double) and the fused cross-entropy (the weight over the
//!     mean's divisor folded unrounded into pass 3). Log-softmax, logsumexp and cross-entropy
//!     rows shorter than 2048 go in batches of up to 16 whose double-double `ln s` (within 2⁻⁵⁷) is computed a
//!     vector of rows at a time; longer rows each take a scalar one (within 2⁻⁵⁶);
//!   - the log-softmax backward pass of `f32` and `f64` (an `f64` kernel; `f32` rows widened to
//!     it a block at a time): `dy − exp(ly)·Σ dy` with the sum and the product's error kept;
//!   - lanes no kernel reads in place (`f64` and the half types along a non-last axis, any
//!     type's backward passes and cross-entropy along a non-last axis, a temperature or a mask
//!     along a non-last axis, non-contiguous views): a block of lanes (and of the mask's lanes)
//!     at a time is copied into contiguous rows for the row kernels and the results copied
//!     back (2-, 4- and 8-byte elements in blocks transposed in registers), so each lane gets
//!     exactly what it would as a contiguous row (`(N, C, H, W)` logits with the classes on
//!     axis 1 included), the indices of the axes before the reduced one shared among threads;
//!   - `f16` and `bf16`: softmax and log-softmax, read and written in their own format with
//!     `f32` arithmetic sized for a half-precision result, and logsumexp from those kernels'
//!     first two passes (`m + ln s` with the sum within 2⁻¹³; a row where the two cancel, `|m +
//!     ln s| < ln s`, takes the portable path); rows of 2 to 16 elements instead widen to `f32`
//!     a block at a time and take its short rows' column kernels, each result rounded once more
//!     to the half type (the `f32` one is within 1.33 of its ulps, 2⁻¹³ of a half ulp); their
//!     softmax backward pass at temperature 1 (masked or not) widens blocks of about 2¹¹ elements
//!     to `f32` for its kernel and rounds the result once (SPEC's "the `f32` result, rounded"),
//!     the log-softmax one and other temperatures the `f64` way below;
//!   - a temperature or a mask, for softmax, log-softmax, logsumexp and the backward passes (N-D
//!     and slice APIs; along other axes through the copied blocks above): a mask by giving the
//!     excluded positions `−inf` (forward) or `y = 0`, `ly = −inf`, `dy = 0` (backward), which
//!     the special-value rules treat exactly as exclusion, through each type's own kernels; a
//!     temperature (`f32` and the half types) by computing `z = (x − m)·(1/τ)` in `f64` (within
//!     3·2⁻⁵³ relative) for the `f64` kernels, and, backward, scaling the `f64` results by `1/τ`
//!     before the one rounding to the input's type; logsumexp as `m/τ + lse(z)` in `f64`, where
//!     a result below 2⁻⁸ of `|m/τ| + lse(z)` (the two cancel) takes the portable path.
//!
//!   The instruction set is chosen once per process, the best the machine has, unless
//!   `SOFTMAX_ISA=avx512|avx2|portable` or [`set_isa`] pins another; [`isa`] tells which.
//!   The half types' fused cross-entropy (class indices, no smoothing) widens blocks of about
//!   2¹² elements to `f32` for the `f32` kernels and rounds the gradient once to the type (within
//!   half an ulp of it plus 2⁻¹²; the test holds it to one step of the type).
//!   Everything else (`f64` at a temperature other than 1,
//!   cross-entropy with probability targets or label smoothing, the other losses) and any row
//!   the kernels do not take (a NaN or `+inf`, a maximum beyond the kernel's range) runs the exact portable path, so results can differ by layout
//!   within the bound; where the output alone is strided, the result is computed as if it were
//!   contiguous. Large batches and long rows are shared among the threads of the current
//!   `rayon` pool (`RAYON_NUM_THREADS`, or `ThreadPool::install`); rows longer than 2¹⁶ are
//!   always cut into the same chunks and merged in order, and so is a non-last axis longer than
//!   1024 (in chunks of 1024 entries of 64 columns), so results are bitwise the same for any
//!   number of threads.
#![deny(missing_docs)]
// The portable kernels need no `unsafe`; the vectorised ones (`kernels/fast`) allow it there only.
#![deny(unsafe_code)]

mod element;
mod error;
mod kernels;
pub mod nn;
mod ops;
mod options;
pub mod slice;
mod stream;

pub use element::Element;
pub use error::{Error, ErrorKind, Result};
pub use ops::backward::{
    log_softmax_backward, log_softmax_backward_into, sigmoid_backward, softmax_backward,
    softmax_backward_into, softmax_jacobian,
};
pub use ops::forward::{
    log_sigmoid, log_softmax, log_softmax_into, logsumexp, sigmoid, softmax, softmax_into,
};
pub use ops::loss::{
    BceOptions, LossOptions, Reduction, Target, binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_with_grad, cross_entropy, cross_entropy_with_grad,
    cross_entropy_with_grad_into, nll_loss, nll_loss_with_grad,
};
pub use options::{MaskedRows, Options, RowOptions};
pub use stream::LseStats;

pub use kernels::fast::Isa;

/// The instruction set the vectorised kernels of this process use: the best this machine has,
/// unless the environment variable `SOFTMAX_ISA` (`avx512`, `avx2` or `portable`) or [`set_isa`]
/// pinned another. [`Isa::Portable`] is the exact double-double path every other is checked
/// against.
pub fn isa() -> Isa {
    kernels::fast::current()
}

/// Pins the instruction set for the whole process (a benchmark comparing paths, a test forcing
/// each one). Affects calls that start after it returns.
///
/// # Errors
/// An instruction set this machine cannot run ([`ErrorKind::Option`]).
pub fn set_isa(isa: Isa) -> Result<()> {
    kernels::fast::set_isa(isa).map_err(|isa| {
        Error::new(
            ErrorKind::Option,
            format!("instruction set {} is not available on this machine", isa.name()),
        )
    })
}

/// The README's examples, compiled and run as doctests so that it stays true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
