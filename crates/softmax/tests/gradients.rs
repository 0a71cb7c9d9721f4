//! Gradients against central finite differences in f64, the Jacobian against the backward pass,
//! and the two-class identity `softmax([a, b])₀ = sigmoid(a − b)`.
//!
//! # The finite-difference tolerance
//!
//! For a scalar `L(x)` we take `(L(x + h·eᵢ) − L(x − h·eᵢ)) / (2h)` with `h = 1e-6 · max(1, |xᵢ|)`
//! (the divisor is the difference of the two perturbed inputs as actually rounded, so it is exact).
//! - Truncation: `h²/6 · |∂³L|`. The inputs here are within ±4 (BCE ±6), temperatures ≥ 0.5 and
//!   the upstream gradients within ±1, so the third derivatives are O(10): at most ~1e-10.
//! - Rounding: each evaluation of `L` is a sum of at most 24 terms of size ≲ 10, accurate to a few
//!   ε·Σ|terms| ≲ 1e-13; divided by 2h ≥ 2e-6 that is ≲ 1e-7 in the very worst case and ~1e-9 in
//!   practice.
//!
//! So `|FD − ∂L| ≤ FD_TOL · (1 + |∂L|)` with `FD_TOL = 1e-6` is honest, and still five orders of
//! magnitude below what a wrong formula produces (a missing `1/τ` doubles a gradient at τ = 0.5; a
//! missing weight, smoothing term or mean divisor changes it by ≥ 5%).

#[path = "support/common.rs"]
mod common;

use common::{Rng, ulps_f32, ulps_f64};

use ndarray::{Array1, ArrayD, Axis, Dimension, IxDyn, array};
use softmax::{BceOptions, LossOptions, MaskedRows, Options, Reduction, Target};

const FD_TOL: f64 = 1e-6;
const SHAPE: [usize; 3] = [2, 3, 4];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Central differences of `f` at `x`, for every position not in `skip`.
fn numeric_grad(
    x: &ArrayD<f64>,
    skip: impl Fn(&[usize]) -> bool,
    f: impl Fn(&ArrayD<f64>) -> f64,
) -> ArrayD<f64> {
    let mut g = ArrayD::zeros(x.raw_dim());
    let mut xp = x.clone();
    for (index, &v) in x.indexed_iter() {
        let at = index.slice();
        if skip(at) {
            continue;
        }
        let h = 1e-6 * v.abs().max(1.0);
        let (up, down) = (v + h, v - h);
        xp[at] = up;
        let fp = f(&xp);
        xp[at] = down;
        let fm = f(&xp);
        xp[at] = v;
        g[at] = (fp - fm) / (up - down);
    }
    g
}

/// `|numeric − analytic| ≤ FD_TOL·(1 + |analytic|)` at every position not skipped.
fn assert_matches_fd(
    ctx: &str,
    analytic: &ArrayD<f64>,
    numeric: &ArrayD<f64>,
    skip: impl Fn(&[usize]) -> bool,
) {
    assert_eq!(analytic.shape(), numeric.shape(), "{ctx}: gradient shape");
    for ((index, &a), &n) in analytic.indexed_iter().zip(numeric.iter()) {
        let at = index.slice();
        if skip(at) {
            continue;
        }
        let bound = FD_TOL * (1.0 + a.abs());
        assert!(
            (a - n).abs() <= bound,
            "{ctx}: gradient at {at:?}: analytic {a:e}, finite differences {n:e} (difference {:e}, bound {bound:e})",
            (a - n).abs()
        );
    }
}

/// A mask for the (2, 3, 4) input with about a quarter of the positions excluded, and one lane
/// along `axis` excluded entirely (a row with nothing to normalise).
fn mask_for(axis: isize, rng: &mut Rng) -> ArrayD<bool> {
    let mut mask = ArrayD::from_shape_simple_fn(IxDyn(&SHAPE), || rng.below(4) != 0);
    let axis = if axis < 0 { (SHAPE.len() as isize + axis) as usize } else { axis as usize };
    let mut lanes = mask.lanes_mut(Axis(axis)).into_iter();
    let mut empty = lanes.nth(1).expect("a second lane");
    empty.fill(false);
    // And make sure every other lane keeps at least one position.
    for mut lane in lanes {
        lane[0] = true;
    }
    mask
}

