//! `softmax predict`: the classes a saved model gives rows of features, with their top-k
//! probabilities at a calibration temperature.
//!
//! Rows come as values on the command line (one row), a `.npy` file (one row, or one per row of a
//! matrix), a text/CSV file or standard input (streamed: a row typed is answered at once). Each
//! row gives one line: the predicted class and its probability, then the next most probable
//! classes with theirs, `class probability` pairs separated by three spaces.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use ndarray::{Array2, ArrayView2, Ix1, Ix2};

use softmax::nn::Softmax;

use crate::args::parse_temperature;
use crate::error::CliError;
use crate::io::{Opened, Source, float_kind};
use crate::model::Model;
use crate::train::report::probability;

/// Rows answered together when reading text (fewer when input pauses).
const BATCH_ROWS: usize = 1024;

/// Arguments of `softmax predict`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model file written by `softmax train --save`
    #[arg(long, short, value_name = "FILE")]
    model: PathBuf,
    /// The features of one sample, e.g. `0 3 16 …` or `0,3,16,…` (as many as the model takes).
    /// Without values, rows are read from --input or standard input
    #[arg(value_name = "VALUES", allow_negative_numbers = true, conflicts_with = "input")]
    values: Vec<String>,
    /// Read rows from FILE: `.npy` (a row, or a matrix of rows) or text (`.csv`, `.tsv`, …: one
    /// sample per line, values separated by commas, spaces or tabs). `-` is standard input
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// How many classes to list per row, most probable first
    #[arg(long, short = 'k', default_value_t = 3, value_name = "K")]
    top_k: usize,
    /// Calibration temperature: probabilities are softmax(logits / T); the predicted class does
    /// not change, only how sure the model says it is (T > 1 softens overconfident models)
    #[arg(short, long, value_name = "T", default_value_t = 1.0, value_parser = parse_temperature)]
    temperature: f64,
}

/// Runs `softmax predict`.
pub fn run(args: Args) -> Result<(), CliError> {
    if args.top_k == 0 {
        return Err(CliError::usage("--top-k must be at least 1, got 0"));
    }
    let (mut model, _) = Model::load(&args.model)?;
    let source = Source::main_input(args.values.clone(), args.input.clone());
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut predictor = Predictor { model: &mut model, args: &args, rows_done: 0 };
    match Opened::open(&source)? {
        Opened::Text { mut rows, .. } => {
            let name = rows.name().to_string();
            while let Some(batch) = rows.next_batch(&float_kind::<f64>(), BATCH_ROWS)? {
                predictor.write(batch.view(), &name, &mut out)?;
                if rows.is_idle() {
                    out.flush().map_err(|e| CliError::from_io("standard output", &e))?;
                }
            }
        }
        opened => {
            let loaded = opened.load_floats::<f64>()?;
            let rows = as_rows(loaded.array, &loaded.name)?;
            predictor.write(rows.view(), &loaded.name, &mut out)?;
        }
    }
    out.flush().map_err(|e| CliError::from_io("standard output", &e))
}

/// A 1-D array is one row; a 2-D array is rows.
fn as_rows(array: ndarray::ArrayD<f64>, name: &str) -> Result<Array2<f64>, CliError> {
    match array.ndim() {
        1 => {
            let row =
                array.into_dimensionality::<Ix1>().map_err(|e| CliError::data(format!("{name}: {e}")))?;
            let n = row.len();
            Ok(row.into_shape_with_order((1, n)).map_err(|e| CliError::data(format!("{name}: {e}")))?)
        }
        2 => array.into_dimensionality::<Ix2>().map_err(|e| CliError::data(format!("{name}: {e}"))),
        _ => Err(CliError::data(format!(
            "{name}: an array of shape {:?}; predict takes one row (1-D) or rows of features (2-D)",
            array.shape()
        ))),
    }
}

struct Predictor<'a> {
    model: &'a mut Model,
    args: &'a Args,
    rows_done: usize,
}

impl Predictor<'_> {
    /// Checks `rows`, predicts them and writes one line each.
    fn write(&mut self, rows: ArrayView2<'_, f64>, name: &str, out: &mut impl Write) -> Result<(), CliError> {
        if rows.ncols() != self.model.features() {
            return Err(CliError::data(format!(
                "{name}: rows of {} values, but the model takes {} features",
                rows.ncols(),
                self.model.features()
            )));
        }
        if let Some(((r, c), v)) = rows.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(CliError::data(format!(
                "{name}: row {}, feature {}: {v} is not a finite number",
                self.rows_done + r + 1,
                c + 1
            )));
        }
        let logits = self.model.logits(rows)?;
        if let Some(r) = logits.rows().into_iter().position(|l| l.iter().any(|v| !v.is_finite())) {
            return Err(CliError::data(format!(
                "{name}: row {}: the model's logits overflow for these features (far outside the \
                 training data's range)",
                self.rows_done + r + 1
            )));
        }
        let probabilities = Softmax::<f64>::with_options(-1, self.args.temperature)?.forward(&logits)?;
        let k = self.args.top_k.min(self.model.classes());
        let mut text = String::new();
        for p in probabilities.rows() {
            let p = p.to_vec();
            let mut order: Vec<usize> = (0..p.len()).collect();
            // Most probable first; among equals the lower class, as the training report counts.
            order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
            let pairs: Vec<String> =
                order[..k].iter().map(|&c| format!("{c} {}", probability(p[c]))).collect();
            text.push_str(&pairs.join("   "));
            text.push('\n');
        }
        self.rows_done += rows.nrows();
        out.write_all(text.as_bytes()).map_err(|e| CliError::from_io("standard output", &e))
    }
}
