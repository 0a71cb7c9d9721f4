//! `softmax bench`: the table, the JSON lines with their keys, and its usage errors.

mod common;

use common::softmax;

#[test]
fn json_lines_carry_every_key_with_sane_values() {
    let out = softmax(&[
        "bench",
        "--rows",
        "8",
        "--cols",
        "40",
        "--op",
        "softmax",
        "--op",
        "log_softmax",
        "--op",
        "softmax_axis0",
        "--op",
        "cross_entropy",
        "--op",
        "softmax_backward",
        "--op",
        "logsumexp",
        "--json",
        "--samples",
        "3",
        "--min-time",
        "0.03",
        "--threads",
        "2",
    ]);
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    let ops = ["softmax", "log_softmax", "softmax_axis0", "cross_entropy", "softmax_backward", "logsumexp"];
    for (line, op) in lines.iter().zip(ops) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["op"], op);
        assert_eq!(v["dtype"], "f32");
        assert_eq!(
            (v["rows"].as_u64(), v["cols"].as_u64(), v["threads"].as_u64()),
            (Some(8), Some(40), Some(2))
        );
        for key in ["gelem_per_s", "copy_gelem_per_s", "ratio_to_copy"] {
            let x = v[key].as_f64().unwrap_or(f64::NAN);
            assert!(x.is_finite() && x > 0.0, "{key} = {x} in {line}");
        }
        let ratio = v["gelem_per_s"].as_f64().unwrap() / v["copy_gelem_per_s"].as_f64().unwrap();
        assert!((ratio / v["ratio_to_copy"].as_f64().unwrap() - 1.0).abs() < 1e-9);
        assert!(v["isa"].as_str().is_some_and(|s| !s.is_empty()));
    }
}

#[test]
fn the_table_names_the_cases_and_every_dtype_and_isa_runs() {
    for dtype in ["f32", "f64", "f16", "bf16"] {
        let out = softmax(&[
            "bench",
            "--rows",
            "3",
            "--cols",
            "17",
            "--dtype",
            dtype,
            "--samples",
            "1",
            "--min-time",
            "0.01",
        ]);
        let text = out.ok();
        assert!(text.contains(&format!("softmax bench: {dtype}")), "{text}");
        assert!(text.lines().any(|l| l.starts_with("softmax ") && l.contains("3 × 17")), "{text}");
    }
    let out = softmax(&[
        "bench",
        "--rows",
        "2",
        "--cols",
        "5",
        "--isa",
        "portable",
        "--samples",
        "1",
        "--min-time",
        "0.01",
    ]);
    assert!(out.ok().contains("isa portable"));
}

#[test]
fn usage_errors_exit_2() {
    softmax(&["bench", "--threads", "0"]).fails(2, &["--threads must be at least 1"]);
    softmax(&["bench", "--isa", "sse9"]).fails(2, &["unknown instruction set"]);
    softmax(&["bench", "--rows", "0", "--cols", "3"]).fails(2, &["at least 1"]);
    softmax(&["bench", "--min-time=-1"]).fails(2, &["--min-time"]);
    softmax(&["bench", "--min-time", "0"]).fails(2, &["--min-time"]);
    softmax(&["bench", "--rows", "3"]).fails(2, &["--cols"]);
}
