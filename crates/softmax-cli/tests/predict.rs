//! `softmax predict` through the binary: a model trained on a small CSV predicts rows given as
//! values, CSV, standard input and `.npy`; wrong feature counts and corrupt model files are clear
//! errors.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn softmax(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_softmax")).args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn error(out: &Output) -> (Option<i32>, String) {
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A directory holding a model trained on three clusters: class c near (10c, −5c).
fn trained(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("softmax-predict-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::new();
    for i in 0..60 {
        let class = i % 3;
        let jitter = (i as f64 * 0.37).sin();
        text += &format!("{class},{},{}\n", 10.0 * class as f64 + jitter, -5.0 * class as f64 + jitter * 0.5);
    }
    std::fs::write(dir.join("clusters.csv"), text).unwrap();
    let model = dir.join("model.json");
    let data = dir.join("clusters.csv");
    stdout(&softmax(&[
        "train",
        "-q",
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "30",
        "--save",
        model.to_str().unwrap(),
    ]));
    (dir, model)
}

/// The classes of each output line.
fn classes(lines: &str) -> Vec<Vec<usize>> {
    lines
        .lines()
        .map(|l| l.split("   ").map(|pair| pair.split(' ').next().unwrap().parse().unwrap()).collect())
        .collect()
}

/// A `.npy` file of little-endian f64 in C order.
fn write_npy(path: &Path, shape: &[usize], values: &[f64]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if shape.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    values.iter().for_each(|v| bytes.extend(v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn rows_from_values_files_stdin_and_npy_get_their_classes() {
    let (dir, model) = trained("sources");
    let m = model.to_str().unwrap();

    let one = stdout(&softmax(&["predict", "--model", m, "10.2", "-4.9"]));
    assert_eq!(classes(&one), [vec![1, 0, 2]]);
    let line = one.trim_end();
    let p: f64 = line.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(p > 0.8, "{line}");

    let csv = dir.join("rows.csv");
    std::fs::write(&csv, "# x, y\n0.1,0.2\n20.5,-10.1\n9.5,-5.5\n").unwrap();
    let from_csv = stdout(&softmax(&["predict", "--model", m, "-i", csv.to_str().unwrap(), "--top-k", "1"]));
    assert_eq!(classes(&from_csv), [vec![0], vec![2], vec![1]]);

    let mut child = Command::new(env!("CARGO_BIN_EXE_softmax"))
        .args(["predict", "--model", m, "-k", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"20 -10\n0 0\n").unwrap();
    let piped = stdout(&child.wait_with_output().unwrap());
    assert_eq!(classes(&piped).iter().map(|c| c[0]).collect::<Vec<_>>(), [2, 0]);
    assert!(classes(&piped).iter().all(|c| c.len() == 2));

    let npy = dir.join("rows.npy");
    write_npy(&npy, &[2, 2], &[0.0, 0.0, 19.0, -9.0]);
    let from_npy = stdout(&softmax(&["predict", "--model", m, "-i", npy.to_str().unwrap(), "-k", "1"]));
    assert_eq!(classes(&from_npy), [vec![0], vec![2]]);
    let row = dir.join("row.npy");
    write_npy(&row, &[2], &[10.0, -5.0]);
    assert_eq!(
        classes(&stdout(&softmax(&["predict", "-m", m, "-i", row.to_str().unwrap(), "-k", "1"]))),
        [vec![1]]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn temperature_softens_the_probabilities_but_keeps_the_class() {
    let (dir, model) = trained("temperature");
    let m = model.to_str().unwrap();
    let p = |t: &str| -> (usize, f64) {
        let line = stdout(&softmax(&["predict", "-m", m, "-t", t, "-k", "1", "5", "-2"]));
        let mut fields = line.split_whitespace();
        (fields.next().unwrap().parse().unwrap(), fields.next().unwrap().parse().unwrap())
    };
    let (cold, hot) = (p("0.5"), p("4"));
    assert_eq!(cold.0, hot.0);
    assert!(cold.1 > p("1").1 && p("1").1 > hot.1, "{cold:?} {hot:?}");
    let all = stdout(&softmax(&["predict", "-m", m, "-k", "10", "5", "-2"]));
    let total: f64 =
        all.split("   ").map(|pair| pair.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap()).sum();
    assert_eq!(classes(&all)[0].len(), 3, "--top-k beyond the classes lists them all");
    assert!((total - 1.0).abs() < 2e-4, "{all}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wrong_feature_counts_bad_values_and_corrupt_models_are_clear_errors() {
    let (dir, model) = trained("errors");
    let m = model.to_str().unwrap();

    let (code, message) = error(&softmax(&["predict", "--model", m, "1", "2", "3"]));
    assert_eq!(code, Some(1));
    assert_eq!(
        message.trim_end(),
        "softmax: the command line: rows of 3 values, but the model takes 2 features"
    );

    let csv = dir.join("wide.csv");
    std::fs::write(&csv, "1,2\n1,2,3\n").unwrap();
    let (code, message) = error(&softmax(&["predict", "--model", m, "-i", csv.to_str().unwrap()]));
    assert_eq!(code, Some(1));
    assert!(message.contains("wide.csv: line 2 has 3 values but line 1 has 2"), "{message}");

    let (code, message) = error(&softmax(&["predict", "--model", m, "--", "1", "nan"]));
    assert_eq!(code, Some(1));
    assert!(message.contains("row 1, feature 2: NaN is not a finite number"), "{message}");

    let good = std::fs::read_to_string(&model).unwrap();
    let corrupt = dir.join("corrupt.json");
    for (text, expected) in [
        (&good[..good.len() / 3], "not a valid model file: EOF while parsing"),
        ("not json", "not a valid model file: expected ident at line 1 column 2"),
        (&good.replacen("\"version\": 1", "\"version\": 2", 1), "version 2 (this softmax reads version 1)"),
        (&good.replacen("\"features\": 2", "\"features\": 3", 1), "3 features but 2 standardisation means"),
    ] {
        std::fs::write(&corrupt, text).unwrap();
        let (code, message) = error(&softmax(&["predict", "--model", corrupt.to_str().unwrap(), "1", "2"]));
        assert_eq!(code, Some(1), "{message}");
        assert!(message.contains(expected), "{expected}: {message}");
    }
    std::fs::write(&corrupt, [0xff, 0xfe, 0x00]).unwrap();
    let (code, message) = error(&softmax(&["predict", "--model", corrupt.to_str().unwrap(), "1", "2"]));
    assert_eq!(code, Some(1));
    assert!(message.contains("not a valid model file: not UTF-8"), "{message}");

    let (code, message) =
        error(&softmax(&["predict", "--model", dir.join("none.json").to_str().unwrap(), "1"]));
    assert_eq!(code, Some(2));
    assert!(message.contains("none.json: no such file"), "{message}");
    let (code, message) = error(&softmax(&["predict", "--model", m, "--top-k", "0", "1", "2"]));
    assert_eq!(code, Some(2));
    assert!(message.contains("--top-k must be at least 1"), "{message}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_digits_model_predicts_the_first_digit() {
    let dir = std::env::temp_dir().join(format!("softmax-predict-digits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("digits.json");
    stdout(&softmax(&["train", "-q", "--save", model.to_str().unwrap()]));
    // The first image of the data set, a 0 (it is in the training part of the default split).
    let zero = "0 0 5 13 9 1 0 0 0 0 13 15 10 15 5 0 0 3 15 2 0 11 8 0 0 4 12 0 0 8 8 0 \
                0 5 8 0 0 9 8 0 0 4 11 0 1 12 7 0 0 2 14 5 10 12 0 0 0 0 6 13 10 0 0 0";
    let mut args = vec!["predict", "--model", model.to_str().unwrap()];
    args.extend(zero.split(' '));
    let out = stdout(&softmax(&args));
    assert_eq!(classes(&out)[0][0], 0, "{out}");
    // Pixels of 1e308 overflow the logits: an error, not a NaN "prediction".
    let huge = vec!["1e308"; 64];
    let (code, message) = error(&softmax(&[&args[..3], &huge].concat()));
    assert_eq!(code, Some(1));
    assert!(message.contains("the command line: row 1: the model's logits overflow"), "{message}");
    std::fs::remove_dir_all(&dir).unwrap();
}
