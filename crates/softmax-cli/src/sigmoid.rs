//! `softmax sigmoid`: the logistic sigmoid (or log-sigmoid) of every value.

use clap::Args as ClapArgs;

use crate::args::{AxisArg, AxisOptions, InputArgs, MaskArg, OutputArgs, TemperatureArg};
use crate::error::CliError;
use crate::forward::{self, Job, Op};
use crate::plot::PlotArgs;

const EXAMPLES: &str = "\
Examples:
  softmax sigmoid 0 2 -800                  0.5 0.8807970779778823 0.0
  softmax sigmoid --log 40                  -4.248354255291589e-18 (never ln(sigmoid))
  softmax sigmoid -i logits.npy -o p.npy    any rank, element by element
  softmax sigmoid --plot 0 1 2 > bars.txt   bars even when not on a terminal

Masked-out positions give 0 (log: -inf).";

/// The logistic sigmoid 1/(1 + exp(-x/T)) of every value, stable for all x.
#[derive(ClapArgs, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    input: InputArgs,
    /// Log-sigmoid instead: -softplus(-x/T), computed directly (never as ln(sigmoid)).
    #[arg(long)]
    log: bool,
    #[command(flatten)]
    temperature: TemperatureArg,
    #[command(flatten)]
    mask: MaskArg,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    plot: PlotArgs,
}

/// Runs `softmax sigmoid`.
///
/// # Errors
/// Input, option and output errors (see [`CliError`]).
pub fn run(args: Args) -> Result<(), CliError> {
    let op = if args.log { Op::LogSigmoid } else { Op::Sigmoid };
    let options = AxisOptions { temperature: args.temperature, axis: AxisArg { axis: -1 }, mask: args.mask };
    let job = Job::new(op, &options, softmax::MaskedRows::Nan, Some(args.plot));
    forward::run(job, &args.input, &args.output)
}
