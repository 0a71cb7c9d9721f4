//! The accuracy report: the maximum error in ulp of every operation in every dtype against an
//! arbitrary-precision oracle, over the cases of SPEC.md (random rows at scales 1 to 300, rows
//! offset by +100 and −1000, lengths 0..=70 and long rows up to 10⁶, temperatures 0.05 to 3,
//! every axis of strided 3-D inputs, per-sample losses).
//!
//! Run: `cargo run --release -p softmax --example accuracy` (add `--family` for one line per
//! family of inputs).

#[path = "../tests/support/accuracy_suite.rs"]
mod accuracy_suite;
#[path = "../tests/support/common.rs"]
mod common;

use accuracy_suite::{DTYPES, OPERATIONS, Size, bound, run_all};

fn main() {
    let by_family = std::env::args().any(|a| a == "--family");
    let started = std::time::Instant::now();
    let report = run_all(Size { max_len: 70, long_rows: &[1_000, 100_000, 1_000_000] });
    println!(
        "softmax {} (row kernels: {}) against an arbitrary-precision oracle",
        env!("CARGO_PKG_VERSION"),
        softmax::isa()
    );
    println!();
    if by_family {
        println!("{:<32} {:<5} {:<34} {:>9} {:>9}", "operation", "dtype", "inputs", "max ulp", "outputs");
        for ((op, dtype, family), w) in &report.rows {
            println!(
                "{op:<32} {dtype:<5} {family:<34} {:>9.3} {:>9}   worst: {}",
                w.max_ulp, w.outputs, w.example
            );
        }
        println!();
    }
    println!(
        "{:<32} {:>8} {:>8} {:>8} {:>8}   (max error in ulp; SPEC bound 2, losses 4, f16/bf16 1)",
        "operation", "f64", "f32", "f16", "bf16"
    );
    let summary = report.summary();
    for op in OPERATIONS {
        let cell = |dtype: &str| summary.get(&(op.to_string(), dtype.to_string())).map_or(f64::NAN, |c| c.0);
        let show = |v: f64| if v < 1e4 { format!("{v:>8.3}") } else { format!("{v:>8.1e}") };
        let cells = DTYPES.map(|d| show(cell(d)));
        println!("{op:<32} {}", cells.join(" "));
    }
    println!();
    println!("\"logsumexp, …\": rows of log-probabilities, whose logsumexp (~1e-17 in f64) nearly cancels");
    println!("between m and ln s; in f64 it is bounded in ulp of max|x/τ| (see the crate docs).");
    println!(
        "Backward passes: the norm-wise error per row in the units named (SPEC: at most 4, f16/bf16 1)."
    );
    let outputs: usize = summary.values().map(|c| c.1).sum();
    let violations = report.violations(bound);
    println!();
    println!(
        "{outputs} outputs measured in {:.1} s; {} outside the bound",
        started.elapsed().as_secs_f64(),
        violations.len()
    );
    for v in &violations {
        println!("  {v}");
    }
    if !violations.is_empty() {
        std::process::exit(1);
    }
}
