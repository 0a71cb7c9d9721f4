//! One test per problem a review found, so that none comes back.

use half::f16;
use ndarray::{Array1, Array2, array, s};
use softmax::nn::CrossEntropyLoss;
use softmax::{LossOptions, LseStats, MaskedRows, Options, RowOptions, Target};
use softmax_oracle::{self as oracle};

#[test]
fn huge_inputs_with_a_temperature_are_not_nan() {
    let o = Options::new().temperature(3.0);
    assert_eq!(softmax::softmax(&array![f64::MAX], &o).unwrap()[0], 1.0);
    let ly = softmax::log_softmax(&array![f64::MAX, 0.0], &o).unwrap();
    assert_eq!(ly[0], 0.0);
    let exact = oracle::log_softmax(&[f64::MAX, 0.0], 3.0);
    assert!(exact[1].ulp_error_f64(ly[1]) <= 0.5, "{}", ly[1]);
    let lse = softmax::logsumexp(&array![f64::MAX], &o).unwrap()[[]];
    assert!(oracle::logsumexp(&[f64::MAX], 3.0).unwrap().ulp_error_f64(lse) <= 0.5, "{lse}");
}

#[test]
fn many_subnormal_terms_keep_their_bits() {
    // 10⁵ terms of e⁻⁷¹⁸ ≈ 1.5e-312 each: subnormal alone, 1.5e-307 together.
    let mut x = vec![-718.0f64; 100_001];
    x[0] = 0.0;
    let xa = Array1::from(x.clone());
    let ly = softmax::log_softmax(&xa, &Options::new()).unwrap();
    let exact0 = oracle::log_softmax(&x, 1.0).swap_remove(0);
    assert!(exact0.ulp_error_f64(ly[0]) <= 1.0, "{} ulp", exact0.ulp_error_f64(ly[0]));
    let lse = softmax::logsumexp(&xa, &Options::new()).unwrap()[[]];
    let exact_lse = oracle::logsumexp(&x, 1.0).unwrap();
    assert!(exact_lse.ulp_error_f64(lse) <= 1.0, "{} ulp", exact_lse.ulp_error_f64(lse));
}

#[test]
fn f16_results_at_the_overflow_edge_stay_finite() {
    let o = Options::new().temperature(0.1);
    let x = array![f16::from_f64(0.0), f16::from_f64(-6552.0)];
    assert_eq!(softmax::log_softmax(&x, &o).unwrap()[1], f16::MIN);
    assert_eq!(softmax::logsumexp(&array![f16::from_f64(6552.0)], &o).unwrap()[[]], f16::MAX);
    assert_eq!(softmax::log_sigmoid(&array![f16::from_f64(-6552.0)], &o).unwrap()[0], f16::MIN);
}

#[test]
fn an_empty_slice_with_any_row_length_is_fine() {
    let mut none: [f32; 0] = [];
    softmax::slice::softmax(&[] as &[f32], &mut none, usize::MAX, &RowOptions::new()).unwrap();
    softmax::slice::logsumexp(&[] as &[f32], &mut none, usize::MAX, &RowOptions::new()).unwrap();
    let mut dx: [f64; 0] = [];
    softmax::slice::softmax_backward(&[] as &[f64], &[], &mut dx, 1 << 62, &RowOptions::new()).unwrap();
}

#[test]
fn a_jacobian_too_large_to_hold_is_an_error_not_an_abort() {
    let empty = Array2::<f64>::zeros((0, 1usize << 40));
    let err = softmax::softmax_jacobian(&empty, &Options::new()).unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
    let narrow = Array2::<f32>::zeros((3, 0));
    assert_eq!(softmax::softmax_jacobian(&narrow, &Options::new()).unwrap().shape(), &[3, 0, 0]);
}

