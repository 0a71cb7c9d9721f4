//! Every instruction-set path of the vectorised kernels, forced in turn (the portable one
//! included), against the arbitrary-precision oracle and against each other: the `f32` part of
//! the accuracy suite, and rows aimed at the kernels' own edges (lengths around the vector
//! widths, ties of the maximum, `−inf`/NaN/`+inf`, the largest maximum the vector path takes, the
//! clamp below the maximum, subnormal outputs, dominant classes).
//!
//! The instruction set is a process-wide setting, so this file holds a single test that walks
//! the paths one after the other.

#[path = "support/accuracy_suite.rs"]
#[allow(dead_code, reason = "the suite's whole-report helpers serve tests/accuracy.rs")]
mod accuracy_suite;
#[path = "support/common.rs"]
mod common;

use accuracy_suite::{Report, Size, bound, check_row, run_dtype};
use common::{Rng, ulps_f32};
use ndarray::{Array1, Array2, s};
use softmax::{Isa, Options};

/// Rows aimed at the vector kernels' edges, measured against the oracle.
fn edge_rows(report: &mut Report, rng: &mut Rng) {
    // Every length across the 8/16/32/64-lane boundaries, at a wide spread.
    for len in 1..=100 {
        let x: Vec<f32> = (0..len).map(|_| (rng.normal() * 30.0) as f32).collect();
        check_row(report, "lengths 1..=100", &x, 1.0);
    }
    // Ties of the maximum: one, a few, in the tail, in more vectors than are recorded.
    for (len, ties) in [(1, 1), (2, 2), (17, 3), (40, 40), (70, 5), (200, 200), (300, 37)] {
        let mut x: Vec<f32> = (0..len).map(|_| (rng.normal() * 3.0) as f32 - 10.0).collect();
        for i in 0..ties {
            let at = (i * 7 + len / 3) % len;
            x[at] = 4.5;
        }
        check_row(report, "ties of the maximum", &x, 1.0);
    }
    // The largest maxima the vector path takes, and just beyond (the portable path).
    for m in [2699.9f32, 2700.0, -2700.0, 2700.5, -2750.0, 1e6] {
        let x: Vec<f32> = (0..50).map(|i| m - (i as f32) * 2.3).collect();
        check_row(report, "maxima near the vector path's limit", &x, 1.0);
    }
    // Around the clamp 110 below the maximum and the outputs near f32::MIN_POSITIVE.
    let x: Vec<f32> = vec![
        0.0, -86.0, -87.3, -87.33, -87.34, -87.5, -88.0, -100.0, -103.0, -104.0, -109.9, -110.0, -115.0,
        -1e30,
    ];
    check_row(report, "around the clamp and subnormal outputs", &x, 1.0);
    let shifted: Vec<f32> = x.iter().map(|v| v + 1000.0).collect();
    check_row(report, "around the clamp and subnormal outputs", &shifted, 1.0);
    // A dominant class (log-softmax −tiny), and many tiny terms next to it.
    for len in [2, 16, 33, 1000] {
        let mut x: Vec<f32> = (0..len).map(|_| -30.0 - (rng.unit() * 20.0) as f32).collect();
        x[len / 2] = 0.0;
        check_row(report, "a dominant class", &x, 1.0);
    }
    // Equal values except one (a systematic error of the exponential would not cancel).
    for v in [-0.3466f32, 0.3466, -1.0, -7.25, -50.0] {
        let mut x = vec![v; 257];
        x[100] = 0.0;
        check_row(report, "equal values but one", &x, 1.0);
    }
    // A ±300 spread: many outputs just above f32::MIN_POSITIVE.
    for _ in 0..4 {
        let x: Vec<f32> = (0..1024).map(|_| rng.uniform(-300.0, 300.0) as f32).collect();
        check_row(report, "uniform spread ±300", &x, 1.0);
    }
    // Long rows whose 2¹⁶-element chunks have different maxima: ties of a chunk's own maximum
    // below the row's, the row's maximum tied across chunks, a chunk of −inf and one entirely
    // below the reduction's range (summed again against the row's maximum; the oracle takes
    // finite inputs only, so the −inf chunk is among the special rows), a chunk about 50 below
    // the row's maximum (its stored terms scaled by 2⁻⁷²) and one about 75 below (recomputed:
    // beyond the scaling pass 3 applies to stored terms), whose outputs are still normal.
    let chunk = 1 << 16;
    for top_first in [true, false] {
        let mut x: Vec<f32> = (0..6 * chunk + 100).map(|_| (rng.normal() * 2.0) as f32).collect();
        let (top, low) = if top_first { (0, chunk) } else { (chunk, 0) };
        x[top + 10] = 9.0;
        x[6 * chunk + 50] = 9.0;
        for i in [3, 400, 5000, 60_000] {
            x[low + i] = 7.5;
        }
        x[2 * chunk..3 * chunk].fill(-1e30);
        x[3 * chunk..4 * chunk].fill(-3000.0);
        for v in &mut x[4 * chunk..5 * chunk] {
            *v -= 40.0;
        }
        for v in &mut x[5 * chunk..6 * chunk] {
            *v -= 66.0;
        }
        check_row(report, "long rows, chunks of different maxima", &x, 1.0);
    }
    // Integers and halves: reduction arguments at the rounding boundary of n = round(x/ln 2).
    let x: Vec<f32> = (0..200).map(|i| -(i as f32) * std::f32::consts::LN_2 * 0.5).collect();
    check_row(report, "multiples of ln 2 / 2", &x, 1.0);
}

/// Rows aimed at the `f64` kernels' edges: lengths across the 4/8-lane boundaries, ties, the
/// largest maxima taken (±7000) and beyond, the clamp 760 below the maximum, spreads of ±300 and
/// ±700 (outputs near `f64::MIN_POSITIVE`), a dominant class, large offsets.
fn edge_rows_f64(report: &mut Report, rng: &mut Rng) {
    for len in 1..=40 {
        let x: Vec<f64> = (0..len).map(|_| rng.normal() * 30.0).collect();
        check_row(report, "f64 lengths 1..=40", &x, 1.0);
    }
    for (len, ties) in [(2, 2), (9, 3), (33, 33), (100, 7)] {
        let mut x: Vec<f64> = (0..len).map(|_| rng.normal() * 3.0 - 10.0).collect();
        for i in 0..ties {
            x[(i * 7 + len / 3) % len] = 4.5;
        }
        check_row(report, "f64 ties of the maximum", &x, 1.0);
    }
    for m in [6999.9, 7000.0, -7000.0, 7000.5, -7100.0, 1e200] {
        let x: Vec<f64> = (0..30).map(|i| m - f64::from(i) * 2.3).collect();
        check_row(report, "f64 maxima near the vector path's limit", &x, 1.0);
    }
    let x = vec![0.0, -700.0, -707.0, -708.4, -708.5, -709.0, -740.0, -745.0, -759.9, -760.0, -800.0, -1e300];
    check_row(report, "f64 around the clamp and subnormal outputs", &x, 1.0);
    for spread in [300.0, 700.0] {
        let x: Vec<f64> = (0..1000).map(|_| rng.uniform(-spread, spread)).collect();
        check_row(report, "f64 uniform spreads", &x, 1.0);
    }
    for len in [2, 9, 1000] {
        let mut x: Vec<f64> = (0..len).map(|_| -40.0 - rng.unit() * 20.0).collect();
        x[len / 2] = 0.0;
        check_row(report, "f64 a dominant class", &x, 1.0);
    }
    for offset in [1e3, -5e3, 1e-300] {
        let x: Vec<f64> = (0..64).map(|_| rng.normal() + offset).collect();
        check_row(report, "f64 offset rows", &x, 1.0);
    }
    // A dominant class far from zero: ln s is below 2⁻⁴⁰ of the maximum, so log-softmax's
    // pass 3 cannot subtract m + ln s as one double-double.
    for (offset, len) in [(1e6, 9), (-3e5, 40), (7000.0, 1000)] {
        let mut x: Vec<f64> = (0..len).map(|_| offset - 45.0 - rng.unit() * 10.0).collect();
        x[len / 3] = offset;
        check_row(report, "f64 a dominant class far from zero", &x, 1.0);
    }
}

/// Rows with special values, which every path must treat exactly as the portable path does.
fn special_rows() -> Vec<Vec<f32>> {
    let (inf, nan) = (f32::INFINITY, f32::NAN);
    let mut rows = vec![
        vec![f32::NEG_INFINITY; 20],
        vec![1.0, f32::NEG_INFINITY, 2.0],
        (0..40).map(|i| if i % 3 == 0 { f32::NEG_INFINITY } else { i as f32 }).collect(),
        vec![inf, 1.0, inf, 3.0],
        vec![inf],
        vec![f32::MAX, f32::MAX, 0.0],
        vec![-f32::MAX, 0.0],
    ];
    for at in [0, 5, 15, 16, 31, 39] {
        let mut x: Vec<f32> = (0..40).map(|i| i as f32 * 0.1).collect();
        x[at] = nan;
        rows.push(x);
    }
    // Long rows with a chunk of −inf, with a NaN or a +inf in a late chunk, and all −inf but one.
    let chunk = 1 << 16;
    let long: Vec<f32> = (0..3 * chunk + 7).map(|i| ((i % 101) as f32) * 0.05).collect();
    let mut with_neg_inf = long.clone();
    with_neg_inf[chunk..2 * chunk].fill(f32::NEG_INFINITY);
    rows.push(with_neg_inf);
    for bad in [nan, inf] {
        let mut x = long.clone();
        x[2 * chunk + 3] = bad;
        rows.push(x);
    }
    let mut lonely = vec![f32::NEG_INFINITY; 2 * chunk + 1];
    lonely[chunk + 5] = -2.0;
    rows.push(lonely);
    rows
}

/// The same special value (NaN, an infinity, zero), or finite values within the bound.
fn agree(a: f32, b: f32) -> bool {
    if a.is_nan() || b.is_nan() || a.is_infinite() || b.is_infinite() || a == 0.0 || b == 0.0 {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    } else {
        ulps_f32(a, b) <= 2
    }
}

