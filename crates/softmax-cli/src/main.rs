//! `softmax`: every operation of the softmax library from the command line.
//!
//! Each subcommand lives in its own module, which defines `Args` (its clap arguments) and
//! `run(Args) -> Result<(), CliError>`; this file only lists them and maps errors to exit codes.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod digits;
mod error;
mod explore;
mod model;
mod train;

use error::CliError;

#[derive(Parser)]
#[command(name = "softmax", version, about = "The softmax family on numbers, text, CSV and .npy files")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a classifier (softmax regression or one hidden layer) on the built-in digits or your data
    Train(train::Args),
    /// Sliders for logits and temperature, with live softmax, log-softmax, naive formula and Jacobian
    Explore(explore::Args),
}

fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Train(args) => train::run(args),
        Command::Explore(args) => explore::run(args),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { 2 } else { 0 };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("softmax: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
