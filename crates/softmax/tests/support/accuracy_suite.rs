//! The accuracy suite shared by `tests/accuracy.rs` (which asserts the SPEC bounds) and
//! `examples/accuracy.rs` (which prints the report): our results against the arbitrary-precision
//! oracle, in ulp, per operation, dtype and family of inputs.

use std::collections::BTreeMap;

use half::{bf16, f16};
use ndarray::{Array1, Array3, ArrayD, Axis, IxDyn};
use softmax::{Element, LossOptions, Options, Reduction, Target};
use softmax_oracle::{self as oracle, Exact};

use super::common::Rng;

/// An element type with its ulp measure and its SPEC bound for the forward operations.
pub trait Measured: Element {
    /// The smallest positive normal value: outputs below it are not covered by the bound.
    fn min_positive() -> f64;
    fn ulp_error(exact: &Exact, got: Self) -> f64;
    /// The spacing of the type's values at `|v|` (the smallest subnormal at 0).
    fn ulp(v: f64) -> f64 {
        let (min_exp, digits) = Self::exponent_range();
        let e = if v == 0.0 { min_exp } else { (v.abs().log2().floor() as i32).max(min_exp) };
        2f64.powi(e - digits)
    }
    /// The smallest normal exponent and the number of stored significand bits.
    fn exponent_range() -> (i32, i32);
}

impl Measured for f64 {
    fn min_positive() -> f64 {
        f64::MIN_POSITIVE
    }
    fn ulp_error(exact: &Exact, got: Self) -> f64 {
        exact.ulp_error_f64(got)
    }
    fn exponent_range() -> (i32, i32) {
        (-1022, 52)
    }
}
impl Measured for f32 {
    fn min_positive() -> f64 {
        f64::from(f32::MIN_POSITIVE)
    }
    fn ulp_error(exact: &Exact, got: Self) -> f64 {
        exact.ulp_error_f32(got)
    }
    fn exponent_range() -> (i32, i32) {
        (-126, 23)
    }
}
impl Measured for f16 {
    fn min_positive() -> f64 {
        f16::MIN_POSITIVE.to_f64()
    }
    fn ulp_error(exact: &Exact, got: Self) -> f64 {
        exact.ulp_error_f16(got)
    }
    fn exponent_range() -> (i32, i32) {
        (-14, 10)
    }
}
impl Measured for bf16 {
    fn min_positive() -> f64 {
        bf16::MIN_POSITIVE.to_f64()
    }
    fn ulp_error(exact: &Exact, got: Self) -> f64 {
        exact.ulp_error_bf16(got)
    }
    fn exponent_range() -> (i32, i32) {
        (-126, 7)
    }
}

/// The largest error seen for one (operation, dtype, family) and where.
#[derive(Clone, Debug)]
pub struct Worst {
    pub max_ulp: f64,
    pub outputs: usize,
    pub example: String,
    /// Outputs whose exact value overflows the dtype and which must be ±inf: how many were not.
    pub overflow_misses: usize,
}

/// The report: keyed by (operation, dtype, family).
#[derive(Default, Debug)]
pub struct Report {
    pub rows: BTreeMap<(String, String, String), Worst>,
}

impl Report {
    fn record<T: Measured>(
        &mut self,
        op: &str,
        family: &str,
        exact: &Exact,
        got: T,
        context: impl Fn() -> String,
    ) {
        self.record_scaled(op, family, exact, got, None, context)
    }

