//! The special-value rules of SPEC.md, one named test each, in every dtype where it matters.

use half::{bf16, f16};
use ndarray::{Array1, ArrayD, IxDyn, array};
use softmax::{Element, MaskedRows, Options, RowOptions};

const INF: f64 = f64::INFINITY;
const NAN: f64 = f64::NAN;

fn softmax_f64(row: &[f64], opts: &Options<'_>) -> Vec<f64> {
    softmax::softmax(&Array1::from(row.to_vec()), opts).unwrap().to_vec()
}
fn log_softmax_f64(row: &[f64], opts: &Options<'_>) -> Vec<f64> {
    softmax::log_softmax(&Array1::from(row.to_vec()), opts).unwrap().to_vec()
}
fn lse_f64(row: &[f64], opts: &Options<'_>) -> f64 {
    softmax::logsumexp(&Array1::from(row.to_vec()), opts).unwrap()[[]]
}

/// The same row in every dtype gives the same special outputs.
fn in_every_dtype(row: &[f64], check: impl Fn(&str, Vec<f64>, Vec<f64>)) {
    fn run<T: Element>(row: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let x: Array1<T> = row.iter().map(|&v| T::from_f64(v)).collect();
        let o = Options::new();
        let y = softmax::softmax(&x, &o).unwrap().iter().map(|v| v.to_f64()).collect();
        let ly = softmax::log_softmax(&x, &o).unwrap().iter().map(|v| v.to_f64()).collect();
        (y, ly)
    }
    let (y, ly) = run::<f64>(row);
    check("f64", y, ly);
    let (y, ly) = run::<f32>(row);
    check("f32", y, ly);
    let (y, ly) = run::<f16>(row);
    check("f16", y, ly);
    let (y, ly) = run::<bf16>(row);
    check("bf16", y, ly);
}

#[test]
fn nan_anywhere_makes_the_whole_row_nan() {
    in_every_dtype(&[1.0, NAN, 3.0, INF, -INF], |dtype, y, ly| {
        assert!(y.iter().all(|v| v.is_nan()), "{dtype}: {y:?}");
        assert!(ly.iter().all(|v| v.is_nan()), "{dtype}: {ly:?}");
    });
    assert!(lse_f64(&[1.0, NAN], &Options::new()).is_nan());
}

#[test]
fn nan_does_not_leak_into_other_rows() {
    let x = array![[1.0, NAN], [1.0, 1.0]];
    let y = softmax::softmax(&x, &Options::new()).unwrap();
    assert!(y[[0, 0]].is_nan() && y[[0, 1]].is_nan());
    assert_eq!(y.row(1).to_vec(), vec![0.5, 0.5]);
}

#[test]
fn one_pos_inf_takes_all_the_mass() {
    in_every_dtype(&[1.0, INF, 2.0, -INF], |dtype, y, ly| {
        assert_eq!(y, vec![0.0, 1.0, 0.0, 0.0], "{dtype}");
        assert_eq!(ly, vec![-INF, 0.0, -INF, -INF], "{dtype}");
    });
    assert_eq!(lse_f64(&[1.0, INF], &Options::new()), INF);
}

#[test]
fn several_pos_inf_share_the_mass_evenly() {
    in_every_dtype(&[INF, 5.0, INF, INF, -INF], |dtype, y, ly| {
        let third = f64::from_bits(0x3FD5_5555_5555_5555);
        let expected = if dtype == "f64" { third } else { y[0] };
        assert_eq!(y, vec![expected, 0.0, expected, expected, 0.0], "{dtype}");
        assert!((y[0] - third).abs() <= third * 1e-2, "{dtype}: {y:?}");
        assert!(ly[1] == -INF && ly[4] == -INF, "{dtype}: {ly:?}");
        assert!((ly[0] + 3f64.ln()).abs() <= 3f64.ln() * 1e-2, "{dtype}: {ly:?}");
    });
    assert_eq!(log_softmax_f64(&[INF, INF, INF], &Options::new())[0], -(3f64.ln()));
}

#[test]
fn neg_inf_entries_get_zero_and_neg_inf() {
    in_every_dtype(&[-INF, 0.0, -INF, 0.0], |dtype, y, ly| {
        assert_eq!(y, vec![0.0, 0.5, 0.0, 0.5], "{dtype}");
        assert_eq!(ly[0], -INF, "{dtype}");
        assert_eq!(ly[2], -INF, "{dtype}");
        assert!((ly[1] + std::f64::consts::LN_2).abs() < 1e-2, "{dtype}");
    });
}

