//! Where arrays come from: values on the command line, a file (`.npy` or text), standard input, or
//! values written into a flag's argument; and loading them as numbers, masks or class indices.

use std::fs::File;
use std::io::{self, Cursor, IsTerminal, Read};
use std::path::{Path, PathBuf};

use ndarray::{Array1, ArrayD, Dimension, IxDyn};

use super::float::{CliFloat, Dtype};
use super::npy::{self, NpyArray};
use super::text::{TextRows, ValueKind, split_fields};
use crate::error::CliError;

/// Where an array comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// Values given as command-line arguments: one row (a 1-D array). An argument may hold several
    /// values separated by commas.
    Values(Vec<String>),
    /// A file: `.npy` (recognised by its magic string), otherwise text.
    File(PathBuf),
    /// Text on standard input.
    Stdin,
    /// Values written into a flag's argument, rows separated by `;` (`--mask '1,0,1;1,1,0'`).
    Inline {
        /// The flag, for messages (`--mask`).
        flag: String,
        /// The argument as given.
        text: String,
    },
}

impl Source {
    /// The main input of a subcommand: `values` if any, else `-i FILE` (`-` is standard input),
    /// else standard input.
    pub(crate) fn main_input(values: Vec<String>, input: Option<PathBuf>) -> Source {
        match input {
            _ if !values.is_empty() => Source::Values(values),
            Some(path) if path.as_os_str() == "-" => Source::Stdin,
            Some(path) => Source::File(path),
            None => Source::Stdin,
        }
    }

    /// The source a flag's argument names: `-` is standard input; an existing file is that file;
    /// an argument made only of numbers (or `true`/`false`) separated by commas, spaces or `;` is
    /// inline values; anything else is a file name (reported missing when opened).
    pub(crate) fn from_flag(flag: &str, argument: &str) -> Source {
        if argument == "-" {
            return Source::Stdin;
        }
        let path = Path::new(argument);
        if path.exists() {
            return Source::File(path.to_path_buf());
        }
        let looks_inline = argument.split(';').all(|row| {
            split_fields(row).is_ok_and(|fields| {
                !fields.is_empty()
                    && fields.iter().all(|(_, f)| f.parse::<f64>().is_ok() || parse_bool(f).is_some())
            })
        });
        if looks_inline {
            Source::Inline { flag: flag.to_string(), text: argument.to_string() }
        } else {
            Source::File(path.to_path_buf())
        }
    }
}

/// An opened source, not yet converted to an element type.
pub(crate) enum Opened {
    /// A `.npy` file, fully read.
    Npy {
        /// The file name, for messages.
        name: String,
        /// Its contents.
        array: NpyArray,
    },
    /// Text rows, read on demand.
    Text {
        /// The rows.
        rows: TextRows,
        /// The input's size in bytes when known (a file), for progress.
        total_bytes: Option<u64>,
        /// Whether a single row means a 1-D array (inline values) rather than a `1 × K` matrix (a
        /// file or standard input).
        single_row_is_1d: bool,
    },
    /// Command-line values: one row.
    Values(Vec<String>),
}

impl Opened {
    /// Opens `source`: reads a `.npy` file whole, or readies text for reading row by row.
    ///
    /// # Errors
    /// A missing or unreadable file (usage error), an unsupported `.npy` dtype, a malformed `.npy`
    /// file, or a `.npy` name on a file that is not one.
    pub(crate) fn open(source: &Source) -> Result<Opened, CliError> {
        match source {
            Source::Values(values) => Ok(Opened::Values(values.clone())),
            Source::Stdin => {
                if io::stdin().is_terminal() {
                    eprintln_quiet("softmax: reading rows from standard input (end with Ctrl-D)");
                }
                Ok(Opened::Text {
                    rows: TextRows::new(Box::new(io::stdin()), "<stdin>"),
                    total_bytes: None,
                    single_row_is_1d: false,
                })
            }
            Source::Inline { flag, text } => Ok(Opened::Text {
                rows: TextRows::new(Box::new(Cursor::new(text.replace(';', "\n"))), inline_name(flag, text)),
                total_bytes: None,
                single_row_is_1d: true,
            }),
            Source::File(path) => open_file(path),
        }
    }

    /// How messages call this input.
    pub(crate) fn name(&self) -> &str {
        match self {
            Opened::Npy { name, .. } => name,
            Opened::Text { rows, .. } => rows.name(),
            Opened::Values(_) => "the command line",
        }
    }

    /// The element type a computation on this input uses unless told otherwise: a `.npy` file's
    /// own (integers: `f64`), `f64` for text.
    pub(crate) fn default_dtype(&self) -> Dtype {
        match self {
            Opened::Npy { array, .. } => array.float_dtype().unwrap_or(Dtype::F64),
            _ => Dtype::F64,
        }
    }

