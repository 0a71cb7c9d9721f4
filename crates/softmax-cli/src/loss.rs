//! `softmax loss`: cross-entropy with PyTorch's semantics (class indices or probabilities, class
//! weights, `ignore_index`, label smoothing, reductions), or binary cross-entropy with logits; the
//! gradient with respect to the logits from the same pass.

use std::path::PathBuf;

use clap::{Args as ClapArgs, ValueEnum};
use ndarray::{Array1, ArrayD, Axis, Ix1};
use softmax::{BceOptions, LossOptions, Reduction, Target};

use crate::args::{OutputArgs, one_stdin};
use crate::error::CliError;
use crate::forward::resolve_axis;
use crate::io::{CliFloat, Dtype, Loaded, Opened, Sink, Source, with_dtype};

const EXAMPLES: &str = "\
Examples:
  softmax loss --logits x.npy --target classes.npy                  mean cross-entropy
  softmax loss --logits '2,0.5,-1;0.1,0.2,3' --target 0,2 --reduction none
  softmax loss --logits x.csv --target t.csv --probs-target --label-smoothing 0.1
  softmax loss --logits x.npy --target y.npy --weight w.txt --grad-out dx.npy
  softmax loss --bce --logits x.npy --target y.npy --pos-weight 3,1,1

Logits are (N, C) or any shape with the classes on --class-axis (default 1, or 0 for 1-D
logits, as in PyTorch). Class-index targets have the logits' shape without the class axis (text
targets are reshaped when the count matches: a column or a row of N indices both work);
probability targets have the logits' shape. --reduction mean divides by the summed weights of
the targets not ignored (NaN when every target is ignored, as in PyTorch). With
--reduction none, text output prints one loss per line.";

/// Cross-entropy (or --bce: binary cross-entropy) of logits against targets, with PyTorch's
/// semantics, exact to a few ulp; optionally the gradient with respect to the logits.
#[derive(ClapArgs, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The logits (unnormalised scores): a file (`.npy` or text), `-` for standard input, or
    /// values (`'2,0.5,-1;0.1,0.2,3'`, rows separated by `;`).
    #[arg(long, value_name = "FILE|VALUES", allow_hyphen_values = true)]
    logits: String,
    /// The targets: class indices (integers), or probabilities with --probs-target, or (with --bce)
    /// numbers in [0, 1] of the logits' shape. A file, `-`, or values.
    #[arg(long, value_name = "FILE|VALUES", allow_hyphen_values = true)]
    target: String,
    /// The target holds a probability per class (the logits' shape) instead of class indices.
    #[arg(long, conflicts_with = "bce")]
    probs_target: bool,
    /// Weights: one per class for cross-entropy; for --bce, weights of each element (broadcast to
    /// the logits' shape). A file or values.
    #[arg(long, value_name = "FILE|VALUES", allow_hyphen_values = true)]
    weight: Option<String>,
    /// Class-index targets equal to N are ignored: loss 0, gradient 0, no part in the mean.
    #[arg(long, value_name = "N", default_value_t = -100, allow_negative_numbers = true, conflicts_with = "bce")]
    ignore_index: i64,
    /// Label smoothing E in [0, 1]: the target becomes (1 - E) target + E / C.
    #[arg(long, value_name = "E", default_value_t = 0.0, value_parser = parse_smoothing, conflicts_with = "bce")]
    label_smoothing: f64,
    /// How per-sample losses are combined.
    #[arg(long, value_enum, value_name = "HOW", default_value_t = ReductionArg::Mean)]
    reduction: ReductionArg,
    /// The class axis of the logits (negative counts from the end). Default: 1, or 0 for 1-D
    /// logits.
    #[arg(long, value_name = "A", allow_negative_numbers = true, conflicts_with = "bce")]
    class_axis: Option<isize>,
    /// Binary cross-entropy with logits, element by element (multi-label): the target has the
    /// logits' shape.
    #[arg(long)]
    bce: bool,
    /// With --bce: a weight of the positive term, broadcast to the logits' shape (usually one per
    /// class, along the last axis). A file or values.
    #[arg(long, value_name = "FILE|VALUES", allow_hyphen_values = true, requires = "bce")]
    pos_weight: Option<String>,
    /// Compute and write in this type. Default: the type of --logits when it is a `.npy` file
    /// (integers: f64), else f64.
    #[arg(long, value_enum, value_name = "TYPE")]
    dtype: Option<Dtype>,
    #[command(flatten)]
    output: OutputArgs,
    /// Also write the gradient of the loss with respect to the logits (the logits' shape) to FILE
    /// (`.npy`, `.csv`, `.tsv` or text; `-` for standard output when the loss goes to a file).
    #[arg(long, value_name = "FILE")]
    grad_out: Option<PathBuf>,
}