/// Softmax, log-softmax and logsumexp of the special rows, one row per call and all of them as
/// one batch (so that rows the vector path hands back sit between rows it takes).
/// Each output row, with the norm-wise tolerance it is compared with (backward rows: SPEC's
/// 4ε·‖y‖·‖dy‖) or `None` (element by element, within 2 ulp).
fn special_outputs() -> Vec<(Vec<f32>, Option<f64>)> {
    let mut out = Vec::new();
    let o = Options::new();
    for row in special_rows() {
        let x = Array1::from(row);
        out.push((softmax::softmax(&x, &o).unwrap().to_vec(), None));
        out.push((softmax::log_softmax(&x, &o).unwrap().to_vec(), None));
        out.push((vec![softmax::logsumexp(&x, &o).unwrap()[[]]], None));
    }
    // A batch mixing taken and handed-back rows.
    let mut rng = Rng(99);
    let rows: Vec<Vec<f32>> = (0..12)
        .map(|r| {
            (0..24)
                .map(|i| match (r % 4, i) {
                    (1, 5) => f32::NAN,
                    (2, 9) => f32::INFINITY,
                    (3, _) if i % 2 == 0 => f32::NEG_INFINITY,
                    _ => (rng.normal() * 5.0) as f32,
                })
                .collect()
        })
        .collect();
    let batch = Array2::from_shape_vec((12, 24), rows.concat()).unwrap();
    out.push((softmax::softmax(&batch, &o).unwrap().into_raw_vec_and_offset().0, None));
    out.push((softmax::log_softmax(&batch, &o).unwrap().into_raw_vec_and_offset().0, None));
    out.push((softmax::logsumexp(&batch, &o).unwrap().to_vec(), None));
    // The backward pass: zero probabilities against infinite or NaN upstream gradients, long rows.
    let (inf, nan) = (f32::INFINITY, f32::NAN);
    let cases: Vec<(Vec<f32>, Vec<f32>)> = vec![
        (vec![0.5, 0.5, 0.0], vec![1.0, 2.0, inf]),
        (vec![0.25; 4], vec![1.0, nan, 0.0, 0.0]),
        (vec![0.25; 4], vec![1.0, inf, 0.0, 0.0]),
        ((0..37).map(|i| i as f32 / 666.0).collect(), (0..37).map(|i| (i % 5) as f32 - 2.0).collect()),
        (
            (0..70_000).map(|i| 1.0 / 70_000.0 + (i % 3) as f32 * 1e-9).collect(),
            (0..70_000).map(|i| (i % 7) as f32).collect(),
        ),
    ];
    for (y, dy) in cases {
        let norm = |v: &[f32]| v.iter().map(|&a| f64::from(a).powi(2)).sum::<f64>().sqrt();
        let tolerance = 4.0 * f64::from(f32::EPSILON) * norm(&y) * norm(&dy);
        let dx = softmax::softmax_backward(&Array1::from(y), &Array1::from(dy), &o).unwrap().to_vec();
        out.push((dx, Some(tolerance).filter(|t| t.is_finite())));
    }
    out
}

/// Softmax and log-softmax of the special rows in `f16` and `bf16` (as bits; NaNs made one),
/// one by one and as a batch, with rows at the types' overflow edges.
fn special_outputs_half() -> Vec<Vec<u16>> {
    fn run<T: softmax::Element>(rows: &[Vec<f32>], bits: fn(T) -> u16, from: fn(f32) -> T) -> Vec<Vec<u16>> {
        let o = Options::new();
        let canon = |v: Vec<T>| -> Vec<u16> {
            v.into_iter().map(|t| if t.to_f64().is_nan() { 0x7FFF } else { bits(t) }).collect()
        };
        let mut out = Vec::new();
        for row in rows {
            let x = Array1::from(row.iter().map(|&v| from(v)).collect::<Vec<T>>());
            out.push(canon(softmax::softmax(&x, &o).unwrap().to_vec()));
            out.push(canon(softmax::log_softmax(&x, &o).unwrap().to_vec()));
        }
        let batch: Vec<T> = rows.iter().filter(|r| r.len() == 40).flatten().map(|&v| from(v)).collect();
        let batch = Array2::from_shape_vec((batch.len() / 40, 40), batch).unwrap();
        out.push(canon(softmax::softmax(&batch, &o).unwrap().into_raw_vec_and_offset().0));
        out.push(canon(softmax::log_softmax(&batch, &o).unwrap().into_raw_vec_and_offset().0));
        out
    }
    let mut rows: Vec<Vec<f32>> = special_rows().into_iter().filter(|r| r.len() < 1000).collect();
    // log-softmax lands on the overflow edge (65520, rounded to f16::MIN) and beyond it.
    rows.push(vec![16.0, -65504.0]);
    rows.push(vec![0.0, -65504.0, 65504.0]);
    rows.push(vec![3.3e38, -3.3e38, 1.0]);
    rows.push((0..40).map(|i| (i as f32 - 20.0) * 0.37).collect());
    let mut out = run::<half::f16>(&rows, half::f16::to_bits, half::f16::from_f32);
    out.extend(run::<half::bf16>(&rows, half::bf16::to_bits, half::bf16::from_f32));
    out
}

/// Softmax and log-softmax of the special rows in `f64`, one by one and as one batch.
fn special_outputs_f64() -> Vec<Vec<f64>> {
    let o = Options::new();
    let rows: Vec<Vec<f64>> = special_rows()
        .iter()
        .filter(|r| r.len() < 1000)
        .map(|r| r.iter().map(|&v| f64::from(v)).collect())
        .collect();
    let mut out = Vec::new();
    for row in &rows {
        let x = Array1::from(row.clone());
        out.push(softmax::softmax(&x, &o).unwrap().to_vec());
        out.push(softmax::log_softmax(&x, &o).unwrap().to_vec());
    }
    let mut extra = vec![vec![f64::MAX, 0.0], vec![-f64::MAX, 1.0], vec![f64::MIN_POSITIVE, -1e300, 5e-324]];
    extra.push((0..13).map(|i| if i % 4 == 0 { f64::NAN } else { f64::from(i) }).collect());
    for row in extra {
        let x = Array1::from(row);
        out.push(softmax::softmax(&x, &o).unwrap().to_vec());
        out.push(softmax::log_softmax(&x, &o).unwrap().to_vec());
    }
    // The backward pass: zero probabilities against infinite or NaN upstream gradients, a row
    // whose dy − ⟨y, dy⟩ cancels, and a long row.
    let (inf, nan) = (f64::INFINITY, f64::NAN);
    let cases: Vec<(Vec<f64>, Vec<f64>)> = vec![
        (vec![0.5, 0.5, 0.0], vec![1.0, 2.0, inf]),
        (vec![0.25; 4], vec![1.0, nan, 0.0, 0.0]),
        (vec![0.25; 4], vec![1.0, inf, 0.0, 0.0]),
        (vec![1.0 - 1e-12, 1e-12], vec![3.0, 3.0 + 1e-9]),
        ((0..37).map(|i| f64::from(i) / 666.0).collect(), (0..37).map(|i| f64::from(i % 5) - 2.0).collect()),
        (
            (0..70_000).map(|i| 1.0 / 70_000.0 + f64::from(i % 3) * 1e-12).collect(),
            (0..70_000).map(|i| f64::from(i % 7)).collect(),
        ),
    ];
    for (y, dy) in cases {
        out.push(softmax::softmax_backward(&Array1::from(y), &Array1::from(dy), &o).unwrap().to_vec());
    }
    // A batch of rows of one length, the vector path and the portable one alternating.
    let batch: Vec<f64> = (0..10)
        .flat_map(|r| {
            (0..24).map(move |i| if r % 3 == 1 && i == 5 { f64::INFINITY } else { f64::from(i * r) * 0.3 })
        })
        .collect();
    let batch = Array2::from_shape_vec((10, 24), batch).unwrap();
    out.push(softmax::softmax(&batch, &o).unwrap().into_raw_vec_and_offset().0);
    out.push(softmax::log_softmax(&batch, &o).unwrap().into_raw_vec_and_offset().0);
    out
}

