//! Where results go: standard output as text, or a file (`.npy`, `.csv`, `.tsv`, anything else
//! text) written under a temporary name beside it and renamed into place only when complete.

use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use ndarray::ArrayViewD;

use super::float::CliFloat;
use super::npy::NpyWriter;
use crate::error::CliError;

/// Where a result goes: standard output (no `-o`, or `-o -`) or a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Text on standard output.
    Stdout,
    /// A file; its extension picks the format.
    File(PathBuf),
}

impl Target {
    /// The target of an optional `-o` argument.
    pub(crate) fn from_arg(path: Option<PathBuf>) -> Target {
        match path {
            Some(p) if p.as_os_str() != "-" => Target::File(p),
            _ => Target::Stdout,
        }
    }

    /// Whether this is standard output and standard output is a terminal.
    pub(crate) fn is_terminal(&self) -> bool {
        *self == Target::Stdout && io::stdout().is_terminal()
    }
}

/// A file being written under a temporary name in the same directory; [`AtomicFile::commit`]
/// renames it into place, and dropping it uncommitted deletes it, so a failed run never leaves a
/// half-written file or replaces an existing one.
pub(crate) struct AtomicFile {
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Creates the temporary file for `target`.
    ///
    /// # Errors
    /// The directory does not exist or is not writable (usage error).
    pub(crate) fn create(target: &Path) -> Result<(AtomicFile, File), CliError> {
        let name = target.display().to_string();
        let file_name = target
            .file_name()
            .ok_or_else(|| CliError::usage(format!("{name}: not a file name to write to")))?
            .to_string_lossy();
        let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if target.is_dir() {
            return Err(CliError::usage(format!("{name}: is a directory")));
        }
        let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
        let file = File::create(&temp).map_err(|e| {
            let why = if e.kind() == io::ErrorKind::NotFound {
                "the directory does not exist".to_string()
            } else {
                e.to_string()
            };
            CliError::usage(format!("{name}: cannot create: {why}"))
        })?;
        Ok((AtomicFile { temp, target: target.to_path_buf(), committed: false }, file))
    }