/// `--reduction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ReductionArg {
    /// One loss per sample.
    None,
    /// The sum of the losses.
    Sum,
    /// The mean (weighted, as PyTorch defines it).
    Mean,
}

impl From<ReductionArg> for Reduction {
    fn from(arg: ReductionArg) -> Reduction {
        match arg {
            ReductionArg::None => Reduction::None,
            ReductionArg::Sum => Reduction::Sum,
            ReductionArg::Mean => Reduction::Mean,
        }
    }
}

fn parse_smoothing(text: &str) -> Result<f64, String> {
    let e: f64 = text.parse().map_err(|_| format!("\"{text}\" is not a number"))?;
    if (0.0..=1.0).contains(&e) { Ok(e) } else { Err(format!("label smoothing must be in [0, 1], got {e}")) }
}

/// Runs `softmax loss`.
///
/// # Errors
/// Input, option and output errors (see [`CliError`]).
pub fn run(args: Args) -> Result<(), CliError> {
    let logits = Source::from_flag("--logits", &args.logits);
    let target = Source::from_flag("--target", &args.target);
    let weight = args.weight.as_deref().map(|w| Source::from_flag("--weight", w));
    let pos_weight = args.pos_weight.as_deref().map(|w| Source::from_flag("--pos-weight", w));
    let mut sources = vec![("--logits", &logits), ("--target", &target)];
    sources.extend(weight.as_ref().map(|w| ("--weight", w)));
    sources.extend(pos_weight.as_ref().map(|w| ("--pos-weight", w)));
    one_stdin(&sources)?;
    let loss_target = args.output.target();
    let grad_target = args.grad_out.clone().map(|p| crate::io::Target::from_arg(Some(p)));
    if grad_target.as_ref().is_some_and(|g| *g == loss_target) {
        return Err(CliError::usage(
            "the loss and --grad-out cannot go to the same place; give -o FILE or another --grad-out",
        ));
    }
    let logits = Opened::open(&logits)?;
    let dtype = args.dtype.unwrap_or_else(|| logits.default_dtype());
    with_dtype!(dtype, T => {
        let inputs = Inputs::<T> {
            logits: logits.load_floats::<T>()?,
            target,
            weight: weight.map(|w| Opened::open(&w)?.load_floats::<T>()).transpose()?,
            pos_weight: pos_weight.map(|w| Opened::open(&w)?.load_floats::<T>()).transpose()?,
        };
        let (loss, loss_keepdims_axis, grad) = if args.bce { bce(&args, inputs)? } else { cross_entropy(&args, inputs)? };
        // Open the outputs only now, so a failed computation leaves no trace.
        let mut sink = Sink::<T>::create(&loss_target)?;
        let view = match loss_keepdims_axis {
            Some(axis) if args.reduction == ReductionArg::None => loss.view().insert_axis(Axis(axis)),
            _ => loss.view(),
        };
        sink.write_chunk(view)?;
        let grad_sink = match (&grad_target, grad) {
            (Some(target), Some(grad)) => {
                let mut grad_sink = Sink::<T>::create(target)?;
                grad_sink.write_chunk(grad.view())?;
                Some((grad_sink, grad.shape().to_vec()))
            }
            _ => None,
        };
        sink.finish(loss.shape())?;
        if let Some((grad_sink, shape)) = grad_sink {
            grad_sink.finish(&shape)?;
        }
        Ok(())
    })
}

/// The inputs of a loss, the logits loaded.
struct Inputs<T: CliFloat> {
    logits: Loaded<T>,
    target: Source,
    weight: Option<Loaded<T>>,
    pos_weight: Option<Loaded<T>>,
}

/// The loss, the axis to keep (length 1) when printing unreduced per-sample losses as text (one
/// per line), and the gradient if asked for.
type LossResult<T> = (ArrayD<T>, Option<usize>, Option<ArrayD<T>>);

