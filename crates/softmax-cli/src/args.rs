//! Flags shared by several subcommands: the main input, the output, and the options of the
//! normalising operations.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use softmax::MaskedRows;

use crate::io::{Dtype, Source, Target};

/// The main input: values on the command line, `-i FILE`, or standard input; and `--dtype`.
#[derive(Args, Debug, Clone)]
pub(crate) struct InputArgs {
    /// The values of one row, e.g. `1 2 3` or `1,2,3`; negative numbers work as they are, but put
    /// `--` before values when one is `-inf` (`-- -inf 0 1`). Without values, rows are read from
    /// --input or standard input.
    #[arg(value_name = "VALUES", allow_negative_numbers = true, conflicts_with = "input")]
    pub(crate) values: Vec<String>,

    /// Read the input from FILE: `.npy` (any rank; f2, f4, f8 or integers), or text (`.csv`,
    /// `.tsv`, `.txt`, …: one row per line, values separated by spaces, tabs or commas; blank lines
    /// and `#` comments skipped). `-` is standard input.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) input: Option<PathBuf>,

    /// Compute and write in this type. Default: a `.npy` input's own type (integers: f64), f64 for
    /// text. f16 and bf16 are computed in wider precision and rounded once; bf16 `.npy` output is
    /// stored as f4 (NumPy has no bf16), holding the bf16 values exactly.
    #[arg(long, value_enum, value_name = "TYPE")]
    pub(crate) dtype: Option<Dtype>,
}

impl InputArgs {
    /// Where the main input comes from.
    pub(crate) fn source(&self) -> Source {
        Source::main_input(self.values.clone(), self.input.clone())
    }
}

/// `-o FILE`.
#[derive(Args, Debug, Clone)]
pub(crate) struct OutputArgs {
    /// Write the result to FILE: `.npy` (NumPy array, full shape), `.csv`, `.tsv`, or any other
    /// name for space-separated text. The file is written under a temporary name and renamed when
    /// complete. Default (or `-`): standard output, one row per line.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

impl OutputArgs {
    /// Where the result goes.
    pub(crate) fn target(&self) -> Target {
        Target::from_arg(self.output.clone())
    }
}

/// `--masked-rows`: what a row with nothing to normalise gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum MaskedRowsArg {
    /// Every output of the row is NaN (as PyTorch gives).
    Nan,
    /// Softmax 0, log-softmax -inf, gradients 0.
    Zeros,
}

impl From<MaskedRowsArg> for MaskedRows {
    fn from(arg: MaskedRowsArg) -> MaskedRows {
        match arg {
            MaskedRowsArg::Nan => MaskedRows::Nan,
            MaskedRowsArg::Zeros => MaskedRows::Zeros,
        }
    }
}

/// The temperature: finite and positive.
#[derive(Args, Debug, Clone)]
pub(crate) struct TemperatureArg {
    /// Divide the inputs by T first: below 1 sharpens, above 1 flattens. Finite and positive.
    #[arg(short, long, value_name = "T", default_value_t = 1.0, value_parser = parse_temperature, allow_hyphen_values = true)]
    pub(crate) temperature: f64,
}

/// `--mask`.
#[derive(Args, Debug, Clone)]
pub(crate) struct MaskArg {
    /// Exclude positions: a mask of the input's shape, false (or 0) = excluded. A `.npy` of bools
    /// (or 0/1 integers), a text file of 0/1/true/false, or values written here (`'1,0,1'`, rows
    /// separated by `;`). Excluded positions take no part and give 0 (softmax) or -inf (log).
    #[arg(long, value_name = "FILE|VALUES", allow_hyphen_values = true)]
    pub(crate) mask: Option<String>,
}

/// Checks a temperature at parse time, so a bad one is a usage error naming the flag.
pub(crate) fn parse_temperature(text: &str) -> Result<f64, String> {
    let t: f64 = text.parse().map_err(|_| format!("\"{text}\" is not a number"))?;
    if t.is_finite() && t > 0.0 {
        Ok(t)
    } else {
        Err(format!("temperature must be finite and positive, got {t}"))
    }
}

/// Checks that at most one input reads standard input.
///
/// # Errors
/// Two of `sources` are standard input (usage error).
pub(crate) fn one_stdin(sources: &[(&str, &Source)]) -> Result<(), crate::error::CliError> {
    let readers: Vec<&str> = sources.iter().filter(|(_, s)| **s == Source::Stdin).map(|(n, _)| *n).collect();
    if readers.len() > 1 {
        return Err(crate::error::CliError::usage(format!(
            "{} cannot all read standard input; give files for all but one",
            readers.join(" and ")
        )));
    }
    Ok(())
}

/// `--axis`.
#[derive(Args, Debug, Clone)]
pub(crate) struct AxisArg {
    /// The axis to normalise along; negative counts from the end. Text input is rows × columns:
    /// -1 (or 1) works row by row and streams, 0 works down the columns (reads all rows first).
    #[arg(short, long, value_name = "A", default_value_t = -1, allow_negative_numbers = true)]
    pub(crate) axis: isize,
}

/// `--masked-rows`.
#[derive(Args, Debug, Clone)]
pub(crate) struct MaskedRowsFlag {
    /// What a row with nothing to normalise (all -inf, or all masked out) gives.
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = MaskedRowsArg::Nan)]
    pub(crate) masked_rows: MaskedRowsArg,
}

/// The options of the operations along an axis: `--temperature`, `--axis`, `--mask`.
#[derive(Args, Debug, Clone)]
pub(crate) struct AxisOptions {
    #[command(flatten)]
    pub(crate) temperature: TemperatureArg,
    #[command(flatten)]
    pub(crate) axis: AxisArg,
    #[command(flatten)]
    pub(crate) mask: MaskArg,
}

/// What the subcommands working along an axis of one input share: the input, `--temperature`,
/// `--axis`, `--mask`, `--masked-rows`, and the output.
#[derive(Args, Debug, Clone)]
pub(crate) struct AxisCommandArgs {
    #[command(flatten)]
    pub(crate) input: InputArgs,
    #[command(flatten)]
    pub(crate) options: AxisOptions,
    #[command(flatten)]
    pub(crate) masked_rows: MaskedRowsFlag,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}