#[test]
fn every_instruction_set_is_within_the_bound_and_agrees_on_special_values() {
    let available = Isa::available();
    assert!(available.contains(&Isa::Portable));
    softmax::set_isa(Isa::Portable).unwrap();
    let reference = special_outputs();
    let reference_f64 = special_outputs_f64();
    let reference_half = special_outputs_half();
    let mut failures = Vec::new();
    for &isa in &available {
        softmax::set_isa(isa).unwrap();
        assert_eq!(softmax::isa(), isa);
        let mut report = Report::default();
        run_dtype::<f32>(&mut report, Size { max_len: 70, long_rows: &[1_000, 100_000] }, 7);
        run_dtype::<f64>(&mut report, Size { max_len: 40, long_rows: &[1_000, 70_000] }, 6);
        edge_rows_f64(&mut report, &mut Rng(12));
        // The half types go through the f32 kernels (widened, computed, rounded once).
        run_dtype::<half::f16>(&mut report, Size { max_len: 33, long_rows: &[1_000, 70_000] }, 8);
        run_dtype::<half::bf16>(&mut report, Size { max_len: 33, long_rows: &[1_000, 70_000] }, 9);
        edge_rows(&mut report, &mut Rng(11));
        for v in report.violations(bound) {
            failures.push(format!("{isa}: {v}"));
        }
        for ((op, dtype), (worst, outputs)) in report.summary() {
            if ["softmax", "log_softmax", "logsumexp"].contains(&op.as_str()) {
                eprintln!("{isa:>8} {op:<12} {dtype:<4} max {worst:.3} ulp over {outputs} outputs");
                assert!(outputs > 500, "{isa}: too few {op} {dtype} outputs measured");
            }
        }
        failures.extend(column_failures(isa));
        for (i, (got, want)) in special_outputs_half().iter().zip(&reference_half).enumerate() {
            // Both correctly rounded nearly always: the same bits, or neighbours.
            let same = |a: u16, b: u16| a == b || (a as i32 - b as i32).abs() == 1 && (a & 0x7C00) != 0x7C00;
            if got.len() != want.len() || !got.iter().zip(want).all(|(&a, &b)| same(a, b)) {
                failures.push(format!(
                    "{isa}: half special-value case {i}: got {got:x?}, portable gives {want:x?}"
                ));
            }
        }
        for (i, (got, want)) in special_outputs_f64().iter().zip(&reference_f64).enumerate() {
            let same = |a: f64, b: f64| {
                if a.is_finite() && b.is_finite() && a != 0.0 && b != 0.0 {
                    common::ulps_f64(a, b) <= 2
                } else {
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
                }
            };
            if got.len() != want.len() || !got.iter().zip(want).all(|(&a, &b)| same(a, b)) {
                failures
                    .push(format!("{isa}: f64 special-value case {i}: got {got:?}, portable gives {want:?}"));
            }
        }
        failures.extend(cross_entropy_failures(isa));
        failures.extend(cross_entropy_f64_failures(isa));
        failures.extend(cross_entropy_layout_failures::<f32>(isa));
        failures.extend(cross_entropy_layout_failures::<f64>(isa));
        failures.extend(cross_entropy_layout_failures::<half::f16>(isa));
        failures.extend(cross_entropy_layout_failures::<half::bf16>(isa));
        failures.extend(cross_entropy_half_failures::<half::f16>(isa));
        failures.extend(cross_entropy_half_failures::<half::bf16>(isa));
        failures.extend(backward_layout_failures::<f32>(isa));
        failures.extend(backward_layout_failures::<f64>(isa));
        failures.extend(batched_backward_failures::<f32>(isa));
        failures.extend(batched_backward_failures::<f64>(isa));
        failures.extend(batched_backward_failures::<half::f16>(isa));
        failures.extend(log_backward_failures(isa));
        failures.extend(tempered_masked_failures::<f32>(isa));
        failures.extend(logsumexp_cancellation_failures(isa));
        failures.extend(f64_batched_rows_failures(isa));
        failures.extend(half_short_rows_failures::<half::f16>(isa));
        failures.extend(half_short_rows_failures::<half::bf16>(isa));
        failures.extend(tempered_masked_failures::<f64>(isa));
        failures.extend(tempered_masked_failures::<half::f16>(isa));
        failures.extend(tempered_masked_failures::<half::bf16>(isa));
        failures.extend(backward_tempered_masked_failures::<f32>(isa));
        failures.extend(backward_tempered_masked_failures::<f64>(isa));
        failures.extend(backward_tempered_masked_failures::<half::f16>(isa));
        failures.extend(backward_failures(isa));
        failures.extend(long_log_softmax_failures(isa));
        failures.extend(tie_failures(isa));
        for (i, ((got, _), (want, tolerance))) in special_outputs().iter().zip(&reference).enumerate() {
            let agree = got.len() == want.len()
                && match tolerance {
                    None => got.iter().zip(want).all(|(&a, &b)| agree(a, b)),
                    Some(t) => {
                        let diff: f64 =
                            got.iter().zip(want).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum();
                        diff.sqrt() <= *t
                    }
                };
            if !agree {
                failures.push(format!("{isa}: special-value case {i}: got {got:?}, portable gives {want:?}"));
            }
        }
    }
    softmax::set_isa(available[0]).unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Softmax and log-softmax of contiguous arrays along a non-last axis (the column kernels) and
/// along the last (the row kernels; short rows through the column kernels),
/// against the `f64` exact path rounded to `f32`: within 2 ulp for outputs of normal size, and the
/// same special values.
fn column_failures(isa: Isa) -> Vec<String> {
    let mut rng = Rng(21);
    let mut cases = Vec::new();
    for shape in [[5usize, 37, 19], [3, 70, 1], [1, 200, 40], [2, 3, 33]] {
        let mut x = ndarray::Array3::from_shape_simple_fn(shape, || (rng.normal() * 30.0) as f32);
        x[[0, 1, 0]] = f32::NAN;
        x[[shape[0] - 1, 2, shape[2] - 1]] = f32::INFINITY;
        x[[0, 0, shape[2] / 2]] = 3000.0;
        x[[0, 2, 0]] = f32::NEG_INFINITY;
        cases.push(x);
    }
    // An axis long enough to be cut into chunks of 1024 (merged per column), with columns whose
    // chunks differ: one chunk far below the rest (summed again against the column's maximum),
    // one of `−inf`, a column far below throughout, ties of the maximum in two chunks, NaN, `+inf`
    // and a maximum beyond the range in one chunk only; chunks whose maximum lies about 72 and
    // 120 binades below their column's, with normal outputs (softmax's stored terms rescaled by
    // 2⁻⁷², and recomputed: 2⁻¹²⁰ is below what the rescale takes); 70 columns (a partial band).
    let mut x = ndarray::Array3::from_shape_simple_fn([2, 2500, 70], || (rng.normal() * 30.0) as f32);
    for o in 0..2 {
        for kk in 1024..2048 {
            x[[o, kk, 5]] = -3000.0 - kk as f32 * 0.25;
            x[[o, kk, 13]] = -2900.0 + kk as f32 * 0.01;
            x[[o, kk - 1024, 6]] = f32::NEG_INFINITY;
            x[[o, kk + 452, 13]] = f32::NEG_INFINITY;
        }
        for kk in 0..2500 {
            x[[o, kk, 7]] = -2800.0 - (kk % 97) as f32;
        }
        x[[o, 10, 8]] = 200.0;
        x[[o, 2000, 8]] = 200.0;
        x[[o, 2100, 9]] = 150.0;
        x[[o, 2200, 10]] = f32::NAN;
        x[[o, 1500, 11]] = f32::INFINITY;
        x[[o, 30, 12]] = 3000.0;
        x[[o, 2499, 69]] = 120.0;
        x[[o, 5, 66]] = 183.0;
        for kk in 1024..2048 {
            x[[o, kk, 66]] = 100.0 - (kk - 1024) as f32 * 0.05;
        }
    }
    cases.push(x);
    // Batches of short rows (the last axis; they go through the column kernels, 64 rows to a
    // block, one row per lane), with rows the kernels hand back among them: NaN, `+inf`, a
    // maximum beyond the range, a row far below throughout, all `−inf`, all tied.
    for len in [2usize, 3, 5, 8, 10, 16] {
        let mut x = ndarray::Array3::from_shape_simple_fn([1, 150, len], || (rng.normal() * 30.0) as f32);
        x[[0, 3, 0]] = f32::NAN;
        x[[0, 4, len - 1]] = f32::INFINITY;
        x[[0, 5, len / 2]] = 3000.0;
        for kk in 0..len {
            x[[0, 6, kk]] = -3000.0 - kk as f32;
            x[[0, 7, kk]] = f32::NEG_INFINITY;
            x[[0, 8, kk]] = 7.5;
        }
        x[[0, 9, 1]] = f32::NEG_INFINITY;
        x[[0, 149, 0]] = 2000.0;
        cases.push(x);
    }
    let mut failures = Vec::new();
    for x in cases {
        let shape = x.shape().to_vec();
        let wide = x.mapv(f64::from);
        for axis in 0..3 {
            let o = Options::new().axis(axis);
            let pairs = [
                (softmax::softmax(&x, &o).unwrap(), softmax::softmax(&wide, &o).unwrap()),
                (softmax::log_softmax(&x, &o).unwrap(), softmax::log_softmax(&wide, &o).unwrap()),
            ];
            for (got, exact) in pairs {
                for ((idx, &g), &e) in got.indexed_iter().zip(exact.iter()) {
                    let want = e as f32;
                    let ok = if want.is_finite() && want.abs() >= f32::MIN_POSITIVE && g.is_finite() {
                        ulps_f32(g, want) <= 2
                    } else if want.is_finite() && want.abs() < f32::MIN_POSITIVE {
                        // Below the bound's range: close in absolute terms (a few subnormal steps).
                        (f64::from(g) - e).abs() <= 2f64.powi(-140)
                    } else {
                        g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan())
                    };
                    if !ok {
                        failures.push(format!(
                            "{isa}: shape {shape:?} axis {axis} at {idx:?}: got {g:e}, want {want:e}"
                        ));
                    }
                }
            }
        }
    }
    failures
}

/// Rows of `k` equal values give exactly `RN(1/k)` in `f32`: along the last axis (short rows
/// through the column kernels, longer ones through the row kernels, rows over 2¹⁶ in chunks) and
/// along axis 0 (the column kernels, an axis of up to 1024); and in `f64` along the last axis.
fn tie_failures(isa: Isa) -> Vec<String> {
    let mut failures = Vec::new();
    for k in [2usize, 3, 5, 7, 10, 16, 17, 33, 100, 1000, 3000, 70_000] {
        let want = (1.0 / k as f64) as f32;
        for v in [-50.0f32, 0.0, 7.5, 2000.0] {
            let rows = Array2::from_elem((3, k), v);
            let mut got = softmax::softmax(&rows, &Options::new()).unwrap().into_raw_vec_and_offset().0;
            if k <= 1024 {
                let columns = Array2::from_elem((k, 5), v);
                got.extend(softmax::softmax(&columns, &Options::new().axis(0)).unwrap().iter());
            }
            if let Some(bad) = got.iter().find(|&&g| g != want) {
                failures.push(format!("{isa}: {k} values of {v}: got {bad:e}, want {want:e}"));
            }
        }
        // f64: the maximum's stored term is exactly 2^LIFT, scaled by 1/k as a double-double.
        for v in [-50.0f64, 0.0, 7.5, 2000.0, 1e6 + 0.25] {
            let want = 1.0 / k as f64;
            let got = softmax::softmax(&Array2::from_elem((3, k), v), &Options::new()).unwrap();
            if let Some(bad) = got.iter().find(|&&g| g != want) {
                failures.push(format!("{isa}: {k} values of {v} (f64): got {bad:e}, want {want:e}"));
            }
        }
    }
    failures
}

/// `f32` log-softmax of rows longer than 2¹⁹, whose outputs are stored past the caches, into
/// views at offsets 0, 1 and 3 of a larger buffer: within an ulp of `RN((x − m) − ln s)` with the
/// sum in `f64` (the vector result is within half an ulp of the exact one).
fn long_log_softmax_failures(isa: Isa) -> Vec<String> {
    let mut rng = Rng(37);
    let mut failures = Vec::new();
    for (trial, offset) in [0usize, 1, 3].into_iter().enumerate() {
        let n = (1 << 19) + 37 * trial;
        let x: Vec<f32> = (0..n).map(|_| rng.uniform(-30.0, 30.0) as f32).collect();
        let mut buffer = Array1::from_elem(n + 4, f32::NAN);
        softmax::log_softmax_into(
            &Array1::from(x.clone()),
            &mut buffer.slice_mut(s![offset..offset + n]),
            &Options::new(),
        )
        .unwrap();
        let m = f64::from(x.iter().copied().fold(f32::NEG_INFINITY, f32::max));
        let ln_s = x.iter().map(|&v| (f64::from(v) - m).exp()).sum::<f64>().ln();
        let bad: Vec<usize> = (0..n)
            .filter(|&i| ulps_f32(buffer[offset + i], ((f64::from(x[i]) - m) - ln_s) as f32) > 1)
            .collect();
        if let Some(&i) = bad.first() {
            failures.push(format!(
                "{isa}: long log-softmax row (length {n}, offset {offset}): {} outputs off, the first at {i}: got {}",
                bad.len(),
                buffer[offset + i]
            ));
        }
    }
    failures
}

