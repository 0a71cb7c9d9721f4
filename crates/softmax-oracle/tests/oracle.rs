//! The oracle against reference values computed independently with Python's
//! mpmath (at 400 to 3000 bits, printed to 50 significant digits), plus the
//! ulp measurement on hand-made cases and a speed check on a 10^6 row.

use half::{bf16, f16};
use softmax_oracle::{Exact, log_sigmoid, log_softmax, logsumexp, sigmoid, softmax, softplus};

/// Asserts that `got` is within 1e-45 relative of the decimal `want`.
#[track_caller]
fn close(got: &Exact, want: &str) {
    let w = Exact::from_decimal(want);
    let rel = got.sub(&w).div(&w).to_f64().abs();
    assert!(rel < 1e-45, "got {got:?}, want {want}, relative error {rel:e}");
    // The f64 rounding of a 50-digit decimal is the correct rounding of the
    // true value unless that value is within 1e-34 of a tie, which none is.
    assert_eq!(got.to_f64(), want.parse::<f64>().unwrap(), "{want}");
}

#[track_caller]
fn close_all(got: &[Exact], want: &[&str]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        close(g, w);
    }
}

fn p2(e: i32) -> f64 {
    2f64.powi(e)
}

#[test]
fn softmax_of_small_rows() {
    close_all(
        &softmax(&[1.0, 2.0, 3.0], 1.0),
        &[
            "9.0030573170380457998022101484491797867930864911467e-2",
            "2.4472847105479765247295961834076279719930007483797e-1",
            "6.6524095577482188952901828017474540493276906025056e-1",
        ],
    );
    close_all(
        &softmax(&[1000.0, 1000.5, 999.0], 1.0),
        &[
            "3.3149896042409150508697128137114404991846898852411e-1",
            "5.4654938726617963770717616459013221848660980211337e-1",
            "1.2195165230972885720585255403872373159492120936252e-1",
        ],
    );
}

#[test]
fn log_softmax_with_a_dominant_class() {
    let ls = log_softmax(&[0.0, -40.0, -50.0], 1.0);
    close_all(
        &ls,
        &[
            "-4.2485471302763853780824601580504559514914913023526e-18",
            "-4.000000000000000000424854713027638537808246015805e+1",
            "-5.000000000000000000424854713027638537808246015805e+1",
        ],
    );
    // Seen just below -40: a kernel returning -40.0 is within half an ulp.
    assert!(ls[1].ulp_error_f64(-40.0) < 0.01);
}

#[test]
fn logsumexp_with_catastrophic_cancellation() {
    let m = -std::f64::consts::LN_2;
    let l = logsumexp(&[m, m], 1.0).unwrap();
    close(&l, "2.3190468138462996154948554638754786504120680009493e-17");
    // -p/q agrees with -ln 2 to 2^-106: the first working precision cannot
    // give 256 good bits of the sum, the oracle must notice and go higher.
    let (p, q) = (1554903831458736.0, 2243252046704767.0);
    let l = logsumexp(&[-p, -p], q).unwrap();
    close(&l, "1.3159603880468175993575875757347865579111761709798e-32");
    // All 256 bits are right (at the first precision only ~210 would be).
    let want = Exact::from_decimal(
        "1.3159603880468175993575875757347865579111761709798388830687834968187745554615054e-32",
    );
    let rel = l.sub(&want).div(&want).to_f64().abs();
    assert!(rel < 1e-75, "{rel:e}");
}

