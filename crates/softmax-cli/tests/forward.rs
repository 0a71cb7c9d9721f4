//! `apply`, `logsumexp`, `sigmoid` and `jacobian` driven through the binary, every result compared
//! bit for bit with the library's.

mod common;

use common::{
    TempDir, assert_same, fixture, flat, read_npy, rows, softmax, softmax_stdin, values, values_f32,
    write_npy_f64,
};
use half::f16;
use ndarray::{Array, ArrayD, IxDyn, array};
use softmax::{Element, MaskedRows, Options};

fn x3() -> ArrayD<f32> {
    Array::from_shape_fn(IxDyn(&[2, 3, 4]), |i| ((i[0] * 12 + i[1] * 4 + i[2]) as f64 / 7.0) as f32)
}

#[test]
fn apply_values_match_the_library() {
    let x = array![1.0f64, 2.0, 3.0];
    let expected = softmax::softmax(&x, &Options::new()).unwrap();
    let out = softmax(&["apply", "1", "2", "3"]);
    assert_same(&values(out.ok()), &expected.to_vec());
    assert_eq!(out.stdout, "0.09003057317038046 0.24472847105479767 0.6652409557748219\n");
    // Commas inside arguments, negative numbers, `--` before -inf.
    let x = array![-1.0f64, 0.5, f64::NEG_INFINITY, 1e3];
    let expected = softmax::log_softmax(&x, &Options::new().temperature(0.5)).unwrap();
    let out = softmax(&["apply", "--log", "-t", "0.5", "--", "-1,0.5", "-inf", "1e3"]);
    assert_same(&values(out.ok()), &expected.to_vec());
}

#[test]
fn apply_masks_and_masked_row_policies() {
    let x = array![[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.0]];
    let mask = array![[true, false, true], [false, false, false]];
    for (policy, flag) in [(MaskedRows::Nan, "nan"), (MaskedRows::Zeros, "zeros")] {
        let opts = Options::new().mask(mask.view()).masked_rows(policy);
        let expected = softmax::softmax(&x, &opts).unwrap();
        let out = softmax_stdin(&["apply", "--mask", "1,0,1;0,0,0", "--masked-rows", flag], "1 2 3\n4 5 6\n");
        assert_same(&values(out.ok()), &flat(&expected.into_dyn()));
    }
    // A mask file of 0/1 text, on command-line values.
    let dir = TempDir::new("mask");
    let mask_file = dir.write("m.txt", "1 0 1\n");
    let out = softmax(&["apply", "--mask", &mask_file, "1", "2", "3"]);
    let expected =
        softmax::softmax(&array![1.0f64, 2.0, 3.0], &Options::new().mask(array![true, false, true].view()));
    assert_same(&values(out.ok()), &expected.unwrap().to_vec());
}

#[test]
fn apply_streams_text_rows_from_stdin() {
    let input = "# a comment\n1 2 3\n\n4,5,6\n-1\t0\t1e-3\n";
    let x = array![[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.0], [-1.0, 0.0, 1e-3]];
    let expected = softmax::softmax(&x, &Options::new()).unwrap();
    let out = softmax_stdin(&["apply"], input);
    let got = rows(out.ok());
    assert_eq!(got.len(), 3);
    assert_same(&got.concat(), &flat(&expected.into_dyn()));
    // `-i -` is standard input too.
    assert_eq!(softmax_stdin(&["apply", "-i", "-"], input).ok(), out.stdout);
}

#[test]
fn apply_down_the_columns_reads_all_rows() {
    let dir = TempDir::new("axis0");
    let file = dir.write("x.csv", "1,2\n3,4\n5,7\n");
    let x = array![[1.0f64, 2.0], [3.0, 4.0], [5.0, 7.0]];
    let expected = softmax::softmax(&x, &Options::new().axis(0)).unwrap();
    let out = softmax(&["apply", "-i", &file, "--axis", "0"]);
    assert_same(&values(out.ok()), &flat(&expected.into_dyn()));
    assert_eq!(rows(&out.stdout).len(), 3);
}

