//! `softmax explore`: frames drawn on ratatui's test backend after scripted key presses
//! (`--snapshot`), checked for what a person would see.

use std::process::Command;

/// The frame after `keys`, at `size`, for the starting `values`.
fn frame(values: &[&str], keys: &str, size: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_softmax"))
        .arg("explore")
        .args(values)
        .args(["--snapshot", size, "--keys", keys])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The screen line that starts with `prefix` (after the selection marker).
fn line<'a>(screen: &'a str, prefix: &str) -> &'a str {
    screen
        .lines()
        .find(|l| {
            let rest = l.strip_prefix("▶ ").or_else(|| l.strip_prefix("  ")).unwrap_or(l);
            rest.starts_with(prefix) || l.starts_with(prefix)
        })
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in\n{screen}"))
}

#[test]
fn the_first_frame_shows_sliders_probabilities_naive_values_and_the_jacobian() {
    let screen = frame(&[], "", "80x24");
    assert_eq!(screen.lines().count(), 24);
    assert!(screen.lines().all(|l| l.chars().count() <= 80), "{screen}");
    assert!(screen.starts_with("softmax explore: softmax(x/τ) of 3 logits at τ = 1   Σp = 1.000000"));
    // softmax(2, 1, 0.1) = 0.6590, 0.2424, 0.0986; log-softmax −0.4170, −1.4170, −2.3170.
    assert!(line(&screen, "x1").starts_with("▶ x1      2.00 ├"), "{screen}");
    assert!(line(&screen, "x1").ends_with("0.6590   -0.4170   0.6590"));
    assert!(line(&screen, "x2").ends_with("0.2424   -1.4170   0.2424"));
    assert!(line(&screen, "x3").ends_with("0.0986   -2.3170   0.0986"));
    assert!(line(&screen, "τ").contains("1.000"));
    assert!(screen.contains("Σ = 11.2125, fine until some x/τ passes 88.7"));
    // J = diag(p) − p pᵀ: 0.6590·0.3410 = 0.225 on the diagonal, −0.6590·0.2424 = −0.160 off it.
    assert!(line(&screen, "p1").starts_with("p1     █ 0.225 ▓-0.160 ▒-0.065"), "{screen}");
    assert!(screen.trim_end().ends_with("q quit"));
}

#[test]
fn pushing_a_logit_past_88_makes_the_naive_formula_nan_but_not_softmax() {
    let screen = frame(&["3", "1", "0"], &["shift-right"; 9].join(" "), "80x24");
    let x1 = line(&screen, "x1");
    assert!(x1.contains("90.00") && x1.contains("1.0000") && x1.ends_with("NaN"), "{screen}");
    assert!(screen.contains("exp(90) = inf, Σ = inf: p = inf/inf = NaN"), "{screen}");
    assert!(screen.contains("softmax subtracts max(x/τ) = 90 first"));
    assert!(line(&screen, "x2").contains("-89.0000"), "{screen}");
}

#[test]
fn temperature_add_remove_and_reset_keys() {
    // Up wraps to the temperature slider; two big steps down halve it twice.
    let cooled = frame(&["1", "0"], "up shift-left shift-left", "80x24");
    assert!(cooled.starts_with("softmax explore: softmax(x/τ) of 2 logits at τ = 0.25"), "{cooled}");
    assert!(line(&cooled, "τ").starts_with("▶ τ      0.250"), "{cooled}");
    // softmax(4, 0) = 0.9820, 0.0180.
    assert!(line(&cooled, "x1").contains("0.9820"), "{cooled}");

    let grown = frame(&["1", "0"], "+ + right", "80x24");
    assert!(grown.contains("of 4 logits"));
    assert!(line(&grown, "x4").starts_with("▶ x4      0.50"), "{grown}");
    assert!(grown.contains("p4 "));

    let shrunk = frame(&["1", "0", "5"], "down -", "80x24");
    assert!(shrunk.contains("of 2 logits") && line(&shrunk, "x2").contains("5.00"), "{shrunk}");

    let reset = frame(&["1", "0"], "right right + up shift-left 0", "80x24");
    assert_eq!(reset, frame(&["1", "0"], "", "80x24"));
}

#[test]
fn eight_logits_fit_80_by_24_and_a_small_screen_says_so() {
    let full = frame(&["1,2,3,4,5,6,7,8"], "", "80x24");
    assert!(full.contains("x8") && full.contains("p8") && full.trim_end().ends_with("q quit"), "{full}");
    let small = frame(&["1,2,3,4,5,6,7,8"], "", "80x23");
    assert!(small.starts_with("The terminal is 80×23; the explorer needs 78×24 for 8 logits."), "{small}");
    // Resizing is a redraw at the new size: a bigger screen shows the same rows.
    let big = frame(&[], "", "100x30");
    assert!(big.lines().count() == 30 && line(&big, "x1").ends_with("0.6590   -0.4170   0.6590"));
}

#[test]
fn bad_arguments_are_usage_errors() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_softmax")).arg("explore").args(args).output().unwrap()
    };
    for (args, message) in [
        (&["1", "x"][..], "logit 2: \"x\" is not a number"),
        (&["1,2,3,4,5,6,7,8,9"][..], "explore takes 1 to 8 logits, got 9"),
        (&["5000"][..], "logit 1 is 5000; explore takes values within ±1000"),
        (&["1", "-t", "0"][..], "--temperature 0 is outside [0.01, 100]"),
        (&["--snapshot", "80x24", "--keys", "jump"][..], "--keys: unknown key \"jump\""),
        (&["--snapshot", "eighty"][..], "expected COLUMNSxROWS"),
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    // Without a terminal, the interactive mode refuses rather than garbling a pipe.
    let out = run(&["1", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a terminal"));
}
