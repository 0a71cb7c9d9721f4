//! `softmax logsumexp`: ln(sum(exp(x/T))) of each row, the axis reduced.

use clap::Args as ClapArgs;

use crate::args::AxisCommandArgs;
use crate::error::CliError;
use crate::forward::{self, Op};

const EXAMPLES: &str = "\
Examples:
  softmax logsumexp 1000 1000               1000.6931471805599, no overflow
  softmax logsumexp -i x.npy -o lse.npy     shape of x without its last axis
  softmax logsumexp -i x.csv --axis 0       one value per column
  softmax logsumexp --mask 1,0 -- 1 -inf

Text output keeps the reduced axis as length 1: one value per input row (a single line of
values for --axis 0). A row with nothing finite (all -inf or masked) gives -inf under either
--masked-rows policy (the logarithm of an empty sum).";

/// The log-sum-exp of each row, ln(sum(exp(x/T))), exact to the last bit; the axis is removed.
#[derive(ClapArgs, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    common: AxisCommandArgs,
}

/// Runs `softmax logsumexp`.
///
/// # Errors
/// Input, option and output errors (see [`CliError`]).
pub fn run(args: Args) -> Result<(), CliError> {
    forward::run_along_axis(Op::Logsumexp, &args.common, None)
}