#[test]
fn sigmoid_family() {
    let s40 = sigmoid(40.0);
    close(&s40, "9.9999999999999999575164574470841102271927909559549e-1");
    close(&sigmoid(-40.0), "4.2483542552915889772807209044045063714347627178862e-18");
    // sigmoid(40) = 1 - 4.25e-18 lies in [1/2, 1): its ulp is 2^-53.
    let gap = "4.2483542552915889772807209044045063714347627178862e-18".parse::<f64>().unwrap() / p2(-53);
    assert!((s40.ulp_error_f64(1.0) - gap).abs() < 1e-12);
    assert!((s40.ulp_error_f64(1.0 - p2(-53)) - (1.0 - gap)).abs() < 1e-12);
    let s = sigmoid(-0.0012345).neg().add(&Exact::from_f64(1.0));
    let want = Exact::from_decimal(
        "0.50030862496080488171118874129322693273720497745017871428290527410835124229759266",
    );
    assert!(s.sub(&want).div(&want).to_f64().abs() < 1e-75);
    close(&sigmoid(1e-10), "5.0000000002500000000000000091078409955411020614353e-1");
    close(&sigmoid(-20.5), "1.2501528648238604415564059975196624616085760424487e-9");
    close(&sigmoid(700.0), "1.0");
    assert!(sigmoid(700.0).ulp_error_f64(1.0) < 1e-200);
    assert!((sigmoid(700.0).ulp_error_f64(1.0 - p2(-53)) - 1.0).abs() < 1e-200);

    close(&log_sigmoid(-800.0), "-8.0e+2");
    close(&log_sigmoid(750.0), "-1.9016849634750064399954562367340163752329734347849e-326");
    close(&log_sigmoid(3.0), "-4.8587351573742058758925919854689997941881642828109e-2");
    close(&log_sigmoid(-1e-5), "-6.9315218057244530941758905543949008634585885157782e-1");
    close(&softplus(1e-20), "6.931471805599453094222321214581765678012789916313e-1");
    close(&softplus(-50.0), "1.9287498479639177830171568127282115329546846903571e-22");
    close(&softplus(30.0), "3.0000000000000093576229688397367793776974246751577e+1");
    close(&softplus(0.0), "6.9314718055994530941723212145817656807550013436026e-1");
    close(&softplus(-1e-300), "6.9314718055994530941723212145817656807550013436026e-1");
}

#[test]
fn temperatures() {
    let x = [0.1, 0.2, 0.3, -0.4];
    close_all(
        &softmax(&x, 0.05),
        &[
            "1.5876228533195916879009450565497006752236773290495e-2",
            "1.1731034327122810073552688500395129910651256080487e-1",
            "8.6681270741591568213293818848936891160284677462187e-1",
            "7.2077966030025252547594118278253840389128276775981e-7",
        ],
    );
    close(&logsumexp(&x, 0.05).unwrap(), "6.1429323492798191100514880315188684201750712676496");
    close_all(
        &log_softmax(&[1.5, -2.25, 7.0, 7.0], 3.0),
        &[
            "-2.6243719322750413463146569875416859046579676649955",
            "-3.8743719322750413463146569875416859046579676649955",
            "-7.9103859894170801298132365420835257132463433166214e-1",
            "-7.9103859894170801298132365420835257132463433166214e-1",
        ],
    );
}

#[test]
fn rows_spread_over_hundreds_of_units() {
    // 1000 + 300 z for a few z.
    let x = [1090.0, 640.0, 1003.0, 1660.0, 790.0, 1657.0, 1330.0, 100.0];
    close_all(
        &softmax(&x, 1.0),
        &[
            "2.698013363669631434923214770675952486166707876995e-248",
            "9.9661458826116016930992082003571955036058387912762e-444",
            "4.4404212351402149334774135127954955019856613817573e-286",
            "9.5257412682243321912115184822824779861382056757939e-1",
            "1.388991299891458197550174525028945790514504637198e-378",
            "4.7425873177566780878848151771752201386179432420609e-2",
            "4.5890179162075002199370309458833390401939773793739e-144",
            "3.0165255784916972357753578937721757808091720741249e-678",
        ],
    );
    close_all(
        &log_softmax(&x, 1.0),
        &[
            "-5.7004858735157374205875892591985468999794188164283e+2",
            "-1.0200485873515737420587589259198546899979418816428e+3",
            "-6.5704858735157374205875892591985468999794188164283e+2",
            "-4.8587351573742058758925919854689997941881642828109e-2",
            "-8.7004858735157374205875892591985468999794188164283e+2",
            "-3.0485873515737420587589259198546899979418816428281",
            "-3.3004858735157374205875892591985468999794188164283e+2",
            "-1.5600485873515737420587589259198546899979418816428e+3",
        ],
    );
    close(&logsumexp(&x, 1.0).unwrap(), "1.6600485873515737420587589259198546899979418816428e+3");
    close(&logsumexp(&x, 0.05).unwrap(), "3.3199999999999998157029779122249001712932773368705e+4");
    let s = softmax(&x, 0.05);
    close(&s[3], "9.9999999999999999999999999124348923730345049647167e-1");
    close(&s[5], "8.7565107626965495035283250951111730544699721838213e-27");
    // exp(-1560 / 0.05) = exp(-31200): far below f64, still exact.
    assert!(!s[7].is_zero());
    assert_eq!(s[7].to_f64(), 0.0);
    assert!(s[7].ulp_error_f64(0.0) < 1e-100);
}