#[test]
fn sigmoid_takes_masks_of_any_layout() {
    let x = Array2::from_shape_fn((2, 3), |(i, j)| i as f64 - j as f64);
    let m = Array2::from_shape_fn((3, 2), |(i, j)| (i + j) % 2 == 0);
    let standard = m.t().to_owned();
    for op in [softmax::sigmoid::<f64, _, _>, softmax::log_sigmoid::<f64, _, _>] {
        let got = op(&x, &Options::new().mask(m.t())).unwrap();
        assert_eq!(got, op(&x, &Options::new().mask(standard.view())).unwrap());
    }
    let reversed = standard.slice(s![.., ..;-1]).to_owned();
    let got = softmax::sigmoid(&x, &Options::new().mask(standard.slice(s![.., ..;-1]))).unwrap();
    assert_eq!(got, softmax::sigmoid(&x, &Options::new().mask(reversed.view())).unwrap());
}

#[test]
fn the_jacobian_is_zero_at_masked_positions_under_every_policy() {
    let x = array![[0.0f64, 1.0, 2.0], [f64::NEG_INFINITY, f64::NEG_INFINITY, f64::NAN]];
    let mask = array![[false, false, false], [true, true, false]];
    for policy in [MaskedRows::Nan, MaskedRows::Zeros] {
        let j = softmax::softmax_jacobian(&x, &Options::new().mask(mask.view()).masked_rows(policy)).unwrap();
        assert!(j.slice(s![0, .., ..]).iter().all(|&v| v == 0.0), "{policy:?}: {j:?}");
        assert!(j.slice(s![1, 2, ..]).iter().chain(j.slice(s![1, .., 2])).all(|&v| v == 0.0), "{policy:?}");
    }
}

#[test]
fn tiny_temperatures_do_not_turn_finite_logits_into_infinities() {
    let y = softmax::softmax(&array![1.0f32, 2.0], &Options::new().temperature(5e-324)).unwrap();
    assert_eq!(y, array![0.0f32, 1.0]);
    let y = softmax::softmax(&array![1e10f64, 2e10, 0.0], &Options::new().temperature(1e-300)).unwrap();
    assert_eq!(y, array![0.0, 1.0, 0.0]);
    let lse = softmax::logsumexp(&array![1.0f64, 2.0], &Options::new().temperature(1e-300)).unwrap();
    assert!(oracle::logsumexp(&[1.0, 2.0], 1e-300).unwrap().ulp_error_f64(lse[[]]) <= 0.5);
    let lse = softmax::logsumexp(&array![1.0f64, 2.0], &Options::new().temperature(1e-310)).unwrap();
    assert_eq!(lse[[]], f64::INFINITY); // 2/1e-310 is beyond f64::MAX: the exact result overflows
}

#[test]
fn counts_of_infinities_saturate_instead_of_wrapping() {
    let mut stats = LseStats::from_words([0.0, 0.0, 0.0, 2f64.powi(53), 0.0, 1.0]).unwrap();
    for _ in 0..20 {
        stats = stats.merge(&stats).unwrap();
    }
    assert_eq!(stats.logsumexp(), f64::INFINITY);
    assert!(stats.to_words()[3] >= 2f64.powi(53));
}

#[test]
fn a_chunk_from_another_row_is_an_error() {
    let stats = LseStats::from_chunk(&[1.0f64, 2.0], 1.0).unwrap();
    let mut out = [0.0; 2];
    let err = stats.softmax_chunk(&[5.0, 1.0], &mut out, MaskedRows::Nan).unwrap_err();
    assert!(err.to_string().contains("index 0"), "{err}");
}

#[test]
fn a_failed_forward_leaves_nothing_for_backward() {
    let mut loss = CrossEntropyLoss::<f64>::new();
    let logits = array![[1.0, 2.0]];
    loss.forward(&logits, Target::classes(array![0i64].view())).unwrap();
    assert!(loss.backward().is_ok());
    assert!(loss.forward(&logits, Target::classes(array![7i64].view())).is_err());
    assert!(loss.backward().is_err());
    let _ = LossOptions::<f64>::new();
}

