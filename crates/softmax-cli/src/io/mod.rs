//! Input and output shared by the subcommands (and meant for reuse by any of them).
//!
//! - [`Source`] says where an array comes from (command-line values, `-i FILE`, standard input, or
//!   values written into a flag); [`Opened::open`] opens it, and [`Opened::load_floats`],
//!   [`Opened::load_mask`], [`Opened::load_classes`] load it whole, while
//!   [`TextRows::next_row`] / [`TextRows::next_batch`] stream text row by row in constant memory.
//! - [`Target`] and [`Sink`] write results: text on standard output with shortest round-trip
//!   decimals, or `.npy`/`.csv`/`.tsv`/text files written atomically (temporary name, renamed on
//!   success).
//! - [`CliFloat`] and [`Dtype`] are the four element types with exact decimal input and output.

mod float;
mod npy;
mod sink;
mod source;
mod text;

pub(crate) use float::{CliFloat, Dtype, with_dtype};
pub(crate) use sink::{Sink, Target};
pub(crate) use source::{Loaded, Opened, Source, eprintln_quiet, float_kind};
pub(crate) use text::{TextRows, counted};
