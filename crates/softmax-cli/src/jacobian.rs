//! `softmax jacobian`: the softmax Jacobian of each row, one K×K matrix per row.

use clap::Args as ClapArgs;

use crate::args::AxisCommandArgs;
use crate::error::CliError;
use crate::forward::{self, Op};

const EXAMPLES: &str = "\
Examples:
  softmax jacobian 0 0                      [[0.25, -0.25], [-0.25, 0.25]]
  softmax jacobian -i x.npy -o j.npy        shape (..., K, K): x's shape without the axis, then K, K
  softmax jacobian -t 2 --axis 0 -i x.csv

J[i][j] = (delta_ij y_i - y_i y_j) / T with y = softmax(x/T). Text output prints each matrix as
K lines, with a blank line between the matrices of successive rows. Masked positions have zero
rows and columns.";

/// The softmax Jacobian of each row: (diag(y) - y y^T) / T, one K×K matrix per row.
#[derive(ClapArgs, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    common: AxisCommandArgs,
}

/// Runs `softmax jacobian`.
///
/// # Errors
/// Input, option and output errors (see [`CliError`]).
pub fn run(args: Args) -> Result<(), CliError> {
    forward::run_along_axis(Op::Jacobian, &args.common, None)
}
