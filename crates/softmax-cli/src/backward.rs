//! `softmax backward`: the vector–Jacobian product of softmax (or log-softmax, or sigmoid), given the
//! forward output and the upstream gradient.

use clap::Args as ClapArgs;
use ndarray::{Array2, ArrayD, ArrayViewD};
use softmax::Options;

use crate::args::{AxisOptions, OutputArgs, one_stdin};
use crate::error::CliError;
use crate::forward::{StreamMask, batch_rows, fit_mask, part, plan_chunks, resolve_axis};
use crate::io::{CliFloat, Dtype, Loaded, Opened, Sink, Source, TextRows, counted, float_kind, with_dtype};
use crate::progress::{Progress, Unit};

const EXAMPLES: &str = "\
Examples:
  softmax backward --probs y.npy --grad dy.npy -o dx.npy
  softmax backward --log --probs logp.npy --grad dy.npy -o dx.npy
  softmax backward --probs 0.25,0.75 --grad 1,0            values written in place
  softmax backward --sigmoid --probs s.csv --grad ds.csv
  softmax apply 1 2 3 | softmax backward --probs - --grad 1,0,0

softmax:      dx = y * (dy - <dy, y>) / T
log-softmax:  dx = (dy - exp(ly) * sum(dy)) / T
sigmoid:      dx = dy * y * (1 - y) / T
Use the same --temperature, --axis and --mask as the forward call. Masked positions, and
positions whose probability is 0, get gradient 0. Text inputs with --axis -1 are streamed in step,
row by row.";

/// The backward pass (vector–Jacobian product) of softmax, log-softmax or sigmoid.
#[derive(ClapArgs, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The forward output y: probabilities (softmax), log-probabilities with --log, sigmoid
    /// outputs with --sigmoid. A file (`.npy` or text), `-` for standard input, or values
    /// (`'0.2,0.8;0.5,0.5'`, rows separated by `;`).
    #[arg(long, value_name = "FILE|VALUES", allow_hyphen_values = true)]
    probs: String,
    /// The upstream gradient dL/dy, of the same shape (a file, `-`, or values).
    #[arg(long, value_name = "FILE|VALUES", allow_hyphen_values = true)]
    grad: String,
    /// --probs holds log-softmax outputs: the backward pass of log-softmax.
    #[arg(long, conflicts_with = "sigmoid")]
    log: bool,
    /// --probs holds sigmoid outputs: the element-wise backward pass of sigmoid (no axis).
    #[arg(long)]
    sigmoid: bool,
    #[command(flatten)]
    options: AxisOptions,
    /// Compute and write in this type. Default: the type of --probs when it is a `.npy` file
    /// (integers: f64), else f64.
    #[arg(long, value_enum, value_name = "TYPE")]
    dtype: Option<Dtype>,
    #[command(flatten)]
    output: OutputArgs,
}

/// Which backward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    Softmax,
    LogSoftmax,
    Sigmoid,
}

impl Pass {
    fn compute<T: CliFloat>(
        self,
        y: ArrayViewD<'_, T>,
        dy: ArrayViewD<'_, T>,
        opts: &Options<'_>,
    ) -> softmax::Result<ArrayD<T>> {
        match self {
            Pass::Softmax => softmax::softmax_backward(&y, &dy, opts),
            Pass::LogSoftmax => softmax::log_softmax_backward(&y, &dy, opts),
            Pass::Sigmoid => softmax::sigmoid_backward(&y, &dy, opts),
        }
    }
}

/// Runs `softmax backward`.
///
/// # Errors
/// Input, option and output errors (see [`CliError`]).
pub fn run(args: Args) -> Result<(), CliError> {
    let probs = Source::from_flag("--probs", &args.probs);
    let grad = Source::from_flag("--grad", &args.grad);
    let mask = args.options.mask.mask.as_deref().map(|m| Source::from_flag("--mask", m));
    let mut sources = vec![("--probs", &probs), ("--grad", &grad)];
    if let Some(m) = &mask {
        sources.push(("--mask", m));
    }
    one_stdin(&sources)?;
    let y = Opened::open(&probs)?;
    let dy = Opened::open(&grad)?;
    let mask = mask.map(|m| Opened::open(&m)?.load_mask()).transpose()?;
    let pass = match (args.log, args.sigmoid) {
        (_, true) => Pass::Sigmoid,
        (true, _) => Pass::LogSoftmax,
        _ => Pass::Softmax,
    };
    let dtype = args.dtype.unwrap_or_else(|| y.default_dtype());
    with_dtype!(dtype, T => {
        let mut work = Work::<T> { args: &args, pass, sink: Sink::create(&args.output.target())? };
        let shape = work.compute_all(y, dy, mask)?;
        work.sink.finish(&shape)
    })
}

struct Work<'a, T: CliFloat> {
    args: &'a Args,
    pass: Pass,
    sink: Sink<T>,
}