    /// As `record`, but with the error measured in ulp of `scale` (when given) instead of ulp of
    /// the exact value.
    fn record_scaled<T: Measured>(
        &mut self,
        op: &str,
        family: &str,
        exact: &Exact,
        got: T,
        scale: Option<f64>,
        context: impl Fn() -> String,
    ) {
        let entry = self
            .rows
            .entry((op.to_string(), T::NAME.to_string(), family.to_string()))
            .or_insert(Worst { max_ulp: 0.0, outputs: 0, example: String::new(), overflow_misses: 0 });
        let exact_f64 = exact.to_f64();
        if T::from_f64(exact_f64).to_f64().is_infinite() && exact_f64.abs() > 1.0 {
            // The exact value overflows the dtype: the correctly rounded result is ±inf.
            if got.to_f64() != T::from_f64(exact_f64).to_f64() {
                entry.overflow_misses += 1;
            }
            return;
        }
        if exact_f64.abs() < T::min_positive() {
            return;
        }
        entry.outputs += 1;
        let mut err = T::ulp_error(exact, got);
        if let Some(scale) = scale {
            err *= T::ulp(exact_f64) / T::ulp(scale);
        }
        if err > entry.max_ulp || err.is_nan() {
            entry.max_ulp = if err.is_nan() { f64::INFINITY } else { err };
            entry.example = format!("{} (got {:?}, exact {:e})", context(), got, exact_f64);
        }
    }

    /// Records an error already measured (in whatever unit the operation's name says).
    fn record_error<T: Measured>(&mut self, op: &str, family: &str, err: f64, context: impl Fn() -> String) {
        let entry = self
            .rows
            .entry((op.to_string(), T::NAME.to_string(), family.to_string()))
            .or_insert(Worst { max_ulp: 0.0, outputs: 0, example: String::new(), overflow_misses: 0 });
        entry.outputs += 1;
        if err > entry.max_ulp || err.is_nan() {
            entry.max_ulp = if err.is_nan() { f64::INFINITY } else { err };
            entry.example = context();
        }
    }

    /// Every entry whose error exceeds `bound(op, dtype)`.
    pub fn violations(&self, bound: impl Fn(&str, &str) -> f64) -> Vec<String> {
        self.rows
            .iter()
            .filter(|((op, dtype, _), w)| w.max_ulp > bound(op, dtype) || w.overflow_misses > 0)
            .map(|((op, dtype, family), w)| {
                format!(
                    "{op} {dtype} {family}: {:.3} ulp (bound {}), {} overflow misses, worst at {}",
                    w.max_ulp,
                    bound(op, dtype),
                    w.overflow_misses,
                    w.example
                )
            })
            .collect()
    }

    /// The maximum error per (operation, dtype) over all families.
    pub fn summary(&self) -> BTreeMap<(String, String), (f64, usize)> {
        let mut out: BTreeMap<(String, String), (f64, usize)> = BTreeMap::new();
        for ((op, dtype, _), w) in &self.rows {
            let e = out.entry((op.clone(), dtype.clone())).or_insert((0.0, 0));
            e.0 = e.0.max(w.max_ulp);
            e.1 += w.outputs;
        }
        out
    }
}

/// How much of the suite to run.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    /// Row lengths 0..=max_len for the short-row sweep.
    pub max_len: usize,
    /// Lengths of the long rows.
    pub long_rows: &'static [usize],
}

pub const SCALES: [f64; 4] = [1.0, 10.0, 100.0, 300.0];
pub const TEMPERATURES: [f64; 4] = [0.05, 0.5, 1.0, 3.0];
pub const OFFSETS: [f64; 3] = [0.0, 100.0, -1000.0];

/// A row of `len` values `N(0,1)·scale + offset`, rounded to `T`.
fn make_row<T: Element>(rng: &mut Rng, len: usize, scale: f64, offset: f64) -> Vec<T> {
    (0..len).map(|_| T::from_f64(rng.normal() * scale + offset)).collect()
}

fn widen<T: Element>(x: &[T]) -> Vec<f64> {
    x.iter().map(|v| v.to_f64()).collect()
}

/// Softmax, log-softmax and logsumexp of one row (along the last axis of a 1-D array).
pub fn check_row<T: Measured>(report: &mut Report, family: &str, x: &[T], tau: f64) {
    check_row_with(report, family, x, tau, false)
}

