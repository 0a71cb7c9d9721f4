//! Work shared among threads gives bitwise the same results as one thread: batches of short
//! rows split into tasks, and long rows cut into fixed chunks whose sums are merged in order.

#[path = "support/common.rs"]
mod common;

use common::{Rng, ulps_f32};
use ndarray::{Array1, Array2};
use softmax::Options;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
}

/// Softmax, log-softmax and logsumexp of `x`, flattened, on a pool of `threads`.
fn outputs(x: &Array2<f32>, threads: usize) -> Vec<Vec<u32>> {
    pool(threads).install(|| {
        let o = Options::new();
        let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
        vec![
            bits(softmax::softmax(x, &o).unwrap().into_raw_vec_and_offset().0),
            bits(softmax::log_softmax(x, &o).unwrap().into_raw_vec_and_offset().0),
            bits(softmax::logsumexp(x, &o).unwrap().to_vec()),
            {
                // The fused cross-entropy: per-sample losses and the gradient.
                let (loss, grad) = cross_entropy(x);
                let mut v: Vec<u32> = loss.iter().map(|l| l.to_bits()).collect();
                v.extend(grad.iter().map(|g| g.to_bits()));
                v
            },
        ]
    })
}

/// The per-sample cross-entropy of the rows of `x` and its gradient, against a class per row
/// (every fifth ignored).
fn cross_entropy<T: softmax::Element>(x: &Array2<T>) -> (ndarray::ArrayD<T>, Array2<T>) {
    let (rows, cols) = x.dim();
    let target =
        ndarray::Array1::from_shape_fn(rows, |i| if i % 5 == 4 { -100 } else { ((i * 7919) % cols) as i64 });
    let opts = softmax::LossOptions::new().reduction(softmax::Reduction::None);
    softmax::cross_entropy_with_grad(x, softmax::Target::classes(target.view()), &opts).unwrap()
}

fn random(rng: &mut Rng, rows: usize, cols: usize, scale: f64) -> Array2<f32> {
    Array2::from_shape_simple_fn((rows, cols), || (rng.normal() * scale) as f32)
}

#[test]
fn any_thread_count_gives_the_same_bits() {
    let mut rng = Rng(5);
    let mut cases = vec![
        random(&mut rng, 4096, 128, 3.0),
        random(&mut rng, 300, 1000, 10.0),
        random(&mut rng, 2, (1 << 18) + 5, 10.0),
        random(&mut rng, 1, 1 << 20, 30.0),
        // Short rows: blocks of 64 rows through the column kernels.
        random(&mut rng, 20_001, 10, 30.0),
        random(&mut rng, 40_000, 3, 30.0),
    ];
    // Rows handed back to the portable path in the middle of a parallel batch.
    let mut mixed = random(&mut rng, 600, 200, 5.0);
    mixed[[17, 3]] = f32::NAN;
    mixed[[333, 0]] = f32::INFINITY;
    mixed[[500, 199]] = 1e6;
    cases.push(mixed);
    // Short rows handed back likewise, in later tasks of a parallel batch.
    let mut short_mixed = random(&mut rng, 20_001, 10, 30.0);
    short_mixed[[15_003, 4]] = f32::NAN;
    short_mixed[[19_999, 9]] = f32::INFINITY;
    short_mixed[[20_000, 0]] = 1e6;
    cases.push(short_mixed);
    // A long row whose maximum ties across chunks, and one with a NaN in its last chunk.
    let mut ties = random(&mut rng, 1, 300_000, 2.0);
    for i in (0..300_000).step_by(9_973) {
        ties[[0, i]] = 9.0;
    }
    cases.push(ties);
    let mut nan = random(&mut rng, 1, 200_000, 2.0);
    nan[[0, 199_999]] = f32::NAN;
    cases.push(nan);
    for x in &cases {
        let one = outputs(x, 1);
        for threads in [2, 3] {
            assert!(outputs(x, threads) == one, "shape {:?}: {threads} threads differ from one", x.shape());
        }
        // The same in f16, bf16 and f64 (their own kernels; f16 cross-entropy through the f32 ones).
        let (h, b, d) = (x.mapv(half::f16::from_f32), x.mapv(half::bf16::from_f32), x.mapv(f64::from));
        let o = Options::new();
        let run = |threads: usize| {
            pool(threads).install(|| {
                (
                    softmax::softmax(&h, &o).unwrap().mapv(half::f16::to_bits),
                    softmax::log_softmax(&b, &o).unwrap().mapv(half::bf16::to_bits),
                    softmax::softmax(&d, &o).unwrap().mapv(f64::to_bits),
                    softmax::log_softmax(&d, &o).unwrap().mapv(f64::to_bits),
                    {
                        let (loss, grad) = cross_entropy(&d);
                        (loss.mapv(f64::to_bits), grad.mapv(f64::to_bits))
                    },
                    {
                        // Half types: blocks of rows widened to the f32 kernels.
                        let (loss, grad) = cross_entropy(&h);
                        (loss.mapv(half::f16::to_bits), grad.mapv(half::f16::to_bits))
                    },
                )
            })
        };
        let one = run(1);
        for threads in [2, 3] {
            assert!(run(threads) == one, "shape {:?}, other types: {threads} threads differ", x.shape());
        }
    }
}

