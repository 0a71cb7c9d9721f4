//! Input and output shared by the subcommands (and meant for reuse by any of them).
//!
//! - [`Source`] says where an array comes from (command-line values, `-i FILE`, standard input, or
//!   values written into a flag); [`Opened::open`] opens it, and [`Opened::load_floats`],
//!   [`Opened::load_mask`], [`Opened::load_classes`] load it whole, while
//!   [`TextRows::next_row`] / [`TextRows::next_batch`] stream text row by row in constant memory.
//! - [`Target`] and [`Sink`] write results: text on standard output with shortest round-trip
//!   decimals, or `.npy`/`.csv`/`.tsv`/text files written atomically (temporary name, renamed on
//!   success).
//! - [`CliFloat`] and [`Dtype`] are the four element types with exact decimal input and output;
//!   [`with_dtype!`] runs generic code for a `Dtype` chosen at run time.
//!
//! A subcommand reading rows and writing one result row per input row looks like this (errors
//! already carry the input's name, line and column, and exit codes):
//!
//! ```text
//! let source = args.input.source();                       // [VALUES] / -i FILE / stdin
//! let opened = Opened::open(&source)?;
//! let dtype = args.input.dtype.unwrap_or_else(|| opened.default_dtype());
//! with_dtype!(dtype, T => {
//!     let mut sink = Sink::<T>::create(&args.output.target())?;
//!     match opened {
//!         // Text: batches of rows in constant memory (an `Array2<T>` each).
//!         Opened::Text { mut rows, .. } => {
//!             while let Some(batch) = rows.next_batch(&float_kind::<T>(), 1024)? { … sink.write_chunk(…)?; }
//!         }
//!         // `.npy` or command-line values: the whole array at once.
//!         other => { let x = other.load_floats::<T>()?.array; … }
//!     }
//!     sink.finish(&result_shape)
//! })
//! ```

mod float;
mod npy;
mod sink;
mod source;
mod text;

pub(crate) use float::{CliFloat, Dtype, with_dtype};
pub(crate) use sink::{Sink, Target};
pub(crate) use source::{Loaded, Opened, Source, eprintln_quiet, float_kind};
pub(crate) use text::{TextRows, counted};
