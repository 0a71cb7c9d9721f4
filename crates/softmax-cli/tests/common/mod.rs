//! Helpers of the tests that drive the `softmax` binary: running it, temporary directories, and
//! reading its text and `.npy` outputs back.

#![allow(dead_code, reason = "each test file uses a different subset of the helpers")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::ArrayD;

/// The outcome of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success with nothing on standard error, and returns standard output.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "failed: {self:?}");
        assert!(self.stderr.is_empty(), "stderr: {}", self.stderr);
        &self.stdout
    }

    /// Asserts failure with `code`, one line on standard error containing every fragment, and no
    /// panic.
    pub fn fails(&self, code: i32, fragments: &[&str]) {
        assert_eq!(self.code, code, "exit code: {self:?}");
        assert!(!self.stderr.contains("panicked"), "panic: {}", self.stderr);
        for fragment in fragments {
            assert!(self.stderr.contains(fragment), "{fragment:?} not in stderr: {}", self.stderr);
        }
    }
}

/// The binary under test.
pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_softmax"))
}

/// Starts the binary with `args` and all three standard streams piped.
pub fn spawn(args: &[&str]) -> Child {
    binary()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs")
}

/// Runs the binary with `args` and empty standard input.
pub fn softmax(args: &[&str]) -> Run {
    softmax_stdin(args, "")
}

/// Runs the binary with `args`, feeding `input` on standard input.
pub fn softmax_stdin(args: &[&str], input: &str) -> Run {
    let mut child = spawn(args);
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_string();
    // Feed from a thread, so a large input cannot deadlock against a full output pipe.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().expect("the binary finishes");
    feeder.join().expect("feeder");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
    }
}

/// The path of a committed fixture.
pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).display().to_string()
}

/// A fresh directory under the system's temporary directory, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("softmax-cli-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    /// A path in the directory, as a string for the command line.
    pub fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    /// Writes a file in the directory and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write test file");
        path
    }

    /// The names of the files in the directory.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Text output as rows of numbers (blank lines skipped), split on spaces, tabs and commas.
pub fn rows(text: &str) -> Vec<Vec<f64>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split([' ', '\t', ','])
                .filter(|t| !t.is_empty())
                .map(|t| t.parse::<f64>().unwrap_or_else(|_| panic!("not a number: {t:?} in {l:?}")))
                .collect()
        })
        .collect()
}

/// Text output as one flat list of numbers.
pub fn values(text: &str) -> Vec<f64> {
    rows(text).into_iter().flatten().collect()
}

/// Text output of `f32` values (read as `f32`, so that their shortest decimals mean the same
/// value), widened to `f64`.
pub fn values_f32(text: &str) -> Vec<f64> {
    text.split_whitespace()
        .flat_map(|t| t.split(','))
        .map(|t| f64::from(t.parse::<f32>().expect("an f32")))
        .collect()
}

/// Asserts two lists of `f64` are equal bit for bit (NaN equal to NaN).
pub fn assert_same(got: &[f64], expected: &[f64]) {
    assert_eq!(got.len(), expected.len(), "lengths: {got:?} vs {expected:?}");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            g.to_bits() == e.to_bits() || (g.is_nan() && e.is_nan()),
            "element {i}: got {g:e}, expected {e:e}"
        );
    }
}

/// A `.npy` file read back by a minimal reader of what the binary writes (version 1.0,
/// little-endian `f2`/`f4`/`f8`, C order): its `descr`, shape and values widened to `f64`.
pub fn read_npy(path: &str) -> (String, Vec<usize>, Vec<f64>) {
    let bytes = std::fs::read(path).expect("read .npy");
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00", "magic and version");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + header_len) % 64, 0, "header aligned to 64 bytes");
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("text header");
    assert!(header.ends_with('\n') && header.contains("'fortran_order': False"), "{header}");
    let descr = header.split("'descr': '").nth(1).and_then(|r| r.split('\'').next()).expect("descr");
    let dims = header.split("'shape': (").nth(1).and_then(|r| r.split(')').next()).expect("shape");
    let shape: Vec<usize> =
        dims.split(',').map(str::trim).filter(|d| !d.is_empty()).map(|d| d.parse().unwrap()).collect();
    let data = &bytes[10 + header_len..];
    let values: Vec<f64> = match descr {
        "<f8" => data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect(),
        "<f4" => data.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap()))).collect(),
        "<f2" => {
            data.chunks_exact(2).map(|c| half::f16::from_le_bytes(c.try_into().unwrap()).to_f64()).collect()
        }
        other => panic!("unexpected descr {other}"),
    };
    assert_eq!(values.len(), shape.iter().product::<usize>(), "data length matches the shape");
    (descr.to_string(), shape, values)
}

/// An array's values widened to `f64`, in logical (C) order.
pub fn flat<T: softmax::Element>(a: &ArrayD<T>) -> Vec<f64> {
    a.iter().map(|v| v.to_f64()).collect()
}

/// Writes a little-endian float64 `.npy` file in C order (for inputs larger than a fixture).
pub fn write_npy_f64(path: &str, shape: &[usize], values: &[f64]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {tuple}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).expect("write .npy");
}