#[test]
fn temperatures_and_masks_give_the_same_bits_on_any_thread_count() {
    // Blocks of rows prepared for the vector kernels (a temperature, a mask) shared among threads;
    // rows for the portable path (a NaN, `+inf`, everything masked) among them.
    let mut rng = Rng(8);
    for (rows, cols) in [(300, 1000), (5000, 7), (2, 200_000)] {
        let mut x = random(&mut rng, rows, cols, 8.0);
        x[[1, 3]] = f32::NAN;
        x[[rows - 1, cols - 1]] = f32::INFINITY;
        let mut mask = Array2::from_shape_fn((rows, cols), |(i, j)| (i * 7 + j * 3) % 5 != 0);
        mask.row_mut(0).fill(false);
        let (h, d) = (x.mapv(half::f16::from_f32), x.mapv(f64::from));
        for (tau, masked) in [(0.3, false), (1.0, true), (2.5, true), (1.0, false)] {
            let run = |threads: usize| {
                pool(threads).install(|| {
                    let mut o = Options::new().temperature(tau);
                    if masked {
                        o = o.mask(mask.view());
                    }
                    let y = softmax::softmax(&x, &o).unwrap();
                    let ly = softmax::log_softmax(&x, &o).unwrap();
                    // The backward passes too (rows prepared a block at a time).
                    let dx = softmax::softmax_backward(&y, &ly, &o).unwrap();
                    let dlx = softmax::log_softmax_backward(&ly, &y, &o).unwrap();
                    (
                        (
                            y.mapv(f32::to_bits),
                            ly.mapv(f32::to_bits),
                            dx.mapv(f32::to_bits),
                            dlx.mapv(f32::to_bits),
                        ),
                        softmax::softmax(&h, &o).unwrap().mapv(half::f16::to_bits),
                        softmax::log_softmax(&d, &o).unwrap().mapv(f64::to_bits),
                        // Logsumexp: blocks of prepared rows, and the half kernels' own path
                        // (long rows cut into chunks) at temperature 1.
                        (
                            softmax::logsumexp(&x, &o).unwrap().mapv(f32::to_bits),
                            softmax::logsumexp(&h, &o).unwrap().mapv(half::f16::to_bits),
                            softmax::logsumexp(&d, &o).unwrap().mapv(f64::to_bits),
                        ),
                    )
                })
            };
            let one = run(1);
            for threads in [2, 3] {
                assert!(
                    run(threads) == one,
                    "shape ({rows}, {cols}), τ {tau}, mask {masked}: {threads} threads differ"
                );
            }
        }
    }
}

