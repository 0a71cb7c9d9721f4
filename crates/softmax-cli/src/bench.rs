//! `softmax bench`: each operation timed beside a plain copy of the same bytes, in the same run.
//!
//! Method: for every case, samples of the operation and of the copy alternate (so that a noisy
//! neighbour slows both alike), each sample repeating its work until it lasts at least
//! `--min-time / --samples`; the figure is the median sample. The rate is input elements per
//! second (10⁹ elements/s); the copy moves the input's bytes into a buffer of the same size, on
//! the same number of threads. Inputs are `N(0, 1)·4` from a fixed seed; class targets are
//! uniform. Larger-than-cache shapes are not rotated: a 64 MiB input is out of cache anyway.

use std::hint::black_box;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use half::{bf16, f16};
use ndarray::{Array1, Array2};
use softmax::{Element, Isa, LossOptions, Options, Target};

use crate::error::CliError;

const AFTER_HELP: &str = "\
Examples:
  softmax bench                                   the default table (softmax, log-softmax, …)
  softmax bench --op softmax --rows 64 --cols 32768 --threads 2
  softmax bench --dtype f16 --json                one JSON object per line
  softmax bench --op softmax --temperature 0.7 --mask

Default cases: softmax and log_softmax at 4096×128, 256×1000, 64×32768 and 16×1048576; logsumexp,
softmax_backward, cross_entropy (loss and gradient, the gradient into a kept buffer, mean
reduction) and softmax_axis0 (the same tensor, softmax along its first axis) at 256×1000 and
64×32768. log_softmax_backward runs when asked for (--op), at those two shapes by default.

JSON keys: op, dtype, rows, cols, threads, isa, gelem_per_s, copy_gelem_per_s, ratio_to_copy,
median_ns, copy_median_ns, samples, temperature, mask.";

/// Timed operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Op {
    Softmax,
    LogSoftmax,
    Logsumexp,
    SoftmaxBackward,
    /// The log-softmax backward pass, on log-softmax outputs (not in the default table).
    LogSoftmaxBackward,
    /// Cross-entropy with class targets, mean reduction: the loss and its gradient together (the
    /// gradient written into a buffer kept across calls).
    CrossEntropy,
    /// Softmax along axis 0 of a `(cols, rows)` tensor: strided lanes, no copy.
    SoftmaxAxis0,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Softmax => "softmax",
            Op::LogSoftmax => "log_softmax",
            Op::Logsumexp => "logsumexp",
            Op::SoftmaxBackward => "softmax_backward",
            Op::LogSoftmaxBackward => "log_softmax_backward",
            Op::CrossEntropy => "cross_entropy",
            Op::SoftmaxAxis0 => "softmax_axis0",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dtype {
    F32,
    F64,
    F16,
    Bf16,
}

/// Time each operation beside a plain copy of the same bytes.
#[derive(clap::Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Operations to time (repeat the flag for several); default: the table described below.
    #[arg(long = "op", value_enum)]
    ops: Vec<Op>,
    /// Element type of the inputs.
    #[arg(long, value_enum, default_value = "f32")]
    dtype: Dtype,
    /// Rows of the input (with --cols: this one shape instead of the default ones).
    #[arg(long, requires = "cols")]
    rows: Option<usize>,
    /// Row length (the softmax axis).
    #[arg(long, requires = "rows")]
    cols: Option<usize>,
    /// Threads for the operation and for the copy.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Pin the instruction set: avx512, avx2 or portable (default: the best this machine has).
    #[arg(long)]
    isa: Option<String>,
    /// Samples per case (the median is reported).
    #[arg(long, default_value_t = 9)]
    samples: usize,
    /// Seconds of operation time per case, spread over the samples.
    #[arg(long, default_value_t = 1.0)]
    min_time: f64,
    /// One JSON object per line instead of the table.
    #[arg(long)]
    json: bool,
    /// Temperature of the forward and backward operations (the cross-entropy has none).
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Give the forward and backward operations a mask that excludes one position in eight.
    #[arg(long)]
    mask: bool,
}

/// One measured case.
struct Measured {
    op: Op,
    rows: usize,
    cols: usize,
    median: Duration,
    copy_median: Duration,
}

