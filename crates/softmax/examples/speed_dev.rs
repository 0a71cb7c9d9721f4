// Dev-only quick timing (not committed): copy vs softmax f32 at the shapes.
use std::time::Instant;
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
fn time<F: FnMut()>(mut f: F, elems: usize) -> f64 {
    f();
    let mut iters = 1usize;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        if t.elapsed().as_secs_f64() > 0.02 {
            break;
        }
        iters *= 2;
    }
    let mut s = vec![];
    for _ in 0..11 {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        s.push(t.elapsed().as_secs_f64() / iters as f64);
    }
    elems as f64 / median(s) / 1e9
}
fn main() {
    let op = std::env::args().nth(1).unwrap_or("softmax".into());
    for &(r, c) in &[(4096usize, 128usize), (256, 1000), (64, 32768), (16, 1048576)] {
        let mut state = 1u64;
        let x: Vec<f32> = (0..r * c)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 8.0
            })
            .collect();
        let xa = ndarray::Array2::from_shape_vec((r, c), x.clone()).unwrap();
        let mut out = ndarray::Array2::<f32>::zeros((r, c));
        let mut y = vec![0f32; r * c];
        let copy = time(
            || {
                y.copy_from_slice(&x);
                std::hint::black_box(&y);
            },
            r * c,
        );
        let o = softmax::Options::new();
        let sm = match op.as_str() {
            "log" => time(
                || {
                    softmax::log_softmax_into(&xa, &mut out, &o).unwrap();
                    std::hint::black_box(&out);
                },
                r * c,
            ),
            "lse" => time(
                || {
                    std::hint::black_box(softmax::logsumexp(&xa, &o).unwrap());
                },
                r * c,
            ),
            _ => time(
                || {
                    softmax::softmax_into(&xa, &mut out, &o).unwrap();
                    std::hint::black_box(&out);
                },
                r * c,
            ),
        };
        println!(
            "{r:>6}x{c:<8} copy {copy:6.2}  {op} {sm:6.3} Gelem/s  ratio {:.3}  isa {}",
            sm / copy,
            softmax::isa()
        );
    }
}