/// `x ⊙ y` summed, skipping positions where `keep` is false.
fn weighted_sum(dy: &ArrayD<f64>, y: &ArrayD<f64>, keep: Option<&ArrayD<bool>>) -> f64 {
    let mut sum = 0.0;
    for ((index, &d), &v) in dy.indexed_iter().zip(y.iter()) {
        if keep.is_none_or(|k| k[index.slice()]) {
            sum += d * v;
        }
    }
    sum
}

/// `Σ aᵢ·bᵢ`, accurate to about ε (products split exactly with an FMA, sums compensated), so
/// comparisons against it measure the library's error and not the test's.
fn accurate_dot(a: impl Iterator<Item = f64>, b: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut compensation) = (0.0f64, 0.0f64);
    let mut add = |v: f64| {
        let t = sum + v;
        let z = t - sum;
        compensation += (sum - (t - z)) + (v - z);
        sum = t;
    };
    for (x, y) in a.zip(b) {
        let p = x * y;
        let e = x.mul_add(y, -p);
        add(p);
        add(e);
    }
    sum + compensation
}

// ---------------------------------------------------------------------------------------------
// Softmax, log-softmax and sigmoid backward passes
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Op {
    Softmax,
    LogSoftmax,
}

fn check_normalising_backward(op: Op, seed: u64) {
    let mut rng = Rng(seed);
    for &tau in &[1.0, 0.5] {
        for &axis in &[-1isize, 0] {
            for masked in [false, true] {
                let ctx = format!("{op:?} backward, τ = {tau}, axis {axis}, mask: {masked}");
                let mut x = rng.array(&SHAPE, -4.0, 4.0);
                let dy = rng.array(&SHAPE, -1.0, 1.0);
                let mask = masked.then(|| mask_for(axis, &mut rng));
                if let Some(m) = &mask {
                    // A NaN at a masked position takes no part (SPEC.md): put one there.
                    let at = m.indexed_iter().find(|(_, keep)| !**keep).map(|(i, _)| i).unwrap();
                    x[at] = f64::NAN;
                }
                let mut o = Options::new().axis(axis).temperature(tau);
                if let Some(m) = &mask {
                    o = o.mask(m.view());
                }
                let forward = |x: &ArrayD<f64>| match op {
                    Op::Softmax => softmax::softmax(x, &o),
                    Op::LogSoftmax => softmax::log_softmax(x, &o),
                };
                let y = forward(&x).unwrap_or_else(|e| panic!("{ctx}: forward: {e}"));
                let dx = match op {
                    Op::Softmax => softmax::softmax_backward(&y, &dy, &o),
                    Op::LogSoftmax => softmax::log_softmax_backward(&y, &dy, &o),
                }
                .unwrap_or_else(|e| panic!("{ctx}: backward: {e}"));
                assert_eq!(dx.shape(), &SHAPE, "{ctx}: dx shape");

                let is_masked = |at: &[usize]| mask.as_ref().is_some_and(|m| !m[at]);
                // L(x) = Σ dy ⊙ f(x) over the positions that take part (a masked log-softmax
                // output is −inf, and its dy multiplies nothing).
                let loss = |x: &ArrayD<f64>| weighted_sum(&dy, &forward(x).unwrap(), mask.as_ref());
                let numeric = numeric_grad(&x, |at| x[at].is_nan(), loss);
                assert_matches_fd(&ctx, &dx, &numeric, is_masked);
                if let Some(m) = &mask {
                    for (index, &keep) in m.indexed_iter() {
                        let at = index.slice();
                        if !keep {
                            // Exactly 0 (not NaN, not −0-ish noise), even in the fully masked lane
                            // whose forward output is NaN under the default policy, and even
                            // though dy is non-zero there.
                            assert!(dx[at] == 0.0, "{ctx}: masked position {at:?} has gradient {:e}", dx[at]);
                            if !x[at].is_nan() {
                                assert!(
                                    numeric[at] == 0.0,
                                    "{ctx}: the forward output depends on masked position {at:?} (slope {:e})",
                                    numeric[at]
                                );
                            }
                        }
                    }
                    assert!(dx.iter().all(|v| v.is_finite()), "{ctx}: non-finite gradient {dx}");
                }
            }
        }
    }
}

#[test]
fn softmax_backward_matches_finite_differences() {
    check_normalising_backward(Op::Softmax, 1);
}

