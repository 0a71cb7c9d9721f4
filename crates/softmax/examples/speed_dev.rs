use std::time::Instant;
fn main() {
    let x =
        ndarray::Array2::<f32>::from_shape_fn((4096, 1000), |(i, j)| ((i * 7 + j * 13) % 101) as f32 * 0.1);
    let mut y = ndarray::Array2::<f32>::zeros((4096, 1000));
    for t in [1, 2, 1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
        pool.install(|| {
            let o = softmax::Options::new();
            softmax::softmax_into(&x, &mut y, &o).unwrap();
            let s = Instant::now();
            for _ in 0..20 {
                softmax::softmax_into(&x, &mut y, &o).unwrap();
            }
            println!(
                "threads {t} (current {}): {:.3} Gelem/s",
                rayon::current_num_threads(),
                20.0 * 4096000.0 / s.elapsed().as_secs_f64() / 1e9
            );
        });
    }
}
