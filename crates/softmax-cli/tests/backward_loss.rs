//! `backward` and `loss` driven through the binary, compared bit for bit with the library.

mod common;

use common::{TempDir, assert_same, fixture, flat, read_npy, rows, softmax, softmax_stdin, values};
use ndarray::{Array2, ArrayD, array};
use softmax::{BceOptions, LossOptions, Options, Reduction, Target};

#[test]
fn backward_of_softmax_log_softmax_and_sigmoid() {
    let y = array![[0.25f64, 0.75], [0.5, 0.5]];
    let dy = array![[1.0f64, 0.0], [0.3, -2.0]];
    let opts = Options::new().temperature(2.0);
    let out = softmax(&["backward", "--probs", "0.25,0.75;0.5,0.5", "--grad", "1,0;0.3,-2", "-t", "2"]);
    let expected = softmax::softmax_backward(&y, &dy, &opts).unwrap();
    assert_same(&values(out.ok()), &flat(&expected.into_dyn()));
    let out =
        softmax(&["backward", "--log", "--probs", "0.25,0.75;0.5,0.5", "--grad", "1,0;0.3,-2", "-t", "2"]);
    let expected = softmax::log_softmax_backward(&y, &dy, &opts).unwrap();
    assert_same(&values(out.ok()), &flat(&expected.into_dyn()));
    let out = softmax(&["backward", "--sigmoid", "--probs", "0.25,0.75;0.5,0.5", "--grad", "1,0;0.3,-2"]);
    let expected = softmax::sigmoid_backward(&y, &dy, &Options::new()).unwrap();
    assert_same(&values(out.ok()), &flat(&expected.into_dyn()));
}

#[test]
fn backward_streams_text_files_in_step_and_reads_stdin() {
    let dir = TempDir::new("bwd");
    let y_text = "0.2 0.3 0.5\n0.1 0.1 0.8\n0.6 0.2 0.2\n";
    let y_file = dir.write("y.txt", y_text);
    let dy_file = dir.write("dy.csv", "1,0,0\n0,1,0\n-1,2,0.5\n");
    let y = array![[0.2f64, 0.3, 0.5], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]];
    let dy = array![[1.0f64, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 2.0, 0.5]];
    let mask = array![[true, true, false], [true, true, true], [false, true, true]];
    let opts = Options::new().mask(mask.view());
    let expected = flat(&softmax::softmax_backward(&y, &dy, &opts).unwrap().into_dyn());
    let mask_arg = "1,1,0;1,1,1;0,1,1";
    let out = softmax(&["backward", "--probs", &y_file, "--grad", &dy_file, "--mask", mask_arg]);
    assert_same(&values(out.ok()), &expected);
    // The forward output from standard input, written to .npy.
    let path = dir.path("dx.npy");
    let out = softmax_stdin(
        &["backward", "--probs", "-", "--grad", &dy_file, "--mask", mask_arg, "-o", &path],
        y_text,
    );
    out.ok();
    let (_, shape, got) = read_npy(&path);
    assert_eq!(shape, vec![3, 3]);
    assert_same(&got, &expected);
    // Down the columns: read whole.
    let expected = softmax::softmax_backward(&y, &dy, &Options::new().axis(0)).unwrap();
    let out = softmax(&["backward", "--probs", &y_file, "--grad", &dy_file, "-a", "0"]);
    assert_same(&values(out.ok()), &flat(&expected.into_dyn()));
}

#[test]
fn backward_on_npy_files() {
    let dir = TempDir::new("bwdnpy");
    let y = dir.path("y.npy");
    softmax(&["apply", "-i", &fixture("x_f4_3d.npy"), "-o", &y]).ok();
    let dx = dir.path("dx.npy");
    softmax(&["backward", "--probs", &y, "--grad", &y, "-o", &dx]).ok();
    let (descr, shape, got) = read_npy(&dx);
    let (_, _, y_values) = read_npy(&y);
    let y_array =
        ArrayD::from_shape_vec(vec![2, 3, 4], y_values.iter().map(|&v| v as f32).collect()).unwrap();
    let expected = softmax::softmax_backward(&y_array, &y_array, &Options::new()).unwrap();
    assert_eq!((descr.as_str(), shape), ("<f4", vec![2, 3, 4]));
    assert_same(&got, &flat(&expected));
}

