//! The engine of the one-input subcommands (`apply`, `logsumexp`, `sigmoid`, `jacobian`): open the
//! input, pick the element type, then either stream text rows in batches (constant memory) or
//! process a whole array in chunks along its first axis, writing each result chunk as it comes.

use std::ops::Range;

use ndarray::{Array2, ArrayD, ArrayViewD, Axis, Ix2, s};
use softmax::{MaskedRows, Options};

use crate::args::{AxisCommandArgs, AxisOptions, InputArgs, OutputArgs, one_stdin};
use crate::error::CliError;
use crate::io::{CliFloat, Loaded, Opened, Sink, Source, TextRows, counted, float_kind, with_dtype};
use crate::plot::{Bars, PlotArgs};
use crate::progress::{Progress, Unit};

/// About this many values are computed per call of the library, between progress updates.
pub(crate) const CHUNK_VALUES: usize = 1 << 16;

/// The operation of a subcommand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Softmax,
    LogSoftmax,
    Logsumexp,
    Sigmoid,
    LogSigmoid,
    Jacobian,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Softmax => "softmax",
            Op::LogSoftmax => "log-softmax",
            Op::Logsumexp => "logsumexp",
            Op::Sigmoid => "sigmoid",
            Op::LogSigmoid => "log-sigmoid",
            Op::Jacobian => "jacobian",
        }
    }

    /// Element by element: no axis.
    fn elementwise(self) -> bool {
        matches!(self, Op::Sigmoid | Op::LogSigmoid)
    }

    /// Whether the result is a log-probability (drawn as the bar of its exponential).
    fn logarithmic(self) -> bool {
        matches!(self, Op::LogSoftmax | Op::LogSigmoid)
    }

    fn compute<T: CliFloat>(self, x: ArrayViewD<'_, T>, opts: &Options<'_>) -> softmax::Result<ArrayD<T>> {
        match self {
            Op::Softmax => softmax::softmax(&x, opts),
            Op::LogSoftmax => softmax::log_softmax(&x, opts),
            Op::Logsumexp => softmax::logsumexp(&x, opts),
            Op::Sigmoid => softmax::sigmoid(&x, opts),
            Op::LogSigmoid => softmax::log_sigmoid(&x, opts),
            Op::Jacobian => softmax::softmax_jacobian(&x, opts),
        }
    }

    /// The result's shape for an input of `shape` (axis `axis`, already checked).
    fn result_shape(self, shape: &[usize], axis: usize) -> Vec<usize> {
        let mut out = shape.to_vec();
        match self {
            Op::Logsumexp => {
                out.remove(axis);
            }
            Op::Jacobian => {
                let k = out.remove(axis);
                out.extend([k, k]);
            }
            _ => {}
        }
        out
    }

    /// Result values per input value (for sizing chunks).
    fn growth(self, row_len: usize) -> usize {
        if self == Op::Jacobian { row_len.max(1) } else { 1 }
    }
}

/// What a one-input subcommand asks for.
pub(crate) struct Job {
    pub(crate) op: Op,
    pub(crate) axis: isize,
    pub(crate) temperature: f64,
    pub(crate) mask: Option<String>,
    pub(crate) masked_rows: MaskedRows,
    /// `Some` for the subcommands that draw bars.
    pub(crate) plot: Option<PlotArgs>,
}

impl Job {
    /// The job of `op` with the options of the command line.
    pub(crate) fn new(op: Op, options: &AxisOptions, masked_rows: MaskedRows, plot: Option<PlotArgs>) -> Job {
        Job {
            op,
            axis: options.axis.axis,
            temperature: options.temperature.temperature,
            mask: options.mask.mask.clone(),
            masked_rows,
            plot,
        }
    }
}

/// Runs `op` with the flags every subcommand along an axis has (and `plot` for those that draw).
///
/// # Errors
/// Every input, option and output error, with exit codes as in [`CliError`].
pub(crate) fn run_along_axis(op: Op, args: &AxisCommandArgs, plot: Option<PlotArgs>) -> Result<(), CliError> {
    let job = Job::new(op, &args.options, args.masked_rows.masked_rows.into(), plot);
    run(job, &args.input, &args.output)
}