/// As `check_row`; with `cancelling`, logsumexp is measured in ulp of `max |x/τ|` (the size of the
/// terms that cancel) as well as in ulp of the result.
fn check_row_with<T: Measured>(report: &mut Report, family: &str, x: &[T], tau: f64, cancelling: bool) {
    let o = Options::new().temperature(tau);
    let xa = Array1::from(x.to_vec());
    let wide = widen(x);
    let ctx = |what: &str| format!("{what}, len {}, τ {tau}", x.len());
    let y = softmax::softmax(&xa, &o).unwrap();
    for (i, e) in oracle::softmax(&wide, tau).iter().enumerate() {
        report.record("softmax", family, e, y[i], || ctx(&format!("index {i}")));
    }
    let ly = softmax::log_softmax(&xa, &o).unwrap();
    for (i, e) in oracle::log_softmax(&wide, tau).iter().enumerate() {
        report.record("log_softmax", family, e, ly[i], || ctx(&format!("index {i}")));
    }
    let lse = softmax::logsumexp(&xa, &o).unwrap()[[]];
    match oracle::logsumexp(&wide, tau) {
        Some(e) if cancelling => {
            let m = wide.iter().fold(0.0f64, |a, &b| a.max((b / tau).abs()));
            report.record_scaled("logsumexp, ulp of max|x|", family, &e, lse, Some(m), || ctx("row"));
            report.record("logsumexp, ulp of result", family, &e, lse, || ctx("row"));
        }
        Some(e) => report.record("logsumexp", family, &e, lse, || ctx("row")),
        None => assert_eq!(lse.to_f64(), f64::NEG_INFINITY, "logsumexp of an empty row"),
    }
}

/// Sigmoid and log-sigmoid of every element of a row.
fn check_sigmoid<T: Measured>(report: &mut Report, family: &str, x: &[T], tau: f64) {
    let o = Options::new().temperature(tau);
    let xa = Array1::from(x.to_vec());
    let y = softmax::sigmoid(&xa, &o).unwrap();
    let ly = softmax::log_sigmoid(&xa, &o).unwrap();
    for (i, v) in x.iter().enumerate() {
        // The oracle's sigmoid takes x/τ exactly: only τ = 1 or a power of two keep it exact.
        let q = v.to_f64() / tau;
        if q * tau != v.to_f64() {
            continue;
        }
        report.record("sigmoid", family, &oracle::sigmoid(q), y[i], || format!("x {v:?}, τ {tau}"));
        report.record("log_sigmoid", family, &oracle::log_sigmoid(q), ly[i], || format!("x {v:?}, τ {tau}"));
    }
}

/// Every axis of a 3-D input, through a non-contiguous (sliced, transposed) view.
fn check_axes<T: Measured>(report: &mut Report, rng: &mut Rng, tau: f64) {
    let big = Array3::from_shape_simple_fn((7, 9, 11), || T::from_f64(rng.normal() * 30.0));
    let mut view = big.slice(ndarray::s![..;2, 1.., ..;-1]);
    view.swap_axes(0, 2);
    for axis in 0..3 {
        let o = Options::new().axis(axis as isize).temperature(tau);
        let y = softmax::softmax(&view, &o).unwrap();
        let ly = softmax::log_softmax(&view, &o).unwrap();
        let lse = softmax::logsumexp(&view, &o).unwrap();
        for (lane_index, ((x_lane, y_lane), ly_lane)) in
            view.lanes(Axis(axis)).into_iter().zip(y.lanes(Axis(axis))).zip(ly.lanes(Axis(axis))).enumerate()
        {
            let wide: Vec<f64> = x_lane.iter().map(|v| v.to_f64()).collect();
            let ctx = || format!("3-D axis {axis}, lane {lane_index}, τ {tau}");
            for (e, &g) in oracle::softmax(&wide, tau).iter().zip(y_lane) {
                report.record("softmax", "3-D strided, every axis", e, g, ctx);
            }
            for (e, &g) in oracle::log_softmax(&wide, tau).iter().zip(ly_lane) {
                report.record("log_softmax", "3-D strided, every axis", e, g, ctx);
            }
            let exact = oracle::logsumexp(&wide, tau).expect("non-empty lane");
            report.record(
                "logsumexp",
                "3-D strided, every axis",
                &exact,
                lse.iter().nth(lane_index).copied().unwrap(),
                ctx,
            );
        }
    }
}