    /// Loads the whole input as numbers of type `T` (one rounding from a wider stored type).
    ///
    /// # Errors
    /// A value that is not a number, ragged rows, or a boolean `.npy` (unsupported dtype).
    pub(crate) fn load_floats<T: CliFloat>(self) -> Result<Loaded<T>, CliError> {
        let kind = float_kind::<T>();
        self.load(&kind, |name, array| {
            Ok(match array {
                NpyArray::F16(a) => a.mapv(|v| T::from_f64(f64::from(v))),
                NpyArray::F32(a) => a.mapv(|v| T::from_f64(f64::from(v))),
                NpyArray::F64(a) => a.mapv(T::from_f64),
                NpyArray::Int(a) => a.mapv(|v| T::from_f64(v as f64)),
                NpyArray::Bool(_) => {
                    return Err(CliError::usage(format!(
                        "{name}: unsupported dtype bool for numbers (need f2, f4, f8 or integers)"
                    )));
                }
            })
        })
    }

    /// Loads the whole input as a mask: `.npy` booleans (or integers 0 and 1); text `0`, `1`,
    /// `true`, `false`.
    ///
    /// # Errors
    /// Any other value, or a floating-point `.npy` (unsupported dtype).
    pub(crate) fn load_mask(self) -> Result<Loaded<bool>, CliError> {
        let kind = ValueKind { name: "mask value (0, 1, true or false)", parse: parse_bool };
        self.load(&kind, |name, array| match array {
            NpyArray::Bool(a) => Ok(a),
            NpyArray::Int(a) => {
                if let Some((at, v)) = a.indexed_iter().find(|(_, v)| !matches!(**v, 0 | 1)) {
                    return Err(CliError::data(format!(
                        "{name}: mask value {v} at position {:?} is not 0 or 1",
                        at.slice()
                    )));
                }
                Ok(a.mapv(|v| v == 1))
            }
            other => Err(CliError::usage(format!(
                "{name}: unsupported dtype {} for a mask (need bool, or integers 0 and 1)",
                other.dtype_name()
            ))),
        })
    }

    /// Loads the whole input as class indices: `.npy` integers (or floats with integer values);
    /// text integers.
    ///
    /// # Errors
    /// A value that is not an integer, or a boolean `.npy` (unsupported dtype).
    pub(crate) fn load_classes(self) -> Result<Loaded<i64>, CliError> {
        let kind = ValueKind { name: "class index (an integer)", parse: parse_class };
        self.load(&kind, |name, array| {
            let from_float = |a: ArrayD<f64>| {
                if let Some((at, v)) = a.indexed_iter().find(|(_, v)| v.fract() != 0.0 || v.abs() > 9.0e15) {
                    return Err(CliError::data(format!(
                        "{name}: class index {v} at position {:?} is not an integer",
                        at.slice()
                    )));
                }
                Ok(a.mapv(|v| v as i64))
            };
            match array {
                NpyArray::Int(a) => Ok(a),
                NpyArray::F16(a) => from_float(a.mapv(f64::from)),
                NpyArray::F32(a) => from_float(a.mapv(f64::from)),
                NpyArray::F64(a) => from_float(a),
                NpyArray::Bool(_) => Err(CliError::usage(format!(
                    "{name}: unsupported dtype bool for class indices (need integers)"
                ))),
            }
        })
    }

    fn load<V: Clone>(
        self,
        kind: &ValueKind<V>,
        from_npy: impl FnOnce(&str, NpyArray) -> Result<ArrayD<V>, CliError>,
    ) -> Result<Loaded<V>, CliError> {
        match self {
            Opened::Npy { name, array } => {
                let array = from_npy(&name, array)?;
                Ok(Loaded { array, name, from_text: false })
            }
            Opened::Text { mut rows, single_row_is_1d, .. } => {
                let matrix = rows.read_all(kind)?;
                let array = if single_row_is_1d && matrix.nrows() == 1 {
                    matrix.into_shape_with_order(rows.width().unwrap_or(0)).map(|a| a.into_dyn())
                } else {
                    Ok(matrix.into_dyn())
                };
                let array = array
                    .map_err(|e| CliError::data(format!("{}: internal error: shape: {e}", rows.name())))?;
                Ok(Loaded { array, name: rows.name().to_string(), from_text: true })
            }
            Opened::Values(values) => {
                let array = parse_values(&values, kind)?.into_dyn();
                Ok(Loaded { array, name: "the command line".to_string(), from_text: true })
            }
        }
    }
}

/// An input loaded whole.
pub(crate) struct Loaded<V> {
    /// The values.
    pub(crate) array: ArrayD<V>,
    /// How messages call the input.
    pub(crate) name: String,
    /// Whether it came from text, whose shape is only rows × columns.
    pub(crate) from_text: bool,
}