/// Runs `job` on the input and output of the command line.
///
/// # Errors
/// Every input, option and output error, with exit codes as in [`CliError`].
pub(crate) fn run(job: Job, input: &InputArgs, output: &OutputArgs) -> Result<(), CliError> {
    let source = input.source();
    let mask_source = job.mask.as_deref().map(|m| Source::from_flag("--mask", m));
    if let Some(m) = &mask_source {
        one_stdin(&[("the input", &source), ("--mask", m)])?;
    }
    let opened = Opened::open(&source)?;
    let mask = mask_source.map(|m| Opened::open(&m)?.load_mask()).transpose()?;
    let target = output.target();
    let draw = job.plot.is_some_and(|p| p.enabled(target.is_terminal()));
    let dtype = input.dtype.unwrap_or_else(|| opened.default_dtype());
    with_dtype!(dtype, T => {
        let work = Work::<T> { job: &job, sink: Sink::create(&target)?, bars: draw.then(Bars::for_stdout) };
        work.run(opened, mask)
    })
}

/// A job under way with elements of type `T`.
struct Work<'a, T: CliFloat> {
    job: &'a Job,
    sink: Sink<T>,
    bars: Option<Bars>,
}

impl<T: CliFloat> Work<'_, T> {
    fn run(mut self, opened: Opened, mask: Option<Loaded<bool>>) -> Result<(), CliError> {
        let shape = self.compute_all(opened, mask)?;
        self.sink.finish(&shape)
    }

    /// Computes and writes everything; returns the result's shape.
    fn compute_all(&mut self, opened: Opened, mask: Option<Loaded<bool>>) -> Result<Vec<usize>, CliError> {
        let op = self.job.op;
        match opened {
            Opened::Text { rows, total_bytes, single_row_is_1d: false } => {
                // Text is rows × columns: rows stream when each is a lane of the operation.
                let axis = self.job.axis;
                if !op.elementwise() && !(-2..2).contains(&axis) {
                    return Err(CliError::usage(format!(
                        "{}: axis {axis} is out of range for text input, which has rank 2 (rows × columns; valid: -2..2)",
                        rows.name()
                    )));
                }
                if op.elementwise() || axis == -1 || axis == 1 {
                    return self.stream(rows, total_bytes, mask);
                }
                let loaded =
                    Opened::Text { rows, total_bytes, single_row_is_1d: false }.load_floats::<T>()?;
                self.whole(loaded, mask)
            }
            other => {
                let loaded = other.load_floats::<T>()?;
                self.whole(loaded, mask)
            }
        }
    }

    /// Streams text rows in batches: each batch is computed, written and drawn before the next is
    /// read.
    fn stream(
        &mut self,
        mut rows: TextRows,
        total_bytes: Option<u64>,
        mask: Option<Loaded<bool>>,
    ) -> Result<Vec<usize>, CliError> {
        let mask = mask.map(StreamMask::new).transpose()?;
        let kind = float_kind::<T>();
        let mut progress = Progress::new(self.job.op.name(), total_bytes, Unit::Bytes);
        let mut done = 0;
        loop {
            let max_rows = batch_rows(rows.width(), self.job.op.growth(rows.width().unwrap_or(1)));
            let Some(batch) = rows.next_batch(&kind, max_rows)? else { break };
            let (n, k) = batch.dim();
            let mask_rows = mask.as_ref().map(|m| m.rows(done, n, k, rows.name())).transpose()?;
            self.chunk(batch.view().into_dyn(), mask_rows, rows.name(), &[rows.rows_read() as usize, k])?;
            done += n;
            if rows.is_idle() {
                self.sink.flush_interactive()?;
            }
            progress.set(rows.bytes_read());
        }
        let k = rows.width().unwrap_or(0);
        if let Some(m) = &mask {
            m.check_all_used(done, k, rows.name())?;
        }
        Ok(self.job.op.result_shape(&[done, k], 1))
    }

    /// Processes a whole array, in chunks along its first axis when that is not the operation's
    /// axis.
    fn whole(&mut self, loaded: Loaded<T>, mask: Option<Loaded<bool>>) -> Result<Vec<usize>, CliError> {
        let (x, name) = (loaded.array, loaded.name);
        let shape = x.shape().to_vec();
        let mask = mask.map(|m| fit_mask(m, &shape, &name)).transpose()?;
        let op = self.job.op;
        let axis = resolve_axis(self.job.axis, shape.len());
        let (split, ranges) =
            plan_chunks(&shape, op.elementwise(), axis, op.growth(axis.map_or(1, |a| shape[a])));
        let mut progress = Progress::new(op.name(), Some(ranges.len() as u64), Unit::Items("chunks"));
        for range in ranges {
            self.chunk(
                part(&x, split, &range),
                mask.as_ref().map(|m| part(m, split, &range)),
                &name,
                &shape,
            )?;
            progress.inc(1);
        }
        // The first chunk has checked the axis (or the operation has none).
        Ok(op.result_shape(&shape, axis.unwrap_or(0)))
    }

    /// Computes one chunk, writes it, and draws it.
    fn chunk(
        &mut self,
        x: ArrayViewD<'_, T>,
        mask: Option<ArrayViewD<'_, bool>>,
        name: &str,
        full_shape: &[usize],
    ) -> Result<(), CliError> {
        let job = self.job;
        let mut opts =
            Options::new().axis(job.axis).temperature(job.temperature).masked_rows(job.masked_rows);
        opts.mask = mask;
        let result = job
            .op
            .compute(x.view(), &opts)
            .map_err(|e| CliError::from(e).context(format!("{name} (shape {full_shape:?})")))?;
        let rank = x.ndim();
        // Past `compute`, the axis is known to be in range (elementwise: bars along the last axis).
        let axis = if job.op.elementwise() { rank.checked_sub(1) } else { resolve_axis(job.axis, rank) };
        if job.op == Op::Logsumexp {
            // Text shows the reduced axis kept with length 1: one value per row of the input.
            let kept = result.view().insert_axis(Axis(axis.unwrap_or(0)));
            return self.sink.write_chunk(kept);
        }
        let Some(bars) = &self.bars else { return self.sink.write_chunk(result.view()) };
        let Some(axis) = axis else {
            // A 0-D input (sigmoid of a scalar): one value, one bar.
            self.sink.write_chunk(result.view())?;
            let (label, value) = (x.iter().map(|v| v.shortest()).collect::<Vec<_>>(), result_f64(&result));
            let fractions = fractions(job.op, &value);
            return bars.draw(self.sink.stdout(), &label, &fractions, &value).map_err(stdout_error);
        };
        let rows_are_lanes = axis + 1 == rank;
        if !rows_are_lanes {
            self.sink.write_chunk(result.view())?;
        }
        for (x_lane, y_lane) in x.lanes(Axis(axis)).into_iter().zip(result.lanes(Axis(axis))) {
            if rows_are_lanes {
                self.sink.write_chunk(y_lane.into_dyn())?;
            }
            let labels: Vec<String> = x_lane.iter().map(|v| v.shortest()).collect();
            let values: Vec<f64> = y_lane.iter().map(|v| v.to_f64()).collect();
            let fractions = fractions(job.op, &values);
            bars.draw(self.sink.stdout(), &labels, &fractions, &values).map_err(stdout_error)?;
        }
        Ok(())
    }
}

