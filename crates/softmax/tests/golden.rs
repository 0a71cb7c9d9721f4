//! Agreement with PyTorch (float64 reference vectors in `tests/golden/`, see the README there).
//!
//! Losses: every case of `cross_entropy.json`, `nll_loss.json` and `bce_with_logits.json` is run
//! through our fused `*_with_grad` functions in f64 (checked against PyTorch's loss and autograd
//! gradient) and in f32 (checked against our own f64 result on the same rounded inputs, and loosely
//! against PyTorch).
//!
//! Special values: `softmax_special.json` is compared with PyTorch wherever SPEC.md agrees with
//! PyTorch. Where it deliberately does not (a row with `+inf` entries and no NaN: PyTorch gives NaN
//! for the whole row, SPEC.md splits the mass evenly among the `+inf` entries), the SPEC behaviour is
//! asserted explicitly instead.

#[path = "support/common.rs"]
mod common;

use common::ulps_f64;

use std::path::PathBuf;

use ndarray::{Array1, ArrayD, Axis, Dimension, IxDyn};
use serde_json::Value;
use softmax::{BceOptions, LossOptions, MaskedRows, Options, Reduction, Target};

// ---------------------------------------------------------------------------------------------
// Reading the reference files
// ---------------------------------------------------------------------------------------------

/// serde_json (without its `float_roundtrip` feature, which this workspace does not enable) parses
/// floats on a fast path that can be off by an ulp. The files promise shortest round-trip reprs, so
/// we quote every number token before handing the text to serde_json and parse the tokens with
/// `str::parse`, which is correctly rounded: the inputs are then exactly PyTorch's inputs.
fn quote_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    let mut escaped = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == '-' || c.is_ascii_digit() {
            out.push_str("\"#");
            out.push(c);
            while let Some(&n) = chars.peek() {
                if n.is_ascii_digit() || matches!(n, '.' | 'e' | 'E' | '+' | '-') {
                    out.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push('"');
        } else {
            out.push(c);
        }
    }
    out
}

fn load_cases(file: &str) -> Vec<Value> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "golden", file].iter().collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut root: Value = serde_json::from_str(&quote_numbers(&text))
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    let cases = root["cases"].take();
    let cases = cases.as_array().unwrap_or_else(|| panic!("{file}: no \"cases\" array")).clone();
    assert!(!cases.is_empty(), "{file}: no cases");
    cases
}

/// Runs `check` on every case and fails at the end with the list of every failing case and its
/// first failed assertion, so one bug does not hide the state of the other cases.
fn for_each_case(file: &str, cases: &[Value], mut check: impl FnMut(&Value, &str)) {
    let mut failures = Vec::new();
    for case in cases {
        let name = name(case);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(case, &name)));
        if let Err(payload) = result {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(message);
        }
    }
    assert!(
        failures.is_empty(),
        "{file}: {} of {} cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn number(v: &Value, ctx: &str) -> f64 {
    match v.as_str() {
        Some("NaN") => f64::NAN,
        Some("Infinity") => f64::INFINITY,
        Some("-Infinity") => f64::NEG_INFINITY,
        Some(s) if s.starts_with('#') => {
            s[1..].parse::<f64>().unwrap_or_else(|e| panic!("{ctx}: bad number {s:?}: {e}"))
        }
        _ => panic!("{ctx}: not a number: {v}"),
    }
}

fn integer(v: &Value, ctx: &str) -> i64 {
    match v.as_str() {
        Some(s) if s.starts_with('#') => {
            s[1..].parse::<i64>().unwrap_or_else(|e| panic!("{ctx}: bad integer {s:?}: {e}"))
        }
        _ => panic!("{ctx}: not an integer: {v}"),
    }
}

fn shape_of(v: &Value, ctx: &str) -> Vec<usize> {
    v["shape"]
        .as_array()
        .unwrap_or_else(|| panic!("{ctx}: tensor without a shape"))
        .iter()
        .map(|d| integer(d, ctx) as usize)
        .collect()
}

