//! Bad input gets an `Error` naming what and where; never a panic.

use ndarray::{Array1, Array2, ArrayD, IxDyn, array};
use softmax::{BceOptions, ErrorKind, LossOptions, LseStats, Options, RowOptions, Target};

fn message<T>(r: softmax::Result<T>) -> (ErrorKind, String) {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => (e.kind(), e.to_string()),
    }
}

#[test]
fn axis_out_of_range_names_axis_and_rank() {
    let x = Array2::<f32>::zeros((2, 3));
    let (kind, msg) = message(softmax::softmax(&x, &Options::new().axis(2)));
    assert_eq!(kind, ErrorKind::Axis);
    assert!(msg.contains("axis 2") && msg.contains("rank 2"), "{msg}");
    let (_, msg) = message(softmax::logsumexp(&x, &Options::new().axis(-3)));
    assert!(msg.contains("axis -3"), "{msg}");
    let scalar = ArrayD::<f64>::zeros(IxDyn(&[]));
    let (kind, _) = message(softmax::softmax(&scalar, &Options::new()));
    assert_eq!(kind, ErrorKind::Axis);
}

#[test]
fn temperature_must_be_finite_and_positive() {
    let x = array![1.0f64, 2.0];
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, -0.0] {
        let (kind, msg) = message(softmax::softmax(&x, &Options::new().temperature(bad)));
        assert_eq!(kind, ErrorKind::Temperature);
        assert!(msg.contains("temperature") && msg.contains(&format!("{bad}")), "{msg}");
        assert!(softmax::sigmoid(&x, &Options::new().temperature(bad)).is_err());
        assert!(softmax::softmax_backward(&x, &x, &Options::new().temperature(bad)).is_err());
        assert!(LseStats::from_chunk(&[1.0f32], bad).is_err());
        let mut out = [0.0; 2];
        assert!(
            softmax::slice::softmax(&[1.0, 2.0], &mut out, 2, &RowOptions::new().temperature(bad)).is_err()
        );
    }
}

#[test]
fn shapes_that_do_not_match_are_named() {
    let x = Array2::<f64>::zeros((2, 3));
    let mask = Array2::from_elem((3, 2), true);
    let (kind, msg) = message(softmax::softmax(&x, &Options::new().mask(mask.view())));
    assert_eq!(kind, ErrorKind::Shape);
    assert!(msg.contains("mask") && msg.contains("[3, 2]") && msg.contains("[2, 3]"), "{msg}");
    let dy = Array2::<f64>::zeros((2, 4));
    let (_, msg) = message(softmax::softmax_backward(&x, &dy, &Options::new()));
    assert!(msg.contains("dy") && msg.contains("[2, 4]"), "{msg}");
    let mut out = Array2::<f64>::zeros((3, 3));
    let (_, msg) = message(softmax::softmax_into(&x, &mut out, &Options::new()));
    assert!(msg.contains("output"), "{msg}");
}

#[test]
fn slice_api_checks_lengths() {
    let mut out = [0.0f32; 5];
    let (kind, msg) = message(softmax::slice::softmax(&[1.0f32; 5], &mut out, 2, &RowOptions::new()));
    assert_eq!(kind, ErrorKind::Shape);
    assert!(msg.contains("5 elements") && msg.contains("rows of 2"), "{msg}");
    let (kind, _) = message(softmax::slice::softmax(&[1.0f32; 5], &mut out, 0, &RowOptions::new()));
    assert_eq!(kind, ErrorKind::Option);
    let mut short = [0.0f32; 4];
    assert!(softmax::slice::softmax(&[1.0f32; 6], &mut short, 2, &RowOptions::new()).is_err());
    let mask = [true; 3];
    let (_, msg) =
        message(softmax::slice::softmax_inplace(&mut [1.0f64; 4], 2, &RowOptions::new().mask(&mask)));
    assert!(msg.contains("mask") && msg.contains('3'), "{msg}");
    let mut lse = [0.0f64; 3];
    let (_, msg) = message(softmax::slice::logsumexp(&[1.0f64; 4], &mut lse, 2, &RowOptions::new()));
    assert!(msg.contains("2 rows"), "{msg}");
}

#[test]
fn class_index_out_of_range_names_the_position() {
    let logits = Array2::<f32>::zeros((4, 10));
    let target = array![1i64, 2, 3, 12];
    let (kind, msg) =
        message(softmax::cross_entropy(&logits, Target::classes(target.view()), &LossOptions::new()));
    assert_eq!(kind, ErrorKind::ClassIndex);
    assert_eq!(msg, "class index 12 at position [3] is out of range for 10 classes");
    let negative = array![0i64, -1, 0, 0];
    let (_, msg) = message(softmax::nll_loss(&logits, &negative, &LossOptions::new()));
    assert!(msg.contains("class index -1 at position [1]"), "{msg}");
    // The ignored index is not an error, whatever its value.
    let ignored = array![0i64, -100, 0, 0];
    assert!(softmax::cross_entropy(&logits, Target::classes(ignored.view()), &LossOptions::new()).is_ok());
    let logits3 = ArrayD::<f64>::zeros(IxDyn(&[2, 3, 2]));
    let target3 = array![[0i64, 1], [2, 3]];
    let (_, msg) =
        message(softmax::cross_entropy(&logits3, Target::classes(target3.view()), &LossOptions::new()));
    assert!(msg.contains("class index 3 at position [1, 1]") && msg.contains("3 classes"), "{msg}");
}

