//! Input and output behaviour of the binary: text formats, bars, streaming, closed pipes, atomic
//! files, terminals, help.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TempDir, assert_same, flat, rows, softmax, softmax_stdin, spawn, values};
use ndarray::array;
use softmax::Options;

#[test]
fn output_formats_follow_the_extension() {
    let dir = TempDir::new("formats");
    let x = array![[1.0f64, 2.0, 3.0], [4.0, 5.0, 7.0]];
    let expected = flat(&softmax::softmax(&x, &Options::new()).unwrap().into_dyn());
    for (name, separator) in [("p.csv", ','), ("p.tsv", '\t'), ("p.txt", ' '), ("p.dat", ' ')] {
        let path = dir.path(name);
        // Nothing on standard output when the result goes to a file.
        assert_eq!(softmax_stdin(&["apply", "-o", &path], "1 2 3\n4 5 7\n").ok(), "");
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap();
        assert_eq!(first.matches(separator).count(), 2, "{name}: {first:?}");
        assert_same(&values(&text), &expected);
        // Each written file reads back as input in its own format.
        let again = softmax(&["logsumexp", "-i", &path]);
        assert_eq!(rows(again.ok()).len(), 2);
    }
    // `-o -` is standard output.
    assert_same(&values(softmax(&["apply", "-o", "-", "1", "2", "3"]).ok()), &expected[..3]);
}

#[test]
fn bars_are_drawn_when_asked_and_never_into_pipes_by_default() {
    let plain = softmax(&["apply", "1", "2", "3"]);
    assert!(!plain.ok().contains('│'));
    let out = softmax(&["apply", "--plot", "1", "2", "3"]);
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(lines[0], "0.09003057317038046 0.24472847105479767 0.6652409557748219");
    // One labelled bar per value, longer for larger probabilities, with the value at the end.
    let bar_len = |l: &str| l.chars().filter(|c| matches!(c, '█'..='▏')).count();
    assert!(lines[1].starts_with("1.0 │") && lines[1].ends_with(" 0.09003"), "{}", lines[1]);
    assert!(lines[2].starts_with("2.0 │") && lines[2].ends_with(" 0.2447"));
    assert!(lines[3].starts_with("3.0 │") && lines[3].ends_with(" 0.6652"));
    assert!(bar_len(lines[1]) < bar_len(lines[2]) && bar_len(lines[2]) < bar_len(lines[3]));
    // Sigmoid bars, and rows of stdin each followed by their bars.
    let out = softmax_stdin(&["sigmoid", "--plot"], "0 100\n-100 0\n");
    let text = out.ok();
    assert_eq!(text.matches('│').count(), 4);
    assert!(text.starts_with("0.5 1.0\n  0.0 │"), "{text}");
    // --no-plot wins when given last; the result in a file still gets bars on stdout with --plot.
    assert!(!softmax(&["apply", "--plot", "--no-plot", "1", "2"]).ok().contains('│'));
    let dir = TempDir::new("plotfile");
    let path = dir.path("p.txt");
    let out = softmax(&["apply", "--plot", "-o", &path, "1", "2"]);
    assert_eq!(out.ok().matches('│').count(), 2);
    assert!(!std::fs::read_to_string(&path).unwrap().contains('│'));
}

#[test]
fn a_closed_pipe_is_a_clean_exit() {
    let mut child = spawn(&["apply"]);
    let mut stdin = child.stdin.take().unwrap();
    // Keep feeding rows until the binary stops reading (it exits once its output is closed).
    let feeder = std::thread::spawn(move || {
        let row = "1 2 3\n".repeat(1000);
        for _ in 0..10_000 {
            if stdin.write_all(row.as_bytes()).is_err() {
                return;
            }
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("0.0900305731703804"));
    drop(stdout); // `| head -1`
    let status = child.wait().unwrap();
    feeder.join().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "exit {status:?}, stderr {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn stdin_rows_are_answered_as_they_arrive() {
    // Row by row: the answer to the first row comes while standard input is still open.
    let mut child = spawn(&["apply"]);
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdin.write_all(b"0 0\n").unwrap();
    stdin.flush().unwrap();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "0.5 0.5\n");
    stdin.write_all(b"1 1 1 1\n").unwrap_or(());
    drop(stdin);
    let status = child.wait().unwrap();
    // The second row was ragged: a data error naming the line, after the first answer.
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("<stdin>: line 2 has 4 values but line 1 has 2"), "{stderr}");
}

#[test]
fn a_failed_run_leaves_an_existing_output_intact() {
    let dir = TempDir::new("atomic");
    for name in ["keep.npy", "keep.csv", "keep.txt"] {
        let path = dir.write(name, "precious");
        // Two good rows are processed before the third turns out malformed.
        let out = softmax_stdin(&["apply", "-o", &path], "1 2\n3 4\n5 x\n");
        out.fails(1, &["<stdin>: line 3, column 3: \"x\" is not a number"]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    }
    // No temporary file is left behind.
    assert_eq!(dir.files(), vec!["keep.csv", "keep.npy", "keep.txt"]);
    // A successful run replaces the file.
    let path = dir.path("keep.txt");
    softmax(&["apply", "-o", &path, "0", "0"]).ok();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "0.5 0.5\n");
    assert_eq!(dir.files().len(), 3);
}

#[test]
fn help_explains_every_subcommand_with_examples() {
    let top = softmax(&["--help"]);
    for sub in ["apply", "logsumexp", "sigmoid", "jacobian", "backward", "loss"] {
        assert!(top.ok().contains(sub));
        let help = softmax(&[sub, "--help"]);
        assert!(help.ok().contains("Examples:"), "{sub}");
        assert!(help.stdout.contains("--output"), "{sub}");
    }
    assert!(softmax(&["apply", "--help"]).stdout.contains("--masked-rows"));
    assert!(softmax(&["loss", "--help"]).stdout.contains("--label-smoothing"));
}

/// Runs `shell_command` with a pseudo-terminal as its standard output and error (through
/// util-linux `script`); `None` where that is missing (the check is then skipped, with a note).
fn on_terminal(shell_command: &str) -> Option<String> {
    let probe = Command::new("script").args(["-qec", "true", "/dev/null"]).stdin(Stdio::null()).output();
    if !probe.is_ok_and(|p| p.status.success()) {
        eprintln!("util-linux `script` is not available: terminal behaviour not tested");
        return None;
    }
    let output = Command::new("script")
        .args(["-qec", shell_command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script runs");
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn on_a_terminal_bars_are_the_default_and_slow_work_shows_progress() {
    let bin = env!("CARGO_BIN_EXE_softmax");
    let Some(text) = on_terminal(&format!("{bin} apply 1 2 3")) else { return };
    assert!(text.contains('│'), "{text}");
    let Some(text) = on_terminal(&format!("{bin} apply 1 2 3 | cat")) else { return };
    assert!(!text.contains('│'), "{text}");
    // Input that takes over a second to arrive: a progress line on the terminal's standard error,
    // cleared at the end.
    let dir = TempDir::new("progress");
    let out = dir.path("p.txt");
    let started = Instant::now();
    let script = format!("(echo 1 2 3; sleep 1.5; echo 4 5 6) | {bin} apply -o {out}");
    let Some(text) = on_terminal(&script) else { return };
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert!(text.contains("B/s"), "no progress line: {text:?}");
    assert_eq!(rows(&std::fs::read_to_string(&out).unwrap()).len(), 2);
    // Quick work shows none.
    let Some(text) = on_terminal(&format!("{bin} apply -o {out} 1 2")) else { return };
    assert!(!text.contains("B/s") && !text.contains("chunks"), "{text:?}");
}