/// The `f32` softmax backward pass element by element against `y·(dy − ⟨y, dy⟩)` with the dot
/// product in double-double: within an ulp of each output of normal size plus what an `f64` dot
/// product may be off by (`len·2⁻⁵³·Σ|y·dy|`, times `|y|`). Half the rows have `dy` nearly
/// constant, so that `dy − dot` cancels to a few bits; the rest are random; a few rows have dot
/// products near 2⁻¹⁰⁰ and 2¹⁰⁰ (both sides of where the kernels change their arithmetic), and
/// some entries near `±f32::MAX`. The last four rows are longer than 2¹⁹, whose output is stored
/// past the caches, into views at offsets 0 to 3 of a larger buffer (an output not aligned to
/// the vector's size starts with ordinary stores).
fn backward_failures(isa: Isa) -> Vec<String> {
    let mut rng = Rng(31);
    let mut failures = Vec::new();
    for trial in 0..604 {
        let long = trial >= 600;
        let n = if long {
            (1 << 19) + [0, 37, 5, 1000][trial - 600]
        } else {
            1 + rng.uniform(0.0, 300.0) as usize
        };
        let x: Vec<f32> = (0..n).map(|_| rng.uniform(-10.0, 10.0) as f32).collect();
        let y = softmax::softmax(&Array1::from(x), &Options::new()).unwrap().to_vec();
        let base = rng.uniform(-2.0, 2.0) as f32;
        let scale = match trial % 10 {
            _ if long => 1.0,
            0 => 2f32.powi(-101),
            1 => 2f32.powi(-99),
            2 => 2f32.powi(99),
            3 => 2f32.powi(101),
            // Entries near ±2¹²⁸ of both signs: `dy − dot` overflows `f32` where `y·(dy − dot)`
            // does not.
            4 | 5 => 2f32.powi(127),
            _ => 1.0,
        };
        let dy: Vec<f32> = (0..n)
            .map(|_| {
                let v = if trial % 2 == 0 {
                    base + rng.uniform(-5e-6, 5e-6) as f32
                } else {
                    rng.uniform(-1.99, 1.99) as f32
                };
                v * scale
            })
            .collect();
        let (ya, dya) = (Array1::from(y.clone()), Array1::from(dy.clone()));
        let dx = if long {
            let offset = trial - 600;
            let mut buffer = Array1::from_elem(n + 4, f32::NAN);
            softmax::softmax_backward_into(
                &ya,
                &dya,
                &mut buffer.slice_mut(s![offset..offset + n]),
                &Options::new(),
            )
            .unwrap();
            buffer.slice(s![offset..offset + n]).to_owned()
        } else {
            softmax::softmax_backward(&ya, &dya, &Options::new()).unwrap()
        };
        // The products are exact in f64; their sum in double-double (TwoSum).
        let (mut hi, mut lo, mut abs) = (0.0f64, 0.0f64, 0.0f64);
        for (&a, &b) in y.iter().zip(&dy) {
            let p = f64::from(a) * f64::from(b);
            let s = hi + p;
            let bb = s - hi;
            lo += (hi - (s - bb)) + (p - bb);
            hi = s;
            abs += p.abs();
        }
        for (i, &got) in dx.iter().enumerate() {
            let (yi, di) = (f64::from(y[i]), f64::from(dy[i]));
            // `di − hi` is exact where it cancels; elsewhere its rounding is far below the bound.
            let exact = yi * ((di - hi) - lo);
            let want = exact as f32;
            if !want.is_finite() || want.abs() < f32::MIN_POSITIVE {
                continue;
            }
            let ulp = f64::from(f32::from_bits(want.abs().to_bits() + 1) - want.abs());
            let allowed = ulp + yi.abs() * n as f64 * 2f64.powi(-53) * abs;
            let diff = (f64::from(got) - exact).abs();
            if diff.is_nan() || diff > allowed {
                failures.push(format!(
                    "{isa}: backward row {trial} (length {n}) at {i}: got {got:e}, want {exact:e} (±{allowed:e})"
                ));
            }
        }
    }
    failures
}

/// Whether `got` is within `ulps` of `exact` rounded to `f32` (for results of normal size), or the
/// same special value; tiny results are compared in absolute terms.
fn close_f32(got: f32, exact: f64, ulps: u32) -> bool {
    let want = exact as f32;
    if want.is_finite() && want.abs() >= f32::MIN_POSITIVE && got.is_finite() {
        ulps_f32(got, want) <= ulps
    } else if want.is_finite() && want.abs() < f32::MIN_POSITIVE {
        (f64::from(got) - exact).abs() <= 2f64.powi(-140)
    } else {
        got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan())
    }
}

/// The fused cross-entropy (loss and gradient) of `f32` logits against the exact `f64` path:
/// per-sample losses within SPEC's 4 ulp, every gradient element within 2 ulp, and the same
/// special values; with weights, an ignored class, every reduction, rows the vector path hands
/// back, long rows and a class axis that is the last of three.
fn cross_entropy_failures(isa: Isa) -> Vec<String> {
    use softmax::{LossOptions, Reduction, Target};
    let mut rng = Rng(31);
    let mut failures = Vec::new();
    let mut worst = (0u32, 0u32);
    let mut cases: Vec<(String, ndarray::ArrayD<f32>)> = Vec::new();
    for (rows, k, spread) in [
        (7, 1, 4.0),
        (9, 2, 4.0),
        (33, 10, 4.0),
        (5, 17, 30.0),
        (64, 1000, 4.0),
        (3, 300, 300.0),
        (2, 70_000, 4.0),
    ] {
        let x = Array2::from_shape_simple_fn((rows, k), || (rng.normal() * spread) as f32);
        cases.push((format!("{rows}x{k} spread {spread}"), x.into_dyn()));
    }
    // Ties of the maximum (at the target and elsewhere), −inf entries and targets, NaN and +inf
    // rows, a maximum beyond the vector path's range, one dominant class.
    let mut x = Array2::from_shape_simple_fn((8, 12), || (rng.normal() * 3.0) as f32);
    for j in [0, 3, 7] {
        x[[0, j]] = 9.0;
        x[[1, j]] = 9.0;
    }
    x[[2, 0]] = f32::NEG_INFINITY;
    x[[3, 5]] = f32::NAN;
    x[[4, 6]] = f32::INFINITY;
    x[[5, 2]] = 3000.0;
    x.row_mut(6).fill(-40.0);
    x[[6, 0]] = 0.0;
    x.row_mut(7).fill(f32::NEG_INFINITY);
    x[[7, 1]] = 1.0;
    cases.push(("special rows".into(), x.into_dyn()));
    // Short rows go through the column kernels 64 at a time: rows handed back from later blocks.
    let mut x = Array2::from_shape_simple_fn((200, 5), || (rng.normal() * 3.0) as f32);
    x[[70, 1]] = f32::NAN;
    x[[150, 4]] = f32::INFINITY;
    x[[199, 0]] = 5000.0;
    cases.push(("short rows handed back".into(), x.into_dyn()));
    let x3 = ndarray::Array3::from_shape_simple_fn((2, 3, 40), || (rng.normal() * 4.0) as f32);
    cases.push(("rank 3".into(), x3.into_dyn()));
    for (name, x) in &cases {
        let k = *x.shape().last().unwrap();
        let batch: Vec<usize> = x.shape()[..x.ndim() - 1].to_vec();
        let mut target =
            ndarray::ArrayD::from_shape_simple_fn(batch.as_slice(), || rng.below(k as u64) as i64);
        if name == "special rows" {
            // Targets at a tie (row 0), away from it (row 1), at −inf (rows 2 and 7), at the dominant class.
            for (i, c) in [(0, 3), (1, 5), (2, 0), (6, 0), (7, 0)] {
                target[[i]] = c;
            }
        }
        // Zero weights, and heavy ones: with `Sum` or `None`, a factor over 1/Σ above 1 makes
        // the kernels recompute the terms rather than scale the stored ones. Tiny ones: a factor
        // over Σ below 2⁻⁹⁰, whose products' small parts would not stay normal, takes the
        // portable path.
        let weight = ndarray::Array1::from_shape_fn(k, |j| match j % 5 {
            4 => 0.0,
            3 => 500.0,
            2 => 1e-33,
            _ => rng.uniform(0.25, 2.0) as f32,
        });
        let weight64 = weight.mapv(f64::from);
        let wide = x.mapv(f64::from);
        let axis = x.ndim() as isize - 1;
        for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            for weighted in [false, true] {
                let ignore = (k > 3).then_some(2i64);
                let mut o32 = LossOptions::new().reduction(reduction).class_axis(axis).ignore_index(ignore);
                let mut o64 = LossOptions::new().reduction(reduction).class_axis(axis).ignore_index(ignore);
                if weighted {
                    o32 = o32.weight(weight.view());
                    o64 = o64.weight(weight64.view());
                }
                let (loss, grad) =
                    softmax::cross_entropy_with_grad(x, Target::classes(target.view()), &o32).unwrap();
                let (loss_e, grad_e) =
                    softmax::cross_entropy_with_grad(&wide, Target::classes(target.view()), &o64).unwrap();
                let what = format!("{isa}: cross-entropy {name} {reduction:?} weighted {weighted}");
                for (idx, (&g, &e)) in loss.iter().zip(loss_e.iter()).enumerate() {
                    if !close_f32(g, e, 4) {
                        failures.push(format!("{what}: loss {idx}: got {g:e}, want {e:e}"));
                    }
                    if g.is_finite() && (e as f32).abs() >= f32::MIN_POSITIVE {
                        worst.0 = worst.0.max(ulps_f32(g, e as f32));
                    }
                }
                for ((idx, &g), &e) in grad.indexed_iter().zip(grad_e.iter()) {
                    if !close_f32(g, e, 2) {
                        failures.push(format!("{what}: gradient at {idx:?}: got {g:e}, want {e:e}"));
                    }
                    if g.is_finite() && (e as f32).abs() >= f32::MIN_POSITIVE {
                        worst.1 = worst.1.max(ulps_f32(g, e as f32));
                    }
                }
            }
        }
    }
    eprintln!("{isa:>8} cross-entropy f32 max {} ulp (losses), {} ulp (gradients)", worst.0, worst.1);
    failures
}