pub fn run(args: Args) -> Result<(), CliError> {
    if args.threads == 0 {
        return Err(CliError::usage("--threads must be at least 1"));
    }
    if args.samples == 0 {
        return Err(CliError::usage("--samples must be at least 1"));
    }
    if !(args.min_time.is_finite() && args.min_time > 0.0) {
        return Err(CliError::usage(format!(
            "--min-time must be a positive number of seconds, not {}",
            args.min_time
        )));
    }
    if !(args.temperature.is_finite() && args.temperature > 0.0) {
        return Err(CliError::usage(format!(
            "--temperature must be finite and positive, not {}",
            args.temperature
        )));
    }
    if args.mask && args.ops.contains(&Op::CrossEntropy) {
        return Err(CliError::usage("--mask does not apply to cross_entropy"));
    }
    if let (Some(0), _) | (_, Some(0)) = (args.rows, args.cols) {
        return Err(CliError::usage("--rows and --cols must be at least 1"));
    }
    if let Some(name) = &args.isa {
        let isa = Isa::from_name(name).ok_or_else(|| {
            CliError::usage(format!("unknown instruction set {name:?} (avx512, avx2 or portable)"))
        })?;
        softmax::set_isa(isa).map_err(|e| CliError::usage(e.to_string()))?;
    }
    let cases = cases(&args);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .map_err(|e| CliError::usage(format!("cannot start {} threads: {e}", args.threads)))?;
    let dtype_name = match args.dtype {
        Dtype::F32 => "f32",
        Dtype::F64 => "f64",
        Dtype::F16 => "f16",
        Dtype::Bf16 => "bf16",
    };
    if !args.json {
        println!(
            "softmax bench: {dtype_name}, {} thread(s), isa {}, median of {} samples (10⁹ input elements/s){}{}",
            args.threads,
            softmax::isa(),
            args.samples,
            if args.temperature != 1.0 {
                format!(", temperature {}", args.temperature)
            } else {
                String::new()
            },
            if args.mask { ", masked (one position in eight)" } else { "" },
        );
        println!("{:<18} {:>18} {:>10} {:>10} {:>9}", "op", "rows × cols", "Gelem/s", "copy", "vs copy");
    }
    for (op, rows, cols) in cases {
        let m = pool.install(|| match args.dtype {
            Dtype::F32 => measure::<f32>(op, rows, cols, &args),
            Dtype::F64 => measure::<f64>(op, rows, cols, &args),
            Dtype::F16 => measure::<f16>(op, rows, cols, &args),
            Dtype::Bf16 => measure::<bf16>(op, rows, cols, &args),
        })?;
        report(&m, dtype_name, &args);
    }
    Ok(())
}

fn cases(args: &Args) -> Vec<(Op, usize, usize)> {
    if let (Some(rows), Some(cols)) = (args.rows, args.cols) {
        let ops = if args.ops.is_empty() { vec![Op::Softmax] } else { args.ops.clone() };
        return ops.into_iter().map(|op| (op, rows, cols)).collect();
    }
    let all = [(4096, 128), (256, 1000), (64, 32768), (16, 1 << 20)];
    let some = [(256, 1000), (64, 32768)];
    let default_ops =
        [Op::Softmax, Op::LogSoftmax, Op::Logsumexp, Op::SoftmaxBackward, Op::CrossEntropy, Op::SoftmaxAxis0];
    let ops: Vec<Op> = if args.ops.is_empty() { default_ops.to_vec() } else { args.ops.clone() };
    let mut out = Vec::new();
    for op in ops {
        let shapes: &[(usize, usize)] = if matches!(op, Op::Softmax | Op::LogSoftmax) { &all } else { &some };
        out.extend(shapes.iter().map(|&(r, c)| (op, r, c)));
    }
    out
}

fn report(m: &Measured, dtype: &str, args: &Args) {
    let elems = (m.rows * m.cols) as f64;
    let rate = elems / m.median.as_secs_f64() / 1e9;
    let copy = elems / m.copy_median.as_secs_f64() / 1e9;
    if args.json {
        let line = serde_json::json!({
            "op": m.op.name(),
            "dtype": dtype,
            "rows": m.rows,
            "cols": m.cols,
            "threads": args.threads,
            "isa": softmax::isa().name(),
            "gelem_per_s": rate,
            "copy_gelem_per_s": copy,
            "ratio_to_copy": rate / copy,
            "median_ns": m.median.as_nanos() as u64,
            "copy_median_ns": m.copy_median.as_nanos() as u64,
            "samples": args.samples,
            "temperature": args.temperature,
            "mask": args.mask,
        });
        println!("{line}");
    } else {
        let shape = format!("{} × {}", m.rows, m.cols);
        println!("{:<18} {:>18} {:>10.3} {:>10.3} {:>9.3}", m.op.name(), shape, rate, copy, rate / copy);
    }
}

/// Deterministic inputs: `N(0,1)·4` by a SplitMix64 stream and Box–Muller.
fn normal_matrix<T: Element>(rows: usize, cols: usize, seed: u64) -> Array2<T> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    Array2::from_shape_simple_fn((rows, cols), || {
        let (u, v) = (next().max(1e-300), next());
        T::from_f64(4.0 * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos())
    })
}