fn cross_entropy<T: CliFloat>(args: &Args, inputs: Inputs<T>) -> Result<LossResult<T>, CliError> {
    let (x, x_name) = (inputs.logits.array, inputs.logits.name);
    let shape = x.shape().to_vec();
    let default_axis = if shape.len() >= 2 { 1 } else { 0 };
    let class_axis = args.class_axis.unwrap_or(default_axis);
    let axis = resolve_axis(class_axis, shape.len());
    let weight = inputs.weight.map(|w| {
        let name = w.name.clone();
        let w = match axis {
            Some(a) => w.fit(&[shape[a]]),
            None => w.array,
        };
        (w, name)
    });
    let weight = match weight {
        None => None,
        Some((w, name)) => Some(w.into_dimensionality::<Ix1>().map_err(|_| {
            CliError::data(format!("the class weights {name} must be one value per class (a vector)"))
        })?),
    };
    let mut opts = LossOptions::new()
        .class_axis(class_axis)
        .ignore_index(Some(args.ignore_index))
        .label_smoothing(args.label_smoothing)
        .reduction(args.reduction.into());
    opts.weight = weight.as_ref().map(|w| w.view());
    let target = Opened::open(&inputs.target)?;
    let target_name = target.name().to_string();
    let context = |e: softmax::Error, target_shape: &[usize]| {
        CliError::from(e)
            .context(format!("{x_name} (shape {shape:?}) against {target_name} (shape {target_shape:?})"))
    };
    let want_grad = args.grad_out.is_some();
    let compute = |target: Target<'_, T>| {
        if want_grad {
            softmax::cross_entropy_with_grad(&x, target, &opts).map(|(l, g)| (l, Some(g)))
        } else {
            softmax::cross_entropy(&x, target, &opts).map(|l| (l, None))
        }
    };
    let (loss, grad) = if args.probs_target {
        let t = target.load_floats::<T>()?.fit(&shape);
        compute(Target::probs(t.view())).map_err(|e| context(e, t.shape()))?
    } else {
        let mut batch_shape = shape.clone();
        if let Some(a) = axis {
            batch_shape.remove(a);
        }
        let t = target.load_classes()?.fit(&batch_shape);
        compute(Target::classes(t.view())).map_err(|e| context(e, t.shape()))?
    };
    // Unreduced losses have the batch shape: print them with the class axis kept as length 1.
    let keep = axis.filter(|_| loss.ndim() + 1 == shape.len());
    Ok((loss, keep, grad))
}

fn bce<T: CliFloat>(args: &Args, inputs: Inputs<T>) -> Result<LossResult<T>, CliError> {
    let (x, x_name) = (inputs.logits.array, inputs.logits.name);
    let shape = x.shape().to_vec();
    let target = Opened::open(&inputs.target)?.load_floats::<T>()?;
    let target_name = target.name.clone();
    let t = target.fit(&shape);
    let weight = inputs.weight.map(|w| broadcastable(w, &shape));
    let pos_weight = inputs.pos_weight.map(|w| broadcastable(w, &shape));
    let mut opts = BceOptions::new().reduction(args.reduction.into());
    opts.weight = weight.as_ref().map(|w| w.view());
    opts.pos_weight = pos_weight.as_ref().map(|w| w.view());
    let result = if args.grad_out.is_some() {
        softmax::binary_cross_entropy_with_logits_with_grad(&x, &t, &opts).map(|(l, g)| (l, Some(g)))
    } else {
        softmax::binary_cross_entropy_with_logits(&x, &t, &opts).map(|l| (l, None))
    };
    let (loss, grad) = result.map_err(|e| {
        CliError::from(e)
            .context(format!("{x_name} (shape {shape:?}) against {target_name} (shape {:?})", t.shape()))
    })?;
    Ok((loss, None, grad))
}

/// A weight array for `--bce`, which broadcasts to the logits' `shape`: text with as many values as
/// the logits takes their shape; a single text row becomes a vector (one weight per class).
fn broadcastable<T: CliFloat>(w: Loaded<T>, shape: &[usize]) -> ArrayD<T> {
    let single_text_row = w.from_text && w.array.ndim() == 2 && w.array.shape()[0] == 1;
    let w = w.fit(shape);
    if single_text_row && w.ndim() == 2 && w.shape() != shape {
        return Array1::from_iter(w.iter().copied()).into_dyn();
    }
    w
}
