//! What `softmax train` prints at the end: accuracy and loss on each part, the confusion matrix
//! and the most confident mistakes (drawn, when the samples are small images).

use std::fmt::Write as _;

use ndarray::{Array2, ArrayView2, Axis};
use softmax::{LossOptions, Target};

use super::dataset::Dataset;
use crate::error::CliError;
use crate::model::Model;

/// A model's predictions on some samples, against their labels.
pub struct Evaluation {
    /// The samples' indices in the data set.
    pub samples: Vec<usize>,
    /// Their labels.
    pub labels: Vec<usize>,
    /// Class probabilities, one row per sample.
    pub probabilities: Array2<f64>,
    /// The most probable class of each sample (the lowest index among ties).
    pub predicted: Vec<usize>,
    /// The mean cross-entropy (without label smoothing).
    pub loss: f64,
}

impl Evaluation {
    /// Runs `model` on the samples `indices` of `data`.
    pub fn new(model: &mut Model, data: &Dataset, indices: &[usize]) -> Result<Self, CliError> {
        let x = data.features.select(Axis(0), indices);
        let labels: Vec<usize> = indices.iter().map(|&i| data.labels[i]).collect();
        let logits = model.logits(x.view())?;
        let classes: ndarray::Array1<i64> = labels.iter().map(|&l| l as i64).collect();
        let loss = if indices.is_empty() {
            f64::NAN
        } else {
            softmax::cross_entropy(&logits, Target::classes(classes.view()), &LossOptions::new())?[[]]
        };
        let probabilities = softmax::softmax(&logits, &softmax::Options::new())?;
        let predicted =
            probabilities.rows().into_iter().map(|p| argmax(p.as_slice().unwrap_or(&[]))).collect();
        Ok(Evaluation { samples: indices.to_vec(), labels, probabilities, predicted, loss })
    }

    /// The number of correct predictions.
    pub fn correct(&self) -> usize {
        self.labels.iter().zip(&self.predicted).filter(|(l, p)| l == p).count()
    }

    /// The fraction of correct predictions.
    pub fn accuracy(&self) -> f64 {
        self.correct() as f64 / self.labels.len().max(1) as f64
    }
}

/// The index of the largest value; the first among equals.
pub fn argmax(values: &[f64]) -> usize {
    values.iter().enumerate().fold(0, |best, (i, &v)| if v > values[best] { i } else { best })
}

/// One line per part: accuracy, correct count, loss.
pub fn accuracy_table(parts: &[(&str, &Evaluation)]) -> String {
    let mut out = String::from("           accuracy      correct     loss\n");
    for (name, e) in parts {
        let count = format!("{}/{}", e.correct(), e.labels.len());
        let _ = writeln!(out, "{name:<9} {:>9.4} {count:>12} {:>8.4}", e.accuracy(), e.loss);
    }
    out
}

/// Counts of (true class, predicted class), with `.` for zero so the diagonal stands out.
pub fn confusion_matrix(e: &Evaluation, classes: usize) -> String {
    let mut counts = vec![vec![0usize; classes]; classes];
    for (&t, &p) in e.labels.iter().zip(&e.predicted) {
        counts[t][p] += 1;
    }
    let width =
        counts.iter().flatten().max().map_or(1, |m| m.to_string().len()).max(classes.to_string().len()) + 1;
    let mut out = format!("{:>9}", "true\\pred");
    (0..classes).for_each(|c| _ = write!(out, "{c:>width$}"));
    out.push('\n');
    for (t, row) in counts.iter().enumerate() {
        let _ = write!(out, "{t:>9}");
        for &n in row {
            let cell = if n == 0 { ".".to_string() } else { n.to_string() };
            let _ = write!(out, "{cell:>width$}");
        }
        out.push('\n');
    }
    out
}

/// The `count` wrong predictions made with the highest probability (ties: the earlier sample).
pub fn confident_mistakes(e: &Evaluation, count: usize) -> Vec<usize> {
    let mut wrong: Vec<usize> = (0..e.labels.len()).filter(|&i| e.labels[i] != e.predicted[i]).collect();
    let confidence = |i: usize| e.probabilities[[i, e.predicted[i]]];
    wrong.sort_by(|&a, &b| confidence(b).total_cmp(&confidence(a)).then(a.cmp(&b)));
    wrong.truncate(count);
    wrong
}

/// A table of the mistakes `rows` (positions in `e`), and their pictures when the samples are
/// images of at most 16 columns (each pixel two characters wide, as terminal cells are tall).
pub fn mistakes_table(e: &Evaluation, rows: &[usize], data: &Dataset) -> String {
    let mut out = String::from("  sample   true  predicted  p(predicted)   p(true)\n");
    for &i in rows {
        let (t, p) = (e.labels[i], e.predicted[i]);
        let _ = writeln!(
            out,
            "{:>8} {t:>6} {p:>10} {:>13} {:>9}",
            e.samples[i],
            probability(e.probabilities[[i, p]]),
            probability(e.probabilities[[i, t]])
        );
    }
    if let Some((height, width)) = data.image.filter(|&(_, w)| w <= 16)
        && !rows.is_empty()
    {
        out.push('\n');
        for group in rows.chunks(4) {
            let pictures: Vec<ArrayView2<'_, f64>> = group
                .iter()
                .filter_map(|&i| data.features.row(e.samples[i]).into_shape_with_order((height, width)).ok())
                .collect();
            let captions: Vec<String> = group
                .iter()
                .map(|&i| format!("#{} {}→{}", e.samples[i], e.labels[i], e.predicted[i]))
                .collect();
            let cell = (2 * width).max(captions.iter().map(|c| c.chars().count()).max().unwrap_or(0)) + 2;
            for caption in &captions {
                let _ = write!(out, " {caption:<cell$}");
            }
            out.truncate(out.trim_end_matches(' ').len());
            out.push('\n');
            for r in 0..height {
                for picture in &pictures {
                    let line: String =
                        picture.row(r).iter().flat_map(|&v| [shade(v / data.pixel_max); 2]).collect();
                    let _ = write!(out, " {line:<cell$}");
                }
                out.truncate(out.trim_end_matches(' ').len());
                out.push('\n');
            }
            out.push('\n');
        }
        out.pop();
    }
    out
}

/// Four decimals, or two significant digits below 0.0001 (where four decimals would say 0).
pub fn probability(p: f64) -> String {
    if p > 0.0 && p < 5e-5 { format!("{p:.1e}") } else { format!("{p:.4}") }
}

/// A character as dark as `level` in `[0, 1]`.
fn shade(level: f64) -> char {
    const RAMP: [char; 5] = [' ', '░', '▒', '▓', '█'];
    RAMP[((level.clamp(0.0, 1.0) * 4.0).round()) as usize]
}