#[test]
fn an_infinite_upstream_gradient_at_a_zero_probability_is_harmless() {
    let y = array![0.5f64, 0.5, 0.0];
    let dx = softmax::softmax_backward(&y, &array![1.0, 2.0, f64::INFINITY], &Options::new()).unwrap();
    assert_eq!(dx, array![-0.25, 0.25, 0.0]);
}

#[test]
fn where_the_output_goes_does_not_change_its_values() {
    // A contiguous input takes the vector kernels; a strided output must not send it to the
    // portable path (whose last bits may differ).
    let x32 = Array2::from_shape_fn((5, 37), |(i, j)| ((i * 37 + j) as f32 * 0.37).sin() * 20.0);
    let x64 = x32.mapv(f64::from);
    let o = Options::new();
    let mut big32 = Array2::<f32>::zeros((10, 74));
    softmax::softmax_into(&x32, &mut big32.slice_mut(s![..;2, ..;-2]), &o).unwrap();
    assert_eq!(big32.slice(s![..;2, ..;-2]), softmax::softmax(&x32, &o).unwrap());
    let mut big64 = Array2::<f64>::zeros((10, 74));
    softmax::log_softmax_into(&x64, &mut big64.slice_mut(s![..;2, ..;-2]), &o).unwrap();
    assert_eq!(big64.slice(s![..;2, ..;-2]), softmax::log_softmax(&x64, &o).unwrap());
    assert!(big64.slice(s![1..;2, ..]).iter().all(|&v| v == 0.0));
}

#[test]
fn cross_entropy_into_any_gradient_buffer_matches_the_allocating_call() {
    let logits = Array2::from_shape_fn((6, 9), |(i, j)| ((i * 9 + j) as f32 * 0.71).cos() * 6.0);
    let target = array![0i64, 8, 3, -100, 4, 4];
    let o = LossOptions::new().ignore_index(Some(-100));
    let (want_loss, want) =
        softmax::cross_entropy_with_grad(&logits, Target::classes(target.view()), &o).unwrap();
    // A dirty contiguous buffer (ignored rows must be zeroed) and a strided view.
    let mut dirty = Array2::from_elem((6, 9), 7.0f32);
    let loss = softmax::cross_entropy_with_grad_into(&logits, Target::classes(target.view()), &o, &mut dirty)
        .unwrap();
    assert_eq!((loss.clone(), &dirty), (want_loss.clone(), &want));
    let mut big = Array2::from_elem((12, 18), 7.0f32);
    let loss = softmax::cross_entropy_with_grad_into(
        &logits,
        Target::classes(target.view()),
        &o,
        &mut big.slice_mut(s![..;2, ..;-2]),
    )
    .unwrap();
    assert_eq!((loss, big.slice(s![..;2, ..;-2])), (want_loss, want.view()));
    assert!(big.slice(s![1..;2, ..]).iter().all(|&v| v == 7.0));
    let mut wrong = Array2::<f32>::zeros((6, 8));
    let err = softmax::cross_entropy_with_grad_into(&logits, Target::classes(target.view()), &o, &mut wrong)
        .unwrap_err();
    assert!(err.to_string().contains("gradient"), "{err}");
    // The generic path (label smoothing) also zeroes what it does not write.
    let smooth = LossOptions::new().ignore_index(Some(-100)).label_smoothing(0.1);
    let (_, want) =
        softmax::cross_entropy_with_grad(&logits, Target::classes(target.view()), &smooth).unwrap();
    let mut dirty = Array2::from_elem((6, 9), 7.0f32);
    softmax::cross_entropy_with_grad_into(&logits, Target::classes(target.view()), &smooth, &mut dirty)
        .unwrap();
    assert_eq!(dirty, want);
}