/// The fused `f64` cross-entropy (loss and gradient) against the oracle: per-sample and reduced
/// losses within SPEC's 4 ulp and every gradient element within 2 ulp, on rows of finite values
/// (lengths 1 to 2500, spreads up to ±700, offsets of ±10⁶, a target that takes nearly all the
/// mass, so that its loss and `1 − y_c` are tiny); rows with ties of the maximum at the target and
/// elsewhere; every reduction, with and without class weights (0, 500, and dyadic ones, so that the
/// mean's divisor is exact) and an ignored class. Rows with infinities, a NaN or a maximum beyond
/// the vector path's range are held to the portable path's results instead (the oracle takes
/// finite rows only).
fn cross_entropy_f64_failures(isa: Isa) -> Vec<String> {
    use softmax::{LossOptions, Reduction, Target};
    use softmax_oracle::{self as oracle, Exact};
    let mut rng = Rng(37);
    let mut failures = Vec::new();
    let (mut worst_loss, mut worst_grad) = (0.0f64, 0.0f64);
    let mut cases: Vec<(String, Array2<f64>)> = Vec::new();
    for (rows, k, spread, offset) in [
        (7, 1, 4.0, 0.0),
        (9, 2, 4.0, 0.0),
        (33, 10, 4.0, 0.0),
        (5, 17, 30.0, 0.0),
        (12, 300, 300.0, 0.0),
        (6, 100, 700.0, 0.0),
        (3, 2500, 4.0, 0.0),
        (8, 40, 4.0, 1e6),
        (8, 40, 4.0, -1e6),
    ] {
        let x = Array2::from_shape_simple_fn((rows, k), || rng.normal() * spread + offset);
        cases.push((format!("{rows}x{k} spread {spread} offset {offset}"), x));
    }
    let mut x = Array2::from_shape_simple_fn((6, 12), || rng.normal() * 3.0);
    for j in [0, 3, 7] {
        x[[0, j]] = 9.0;
        x[[1, j]] = 9.0;
    }
    // The target far above the rest: loss and 1 − y_c near e⁻⁴⁰ and e⁻⁷⁰⁰.
    x.row_mut(2).fill(-40.0);
    x[[2, 0]] = 0.0;
    x.row_mut(3).fill(-700.0);
    x[[3, 0]] = 0.5;
    x.row_mut(4).fill(1e6 - 30.0);
    x[[4, 0]] = 1e6;
    x[[5, 4]] = 9.0;
    cases.push(("ties and a dominant target".into(), x));
    let mut special = Array2::from_shape_simple_fn((5, 12), || rng.normal() * 3.0);
    special[[0, 0]] = f64::NEG_INFINITY;
    special[[1, 5]] = f64::NAN;
    special[[2, 6]] = f64::INFINITY;
    special[[3, 2]] = 3e12;
    special.row_mut(4).fill(f64::NEG_INFINITY);
    special[[4, 1]] = 1.0;
    for (name, x) in cases.iter().chain([("special rows".to_string(), special)].iter()) {
        let (n, k) = x.dim();
        let mut target = Array1::from_shape_simple_fn(n, || rng.below(k as u64) as i64);
        if name.starts_with("ties") {
            // At a tie (row 0), away from it (row 1), at the dominant class, at a lone maximum.
            for (i, c) in [(0, 3), (1, 5), (2, 0), (3, 0), (4, 0), (5, 4)] {
                target[i] = c;
            }
        }
        if name == "special rows" {
            // At −inf in a finite row and in a row of −inf.
            target[0] = 0;
            target[4] = 0;
        }
        let weight = Array1::from_shape_fn(k, |j| match j % 5 {
            4 => 0.0,
            3 => 500.0,
            _ => (rng.uniform(0.25, 2.0) * 1024.0).round() / 1024.0,
        });
        // The exact log-probabilities and probabilities, row by row.
        let exact: Vec<Option<(Vec<Exact>, Vec<Exact>)>> = x
            .rows()
            .into_iter()
            .map(|r| {
                let r = r.to_vec();
                r.iter()
                    .all(|v| v.is_finite())
                    .then(|| (oracle::log_softmax(&r, 1.0), oracle::softmax(&r, 1.0)))
            })
            .collect();
        for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            for weighted in [false, true] {
                let ignore = (k > 3).then_some(2i64);
                let mut opts = LossOptions::new().reduction(reduction).ignore_index(ignore);
                if weighted {
                    opts = opts.weight(weight.view());
                }
                let what = format!("{isa}: f64 cross-entropy {name} {reduction:?} weighted {weighted}");
                let (loss, grad) =
                    softmax::cross_entropy_with_grad(x, Target::classes(target.view()), &opts).unwrap();
                if name == "special rows" {
                    softmax::set_isa(Isa::Portable).unwrap();
                    let (loss_p, grad_p) =
                        softmax::cross_entropy_with_grad(x, Target::classes(target.view()), &opts).unwrap();
                    softmax::set_isa(isa).unwrap();
                    let same = |a: f64, b: f64| {
                        if a.is_finite() && b.is_finite() && a != 0.0 && b != 0.0 {
                            common::ulps_f64(a, b) <= 2
                        } else {
                            a == b || (a.is_nan() && b.is_nan())
                        }
                    };
                    for (idx, (&g, &p)) in
                        loss.iter().chain(grad.iter()).zip(loss_p.iter().chain(grad_p.iter())).enumerate()
                    {
                        if !same(g, p) {
                            failures.push(format!("{what}: output {idx}: got {g:e}, portable gives {p:e}"));
                        }
                    }
                    continue;
                }
                let w = |c: usize| if weighted { weight[c] } else { 1.0 };
                let kept = |c: i64| Some(c) != ignore;
                let divisor = match reduction {
                    Reduction::Mean => target.iter().filter(|&&c| kept(c)).map(|&c| w(c as usize)).sum(),
                    _ => 1.0,
                };
                let mut total = Exact::from_f64(0.0);
                for (i, &c) in target.iter().enumerate() {
                    let (ls, y) = exact[i].as_ref().expect("finite rows");
                    let c = c as usize;
                    let (sample, factor) = if kept(c as i64) {
                        let wc = Exact::from_f64(w(c));
                        (ls[c].neg().mul(&wc), wc.div(&Exact::from_f64(divisor)))
                    } else {
                        (Exact::from_f64(0.0), Exact::from_f64(0.0))
                    };
                    total = total.add(&sample);
                    if reduction == Reduction::None {
                        let err = sample.ulp_error_f64(loss[i]);
                        worst_loss = worst_loss.max(err);
                        if err.is_nan() || err > 4.0 {
                            failures.push(format!("{what}: loss {i}: got {:e}, {err:.2} ulp", loss[i]));
                        }
                    }
                    // 1 − y_c as the sum of the other probabilities, which keeps it exact however small.
                    let rest = (0..k).filter(|&j| j != c).fold(Exact::from_f64(0.0), |acc, j| acc.add(&y[j]));
                    for j in 0..k {
                        let want = if j == c { rest.neg().mul(&factor) } else { y[j].mul(&factor) };
                        let err = want.ulp_error_f64(grad[[i, j]]);
                        worst_grad = worst_grad.max(err);
                        if err.is_nan() || err > 2.0 {
                            failures.push(format!(
                                "{what}: gradient [{i}, {j}]: got {:e}, {err:.2} ulp",
                                grad[[i, j]]
                            ));
                        }
                    }
                }
                if reduction != Reduction::None {
                    let want = if reduction == Reduction::Mean {
                        total.div(&Exact::from_f64(divisor))
                    } else {
                        total
                    };
                    let err = want.ulp_error_f64(loss[[]]);
                    worst_loss = worst_loss.max(err);
                    if err.is_nan() || err > 4.0 {
                        failures.push(format!("{what}: reduced loss: got {:e}, {err:.2} ulp", loss[[]]));
                    }
                }
            }
        }
    }
    eprintln!("{isa:>8} cross-entropy f64 max {worst_loss:.3} ulp (losses), {worst_grad:.3} ulp (gradients)");
    failures
}

/// The fused cross-entropy along a class axis that is not the last (`(N, C, H, W)` logits, which
/// the vector path copies into rows a block of lanes at a time) and of a strided view gives
/// bitwise what the same values give laid out as contiguous rows: per-sample losses, every
/// reduction, and the gradient. With NaN, `+inf`, `−inf` and beyond-range lanes among them, an
/// ignored class and weights.
fn cross_entropy_layout_failures<T: softmax::Element>(isa: Isa) -> Vec<String> {
    use ndarray::{Array4, s};
    use softmax::{LossOptions, Reduction, Target};
    let mut rng = Rng(41);
    let mut failures = Vec::new();
    // Classes 5 and 19, and 300 (more than one block of lanes per class step); 37 pixels, so that
    // blocks of lanes end part-way.
    for (n, c, h, w) in [(2, 5, 3, 37), (3, 19, 8, 37), (2, 300, 1, 70)] {
        let mut x = Array4::from_shape_simple_fn((n, c, h, w), || T::from_f64(rng.normal() * 6.0));
        x[[0, 1, 0, 3]] = T::from_f64(f64::NAN);
        x[[1, 0, 0, 5]] = T::from_f64(f64::INFINITY);
        x[[1, 2, 0, 6]] = T::from_f64(f64::NEG_INFINITY);
        x[[0, 0, 0, 7]] = T::from_f64(3e12);
        let target = ndarray::Array3::from_shape_fn((n, h, w), |(i, j, l)| {
            if (i + j + l) % 7 == 3 { -100 } else { ((i * 31 + j * 7 + l) % c) as i64 }
        });
        let weight = ndarray::Array1::from_shape_fn(c, |j| T::from_f64(0.5 + (j % 4) as f64 * 0.25));
        // The same values with the classes last, as contiguous rows.
        let rows = x.view().permuted_axes([0, 2, 3, 1]).as_standard_layout().into_owned();
        // A strided view: every other pixel of a wider array.
        let mut wide = Array4::from_elem((n, c, h, 2 * w), T::from_f64(0.0));
        wide.slice_mut(s![.., .., .., ..;2]).assign(&x);
        let strided = wide.slice(s![.., .., .., ..;2]);
        for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            let opts = LossOptions::new().reduction(reduction).weight(weight.view());
            let last = opts.clone().class_axis(-1);
            let tv = Target::classes(target.view());
            let (loss_r, grad_r) = softmax::cross_entropy_with_grad(&rows, tv.clone(), &last).unwrap();
            let grad_r = grad_r.permuted_axes([0, 3, 1, 2]);
            let bits = |v: T| v.to_f64().to_bits();
            for (what, (loss, grad)) in [
                ("axis 1", softmax::cross_entropy_with_grad(&x, tv.clone(), &opts).unwrap()),
                ("strided", softmax::cross_entropy_with_grad(&strided, tv.clone(), &opts).unwrap()),
            ] {
                let same_loss = loss.iter().zip(&loss_r).all(|(&a, &b)| bits(a) == bits(b));
                let same_grad = grad.iter().zip(grad_r.iter()).all(|(&a, &b)| bits(a) == bits(b));
                if !same_loss || !same_grad || loss.shape() != loss_r.shape() {
                    failures.push(format!(
                        "{isa}: {} cross-entropy {what} of ({n}, {c}, {h}, {w}), {reduction:?}: differs from contiguous rows (loss {same_loss}, gradient {same_grad})",
                        T::NAME
                    ));
                }
            }
            // The loss alone takes the same path.
            let alone = softmax::cross_entropy(&x, tv, &opts).unwrap();
            if !alone.iter().zip(&loss_r).all(|(&a, &b)| bits(a) == bits(b)) {
                failures.push(format!(
                    "{isa}: {} cross-entropy of ({n}, {c}, {h}, {w}) without gradient differs",
                    T::NAME
                ));
            }
        }
    }
    failures
}

/// Distance in steps of a half type between `a` and `b` (0 for two NaNs).
fn half_steps<T: softmax::Element>(a: T, b: T) -> u32 {
    let bits = |v: T| T::half_bits(std::slice::from_ref(&v)).expect("a half type").1[0];
    let (a, b) = (bits(a), bits(b));
    let nan = |v: u16| (v & 0x7FFF) > if T::NAME == "f16" { 0x7C00 } else { 0x7F80 };
    if nan(a) && nan(b) {
        return 0;
    }
    let key = |v: u16| if v & 0x8000 != 0 { -i32::from(v & 0x7FFF) } else { i32::from(v) };
    key(a).abs_diff(key(b))
}