/// Per-sample cross-entropy (class indices with weights and label smoothing, and probability
/// targets) and binary cross-entropy with logits, against the oracle.
fn check_losses<T: Measured>(report: &mut Report, rng: &mut Rng, scale: f64) {
    let (n, k) = (16, 7);
    let logits: Vec<T> = make_row(rng, n * k, scale, 0.0);
    let logits_nd = ArrayD::from_shape_vec(IxDyn(&[n, k]), logits.clone()).unwrap();
    let weight: Vec<T> = (0..k).map(|j| T::from_f64(0.5 + j as f64 * 0.25)).collect();
    let weight_nd = Array1::from(weight.clone());
    let classes: Vec<i64> = (0..n).map(|i| ((i * 5 + 3) % k) as i64).collect();
    let classes_nd = ArrayD::from_shape_vec(IxDyn(&[n]), classes.clone()).unwrap();
    let eps = 0.125; // a power of two: the coefficients below are exact
    let opts = LossOptions::new().weight(weight_nd.view()).label_smoothing(eps).reduction(Reduction::None);
    let loss = softmax::cross_entropy(&logits_nd, Target::Classes(classes_nd.view()), &opts).unwrap();
    let probs: Vec<T> = (0..n * k).map(|_| T::from_f64(rng.unit())).collect();
    let probs_nd = ArrayD::from_shape_vec(IxDyn(&[n, k]), probs.clone()).unwrap();
    let plain = LossOptions::new().reduction(Reduction::None);
    let loss_p = softmax::cross_entropy(&logits_nd, Target::Probs(probs_nd.view()), &plain).unwrap();
    for i in 0..n {
        let row = widen(&logits[i * k..(i + 1) * k]);
        let ly = oracle::log_softmax(&row, 1.0);
        // −Σ a_j ly_j with a_j = (1 − ε)·w_c·[j = c] + ε/K·w_j, formed exactly from f64 parts.
        let mut exact = Exact::from_f64(0.0);
        let mut exact_p = Exact::from_f64(0.0);
        for j in 0..k {
            let w = Exact::from_f64(weight[j].to_f64());
            let mut a = w.mul(&Exact::from_f64(eps)).div(&Exact::from_f64(k as f64));
            if j as i64 == classes[i] {
                a = a.add(&w.mul(&Exact::from_f64(1.0 - eps)));
            }
            exact = exact.sub(&a.mul(&ly[j]));
            exact_p = exact_p.sub(&Exact::from_f64(probs[i * k + j].to_f64()).mul(&ly[j]));
        }
        report.record("cross_entropy", "per sample, weights + smoothing", &exact, loss[[i]], || {
            format!("sample {i}")
        });
        report.record("cross_entropy", "per sample, probability targets", &exact_p, loss_p[[i]], || {
            format!("sample {i}")
        });
    }
    // BCE with logits: w·(p·t·softplus(−x) + (1 − t)·softplus(x)), t a multiple of 1/8.
    let x: Vec<T> = make_row(rng, 64, scale, 0.0);
    let t: Vec<T> = (0..64).map(|i| T::from_f64((i % 9) as f64 / 8.0)).collect();
    let pw: Vec<T> = (0..64).map(|i| T::from_f64(0.5 + (i % 3) as f64)).collect();
    let x_nd = ArrayD::from_shape_vec(IxDyn(&[64]), x.clone()).unwrap();
    let t_nd = ArrayD::from_shape_vec(IxDyn(&[64]), t.clone()).unwrap();
    let pw_nd = ArrayD::from_shape_vec(IxDyn(&[64]), pw.clone()).unwrap();
    let bce_opts = softmax::BceOptions::new().pos_weight(pw_nd.view()).reduction(Reduction::None);
    let bce = softmax::binary_cross_entropy_with_logits(&x_nd, &t_nd, &bce_opts).unwrap();
    for i in 0..64 {
        let (xi, ti, pi) = (x[i].to_f64(), t[i].to_f64(), pw[i].to_f64());
        let positive = Exact::from_f64(pi).mul(&Exact::from_f64(ti)).mul(&oracle::softplus(-xi));
        let negative = Exact::from_f64(1.0 - ti).mul(&oracle::softplus(xi));
        report.record(
            "bce_with_logits",
            "per element, pos_weight",
            &positive.add(&negative),
            bce[[i]],
            || format!("x {xi}, t {ti}"),
        );
    }
}