fn tensor(v: &Value, ctx: &str) -> ArrayD<f64> {
    let shape = shape_of(v, ctx);
    let data: Vec<f64> = v["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{ctx}: tensor without data"))
        .iter()
        .map(|x| number(x, ctx))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap_or_else(|e| panic!("{ctx}: {e}"))
}

fn int_tensor(v: &Value, ctx: &str) -> ArrayD<i64> {
    let shape = shape_of(v, ctx);
    let data: Vec<i64> = v["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{ctx}: tensor without data"))
        .iter()
        .map(|x| integer(x, ctx))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap_or_else(|e| panic!("{ctx}: {e}"))
}

fn optional_tensor(v: &Value, ctx: &str) -> Option<ArrayD<f64>> {
    if v.is_null() { None } else { Some(tensor(v, ctx)) }
}

fn name(case: &Value) -> String {
    case["name"].as_str().expect("every case has a name").to_string()
}

fn reduction(case: &Value, name: &str) -> Reduction {
    match case["reduction"].as_str() {
        Some("none") => Reduction::None,
        Some("sum") => Reduction::Sum,
        Some("mean") => Reduction::Mean,
        other => panic!("{name}: unknown reduction {other:?}"),
    }
}

/// `ignore_index: null` means PyTorch's default -100 (which is also ours).
fn ignore_index(case: &Value, name: &str) -> Option<i64> {
    let v = &case["ignore_index"];
    Some(if v.is_null() { -100 } else { integer(v, name) })
}

fn to_f32(a: &ArrayD<f64>) -> ArrayD<f32> {
    a.mapv(|v| v as f32)
}

fn widen(a: &ArrayD<f32>) -> ArrayD<f64> {
    a.mapv(f64::from)
}

// ---------------------------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------------------------

/// Tolerance for f64 results against PyTorch's f64 results.
///
/// PyTorch is the less accurate side: it rounds `x − max`, sums `exp` in f64 and forms
/// `lp = (x − max) − ln s`, so its log-probabilities carry an absolute error of about ε·|lse|
/// (lse ≲ 12 here: ≲ 1e-15), and each later multiply/divide adds an ulp. Our results are within a
/// few ulp of exact. Where a value is not itself a cancellation, PyTorch's relative error is a few
/// 1e-16 (measured: ≤ 9e-16); a relative 1e-13 (≈ 450 ulp) leaves room for that without hiding a
/// real discrepancy (a wrong weight, divisor or smoothing term changes values by ≥ 1e-3). Where the
/// value is a cancellation (a tiny loss `lse − x_max` ≈ 5e-4, a BCE loss from
/// `x·(1 − t) + softplus(−x)`, a gradient `p − q` with `p ≈ q`), PyTorch's error is absolute, not
/// relative (measured: relative 6e-14 at absolute 4e-17), hence the absolute floor 1e-15 ≈ ε·|lse|.
const F64_REL: f64 = 1e-13;
const F64_ABS: f64 = 1e-15;

/// Tolerance for our f32 result against our f64 result on the same (f32-rounded) inputs. Both come
/// from the same f64 computation, the f32 one rounded once (twice for a scaled mean gradient): at
/// most about 1 ulp of f32 (6e-8) relative. 1e-5 is loose but catches any f32-specific path that
/// accumulates in f32. The absolute floor is a few f32 subnormal ulps, for values that underflow.
const F32_REL: f64 = 1e-5;
const F32_ABS: f64 = 1e-44;