#[test]
fn the_slice_api_and_the_array_api_agree_bitwise_in_every_type() {
    // Both go through the same vector kernels (half types included), in and out of place, and
    // the same backward kernels; at a temperature and with a mask too (the prepared rows). 2000
    // rows of 40 take the in-place path two scratch chunks at a time, the mask cut with them.
    fn check<T: softmax::Element>(from: fn(f64) -> T) {
        for (rows, tau, masked) in [
            (7, 1.0, false),
            (7, 0.6, false),
            (7, 1.0, true),
            (7, 2.5, true),
            (2000, 1.0, true),
            (2000, 0.6, true),
        ] {
            let n = rows * 40;
            let x: Vec<T> = (0..n).map(|i| from(((i as f64) * 0.61).sin() * 9.0)).collect();
            let flags: Vec<bool> = (0..n).map(|i| !masked || i % 7 != 3).collect();
            let mask = Array2::from_shape_vec((rows, 40), flags.clone()).unwrap();
            let array = Array2::from_shape_vec((rows, 40), x.clone()).unwrap();
            let (mut o, mut ro) = (Options::new().temperature(tau), RowOptions::new().temperature(tau));
            if masked {
                o = o.mask(mask.view());
                ro = ro.mask(&flags);
            }
            let what = format!("{} rows {rows} τ {tau} mask {masked}", T::NAME);
            let mut out = vec![from(0.0); x.len()];
            softmax::slice::softmax(&x, &mut out, 40, &ro).unwrap();
            assert_eq!(out, softmax::softmax(&array, &o).unwrap().into_raw_vec_and_offset().0, "{what}");
            let mut inplace = x.clone();
            softmax::slice::log_softmax_inplace(&mut inplace, 40, &ro).unwrap();
            assert_eq!(
                inplace,
                softmax::log_softmax(&array, &o).unwrap().into_raw_vec_and_offset().0,
                "{what}"
            );
            let mut lse = vec![from(0.0); rows];
            softmax::slice::logsumexp(&x, &mut lse, 40, &ro).unwrap();
            assert_eq!(lse, softmax::logsumexp(&array, &o).unwrap().to_vec(), "{what}");
            // The backward passes.
            let dy: Vec<T> = (0..x.len()).map(|i| from(((i as f64) * 0.37).cos())).collect();
            let dy_array = Array2::from_shape_vec((rows, 40), dy.clone()).unwrap();
            for log in [false, true] {
                let mut dx = vec![from(0.0); x.len()];
                let want = if log {
                    softmax::slice::log_softmax_backward(&inplace, &dy, &mut dx, 40, &ro).unwrap();
                    let ly = Array2::from_shape_vec((rows, 40), inplace.clone()).unwrap();
                    softmax::log_softmax_backward(&ly, &dy_array, &o).unwrap()
                } else {
                    softmax::slice::softmax_backward(&out, &dy, &mut dx, 40, &ro).unwrap();
                    let y = Array2::from_shape_vec((rows, 40), out.clone()).unwrap();
                    softmax::softmax_backward(&y, &dy_array, &o).unwrap()
                };
                assert_eq!(dx, want.into_raw_vec_and_offset().0, "{what} backward (log: {log})");
            }
        }
    }
    check::<f32>(|v| v as f32);
    check::<f64>(|v| v);
    check::<f16>(f16::from_f64);
    check::<half::bf16>(half::bf16::from_f64);
}