    /// Makes the written file durable and renames it into place.
    ///
    /// # Errors
    /// A failure to sync or rename.
    pub(crate) fn commit(mut self, file: File) -> Result<(), CliError> {
        let name = self.target.display().to_string();
        file.sync_all().map_err(|e| CliError::from_io(&name, &e))?;
        drop(file);
        fs::rename(&self.temp, &self.target).map_err(|e| CliError::from_io(&name, &e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// The text layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextStyle {
    /// Space-separated, with a blank line between the matrices of an array of rank 3 or more.
    Plain,
    /// Comma-separated, no blank lines.
    Csv,
    /// Tab-separated, no blank lines.
    Tsv,
}

enum Writer {
    Stdout(BufWriter<io::Stdout>),
    TextFile { out: BufWriter<File>, style: TextStyle, atomic: AtomicFile },
    Npy { writer: NpyWriter<BufWriter<File>>, atomic: AtomicFile },
}

/// A result being written, chunk by chunk, as values of type `T`.
///
/// Text output puts each lane along the last axis on its own line, every value the shortest
/// decimal that reads back to the same `T`; a 0-D or 1-D result is one line. `.npy` output gets
/// the shape given to [`Sink::finish`].
pub(crate) struct Sink<T: CliFloat> {
    writer: Writer,
    name: String,
    rows_written: u64,
    line: String,
    /// A separate handle on standard output (for bars) when the result goes to a file.
    stdout: Option<BufWriter<io::Stdout>>,
    _type: PhantomData<T>,
}

impl<T: CliFloat> Sink<T> {
    /// Opens `target`. `.npy` writes a NumPy array, `.csv` and `.tsv` comma- and tab-separated
    /// text, anything else space-separated text.
    ///
    /// # Errors
    /// A file that cannot be created (usage error).
    pub(crate) fn create(target: &Target) -> Result<Sink<T>, CliError> {
        let (writer, name) = match target {
            Target::Stdout => (Writer::Stdout(BufWriter::new(io::stdout())), "standard output".to_string()),
            Target::File(path) => {
                let name = path.display().to_string();
                let (atomic, file) = AtomicFile::create(path)?;
                let extension = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
                let out = BufWriter::new(file);
                let writer = match extension.as_deref() {
                    Some("npy") => {
                        let writer = NpyWriter::new::<T>(out).map_err(|e| CliError::from_io(&name, &e))?;
                        Writer::Npy { writer, atomic }
                    }
                    Some("csv") => Writer::TextFile { out, style: TextStyle::Csv, atomic },
                    Some("tsv") => Writer::TextFile { out, style: TextStyle::Tsv, atomic },
                    _ => Writer::TextFile { out, style: TextStyle::Plain, atomic },
                };
                (writer, name)
            }
        };
        Ok(Sink { writer, name, rows_written: 0, line: String::new(), stdout: None, _type: PhantomData })
    }

    /// Appends a chunk of the result (C order; see the type's docs for the text layout).
    ///
    /// # Errors
    /// A write error (a closed pipe ends the run quietly).
    pub(crate) fn write_chunk(&mut self, chunk: ArrayViewD<'_, T>) -> Result<(), CliError> {
        let (out, style): (&mut dyn Write, TextStyle) = match &mut self.writer {
            Writer::Npy { writer, .. } => {
                return writer.write(chunk.iter().copied()).map_err(|e| CliError::from_io(&self.name, &e));
            }
            Writer::Stdout(out) => (out, TextStyle::Plain),
            Writer::TextFile { out, style, .. } => (out, *style),
        };
        write_text(out, style, chunk, &mut self.rows_written, &mut self.line)
            .map_err(|e| CliError::from_io(&self.name, &e))
    }

    /// Standard output, for drawing beside the result (through the result's own writer when the
    /// result goes there, so the two keep their order).
    pub(crate) fn stdout(&mut self) -> &mut dyn Write {
        match &mut self.writer {
            Writer::Stdout(out) => out,
            _ => self.stdout.get_or_insert_with(|| BufWriter::new(io::stdout())),
        }
    }

    /// Pushes what is written so far to standard output (for interactive use); files are left to
    /// buffer.
    ///
    /// # Errors
    /// A write error (a closed pipe ends the run quietly).
    pub(crate) fn flush_interactive(&mut self) -> Result<(), CliError> {
        let flush = |out: &mut BufWriter<io::Stdout>| {
            out.flush().map_err(|e| CliError::from_io("standard output", &e))
        };
        if let Some(out) = &mut self.stdout {
            flush(out)?;
        }
        if let Writer::Stdout(out) = &mut self.writer {
            flush(out)?;
        }
        Ok(())
    }

    /// Completes the result: flushes standard output, or finishes the file (with `shape` in a
    /// `.npy` header) and renames it into place.
    ///
    /// # Errors
    /// A write error, or a `shape` that does not hold the values written (an internal error).
    pub(crate) fn finish(mut self, shape: &[usize]) -> Result<(), CliError> {
        self.flush_interactive()?;
        let name = self.name;
        let io_error = |e: io::Error| CliError::from_io(&name, &e);
        match self.writer {
            Writer::Stdout(_) => Ok(()),
            Writer::TextFile { out, atomic, .. } => {
                let file = out.into_inner().map_err(|e| io_error(e.into_error()))?;
                atomic.commit(file)
            }
            Writer::Npy { writer, atomic } => {
                let file = writer.finish(shape)?.into_inner().map_err(|e| io_error(e.into_error()))?;
                atomic.commit(file)
            }
        }
    }
}

/// Writes a chunk as text lines; `rows_written` counts lines across chunks (for the blank line
/// before each matrix but the first, in arrays of rank 3 or more).
fn write_text<T: CliFloat>(
    out: &mut dyn Write,
    style: TextStyle,
    chunk: ArrayViewD<'_, T>,
    rows_written: &mut u64,
    line: &mut String,
) -> io::Result<()> {
    let rank = chunk.ndim();
    let block = if rank >= 3 && style == TextStyle::Plain { chunk.shape()[rank - 2] as u64 } else { 0 };
    let separator = match style {
        TextStyle::Plain => " ",
        TextStyle::Csv => ",",
        TextStyle::Tsv => "\t",
    };
    let row_len = if rank == 0 { 1 } else { chunk.shape()[rank - 1] };
    let rows: usize = if rank == 0 { 1 } else { chunk.shape()[..rank - 1].iter().product() };
    let mut values = chunk.iter();
    for _ in 0..rows {
        if block > 0 && *rows_written > 0 && *rows_written % block == 0 {
            out.write_all(b"\n")?;
        }
        line.clear();
        for (i, v) in values.by_ref().take(row_len).enumerate() {
            if i > 0 {
                line.push_str(separator);
            }
            line.push_str(&v.shortest());
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
        *rows_written += 1;
    }
    Ok(())
}