fn result_f64<T: CliFloat>(a: &ArrayD<T>) -> Vec<f64> {
    a.iter().map(|v| v.to_f64()).collect()
}

/// Bar lengths: the probabilities (the exponentials of log-probabilities).
fn fractions(op: Op, values: &[f64]) -> Vec<f64> {
    values.iter().map(|&v| if op.logarithmic() { v.exp() } else { v }).collect()
}

fn stdout_error(e: std::io::Error) -> CliError {
    CliError::from_io("standard output", &e)
}

/// A whole mask, fitted to the input's `shape` (see [`Loaded::fit`]).
///
/// # Errors
/// The mask has another shape than `input`.
pub(crate) fn fit_mask(mask: Loaded<bool>, shape: &[usize], input: &str) -> Result<ArrayD<bool>, CliError> {
    let mask_name = mask.name.clone();
    let mask = mask.fit(shape);
    if mask.shape() != shape {
        return Err(CliError::data(format!(
            "the mask {mask_name} has shape {:?} but {input} has shape {shape:?}",
            mask.shape()
        )));
    }
    Ok(mask)
}

/// A mask for streamed text rows: rows × columns (a 1-D mask is one row), used batch by batch.
pub(crate) struct StreamMask {
    mask: Array2<bool>,
    name: String,
}

impl StreamMask {
    /// The mask as rows.
    ///
    /// # Errors
    /// A mask of rank 3 or more.
    pub(crate) fn new(mask: Loaded<bool>) -> Result<StreamMask, CliError> {
        let shape = mask.array.shape().to_vec();
        let matrix = match shape.len() {
            1 => mask.array.into_shape_with_order((1, shape[0])).ok(),
            2 => mask.array.into_dimensionality::<Ix2>().ok(),
            _ => None,
        };
        let matrix = matrix.ok_or_else(|| {
            CliError::data(format!(
                "the mask {} has shape {shape:?} but the input is text, rows × columns",
                mask.name
            ))
        })?;
        Ok(StreamMask { mask: matrix, name: mask.name })
    }