impl<V: Clone> Loaded<V> {
    /// The array, reshaped to `expected` if it came from text and has that many values (text
    /// cannot say "a vector of 4" from "a 4 × 1 matrix"); otherwise as it is, for the operation to
    /// report a mismatch.
    pub(crate) fn fit(self, expected: &[usize]) -> ArrayD<V> {
        let count: usize = expected.iter().product();
        if self.from_text && self.array.shape() != expected && self.array.len() == count {
            let data: Vec<V> = self.array.iter().cloned().collect();
            if let Ok(a) = ArrayD::from_shape_vec(IxDyn(expected), data) {
                return a;
            }
        }
        self.array
    }
}

fn open_file(path: &Path) -> Result<Opened, CliError> {
    let name = path.display().to_string();
    let mut file = File::open(path).map_err(|e| CliError::open(&name, &e))?;
    let total_bytes = file.metadata().ok().map(|m| m.len());
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(CliError::usage(format!("{name}: is a directory, not a file")));
    }
    let mut prefix = Vec::with_capacity(6);
    (&mut file).take(6).read_to_end(&mut prefix).map_err(|e| CliError::read(&name, &e))?;
    if npy::is_npy(&prefix) {
        let array = npy::read(path, &name)?;
        return Ok(Opened::Npy { name, array });
    }
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy")) {
        return Err(CliError::data(format!("{name}: not a .npy file (no \\x93NUMPY magic string)")));
    }
    Ok(Opened::Text {
        rows: TextRows::new(Box::new(Cursor::new(prefix).chain(file)), name),
        total_bytes,
        single_row_is_1d: false,
    })
}

/// How messages call values written into a flag: the flag and (the start of) its argument.
fn inline_name(flag: &str, text: &str) -> String {
    const MAX: usize = 24;
    if text.chars().count() <= MAX {
        format!("{flag} '{text}'")
    } else {
        format!("{flag} '{}…'", text.chars().take(MAX).collect::<String>())
    }
}

/// Command-line values (each argument one value, or several separated by commas) as one row.
fn parse_values<V>(values: &[String], kind: &ValueKind<V>) -> Result<Array1<V>, CliError> {
    let mut out = Vec::new();
    for (index, argument) in values.iter().enumerate() {
        let fields = split_fields(argument).map_err(|(_, message)| {
            CliError::data(format!("the command line: argument {} (\"{argument}\"): {message}", index + 1))
        })?;
        for (_, field) in fields {
            let value = (kind.parse)(field).ok_or_else(|| {
                CliError::data(format!(
                    "the command line: argument {} (\"{field}\") is not a {}",
                    index + 1,
                    kind.name
                ))
            })?;
            out.push(value);
        }
    }
    Ok(Array1::from(out))
}

/// How text is read into numbers of type `T`.
pub(crate) fn float_kind<T: CliFloat>() -> ValueKind<T> {
    ValueKind { name: "number", parse: T::parse_decimal }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" => Some(true),
        "0" => Some(false),
        _ if text.eq_ignore_ascii_case("true") => Some(true),
        _ if text.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn parse_class(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().or_else(|| {
        // `2.0` is accepted as class 2, as NumPy writes integer-valued floats.
        let v: f64 = text.parse().ok()?;
        (v.fract() == 0.0 && v.abs() <= 9.0e15).then_some(v as i64)
    })
}

/// Writes a line to standard error, ignoring failure (a closed standard error must not stop the
/// work).
pub(crate) fn eprintln_quiet(message: &str) {
    use std::io::Write;
    let _ = writeln!(io::stderr(), "{message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_arguments() {
        assert_eq!(Source::from_flag("--mask", "-"), Source::Stdin);
        assert!(matches!(Source::from_flag("--mask", "1,0;true false"), Source::Inline { .. }));
        assert!(matches!(Source::from_flag("--weight", "-1.5e3, inf"), Source::Inline { .. }));
        assert_eq!(Source::from_flag("--mask", "m.npy"), Source::File("m.npy".into()));
        assert_eq!(Source::from_flag("--mask", "1,,2"), Source::File("1,,2".into()));
    }

    #[test]
    fn values_and_fitting() {
        let kind = float_kind::<f64>();
        let row = parse_values(&["1".into(), "2,3".into(), "-inf".into()], &kind).unwrap();
        assert_eq!(row.len(), 4);
        let e = parse_values(&["1".into(), "x".into()], &kind).unwrap_err();
        assert_eq!(e.to_string(), "the command line: argument 2 (\"x\") is not a number");
        let loaded =
            Loaded { array: ArrayD::from_elem(IxDyn(&[3, 1]), 1.0), name: "t".into(), from_text: true };
        assert_eq!(loaded.fit(&[3]).shape(), &[3]);
        let npy =
            Loaded { array: ArrayD::from_elem(IxDyn(&[3, 1]), 1.0), name: "t".into(), from_text: false };
        assert_eq!(npy.fit(&[3]).shape(), &[3, 1]);
        assert_eq!(parse_class("2.0"), Some(2));
        assert_eq!(parse_class("2.5"), None);
    }
}