/// `ε` of a type: the distance from 1 to the next value.
fn epsilon<T: Measured>() -> f64 {
    T::ulp(1.0)
}

/// The backward passes, norm-wise per row as SPEC.md states them: `‖dx − exact‖₂` in units of
/// `ε‖y‖‖dy‖/τ` (softmax) and `ε(‖dy‖ + ‖p‖·Σ|dy|)/τ` (log-softmax), the exact result computed
/// from the same rounded `y` (or `ly`) and `dy`.
fn check_backward<T: Measured>(report: &mut Report, rng: &mut Rng, len: usize, scale: f64, tau: f64) {
    let family = format!("scale {scale}, τ {tau}");
    let x: Vec<T> = make_row(rng, len, scale, 0.0);
    let dy: Vec<T> = make_row(rng, len, 1.0, 0.0);
    let o = Options::new().temperature(tau);
    let (xa, dya) = (Array1::from(x), Array1::from(dy.clone()));
    let dyw = widen(&dy);
    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    let exact_tau = Exact::from_f64(tau);
    let error_norm = |got: &[T], exact: &[Exact]| {
        let squares: f64 = got
            .iter()
            .zip(exact)
            .map(|(g, e)| {
                let d = Exact::from_f64(g.to_f64()).sub(e).to_f64();
                d * d
            })
            .sum();
        squares.sqrt()
    };

    let y = softmax::softmax(&xa, &o).unwrap();
    let dx = softmax::softmax_backward(&y, &dya, &o).unwrap();
    let yw: Vec<f64> = y.iter().map(|v| v.to_f64()).collect();
    let dot = yw
        .iter()
        .zip(&dyw)
        .fold(Exact::from_f64(0.0), |acc, (&a, &b)| acc.add(&Exact::from_f64(a).mul(&Exact::from_f64(b))));
    let exact: Vec<Exact> = yw
        .iter()
        .zip(&dyw)
        .map(|(&a, &b)| Exact::from_f64(a).mul(&Exact::from_f64(b).sub(&dot)).div(&exact_tau))
        .collect();
    let unit = epsilon::<T>() * norm(&yw) * norm(&dyw) / tau;
    if unit > 0.0 {
        let err = error_norm(dx.as_slice().unwrap(), &exact) / unit;
        report.record_error::<T>("softmax_backward (ε‖y‖‖dy‖/τ)", &family, err, || {
            format!("len {len}, {err:.3}")
        });
    }

    let ly = softmax::log_softmax(&xa, &o).unwrap();
    let dx = softmax::log_softmax_backward(&ly, &dya, &o).unwrap();
    let total = dyw.iter().fold(Exact::from_f64(0.0), |acc, &b| acc.add(&Exact::from_f64(b)));
    let probs: Vec<Exact> = ly.iter().map(|v| Exact::from_f64(v.to_f64()).exp()).collect();
    let exact: Vec<Exact> = probs
        .iter()
        .zip(&dyw)
        .map(|(p, &b)| Exact::from_f64(b).sub(&p.mul(&total)).div(&exact_tau))
        .collect();
    let p_norm = norm(&probs.iter().map(Exact::to_f64).collect::<Vec<_>>());
    let unit = epsilon::<T>() * (norm(&dyw) + p_norm * dyw.iter().map(|v| v.abs()).sum::<f64>()) / tau;
    if unit > 0.0 {
        let err = error_norm(dx.as_slice().unwrap(), &exact) / unit;
        report.record_error::<T>("log_softmax_backward (ε‖…‖/τ)", &family, err, || {
            format!("len {len}, {err:.3}")
        });
    }
}