#[test]
fn all_neg_inf_row_follows_the_policy() {
    let row = [-INF, -INF, -INF];
    let nan = Options::new();
    assert!(softmax_f64(&row, &nan).iter().all(|v| v.is_nan()));
    assert!(log_softmax_f64(&row, &nan).iter().all(|v| v.is_nan()));
    let zeros = Options::new().masked_rows(MaskedRows::Zeros);
    assert_eq!(softmax_f64(&row, &zeros), vec![0.0; 3]);
    assert_eq!(log_softmax_f64(&row, &zeros), vec![-INF; 3]);
    // logsumexp is ln 0 = −inf under both policies (PyTorch and SciPy agree).
    assert_eq!(lse_f64(&row, &nan), -INF);
    assert_eq!(lse_f64(&row, &zeros), -INF);
}

#[test]
fn fully_masked_row_follows_the_policy_and_other_rows_are_untouched() {
    let x = array![[1.0f64, 2.0], [3.0, 4.0]];
    let mask = array![[false, false], [true, false]];
    let nan = Options::new().mask(mask.view());
    let y = softmax::softmax(&x, &nan).unwrap();
    assert!(y.row(0).iter().all(|v| v.is_nan()));
    assert_eq!(y.row(1).to_vec(), vec![1.0, 0.0]);
    let zeros = nan.clone().masked_rows(MaskedRows::Zeros);
    let y = softmax::softmax(&x, &zeros).unwrap();
    assert_eq!(y, array![[0.0, 0.0], [1.0, 0.0]]);
    let ly = softmax::log_softmax(&x, &zeros).unwrap();
    assert_eq!(ly, array![[-INF, -INF], [0.0, -INF]]);
    // The gradient of a masked position is 0 under both policies, even when the row is NaN.
    for opts in [&nan, &zeros] {
        let y = softmax::softmax(&x, opts).unwrap();
        let dx = softmax::softmax_backward(&y, &array![[1.0, 2.0], [3.0, 4.0]], opts).unwrap();
        assert_eq!(dx.row(1).to_vec(), vec![0.0, 0.0]);
        assert!(dx.row(0).iter().all(|&g| g == 0.0), "{dx:?}");
    }
}

#[test]
fn masked_positions_take_no_part() {
    let x = array![1.0, 1e30, 2.0, NAN];
    let mask = array![true, false, true, false];
    let opts = Options::new().mask(mask.view());
    let y = softmax::softmax(&x, &opts).unwrap();
    let expected = softmax_f64(&[1.0, 2.0], &Options::new());
    assert_eq!(y.to_vec(), vec![expected[0], 0.0, expected[1], 0.0]);
    let ly = softmax::log_softmax(&x, &opts).unwrap();
    assert_eq!(ly[1], -INF);
    assert_eq!(ly[3], -INF);
    let lse = softmax::logsumexp(&x, &opts).unwrap()[[]];
    assert_eq!(lse, lse_f64(&[1.0, 2.0], &Options::new()));
}

#[test]
fn masked_nan_in_a_row_is_ignored_but_a_nan_taking_part_poisons_the_row() {
    let x = array![1.0, NAN];
    let keep_first = array![true, false];
    assert_eq!(
        softmax::softmax(&x, &Options::new().mask(keep_first.view())).unwrap().to_vec(),
        vec![1.0, 0.0]
    );
    let y = softmax::softmax(&x, &Options::new()).unwrap();
    assert!(y.iter().all(|v| v.is_nan()));
}

#[test]
fn empty_axis_gives_empty_output_and_no_error() {
    let x = ArrayD::<f32>::zeros(IxDyn(&[3, 0]));
    assert_eq!(softmax::softmax(&x, &Options::new()).unwrap().shape(), &[3, 0]);
    assert_eq!(softmax::log_softmax(&x, &Options::new()).unwrap().shape(), &[3, 0]);
    let lse = softmax::logsumexp(&x, &Options::new()).unwrap();
    assert_eq!(lse.iter().copied().collect::<Vec<_>>(), vec![f32::NEG_INFINITY; 3]);
    let j = softmax::softmax_jacobian(&x, &Options::new()).unwrap();
    assert_eq!(j.shape(), &[3, 0, 0]);
    let no_rows = ArrayD::<f64>::zeros(IxDyn(&[0, 5]));
    assert_eq!(softmax::logsumexp(&no_rows, &Options::new()).unwrap().shape(), &[0]);
    let mut out: [f64; 0] = [];
    softmax::slice::softmax::<f64>(&[], &mut out, 0, &RowOptions::new()).unwrap();
}