#[test]
fn apply_on_numpy_files_keeps_their_dtype_and_shape() {
    let dir = TempDir::new("npy");
    let out_path = dir.path("p.npy");
    softmax(&["apply", "-i", &fixture("x_f4_3d.npy"), "--axis", "1", "-o", &out_path]).ok();
    let (descr, shape, got) = read_npy(&out_path);
    let expected = softmax::softmax(&x3(), &Options::new().axis(1)).unwrap();
    assert_eq!((descr.as_str(), shape), ("<f4", vec![2, 3, 4]));
    assert_same(&got, &flat(&expected));
    // f16 stays f16.
    softmax(&["apply", "-i", &fixture("x_f2.npy"), "-o", &out_path]).ok();
    let (descr, shape, got) = read_npy(&out_path);
    let x: ArrayD<f16> = array![[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]].mapv(<f16 as Element>::from_f64).into_dyn();
    assert_eq!((descr.as_str(), shape), ("<f2", vec![2, 3]));
    assert_same(&got, &flat(&softmax::softmax(&x, &Options::new()).unwrap()));
    // Big-endian, Fortran order.
    let x = Array::from_shape_fn(IxDyn(&[2, 3]), |i| (i[0] * 3 + i[1]) as f64 * 0.5 - 1.0);
    let out = softmax(&["apply", "-i", &fixture("x_f8_be_fortran.npy")]);
    assert_same(&values(out.ok()), &flat(&softmax::softmax(&x, &Options::new()).unwrap()));
    // Integers are read as f64; a format 2.0 header is read too.
    let x = array![[1.0f64, 2.0, 3.0], [-4.0, 0.0, 4.0]];
    let out = softmax(&["apply", "-i", &fixture("x_i2.npy")]);
    assert_same(&values(out.ok()), &flat(&softmax::softmax(&x, &Options::new()).unwrap().into_dyn()));
    let x = array![[1.0f64, 2.0], [3.0, 4.0]];
    let out = softmax(&["apply", "-i", &fixture("x_v2.npy")]);
    assert_same(&values(out.ok()), &flat(&softmax::softmax(&x, &Options::new()).unwrap().into_dyn()));
    // A bool mask written by NumPy.
    let mask = Array::from_shape_fn(IxDyn(&[2, 3, 4]), |i| (i[0] * 12 + i[1] * 4 + i[2]) % 3 != 0);
    let out = softmax(&["apply", "-i", &fixture("x_f4_3d.npy"), "--mask", &fixture("mask_b1.npy")]);
    let expected = softmax::softmax(&x3(), &Options::new().mask(mask.view())).unwrap();
    assert_same(&values_f32(out.ok()), &flat(&expected));
    // An empty array gives an empty result of the same shape.
    softmax(&["apply", "-i", &fixture("x_empty.npy"), "-o", &out_path]).ok();
    assert_eq!(read_npy(&out_path).1, vec![0, 3]);
}

#[test]
fn dtype_flag_rounds_once_and_prints_shortest() {
    // Text read straight into f16 (not through f64 then f16), computed, printed shortest.
    let x: ArrayD<f16> = array![0.1f64, 2.0, -3.5].mapv(<f16 as Element>::from_f64).into_dyn();
    let expected = softmax::softmax(&x, &Options::new()).unwrap();
    let out = softmax(&["apply", "--dtype", "f16", "0.1", "2", "-3.5"]);
    let printed: Vec<&str> = out.ok().split_whitespace().collect();
    for (text, e) in printed.iter().zip(expected.iter()) {
        assert_eq!(text.parse::<f64>().map(<f16 as Element>::from_f64).unwrap(), *e);
        // Shortest: no f16 value needs more than 5 significant digits.
        assert!(text.trim_start_matches(['-', '0', '.']).replace('.', "").len() <= 5, "{text}");
    }
    // f32 from a float64 .npy: rounded once on load. (The file is in Fortran order and read in
    // place, so the library is given the same layout: results may differ by an ulp between the
    // vectorised contiguous path and the portable one.)
    use ndarray::ShapeBuilder;
    let x = Array::from_shape_fn(IxDyn(&[2, 3]).f(), |i| ((i[0] * 3 + i[1]) as f64 * 0.5 - 1.0) as f32);
    let out = softmax(&["apply", "--dtype", "f32", "-i", &fixture("x_f8_be_fortran.npy")]);
    assert_same(&values_f32(out.ok()), &flat(&softmax::softmax(&x, &Options::new()).unwrap()));
    // bf16 to .npy is stored as f4 holding the bf16 values.
    let dir = TempDir::new("bf16");
    let path = dir.path("b.npy");
    softmax(&["apply", "--dtype", "bf16", "-o", &path, "1", "2", "3"]).ok();
    let (descr, _, got) = read_npy(&path);
    let x = array![1.0f64, 2.0, 3.0].mapv(<half::bf16 as Element>::from_f64);
    assert_eq!(descr, "<f4");
    assert_same(&got, &flat(&softmax::softmax(&x, &Options::new()).unwrap().into_dyn()));
}