/// The whole suite for one dtype.
pub fn run_dtype<T: Measured>(report: &mut Report, size: Size, seed: u64) {
    let mut rng = Rng(seed);
    for len in 0..=size.max_len {
        for (s, &scale) in SCALES.iter().enumerate() {
            for (t, &tau) in TEMPERATURES.iter().enumerate() {
                let offset = OFFSETS[(len + s + t) % OFFSETS.len()];
                let x: Vec<T> = make_row(&mut rng, len, scale, offset);
                let family = format!("len 0..={}, scale {scale}", size.max_len);
                check_row(report, &family, &x, tau);
                if offset != 0.0 {
                    check_row(report, &format!("offset {offset:+}"), &x, tau);
                }
                if len <= 16 {
                    let x: Vec<T> = make_row(&mut rng, len, scale, 0.0);
                    check_sigmoid(report, &format!("scale {scale}"), &x, if tau == 0.5 { 0.5 } else { 1.0 });
                }
            }
        }
    }
    // Log-probabilities: their logsumexp is a tiny number next to the maximum (m + ln s nearly
    // cancel), the hardest case for logsumexp's relative accuracy.
    for len in 1..=size.max_len {
        let uniform: Vec<T> = vec![T::from_f64(-(len as f64).ln()); len];
        check_row_with(report, "log-probabilities (cancelling)", &uniform, 1.0, true);
        let x: Vec<f64> = widen(&make_row::<T>(&mut rng, len, 10.0, 0.0));
        let log_probs: Vec<T> =
            oracle::log_softmax(&x, 1.0).iter().map(|e| T::from_f64(e.to_f64())).collect();
        check_row_with(report, "log-probabilities (cancelling)", &log_probs, 1.0, true);
    }
    for &len in size.long_rows {
        let x: Vec<T> = make_row(&mut rng, len, 10.0, 0.0);
        check_row(report, &format!("long row {len}"), &x, 1.0);
    }
    for &tau in &TEMPERATURES {
        check_axes::<T>(report, &mut rng, tau);
        for &scale in &SCALES {
            for len in [1, 2, 3, 7, 16, 33, 70, 1000] {
                check_backward::<T>(report, &mut rng, len, scale, tau);
            }
        }
    }
    for &scale in &SCALES {
        check_losses::<T>(report, &mut rng, scale);
    }
}

/// The whole suite, every dtype.
pub fn run_all(size: Size) -> Report {
    let mut report = Report::default();
    run_dtype::<f64>(&mut report, size, 1);
    run_dtype::<f32>(&mut report, size, 2);
    run_dtype::<f16>(&mut report, size, 3);
    run_dtype::<bf16>(&mut report, size, 4);
    report
}

/// Every operation the suite measures, in the order the report prints them.
pub const OPERATIONS: [&str; 11] = [
    "softmax",
    "log_softmax",
    "logsumexp",
    "logsumexp, ulp of result",
    "logsumexp, ulp of max|x|",
    "sigmoid",
    "log_sigmoid",
    "cross_entropy",
    "bce_with_logits",
    "softmax_backward (ε‖y‖‖dy‖/τ)",
    "log_softmax_backward (ε‖…‖/τ)",
];

/// The dtypes, in the order the report prints them.
pub const DTYPES: [&str; 4] = ["f64", "f32", "f16", "bf16"];

/// The SPEC bound for an operation in a dtype.
///
/// One documented exception: `logsumexp` in `f64` of a row whose `m` and `ln s` nearly cancel
/// (log-probabilities, whose logsumexp is ~1e-17) is bounded in ulp of `max |x/τ|`, not of the
/// tiny result: 2 ulp of the result would need the sum to 2⁻¹¹⁰, beyond double-double.
pub fn bound(op: &str, dtype: &str) -> f64 {
    let half = dtype == "f16" || dtype == "bf16";
    match op {
        "logsumexp, ulp of result" if dtype == "f64" => f64::INFINITY,
        "cross_entropy" | "bce_with_logits" if half => 1.0,
        "cross_entropy" | "bce_with_logits" => 4.0,
        // Backward passes: norm-wise, in units of ε of the dtype (SPEC: 4 ε, and for the half
        // types one rounding of the f32 result).
        _ if op.contains("backward") && half => 1.0,
        _ if op.contains("backward") => 4.0,
        _ if half => 1.0,
        _ => 2.0,
    }
}
