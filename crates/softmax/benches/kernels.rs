//! Row-kernel benchmarks: each operation beside the naive three-loop version and a plain copy of
//! the same bytes, at the shapes of the speed issue. Compare the ratios, not the absolute times:
//! the machines are shared and noisy.
//!
//! Run: `cargo bench -p softmax --bench kernels`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use softmax::Options;

const SHAPES: [(usize, usize); 3] = [(4096, 128), (256, 1000), (64, 32768)];

fn logits(rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(i, j)| ((i * 7919 + j * 104_729) % 2001) as f32 * 0.01 - 10.0)
}

/// The textbook three loops in `f32`: maximum, exponentials and their sum, division.
fn naive_softmax(x: ArrayView2<'_, f32>, mut y: ArrayViewMut2<'_, f32>) {
    for (row, mut out) in x.rows().into_iter().zip(y.rows_mut()) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (o, &v) in out.iter_mut().zip(row) {
            *o = (v - max).exp();
            sum += *o;
        }
        out.iter_mut().for_each(|o| *o /= sum);
    }
}

fn forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("softmax f32");
    group.sample_size(10);
    for (rows, cols) in SHAPES {
        let x = logits(rows, cols);
        let mut y = Array2::<f32>::zeros((rows, cols));
        let id = format!("{rows}x{cols}");
        group.throughput(Throughput::Elements((rows * cols) as u64));
        group.bench_with_input(BenchmarkId::new("copy", &id), &x, |b, x| b.iter(|| y.assign(black_box(x))));
        let mut y = Array2::<f32>::zeros((rows, cols));
        group.bench_with_input(BenchmarkId::new("naive", &id), &x, |b, x| {
            b.iter(|| naive_softmax(black_box(x.view()), y.view_mut()))
        });
        let o = Options::new();
        group.bench_with_input(BenchmarkId::new("softmax", &id), &x, |b, x| {
            b.iter(|| softmax::softmax_into(black_box(x), &mut y, &o).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("log_softmax", &id), &x, |b, x| {
            b.iter(|| softmax::log_softmax_into(black_box(x), &mut y, &o).unwrap())
        });
        let xt = x.t().as_standard_layout().into_owned();
        let mut yt = Array2::<f32>::zeros(xt.raw_dim());
        let axis0 = Options::new().axis(0);
        group.bench_with_input(BenchmarkId::new("softmax axis 0", &id), &xt, |b, x| {
            b.iter(|| softmax::softmax_into(black_box(x), &mut yt, &axis0).unwrap())
        });
        let probs = softmax::softmax(&x, &o).unwrap();
        let dy = logits(rows, cols).mapv(|v| v * 0.1);
        group.bench_with_input(BenchmarkId::new("softmax backward", &id), &probs, |b, p| {
            b.iter(|| softmax::softmax_backward_into(black_box(p), &dy, &mut y, &o).unwrap())
        });
        let x16 = x.mapv(half::f16::from_f32);
        let mut y16 = Array2::<half::f16>::from_elem((rows, cols), half::f16::ZERO);
        group.bench_with_input(BenchmarkId::new("softmax f16", &id), &x16, |b, x| {
            b.iter(|| softmax::softmax_into(black_box(x), &mut y16, &o).unwrap())
        });
        let x64 = x.mapv(f64::from);
        let mut y64 = Array2::<f64>::zeros((rows, cols));
        group.bench_with_input(BenchmarkId::new("softmax f64", &id), &x64, |b, x| {
            b.iter(|| softmax::softmax_into(black_box(x), &mut y64, &o).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
