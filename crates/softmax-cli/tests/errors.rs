//! Every error of the issue: a one-line message naming what and where, exit code 1 for bad data and
//! 2 for bad usage, never a panic.

mod common;

use common::{TempDir, fixture, softmax, softmax_stdin};

#[test]
fn malformed_numbers_name_the_input_line_and_column() {
    let dir = TempDir::new("malformed");
    let file = dir.write("x.csv", "1,2,3\n4, 5x ,6\n");
    softmax(&["apply", "-i", &file])
        .fails(1, &[&format!("{file}: line 2, column 4: \"5x\" is not a number")]);
    softmax_stdin(&["logsumexp"], "1 2\n\n1 nan 2e\n")
        .fails(1, &["<stdin>: line 3, column 7: \"2e\" is not a number"]);
    softmax(&["apply", "1", "two", "3"])
        .fails(1, &["the command line: argument 2 (\"two\") is not a number"]);
    softmax(&["apply", "--mask", "1,0,maybe", "1", "2", "3"]).fails(2, &["maybe", "no such file"]);
    softmax(&["apply", "--mask", "1,2", "1", "2"])
        .fails(1, &["--mask '1,2': line 1, column 3: \"2\" is not a mask value"]);
    softmax(&["loss", "--logits", "1,2", "--target", "0.5"])
        .fails(1, &["--target", "\"0.5\" is not a class index"]);
    softmax_stdin(&["apply"], "1,,2\n")
        .fails(1, &["<stdin>: line 1, column 3: empty value before this comma"]);
}

#[test]
fn rows_before_a_bad_line_are_answered() {
    let out = softmax_stdin(&["apply"], "0 0\n1 1\n3 x\n5 5\n");
    out.fails(1, &["<stdin>: line 3, column 3: \"x\" is not a number"]);
    assert_eq!(out.stdout, "0.5 0.5\n0.5 0.5\n");
}

#[test]
fn ragged_rows() {
    let dir = TempDir::new("ragged");
    let file = dir.write("x.txt", "1 2 3\n4 5 6\n7 8\n");
    softmax(&["apply", "-i", &file]).fails(1, &[&format!("{file}: line 3 has 2 values but line 1 has 3")]);
    softmax(&["apply", "-i", &file, "--axis", "0"]).fails(1, &["line 3 has 2 values"]);
}

#[test]
fn axis_out_of_range_names_the_shape() {
    softmax(&["apply", "-i", &fixture("x_f4_3d.npy"), "--axis", "3"])
        .fails(2, &["x_f4_3d.npy (shape [2, 3, 4]): axis 3 is out of range for an array of rank 3"]);
    softmax(&["jacobian", "-a", "-2", "1", "2"])
        .fails(2, &["the command line (shape [2]): axis -2 is out of range"]);
    softmax_stdin(&["logsumexp", "-a", "2"], "1 2\n")
        .fails(2, &["<stdin>: axis 2 is out of range for text input"]);
    softmax(&["apply", "-i", &fixture("x_scalar.npy")]).fails(2, &["shape []", "rank 0"]);
    softmax(&["loss", "--logits", "1,2", "--target", "0", "--class-axis", "1"])
        .fails(2, &["axis 1 is out of range"]);
}

#[test]
fn temperature_must_be_finite_and_positive() {
    for t in ["0", "-1", "inf", "nan", "-inf"] {
        softmax(&["apply", "-t", t, "1", "2"])
            .fails(2, &["--temperature", "temperature must be finite and positive"]);
    }
    softmax(&["sigmoid", "--temperature", "hot", "1"]).fails(2, &["\"hot\" is not a number"]);
    softmax(&["backward", "--probs", "1", "--grad", "1", "-t", "0"]).fails(2, &["finite and positive"]);
}

#[test]
fn class_index_out_of_range_names_the_row() {
    softmax(&["loss", "--logits", "1,2,3;4,5,6;7,8,9", "--target", "0,2,3"])
        .fails(1, &["class index 3 at position [2] is out of range for 3 classes"]);
    softmax(&["loss", "--logits", "1,2,3;4,5,6", "--target", "-2,0"])
        .fails(1, &["class index -2 at position [0]"]);
    softmax(&["loss", "--logits", "1,2;3,4", "--target", &fixture("probs_f8.npy")])
        .fails(1, &["class index 0.25 at position [0, 0] is not an integer"]);
}

