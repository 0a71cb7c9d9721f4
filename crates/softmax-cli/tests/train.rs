//! `softmax train` through the binary: the accuracy targets on the built-in digits, bit-for-bit
//! determinism, the user's CSV and IDX data, and clear errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn softmax(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_softmax")).args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("softmax-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The accuracy on the line of the report that starts with `part`.
fn accuracy(report: &str, part: &str) -> f64 {
    let line =
        report.lines().find(|l| l.starts_with(part)).unwrap_or_else(|| panic!("no {part} line:\n{report}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn error(out: &Output) -> (Option<i32>, String) {
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn softmax_regression_meets_its_target_and_repeats_bit_for_bit() {
    let dir = scratch("repeat");
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    let first = stdout(&softmax(&["train", "-q", "--save", a.to_str().unwrap()]));
    let second = stdout(&softmax(&["train", "-q", "--save", b.to_str().unwrap()]));
    assert_eq!(first.replace(a.to_str().unwrap(), "M"), second.replace(b.to_str().unwrap(), "M"));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(first.contains("split     1437 for training, 360 held out (stratified, 20%)"), "{first}");
    assert!(first.contains("model     softmax regression, 64 → 10 (650 parameters)"));
    assert!(accuracy(&first, "test") >= 0.95, "{first}");
    assert!(first.contains("confusion matrix on the test part"));
    assert!(first.contains("most confident mistakes on the test part"));
    let other_seed = stdout(&softmax(&["train", "-q", "--seed", "7"]));
    assert_ne!(first.lines().nth(7), other_seed.lines().nth(7));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_hidden_layer_of_64_meets_its_target() {
    let report = stdout(&softmax(&["train", "-q", "--hidden", "64"]));
    assert!(report.contains("one hidden sigmoid layer, 64 → 64 → 10 (4810 parameters)"), "{report}");
    assert!(accuracy(&report, "test") >= 0.96, "{report}");
    assert!(accuracy(&report, "train") >= 0.99, "{report}");
}

#[test]
fn label_smoothing_and_the_other_knobs_are_taken() {
    let report = stdout(&softmax(&[
        "train",
        "-q",
        "--epochs",
        "3",
        "--batch-size",
        "64",
        "--lr",
        "0.1",
        "--momentum",
        "0.5",
        "--label-smoothing",
        "0.1",
        "--weight-decay",
        "0",
        "--test-fraction",
        "0.3",
        "--mistakes",
        "2",
    ]));
    assert!(report.contains(
        "3 epochs of SGD: batch 64, learning rate 0.1, momentum 0.5,\n          \
         weight decay 0, label smoothing 0.1, seed 42"
    ));
    assert!(report.contains("1257 for training, 540 held out (stratified, 30%)"), "{report}");
    assert!(report.contains("the 2 most confident mistakes"), "{report}");
    assert!(accuracy(&report, "test") > 0.8, "{report}");
}

/// Three well-separated clusters in two features, 20 samples each.
fn clusters_csv(dir: &Path) -> PathBuf {
    let mut text = String::from("class,x,y\n");
    for i in 0..60 {
        let class = i % 3;
        let jitter = (i as f64 * 0.37).sin();
        text += &format!("{class},{},{}\n", 10.0 * class as f64 + jitter, -5.0 * class as f64 + jitter * 0.5);
    }
    let path = dir.join("clusters.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_csv_of_the_users_data_trains() {
    let dir = scratch("csv");
    let csv = clusters_csv(&dir);
    let report = stdout(&softmax(&["train", "-q", "--data", csv.to_str().unwrap(), "--epochs", "20"]));
    assert!(report.contains("clusters.csv: 60 samples, 2 features"), "{report}");
    assert!(report.contains("48 for training, 12 held out"), "{report}");
    assert_eq!(accuracy(&report, "test"), 1.0, "{report}");
    assert!(report.contains("no mistakes on the test part"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_idx_pair_trains_and_its_labels_file_is_found_by_name() {
    let dir = scratch("idx");
    // 40 images of 2×2 pixels: class 0 bright on the left, class 1 on the right.
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 40, 0, 0, 0, 2, 0, 0, 0, 2];
    let mut labels = vec![0, 0, 8, 1, 0, 0, 0, 40];
    for i in 0..40u8 {
        let (class, noise) = (i % 2, i % 5);
        images.extend(if class == 0 { [200 + noise, noise, 190, 10] } else { [noise, 210, 5 + noise, 180] });
        labels.push(class);
    }
    std::fs::write(dir.join("toy-images-idx3-ubyte"), &images).unwrap();
    std::fs::write(dir.join("toy-labels-idx1-ubyte"), &labels).unwrap();
    let images_path = dir.join("toy-images-idx3-ubyte");
    let report =
        stdout(&softmax(&["train", "-q", "--data", images_path.to_str().unwrap(), "--epochs", "10"]));
    assert!(report.contains("40 samples, 4 features"), "{report}");
    assert_eq!(accuracy(&report, "test"), 1.0, "{report}");

    std::fs::write(dir.join("short-labels"), &labels[..labels.len() - 1]).unwrap();
    let bad = softmax(&[
        "train",
        "--data",
        images_path.to_str().unwrap(),
        "--labels",
        dir.join("short-labels").to_str().unwrap(),
    ]);
    let (code, message) = error(&bad);
    assert_eq!(code, Some(1));
    assert!(
        message.contains("short-labels: the IDX header says [40] (40 bytes) but 39 bytes follow it"),
        "{message}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn labels_outside_the_class_range_and_bad_data_are_clear_errors() {
    let dir = scratch("errors");
    let csv = clusters_csv(&dir);
    let (code, message) = error(&softmax(&["train", "--data", csv.to_str().unwrap(), "--classes", "2"]));
    assert_eq!(code, Some(1));
    assert!(message.contains("label 2 is outside the class range 0..2 (--classes 2)"), "{message}");

    let (code, message) = error(&softmax(&["train", "--classes", "5"]));
    assert_eq!(code, Some(1));
    assert!(
        message
            .contains("built-in digits: sample 5 (counting from 0): label 5 is outside the class range 0..5"),
        "{message}"
    );

    let negative = dir.join("negative.csv");
    std::fs::write(&negative, "0,1.0\n-1,2.0\n").unwrap();
    let (code, message) = error(&softmax(&["train", "--data", negative.to_str().unwrap()]));
    assert_eq!(code, Some(1));
    assert!(
        message.contains("negative.csv: line 2, column 1: label \"-1\" is outside the class range"),
        "{message}"
    );

    let ragged = dir.join("ragged.csv");
    std::fs::write(&ragged, "0,1,2\n1,3\n").unwrap();
    let (code, message) = error(&softmax(&["train", "--data", ragged.to_str().unwrap()]));
    assert_eq!(
        (code, message.trim_end()),
        (Some(1), format!("softmax: {}: line 2: 1 features, but line 1 has 2", ragged.display()).as_str())
    );

    let (code, message) = error(&softmax(&["train", "--data", dir.join("missing.csv").to_str().unwrap()]));
    assert_eq!(code, Some(2));
    assert!(message.contains("missing.csv: no such file"), "{message}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_settings_are_usage_errors() {
    for (args, message) in [
        (&["--lr", "0"][..], "--lr 0 is not a positive number"),
        (&["--test-fraction", "1"][..], "--test-fraction 1 is not in [0, 1)"),
        (&["--momentum", "1"][..], "--momentum 1 is not in [0, 1)"),
        (&["--epochs", "0"][..], "--epochs must be at least 1"),
        (&["--label-smoothing", "2"][..], "--label-smoothing 2 is not in [0, 1]"),
        (&["--hidden", "0"][..], "--hidden must be at least 1"),
    ] {
        let (code, stderr) = error(&softmax(&[&["train"][..], args].concat()));
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let (code, stderr) = error(&softmax(&["train", "--lr", "1e300", "--epochs", "5"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("training diverged"), "{stderr}");
}