/// The copy the operation is compared with: the input's bytes into a buffer of the same size,
/// split over the pool's threads as the operation is.
fn copy_into<T: Element>(src: &[T], dst: &mut [T]) {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads();
    if threads == 1 {
        dst.copy_from_slice(src);
    } else {
        let part = src.len().div_ceil(threads).max(1);
        dst.par_chunks_mut(part).zip(src.par_chunks(part)).for_each(|(d, s)| d.copy_from_slice(s));
    }
}

/// Runs `f` repeatedly for at least `budget`; the time per run.
fn sample(
    budget: Duration,
    reps: &mut usize,
    f: &mut dyn FnMut() -> Result<(), CliError>,
) -> Result<Duration, CliError> {
    loop {
        let start = Instant::now();
        for _ in 0..*reps {
            f()?;
        }
        let took = start.elapsed();
        if took >= budget || *reps >= 1 << 30 {
            return Ok(took / *reps as u32);
        }
        // Aim a little above the budget so that the next try is the last.
        let scale = (budget.as_secs_f64() / took.as_secs_f64().max(1e-9) * 1.2).clamp(2.0, 100.0);
        *reps = ((*reps as f64) * scale).ceil() as usize;
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn measure<T: Element>(op: Op, rows: usize, cols: usize, args: &Args) -> Result<Measured, CliError> {
    let x = normal_matrix::<T>(rows, cols, 0x5EED ^ (rows * 31 + cols) as u64);
    let xs = x.as_slice().expect("a fresh array is contiguous");
    let mut copy_dst = vec![T::from_f64(0.0); rows * cols];
    // One position in eight excluded, in a pattern that shifts from row to row.
    let mask = Array2::from_shape_fn((rows, cols), |(i, j)| (i + j) % 8 != 3);
    // Laid out like `transposed` below (a transposed view's copy would keep the transposed order).
    let mask_t = mask.t().as_standard_layout().into_owned();
    let mut opts = Options::new().temperature(args.temperature);
    let mut opts_axis0 = Options::new().axis(0).temperature(args.temperature);
    if args.mask {
        opts = opts.mask(mask.view());
        opts_axis0 = opts_axis0.mask(mask_t.view());
    }
    let mut out = Array2::from_elem((rows, cols), T::from_f64(0.0));
    // Per-operation extra inputs, prepared outside the timing.
    let dy = normal_matrix::<T>(rows, cols, 0xD1);
    let y = softmax::softmax(&x, &opts)?;
    let ly = softmax::log_softmax(&x, &opts)?;
    let targets = Array1::from_shape_fn(rows, |i| ((i * 7919 + 13) % cols) as i64);
    let transposed: Array2<T> = {
        // The same values laid out (cols, rows) in memory: softmax along axis 0 walks strided lanes.
        let mut t = Array2::from_elem((cols, rows), T::from_f64(0.0));
        t.assign(&x.t());
        t
    };
    let mut out_t = Array2::from_elem((cols, rows), T::from_f64(0.0));
    let loss_opts = LossOptions::new();
    let mut run_op = || -> Result<(), CliError> {
        match op {
            Op::Softmax => softmax::softmax_into(&x, &mut out, &opts)?,
            Op::LogSoftmax => softmax::log_softmax_into(&x, &mut out, &opts)?,
            Op::Logsumexp => {
                black_box(softmax::logsumexp(&x, &opts)?);
            }
            Op::SoftmaxBackward => softmax::softmax_backward_into(&y, &dy, &mut out, &opts)?,
            Op::LogSoftmaxBackward => softmax::log_softmax_backward_into(&ly, &dy, &mut out, &opts)?,
            Op::CrossEntropy => {
                let target = Target::classes(targets.view());
                black_box(softmax::cross_entropy_with_grad_into(&x, target, &loss_opts, &mut out)?);
            }
            Op::SoftmaxAxis0 => softmax::softmax_into(&transposed, &mut out_t, &opts_axis0)?,
        }
        black_box(&mut out);
        black_box(&mut out_t);
        Ok(())
    };
    let mut run_copy = || -> Result<(), CliError> {
        copy_into(xs, &mut copy_dst);
        black_box(&mut copy_dst);
        Ok(())
    };
    let budget = Duration::from_secs_f64(args.min_time / args.samples as f64);
    let (mut reps, mut copy_reps) = (1, 1);
    // Warm up both (page faults, caches, the thread pool), and settle the repetition counts.
    sample(budget / 4, &mut reps, &mut run_op)?;
    sample(budget / 4, &mut copy_reps, &mut run_copy)?;
    let (mut times, mut copy_times) = (Vec::new(), Vec::new());
    for _ in 0..args.samples {
        times.push(sample(budget, &mut reps, &mut run_op)?);
        copy_times.push(sample(budget, &mut copy_reps, &mut run_copy)?);
    }
    Ok(Measured { op, rows, cols, median: median(times), copy_median: median(copy_times) })
}