/// The fused cross-entropy of half-type logits (widened to `f32` for the `f32` kernels, a block of
/// rows at a time, and the gradient rounded once) against the exact `f64` path on the same values
/// rounded to the type: every loss and gradient element within one step (SPEC: 1 ulp), the same
/// special values; every reduction, with weights (0, 500, tiny ones) and an ignored class; rows
/// the kernels hand back (a NaN, `+inf`, a maximum beyond their range) in the first and a later
/// block; short rows (the column kernels), batched rows and rows longer than a block.
fn cross_entropy_half_failures<T: softmax::Element>(isa: Isa) -> Vec<String> {
    use softmax::{LossOptions, Reduction, Target};
    let mut rng = Rng(67);
    let mut failures = Vec::new();
    let mut worst = (0u32, 0u32);
    let mut cases: Vec<(String, Array2<f64>)> = Vec::new();
    for (rows, k, spread) in
        [(7, 1, 4.0), (9, 2, 4.0), (33, 10, 4.0), (5, 17, 30.0), (40, 1000, 4.0), (2, 20_000, 4.0)]
    {
        let x = Array2::from_shape_simple_fn((rows, k), || rng.normal() * spread);
        cases.push((format!("{rows}x{k} spread {spread}"), x));
    }
    let mut x = Array2::from_shape_simple_fn((40, 1000), || rng.normal() * 3.0);
    x[[0, 5]] = f64::NAN;
    x[[1, 6]] = f64::INFINITY;
    x[[2, 0]] = f64::NEG_INFINITY;
    x[[3, 2]] = 3000.0;
    x[[37, 9]] = f64::NAN;
    x[[38, 1]] = 3000.0;
    cases.push(("rows handed back".into(), x));
    let mut x = Array2::from_shape_simple_fn((200, 5), || rng.normal() * 3.0);
    x[[70, 1]] = f64::NAN;
    x[[150, 4]] = f64::INFINITY;
    x[[199, 0]] = 5000.0;
    cases.push(("short rows handed back".into(), x));
    for (name, x) in &cases {
        let k = x.ncols();
        let xt = x.mapv(T::from_f64);
        let wide = xt.mapv(|v| v.to_f64());
        let target = Array1::from_shape_simple_fn(x.nrows(), || rng.below(k as u64) as i64);
        let weight = Array1::from_shape_fn(k, |j| {
            T::from_f64(match j % 5 {
                4 => 0.0,
                3 => 500.0,
                2 => 1e-30,
                _ => rng.uniform(0.25, 2.0),
            })
        });
        let weight64 = weight.mapv(|v| v.to_f64());
        for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            for weighted in [false, true] {
                let ignore = (k > 3).then_some(2i64);
                let mut ot = LossOptions::new().reduction(reduction).ignore_index(ignore);
                let mut o64 = LossOptions::new().reduction(reduction).ignore_index(ignore);
                if weighted {
                    ot = ot.weight(weight.view());
                    o64 = o64.weight(weight64.view());
                }
                let (loss, grad) =
                    softmax::cross_entropy_with_grad(&xt, Target::classes(target.view()), &ot).unwrap();
                let (loss_e, grad_e) =
                    softmax::cross_entropy_with_grad(&wide, Target::classes(target.view()), &o64).unwrap();
                let what =
                    format!("{isa}: {} cross-entropy {name} {reduction:?} weighted {weighted}", T::NAME);
                for (idx, (&g, &e)) in loss.iter().zip(loss_e.iter()).enumerate() {
                    let steps = half_steps(g, T::from_f64(e));
                    if steps > 1 {
                        failures.push(format!("{what}: loss {idx}: got {:e}, want {e:e}", g.to_f64()));
                    }
                    worst.0 = worst.0.max(steps);
                }
                for ((idx, &g), &e) in grad.indexed_iter().zip(grad_e.iter()) {
                    let steps = half_steps(g, T::from_f64(e));
                    if steps > 1 {
                        failures
                            .push(format!("{what}: gradient at {idx:?}: got {:e}, want {e:e}", g.to_f64()));
                    }
                    worst.1 = worst.1.max(steps);
                }
            }
        }
    }
    eprintln!("{isa:>8} cross-entropy {} max {} step(s) (losses), {} (gradients)", T::NAME, worst.0, worst.1);
    failures
}

/// Half-type rows of 2 to 16 go through the `f32` column kernels a block of 64 rows at a time,
/// and log-softmax rows up to 4096 long through batches of 16 rows: rows those hand back (a NaN,
/// `+inf`, a maximum beyond their range) must reach the portable path from any block or batch,
/// and every output must be the portable path's or a neighbour.
fn half_short_rows_failures<T: accuracy_suite::Measured>(isa: Isa) -> Vec<String> {
    let mut rng = Rng(91);
    let mut failures = Vec::new();
    for len in [2usize, 5, 16, 40] {
        let mut x = Array2::from_shape_simple_fn((200, len), || T::from_f64(rng.normal() * 3.0));
        x[[150, len - 1]] = T::from_f64(f64::NAN);
        x[[70, 0]] = T::from_f64(f64::INFINITY);
        x[[199, 1]] = T::from_f64(-40_000.0);
        x[[130, 0]] = T::from_f64(f64::NEG_INFINITY);
        let o = Options::new();
        let run = |isa: Isa| {
            softmax::set_isa(isa).unwrap();
            let lse = softmax::logsumexp(&x, &o).unwrap().into_dyn();
            [
                softmax::softmax(&x, &o).unwrap().into_dyn(),
                softmax::log_softmax(&x, &o).unwrap().into_dyn(),
                lse,
            ]
        };
        let (want, got) = (run(Isa::Portable), run(isa));
        for (what, (g, w)) in ["softmax", "log_softmax", "logsumexp"].iter().zip(got.iter().zip(&want)) {
            for ((idx, &a), &b) in g.indexed_iter().zip(w.iter()) {
                let (a, b) = (a.to_f64(), b.to_f64());
                let ok = if a.is_finite() && b.is_finite() && a != 0.0 && b != 0.0 {
                    (a - b).abs() <= T::ulp(a).max(T::ulp(b))
                } else {
                    a == b || (a.is_nan() && b.is_nan())
                };
                if !ok {
                    failures.push(format!(
                        "{isa}: {} {what} of rows of {len}, at {idx:?}: {a:e}, portable {b:e}",
                        T::NAME
                    ));
                }
            }
        }
    }
    failures
}

/// `f32` logsumexp of rows shifted so that `m + ln s = λ·ln s` for `λ` within ±1.5: the vector
/// path takes a row while `|λ| ≥ 1/4` (its sum's error then stays under a quarter of an ulp of
/// the result) and leaves the rest to the portable path. Every result must be within 0.75 ulp of
/// the oracle: the bound of that design, tighter than SPEC's 2, so that a looser threshold
/// fails here. Rows of 1 to 70 000, batches of short rows included.
fn logsumexp_cancellation_failures(isa: Isa) -> Vec<String> {
    let mut rng = Rng(83);
    let mut failures = Vec::new();
    softmax::set_isa(isa).unwrap();
    for (len, rows) in [
        (1, 8),
        (2, 300),
        (3, 200),
        (5, 200),
        (10, 200),
        (16, 200),
        (17, 100),
        (40, 100),
        (1000, 30),
        (70_000, 3),
    ] {
        let x = Array2::from_shape_fn((rows, len), |(r, _)| {
            let scale = [0.3, 2.0, 15.0][r % 3];
            rng.normal() * scale
        });
        let mut x = x.mapv(|v| v as f32);
        for mut row in x.rows_mut() {
            let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let ln_s = row.iter().map(|&v| f64::from(v - m).exp()).sum::<f64>().ln();
            // λ from ±(0, 1.5): a tenth of them below the threshold's 1/4, and one in twenty
            // below 10⁻⁴, where the vector path's sum would be many ulp of the result.
            let magnitude = match rng.below(20) {
                0 => rng.uniform(0.0, 1e-4),
                1 | 2 => rng.uniform(0.0, 0.25),
                _ => rng.uniform(0.25, 1.5),
            };
            let lambda = if rng.below(2) == 0 { magnitude } else { -magnitude };
            let shift = ((lambda - 1.0) * ln_s) as f32;
            row.mapv_inplace(|v| (v - m) + shift);
        }
        let got = softmax::logsumexp(&x, &Options::new()).unwrap();
        for (r, (row, &g)) in x.rows().into_iter().zip(got.iter()).enumerate() {
            let values: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
            let exact = softmax_oracle::logsumexp(&values, 1.0).expect("finite rows");
            let err = exact.ulp_error_f32(g);
            if err.is_nan() || err > 0.75 {
                failures.push(format!(
                    "{isa}: f32 logsumexp near cancellation, len {len}, row {r}: {g:e}, {err:.3} ulp"
                ));
            }
        }
    }
    failures
}

/// `f64` log-softmax and logsumexp of rows shorter than 2048, which the vector kernels take in
/// batches with their `ln s` computed a vector of rows at a time: every output within 0.55 ulp
/// of the oracle (that `ln s` is good to about 2⁻⁵⁸, so the outputs are correctly rounded but
/// for a few hundredths of an ulp; a `ln s` that lost its low part would show up to an ulp),
/// rows with a dominant class (a tiny `ln s`, where its relative accuracy is all that counts),
/// and a NaN row in a later batch, handed back to the portable path.
fn f64_batched_rows_failures(isa: Isa) -> Vec<String> {
    let mut rng = Rng(97);
    let mut failures = Vec::new();
    softmax::set_isa(isa).unwrap();
    for (len, rows) in [(1, 20), (3, 40), (16, 40), (100, 40), (700, 12), (2047, 4)] {
        let mut x =
            Array2::from_shape_fn((rows, len), |(r, _)| rng.normal() * [0.3, 2.0, 15.0, 200.0][r % 4]);
        // Dominant classes: ln s down to about e⁻⁶⁰·len.
        for r in (1..rows).step_by(5) {
            x[[r, len / 2]] = 30.0 + 30.0 * rng.uniform(0.0, 1.0);
        }
        x[[rows - 2, len - 1]] = f64::NAN;
        let o = Options::new();
        let (ls, lse) = (softmax::log_softmax(&x, &o).unwrap(), softmax::logsumexp(&x, &o).unwrap());
        for (r, row) in x.rows().into_iter().enumerate() {
            let values = row.to_vec();
            if r == rows - 2 {
                if !(ls.row(r).iter().all(|v| v.is_nan()) && lse[r].is_nan()) {
                    failures
                        .push(format!("{isa}: f64 batched rows of {len}: the NaN row {r} is not all NaN"));
                }
                continue;
            }
            let exact = softmax_oracle::log_softmax(&values, 1.0);
            let worst = exact.iter().zip(ls.row(r)).map(|(e, &g)| e.ulp_error_f64(g)).fold(0.0, f64::max);
            let lse_err = softmax_oracle::logsumexp(&values, 1.0).expect("finite rows").ulp_error_f64(lse[r]);
            if worst.is_nan() || worst > 0.55 || lse_err.is_nan() || lse_err > 0.55 {
                failures.push(format!(
                    "{isa}: f64 batched rows of {len}, row {r}: log-softmax {worst:.3} ulp, logsumexp {lse_err:.3} ulp"
                ));
            }
        }
    }
    failures
}