#[test]
fn log_softmax_backward_matches_finite_differences() {
    check_normalising_backward(Op::LogSoftmax, 2);
}

#[test]
fn sigmoid_backward_matches_finite_differences() {
    let mut rng = Rng(3);
    for &tau in &[1.0, 0.5] {
        let ctx = format!("sigmoid backward, τ = {tau}");
        let x = rng.array(&SHAPE, -4.0, 4.0);
        let dy = rng.array(&SHAPE, -1.0, 1.0);
        let o = Options::new().temperature(tau);
        let y = softmax::sigmoid(&x, &o).unwrap();
        let dx = softmax::sigmoid_backward(&y, &dy, &o).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let numeric =
            numeric_grad(&x, |_| false, |x| weighted_sum(&dy, &softmax::sigmoid(x, &o).unwrap(), None));
        assert_matches_fd(&ctx, &dx, &numeric, |_| false);
    }
}

// ---------------------------------------------------------------------------------------------
// Losses
// ---------------------------------------------------------------------------------------------

const REDUCTIONS: [Reduction; 3] = [Reduction::None, Reduction::Sum, Reduction::Mean];
/// `None` is PyTorch's default class axis (1 for rank ≥ 2).
const CLASS_AXES: [Option<isize>; 3] = [None, Some(-1), Some(0)];

fn class_axis_index(axis: Option<isize>) -> usize {
    match axis {
        None => 1,
        Some(a) if a < 0 => (SHAPE.len() as isize + a) as usize,
        Some(a) => a as usize,
    }
}

/// Class-index targets for logits of `SHAPE` with classes along `axis`: random, with a couple set
/// to the ignored index −100 (but never all).
fn class_targets(axis: usize, rng: &mut Rng) -> ArrayD<i64> {
    let k = SHAPE[axis] as u64;
    let mut batch = SHAPE.to_vec();
    batch.remove(axis);
    let mut t = ArrayD::from_shape_simple_fn(IxDyn(&batch), || rng.below(k) as i64);
    let n = t.len();
    t.as_slice_mut().unwrap()[1] = -100;
    t.as_slice_mut().unwrap()[n - 2] = -100;
    t
}

/// `L = Σ loss`: for `Reduction::None` the library returns the gradient of the summed losses.
fn total(loss: &ArrayD<f64>) -> f64 {
    loss.sum()
}

