//! The `nn` layers: agreement with the free functions, errors instead of panics, the gradient of a
//! whole two-layer model against finite differences, and a small training run.

#[path = "support/common.rs"]
mod common;

use common::Rng;

use ndarray::{Array1, Array2, ArrayD, Axis, IxDyn, array};
use softmax::nn::{CrossEntropyLoss, Linear, LogSoftmax, Sigmoid, Softmax};
use softmax::{Error, LossOptions, Options, Reduction, Target};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Whether `message` contains `word` as a whole word (so "Softmax" is not found in "LogSoftmax").
fn names(message: &str, word: &str) -> bool {
    message.match_indices(word).any(|(i, _)| {
        let before = message[..i].chars().next_back();
        let after = message[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

fn expect_error<T: std::fmt::Debug>(ctx: &str, result: Result<T, Error>) -> String {
    match result {
        Ok(v) => panic!("{ctx}: expected an error, got Ok({v:?})"),
        Err(e) => e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Softmax, LogSoftmax, Sigmoid
// ---------------------------------------------------------------------------------------------

#[test]
fn normalising_layers_agree_with_the_free_functions() {
    let mut rng = Rng(1);
    let x = rng.array(&[2, 3, 4], -5.0, 5.0);
    let dy = rng.array(&[2, 3, 4], -1.0, 1.0);
    for axis in [-1isize, 0, 1, 2] {
        for tau in [1.0, 0.5] {
            let ctx = format!("axis {axis}, τ = {tau}");
            let o = Options::new().axis(axis).temperature(tau);

            let mut layer = Softmax::<f64>::with_options(axis, tau).unwrap();
            let y = layer.forward(&x).unwrap();
            assert_eq!(y, softmax::softmax(&x, &o).unwrap(), "Softmax forward, {ctx}");
            let dx = layer.backward(&dy).unwrap();
            assert_eq!(dx, softmax::softmax_backward(&y, &dy, &o).unwrap(), "Softmax backward, {ctx}");

            let mut layer = LogSoftmax::<f64>::with_options(axis, tau).unwrap();
            let ly = layer.forward(&x).unwrap();
            assert_eq!(ly, softmax::log_softmax(&x, &o).unwrap(), "LogSoftmax forward, {ctx}");
            let dx = layer.backward(&dy).unwrap();
            assert_eq!(
                dx,
                softmax::log_softmax_backward(&ly, &dy, &o).unwrap(),
                "LogSoftmax backward, {ctx}"
            );

            let mut layer = Sigmoid::<f64>::with_temperature(tau).unwrap();
            let s = layer.forward(&x).unwrap();
            assert_eq!(s, softmax::sigmoid(&x, &o).unwrap(), "Sigmoid forward, {ctx}");
            let dx = layer.backward(&dy).unwrap();
            assert_eq!(dx, softmax::sigmoid_backward(&s, &dy, &o).unwrap(), "Sigmoid backward, {ctx}");
        }
    }
    // The defaults are the last axis at temperature 1, in f32 too; and backward uses the output of
    // the *last* forward pass.
    let x32 = array![[0.5f32, -1.0, 2.0], [3.0, 3.0, -3.0]];
    let other = array![[9.0f32, 0.0, 0.0], [0.0, 0.0, 9.0]];
    let dy32 = array![[1.0f32, 0.0, -1.0], [0.25, 0.5, -2.0]];
    let mut layer = Softmax::<f32>::new();
    layer.forward(&other).unwrap();
    let y = layer.forward(&x32).unwrap();
    assert_eq!(y, softmax::softmax(&x32, &Options::new()).unwrap(), "Softmax::new forward (f32)");
    assert_eq!(
        layer.backward(&dy32).unwrap(),
        softmax::softmax_backward(&y, &dy32, &Options::new()).unwrap(),
        "Softmax::new backward (f32) after two forward passes"
    );
}

#[test]
fn layer_misuse_is_an_error_that_names_the_layer_and_the_shapes() {
    let x = Array2::from_shape_fn((2, 3), |(i, j)| (i * 3 + j) as f64 * 0.5);
    let bad_dy = Array2::<f64>::zeros((2, 4));
    let good_dy = Array2::from_elem((2, 3), 0.5);

    macro_rules! check_layer {
        ($layer:ident) => {{
            let name = stringify!($layer);
            let mut layer = $layer::<f64>::new();
            let msg = expect_error(&format!("{name}.backward before forward"), layer.backward(&good_dy));
            assert!(
                names(&msg, name),
                "{name}: backward before forward: the message does not name the layer: {msg:?}"
            );
            assert!(msg.contains("before forward"), "{name}: backward before forward: {msg:?}");

            layer.forward(&x).unwrap();
            let msg =
                expect_error(&format!("{name}.backward with a (2, 4) gradient"), layer.backward(&bad_dy));
            assert!(
                names(&msg, name),
                "{name}: wrong-shaped dy: the message does not name the layer: {msg:?}"
            );
            assert!(
                msg.contains("[2, 4]") && msg.contains("[2, 3]"),
                "{name}: wrong-shaped dy: the message does not give both shapes: {msg:?}"
            );
            // Another rank is just as much an error.
            let dy3 = ArrayD::<f64>::zeros(IxDyn(&[2, 3, 1]));
            let msg =
                expect_error(&format!("{name}.backward with a (2, 3, 1) gradient"), layer.backward(&dy3));
            assert!(names(&msg, name) && msg.contains("[2, 3, 1]"), "{name}: rank-3 dy: {msg:?}");
            // The failed calls leave the layer usable.
            assert!(layer.backward(&good_dy).is_ok(), "{name}: backward after a failed backward");

            // Bad construction and bad forward inputs are errors too.
            let msg = expect_error(&format!("{name} at temperature 0"), $layer::<f64>::with_options(-1, 0.0));
            assert!(msg.contains("temperature"), "{name}: temperature 0: {msg:?}");
            assert!($layer::<f64>::with_options(-1, f64::NAN).is_err(), "{name}: temperature NaN");
            let mut layer = $layer::<f64>::with_options(5, 1.0).unwrap();
            let msg = expect_error(&format!("{name} forward along axis 5 of a matrix"), layer.forward(&x));
            assert!(msg.contains('5'), "{name}: axis 5: {msg:?}");
        }};
    }
    check_layer!(Softmax);
    check_layer!(LogSoftmax);
    // Sigmoid is element-wise: an axis plays no part, so only the other checks apply.
    {
        let name = "Sigmoid";
        let mut layer = Sigmoid::<f64>::new();
        let msg = expect_error("Sigmoid.backward before forward", layer.backward(&good_dy));
        assert!(names(&msg, name) && msg.contains("before forward"), "{name}: {msg:?}");
        layer.forward(&x).unwrap();
        let msg = expect_error("Sigmoid.backward with a (2, 4) gradient", layer.backward(&bad_dy));
        assert!(names(&msg, name) && msg.contains("[2, 4]") && msg.contains("[2, 3]"), "{name}: {msg:?}");
        assert!(Sigmoid::<f64>::with_temperature(-1.0).is_err(), "{name}: temperature −1");
    }

    // Linear.
    let mut linear = Linear::<f64>::new(3, 2, 0);
    let msg = expect_error("Linear.backward before forward", linear.backward(&Array2::<f64>::zeros((2, 2))));
    assert!(names(&msg, "Linear") && msg.contains("before forward"), "Linear: {msg:?}");
    let msg = expect_error("Linear.forward with 4 features", linear.forward(&Array2::<f64>::zeros((2, 4))));
    assert!(names(&msg, "Linear") && msg.contains("[2, 4]") && msg.contains('3'), "Linear forward: {msg:?}");
    linear.forward(&x).unwrap();
    let msg = expect_error("Linear.backward with a (2, 3) gradient", linear.backward(&good_dy));
    assert!(
        names(&msg, "Linear") && msg.contains("[2, 3]") && msg.contains("[2, 2]"),
        "Linear backward: {msg:?}"
    );
    let msg = expect_error(
        "Linear.backward with a (3, 2) gradient",
        linear.backward(&Array2::<f64>::zeros((3, 2))),
    );
    assert!(
        names(&msg, "Linear") && msg.contains("[3, 2]") && msg.contains("[2, 2]"),
        "Linear backward: {msg:?}"
    );
    let msg =
        expect_error("Linear.backward with a rank-1 gradient", linear.backward(&Array1::<f64>::zeros(4)));
    assert!(names(&msg, "Linear") && msg.contains("[4]"), "Linear backward, rank 1: {msg:?}");
    assert!(linear.backward(&Array2::<f64>::zeros((2, 2))).is_ok(), "Linear.backward after failed calls");
    let msg = expect_error(
        "Linear::from_parameters with a bias of length 3 for 2 outputs",
        Linear::from_parameters(Array2::<f64>::zeros((2, 3)), Array1::zeros(3)),
    );
    assert!(msg.contains('3') && msg.contains('2'), "Linear::from_parameters: {msg:?}");

    // CrossEntropyLoss.
    let loss = CrossEntropyLoss::<f64>::new();
    let msg = expect_error("CrossEntropyLoss.backward before forward", loss.backward());
    assert!(names(&msg, "CrossEntropyLoss") && msg.contains("before forward"), "CrossEntropyLoss: {msg:?}");
    let mut loss = CrossEntropyLoss::<f64>::new();
    let msg = expect_error(
        "CrossEntropyLoss.forward with a class index out of range",
        loss.forward(&x, Target::classes(array![0i64, 3].view())),
    );
    assert!(msg.contains('3') && msg.contains("[1]"), "CrossEntropyLoss, class 3 of 3 at [1]: {msg:?}");
    let msg = expect_error(
        "CrossEntropyLoss.forward with 3 targets for 2 samples",
        loss.forward(&x, Target::classes(array![0i64, 1, 2].view())),
    );
    assert!(msg.contains("[3]") && msg.contains("[2, 3]"), "CrossEntropyLoss, target shape: {msg:?}");
}

// ---------------------------------------------------------------------------------------------
// CrossEntropyLoss
// ---------------------------------------------------------------------------------------------

#[test]
fn cross_entropy_loss_layer_equals_cross_entropy_with_grad() {
    let mut rng = Rng(2);
    let logits = rng.array(&[5, 4, 3], -3.0, 3.0); // classes along axis 1 (PyTorch's default)
    let classes = array![[0i64, 3, -100], [2, 2, 1], [1, 0, 3], [-100, 1, 2], [3, 3, 0]];
    let mut probs = rng.array(&[5, 4, 3], 0.1, 1.0);
    for mut lane in probs.lanes_mut(Axis(1)) {
        let s = lane.sum();
        lane.mapv_inplace(|v| v / s);
    }
    let weight = array![0.5f64, 2.0, 1.0, 1.5];
    for reduction in [Reduction::None, Reduction::Sum, Reduction::Mean] {
        for smoothing in [0.0, 0.2] {
            for use_probs in [false, true] {
                let ctx = format!("{reduction:?}, ε = {smoothing}, probability targets: {use_probs}");
                let target =
                    || if use_probs { Target::probs(probs.view()) } else { Target::classes(classes.view()) };
                let mut layer = CrossEntropyLoss::new()
                    .weight(weight.clone())
                    .label_smoothing(smoothing)
                    .reduction(reduction);
                let loss = layer.forward(&logits, target()).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                let grad = layer.backward().unwrap();
                let opts =
                    LossOptions::new().weight(weight.view()).label_smoothing(smoothing).reduction(reduction);
                let (want_loss, want_grad) =
                    softmax::cross_entropy_with_grad(&logits, target(), &opts).unwrap();
                assert_eq!(loss, want_loss, "{ctx}: loss");
                assert_eq!(grad, want_grad, "{ctx}: gradient");
                assert!(grad.iter().any(|&g| g != 0.0), "{ctx}: the gradient is all zero");
            }
        }
    }
    // Class axis and ignore_index options reach the computation.
    let last = rng.array(&[4, 3, 5], -2.0, 2.0);
    let target = array![[0i64, 4, 2], [1, 1, 3], [2, 0, 0], [4, 3, 1]];
    let mut layer = CrossEntropyLoss::new().class_axis(-1).ignore_index(Some(3));
    let loss = layer.forward(&last, Target::classes(target.view())).unwrap();
    let opts = LossOptions::new().class_axis(-1).ignore_index(Some(3));
    let (want_loss, want_grad) =
        softmax::cross_entropy_with_grad(&last, Target::classes(target.view()), &opts).unwrap();
    assert_eq!(loss, want_loss, "class axis −1, ignore_index 3: loss");
    assert_eq!(layer.backward().unwrap(), want_grad, "class axis −1, ignore_index 3: gradient");
    let default =
        softmax::cross_entropy(&last, Target::classes(target.view()), &LossOptions::new().class_axis(-1))
            .unwrap();
    assert_ne!(loss, default, "ignore_index 3 must change the loss");
}

// ---------------------------------------------------------------------------------------------
// Linear
// ---------------------------------------------------------------------------------------------

/// `|a − b| ≤ 16ε·scale`: products summed over at most 8 terms of a matrix product, in whatever
/// order ndarray's kernel uses, differ from a plain loop by at most n·ε·Σ|terms|.
fn assert_close(ctx: &str, got: f64, want: f64, scale: f64) {
    let bound = 16.0 * f64::EPSILON * scale.max(f64::MIN_POSITIVE);
    assert!((got - want).abs() <= bound, "{ctx}: got {got:e}, expected {want:e} (bound {bound:e})");
}

#[test]
fn linear_forward_and_backward_are_the_matrix_formulas() {
    let mut rng = Rng(3);
    let (n, inputs, outputs) = (5, 4, 3);
    let w = rng.matrix(outputs, inputs, -1.0, 1.0);
    let b: Array1<f64> = (0..outputs).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let x = rng.matrix(n, inputs, -2.0, 2.0);
    let dy = rng.matrix(n, outputs, -1.0, 1.0);
    let mut layer = Linear::from_parameters(w.clone(), b.clone()).unwrap();
    assert_eq!((layer.inputs(), layer.outputs()), (inputs, outputs));
    let y = layer.forward(&x).unwrap();
    assert_eq!(y.dim(), (n, outputs), "forward shape");
    for i in 0..n {
        for o in 0..outputs {
            let want: f64 = b[o] + (0..inputs).map(|k| x[[i, k]] * w[[o, k]]).sum::<f64>();
            let scale = b[o].abs() + (0..inputs).map(|k| (x[[i, k]] * w[[o, k]]).abs()).sum::<f64>();
            assert_close(&format!("y[{i}, {o}] = (x Wᵀ + b)"), y[[i, o]], want, scale);
        }
    }
    let dx = layer.backward(&dy).unwrap();
    assert_eq!(dx.dim(), (n, inputs), "dx shape");
    assert_eq!(layer.weight_grad.dim(), (outputs, inputs), "dW shape");
    assert_eq!(layer.bias_grad.len(), outputs, "db shape");
    for o in 0..outputs {
        for k in 0..inputs {
            let want: f64 = (0..n).map(|i| dy[[i, o]] * x[[i, k]]).sum();
            let scale: f64 = (0..n).map(|i| (dy[[i, o]] * x[[i, k]]).abs()).sum();
            assert_close(&format!("dW[{o}, {k}] = (dyᵀ x)"), layer.weight_grad[[o, k]], want, scale);
        }
        let want: f64 = (0..n).map(|i| dy[[i, o]]).sum();
        let scale: f64 = (0..n).map(|i| dy[[i, o]].abs()).sum();
        assert_close(&format!("db[{o}] = Σ dy"), layer.bias_grad[o], want, scale);
    }
    for i in 0..n {
        for k in 0..inputs {
            let want: f64 = (0..outputs).map(|o| dy[[i, o]] * w[[o, k]]).sum();
            let scale: f64 = (0..outputs).map(|o| (dy[[i, o]] * w[[o, k]]).abs()).sum();
            assert_close(&format!("dx[{i}, {k}] = (dy W)"), dx[[i, k]], want, scale);
        }
    }
    // sgd_step: W −= lr·dW, b −= lr·db.
    let (dw, db) = (layer.weight_grad.clone(), layer.bias_grad.clone());
    layer.sgd_step(0.25);
    for ((&after, &before), &g) in layer.weight.iter().zip(&w).zip(&dw) {
        assert_eq!(after, before - 0.25 * g, "sgd_step on a weight");
    }
    for ((&after, &before), &g) in layer.bias.iter().zip(&b).zip(&db) {
        assert_eq!(after, before - 0.25 * g, "sgd_step on a bias");
    }
}

/// The parameters and input of a two-layer model.
#[derive(Clone)]
struct Model {
    w1: Array2<f64>,
    b1: Array1<f64>,
    w2: Array2<f64>,
    b2: Array1<f64>,
    x: Array2<f64>,
}

const SIGMOID_TAU: f64 = 0.75;

fn loss_layer() -> CrossEntropyLoss<f64> {
    CrossEntropyLoss::new().weight(array![1.0, 0.5, 2.0, 1.25]).label_smoothing(0.1)
}

/// Linear → Sigmoid (τ = 0.75) → Linear → CrossEntropyLoss (weighted, smoothed, mean): the loss.
fn model_loss(m: &Model, target: &Array1<i64>) -> f64 {
    let mut l1 = Linear::from_parameters(m.w1.clone(), m.b1.clone()).unwrap();
    let mut act = Sigmoid::with_temperature(SIGMOID_TAU).unwrap();
    let mut l2 = Linear::from_parameters(m.w2.clone(), m.b2.clone()).unwrap();
    let h = act.forward(&l1.forward(&m.x).unwrap()).unwrap();
    loss_layer().forward(&l2.forward(&h).unwrap(), Target::classes(target.view())).unwrap()[[]]
}

#[test]
fn two_layer_model_gradient_matches_finite_differences() {
    let mut rng = Rng(4);
    let (n, inputs, hidden, classes) = (6, 3, 5, 4);
    let model = Model {
        w1: rng.matrix(hidden, inputs, -1.5, 1.5),
        b1: (0..hidden).map(|_| rng.uniform(-0.5, 0.5)).collect(),
        w2: rng.matrix(classes, hidden, -1.5, 1.5),
        b2: (0..classes).map(|_| rng.uniform(-0.5, 0.5)).collect(),
        x: rng.matrix(n, inputs, -2.0, 2.0),
    };
    let target = array![0i64, 3, 1, 2, -100, 1];

    // The analytic gradient, by the layers' backward passes.
    let mut l1 = Linear::from_parameters(model.w1.clone(), model.b1.clone()).unwrap();
    let mut act = Sigmoid::with_temperature(SIGMOID_TAU).unwrap();
    let mut l2 = Linear::from_parameters(model.w2.clone(), model.b2.clone()).unwrap();
    let mut loss_fn = loss_layer();
    let h = act.forward(&l1.forward(&model.x).unwrap()).unwrap();
    let loss = loss_fn.forward(&l2.forward(&h).unwrap(), Target::classes(target.view())).unwrap()[[]];
    assert_eq!(loss, model_loss(&model, &target), "the model computes the same loss twice");
    let dlogits = loss_fn.backward().unwrap();
    let dh = l2.backward(&dlogits).unwrap();
    let dz = act.backward(&dh).unwrap();
    let dx = l1.backward(&dz).unwrap();

    // Central differences, h = 1e-6·max(1, |θ|): truncation ≲ h²·|∂³L| ≈ 1e-12, rounding
    // ≲ ε·|L|/h ≈ 1e-10; 1e-6·(1 + |g|) is honest and far below any real error.
    let check = |what: &str, analytic: &[f64], param: &dyn Fn(&mut Model) -> &mut [f64]| {
        let count = analytic.len();
        assert_eq!(param(&mut model.clone()).len(), count, "{what}: gradient length");
        for (i, &g) in analytic.iter().enumerate() {
            let mut m = model.clone();
            let v = param(&mut m)[i];
            let step = 1e-6 * v.abs().max(1.0);
            param(&mut m)[i] = v + step;
            let up = model_loss(&m, &target);
            param(&mut m)[i] = v - step;
            let down = model_loss(&m, &target);
            let numeric = (up - down) / ((v + step) - (v - step));
            let bound = 1e-6 * (1.0 + g.abs());
            assert!(
                (numeric - g).abs() <= bound,
                "∂L/∂{what}[{i}]: backward gives {g:e}, finite differences {numeric:e}"
            );
        }
    };
    check("W1", l1.weight_grad.as_slice().unwrap(), &|m| m.w1.as_slice_mut().unwrap());
    check("b1", l1.bias_grad.as_slice().unwrap(), &|m| m.b1.as_slice_mut().unwrap());
    check("W2", l2.weight_grad.as_slice().unwrap(), &|m| m.w2.as_slice_mut().unwrap());
    check("b2", l2.bias_grad.as_slice().unwrap(), &|m| m.b2.as_slice_mut().unwrap());
    check("x", dx.as_slice().unwrap(), &|m| m.x.as_slice_mut().unwrap());
    // The ignored sample (index 4) has no gradient with respect to its input.
    assert!(dx.row(4).iter().all(|&g| g == 0.0), "ignored sample: dx = {}", dx.row(4));
    assert!(dx.row(0).iter().any(|&g| g != 0.0), "sample 0: dx = {}", dx.row(0));
}

#[test]
fn linear_new_is_deterministic_per_seed_and_glorot_uniform() {
    let a = Linear::<f64>::new(7, 5, 42);
    let b = Linear::<f64>::new(7, 5, 42);
    let c = Linear::<f64>::new(7, 5, 43);
    assert_eq!(a.weight, b.weight, "the same seed gives the same weights");
    assert_eq!(a.bias, b.bias, "the same seed gives the same bias");
    assert_eq!(a.weight.dim(), (5, 7), "weight shape (out, in)");
    assert_eq!(a.bias, Array1::<f64>::zeros(5), "the bias starts at zero");
    let same = a.weight.iter().zip(&c.weight).filter(|(p, q)| p == q).count();
    assert_eq!(same, 0, "seeds 42 and 43 share {same} of 35 weights:\n{}\n{}", a.weight, c.weight);
    let f32_layer = Linear::<f32>::new(7, 5, 42);
    assert_eq!(f32_layer.weight, a.weight.mapv(|v| v as f32), "f32 weights are the f64 ones rounded");

    // Glorot uniform: U(−l, l) with l = √(6 / (in + out)).
    let big = Linear::<f64>::new(200, 100, 7);
    let limit = (6.0f64 / 300.0).sqrt();
    let values: Vec<f64> = big.weight.iter().copied().collect();
    assert!(values.iter().all(|v| v.abs() <= limit), "a weight outside ±{limit}");
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let mean_abs = values.iter().map(|v| v.abs()).sum::<f64>() / n;
    let max_abs = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    // For U(−l, l): mean 0 (sd l/√(3n) ≈ 0.0008), mean |w| = l/2 (sd ≈ 0.0006), max |w| ≈ l.
    assert!(mean.abs() < 0.005, "mean weight {mean}");
    assert!((mean_abs - limit / 2.0).abs() < 0.005, "mean |w| = {mean_abs}, expected {}", limit / 2.0);
    assert!(max_abs > 0.99 * limit, "max |w| = {max_abs}, limit {limit}");
}

// ---------------------------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------------------------

/// Three Gaussian blobs in the plane (σ = 0.6, centres 4 apart): linearly separable up to a rare
/// outlier.
fn blobs(per_class: usize, rng: &mut Rng) -> (Array2<f64>, Array1<i64>) {
    let centres = [(0.0, 2.5), (-2.5, -1.5), (2.5, -1.5)];
    let n = 3 * per_class;
    let mut x = Array2::zeros((n, 2));
    let mut y = Array1::zeros(n);
    for i in 0..n {
        // Interleave the classes so that no class sits in one block.
        let c = i % 3;
        x[[i, 0]] = centres[c].0 + 0.6 * rng.normal();
        x[[i, 1]] = centres[c].1 + 0.6 * rng.normal();
        y[i] = c as i64;
    }
    (x, y)
}

fn accuracy(logits: &Array2<f64>, y: &Array1<i64>) -> f64 {
    let correct = logits
        .rows()
        .into_iter()
        .zip(y)
        .filter(|&(row, &c)| {
            let best = row.iter().enumerate().fold(0, |b, (j, &v)| if v > row[b] { j } else { b });
            best as i64 == c
        })
        .count();
    correct as f64 / y.len() as f64
}

#[test]
fn softmax_regression_learns_three_blobs() {
    let mut rng = Rng(5);
    let (x, y) = blobs(50, &mut rng);
    let mut linear = Linear::<f64>::new(2, 3, 11);
    let mut loss_fn = CrossEntropyLoss::new();
    let initial_accuracy = accuracy(&linear.forward(&x).unwrap(), &y);
    let mut losses = Vec::new();
    for _ in 0..300 {
        let logits = linear.forward(&x).unwrap();
        losses.push(loss_fn.forward(&logits, Target::classes(y.view())).unwrap()[[]]);
        linear.backward(&loss_fn.backward().unwrap()).unwrap();
        // The loss is convex and (for these inputs, |x| ≲ 5) L-smooth with L ≲ 10, so full-batch
        // gradient descent with a step of 0.1 decreases it at every step.
        linear.sgd_step(0.1);
    }
    let logits = linear.forward(&x).unwrap();
    let final_loss = loss_fn.forward(&logits, Target::classes(y.view())).unwrap()[[]];
    let final_accuracy = accuracy(&logits, &y);
    for (step, pair) in losses.windows(2).enumerate() {
        assert!(pair[1] <= pair[0], "the loss rose at step {}: {} → {}", step + 1, pair[0], pair[1]);
    }
    assert!(
        final_loss < 0.25 * losses[0],
        "the loss fell only from {} to {final_loss} in 300 steps",
        losses[0]
    );
    assert!(
        final_accuracy >= 0.95,
        "training accuracy {final_accuracy} after 300 steps (from {initial_accuracy}), loss {final_loss}"
    );
}