/// Compares element by element: same shape, NaN exactly where `want` is NaN, infinities equal,
/// otherwise `|got − want| ≤ max(rel·|want|, abs)`. Returns the largest error relative to the bound
/// (≤ 1 when everything passes) so callers can report it.
fn compare(case: &str, what: &str, got: &ArrayD<f64>, want: &ArrayD<f64>, rel: f64, abs: f64) -> f64 {
    assert_eq!(
        got.shape(),
        want.shape(),
        "{case}: {what}: shape {:?}, expected {:?}",
        got.shape(),
        want.shape()
    );
    let mut worst = 0.0f64;
    for ((index, &g), &w) in got.indexed_iter().zip(want.iter()) {
        let at = index.slice();
        if w.is_nan() {
            assert!(g.is_nan(), "{case}: {what}{at:?}: got {g:e}, expected NaN");
            continue;
        }
        assert!(!g.is_nan(), "{case}: {what}{at:?}: got NaN, expected {w:e}");
        if w.is_infinite() || g.is_infinite() {
            assert_eq!(g, w, "{case}: {what}{at:?}: got {g:e}, expected {w:e}");
            continue;
        }
        let bound = (rel * w.abs()).max(abs);
        let err = (g - w).abs();
        assert!(
            err <= bound,
            "{case}: {what}{at:?}: got {g:e}, expected {w:e} (error {err:e}, relative {:e}, bound {bound:e})",
            err / w.abs()
        );
        worst = worst.max(err / bound);
    }
    worst
}