#[test]
fn shapes_that_do_not_match() {
    softmax(&["apply", "-i", &fixture("x_f4_3d.npy"), "--mask", &fixture("x_empty.npy")])
        .fails(2, &["unsupported dtype float64 for a mask"]);
    softmax(&["apply", "-i", &fixture("x_f2.npy"), "--mask", &fixture("mask_b1.npy")])
        .fails(1, &["the mask", "has shape [2, 3, 4] but", "x_f2.npy has shape [2, 3]"]);
    softmax_stdin(&["apply", "--mask", "1,0,1;1,1,1"], "1 2 3\n")
        .fails(1, &["the mask --mask '1,0,1;1,1,1' has shape [2, 3] but <stdin> has 1 row of 3"]);
    softmax_stdin(&["apply", "--mask", "1,0"], "1 2 3\n")
        .fails(1, &["the mask --mask '1,0' has shape [1, 2]"]);
    softmax(&["backward", "--probs", "0.5,0.5", "--grad", "1,0,0"])
        .fails(1, &["the upstream gradient --grad '1,0,0' has shape [3] but the forward output --probs '0.5,0.5' has shape [2]"]);
    let dir = TempDir::new("shapes");
    let y = dir.write("y.txt", "0.5 0.5\n0.5 0.5\n");
    let dy = dir.write("dy.txt", "1 0\n");
    softmax(&["backward", "--probs", &y, "--grad", &dy])
        .fails(1, &["the upstream gradient", "has 1 row but"]);
    softmax(&["loss", "--logits", "1,2,3;4,5,6", "--target", "0,1,2"])
        .fails(1, &["the class-index target has shape [3]"]);
    softmax(&["loss", "--logits", "1,2,3;4,5,6", "--target", "0,1", "--weight", "1,2"])
        .fails(1, &["the class weights have length 2 but there are 3 classes"]);
    softmax(&["loss", "--bce", "--logits", "1,2", "--target", "1,0,1"])
        .fails(1, &["the target has shape [3]"]);
}

#[test]
fn unsupported_dtypes() {
    softmax(&["apply", "-i", &fixture("c16.npy")]).fails(2, &["c16.npy: unsupported dtype '<c16'"]);
    softmax(&["apply", "-i", &fixture("mask_b1.npy")]).fails(2, &["unsupported dtype bool for numbers"]);
    softmax(&["loss", "--logits", "1,2", "--target", &fixture("mask_b1.npy")])
        .fails(2, &["bool for class indices"]);
    softmax(&["apply", "--dtype", "f128", "1"]).fails(2, &["invalid value 'f128'"]);
}

#[test]
fn missing_unreadable_and_malformed_files() {
    softmax(&["apply", "-i", "/nonexistent/x.npy"]).fails(2, &["/nonexistent/x.npy: no such file"]);
    softmax(&["apply", "--mask", "nope.npy", "1"]).fails(2, &["nope.npy: no such file"]);
    let dir = TempDir::new("files");
    let fake = dir.write("fake.npy", "1 2 3\n");
    softmax(&["apply", "-i", &fake]).fails(1, &["fake.npy: not a .npy file"]);
    // A real header, then too little data.
    let mut bytes = std::fs::read(fixture("x_f4_3d.npy")).unwrap();
    bytes.truncate(bytes.len() - 8);
    let short = dir.path("short.npy");
    std::fs::write(&short, &bytes).unwrap();
    softmax(&["apply", "-i", &short]).fails(1, &["short.npy: truncated: shape [2, 3, 4]"]);
    softmax(&["apply", "-i", &dir.path("")]).fails(2, &["is a directory"]);
    softmax(&["apply", "-o", "/nonexistent/dir/p.npy", "1"])
        .fails(2, &["/nonexistent/dir/p.npy: cannot create"]);
}

#[test]
fn usage_errors() {
    softmax(&["apply", "--frobnicate", "1"]).fails(2, &["unexpected argument '--frobnicate'"]);
    softmax(&["transmogrify"]).fails(2, &["unrecognized subcommand"]);
    softmax(&[]).fails(2, &["Usage"]);
    softmax(&["apply", "-i", "x.npy", "1", "2"]).fails(2, &["cannot be used with"]);
    softmax(&["backward", "--probs", "-", "--grad", "-"])
        .fails(2, &["--probs and --grad cannot all read standard input"]);
    softmax(&["loss", "--logits", "1,2", "--target", "0", "--label-smoothing", "1.5"])
        .fails(2, &["label smoothing must be in [0, 1]"]);
    softmax(&["loss", "--logits", "1,2", "--target", "0", "--pos-weight", "1,1"]).fails(2, &["--bce"]);
    softmax(&["loss", "--bce", "--probs-target", "--logits", "1", "--target", "1"])
        .fails(2, &["cannot be used with"]);
    softmax(&["loss", "--logits", "1,2", "--target", "0", "--grad-out", "-"])
        .fails(2, &["cannot go to the same place"]);
    // `-inf` without `--` is read by the argument parser as `-i nf`: the message says what to do.
    softmax(&["apply", "1", "-inf"]).fails(2, &["put `--` before the values"]);
}