#[test]
fn cross_entropy_class_targets_match_finite_differences() {
    let mut rng = Rng(4);
    for axis in CLASS_AXES {
        let a = class_axis_index(axis);
        let k = SHAPE[a];
        for reduction in REDUCTIONS {
            for smoothing in [0.0, 0.15] {
                let ctx = format!(
                    "cross_entropy (class indices), class axis {axis:?}, {reduction:?}, ε = {smoothing}"
                );
                let x = rng.array(&SHAPE, -4.0, 4.0);
                let target = class_targets(a, &mut rng);
                let weight: Array1<f64> = (0..k).map(|_| rng.uniform(0.5, 2.0)).collect();
                let mut opts =
                    LossOptions::new().weight(weight.view()).label_smoothing(smoothing).reduction(reduction);
                if let Some(axis) = axis {
                    opts = opts.class_axis(axis);
                }
                let (loss, grad) =
                    softmax::cross_entropy_with_grad(&x, Target::classes(target.view()), &opts)
                        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                let numeric = numeric_grad(
                    &x,
                    |_| false,
                    |x| total(&softmax::cross_entropy(x, Target::classes(target.view()), &opts).unwrap()),
                );
                assert_matches_fd(&ctx, &grad, &numeric, |_| false);
                // The loss the fused form returns is the loss the plain form returns.
                let plain = softmax::cross_entropy(&x, Target::classes(target.view()), &opts).unwrap();
                assert_eq!(loss, plain, "{ctx}: fused and plain losses differ");
                // Ignored samples: gradient exactly 0 along their whole lane.
                for ((index, &c), lane) in target.indexed_iter().zip(grad.lanes(Axis(a))) {
                    if c == -100 {
                        assert!(
                            lane.iter().all(|&g| g == 0.0),
                            "{ctx}: ignored sample {:?} has gradient {lane}",
                            index.slice()
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn cross_entropy_probability_targets_match_finite_differences() {
    let mut rng = Rng(5);
    for axis in CLASS_AXES {
        let a = class_axis_index(axis);
        let k = SHAPE[a];
        for reduction in REDUCTIONS {
            for (smoothing, weighted) in [(0.0, false), (0.2, true)] {
                let ctx = format!(
                    "cross_entropy (probabilities), class axis {axis:?}, {reduction:?}, ε = {smoothing}, weighted: {weighted}"
                );
                let x = rng.array(&SHAPE, -4.0, 4.0);
                let mut target = rng.array(&SHAPE, 0.05, 1.0);
                for mut lane in target.lanes_mut(Axis(a)) {
                    let s = lane.sum();
                    lane.mapv_inplace(|v| v / s);
                }
                let weight: Array1<f64> = (0..k).map(|_| rng.uniform(0.5, 2.0)).collect();
                let mut opts = LossOptions::new().label_smoothing(smoothing).reduction(reduction);
                if weighted {
                    opts = opts.weight(weight.view());
                }
                if let Some(axis) = axis {
                    opts = opts.class_axis(axis);
                }
                let (_, grad) = softmax::cross_entropy_with_grad(&x, Target::probs(target.view()), &opts)
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                let numeric = numeric_grad(
                    &x,
                    |_| false,
                    |x| total(&softmax::cross_entropy(x, Target::probs(target.view()), &opts).unwrap()),
                );
                assert_matches_fd(&ctx, &grad, &numeric, |_| false);
            }
        }
    }
}

#[test]
fn nll_loss_matches_finite_differences() {
    let mut rng = Rng(6);
    for axis in CLASS_AXES {
        let a = class_axis_index(axis);
        let k = SHAPE[a];
        for reduction in REDUCTIONS {
            let ctx = format!("nll_loss, class axis {axis:?}, {reduction:?}");
            let logits = rng.array(&SHAPE, -4.0, 4.0);
            let log_probs = softmax::log_softmax(&logits, &Options::new().axis(a as isize)).unwrap();
            let target = class_targets(a, &mut rng);
            let weight: Array1<f64> = (0..k).map(|_| rng.uniform(0.5, 2.0)).collect();
            let mut opts = LossOptions::new().weight(weight.view()).reduction(reduction);
            if let Some(axis) = axis {
                opts = opts.class_axis(axis);
            }
            let (_, grad) = softmax::nll_loss_with_grad(&log_probs, &target, &opts)
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let numeric = numeric_grad(
                &log_probs,
                |_| false,
                |lp| total(&softmax::nll_loss(lp, &target, &opts).unwrap()),
            );
            assert_matches_fd(&ctx, &grad, &numeric, |_| false);
        }
    }
}

#[test]
fn bce_with_logits_matches_finite_differences() {
    let mut rng = Rng(7);
    for reduction in REDUCTIONS {
        for (with_weight, with_pos_weight) in [(false, false), (true, false), (false, true), (true, true)] {
            let ctx = format!(
                "BCE with logits, {reduction:?}, weight: {with_weight}, pos_weight: {with_pos_weight}"
            );
            let x = rng.array(&SHAPE, -6.0, 6.0);
            let mut target = rng.array(&SHAPE, 0.0, 1.0);
            target[[0, 0, 0]] = 0.0;
            target[[1, 2, 3]] = 1.0;
            target[[0, 1, 2]] = 1.0;
            // weight broadcast over the first axis; pos_weight one per class (last axis).
            let weight = rng.array(&SHAPE[1..], 0.5, 2.0);
            let pos_weight = rng.array(&SHAPE[2..], 0.5, 3.0);
            let mut opts = BceOptions::new().reduction(reduction);
            if with_weight {
                opts = opts.weight(weight.view());
            }
            if with_pos_weight {
                opts = opts.pos_weight(pos_weight.view());
            }
            let (_, grad) = softmax::binary_cross_entropy_with_logits_with_grad(&x, &target, &opts)
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let numeric = numeric_grad(
                &x,
                |_| false,
                |x| total(&softmax::binary_cross_entropy_with_logits(x, &target, &opts).unwrap()),
            );
            assert_matches_fd(&ctx, &grad, &numeric, |_| false);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The Jacobian
// ---------------------------------------------------------------------------------------------

#[test]
fn jacobian_transpose_times_dy_is_the_backward_pass() {
    let mut rng = Rng(8);
    for trial in 0..400 {
        let k = 1 + rng.below(12) as usize;
        let tau = if trial % 2 == 0 { 1.0 } else { 0.5 };
        let offset = if trial % 5 == 0 { 100.0 } else { 0.0 };
        let x: Array1<f64> = (0..k).map(|_| offset + rng.uniform(-8.0, 8.0)).collect();
        let dy: Array1<f64> = (0..k).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let o = Options::new().temperature(tau);
        let ctx = format!("trial {trial}: x = {x}, dy = {dy}, τ = {tau}");
        let y = softmax::softmax(&x, &o).unwrap();
        let j = softmax::softmax_jacobian(&x, &o).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(j.shape(), &[k, k], "{ctx}: Jacobian shape");
        let dx = softmax::softmax_backward(&y, &dy, &o).unwrap();
        let norm = |v: &Array1<f64>| v.iter().map(|a| a * a).sum::<f64>().sqrt();
        // J and dx are each within a couple of ε·‖y‖‖dy‖/τ of exact (SPEC: backward ≤ 4ε, J is
        // formed per entry in double-double), and the product is formed to about ε here.
        let bound = 1e-15 * norm(&y) * norm(&dy) / tau;
        for i in 0..k {
            let jt_dy = accurate_dot((0..k).map(|r| j[[r, i]]), dy.iter().copied());
            assert!(
                (jt_dy - dx[i]).abs() <= bound,
                "{ctx}: (Jᵀ·dy)[{i}] = {jt_dy:e} but softmax_backward gives {:e} (bound {bound:e})",
                dx[i]
            );
        }
    }
}

#[test]
fn jacobian_shape_rows_symmetry_for_every_axis() {
    let mut rng = Rng(9);
    let x = rng.array(&SHAPE, -3.0, 3.0);
    for &tau in &[1.0, 0.5] {
        for axis in [0isize, 1, 2, -1] {
            let a = class_axis_index(Some(axis));
            let k = SHAPE[a];
            let ctx = format!("softmax_jacobian, axis {axis}, τ = {tau}");
            let o = Options::new().axis(axis).temperature(tau);
            let j = softmax::softmax_jacobian(&x, &o).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let mut expected_shape = SHAPE.to_vec();
            expected_shape.remove(a);
            let batch = expected_shape.clone();
            expected_shape.extend([k, k]);
            assert_eq!(j.shape(), expected_shape.as_slice(), "{ctx}: shape");

            let y = softmax::softmax(&x, &o).unwrap();
            for (b, lane) in ndarray::indices(IxDyn(&batch)).into_iter().zip(x.lanes(Axis(a))) {
                let b = b.slice().to_vec();
                let block = |r: usize, c: usize| {
                    let mut index = b.clone();
                    index.extend([r, c]);
                    j[index.as_slice()]
                };
                // The block belongs to the right lane: it is that lane's own Jacobian, and its
                // diagonal is y(1 − y)/τ for that lane's y.
                let lane_j = softmax::softmax_jacobian(&lane, &Options::new().temperature(tau)).unwrap();
                let mut y_index = b.clone();
                y_index.insert(a, 0);
                for r in 0..k {
                    y_index[a] = r;
                    let yr = y[y_index.as_slice()];
                    let diag = yr * (1.0 - yr) / tau;
                    assert!(
                        // y(1 − y) from the rounded y is itself off by up to ε·y² (the
                        // rounding of y, seen through 1 − y): the tolerance covers both sides.
                        (block(r, r) - diag).abs()
                            <= 4.0 * f64::EPSILON * (diag.abs() + yr * yr / tau).max(f64::MIN_POSITIVE),
                        "{ctx}: lane {b:?}: J[{r}, {r}] = {:e}, y(1 − y)/τ = {diag:e}",
                        block(r, r)
                    );
                    let mut row_sum = 0.0;
                    let mut row_abs = 0.0;
                    for c in 0..k {
                        assert_eq!(
                            block(r, c),
                            lane_j[[r, c]],
                            "{ctx}: lane {b:?}: J[{r}, {c}] is not the lane's"
                        );
                        // Symmetric: yᵣ y_c = y_c yᵣ, bit for bit.
                        assert_eq!(block(r, c), block(c, r), "{ctx}: lane {b:?}: J[{r}, {c}] ≠ J[{c}, {r}]");
                        row_sum += block(r, c);
                        row_abs += block(r, c).abs();
                    }
                    // Rows sum to 0 (softmax is invariant to adding a constant), up to rounding.
                    // J is (diag(y) − y yᵀ)/τ of the *rounded* y, whose entries sum to 1 only
                    // within about (K/2 + 1)·ε, so the row sums to yᵣ·(1 − Σy)/τ plus the rounding
                    // of each entry: norm-wise small, but not small relative to Σ|J| when yᵣ ≈ 1
                    // (then J[r, r] = yᵣ(1 − yᵣ)/τ cancels). A wrong Jacobian (a missing diagonal
                    // or τ) misses this by a factor of 10¹⁴.
                    let bound = (k as f64 + 2.0) * f64::EPSILON * yr / tau + 2.0 * f64::EPSILON * row_abs;
                    assert!(
                        row_sum.abs() <= bound,
                        "{ctx}: lane {b:?}: row {r} sums to {row_sum:e} (y = {yr:e}, Σ|J| = {row_abs:e}, bound {bound:e})"
                    );
                }
            }
        }
    }
}

#[test]
fn jacobian_has_zero_rows_and_columns_at_masked_positions() {
    let x = array![[0.3f64, -1.2, 2.0, 0.7]];
    let mask = array![[true, false, true, true]];
    let o = Options::new().mask(mask.view());
    let j = softmax::softmax_jacobian(&x, &o).unwrap();
    assert_eq!(j.shape(), &[1, 4, 4]);
    for i in 0..4 {
        assert_eq!(j[[0, 1, i]], 0.0, "masked row: J[1, {i}] = {}", j[[0, 1, i]]);
        assert_eq!(j[[0, i, 1]], 0.0, "masked column: J[{i}, 1] = {}", j[[0, i, 1]]);
    }
    // The rest is the Jacobian of the three unmasked entries.
    let sub = softmax::softmax_jacobian(&array![0.3f64, 2.0, 0.7], &Options::new()).unwrap();
    for (r, &rr) in [0usize, 2, 3].iter().enumerate() {
        for (c, &cc) in [0usize, 2, 3].iter().enumerate() {
            assert!(
                ulps_f64(j[[0, rr, cc]], sub[[r, c]]) <= 2,
                "J[{rr}, {cc}] = {} vs {}",
                j[[0, rr, cc]],
                sub[[r, c]]
            );
        }
    }
    // And a fully masked row under MaskedRows::Zeros has an all-zero block.
    let none = array![[false, false, false, false]];
    let j = softmax::softmax_jacobian(&x, &Options::new().mask(none.view()).masked_rows(MaskedRows::Zeros))
        .unwrap();
    assert!(j.iter().all(|&v| v == 0.0), "fully masked row, MaskedRows::Zeros: {j}");
}

// ---------------------------------------------------------------------------------------------
// Two classes: softmax is a sigmoid
// ---------------------------------------------------------------------------------------------

/// Pairs whose difference `a − b` is exact in both f64 and f32, from ordinary to huge.
const PAIRS: [(f64, f64); 14] = [
    (3.0, 1.0),
    (0.5, -0.25),
    (-2.0, 5.0),
    (0.0, 0.0),
    (30.0, -10.0),
    (-30.0, 10.0),
    (1000.0, 1001.0),
    (-1000.0, -1003.5),
    (60.0, -20.0),
    (-44.0, 40.0),
    (1.0e6, 999_997.0),
    (-88.0, 0.0),
    // 2¹²⁷ and 2¹⁰⁰: exact in f32; the second difference overflows nothing in f64 but is 2¹⁰¹.
    (1.7014118346046923e38, 1.7014118346046923e38),
    (1.2676506002282294e30, -1.2676506002282294e30),
];

#[test]
fn two_class_softmax_is_sigmoid_of_the_difference() {
    let o = Options::new();
    for &(a, b) in &PAIRS {
        let d = a - b;
        assert_eq!(d + b, a, "({a}, {b}): the test needs an exact difference");
        let p = softmax::softmax(&array![a, b], &o).unwrap();
        let s = softmax::sigmoid(&array![d, -d], &o).unwrap();
        for i in 0..2 {
            assert!(
                ulps_f64(p[i], s[i]) <= 2,
                "f64 ({a}, {b}): softmax[{i}] = {:e}, sigmoid(±(a − b)) = {:e} ({} ulp)",
                p[i],
                s[i],
                ulps_f64(p[i], s[i])
            );
        }

        let (a32, b32) = (a as f32, b as f32);
        assert_eq!(f64::from(a32), a, "({a}, {b}) must be exact in f32");
        assert_eq!(f64::from(b32), b, "({a}, {b}) must be exact in f32");
        let d32 = a32 - b32;
        if !d32.is_finite() || f64::from(d32) != d {
            continue; // a − b not exact in f32: the f64 check above still ran.
        }
        let p = softmax::softmax(&array![a32, b32], &o).unwrap();
        let s = softmax::sigmoid(&array![d32, -d32], &o).unwrap();
        for i in 0..2 {
            assert!(
                ulps_f32(p[i], s[i]) <= 2,
                "f32 ({a}, {b}): softmax[{i}] = {:e}, sigmoid(±(a − b)) = {:e} ({} ulp)",
                p[i],
                s[i],
                ulps_f32(p[i], s[i])
            );
        }
    }
    // The pairs do exercise large arguments: these are far from 1/2 or saturated.
    let p = softmax::softmax(&array![-1000.0f64, -1003.5], &o).unwrap();
    assert!((p[0] - 1.0 / (1.0 + (-3.5f64).exp())).abs() < 1e-15, "softmax([-1000, -1003.5]) = {p}");
    let p = softmax::softmax(&array![-44.0f64, 40.0], &o).unwrap();
    assert!(p[0] > 0.0 && (p[0] / (-84.0f64).exp() - 1.0).abs() < 1e-14, "softmax([-44, 40])₀ = {:e}", p[0]);
}

// ---------------------------------------------------------------------------------------------
// Every target ignored
// ---------------------------------------------------------------------------------------------

/// `Reduction::Mean` with every target ignored: the loss is 0/0 = NaN (as in PyTorch) and the
/// gradient is 0 everywhere (as in PyTorch, and as the crate docs promise: "With `Reduction::Mean`
/// and every target ignored the loss is NaN, as in PyTorch, and the gradient 0"). `Sum` and `None`
/// give loss 0 and gradient 0.
#[test]
fn every_target_ignored_gives_nan_mean_and_zero_gradient() {
    let logits = array![[0.5f64, -1.0, 2.0], [1.0, 0.0, -3.0]];
    let target = array![1i64, 1];
    for reduction in REDUCTIONS {
        for smoothing in [0.0, 0.1] {
            let ctx = format!("cross_entropy, every target ignored, {reduction:?}, ε = {smoothing}");
            let opts =
                LossOptions::new().ignore_index(Some(1)).label_smoothing(smoothing).reduction(reduction);
            let (loss, grad) =
                softmax::cross_entropy_with_grad(&logits, Target::classes(target.view()), &opts).unwrap();
            if reduction == Reduction::Mean {
                assert!(loss[[]].is_nan(), "{ctx}: loss {loss}, expected NaN");
            } else {
                assert!(loss.iter().all(|&l| l == 0.0), "{ctx}: loss {loss}, expected 0");
            }
            assert!(grad.iter().all(|&g| g == 0.0), "{ctx}: gradient {grad}, expected all 0");

            let logits32 = logits.mapv(|v| v as f32);
            let opts32 =
                LossOptions::new().ignore_index(Some(1)).label_smoothing(smoothing).reduction(reduction);
            let (_, grad32) =
                softmax::cross_entropy_with_grad(&logits32, Target::classes(target.view()), &opts32).unwrap();
            assert!(grad32.iter().all(|&g| g == 0.0), "{ctx} (f32): gradient {grad32}, expected all 0");
        }
        let ctx = format!("nll_loss, every target ignored, {reduction:?}");
        let opts = LossOptions::new().ignore_index(Some(1)).reduction(reduction);
        let (loss, grad) = softmax::nll_loss_with_grad(&logits, &target, &opts).unwrap();
        if reduction == Reduction::Mean {
            assert!(loss[[]].is_nan(), "{ctx}: loss {loss}, expected NaN");
        }
        assert!(grad.iter().all(|&g| g == 0.0), "{ctx}: gradient {grad}, expected all 0");
    }
}