    /// The mask rows for input rows `done..done + n` of width `k`.
    ///
    /// # Errors
    /// The mask has another width or too few rows.
    pub(crate) fn rows(
        &self,
        done: usize,
        n: usize,
        k: usize,
        input: &str,
    ) -> Result<ArrayViewD<'_, bool>, CliError> {
        if self.mask.ncols() != k || self.mask.nrows() < done + n {
            return Err(CliError::data(format!(
                "the mask {} has shape {:?} but {input} has rows of {k} (at least {} so far)",
                self.name,
                self.mask.shape(),
                done + n
            )));
        }
        Ok(self.mask.slice(s![done..done + n, ..]).into_dyn())
    }

    /// Checks that the input had as many rows as the mask.
    ///
    /// # Errors
    /// The mask has more rows than the input.
    pub(crate) fn check_all_used(&self, done: usize, k: usize, input: &str) -> Result<(), CliError> {
        if self.mask.nrows() == done {
            Ok(())
        } else {
            Err(CliError::data(format!(
                "the mask {} has shape {:?} but {input} has {} of {k}",
                self.name,
                self.mask.shape(),
                counted(done as u64, "row")
            )))
        }
    }
}

/// Rows per streamed batch: about [`CHUNK_VALUES`] result values (64 before the width is known).
pub(crate) fn batch_rows(width: Option<usize>, growth: usize) -> usize {
    width.map_or(64, |k| (CHUNK_VALUES / growth.max(1) / k.max(1)).max(1))
}

/// How a whole array of `shape` is cut for an operation along `axis` (`elementwise`: none):
/// whether to split along the first axis, and the ranges of it (one range covering everything when
/// not split). `growth` is the result values per input value.
pub(crate) fn plan_chunks(
    shape: &[usize],
    elementwise: bool,
    axis: Option<usize>,
    growth: usize,
) -> (bool, Vec<Range<usize>>) {
    let split = shape.len() >= 2 && (elementwise || axis.is_some_and(|a| a != 0));
    if split {
        let per_index: usize = shape[1..].iter().product::<usize>() * growth;
        (true, chunk_ranges(shape[0], per_index))
    } else {
        (false, std::iter::once(0..shape.first().copied().unwrap_or(0)).collect())
    }
}

/// The part `range` of `array` along its first axis when `split`, else all of it.
pub(crate) fn part<'a, V>(array: &'a ArrayD<V>, split: bool, range: &Range<usize>) -> ArrayViewD<'a, V> {
    if split { array.slice_axis(Axis(0), range.clone().into()) } else { array.view() }
}

/// `axis` in `0..rank`, if it is in range (negative counts from the end).
pub(crate) fn resolve_axis(axis: isize, rank: usize) -> Option<usize> {
    let r = rank as isize;
    (-r..r).contains(&axis).then(|| if axis < 0 { (axis + r) as usize } else { axis as usize })
}

/// Splits `0..len` into ranges of about [`CHUNK_VALUES`] values (`per_index` values per index);
/// always at least one range, so an empty array is still checked by the operation.
pub(crate) fn chunk_ranges(len: usize, per_index: usize) -> Vec<Range<usize>> {
    let step = (CHUNK_VALUES / per_index.max(1)).max(1);
    if len == 0 {
        return std::iter::once(0..0).collect();
    }
    (0..len).step_by(step).map(|start| start..(start + step).min(len)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_everything_once() {
        assert_eq!(chunk_ranges(0, 5), std::iter::once(0..0).collect::<Vec<_>>());
        assert_eq!(chunk_ranges(3, CHUNK_VALUES), vec![0..1, 1..2, 2..3]);
        let ranges = chunk_ranges(100_000, 3);
        assert_eq!(ranges.first().unwrap().start, 0);
        assert_eq!(ranges.last().unwrap().end, 100_000);
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
    }

    #[test]
    fn axes() {
        assert_eq!(resolve_axis(-1, 2), Some(1));
        assert_eq!(resolve_axis(2, 2), None);
        assert_eq!(resolve_axis(-3, 2), None);
        assert_eq!(resolve_axis(0, 0), None);
        assert_eq!(Op::Jacobian.result_shape(&[2, 3, 4], 1), vec![2, 4, 3, 3]);
        assert_eq!(Op::Logsumexp.result_shape(&[2, 3], 0), vec![3]);
    }
}
