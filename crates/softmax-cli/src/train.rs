//! `softmax train`: a classifier from the library's layers, trained by mini-batch SGD with
//! momentum on the built-in digits or the user's data, reported and optionally saved.
//!
//! The run is deterministic: the seed fixes the split, the initial weights and every shuffle, and
//! nothing on standard output depends on time or threads, so the same seed prints (and saves) the
//! same bytes. The progress bar and the elapsed time go to standard error.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ndarray::{Array1, Axis};
use softmax::Target;
use softmax::nn::CrossEntropyLoss;

use crate::error::CliError;
use crate::model::{Model, Standardiser, TrainingNote};

pub mod dataset;
pub mod report;
mod rng;
mod sgd;
mod split;

use dataset::{Dataset, Source};
use report::Evaluation;
use rng::Rng;

/// Independent random streams drawn from the one seed.
const SPLIT_STREAM: u64 = 1;
const SHUFFLE_STREAM: u64 = 2;

/// Arguments of `softmax train`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Training data: a CSV file (the class index 0, 1, … first, then the features; a header line
    /// is skipped) or an MNIST-format IDX images file. Default: the built-in digits
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// The labels file of an IDX images file (default: its name with images-idx3 → labels-idx1)
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// The number of classes; every label must be below it (default: the largest label + 1)
    #[arg(long, value_name = "K")]
    classes: Option<usize>,
    /// One hidden layer of N sigmoid units (default: none, softmax regression)
    #[arg(long, value_name = "N")]
    hidden: Option<usize>,
    /// Passes over the training samples
    #[arg(long, default_value_t = 40, value_name = "N")]
    epochs: usize,
    /// Samples per gradient step
    #[arg(long, default_value_t = 32, value_name = "N")]
    batch_size: usize,
    /// Learning rate
    #[arg(long, default_value_t = 0.05, value_name = "RATE")]
    lr: f64,
    /// Momentum coefficient, in [0, 1)
    #[arg(long, default_value_t = 0.9, value_name = "MU")]
    momentum: f64,
    /// L2 weight decay (on weights, not biases); the default is about scikit-learn's C = 1 for
    /// ~1400 samples
    #[arg(long, default_value_t = 1e-3, value_name = "LAMBDA")]
    weight_decay: f64,
    /// Label smoothing of the cross-entropy, in [0, 1]
    #[arg(long, default_value_t = 0.0, value_name = "EPS")]
    label_smoothing: f64,
    /// Fraction of each class held out for testing, in [0, 1)
    #[arg(long, default_value_t = 0.2, value_name = "FRACTION")]
    test_fraction: f64,
    /// Seed of the split, the initial weights and the shuffles
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Save the trained model as JSON (read by `softmax predict --model`)
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// How many of the most confident mistakes to list
    #[arg(long, default_value_t = 10, value_name = "N")]
    mistakes: usize,
    /// No progress bar or timing on standard error
    #[arg(long, short)]
    quiet: bool,
}

/// The settings of a run, checked.
struct Settings {
    hidden: Option<usize>,
    epochs: usize,
    batch_size: usize,
    lr: f64,
    momentum: f64,
    weight_decay: f64,
    label_smoothing: f64,
    test_fraction: f64,
    seed: u64,
}

impl Settings {
    fn from_args(a: &Args) -> Result<Self, CliError> {
        let positive = |name: &str, v: usize| {
            if v == 0 { Err(CliError::usage(format!("--{name} must be at least 1, got 0"))) } else { Ok(v) }
        };
        let within = |name: &str, v: f64, ok: bool, range: &str| {
            if v.is_finite() && ok {
                Ok(v)
            } else {
                Err(CliError::usage(format!("--{name} {v} is not {range}")))
            }
        };
        Ok(Settings {
            hidden: a.hidden.map(|h| positive("hidden", h)).transpose()?,
            epochs: positive("epochs", a.epochs)?,
            batch_size: positive("batch-size", a.batch_size)?,
            lr: within("lr", a.lr, a.lr > 0.0, "a positive number")?,
            momentum: within("momentum", a.momentum, (0.0..1.0).contains(&a.momentum), "in [0, 1)")?,
            weight_decay: within("weight-decay", a.weight_decay, a.weight_decay >= 0.0, "0 or more")?,
            label_smoothing: within(
                "label-smoothing",
                a.label_smoothing,
                (0.0..=1.0).contains(&a.label_smoothing),
                "in [0, 1]",
            )?,
            test_fraction: within(
                "test-fraction",
                a.test_fraction,
                (0.0..1.0).contains(&a.test_fraction),
                "in [0, 1)",
            )?,
            seed: a.seed,
        })
    }
}