#[test]
fn logsumexp_reduces_the_axis() {
    let out = softmax(&["logsumexp", "1000", "1000"]);
    assert_eq!(out.ok(), "1000.6931471805599\n");
    // Text rows: one value per row; --axis 0: one line of a value per column.
    let x = array![[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.0]];
    let by_row = softmax::logsumexp(&x, &Options::new()).unwrap();
    let out = softmax_stdin(&["logsumexp"], "1 2 3\n4 5 6\n");
    assert_eq!(rows(out.ok()).len(), 2);
    assert_same(&values(&out.stdout), &by_row.to_vec());
    let out = softmax_stdin(&["logsumexp", "-a", "0", "-t", "2"], "1 2 3\n4 5 6\n");
    let expected = softmax::logsumexp(&x, &Options::new().axis(0).temperature(2.0)).unwrap();
    assert_eq!(rows(out.ok()).len(), 1);
    assert_same(&values(&out.stdout), &expected.to_vec());
    // .npy: the axis is removed from the shape; masked-out rows give -inf.
    let dir = TempDir::new("lse");
    let path = dir.path("l.npy");
    softmax(&["logsumexp", "-i", &fixture("x_f4_3d.npy"), "-a", "-2", "-o", &path]).ok();
    let (_, shape, got) = read_npy(&path);
    assert_eq!(shape, vec![2, 4]);
    assert_same(&got, &flat(&softmax::logsumexp(&x3(), &Options::new().axis(-2)).unwrap()));
    let out = softmax(&["logsumexp", "--mask", "0,0", "1", "2"]);
    assert_eq!(out.ok(), "-inf\n");
}

#[test]
fn sigmoid_is_elementwise_on_any_shape() {
    let out = softmax(&["sigmoid", "--", "0", "2", "-800", "-inf"]);
    let expected =
        softmax::sigmoid(&array![0.0f64, 2.0, -800.0, f64::NEG_INFINITY], &Options::new()).unwrap();
    assert_same(&values(out.ok()), &expected.to_vec());
    let out = softmax(&["sigmoid", "--log", "40"]);
    assert_eq!(out.ok(), "-4.248354255291589e-18\n");
    let dir = TempDir::new("sig");
    let path = dir.path("s.npy");
    softmax(&["sigmoid", "-t", "3", "-i", &fixture("x_f4_3d.npy"), "-o", &path]).ok();
    let (_, shape, got) = read_npy(&path);
    assert_eq!(shape, vec![2, 3, 4]);
    assert_same(&got, &flat(&softmax::sigmoid(&x3(), &Options::new().temperature(3.0)).unwrap()));
    // A 0-D array, and masked positions (log: -inf).
    let out = softmax(&["sigmoid", "-i", &fixture("x_scalar.npy")]);
    assert_same(&values(out.ok()), &[softmax::sigmoid(&array![0.5f64], &Options::new()).unwrap()[0]]);
    let out = softmax_stdin(&["sigmoid", "--log", "--mask", "1,0"], "1 2\n");
    assert_eq!(values(out.ok())[1], f64::NEG_INFINITY);
}

#[test]
fn jacobian_prints_one_matrix_per_row() {
    let out = softmax(&["jacobian", "0", "0"]);
    assert_eq!(out.ok(), "0.25 -0.25\n-0.25 0.25\n");
    let x = array![[1.0f64, 2.0, 3.0], [0.5, -1.0, 2.0]];
    let expected = softmax::softmax_jacobian(&x, &Options::new().temperature(0.7)).unwrap();
    let out = softmax_stdin(&["jacobian", "-t", "0.7"], "1 2 3\n0.5 -1 2\n");
    let text = out.ok();
    // Two 3×3 blocks, separated by a blank line.
    assert_eq!(text.split("\n\n").count(), 2, "{text}");
    assert_eq!(rows(text).len(), 6);
    assert_same(&values(text), &flat(&expected));
    let dir = TempDir::new("jac");
    let path = dir.path("j.npy");
    softmax(&["jacobian", "-i", &fixture("x_f4_3d.npy"), "-a", "1", "-o", &path]).ok();
    let (_, shape, got) = read_npy(&path);
    assert_eq!(shape, vec![2, 4, 3, 3]);
    assert_same(&got, &flat(&softmax::softmax_jacobian(&x3(), &Options::new().axis(1)).unwrap()));
}

#[test]
fn large_inputs_are_processed_in_chunks_with_the_same_result() {
    // More rows than one chunk holds, from .npy and from a text file.
    let dir = TempDir::new("chunks");
    let n = 30_000;
    let text: String =
        (0..n).map(|i| format!("{} {} {}\n", i % 7, (i * 13) % 11, -((i % 5) as i32))).collect();
    let file = dir.write("big.txt", &text);
    let x = Array::from_shape_fn((n, 3), |(i, j)| match j {
        0 => (i % 7) as f64,
        1 => ((i * 13) % 11) as f64,
        _ => -((i % 5) as f64),
    });
    let expected = flat(&softmax::softmax(&x, &Options::new()).unwrap().into_dyn());
    let npy = dir.path("big.npy");
    softmax(&["apply", "-i", &file, "-o", &npy]).ok();
    let (_, shape, got) = read_npy(&npy);
    assert_eq!(shape, vec![n, 3]);
    assert_same(&got, &expected);
    // The same values as a .npy file, processed whole (in chunks along axis 0).
    let x_npy = dir.path("x.npy");
    write_npy_f64(&x_npy, &[n, 3], &x.iter().copied().collect::<Vec<_>>());
    let out = softmax(&["apply", "-i", &x_npy]);
    assert_same(&values(out.ok()), &expected);
}