#[test]
fn a_temperature_or_a_mask_along_any_axis_or_view_gives_the_contiguous_rows_bits() {
    // Along a non-last axis and of strided views, lanes (and the mask's lanes) are copied into
    // rows for the prepared vector kernels: each lane must give exactly what the same values
    // give as a row of a contiguous array, for every type (`f64` at a temperature takes the
    // portable path both ways), forward and backward (the log-softmax backward pass is fed
    // probabilities, which it takes as any values).
    /// A contiguous copy of `a` with `axis` swapped to the last place.
    fn last_axis<A: Clone>(a: ndarray::ArrayView3<'_, A>, axis: usize) -> ndarray::Array3<A> {
        let mut moved = a;
        moved.swap_axes(axis, 2);
        moved.as_standard_layout().into_owned()
    }
    fn check<T: softmax::Element>(from: fn(f64) -> T) {
        let shape = (24, 7, 33);
        let x = ndarray::Array3::from_shape_fn(shape, |(i, j, k)| {
            from(((i * 7 + j * 3 + k) as f64 * 0.71).sin() * 12.0 + (j as f64) * 0.5)
        });
        let keep = ndarray::Array3::from_shape_fn(shape, |(i, j, k)| (i + 2 * j + 5 * k) % 6 != 0);
        for (tau, masked) in [(0.6, false), (1.0, true), (2.5, true)] {
            for axis in 0..3usize {
                for strided in [false, true] {
                    // A reversed view (negative strides) or the array itself.
                    let view = if strided { x.slice(s![..;-1, .., ..;-1]) } else { x.view() };
                    let mask = if strided { keep.slice(s![..;-1, .., ..;-1]) } else { keep.view() };
                    let mut o = Options::new().temperature(tau).axis(axis as isize);
                    if masked {
                        o = o.mask(mask.view());
                    }
                    let what = format!("{} τ {tau} mask {masked} axis {axis} strided {strided}", T::NAME);
                    // The same lanes as the last axis of a contiguous copy.
                    let (moved, mask_moved) = (last_axis(view, axis), last_axis(mask, axis));
                    let mut last = Options::new().temperature(tau).axis(2);
                    if masked {
                        last = last.mask(mask_moved.view());
                    }
                    let bits = |a: ndarray::ArrayViewD<'_, T>| {
                        a.iter().map(|v| v.to_f64().to_bits()).collect::<Vec<_>>()
                    };
                    for log in [false, true] {
                        let (mut want, got) = if log {
                            (
                                softmax::log_softmax(&moved, &last).unwrap(),
                                softmax::log_softmax(&view, &o).unwrap(),
                            )
                        } else {
                            (softmax::softmax(&moved, &last).unwrap(), softmax::softmax(&view, &o).unwrap())
                        };
                        want.swap_axes(axis, 2);
                        assert!(
                            bits(want.view().into_dyn()) == bits(got.view().into_dyn()),
                            "{what} (log: {log})"
                        );
                    }
                    // The backward passes, on outputs and upstream gradients laid out alike.
                    let y = softmax::softmax(&view, &o).unwrap();
                    let dy = y.mapv(|v| from((v.to_f64() * 7.0).sin()));
                    let (y_moved, dy_moved) = (last_axis(y.view(), axis), last_axis(dy.view(), axis));
                    for log in [false, true] {
                        let (mut want, got) = if log {
                            (
                                softmax::log_softmax_backward(&y_moved, &dy_moved, &last).unwrap(),
                                softmax::log_softmax_backward(&y, &dy, &o).unwrap(),
                            )
                        } else {
                            (
                                softmax::softmax_backward(&y_moved, &dy_moved, &last).unwrap(),
                                softmax::softmax_backward(&y, &dy, &o).unwrap(),
                            )
                        };
                        want.swap_axes(axis, 2);
                        let (w, g) = (bits(want.view().into_dyn()), bits(got.view().into_dyn()));
                        assert!(w == g, "{what} backward (log: {log})");
                    }
                    let want = softmax::logsumexp(&moved, &last).unwrap();
                    let got = softmax::logsumexp(&view, &o).unwrap();
                    // Logsumexp drops the axis: the moved array's result has the other two in
                    // order, except that axis 0 moved to 2 swaps them.
                    let want = if axis == 0 { want.t().to_owned() } else { want };
                    assert!(bits(want.view().into_dyn()) == bits(got.view().into_dyn()), "{what} logsumexp");
                }
            }
        }
    }
    check::<f32>(|v| v as f32);
    check::<f64>(|v| v);
    check::<f16>(f16::from_f64);
    check::<half::bf16>(half::bf16::from_f64);
}
