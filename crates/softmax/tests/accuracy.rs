//! The SPEC accuracy table, checked against the arbitrary-precision oracle: every operation,
//! every dtype, random rows at scales 1 to 300, offsets +100 and −1000, lengths 0..=70 and long
//! rows up to 10⁶, temperatures 0.05 to 3, every axis of strided 3-D inputs, and the losses.

#[path = "support/accuracy_suite.rs"]
mod accuracy_suite;
#[path = "support/common.rs"]
mod common;

use accuracy_suite::{DTYPES, OPERATIONS, Size, bound, run_all};

#[test]
fn every_output_is_within_the_spec_bound() {
    let report = run_all(Size { max_len: 70, long_rows: &[1_000, 100_000, 1_000_000] });
    let violations = report.violations(bound);
    assert!(violations.is_empty(), "outside the SPEC accuracy bound:\n{}", violations.join("\n"));
    // The suite must have measured every operation in every dtype.
    let summary = report.summary();
    // (Every operation: the f64 logsumexp of log-probabilities in ulp of the result is reported,
    // not bounded, see `bound`.)
    for op in OPERATIONS {
        for dtype in DTYPES {
            let (_, outputs) = summary.get(&(op.to_string(), dtype.to_string())).copied().unwrap_or_default();
            assert!(outputs > 0, "no {op} output measured in {dtype}");
        }
    }
}