#[test]
fn remainders_beyond_any_precision() {
    // sigmoid(-1e300) = e^-1e300: 0 in f64, and a 0 is less than an ulp off.
    let s = sigmoid(-1e300);
    assert!(!s.is_zero());
    assert_eq!(s.to_f64(), 0.0);
    assert_eq!(s.ulp_error_f64(0.0), 0.0);
    assert_eq!(s.ulp_error_f64(5e-324), 1.0);
    // sigmoid(1e300) = 1 - e^-1e300, just below 1.
    let s = sigmoid(1e300);
    assert_eq!(s.to_f64(), 1.0);
    assert_eq!(s.ulp_error_f64(1.0), 0.0);
    assert_eq!(s.ulp_error_f64(1.0 - p2(-53)), 1.0);
    assert_eq!(s.ulp_error_f32(1.0 - f32::EPSILON / 2.0), 1.0);
    assert_eq!(softplus(1e300).to_f64(), 1e300);
    assert_eq!(log_sigmoid(-1e300).to_f64(), -1e300);
    assert_eq!(log_sigmoid(1e300).to_f64(), -0.0);
    assert!(log_sigmoid(1e300).to_f64().is_sign_negative());

    let s = softmax(&[0.0, -1e300], 1.0);
    assert_eq!(s[0].to_f64(), 1.0);
    assert_eq!(s[0].ulp_error_f64(1.0 - p2(-53)), 1.0);
    assert!(!s[1].is_zero());
    assert_eq!(s[1].ulp_error_f64(5e-324), 1.0);
    // Two tied maxima and a negligible term: just below 1/2.
    let s = softmax(&[0.0, 0.0, -1e10], 1.0);
    assert_eq!(s[0].to_f64(), 0.5);
    assert_eq!(s[0].ulp_error_f64(0.5 - p2(-54)), 1.0);
    assert_eq!(s[0].ulp_error_f64(0.5 + p2(-53)), 2.0);
    // Exactly 1/2 (no other term).
    let s = softmax(&[3.0, 3.0], 1.0);
    assert_eq!(s[0].ulp_error_f64(0.5 - p2(-54)), 0.5);

    // log_softmax = -(2^53 + 1) - e^-(2^53+1): past the tie between
    // -(2^53) and -(2^53 + 2), so it rounds to the latter (ties-to-even would
    // have given -2^53).
    let ls = log_softmax(&[p2(53), -1.0], 1.0);
    assert_eq!(ls[1].to_f64(), -(p2(53) + 2.0));
    assert_eq!(ls[0].to_f64(), -0.0);
    assert!(ls[0].to_f64().is_sign_negative());
    assert_eq!(logsumexp(&[p2(53), -1.0], 1.0).unwrap().to_f64(), p2(53));
}

#[test]
fn near_ties_are_resolved() {
    // softmax of [2^-1074, 0]: 1/2 + 2^-1076 and 1/2 - 2^-1076.
    let s = softmax(&[5e-324, 0.0], 1.0);
    assert_eq!(s[0].to_f64(), 0.5);
    assert_eq!(s[1].to_f64(), 0.5);
    assert_eq!(s[0].ulp_error_f64(0.5 + p2(-53)), 1.0);
    assert_eq!(s[1].ulp_error_f64(0.5 - p2(-54)), 1.0);
    let t = sigmoid(-5e-324);
    assert_eq!(t.ulp_error_f64(0.5 - p2(-54)), 1.0);
    assert_eq!(sigmoid(5e-324).ulp_error_f64(0.5 - p2(-54)), 0.5);
}