#[test]
fn non_last_axes_give_the_same_bits_on_any_thread_count() {
    let mut rng = Rng(6);
    // Columns the vector path hands back (NaN, +inf, a maximum beyond its range) next to ones it
    // takes: they must not change how the others are computed, however columns are banded.
    let mut bad = ndarray::Array3::from_shape_simple_fn((1, 20_000, 64), || (rng.normal() * 4.0) as f32);
    bad[[0, 7, 3]] = f32::NAN;
    bad[[0, 9_000, 20]] = f32::INFINITY;
    bad[[0, 19_999, 40]] = 5000.0;
    let cases = [
        ndarray::Array3::from_shape_simple_fn((1, 1000, 300), || (rng.normal() * 4.0) as f32),
        ndarray::Array3::from_shape_simple_fn((40, 50, 70), || (rng.normal() * 4.0) as f32),
        ndarray::Array3::from_shape_simple_fn((1, 30_000, 64), || (rng.normal() * 4.0) as f32),
        bad,
    ];
    for x in &cases {
        for axis in [0isize, 1] {
            let run = |threads: usize| {
                pool(threads).install(|| {
                    let o = Options::new().axis(axis);
                    let y = softmax::softmax(x, &o).unwrap();
                    let ly = softmax::log_softmax(x, &o).unwrap();
                    // The backward passes and the cross-entropy along this axis, and f64 (lanes
                    // copied into rows, slabs shared among threads).
                    let dx = softmax::softmax_backward(&y, &ly, &o).unwrap();
                    let dlx = softmax::log_softmax_backward(&ly, &y, &o).unwrap();
                    let x64 = x.mapv(f64::from);
                    let y64 = softmax::softmax(&x64, &o).unwrap();
                    let dx64 = softmax::softmax_backward(&y64, &x64, &o).unwrap();
                    let k = x.shape()[axis as usize];
                    let other: Vec<usize> =
                        (0..3).filter(|&d| d != axis as usize).map(|d| x.shape()[d]).collect();
                    let t = ndarray::Array2::from_shape_fn((other[0], other[1]), |(i, j)| {
                        ((i * 7 + j * 3) % k) as i64
                    });
                    let lo = softmax::LossOptions::new().class_axis(axis).reduction(softmax::Reduction::None);
                    let (loss, grad) =
                        softmax::cross_entropy_with_grad(&x64, softmax::Target::classes(t.view()), &lo)
                            .unwrap();
                    (
                        (
                            y.mapv(f32::to_bits),
                            ly.mapv(f32::to_bits),
                            dx.mapv(f32::to_bits),
                            dlx.mapv(f32::to_bits),
                        ),
                        (
                            y64.mapv(f64::to_bits),
                            dx64.mapv(f64::to_bits),
                            loss.mapv(f64::to_bits),
                            grad.mapv(f64::to_bits),
                        ),
                    )
                })
            };
            let one = run(1);
            for threads in [2, 3] {
                assert!(run(threads) == one, "shape {:?}, axis {axis}: {threads} threads differ", x.shape());
            }
        }
    }
}

#[test]
fn long_rows_split_into_chunks_stay_exact() {
    // Against the f64 exact path (the portable kernels, correctly rounded in f64), whose
    // rounding to f32 is within half an ulp plus a hair.
    let mut rng = Rng(8);
    for len in [(1 << 16) + 1, 3 * (1 << 16) - 7, 1_000_003] {
        let x: Vec<f32> = (0..len).map(|_| (rng.normal() * 20.0) as f32).collect();
        let x32 = Array1::from(x.clone());
        let x64 = Array1::from(x.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
        let o = Options::new();
        let (y, y64) = (softmax::softmax(&x32, &o).unwrap(), softmax::softmax(&x64, &o).unwrap());
        let (ly, ly64) = (softmax::log_softmax(&x32, &o).unwrap(), softmax::log_softmax(&x64, &o).unwrap());
        let worst = |a: &Array1<f32>, b: &Array1<f64>| {
            a.iter()
                .zip(b)
                .filter(|(_, e)| e.abs() >= f64::from(f32::MIN_POSITIVE))
                .map(|(&g, &e)| ulps_f32(g, e as f32))
                .max()
                .unwrap()
        };
        assert!(worst(&y, &y64) <= 2, "softmax, len {len}: {} ulp", worst(&y, &y64));
        assert!(worst(&ly, &ly64) <= 2, "log_softmax, len {len}: {} ulp", worst(&ly, &ly64));
        let lse = softmax::logsumexp(&x32, &o).unwrap()[[]];
        let lse64 = softmax::logsumexp(&x64, &o).unwrap()[[]];
        assert!(ulps_f32(lse, lse64 as f32) <= 1, "logsumexp, len {len}");
    }
}