impl<T: CliFloat> Work<'_, T> {
    /// Computes and writes the gradient; returns its shape.
    fn compute_all(
        &mut self,
        y: Opened,
        dy: Opened,
        mask: Option<Loaded<bool>>,
    ) -> Result<Vec<usize>, CliError> {
        let axis = self.args.options.axis.axis;
        let row_wise = self.pass == Pass::Sigmoid || axis == -1 || axis == 1;
        match (y, dy) {
            (
                Opened::Text { rows: y_rows, total_bytes, single_row_is_1d: false },
                Opened::Text { rows: dy_rows, single_row_is_1d: false, .. },
            ) if row_wise => self.stream(y_rows, dy_rows, total_bytes, mask),
            (y, dy) => self.whole(y.load_floats::<T>()?, dy.load_floats::<T>()?, mask),
        }
    }

    fn options<'m>(&self, mask: Option<ArrayViewD<'m, bool>>) -> Options<'m> {
        let mut opts = Options::new()
            .axis(self.args.options.axis.axis)
            .temperature(self.args.options.temperature.temperature);
        opts.mask = mask;
        opts
    }

    /// Both inputs as text rows, read in step.
    fn stream(
        &mut self,
        mut y_rows: TextRows,
        mut dy_rows: TextRows,
        total_bytes: Option<u64>,
        mask: Option<Loaded<bool>>,
    ) -> Result<Vec<usize>, CliError> {
        let mask = mask.map(StreamMask::new).transpose()?;
        let kind = float_kind::<T>();
        let mut progress = Progress::new("backward", total_bytes, Unit::Bytes);
        let (mut done, mut dy_row) = (0, Vec::new());
        while let Some(y) = y_rows.next_batch(&kind, batch_rows(y_rows.width(), 1))? {
            let (n, k) = y.dim();
            let mut dy = Vec::with_capacity(n * k);
            for _ in 0..n {
                if !dy_rows.next_row(&kind, &mut dy_row)? {
                    return Err(CliError::data(format!(
                        "the upstream gradient {} has {} but the forward output {} has more",
                        dy_rows.name(),
                        counted(dy_rows.rows_read(), "row"),
                        y_rows.name()
                    )));
                }
                if dy_row.len() != k {
                    return Err(CliError::data(format!(
                        "the upstream gradient {} has rows of {} but the forward output {} has rows of {k}",
                        dy_rows.name(),
                        dy_row.len(),
                        y_rows.name()
                    )));
                }
                dy.extend_from_slice(&dy_row);
            }
            let dy = Array2::from_shape_vec((n, k), dy)
                .map_err(|e| CliError::data(format!("internal error: batch shape: {e}")))?;
            let mask_rows = mask.as_ref().map(|m| m.rows(done, n, k, y_rows.name())).transpose()?;
            let opts = self.options(mask_rows);
            let dx = self
                .pass
                .compute(y.view().into_dyn(), dy.view().into_dyn(), &opts)
                .map_err(|e| CliError::from(e).context(y_rows.name()))?;
            self.sink.write_chunk(dx.view())?;
            done += n;
            if y_rows.is_idle() {
                self.sink.flush_interactive()?;
            }
            progress.set(y_rows.bytes_read());
        }
        if dy_rows.next_row(&kind, &mut dy_row)? {
            return Err(CliError::data(format!(
                "the upstream gradient {} has more rows than the forward output {} ({done})",
                dy_rows.name(),
                y_rows.name()
            )));
        }
        let k = y_rows.width().unwrap_or(0);
        if let Some(m) = &mask {
            m.check_all_used(done, k, y_rows.name())?;
        }
        Ok(vec![done, k])
    }

    /// Whole arrays, in chunks along the first axis when that is not the operation's axis.
    fn whole(
        &mut self,
        y: Loaded<T>,
        dy: Loaded<T>,
        mask: Option<Loaded<bool>>,
    ) -> Result<Vec<usize>, CliError> {
        let (y_name, dy_name) = (y.name.clone(), dy.name.clone());
        let y = y.array;
        let shape = y.shape().to_vec();
        let dy = dy.fit(&shape);
        if dy.shape() != shape.as_slice() {
            return Err(CliError::data(format!(
                "the upstream gradient {dy_name} has shape {:?} but the forward output {y_name} has shape {shape:?}",
                dy.shape()
            )));
        }
        let mask = mask.map(|m| fit_mask(m, &shape, &format!("the forward output {y_name}"))).transpose()?;
        let axis = resolve_axis(self.args.options.axis.axis, shape.len());
        let (split, ranges) = plan_chunks(&shape, self.pass == Pass::Sigmoid, axis, 1);
        let mut progress = Progress::new("backward", Some(ranges.len() as u64), Unit::Items("chunks"));
        for range in ranges {
            let opts = self.options(mask.as_ref().map(|m| part(m, split, &range)));
            let dx = self
                .pass
                .compute(part(&y, split, &range), part(&dy, split, &range), &opts)
                .map_err(|e| CliError::from(e).context(format!("{y_name} (shape {shape:?})")))?;
            self.sink.write_chunk(dx.view())?;
            progress.inc(1);
        }
        Ok(shape)
    }
}