#[test]
fn ulp_error_on_hand_made_cases() {
    let one = Exact::from_f64(1.0);
    // Exactly half an ulp: 1 + 2^-53, a tie.
    let h = one.add(&Exact::from_f64(p2(-53)));
    assert_eq!(h.ulp_error_f64(1.0), 0.5);
    assert_eq!(h.ulp_error_f64(1.0 + p2(-52)), 0.5);
    assert_eq!(h.to_f64(), 1.0);
    let h3 = one.add(&Exact::from_f64(3.0 * p2(-53)));
    assert_eq!(h3.to_f64(), 1.0 + 2.0 * p2(-52));
    // Below a power of two the spacing halves.
    assert_eq!(one.ulp_error_f64(1.0 - p2(-53)), 0.5);
    assert_eq!(Exact::from_f64(1.0 - p2(-53)).ulp_error_f64(1.0), 1.0);
    // Subnormals: 1.5 * 2^-1074 lies halfway between 2^-1074 and 2^-1073.
    let sub = Exact::from_f64(3.0 * 5e-324).div(&Exact::from_f64(2.0));
    assert_eq!(sub.ulp_error_f64(5e-324), 0.5);
    assert_eq!(sub.ulp_error_f64(1e-323), 0.5);
    assert_eq!(sub.to_f64(), 1e-323);
    let tiny = Exact::from_f64(5e-324).div(&Exact::from_f64(4.0));
    assert_eq!(tiny.to_f64(), 0.0);
    assert_eq!(tiny.ulp_error_f64(0.0), 0.25);
    // Zero: the ulp is the smallest subnormal of the format.
    let z = Exact::from_f64(0.0);
    assert!(z.is_zero());
    assert_eq!(z.ulp_error_f64(0.0), 0.0);
    assert_eq!(z.ulp_error_f64(-5e-324), 1.0);
    assert_eq!(z.ulp_error_f32(f32::from_bits(1)), 1.0);
    assert_eq!(z.ulp_error_f16(f16::from_bits(1)), 1.0);
    assert_eq!(z.ulp_error_bf16(bf16::from_bits(1)), 1.0);
    // Other formats.
    assert_eq!(one.ulp_error_f32(1.0 + f32::EPSILON), 1.0);
    assert_eq!(one.ulp_error_f32(1.0 - f32::EPSILON / 2.0), 0.5);
    assert_eq!(one.ulp_error_f16(f16::from_f64(1.0 + p2(-10))), 1.0);
    assert_eq!(one.ulp_error_bf16(bf16::from_f64(1.0 + p2(-7))), 1.0);
    let third = one.div(&Exact::from_f64(3.0));
    let e = third.ulp_error_f16(f16::from_f64(1.0 / 3.0));
    assert!(e > 0.0 && e <= 0.5, "{e}");
    let e32 = third.ulp_error_f32((1.0f64 / 3.0) as f32);
    assert!(e32 > 0.0 && e32 <= 0.5, "{e32}");
    assert_eq!(third.to_f32(), 1.0f32 / 3.0);
    assert_eq!(third.to_f16(), f16::from_f64(1.0 / 3.0));
    assert_eq!(third.to_bf16(), bf16::from_f64(1.0 / 3.0));
    // Large values, special got values.
    let big = Exact::from_f64(1e300);
    assert_eq!(big.ulp_error_f64(f64::from_bits(1e300f64.to_bits() + 1)), 1.0);
    assert_eq!(one.ulp_error_f64(f64::NAN), f64::INFINITY);
    assert_eq!(one.ulp_error_f64(f64::INFINITY), f64::INFINITY);
    assert_eq!(one.ulp_error_f16(f16::INFINITY), f64::INFINITY);
    // to_f64 overflows to infinity.
    let huge = Exact::from_f64(f64::MAX).mul(&Exact::from_f64(2.0));
    assert_eq!(huge.to_f64(), f64::INFINITY);
    assert_eq!(huge.neg().to_f64(), f64::NEG_INFINITY);
}