#[test]
fn loss_options_are_checked() {
    let logits = Array2::<f64>::zeros((2, 3));
    let target = array![0i64, 1];
    let t = || Target::classes(target.view());
    for eps in [-0.1, 1.5, f64::NAN] {
        let (kind, msg) =
            message(softmax::cross_entropy(&logits, t(), &LossOptions::new().label_smoothing(eps)));
        assert_eq!(kind, ErrorKind::Option);
        assert!(msg.contains("label_smoothing"), "{msg}");
    }
    let w = Array1::<f64>::ones(4);
    let (kind, msg) = message(softmax::cross_entropy(&logits, t(), &LossOptions::new().weight(w.view())));
    assert_eq!(kind, ErrorKind::Shape);
    assert!(msg.contains("length 4") && msg.contains("3 classes"), "{msg}");
    let wrong_target = array![0i64, 1, 2];
    let (_, msg) =
        message(softmax::cross_entropy(&logits, Target::classes(wrong_target.view()), &LossOptions::new()));
    assert!(msg.contains("[3]") && msg.contains("[2]"), "{msg}");
    let probs = Array2::<f64>::zeros((2, 4));
    assert!(softmax::cross_entropy(&logits, Target::probs(probs.view()), &LossOptions::new()).is_err());
    let (_, msg) = message(softmax::nll_loss(&logits, &target, &LossOptions::new().label_smoothing(0.1)));
    assert!(msg.contains("label smoothing"), "{msg}");
    let scalar = ArrayD::<f64>::zeros(IxDyn(&[]));
    let no_target = ArrayD::<i64>::zeros(IxDyn(&[]));
    assert!(softmax::cross_entropy(&scalar, Target::Classes(no_target.view()), &LossOptions::new()).is_err());
}

#[test]
fn bce_weights_must_broadcast() {
    let x = Array2::<f64>::zeros((4, 3));
    let t = Array2::<f64>::zeros((4, 3));
    let pw = Array1::<f64>::ones(2);
    let (kind, msg) =
        message(softmax::binary_cross_entropy_with_logits(&x, &t, &BceOptions::new().pos_weight(pw.view())));
    assert_eq!(kind, ErrorKind::Shape);
    assert!(msg.contains("pos_weight") && msg.contains("[2]") && msg.contains("[4, 3]"), "{msg}");
    let t_bad = Array2::<f64>::zeros((3, 4));
    assert!(softmax::binary_cross_entropy_with_logits(&x, &t_bad, &BceOptions::new()).is_err());
}

#[test]
fn stream_statistics_reject_mismatches() {
    let a = LseStats::from_chunk(&[1.0f64, 2.0], 1.0).unwrap();
    let b = LseStats::from_chunk(&[1.0f64, 2.0], 2.0).unwrap();
    let (kind, msg) = message(a.merge(&b));
    assert_eq!(kind, ErrorKind::Option);
    assert!(msg.contains("temperatures 1 and 2"), "{msg}");
    let mut out = [0.0f64; 3];
    assert!(a.softmax_chunk(&[1.0, 2.0], &mut out, Default::default()).is_err());
    for bad in [
        [0.0, 1.0, 0.0, 0.5, 0.0, 1.0],               // fractional count of +inf
        [0.0, -1.0, 0.0, 0.0, 0.0, 1.0],              // negative sum
        [0.0, 0.0, -5.0, 0.0, 0.0, 1.0],              // negative sum in the low part
        [0.0, 1.0, 1e300, 0.0, 0.0, 1.0],             // not a normalised double-double
        [f64::NAN, 0.0, 0.0, 0.0, 0.0, 1.0],          // NaN maximum
        [f64::INFINITY, 0.0, 0.0, 0.0, 0.0, 1.0],     // +inf maximum
        [f64::NEG_INFINITY, 1.0, 0.0, 0.0, 0.0, 1.0], // a sum without a maximum
        [0.0, 0.0, 0.0, 1e300, 0.0, 1.0],             // a count beyond 2^53
        [0.0, 0.0, 0.0, 0.0, 0.5, 1.0],               // a NaN flag that is not 0 or 1
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],               // temperature 0
    ] {
        assert!(LseStats::from_words(bad).is_err(), "{bad:?}");
    }
    let round_trip = LseStats::from_words(a.to_words()).unwrap();
    assert_eq!(round_trip, a);
}
