//! `softmax`: every operation of the softmax library from the command line.
//!
//! Each subcommand lives in its own module, which defines `Args` (its clap arguments) and
//! `run(Args) -> Result<(), CliError>`; this file only lists them and maps errors to exit codes.
//! Shared pieces: [`io`] (inputs and outputs), [`args`] (common flags), [`forward`] (the engine of
//! the one-input operations), [`progress`] (a progress bar) and [`plot`] (bars).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod apply;
mod args;
mod backward;
mod bench;
mod digits;
mod error;
mod explore;
mod forward;
mod io;
mod jacobian;
mod logsumexp;
mod loss;
mod model;
mod plot;
mod predict;
mod progress;
mod sigmoid;
mod train;

use error::CliError;

const ABOUT: &str = "The softmax family on numbers, text, CSV and .npy files, exact to the last bit";

const EXAMPLES: &str = "\
Examples:
  softmax apply 1 2 3                          one row: 0.0900… 0.2447… 0.6652…
  softmax apply -i logits.npy -o probs.npy     any rank, along the last axis
  cat rows.csv | softmax apply --log           rows streamed from standard input
  softmax logsumexp 1000 1000                  1000.6931471805599
  softmax sigmoid -- -inf 0 1                  `--` before values starting with -inf
  softmax jacobian 0 0
  softmax backward --probs y.npy --grad dy.npy -o dx.npy
  softmax loss --logits x.npy --target t.npy --grad-out dx.npy
  softmax train --hidden 64 --save model.json  a classifier on the built-in digits
  softmax predict --model model.json -i rows.csv
  softmax explore 2 1 0.1                      sliders: softmax, naive formula, Jacobian

Inputs: values on the command line (one row), -i FILE (.npy of any rank, or text), or rows of
text on standard input (values separated by spaces, tabs or commas). Outputs: -o FILE (.npy,
.csv, .tsv, other names text), or text on standard output, each value the shortest decimal that
reads back to the same number.

Exit codes: 0 success (also when the reader of the output goes away, as with `| head`), 1 bad
data (a malformed number, ragged rows, shapes that do not match, a class index out of range),
2 bad usage (an unknown flag, an axis out of range, a temperature that is not finite and
positive, a missing file, an unsupported dtype).";

#[derive(Parser)]
#[command(name = "softmax", version, about = ABOUT, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Softmax (or --log: log-softmax) of each row.
    Apply(apply::Args),
    /// Log-sum-exp of each row (the axis is reduced).
    Logsumexp(logsumexp::Args),
    /// Logistic sigmoid (or --log: log-sigmoid) of every value.
    Sigmoid(sigmoid::Args),
    /// Softmax Jacobian of each row: one K×K matrix per row.
    Jacobian(jacobian::Args),
    /// Backward pass (vector–Jacobian product) of softmax, log-softmax or sigmoid.
    Backward(backward::Args),
    /// Cross-entropy (or --bce: binary cross-entropy) loss, and its gradient.
    Loss(loss::Args),
    /// Time each operation beside a plain copy of the same bytes (10⁹ elements/s).
    Bench(bench::Args),
    /// Train a classifier (softmax regression or one hidden layer) on the built-in digits or your data.
    Train(train::Args),
    /// Classes and top-k probabilities of rows of features, from a model saved by `train --save`.
    Predict(predict::Args),
    /// Interactive sliders for logits and temperature: softmax, log-softmax, the naive formula, the Jacobian.
    Explore(explore::Args),
}

fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Apply(args) => apply::run(args),
        Command::Logsumexp(args) => logsumexp::run(args),
        Command::Sigmoid(args) => sigmoid::run(args),
        Command::Jacobian(args) => jacobian::run(args),
        Command::Backward(args) => backward::run(args),
        Command::Loss(args) => loss::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Train(args) => train::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Explore(args) => explore::run(args),
    }
}

/// `-inf`, `-nan` and the like, which clap reads as short flags (`-i nf`) rather than values.
fn looks_like_negative_special(arg: &str) -> bool {
    arg.strip_prefix('-')
        .is_some_and(|rest| ["inf", "infinity", "nan"].iter().any(|s| rest.eq_ignore_ascii_case(s)))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { 2 } else { 0 };
            // Help printed into a closed pipe is not worth a second error.
            let _ = error.print();
            if code == 2
                && let Some(value) = std::env::args().find(|a| looks_like_negative_special(a))
            {
                io::eprintln_quiet(&format!(
                    "note: to pass {value} as a value, put `--` before the values: softmax <SUBCOMMAND> [FLAGS] -- {value} …"
                ));
            }
            return ExitCode::from(code);
        }
    };
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is_broken_pipe() => ExitCode::SUCCESS,
        Err(error) => {
            io::eprintln_quiet(&format!("softmax: {error}"));
            ExitCode::from(error.exit_code())
        }
    }
}
