//! The one error type of the command line: a one-line message and the exit code it maps to.
//!
//! Exit codes: 2 for usage errors (a flag or value the command cannot accept, a missing file, an
//! unsupported dtype), 1 for data errors (a malformed number, ragged rows, shapes that do not match,
//! a class index out of range). Messages name the file, line and column, or the array's shape and axis.
//! A closed standard output (`softmax apply … | head -1`) is not an error: it ends the run quietly
//! with exit code 0.

use std::{fmt, io};

/// What went wrong, and whether it was the invocation or the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    kind: Kind,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Usage,
    Data,
    /// The reader of standard output went away: stop quietly.
    BrokenPipe,
}

impl CliError {
    /// A usage error (exit code 2): the invocation cannot be carried out as written.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError { kind: Kind::Usage, message: message.into() }
    }

    /// A data error (exit code 1): the invocation is fine, the input is not.
    pub fn data(message: impl Into<String>) -> Self {
        CliError { kind: Kind::Data, message: message.into() }
    }

    /// A file that cannot be opened for reading (usage error: the invocation names it).
    pub fn open(name: &str, error: &io::Error) -> Self {
        if error.kind() == io::ErrorKind::NotFound {
            CliError::usage(format!("{name}: no such file"))
        } else {
            CliError::usage(format!("{name}: cannot open: {}", plain(error)))
        }
    }

    /// A failure while reading an input that was opened (data error).
    pub fn read(name: &str, error: &io::Error) -> Self {
        CliError::data(format!("{name}: read error: {}", plain(error)))
    }

    /// A failure while writing `what`: a closed pipe ends the run quietly, anything else (a full
    /// disk, say) is a data error.
    pub fn from_io(what: &str, error: &io::Error) -> Self {
        if error.kind() == io::ErrorKind::BrokenPipe {
            CliError { kind: Kind::BrokenPipe, message: String::new() }
        } else {
            CliError::data(format!("{what}: {}", plain(error)))
        }
    }

    /// Whether this is a closed standard output, to be ended quietly with exit code 0.
    pub fn is_broken_pipe(&self) -> bool {
        self.kind == Kind::BrokenPipe
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            Kind::Usage => 2,
            Kind::Data => 1,
            Kind::BrokenPipe => 0,
        }
    }

    /// The same error with `context` (a file name, say) put in front of its message.
    pub fn context(self, context: impl fmt::Display) -> Self {
        CliError { kind: self.kind, message: format!("{context}: {}", self.message) }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// An I/O error's message without the "(os error N)" suffix users need not see.
fn plain(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Library errors are about the data the user gave (shapes, axes, class indices, temperatures);
/// the few that are about the invocation (an axis or option flag) are still reported with the
/// library's precise message, with exit code 2.
impl From<softmax::Error> for CliError {
    fn from(error: softmax::Error) -> Self {
        use softmax::ErrorKind;
        match error.kind() {
            ErrorKind::Axis | ErrorKind::Temperature | ErrorKind::Option => {
                CliError::usage(error.to_string())
            }
            _ => CliError::data(error.to_string()),
        }
    }
}
