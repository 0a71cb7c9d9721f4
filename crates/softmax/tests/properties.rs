//! Properties of the softmax family, on random inputs (proptest).

#[path = "support/common.rs"]
mod common;

use common::ulps_f64;

use ndarray::{Array1, Array3, Axis};
use proptest::prelude::*;
use softmax::{LseStats, Options, RowOptions};

/// A row of values that are multiples of 2⁻²⁰ in ±`scale`, so adding an integer offset below 2³²
/// is exact in f64 and the shifted row is exactly the same row plus a constant.
fn row(max_len: usize, scale: f64) -> impl Strategy<Value = Vec<f64>> {
    let units = (scale * 1048576.0) as i64;
    prop::collection::vec(-units..=units, 1..max_len)
        .prop_map(|v| v.into_iter().map(|u| u as f64 / 1048576.0).collect())
}

fn scale() -> impl Strategy<Value = f64> {
    prop_oneof![Just(1.0), Just(10.0), Just(100.0), Just(300.0)]
}

fn temperature() -> impl Strategy<Value = f64> {
    prop_oneof![Just(1.0), Just(0.05), Just(0.5), Just(3.0), 0.01f64..10.0]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn outputs_sum_to_one(x in (scale()).prop_flat_map(|s| row(200, s)), tau in temperature()) {
        let y = softmax::softmax(&Array1::from(x.clone()), &Options::new().temperature(tau)).unwrap();
        // Each output is within an ulp of exact; the f64 sum adds at most len·ε.
        let sum: f64 = y.iter().sum();
        prop_assert!((sum - 1.0).abs() <= (x.len() as f64 + 2.0) * f64::EPSILON, "sum {}", sum);
        let y32 = softmax::softmax(&Array1::from(x.iter().map(|&v| v as f32).collect::<Vec<_>>()), &Options::new().temperature(tau)).unwrap();
        let sum32: f64 = y32.iter().map(|&v| f64::from(v)).sum();
        prop_assert!((sum32 - 1.0).abs() <= (x.len() as f64 + 2.0) * f64::from(f32::EPSILON), "sum {}", sum32);
    }

    #[test]
    fn shifting_the_row_changes_nothing(x in (scale()).prop_flat_map(|s| row(100, s)), c in -4_000_000_000i64..4_000_000_000) {
        // softmax(x + c) = softmax(x): x − max is formed exactly, so the outputs are identical.
        let shifted: Vec<f64> = x.iter().map(|&v| v + c as f64).collect();
        let o = Options::new();
        let (x, shifted) = (Array1::from(x), Array1::from(shifted));
        prop_assert_eq!(softmax::softmax(&x, &o).unwrap(), softmax::softmax(&shifted, &o).unwrap());
        prop_assert_eq!(softmax::log_softmax(&x, &o).unwrap(), softmax::log_softmax(&shifted, &o).unwrap());
    }

    #[test]
    fn two_classes_are_a_sigmoid(a in -2000.0f64..2000.0, b in -2000.0f64..2000.0) {
        // Round a and b to multiples of 2⁻²⁰ so that a − b is exact.
        let (a, b) = ((a * 1048576.0).round() / 1048576.0, (b * 1048576.0).round() / 1048576.0);
        let o = Options::new();
        let y = softmax::softmax(&Array1::from(vec![a, b]), &o).unwrap();
        let s = softmax::sigmoid(&Array1::from(vec![a - b]), &o).unwrap();
        prop_assert!(ulps_f64(y[0], s[0]) <= 1, "{} vs {}", y[0], s[0]);
        let ly = softmax::log_softmax(&Array1::from(vec![a, b]), &o).unwrap();
        let ls = softmax::log_sigmoid(&Array1::from(vec![a - b]), &o).unwrap();
        prop_assert!(ulps_f64(ly[0], ls[0]) <= 1, "{} vs {}", ly[0], ls[0]);
    }

    #[test]
    fn log_softmax_is_the_log_of_softmax(x in (scale()).prop_flat_map(|s| row(100, s)), tau in temperature()) {
        let o = Options::new().temperature(tau);
        let x = Array1::from(x);
        let y = softmax::softmax(&x, &o).unwrap();
        let ly = softmax::log_softmax(&x, &o).unwrap();
        for (&yi, &lyi) in y.iter().zip(&ly) {
            if yi >= f64::MIN_POSITIVE {
                // ln of a value within an ulp of exact is off by at most 2ε absolute.
                let bound = 2.0 * f64::EPSILON * (1.0 + lyi.abs());
                prop_assert!((yi.ln() - lyi).abs() <= bound, "ln {} vs {}", yi, lyi);
            }
        }
    }

    #[test]
    fn chunked_logsumexp_equals_the_whole(x in (scale()).prop_flat_map(|s| row(300, s)), cuts in prop::collection::vec(0usize..300, 0..6), tau in temperature()) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (x.len() + 1)).collect();
        cuts.push(0);
        cuts.push(x.len());
        cuts.sort_unstable();
        // Merge right to left, to use a different association than the row kernel.
        let mut merged = LseStats::new(tau).unwrap();
        for w in cuts.windows(2).rev() {
            merged = LseStats::from_chunk(&x[w[0]..w[1]], tau).unwrap().merge(&merged).unwrap();
        }
        let whole = softmax::logsumexp(&Array1::from(x.clone()), &Options::new().temperature(tau)).unwrap()[[]];
        let m = x.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b)) / tau;
        // Within an ulp of the result, or of the maximum when they cancel.
        let bound = 2.0 * f64::EPSILON * whole.abs().max(m.abs() * 1e-3).max(f64::MIN_POSITIVE);
        prop_assert!((merged.logsumexp() - whole).abs() <= bound, "{} vs {}", merged.logsumexp(), whole);
        // Normalising each chunk with the merged statistics gives the whole row's softmax.
        let y = softmax::softmax(&Array1::from(x.clone()), &Options::new().temperature(tau)).unwrap();
        for w in cuts.windows(2) {
            let mut part = vec![0.0; w[1] - w[0]];
            merged.softmax_chunk(&x[w[0]..w[1]], &mut part, Default::default()).unwrap();
            for (a, b) in part.iter().zip(y.slice(ndarray::s![w[0]..w[1]])) {
                prop_assert!(ulps_f64(*a, *b) <= 1 || (a - b).abs() < f64::MIN_POSITIVE, "{} vs {}", a, b);
            }
        }
    }

    #[test]
    fn any_axis_and_any_strides_match_the_contiguous_last_axis(
        dims in (1usize..5, 1usize..6, 1usize..7),
        seed in 0u64..u64::MAX,
        axis in 0usize..3,
        tau in temperature(),
    ) {
        let mut state = seed;
        let x = Array3::from_shape_simple_fn(dims, || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 60.0
        });
        let o = Options::new().axis(axis as isize).temperature(tau);
        let y = softmax::softmax(&x, &o).unwrap();
        let ly = softmax::log_softmax(&x, &o).unwrap();
        let lse = softmax::logsumexp(&x, &o).unwrap();
        // The same rows, made contiguous along the last axis.
        let mut moved = x.view();
        moved.swap_axes(axis, 2);
        let contiguous = moved.as_standard_layout().to_owned();
        let last = Options::new().temperature(tau);
        // Contiguous rows at temperature 1 take the vector kernels and strided lanes the portable
        // path: both within SPEC's 2 ulp of exact, so within 4 of each other (bitwise the same
        // where both take one path).
        let near = |a: &ndarray::ArrayD<f64>, b: &ndarray::ArrayD<f64>| {
            a.shape() == b.shape()
                && a.iter().zip(b).all(|(&p, &q)| p == q || ulps_f64(p, q) <= 4 || (p - q).abs() < f64::MIN_POSITIVE)
        };
        let mut y_last = softmax::softmax(&contiguous, &last).unwrap();
        y_last.swap_axes(axis, 2);
        prop_assert!(near(&y.clone().into_dyn(), &y_last.clone().into_dyn()), "{} vs {}", y, y_last);
        let mut ly_last = softmax::log_softmax(&contiguous, &last).unwrap();
        ly_last.swap_axes(axis, 2);
        prop_assert!(near(&ly.clone().into_dyn(), &ly_last.clone().into_dyn()), "{} vs {}", ly, ly_last);
        // A reversed, strided view computes the same as its contiguous copy.
        let reversed = x.slice(ndarray::s![..;-1, .., ..;-1]);
        let (strided, copied) = (softmax::softmax(&reversed, &o).unwrap(), softmax::softmax(&reversed.to_owned(), &o).unwrap());
        prop_assert!(near(&strided.into_dyn(), &copied.into_dyn()));
        // logsumexp drops the axis.
        let summed = x.sum_axis(Axis(axis));
        prop_assert_eq!(lse.shape(), summed.shape());
        // The slice API agrees with the N-D API, out of place and in place.
        let flat: Vec<f64> = contiguous.iter().copied().collect();
        let row_len = contiguous.shape()[2];
        let mut out = vec![0.0; flat.len()];
        let ro = RowOptions::new().temperature(tau);
        softmax::slice::softmax(&flat, &mut out, row_len, &ro).unwrap();
        let expected: Vec<f64> = softmax::softmax(&contiguous, &last).unwrap().iter().copied().collect();
        prop_assert_eq!(&out, &expected);
        let mut inplace = flat.clone();
        softmax::slice::log_softmax_inplace(&mut inplace, row_len, &ro).unwrap();
        let expected: Vec<f64> = softmax::log_softmax(&contiguous, &last).unwrap().iter().copied().collect();
        prop_assert_eq!(&inplace, &expected);
    }
}