#[test]
fn arithmetic() {
    let third = Exact::from_f64(1.0).div(&Exact::from_f64(3.0));
    assert_eq!(third.mul(&Exact::from_f64(3.0)).to_f64(), 1.0);
    let half = Exact::from_f64(0.5);
    let back = half.exp().ln();
    assert!(back.sub(&half).to_f64().abs() < 1e-70);
    close(&Exact::from_f64(1.0).exp(), "2.7182818284590452353602874713526624977572470937000");
    close(&Exact::from_f64(10.0).ln(), "2.3025850929940456840179914546843642076011014886288");
    assert_eq!(half.neg().to_f64(), -0.5);
    assert!(Exact::from_f64(-1e10).exp().to_f64() == 0.0);
    assert!(!Exact::from_f64(-1e10).exp().is_zero());
    assert!(!format!("{third:?}").is_empty());
    assert!(format!("{third}").starts_with("3.333"));
}

/// A deterministic pseudo-random row: roughly normal values times `scale`.
fn lcg_row(n: usize, seed: u64, scale: f64, offset: f64) -> Vec<f64> {
    let mut s = seed;
    let mut next = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            // Sum of 4 uniforms: mean 2, variance 1/3.
            let z = (next() + next() + next() + next() - 2.0) * 3f64.sqrt();
            offset + scale * z
        })
        .collect()
}

fn sum(v: &[Exact]) -> Exact {
    v.iter().fold(Exact::from_f64(0.0), |a, b| a.add(b))
}

#[test]
fn internal_consistency_on_random_rows() {
    for (seed, scale, tau) in [(1, 1.0, 1.0), (2, 300.0, 1.0), (3, 5.0, 0.05), (4, 30.0, 3.0)] {
        let x = lcg_row(50, seed, scale, 1000.0);
        let s = softmax(&x, tau);
        let ls = log_softmax(&x, tau);
        let l = logsumexp(&x, tau).unwrap();
        let total = sum(&s).sub(&Exact::from_f64(1.0)).to_f64().abs();
        assert!(total < 1e-70, "sum of softmax - 1 = {total:e}");
        for i in 0..x.len() {
            // log_softmax_i = q_i - logsumexp and softmax_i = exp(log_softmax_i).
            let q = Exact::from_f64(x[i]).div(&Exact::from_f64(tau));
            let d = q.sub(&l).sub(&ls[i]).to_f64().abs();
            assert!(d < 1e-70 * q.to_f64().abs().max(1.0), "{d:e}");
            let r = ls[i].exp().div(&s[i]).sub(&Exact::from_f64(1.0)).to_f64().abs();
            assert!(r < 1e-70, "{r:e}");
        }
    }
}

#[test]
fn a_row_of_a_million() {
    let x = lcg_row(1_000_000, 7, 300.0, 1000.0);
    let t = std::time::Instant::now();
    let s = softmax(&x, 1.0);
    let elapsed = t.elapsed();
    assert_eq!(s.len(), x.len());
    let total = s.iter().map(Exact::to_f64).sum::<f64>();
    assert!((total - 1.0).abs() < 1e-12, "{total}");
    eprintln!("softmax of 10^6 elements: {elapsed:?}");
    let y = lcg_row(1_000_000, 8, 1.0, 0.0);
    let t = std::time::Instant::now();
    let l = logsumexp(&y, 0.5).unwrap();
    eprintln!("logsumexp of 10^6 elements: {:?}", t.elapsed());
    assert!(l.to_f64() > 13.0 && l.to_f64() < 25.0);
}

#[test]
fn empty_rows() {
    assert!(softmax(&[], 1.0).is_empty());
    assert!(log_softmax(&[], 1.0).is_empty());
    assert!(logsumexp(&[], 1.0).is_none());
    let one = logsumexp(&[-3.5], 1.0).unwrap();
    assert!(one.sub(&Exact::from_f64(-3.5)).is_zero());
    assert!(log_softmax(&[-3.5], 7.0)[0].is_zero());
    assert_eq!(softmax(&[-3.5], 7.0)[0].to_f64(), 1.0);
}

#[test]
#[should_panic(expected = "finite")]
fn non_finite_inputs_panic() {
    softmax(&[1.0, f64::NAN], 1.0);
}

#[test]
#[should_panic(expected = "temperature")]
fn bad_temperature_panics() {
    logsumexp(&[1.0], 0.0);
}
