//! The whole model's gradient against finite differences, and the model file's round trip and
//! refusals.

use ndarray::{Array2, array};
use softmax::Target;
use softmax::nn::CrossEntropyLoss;

use super::{Model, Standardiser};

/// A small model with a hidden layer and biases moved off zero, so every path carries gradient.
fn small_model(hidden: Option<usize>) -> Model {
    let x = array![[1.0, -2.0, 0.5, 3.0], [0.0, 1.0, -1.0, 2.0], [2.0, 0.5, 0.0, -1.0]];
    let mut model = Model::new(Standardiser::fit(x.view()), hidden, 3, 7);
    for (k, layer) in model.linear_layers_mut().enumerate() {
        layer.bias.indexed_iter_mut().for_each(|(i, b)| *b = 0.1 * (i as f64 + 1.0) - 0.2 * k as f64);
    }
    model
}

fn loss_of(model: &mut Model, z: &Array2<f64>, y: &ndarray::Array1<i64>, smoothing: f64) -> f64 {
    let mut loss = CrossEntropyLoss::new().label_smoothing(smoothing);
    let logits = model.forward(z).unwrap();
    loss.forward(&logits, Target::classes(y.view())).unwrap()[[]]
}

fn check_gradient(hidden: Option<usize>, smoothing: f64) {
    let mut model = small_model(hidden);
    let z =
        array![[0.3, -1.2, 0.8, 0.1], [1.5, 0.2, -0.7, -0.4], [-0.6, 0.9, 0.4, 1.1], [0.0, -0.3, -1.4, 0.6]];
    let y = array![2i64, 0, 1, 2];
    // Analytic: the layers' backward passes, chained by the model.
    let mut loss = CrossEntropyLoss::new().label_smoothing(smoothing);
    let logits = model.forward(&z).unwrap();
    loss.forward(&logits, Target::classes(y.view())).unwrap();
    let dlogits = loss.backward().unwrap().into_dimensionality().unwrap();
    model.backward(&dlogits).unwrap();
    let analytic: Vec<(Array2<f64>, ndarray::Array1<f64>)> =
        model.linear_layers_mut().map(|l| (l.weight_grad.clone(), l.bias_grad.clone())).collect();

    // Numeric: central differences of the loss in every weight and bias.
    let h = 1e-6;
    let mut worst = 0.0f64;
    let mut checked = 0;
    for (layer, (dw, db)) in analytic.iter().enumerate() {
        let count_w = dw.len();
        for p in 0..count_w + db.len() {
            let nudge = |model: &mut Model, delta: f64| {
                let l = model.linear_layers_mut().nth(layer).unwrap();
                if p < count_w {
                    let (r, c) = (p / l.weight.ncols(), p % l.weight.ncols());
                    l.weight[[r, c]] += delta;
                } else {
                    l.bias[p - count_w] += delta;
                }
            };
            nudge(&mut model, h);
            let up = loss_of(&mut model, &z, &y, smoothing);
            nudge(&mut model, -2.0 * h);
            let down = loss_of(&mut model, &z, &y, smoothing);
            nudge(&mut model, h);
            let numeric = (up - down) / (2.0 * h);
            let exact = if p < count_w { dw.as_slice().unwrap()[p] } else { db[p - count_w] };
            let error = (numeric - exact).abs() / (exact.abs() + 1e-3);
            assert!(error < 1e-6, "layer {layer} parameter {p}: analytic {exact} numeric {numeric}");
            worst = worst.max(error);
            checked += 1;
        }
    }
    assert_eq!(checked, model.parameter_count());
    assert!(worst > 0.0, "the check compared nothing");
}

#[test]
fn softmax_regression_gradient_matches_finite_differences() {
    check_gradient(None, 0.0);
}

#[test]
fn hidden_layer_gradient_matches_finite_differences_with_label_smoothing() {
    check_gradient(Some(5), 0.1);
}

/// `model` saved to a file and loaded again.
fn through_a_file(model: &Model, name: &str) -> Model {
    let dir = std::env::temp_dir().join(format!("softmax-model-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.json");
    model.save(&path, None).unwrap();
    let (back, note) = Model::load(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(note.is_none());
    back
}

#[test]
fn a_saved_model_reads_back_bit_for_bit() {
    for hidden in [None, Some(3)] {
        let mut model = small_model(hidden);
        let mut back = through_a_file(&model, &format!("{hidden:?}"));
        let x = array![[0.1, 0.2, 0.3, 0.4], [-3.0, 1e-3, 7.5, 0.0]];
        let (p, q) = (model.logits(x.view()).unwrap(), back.logits(x.view()).unwrap());
        assert_eq!(
            p.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            q.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}

#[test]
fn every_parameter_survives_the_file_bit_for_bit() {
    let mut model = small_model(Some(3));
    // Values whose shortest decimals are long, tiny, huge or subnormal.
    let mut k = 0.0f64;
    for layer in model.linear_layers_mut() {
        for w in layer.weight.iter_mut().chain(layer.bias.iter_mut()) {
            k += 1.0;
            *w = (k * 0.7).sin() * 10f64.powi((k as i32 * 37) % 600 - 300) / 3.0;
        }
    }
    model.standardiser.scale[0] = 5e-324;
    model.standardiser.mean[1] = 0.1 + 0.2;
    let mut back = through_a_file(&model, "bits");
    let bits = |m: &mut Model| {
        let mut all: Vec<u64> =
            m.standardiser.mean.iter().chain(&m.standardiser.scale).map(|v| v.to_bits()).collect();
        for l in m.linear_layers_mut() {
            all.extend(l.weight.iter().chain(&l.bias).map(|v| v.to_bits()));
        }
        all
    };
    assert_eq!(bits(&mut model), bits(&mut back));
}

#[test]
fn corrupt_model_files_are_refused_with_a_reason() {
    let good = small_model(Some(2)).to_json(None).unwrap();
    let why = |text: &str| Model::from_json(text).unwrap_err();
    assert!(why(&good[..good.len() / 2]).contains("EOF while parsing"));
    assert!(why("").contains("EOF"));
    assert!(why(&good.replace("softmax-model", "other")).contains("\"format\" is \"other\""));
    assert!(why(&good.replacen("\"version\": 1", "\"version\": 9", 1)).contains("version 9"));
    assert!(
        why(&good.replacen("\"type\": \"sigmoid\"", "\"type\": \"relu\"", 1))
            .contains("unknown variant `relu`")
    );
    assert!(
        why(&good.replacen("\"classes\": 3", "\"classes\": 4", 1))
            .contains("4 classes but the output layer has 3")
    );
    assert!(why(&good.replacen("\"features\": 4", "\"features\": 5", 1)).contains("5 features but 4"));
    let (model, _) = Model::from_json(&good).unwrap();
    assert_eq!(model.describe(), "one hidden sigmoid layer, 4 → 2 → 3");
}