/// Any value, special ones included.
fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => -50.0f64..50.0,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => prop::num::f64::ANY,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn backward_agrees_with_the_jacobian_and_with_finite_differences(
        x in prop::collection::vec(-20.0f64..20.0, 1..12),
        dy in prop::collection::vec(-2.0f64..2.0, 12),
        tau in prop_oneof![Just(1.0), 0.2f64..5.0],
    ) {
        let k = x.len();
        let o = Options::new().temperature(tau);
        let xa = Array1::from(x.clone());
        let dya = Array1::from(dy[..k].to_vec());
        let y = softmax::softmax(&xa, &o).unwrap();
        let dx = softmax::softmax_backward(&y, &dya, &o).unwrap();
        let j = softmax::softmax_jacobian(&xa, &o).unwrap();
        let scale = y.iter().map(|v| v * v).sum::<f64>().sqrt() * dya.iter().map(|v| v * v).sum::<f64>().sqrt() / tau;
        for i in 0..k {
            let jt_dy: f64 = (0..k).map(|r| j[[r, i]] * dya[r]).sum();
            prop_assert!((jt_dy - dx[i]).abs() <= 8.0 * f64::EPSILON * scale.max(f64::MIN_POSITIVE), "Jᵀdy {} vs {}", jt_dy, dx[i]);
            // Central differences of ⟨dy, softmax(x)⟩ and ⟨dy, log_softmax(x)⟩: truncation h² and
            // rounding ε/h, so about 1e-10 relative with h = 1e-5.
            let h = 1e-5 * (1.0 + x[i].abs());
            let at = |delta: f64, log: bool| {
                let mut xp = x.clone();
                xp[i] += delta;
                let xp = Array1::from(xp);
                let out = if log { softmax::log_softmax(&xp, &o) } else { softmax::softmax(&xp, &o) }.unwrap();
                out.iter().zip(dya.iter()).map(|(a, b)| a * b).sum::<f64>()
            };
            let fd = (at(h, false) - at(-h, false)) / (2.0 * h);
            prop_assert!((fd - dx[i]).abs() <= 1e-7 * (1.0 + scale), "softmax: fd {} vs {}", fd, dx[i]);
            let ly = softmax::log_softmax(&xa, &o).unwrap();
            let dlx = softmax::log_softmax_backward(&ly, &dya, &o).unwrap();
            let fd = (at(h, true) - at(-h, true)) / (2.0 * h);
            let total: f64 = dya.iter().map(|v| v.abs()).sum();
            prop_assert!((fd - dlx[i]).abs() <= 1e-7 * (1.0 + total / tau), "log_softmax: fd {} vs {}", fd, dlx[i]);
        }
    }

    #[test]
    fn no_input_makes_any_operation_panic(
        shape in prop::collection::vec(0usize..4, 0..4),
        values in prop::collection::vec(any_value(), 64),
        mask_bits in prop::collection::vec(any::<bool>(), 64),
        axis in -5isize..5,
        tau in prop_oneof![Just(1.0), Just(0.0), Just(-1.0), Just(f64::NAN), Just(1e-300), 0.01f64..100.0],
        zeros in any::<bool>(),
        class in -3i64..6,
    ) {
        use ndarray::{ArrayD, IxDyn};
        let n: usize = shape.iter().product();
        let x = ArrayD::from_shape_vec(IxDyn(&shape), values[..n].to_vec()).unwrap();
        let mask = ArrayD::from_shape_vec(IxDyn(&shape), mask_bits[..n].to_vec()).unwrap();
        let policy = if zeros { softmax::MaskedRows::Zeros } else { softmax::MaskedRows::Nan };
        for with_mask in [false, true] {
            let mut o = Options::new().axis(axis).temperature(tau).masked_rows(policy);
            if with_mask {
                o = o.mask(mask.view());
            }
            // Each call returns Ok or Err; none may panic.
            let y = softmax::softmax(&x, &o);
            let _ = softmax::log_softmax(&x, &o);
            let _ = softmax::logsumexp(&x, &o);
            let _ = softmax::sigmoid(&x, &o);
            let _ = softmax::log_sigmoid(&x, &o);
            let _ = softmax::softmax_jacobian(&x, &o);
            if let Ok(y) = y {
                let _ = softmax::softmax_backward(&y, &x, &o);
                let _ = softmax::log_softmax_backward(&y, &x, &o);
                let _ = softmax::sigmoid_backward(&y, &x, &o);
            }
        }
        let mut batch_shape = shape.clone();
        if !batch_shape.is_empty() {
            batch_shape.remove(if shape.len() >= 2 { 1 } else { 0 });
        }
        let m: usize = batch_shape.iter().product();
        let target = ArrayD::from_shape_vec(IxDyn(&batch_shape), vec![class; m]).unwrap();
        let _ = softmax::cross_entropy(&x, softmax::Target::Classes(target.view()), &softmax::LossOptions::new());
        let _ = softmax::cross_entropy_with_grad(&x, softmax::Target::Probs(x.view()), &softmax::LossOptions::new().label_smoothing(tau));
        let _ = softmax::nll_loss_with_grad(&x, &target, &softmax::LossOptions::new());
        let _ = softmax::binary_cross_entropy_with_logits_with_grad(&x, &x, &softmax::BceOptions::new());
        let flat: Vec<f64> = x.iter().copied().collect();
        let mut out = vec![0.0; flat.len()];
        let _ = softmax::slice::softmax(&flat, &mut out, shape.last().copied().unwrap_or(0), &RowOptions::new().temperature(tau));
        let _ = LseStats::from_chunk(&flat, tau).map(|s| s.logsumexp());
    }
}