/// f32 results against PyTorch's f64 ones: the inputs were rounded to f32 (relative 6e-8), which
/// moves a loss or gradient by at most about `Σ |∂/∂x|·|x|·6e-8` ≲ 4e-6 for logits ≲ 12 and
/// weights ≲ 2. So: 1e-5 relative, or 1e-5 absolute for values below 1.
fn compare_f32_with_reference(case: &str, what: &str, got: &ArrayD<f32>, want: &ArrayD<f64>) {
    let got = widen(got);
    assert_eq!(got.shape(), want.shape(), "{case}: {what} (f32): shape");
    for ((index, &g), &w) in got.indexed_iter().zip(want.iter()) {
        let at = index.slice();
        if w.is_nan() {
            assert!(g.is_nan(), "{case}: {what} (f32){at:?}: got {g:e}, expected NaN");
        } else if w.is_infinite() {
            assert_eq!(g, w, "{case}: {what} (f32){at:?}");
        } else {
            let bound = 1e-5 * w.abs().max(1.0);
            assert!(
                (g - w).abs() <= bound,
                "{case}: {what} (f32){at:?}: got {g:e}, PyTorch (f64) {w:e}, bound {bound:e}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Losses
// ---------------------------------------------------------------------------------------------

#[test]
fn cross_entropy_matches_pytorch() {
    let cases = load_cases("cross_entropy.json");
    assert_eq!(cases.len(), 84, "cross_entropy.json: the README lists 84 cases");
    let mut worst = (0.0, String::new());
    for_each_case("cross_entropy.json", &cases, |case, n| {
        let logits = tensor(&case["logits"], n);
        let weight = optional_tensor(&case["weight"], n)
            .map(|w| w.into_dimensionality::<ndarray::Ix1>().unwrap_or_else(|e| panic!("{n}: weight: {e}")));
        let reduction = reduction(case, n);
        let smoothing = number(&case["label_smoothing"], n);
        let ignore = ignore_index(case, n);
        let want_loss = tensor(&case["loss"], n);
        let want_grad = tensor(&case["grad"], n);
        let kind = case["target_kind"].as_str().unwrap_or_default().to_string();

        // f64 against PyTorch.
        let mut opts =
            LossOptions::new().reduction(reduction).label_smoothing(smoothing).ignore_index(ignore);
        if let Some(w) = &weight {
            opts = opts.weight(w.view());
        }
        let (classes, probs) = match kind.as_str() {
            "indices" => (Some(int_tensor(&case["target"], n)), None),
            "probabilities" => (None, Some(tensor(&case["target"], n))),
            other => panic!("{n}: unknown target_kind {other:?}"),
        };
        let target = match (&classes, &probs) {
            (Some(c), _) => Target::classes(c.view()),
            (_, Some(p)) => Target::probs(p.view()),
            _ => unreachable!(),
        };
        let (loss, grad) = softmax::cross_entropy_with_grad(&logits, target, &opts)
            .unwrap_or_else(|e| panic!("{n}: cross_entropy_with_grad failed: {e}"));
        let w1 = compare(n, "loss", &loss, &want_loss, F64_REL, F64_ABS);
        let w2 = compare(n, "grad", &grad, &want_grad, F64_REL, F64_ABS);
        if w1.max(w2) > worst.0 {
            worst = (w1.max(w2), n.to_string());
        }

        // f32: the same case on rounded inputs, against our f64 on those same inputs and PyTorch.
        let logits32 = to_f32(&logits);
        let weight32: Option<Array1<f32>> = weight.as_ref().map(|w| w.mapv(|v| v as f32));
        let probs32 = probs.as_ref().map(to_f32);
        let mut opts32 =
            LossOptions::new().reduction(reduction).label_smoothing(smoothing).ignore_index(ignore);
        if let Some(w) = &weight32 {
            opts32 = opts32.weight(w.view());
        }
        let target32 = match (&classes, &probs32) {
            (Some(c), _) => Target::classes(c.view()),
            (_, Some(p)) => Target::probs(p.view()),
            _ => unreachable!(),
        };
        let (loss32, grad32) = softmax::cross_entropy_with_grad(&logits32, target32, &opts32)
            .unwrap_or_else(|e| panic!("{n}: cross_entropy_with_grad (f32) failed: {e}"));
        let weight_wide = weight32.as_ref().map(|w| w.mapv(f64::from));
        let probs_wide = probs32.as_ref().map(widen);
        let mut opts_wide =
            LossOptions::new().reduction(reduction).label_smoothing(smoothing).ignore_index(ignore);
        if let Some(w) = &weight_wide {
            opts_wide = opts_wide.weight(w.view());
        }
        let target_wide = match (&classes, &probs_wide) {
            (Some(c), _) => Target::classes(c.view()),
            (_, Some(p)) => Target::probs(p.view()),
            _ => unreachable!(),
        };
        let (loss_wide, grad_wide) =
            softmax::cross_entropy_with_grad(&widen(&logits32), target_wide, &opts_wide)
                .unwrap_or_else(|e| panic!("{n}: cross_entropy_with_grad (f64 on f32 inputs) failed: {e}"));
        compare(n, "loss (f32 vs f64 on the same inputs)", &widen(&loss32), &loss_wide, F32_REL, F32_ABS);
        compare(n, "grad (f32 vs f64 on the same inputs)", &widen(&grad32), &grad_wide, F32_REL, F32_ABS);
        compare_f32_with_reference(n, "loss", &loss32, &want_loss);
        compare_f32_with_reference(n, "grad", &grad32, &want_grad);
    });
    eprintln!("cross_entropy: worst error / bound = {:.3} ({})", worst.0, worst.1);
}

#[test]
fn nll_loss_matches_pytorch() {
    let cases = load_cases("nll_loss.json");
    assert_eq!(cases.len(), 24, "nll_loss.json: the README lists 24 cases");
    let mut worst = (0.0, String::new());
    for_each_case("nll_loss.json", &cases, |case, n| {
        let log_probs = tensor(&case["log_probs"], n);
        let target = int_tensor(&case["target"], n);
        let weight = optional_tensor(&case["weight"], n)
            .map(|w| w.into_dimensionality::<ndarray::Ix1>().unwrap_or_else(|e| panic!("{n}: weight: {e}")));
        let reduction = reduction(case, n);
        let ignore = ignore_index(case, n);
        let want_loss = tensor(&case["loss"], n);
        let want_grad = tensor(&case["grad"], n);

        let mut opts = LossOptions::new().reduction(reduction).ignore_index(ignore);
        if let Some(w) = &weight {
            opts = opts.weight(w.view());
        }
        let (loss, grad) = softmax::nll_loss_with_grad(&log_probs, &target, &opts)
            .unwrap_or_else(|e| panic!("{n}: nll_loss_with_grad failed: {e}"));
        let w1 = compare(n, "loss", &loss, &want_loss, F64_REL, F64_ABS);
        let w2 = compare(n, "grad", &grad, &want_grad, F64_REL, F64_ABS);
        if w1.max(w2) > worst.0 {
            worst = (w1.max(w2), n.to_string());
        }

        let lp32 = to_f32(&log_probs);
        let weight32: Option<Array1<f32>> = weight.as_ref().map(|w| w.mapv(|v| v as f32));
        let mut opts32 = LossOptions::new().reduction(reduction).ignore_index(ignore);
        if let Some(w) = &weight32 {
            opts32 = opts32.weight(w.view());
        }
        let (loss32, grad32) = softmax::nll_loss_with_grad(&lp32, &target, &opts32)
            .unwrap_or_else(|e| panic!("{n}: nll_loss_with_grad (f32) failed: {e}"));
        let weight_wide = weight32.as_ref().map(|w| w.mapv(f64::from));
        let mut opts_wide = LossOptions::new().reduction(reduction).ignore_index(ignore);
        if let Some(w) = &weight_wide {
            opts_wide = opts_wide.weight(w.view());
        }
        let (loss_wide, grad_wide) = softmax::nll_loss_with_grad(&widen(&lp32), &target, &opts_wide)
            .unwrap_or_else(|e| panic!("{n}: nll_loss_with_grad (f64 on f32 inputs) failed: {e}"));
        compare(n, "loss (f32 vs f64 on the same inputs)", &widen(&loss32), &loss_wide, F32_REL, F32_ABS);
        compare(n, "grad (f32 vs f64 on the same inputs)", &widen(&grad32), &grad_wide, F32_REL, F32_ABS);
        compare_f32_with_reference(n, "loss", &loss32, &want_loss);
        compare_f32_with_reference(n, "grad", &grad32, &want_grad);
    });
    eprintln!("nll_loss: worst error / bound = {:.3} ({})", worst.0, worst.1);
}

#[test]
fn bce_with_logits_matches_pytorch() {
    let cases = load_cases("bce_with_logits.json");
    assert_eq!(cases.len(), 24, "bce_with_logits.json: the README lists 24 cases");
    let mut worst = (0.0, String::new());
    for_each_case("bce_with_logits.json", &cases, |case, n| {
        let x = tensor(&case["x"], n);
        let target = tensor(&case["target"], n);
        let weight = optional_tensor(&case["weight"], n);
        let pos_weight = optional_tensor(&case["pos_weight"], n);
        let reduction = reduction(case, n);
        let want_loss = tensor(&case["loss"], n);
        let want_grad = tensor(&case["grad"], n);

        let mut opts = BceOptions::new().reduction(reduction);
        if let Some(w) = &weight {
            opts = opts.weight(w.view());
        }
        if let Some(p) = &pos_weight {
            opts = opts.pos_weight(p.view());
        }
        let (loss, grad) = softmax::binary_cross_entropy_with_logits_with_grad(&x, &target, &opts)
            .unwrap_or_else(|e| panic!("{n}: binary_cross_entropy_with_logits_with_grad failed: {e}"));
        let w1 = compare(n, "loss", &loss, &want_loss, F64_REL, F64_ABS);
        let w2 = compare(n, "grad", &grad, &want_grad, F64_REL, F64_ABS);
        if w1.max(w2) > worst.0 {
            worst = (w1.max(w2), n.to_string());
        }

        let (x32, t32) = (to_f32(&x), to_f32(&target));
        let (w32, p32) = (weight.as_ref().map(to_f32), pos_weight.as_ref().map(to_f32));
        let mut opts32 = BceOptions::new().reduction(reduction);
        if let Some(w) = &w32 {
            opts32 = opts32.weight(w.view());
        }
        if let Some(p) = &p32 {
            opts32 = opts32.pos_weight(p.view());
        }
        let (loss32, grad32) = softmax::binary_cross_entropy_with_logits_with_grad(&x32, &t32, &opts32)
            .unwrap_or_else(|e| panic!("{n}: binary_cross_entropy_with_logits_with_grad (f32) failed: {e}"));
        let (w_wide, p_wide) = (w32.as_ref().map(widen), p32.as_ref().map(widen));
        let mut opts_wide = BceOptions::new().reduction(reduction);
        if let Some(w) = &w_wide {
            opts_wide = opts_wide.weight(w.view());
        }
        if let Some(p) = &p_wide {
            opts_wide = opts_wide.pos_weight(p.view());
        }
        let (loss_wide, grad_wide) =
            softmax::binary_cross_entropy_with_logits_with_grad(&widen(&x32), &widen(&t32), &opts_wide)
                .unwrap_or_else(|e| panic!("{n}: BCE (f64 on f32 inputs) failed: {e}"));
        compare(n, "loss (f32 vs f64 on the same inputs)", &widen(&loss32), &loss_wide, F32_REL, F32_ABS);
        compare(n, "grad (f32 vs f64 on the same inputs)", &widen(&grad32), &grad_wide, F32_REL, F32_ABS);
        compare_f32_with_reference(n, "loss", &loss32, &want_loss);
        compare_f32_with_reference(n, "grad", &grad32, &want_grad);
    });
    eprintln!("bce_with_logits: worst error / bound = {:.3} ({})", worst.0, worst.1);
}

// ---------------------------------------------------------------------------------------------
// Special values
// ---------------------------------------------------------------------------------------------

/// Softmax values from PyTorch in f64: `exp(x − max) / Σ` with `x − max` rounded. Where `x − max`
/// is exact (every finite row here), PyTorch is within a few ulp; 1e-13 relative is honest and
/// still detects any real error. Log-softmax `(x − max) − ln s` can cancel, hence the floor.
const SPECIAL_REL: f64 = 1e-13;
const SPECIAL_ABS: f64 = 1e-15;

#[test]
fn softmax_special_values_match_pytorch_or_spec() {
    let cases = load_cases("softmax_special.json");
    let mut spec_rows: Vec<String> = Vec::new();
    for_each_case("softmax_special.json", &cases, |case, n| {
        let x = tensor(&case["input"], n);
        let want_sm = tensor(&case["softmax"], n);
        let want_lsm = tensor(&case["log_softmax"], n);
        let want_lse = tensor(&case["logsumexp"], n);
        let o = Options::new();
        let sm = softmax::softmax(&x, &o).unwrap_or_else(|e| panic!("{n}: softmax failed: {e}"));
        let lsm = softmax::log_softmax(&x, &o).unwrap_or_else(|e| panic!("{n}: log_softmax failed: {e}"));
        let lse = softmax::logsumexp(&x, &o).unwrap_or_else(|e| panic!("{n}: logsumexp failed: {e}"));
        assert_eq!(sm.shape(), want_sm.shape(), "{n}: softmax shape");
        assert_eq!(lsm.shape(), want_lsm.shape(), "{n}: log_softmax shape");
        // logsumexp: SPEC and PyTorch agree on every row (+inf with +inf entries, NaN with NaN,
        // −inf for all −inf and for an empty row).
        compare(n, "logsumexp", &lse, &want_lse, SPECIAL_REL, SPECIAL_ABS);

        let last = Axis(x.ndim() - 1);
        for (r, xr) in x.lanes(last).into_iter().enumerate() {
            let (got_sm, got_lsm) =
                (sm.lanes(last).into_iter().nth(r).unwrap(), lsm.lanes(last).into_iter().nth(r).unwrap());
            let (ref_sm, ref_lsm) = (
                want_sm.lanes(last).into_iter().nth(r).unwrap(),
                want_lsm.lanes(last).into_iter().nth(r).unwrap(),
            );
            let has_nan = xr.iter().any(|v| v.is_nan());
            let k = xr.iter().filter(|&&v| v == f64::INFINITY).count();
            if k > 0 && !has_nan {
                // DELIBERATE DIFFERENCE FROM PYTORCH (SPEC.md, "Special values"): a row with k
                // `+inf` entries splits its mass evenly among them: softmax 1/k there and 0
                // elsewhere; log_softmax −ln k there and −inf elsewhere. PyTorch gives NaN for the
                // whole row; check that the reference really does, so this branch stays honest.
                spec_rows.push(format!("{n} row {r}"));
                assert!(
                    ref_sm.iter().chain(ref_lsm.iter()).all(|v| v.is_nan()),
                    "{n}: row {r}: expected PyTorch to give NaN for a +inf row"
                );
                let (share, log_share) = (1.0 / k as f64, -(k as f64).ln());
                for (j, &v) in xr.iter().enumerate() {
                    let (es, el) =
                        if v == f64::INFINITY { (share, log_share) } else { (0.0, f64::NEG_INFINITY) };
                    assert!(
                        ulps_f64(got_sm[j], es) <= 2,
                        "{n}: row {r} [{j}]: SPEC +inf rule: softmax {:e}, expected {es:e}",
                        got_sm[j]
                    );
                    assert!(
                        ulps_f64(got_lsm[j], el) <= 2,
                        "{n}: row {r} [{j}]: SPEC +inf rule: log_softmax {:e}, expected {el:e}",
                        got_lsm[j]
                    );
                }
            } else {
                let r_sm = ref_sm.to_owned().into_dyn();
                let r_lsm = ref_lsm.to_owned().into_dyn();
                compare(
                    n,
                    &format!("softmax row {r}"),
                    &got_sm.to_owned().into_dyn(),
                    &r_sm,
                    SPECIAL_REL,
                    SPECIAL_ABS,
                );
                compare(
                    n,
                    &format!("log_softmax row {r}"),
                    &got_lsm.to_owned().into_dyn(),
                    &r_lsm,
                    SPECIAL_REL,
                    SPECIAL_ABS,
                );
            }
        }

        // The same in f32, where the inputs are representable (the ±f64::MAX row is not): the f32
        // result is the f64 result rounded (within an f32 ulp), NaN and infinities identical.
        let representable = x.iter().all(|&v| !v.is_finite() || f64::from(v as f32) == v);
        if representable {
            let x32 = to_f32(&x);
            let sm32 =
                softmax::softmax(&x32, &o).unwrap_or_else(|e| panic!("{n}: softmax (f32) failed: {e}"));
            let lsm32 =
                softmax::log_softmax(&x32, &o).unwrap_or_else(|e| panic!("{n}: log_softmax (f32): {e}"));
            compare(
                n,
                "softmax (f32 vs f64)",
                &widen(&sm32),
                &sm.mapv(|v| f64::from(v as f32)),
                2.4e-7,
                1e-44,
            );
            compare(
                n,
                "log_softmax (f32 vs f64)",
                &widen(&lsm32),
                &lsm.mapv(|v| f64::from(v as f32)),
                2.4e-7,
                1e-44,
            );
        }

        // A row with nothing finite under `MaskedRows::Zeros`: softmax 0, log_softmax −inf, while
        // the default policy (checked above) gives PyTorch's NaN.
        let zeros = Options::new().masked_rows(MaskedRows::Zeros);
        let sm_z =
            softmax::softmax(&x, &zeros).unwrap_or_else(|e| panic!("{n}: softmax (Zeros) failed: {e}"));
        let lsm_z =
            softmax::log_softmax(&x, &zeros).unwrap_or_else(|e| panic!("{n}: log_softmax (Zeros): {e}"));
        for (r, xr) in x.lanes(last).into_iter().enumerate() {
            if !xr.is_empty() && xr.iter().all(|&v| v == f64::NEG_INFINITY) {
                let s = sm_z.lanes(last).into_iter().nth(r).unwrap();
                let l = lsm_z.lanes(last).into_iter().nth(r).unwrap();
                assert!(s.iter().all(|&v| v == 0.0), "{n}: row {r}: MaskedRows::Zeros softmax {s}");
                assert!(
                    l.iter().all(|&v| v == f64::NEG_INFINITY),
                    "{n}: row {r}: MaskedRows::Zeros log_softmax {l}"
                );
            }
        }
    });
    assert_eq!(
        spec_rows,
        ["one_pos_inf row 0", "two_pos_inf row 0", "pos_inf_and_neg_inf row 0"],
        "softmax_special.json: the rows where SPEC.md differs from PyTorch"
    );
}