/// Softmax and log-softmax at temperatures other than 1 and with masks (rows prepared for the
/// vector kernels): every output within 1 ulp of the portable path's (both are within about half
/// an ulp of the exact result; 2 for `f64`, whose kernels are within 1), and the same special
/// values, zeros and infinities. Rows hold a NaN, `+inf` and `−inf` entries taking part
/// or masked, nothing but masked entries, spreads up to ±300 and offsets of ±10⁴, and equal
/// entries `−τ·ln k` whose logsumexp cancels to about 0; temperatures from 10⁻³¹⁰ to 1.5·10³⁰⁸
/// (where `1/τ` is not normal, too); rows of 1 to 20000. Logsumexp likewise, and also at
/// temperature 1 without a mask (the half types' own path).
fn tempered_masked_failures<T: accuracy_suite::Measured>(isa: Isa) -> Vec<String> {
    use softmax::MaskedRows;
    let mut rng = Rng(47);
    let mut failures = Vec::new();
    let value = |v: f64| T::from_f64(v);
    // Nonzero finite outputs: within 1 ulp of the portable path's (2 for `f64`).
    let close = |a: f64, b: f64| {
        let step = T::ulp(a).max(T::ulp(b));
        (a - b).abs() <= if T::NAME == "f64" { 2.0 * step } else { step }
    };
    for (len, rows) in [(1, 5), (2, 9), (3, 7), (16, 9), (33, 9), (1000, 9), (20_000, 3)] {
        let ln2_inverse = 1.0 / std::f64::consts::LN_2;
        for (t, &tau) in [0.05, 0.7, 1.0, 3.0, 1e-30, 1e30, 1e-310, 1.5e308, ln2_inverse].iter().enumerate() {
            for masked in [false, true] {
                let scale = [1.0, 10.0, 300.0][(len + t) % 3];
                let offset = [0.0, 1e4, -300.0][(len + t + rows) % 3];
                let mut x =
                    Array2::from_shape_simple_fn((rows, len), || value(rng.normal() * scale + offset));
                let mut mask = Array2::from_shape_simple_fn((rows, len), || !masked || rng.below(4) != 0);
                // Special rows: a NaN taking part, `+inf` taking part, `−inf` entries, everything
                // masked, and a NaN and `+inf` that are masked (they take no part).
                x[[1, len / 2]] = value(f64::NAN);
                if rows > 5 {
                    x[[2, len - 1]] = value(f64::INFINITY);
                    x[[3, 0]] = value(f64::NEG_INFINITY);
                    if masked {
                        mask.row_mut(4).fill(false);
                        x[[5, 0]] = value(f64::NAN);
                        x[[5, len - 1]] = value(f64::INFINITY);
                        mask[[5, 0]] = false;
                        mask[[5, len - 1]] = false;
                    }
                }
                if len >= 3 && rows > 6 {
                    // Nothing finite taking part but `−inf`.
                    x.row_mut(6).fill(value(f64::NEG_INFINITY));
                }
                if rows > 8 {
                    // Logsumexp about 0, from `m/τ` and `lse(z)` cancelling (one entry nudged),
                    // and two entries of −1 (`ln 2 − 1/τ`: about 10⁻¹⁷ at `τ = RN(1/ln 2)`).
                    x.row_mut(7).fill(value(-tau * (len as f64).ln()));
                    x[[7, 0]] = value(-tau * (len as f64).ln() * (1.0 + 1e-3));
                    x.row_mut(8).fill(value(f64::NEG_INFINITY));
                    x[[8, 0]] = value(-1.0);
                    x[[8, len - 1]] = value(-1.0);
                }
                let mut o = Options::new().temperature(tau);
                if masked {
                    o = o.mask(mask.view());
                }
                softmax::set_isa(Isa::Portable).unwrap();
                let want = softmax::logsumexp(&x, &o).unwrap();
                softmax::set_isa(isa).unwrap();
                let got = softmax::logsumexp(&x, &o).unwrap();
                for ((r, &a), &b) in got.indexed_iter().zip(want.iter()) {
                    let (a, b) = (a.to_f64(), b.to_f64());
                    let ok = if a.is_finite() && b.is_finite() && a != 0.0 && b != 0.0 {
                        close(a, b)
                    } else {
                        a == b || (a.is_nan() && b.is_nan())
                    };
                    if !ok {
                        failures.push(format!(
                            "{isa}: {} logsumexp, len {len}, τ {tau}, mask {masked}, row {r}: {a:e}, portable {b:e}",
                            T::NAME
                        ));
                    }
                }
                if tau == 1.0 && !masked {
                    continue;
                }
                for policy in [MaskedRows::Nan, MaskedRows::Zeros] {
                    let o = o.clone().masked_rows(policy);
                    softmax::set_isa(Isa::Portable).unwrap();
                    let want = (softmax::softmax(&x, &o).unwrap(), softmax::log_softmax(&x, &o).unwrap());
                    softmax::set_isa(isa).unwrap();
                    let got = (softmax::softmax(&x, &o).unwrap(), softmax::log_softmax(&x, &o).unwrap());
                    for (what, g, w) in [("softmax", &got.0, &want.0), ("log_softmax", &got.1, &want.1)] {
                        for ((idx, &a), &b) in g.indexed_iter().zip(w.iter()) {
                            let (a, b) = (a.to_f64(), b.to_f64());
                            let ok = if a.is_finite() && b.is_finite() && a != 0.0 && b != 0.0 {
                                close(a, b)
                            } else if a.is_finite() && b.is_finite() {
                                // Zeros of either sign: the log-probability of a maximum whose
                                // row's other terms are below `T`'s range is `−0` exactly rounded,
                                // and `+0` where the kernels drop those terms (as at temperature 1).
                                // And one step at the bottom of the subnormals: at τ = RN(1/ln 2)
                                // an output of 2⁻¹³⁴·(1 + 1.3·10⁻¹⁸) (mpmath) is half the smallest
                                // `bf16`; the prepared rows round it up, as exact, and the
                                // portable path's `f64` arithmetic, which cannot see 10⁻¹⁸, to 0.
                                (a - b).abs() <= T::ulp(0.0)
                            } else {
                                a == b || (a.is_nan() && b.is_nan())
                            };
                            if !ok {
                                failures.push(format!(
                                    "{isa}: {} {what}, len {len}, τ {tau}, mask {masked}, {policy:?}, at {idx:?}: {a:e}, portable {b:e}",
                                    T::NAME
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    failures.truncate(20);
    failures
}

/// The softmax and log-softmax backward passes at temperatures other than 1 and with masks (and
/// without either: the half types' rows go the same way), against the portable path: within 2 ulp of it plus the cancellation slack of the kernels' dot
/// product (2⁻⁵⁰ of `Σ|y·dy|/τ`, or of `(|dy| + e^ly·Σ|dy|)/τ`; 2⁻¹⁰⁰ for `f64`), and the same
/// special values. Masked positions hold garbage (NaN, `±inf`, large values) in `y` and `dy`;
/// rows hold a NaN taking part, a `−inf` logit against an infinite `dy`, everything masked.
fn backward_tempered_masked_failures<T: accuracy_suite::Measured>(isa: Isa) -> Vec<String> {
    let mut rng = Rng(53);
    let mut failures = Vec::new();
    let value = |v: f64| T::from_f64(v);
    let fine = if T::NAME == "f64" { 2f64.powi(-100) } else { 2f64.powi(-50) };
    for (len, rows) in [(1, 4), (3, 6), (16, 6), (33, 6), (1000, 6), (9000, 2)] {
        for (tau, masked) in [(1.0, false), (0.7, false), (1.0, true), (3.0, true), (1e-30, false)] {
            let mut x = Array2::from_shape_simple_fn((rows, len), || rng.normal() * 8.0);
            let mut mask = Array2::from_shape_simple_fn((rows, len), || !masked || rng.below(4) != 0);
            if rows > 3 && len > 1 {
                x[[3, 0]] = f64::NEG_INFINITY;
                if masked {
                    mask.row_mut(2).fill(false);
                }
            }
            let xt = x.mapv(value);
            let mut o = Options::new().temperature(tau);
            if masked {
                o = o.mask(mask.view());
            }
            softmax::set_isa(Isa::Portable).unwrap();
            let (mut y, mut ly) =
                (softmax::softmax(&xt, &o).unwrap(), softmax::log_softmax(&xt, &o).unwrap());
            let mut dy = Array2::from_shape_simple_fn((rows, len), || value(rng.normal()));
            if rows > 3 && len > 1 {
                dy[[3, 0]] = value(f64::INFINITY);
                dy[[1, len - 1]] = value(f64::NAN);
            }
            for ((i, j), &keep) in mask.indexed_iter() {
                if !keep {
                    let junk = [f64::NAN, f64::INFINITY, -5e3, 0.75][(i + j) % 4];
                    y[[i, j]] = value(junk);
                    ly[[i, j]] = value(junk);
                    dy[[i, j]] = value([f64::INFINITY, f64::NAN, 1e4][(i + j) % 3]);
                }
            }
            let run = |isa: Isa| {
                softmax::set_isa(isa).unwrap();
                (
                    softmax::softmax_backward(&y, &dy, &o).unwrap(),
                    softmax::log_softmax_backward(&ly, &dy, &o).unwrap(),
                )
            };
            let (want, got) = (run(Isa::Portable), run(isa));
            for (what, g, w, log) in
                [("softmax", &got.0, &want.0, false), ("log_softmax", &got.1, &want.1, true)]
            {
                for ((idx, &a), &b) in g.indexed_iter().zip(w.iter()) {
                    let (a, b) = (a.to_f64(), b.to_f64());
                    let row = idx.0;
                    let kept = |j: usize| mask[[row, j]] && !dy[[row, j]].to_f64().is_nan();
                    let slack = if log {
                        let total: f64 =
                            (0..len).filter(|&j| kept(j)).map(|j| dy[[row, j]].to_f64().abs()).sum();
                        let p = ly[idx].to_f64().exp();
                        dy[idx].to_f64().abs() + if p == 0.0 { 0.0 } else { p * total }
                    } else {
                        // A zero probability contributes nothing, even against an infinite dy.
                        (0..len)
                            .filter(|&j| kept(j) && y[[row, j]].to_f64() != 0.0)
                            .map(|j| (y[[row, j]].to_f64() * dy[[row, j]].to_f64()).abs())
                            .sum()
                    } * fine
                        / tau;
                    let ok = if a.is_finite() && b.is_finite() && a != 0.0 && b != 0.0 {
                        (a - b).abs() <= 2.0 * T::ulp(a).max(T::ulp(b)) + slack
                    } else {
                        a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= slack
                    };
                    if !ok {
                        failures.push(format!(
                            "{isa}: {} {what} backward, len {len}, τ {tau}, mask {masked}, at {idx:?}: {a:e}, portable {b:e}",
                            T::NAME
                        ));
                    }
                }
            }
        }
    }
    softmax::set_isa(isa).unwrap();
    failures.truncate(20);
    failures
}

/// The softmax backward pass along a non-last axis (lanes copied into rows a block at a time),
/// of strided views, and into an output not in standard order gives bitwise what the same values
/// give as contiguous rows; with a NaN and an infinity among them.
fn backward_layout_failures<T: softmax::Element>(isa: Isa) -> Vec<String> {
    use ndarray::{Array4, ShapeBuilder, s};
    let mut rng = Rng(43);
    let mut failures = Vec::new();
    for (n, c, h, w) in [(2, 5, 3, 37), (3, 19, 8, 37), (2, 300, 1, 70)] {
        let x = Array4::from_shape_simple_fn((n, c, h, w), || rng.normal() * 4.0);
        let y = softmax::softmax(&x, &Options::new().axis(1)).unwrap().mapv(T::from_f64);
        let mut dy = Array4::from_shape_simple_fn((n, c, h, w), || T::from_f64(rng.normal()));
        dy[[0, 1, 0, 3]] = T::from_f64(f64::NAN);
        dy[[1, 0, 0, 5]] = T::from_f64(f64::INFINITY);
        let last = |a: &Array4<T>| a.view().permuted_axes([0, 2, 3, 1]).as_standard_layout().into_owned();
        let want = softmax::softmax_backward(&last(&y), &last(&dy), &Options::new())
            .unwrap()
            .permuted_axes([0, 3, 1, 2]);
        let axis1 = Options::new().axis(1);
        let mut wide = Array4::from_elem((n, c, h, 2 * w), T::from_f64(0.0));
        wide.slice_mut(s![.., .., .., ..;2]).assign(&y);
        let strided = wide.slice(s![.., .., .., ..;2]);
        // An output in Fortran order.
        let mut fortran = Array4::from_elem((n, c, h, w).f(), T::from_f64(0.0));
        softmax::softmax_backward_into(&y, &dy, &mut fortran, &axis1).unwrap();
        let bits = |v: &T| v.to_f64().to_bits();
        for (what, got) in [
            ("axis 1", softmax::softmax_backward(&y, &dy, &axis1).unwrap()),
            ("strided", softmax::softmax_backward(&strided, &dy, &axis1).unwrap()),
            ("into Fortran order", fortran),
        ] {
            if !got.iter().zip(want.iter()).all(|(a, b)| bits(a) == bits(b)) {
                failures.push(format!(
                    "{isa}: {} softmax backward {what} of ({n}, {c}, {h}, {w}) differs from contiguous rows",
                    T::NAME
                ));
            }
        }
    }
    failures
}

/// The softmax backward pass of many rows at once (short rows go in batches: every row's dot
/// product, then every row's outputs) gives each row the bits of that row alone, a `NaN` row and
/// an infinite one among them, for batches that are full, partial and of one row.
fn batched_backward_failures<T: softmax::Element>(isa: Isa) -> Vec<String> {
    let mut rng = Rng(59);
    let mut failures = Vec::new();
    for (rows, len) in [(37, 130), (40, 17), (21, 1000), (5, 3000), (3, 5000)] {
        let x = Array2::from_shape_simple_fn((rows, len), || rng.normal() * 3.0);
        let y = softmax::softmax(&x, &Options::new()).unwrap().mapv(T::from_f64);
        let mut dy = Array2::from_shape_simple_fn((rows, len), || T::from_f64(rng.normal()));
        dy[[rows / 2, len / 3]] = T::from_f64(f64::NAN);
        dy[[rows - 1, 0]] = T::from_f64(f64::INFINITY);
        let all = softmax::softmax_backward(&y, &dy, &Options::new()).unwrap();
        let bits = |v: &T| v.to_f64().to_bits();
        for r in 0..rows {
            let one = softmax::softmax_backward(&y.row(r), &dy.row(r), &Options::new()).unwrap();
            if !one.iter().zip(all.row(r)).all(|(a, b)| bits(a) == bits(b)) {
                failures.push(format!(
                    "{isa}: {} softmax backward of ({rows}, {len}): row {r} differs from the row alone",
                    T::NAME
                ));
            }
        }
    }
    failures
}

/// The log-softmax backward pass, `f64` and `f32`, element by element against the oracle's
/// `dy − exp(ly)·Σ dy`: within an ulp of each output, or 2⁻⁵⁵ (`f64`) or 2⁻³⁰ (`f32`) of
/// `|dy| + exp(ly)·Σ|dy|` (what cancellation between the two terms may leave); on log-softmax
/// outputs, arbitrary `ly` up to ±700 with `−inf` entries, `dy` nearly `exp(ly)·Σ dy` (heavy
/// cancellation), rows with a NaN (all NaN) and with `+inf` (as the portable path gives).
fn log_backward_failures(isa: Isa) -> Vec<String> {
    use softmax_oracle::Exact;
    let mut rng = Rng(47);
    let mut failures = Vec::new();
    let mut worst = [0.0f64; 2];
    for trial in 0..300 {
        let n = 1 + rng.below(if trial % 10 == 0 { 3000 } else { 200 }) as usize;
        let ly: Vec<f64> = match trial % 3 {
            0 => {
                let x: Vec<f64> = (0..n).map(|_| rng.normal() * 5.0).collect();
                softmax::log_softmax(&Array1::from(x), &Options::new()).unwrap().to_vec()
            }
            1 => {
                (0..n).map(|i| if i % 7 == 3 { f64::NEG_INFINITY } else { rng.uniform(-20.0, 5.0) }).collect()
            }
            _ => {
                let m = rng.uniform(-690.0, 690.0);
                (0..n).map(|_| m - rng.uniform(0.0, 800.0)).collect()
            }
        };
        let total_dy = rng.normal();
        let dy: Vec<f64> = (0..n)
            .map(|i| {
                if trial % 4 == 1 {
                    ly[i].exp() * total_dy * (1.0 + rng.uniform(-1e-9, 1e-9))
                } else {
                    rng.normal()
                }
            })
            .collect();
        let mut special = (ly.clone(), dy.clone());
        if trial % 25 == 0 {
            special.0[n / 2] = if trial % 50 == 0 { f64::NAN } else { f64::INFINITY };
        }
        let (ly, dy) = if trial % 25 == 0 { special } else { (ly, dy) };
        let got64 = softmax::log_softmax_backward(
            &Array1::from(ly.clone()),
            &Array1::from(dy.clone()),
            &Options::new(),
        )
        .unwrap();
        let (ly32, dy32): (Vec<f32>, Vec<f32>) =
            ly.iter().zip(&dy).map(|(&a, &b)| (a as f32, b as f32)).unzip();
        let got32 = softmax::log_softmax_backward(
            &Array1::from(ly32.clone()),
            &Array1::from(dy32.clone()),
            &Options::new(),
        )
        .unwrap();
        if ly.iter().any(|v| v.is_nan()) {
            if !got64.iter().all(|v| v.is_nan()) || !got32.iter().all(|v| v.is_nan()) {
                failures.push(format!("{isa}: log-softmax backward row {trial} with a NaN is not all NaN"));
            }
            continue;
        }
        if ly.contains(&f64::INFINITY) {
            // What the portable path gives (an infinity where exp(ly) is one).
            softmax::set_isa(Isa::Portable).unwrap();
            let want = softmax::log_softmax_backward(
                &Array1::from(ly.clone()),
                &Array1::from(dy.clone()),
                &Options::new(),
            )
            .unwrap();
            softmax::set_isa(isa).unwrap();
            if !got64.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan()) {
                failures.push(format!(
                    "{isa}: log-softmax backward row {trial} with +inf differs from the portable path"
                ));
            }
            continue;
        }
        for (wide, (lys, dys)) in [
            (true, (ly.clone(), dy.clone())),
            (
                false,
                (ly32.iter().map(|&v| f64::from(v)).collect(), dy32.iter().map(|&v| f64::from(v)).collect()),
            ),
        ] {
            // Values beyond f32's range became infinities: that row is no test of the f32 path.
            if !dys.iter().all(|v| v.is_finite()) || lys.contains(&f64::INFINITY) {
                continue;
            }
            let total = dys.iter().fold(Exact::from_f64(0.0), |acc: Exact, &b| acc.add(&Exact::from_f64(b)));
            let abs_total: f64 = dys.iter().map(|v: &f64| v.abs()).sum();
            for i in 0..n {
                let got = if wide { got64[i] } else { f64::from(got32[i]) };
                let (exact, scale) = if lys[i] == f64::NEG_INFINITY {
                    (Exact::from_f64(0.0), 0.0)
                } else {
                    let e = Exact::from_f64(lys[i]).exp();
                    let scale = dys[i].abs() + e.to_f64() * abs_total;
                    (Exact::from_f64(dys[i]).sub(&e.mul(&total)), scale)
                };
                if !got.is_finite() {
                    // Only where the exact value overflows the type.
                    let want = if wide { exact.to_f64() } else { f64::from(exact.to_f32()) };
                    if got != want {
                        failures.push(format!(
                            "{isa}: log-softmax backward row {trial} at {i}: got {got}, want {want:e}"
                        ));
                    }
                    continue;
                }
                let ulps = if wide { exact.ulp_error_f64(got) } else { exact.ulp_error_f32(got as f32) };
                // The exponentials are good to about 2⁻⁵⁷; terms below f64's normal range keep an
                // absolute error near its smallest subnormal times Σ|dy|·e²⁰.
                let slack = if wide {
                    scale * 2f64.powi(-55) + abs_total * 2f64.powi(-1040)
                } else {
                    scale * 2f64.powi(-30)
                };
                let diff = Exact::from_f64(got).sub(&exact).to_f64().abs();
                if lys[i] == f64::NEG_INFINITY && got != 0.0 || !(ulps <= 1.0 || diff <= slack) {
                    failures.push(format!(
                        "{isa}: log-softmax backward ({}) row {trial} (length {n}) at {i}: got {got:e}, {ulps:.2} ulp, off by {diff:e} (slack {slack:e})",
                        if wide { "f64" } else { "f32" }
                    ));
                }
                if ulps.is_finite() && diff > slack {
                    worst[usize::from(!wide)] = worst[usize::from(!wide)].max(ulps);
                }
            }
        }
    }
    eprintln!(
        "{isa:>8} log-softmax backward: max {:.3} ulp (f64), {:.3} ulp (f32), outside the cancellation slack",
        worst[0], worst[1]
    );
    failures
}

#[test]
fn unavailable_instruction_sets_are_refused_and_names_round_trip() {
    for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512] {
        assert_eq!(Isa::from_name(isa.name()), Some(isa));
        if !isa.is_available() {
            let err = softmax::set_isa(isa).unwrap_err();
            assert!(err.to_string().contains(isa.name()), "{err}");
        }
    }
    assert_eq!(Isa::from_name("sse9"), None);
}