/// Runs `softmax train`.
pub fn run(args: Args) -> Result<(), CliError> {
    let settings = Settings::from_args(&args)?;
    let source = Source { data: args.data.as_deref(), labels: args.labels.as_deref(), classes: args.classes };
    let data = dataset::load(&source)?;
    let split = split::stratified(
        &data.labels,
        data.classes,
        settings.test_fraction,
        &mut Rng::new(settings.seed, SPLIT_STREAM),
    );
    if split.train.is_empty() {
        return Err(CliError::data("no samples left to train on; lower --test-fraction"));
    }

    let progress = if args.quiet { ProgressBar::hidden() } else { progress_bar(settings.epochs) };
    let started = Instant::now();
    let mut model = fit(&data, &split.train, &settings, &progress)?;
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    if !args.quiet {
        crate::io::eprintln_quiet(&format!("trained in {:.2} s", elapsed.as_secs_f64()));
    }

    let train = Evaluation::new(&mut model, &data, &split.train)?;
    let test = Evaluation::new(&mut model, &data, &split.test)?;
    let mut report = summary(&data, &split, &model, &settings, &train, &test, args.mistakes);

    if let Some(path) = &args.save {
        let note = TrainingNote {
            data: data.description.replace('\n', " "),
            seed: settings.seed,
            epochs: settings.epochs,
            batch_size: settings.batch_size,
            learning_rate: settings.lr,
            momentum: settings.momentum,
            weight_decay: settings.weight_decay,
            label_smoothing: settings.label_smoothing,
            test_fraction: settings.test_fraction,
            train_accuracy: train.accuracy(),
            test_accuracy: (!split.test.is_empty()).then(|| test.accuracy()),
        };
        model.save(path, Some(&note))?;
        report += &format!("\nsaved the model to {}\n", path.display());
    }
    std::io::stdout().write_all(report.as_bytes()).map_err(|e| CliError::from_io("standard output", &e))
}

fn progress_bar(epochs: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(epochs as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("epoch {pos:>3}/{len} [{bar:30}] {msg} ({elapsed})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Trains a fresh model on the samples `train` of `data`.
fn fit(data: &Dataset, train: &[usize], s: &Settings, progress: &ProgressBar) -> Result<Model, CliError> {
    let x = data.features.select(Axis(0), train);
    let standardiser = Standardiser::fit(x.view());
    let z = standardiser.apply(x.view());
    let y: Vec<i64> = train.iter().map(|&i| data.labels[i] as i64).collect();
    let mut model = Model::new(standardiser, s.hidden, data.classes, s.seed);
    let mut optimiser = sgd::Momentum::new(&mut model, s.lr, s.momentum, s.weight_decay);
    let mut loss_fn = CrossEntropyLoss::new().label_smoothing(s.label_smoothing);
    let mut rng = Rng::new(s.seed, SHUFFLE_STREAM);
    let mut order: Vec<usize> = (0..train.len()).collect();

    for epoch in 1..=s.epochs {
        rng.shuffle(&mut order);
        let (mut loss_sum, mut correct) = (0.0, 0usize);
        for batch in order.chunks(s.batch_size) {
            let zb = z.select(Axis(0), batch);
            let yb: Array1<i64> = batch.iter().map(|&i| y[i]).collect();
            let logits = model.forward(&zb)?;
            let loss = loss_fn.forward(&logits, Target::classes(yb.view()))?[[]];
            let dlogits =
                loss_fn.backward()?.into_dimensionality().map_err(|e| CliError::data(e.to_string()))?;
            model.backward(&dlogits)?;
            optimiser.step(&mut model);
            loss_sum += loss * batch.len() as f64;
            correct += logits
                .rows()
                .into_iter()
                .zip(&yb)
                .filter(|(row, label)| report::argmax(row.as_slice().unwrap_or(&[])) as i64 == **label)
                .count();
        }
        let loss = loss_sum / train.len() as f64;
        if !loss.is_finite() {
            return Err(CliError::data(format!(
                "training diverged in epoch {epoch} (the loss is {loss}); try a smaller --lr than {}",
                s.lr
            )));
        }
        progress.set_message(format!("loss {loss:.4}  accuracy {:.4}", correct as f64 / train.len() as f64));
        progress.inc(1);
    }
    Ok(model)
}

/// The report on standard output.
fn summary(
    data: &Dataset,
    split: &split::Split,
    model: &Model,
    s: &Settings,
    train: &Evaluation,
    test: &Evaluation,
    mistakes: usize,
) -> String {
    let held_out = if split.test.is_empty() {
        "none held out".to_string()
    } else {
        format!("{} held out (stratified, {}%)", split.test.len(), s.test_fraction * 100.0)
    };
    let mut out = format!(
        "data      {}\n\
         split     {} for training, {held_out}\n\
         features  {}, standardised with the training part's means and deviations\n\
         model     {} ({} parameters)\n\
         training  {} epoch{} of SGD: batch {}, learning rate {}, momentum {},\n          \
         weight decay {}, label smoothing {}, seed {}\n\n",
        data.description.replace('\n', "\n          "),
        split.train.len(),
        data.features.ncols(),
        model.describe(),
        model.parameter_count(),
        s.epochs,
        if s.epochs == 1 { "" } else { "s" },
        s.batch_size,
        s.lr,
        s.momentum,
        s.weight_decay,
        s.label_smoothing,
        s.seed,
    );
    let (shown, part) = if split.test.is_empty() {
        out += &report::accuracy_table(&[("train", train)]);
        (train, "training")
    } else {
        out += &report::accuracy_table(&[("train", train), ("test", test)]);
        (test, "test")
    };
    out += &format!("\nconfusion matrix on the {part} part (rows: true class, columns: predicted)\n");
    out += &report::confusion_matrix(shown, data.classes);
    let wrong = report::confident_mistakes(shown, mistakes);
    if mistakes > 0 {
        if wrong.is_empty() {
            out += &format!("\nno mistakes on the {part} part\n");
        } else {
            let (n, plural) = (wrong.len(), if wrong.len() == 1 { "" } else { "s" });
            out += &format!(
                "\nthe {n} most confident mistake{plural} on the {part} part (samples numbered from 0)\n"
            );
            out += &report::mistakes_table(shown, &wrong, data);
        }
    }
    out
}