fn logits() -> Array2<f64> {
    array![[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]
}

#[test]
fn cross_entropy_with_class_indices() {
    let classes = array![0i64, 2];
    for (flag, reduction) in [("none", Reduction::None), ("sum", Reduction::Sum), ("mean", Reduction::Mean)] {
        let opts = LossOptions::new().reduction(reduction);
        let expected = softmax::cross_entropy(&logits(), Target::classes(classes.view()), &opts).unwrap();
        let out =
            softmax(&["loss", "--logits", "2,0.5,-1;0.1,0.2,3", "--target", "0,2", "--reduction", flag]);
        assert_same(&values(out.ok()), &flat(&expected));
        // Unreduced losses print one per line.
        assert_eq!(rows(&out.stdout).len(), if flag == "none" { 2 } else { 1 });
    }
    // Class targets from NumPy integer files of several types; a column of text indices.
    let dir = TempDir::new("ce");
    let x = dir.write("x.txt", "2 0.5 -1\n0.1 0.2 3\n");
    let classes = array![2i64, 0];
    let expected =
        softmax::cross_entropy(&logits(), Target::classes(classes.view()), &LossOptions::new()).unwrap();
    for target in [fixture("classes_i1.npy"), fixture("classes_u2.npy"), fixture("classes_i8_be.npy")] {
        let out = softmax(&["loss", "--logits", &x, "--target", &target]);
        assert_same(&values(out.ok()), &flat(&expected));
    }
    let column = dir.write("t.txt", "2\n0\n");
    assert_same(&values(softmax(&["loss", "--logits", &x, "--target", &column]).ok()), &flat(&expected));
}

#[test]
fn cross_entropy_options_and_gradient() {
    let dir = TempDir::new("ceopts");
    let classes = array![1i64, -1];
    let weight = array![0.5f64, 2.0, 1.0];
    let opts = LossOptions::new().weight(weight.view()).label_smoothing(0.1).ignore_index(Some(-1));
    let (loss, grad) =
        softmax::cross_entropy_with_grad(&logits(), Target::classes(classes.view()), &opts).unwrap();
    let grad_path = dir.path("g.npy");
    let out = softmax(&[
        "loss",
        "--logits",
        "2,0.5,-1;0.1,0.2,3",
        "--target",
        "1,-1",
        "--weight",
        "0.5,2,1",
        "--label-smoothing",
        "0.1",
        "--ignore-index",
        "-1",
        "--grad-out",
        &grad_path,
    ]);
    assert_same(&values(out.ok()), &flat(&loss));
    let (_, shape, got) = read_npy(&grad_path);
    assert_eq!(shape, vec![2, 3]);
    assert_same(&got, &flat(&grad.into_dyn()));
    // Every target ignored: the mean is NaN, as in PyTorch.
    let out = softmax(&["loss", "--logits", "1,2;3,4", "--target", "-100,-100"]);
    assert_eq!(out.ok(), "NaN\n");
    // Probability targets; the class axis of 3-D logits.
    let probs = array![[0.25f64, 0.25, 0.5], [1.0, 0.0, 0.0]];
    let expected =
        softmax::cross_entropy(&logits(), Target::probs(probs.view()), &LossOptions::new()).unwrap();
    let out = softmax(&[
        "loss",
        "--logits",
        "2,0.5,-1;0.1,0.2,3",
        "--probs-target",
        "--target",
        &fixture("probs_f8.npy"),
    ]);
    assert_same(&values(out.ok()), &flat(&expected));
    let x3 = ndarray::Array::from_shape_fn(ndarray::IxDyn(&[2, 3, 4]), |i| {
        f64::from(((i[0] * 12 + i[1] * 4 + i[2]) as f64 / 7.0) as f32)
    });
    let t = array![[0i64, 1, 2], [3, 3, 0]];
    let opts = LossOptions::new().class_axis(-1).reduction(Reduction::None);
    let expected = softmax::cross_entropy(&x3, Target::classes(t.view()), &opts).unwrap();
    let out = softmax(&[
        "loss",
        "--logits",
        &fixture("x_f4_3d.npy"),
        "--dtype",
        "f64",
        "--target",
        "0,1,2;3,3,0",
        "--class-axis",
        "-1",
        "--reduction",
        "none",
    ]);
    assert_same(&values(out.ok()), &flat(&expected));
}

#[test]
fn binary_cross_entropy_with_logits() {
    let x = array![[0.0f64, 50.0, -3.0], [1.5, -0.5, 2.0]];
    let t = array![[1.0f64, 1.0, 0.0], [0.0, 0.5, 1.0]];
    let pos_weight = array![3.0f64, 1.0, 0.5];
    let opts = BceOptions::new().pos_weight(pos_weight.view()).reduction(Reduction::None);
    let (loss, grad) = softmax::binary_cross_entropy_with_logits_with_grad(&x, &t, &opts).unwrap();
    let dir = TempDir::new("bce");
    let grad_path = dir.path("g.csv");
    let bce = ["loss", "--bce", "--logits", "0,50,-3;1.5,-0.5,2", "--target", "1,1,0;0,0.5,1"];
    let out = softmax(
        &[&bce[..], &["--pos-weight", "3,1,0.5", "--reduction", "none", "--grad-out", &grad_path]].concat(),
    );
    assert_same(&values(out.ok()), &flat(&loss));
    let grad_text = std::fs::read_to_string(&grad_path).unwrap();
    assert!(grad_text.contains(','), "CSV: {grad_text}");
    assert_same(&values(&grad_text), &flat(&grad.into_dyn()));
    // Element weights from a text file; the mean.
    let w = dir.write("w.txt", "1 2 0\n0.5 1 1\n");
    let weight = array![[1.0f64, 2.0, 0.0], [0.5, 1.0, 1.0]];
    let opts = BceOptions::new().weight(weight.view());
    let expected = softmax::binary_cross_entropy_with_logits(&x, &t, &opts).unwrap();
    let out = softmax(&[&bce[..], &["--weight", &w]].concat());
    assert_same(&values(out.ok()), &flat(&expected));
}