#[test]
fn subnormal_outputs_are_kept() {
    // exp(−730) ≈ 5.6e-318 is subnormal in f64; exp(−100) ≈ 3.7e-44 is subnormal in f32.
    let y = softmax_f64(&[0.0, -730.0], &Options::new());
    assert!(y[1] > 0.0 && y[1] < f64::MIN_POSITIVE, "{y:?}");
    assert!((y[1] / (-730f64).exp() - 1.0).abs() < 1e-3);
    let y32 = softmax::softmax(&array![0.0f32, -100.0], &Options::new()).unwrap();
    assert!(y32[1] > 0.0 && y32[1] < f32::MIN_POSITIVE, "{y32:?}");
}

#[test]
fn the_classic_overflow_case_sums_to_one() {
    // torch.rand(1, 20) + 100: exp(100) overflows f32, so the naive formula gives NaN.
    let x: Array1<f32> = (0..20).map(|i| 100.0 + (i as f32 * 0.618).fract()).collect();
    let naive: Vec<f32> = {
        let e: Vec<f32> = x.iter().map(|v| (v * 10.0).exp()).collect();
        let s: f32 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    };
    assert!(naive.iter().any(|v| v.is_nan()), "the naive formula should overflow at x·10");
    let y = softmax::softmax(&x, &Options::new().temperature(0.1)).unwrap();
    let sum: f64 = y.iter().map(|&v| f64::from(v)).sum();
    assert!((sum - 1.0).abs() < 1e-6, "{sum}");
    assert!(y.iter().all(|v| v.is_finite() && *v > 0.0));
}

#[test]
fn huge_finite_spread_overflows_only_where_the_exact_answer_does() {
    let row = [f64::MAX, 0.0, f64::MIN];
    assert_eq!(softmax_f64(&row, &Options::new()), vec![1.0, 0.0, 0.0]);
    // −MAX − MAX is below −MAX: the correctly rounded log-probability is −inf.
    assert_eq!(log_softmax_f64(&row, &Options::new()), vec![0.0, -f64::MAX, -INF]);
    assert_eq!(lse_f64(&row, &Options::new()), f64::MAX);
}

#[test]
fn sigmoid_special_values() {
    let x = array![NAN, INF, -INF, 0.0, 1e300, -1e300];
    let y = softmax::sigmoid(&x, &Options::new()).unwrap();
    assert!(y[0].is_nan());
    assert_eq!(y.slice(ndarray::s![1..]).to_vec(), vec![1.0, 0.0, 0.5, 1.0, 0.0]);
    let ly = softmax::log_sigmoid(&x, &Options::new()).unwrap();
    assert!(ly[0].is_nan());
    assert_eq!(ly.slice(ndarray::s![1..]).to_vec(), vec![0.0, -INF, -std::f64::consts::LN_2, 0.0, -1e300]);
}

#[test]
fn backward_rules_for_special_rows() {
    // −inf logits: probability 0 and gradient 0 in both backward passes.
    let x = array![-INF, 0.0, 1.0];
    let o = Options::new();
    let y = softmax::softmax(&x, &o).unwrap();
    let dy = array![5.0, 1.0, -1.0];
    assert_eq!(softmax::softmax_backward(&y, &dy, &o).unwrap()[0], 0.0);
    let ly = softmax::log_softmax(&x, &o).unwrap();
    assert_eq!(softmax::log_softmax_backward(&ly, &dy, &o).unwrap()[0], 0.0);
    // A NaN in dy makes the row's gradient NaN, but not the other rows'.
    let y2 = array![[0.5, 0.5], [0.25, 0.75]];
    let dy2 = array![[NAN, 1.0], [1.0, 2.0]];
    let dx = softmax::softmax_backward(&y2, &dy2, &o).unwrap();
    assert!(dx.row(0).iter().all(|v| v.is_nan()));
    assert!(dx.row(1).iter().all(|v| v.is_finite()));
}
