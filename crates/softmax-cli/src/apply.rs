//! `softmax apply`: the softmax (or log-softmax) of each row.

use clap::Args as ClapArgs;

use crate::args::AxisCommandArgs;
use crate::error::CliError;
use crate::forward::{self, Op};
use crate::plot::PlotArgs;

const EXAMPLES: &str = "\
Examples:
  softmax apply 1 2 3                       one row from the command line
  softmax apply --log -- -inf 0 1e3         log-softmax (`--` before values starting with -inf)
  softmax apply -t 0.5 1 2 3                temperature 0.5: sharper
  softmax apply -i logits.npy -o probs.npy  any rank, along the last axis
  softmax apply -i x.npy --axis 0 --dtype f32
  softmax apply --mask 1,1,0 1 2 3          the third value takes no part
  softmax apply --mask m.npy --masked-rows zeros -i x.npy
  cat rows.csv | softmax apply > probs.txt  rows streamed from standard input";

/// The softmax of each row: exp(x/T - max) / sum, exact to the last bit.
#[derive(ClapArgs, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    common: AxisCommandArgs,
    /// Log-softmax instead: x/T - max - ln(sum), computed directly (never as ln(softmax)).
    #[arg(long)]
    log: bool,
    #[command(flatten)]
    plot: PlotArgs,
}

/// Runs `softmax apply`.
///
/// # Errors
/// Input, option and output errors (see [`CliError`]).
pub fn run(args: Args) -> Result<(), CliError> {
    forward::run_along_axis(
        if args.log { Op::LogSoftmax } else { Op::Softmax },
        &args.common,
        Some(args.plot),
    )
}
