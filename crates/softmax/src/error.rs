//! The one error type of the crate.

use std::fmt;

/// What kind of problem an [`Error`] reports; the message says where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An axis outside `-rank..rank`.
    Axis,
    /// Shapes (or lengths) that do not fit together.
    Shape,
    /// A temperature that is not finite and positive.
    Temperature,
    /// A class index outside `0..classes` (and not the ignored index).
    ClassIndex,
    /// Any other option out of its range (label smoothing, row length, …).
    Option,
    /// A call out of order: a layer's backward pass before its forward pass.
    Order,
}

/// Everything that can go wrong in a call of this crate: a kind, and a message that names the
/// offending value and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl fmt::Display) -> Self {
        Error { kind, message: message.to_string() }
    }

    /// The kind of problem.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message alone (the same text as `Display`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Shorthand for this crate's results.
pub type Result<T> = std::result::Result<T, Error>;

/// Checks that `what` has length `expected` (the length of `of`).
pub(crate) fn check_len(what: &str, len: usize, expected: usize, of: &str) -> Result<()> {
    if len == expected {
        Ok(())
    } else {
        Err(Error::new(ErrorKind::Shape, format!("{what} has length {len} but {of} has length {expected}")))
    }
}
