//! The one error type of the command line: a one-line message and the exit code it maps to.
//!
//! Exit codes: 2 for usage errors (a flag or value the command cannot accept, a missing file, an
//! unsupported dtype), 1 for data errors (a malformed number, ragged rows, shapes that do not match,
//! a class index out of range). Messages name the file, line and column, or the array's shape and axis.

use std::fmt;

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

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            Kind::Usage => 2,
            Kind::Data => 1,
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
