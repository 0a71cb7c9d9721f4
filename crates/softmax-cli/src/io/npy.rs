//! NumPy's `.npy` format, read and written by hand: the format is small (a magic string, a version,
//! a Python-literal header with `descr`, `fortran_order` and `shape`, then the raw data), and no
//! crate handles `f16` well.
//!
//! Reading accepts versions 1 to 3, both byte orders, C and Fortran order, `f2`/`f4`/`f8`, every
//! integer width and `b1`. Writing produces version 1.0, little-endian, C order.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use half::f16;
use ndarray::{ArrayD, IxDyn, ShapeBuilder};

use super::CliFloat;
use super::float::Dtype;
use crate::error::CliError;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Whether `prefix` (the first bytes of a file) starts with the `.npy` magic string.
pub(crate) fn is_npy(prefix: &[u8]) -> bool {
    prefix.starts_with(MAGIC)
}

/// The contents of a `.npy` file, in the closest type the command line computes with.
#[derive(Debug)]
pub(crate) enum NpyArray {
    /// `f2`.
    F16(ArrayD<f16>),
    /// `f4`.
    F32(ArrayD<f32>),
    /// `f8`.
    F64(ArrayD<f64>),
    /// Any integer width, widened to `i64`.
    Int(ArrayD<i64>),
    /// `b1`.
    Bool(ArrayD<bool>),
}

impl NpyArray {
    /// The element type a float computation on this array uses by default: its own for floats,
    /// `f64` for integers; `None` for booleans.
    pub(crate) fn float_dtype(&self) -> Option<Dtype> {
        match self {
            NpyArray::F16(_) => Some(Dtype::F16),
            NpyArray::F32(_) => Some(Dtype::F32),
            NpyArray::F64(_) | NpyArray::Int(_) => Some(Dtype::F64),
            NpyArray::Bool(_) => None,
        }
    }

    /// NumPy's name of the stored dtype, for messages.
    pub(crate) fn dtype_name(&self) -> &'static str {
        match self {
            NpyArray::F16(_) => "float16",
            NpyArray::F32(_) => "float32",
            NpyArray::F64(_) => "float64",
            NpyArray::Int(_) => "an integer dtype",
            NpyArray::Bool(_) => "bool",
        }
    }
}

/// The element encodings this reader understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Float,
    Signed,
    Unsigned,
    Bool,
}

#[derive(Debug)]
struct Header {
    kind: Kind,
    size: usize,
    big_endian: bool,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Reads the `.npy` file at `path`; `name` is how messages call it.
///
/// # Errors
/// A missing or unreadable file (usage error), a header that is not a `.npy` header, an unsupported
/// dtype (usage error), or data shorter than the shape needs.
pub(crate) fn read(path: &Path, name: &str) -> Result<NpyArray, CliError> {
    let file = File::open(path).map_err(|e| CliError::open(name, &e))?;
    let file_len = file.metadata().map_err(|e| CliError::read(name, &e))?.len();
    let mut reader = BufReader::new(file);
    let (header, header_len) = read_header(&mut reader).map_err(|e| e.context(name))?;
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| CliError::data(format!("{name}: the shape {:?} is too large", header.shape)))?;
    let needed = count.checked_mul(header.size).filter(|&n| n as u64 <= file_len - header_len as u64);
    let Some(needed) = needed else {
        return Err(CliError::data(format!(
            "{name}: truncated: shape {:?} of {}-byte elements needs {} bytes of data, the file has {}",
            header.shape,
            header.size,
            (count as u128) * (header.size as u128),
            file_len - header_len as u64
        )));
    };
    let mut bytes = vec![0u8; needed];
    reader.read_exact(&mut bytes).map_err(|e| CliError::read(name, &e))?;
    decode(&header, &bytes).map_err(|e| e.context(name))
}

fn read_header(reader: &mut impl Read) -> Result<(Header, usize), CliError> {
    let not_npy = || CliError::data("not a .npy file (no \\x93NUMPY magic string)");
    let mut prelude = [0u8; 8];
    reader.read_exact(&mut prelude).map_err(|_| not_npy())?;
    if !is_npy(&prelude) {
        return Err(not_npy());
    }
    let major = prelude[6];
    let len_bytes = match major {
        1 => 2,
        2 | 3 => 4,
        v => return Err(CliError::data(format!("unsupported .npy format version {v}.{}", prelude[7]))),
    };
    let mut len_buf = [0u8; 4];
    reader.read_exact(&mut len_buf[..len_bytes]).map_err(|_| CliError::data("truncated .npy header"))?;
    let header_len = u32::from_le_bytes(len_buf) as usize;
    if header_len > 1 << 20 {
        return Err(CliError::data(format!("implausible .npy header length {header_len}")));
    }
    let mut text = vec![0u8; header_len];
    reader.read_exact(&mut text).map_err(|_| CliError::data("truncated .npy header"))?;
    let text = String::from_utf8(text).map_err(|_| CliError::data("the .npy header is not text"))?;
    Ok((parse_header(&text)?, 8 + len_bytes + header_len))
}

/// Parses the header dictionary, e.g. `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`.
fn parse_header(text: &str) -> Result<Header, CliError> {
    let bad = |what: &str| CliError::data(format!("malformed .npy header ({what}): {}", text.trim()));
    let body =
        text.trim().strip_prefix('{').and_then(|t| t.strip_suffix('}')).ok_or_else(|| bad("no {…}"))?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let (key, after) = quoted(rest).ok_or_else(|| bad("expected a quoted key"))?;
        let after = after.trim_start().strip_prefix(':').ok_or_else(|| bad("expected ':'"))?.trim_start();
        let after = match key {
            "descr" => {
                if after.starts_with('[') {
                    return Err(CliError::usage(
                        "unsupported dtype: a structured dtype (supported: f2, f4, f8, integers, bool)",
                    ));
                }
                let (value, after) = quoted(after).ok_or_else(|| bad("descr is not a string"))?;
                descr = Some(value.to_string());
                after
            }
            "fortran_order" => {
                let (value, after) = if let Some(a) = after.strip_prefix("True") {
                    (true, a)
                } else if let Some(a) = after.strip_prefix("False") {
                    (false, a)
                } else {
                    return Err(bad("fortran_order is not True or False"));
                };
                fortran = Some(value);
                after
            }
            "shape" => {
                let inner = after.strip_prefix('(').ok_or_else(|| bad("shape is not a tuple"))?;
                let close = inner.find(')').ok_or_else(|| bad("unclosed shape tuple"))?;
                let dims = inner[..close]
                    .split(',')
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    // Python 2 wrote long integers as `3L`.
                    .map(|d| {
                        d.trim_end_matches('L')
                            .parse::<usize>()
                            .map_err(|_| bad("a dimension is not a number"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                shape = Some(dims);
                &inner[close + 1..]
            }
            _ => return Err(bad("unknown key")),
        };
        rest = after.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    let descr = descr.ok_or_else(|| bad("no descr"))?;
    let (kind, size, big_endian) = parse_descr(&descr)?;
    Ok(Header {
        kind,
        size,
        big_endian,
        fortran_order: fortran.ok_or_else(|| bad("no fortran_order"))?,
        shape: shape.ok_or_else(|| bad("no shape"))?,
    })
}

/// A single- or double-quoted Python string at the start of `text`, and what follows it.
fn quoted(text: &str) -> Option<(&str, &str)> {
    let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let inner = &text[1..];
    let end = inner.find(quote)?;
    Some((&inner[..end], &inner[end + 1..]))
}

fn parse_descr(descr: &str) -> Result<(Kind, usize, bool), CliError> {
    let unsupported = || {
        CliError::usage(format!(
            "unsupported dtype '{descr}' (supported: f2, f4, f8, signed and unsigned integers, bool)"
        ))
    };
    let (order, code) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
        _ => ('=', descr),
    };
    let big_endian = match order {
        '>' => true,
        '<' | '|' => false,
        _ => cfg!(target_endian = "big"),
    };
    let kind = match code.chars().next() {
        Some('f') => Kind::Float,
        Some('i') => Kind::Signed,
        Some('u') => Kind::Unsigned,
        Some('b') => Kind::Bool,
        _ => return Err(unsupported()),
    };
    let size: usize = code[1..].parse().map_err(|_| unsupported())?;
    let ok = match kind {
        Kind::Float => matches!(size, 2 | 4 | 8),
        Kind::Signed | Kind::Unsigned => matches!(size, 1 | 2 | 4 | 8),
        Kind::Bool => size == 1,
    };
    if ok { Ok((kind, size, big_endian)) } else { Err(unsupported()) }
}

fn decode(header: &Header, bytes: &[u8]) -> Result<NpyArray, CliError> {
    let chunks = bytes.chunks_exact(header.size);
    // Each element's bytes, most significant last (little-endian), whatever the file's order.
    let word = |c: &[u8]| -> u64 {
        let mut buf = [0u8; 8];
        buf[..c.len()].copy_from_slice(c);
        if header.big_endian {
            buf[..c.len()].reverse();
        }
        u64::from_le_bytes(buf)
    };
    let shape = &header.shape;
    let fortran = header.fortran_order;
    Ok(match (header.kind, header.size) {
        (Kind::Float, 2) => {
            NpyArray::F16(build(shape, fortran, chunks.map(|c| f16::from_bits(word(c) as u16)))?)
        }
        (Kind::Float, 4) => {
            NpyArray::F32(build(shape, fortran, chunks.map(|c| f32::from_bits(word(c) as u32)))?)
        }
        (Kind::Float, _) => NpyArray::F64(build(shape, fortran, chunks.map(|c| f64::from_bits(word(c))))?),
        (Kind::Bool, _) => {
            let values: Vec<u8> = chunks.map(|c| c[0]).collect();
            if let Some(at) = values.iter().position(|&b| b > 1) {
                return Err(CliError::data(format!("bool element {at} holds the byte {}", values[at])));
            }
            NpyArray::Bool(build(shape, fortran, values.into_iter().map(|b| b == 1))?)
        }
        (Kind::Signed, size) => {
            let bits = 8 * size as u32;
            // Sign-extend from the element's width.
            let values = chunks.map(|c| ((word(c) << (64 - bits)) as i64) >> (64 - bits));
            NpyArray::Int(build(shape, fortran, values)?)
        }
        (Kind::Unsigned, _) => {
            let values: Vec<u64> = chunks.map(word).collect();
            if let Some(at) = values.iter().position(|&v| v > i64::MAX as u64) {
                return Err(CliError::data(format!(
                    "unsigned element {at} ({}) does not fit a signed 64-bit integer",
                    values[at]
                )));
            }
            NpyArray::Int(build(shape, fortran, values.into_iter().map(|v| v as i64))?)
        }
    })
}

fn build<V>(shape: &[usize], fortran: bool, values: impl Iterator<Item = V>) -> Result<ArrayD<V>, CliError> {
    let data: Vec<V> = values.collect();
    let dim = IxDyn(shape);
    let array =
        if fortran { ArrayD::from_shape_vec(dim.f(), data) } else { ArrayD::from_shape_vec(dim, data) };
    array.map_err(|e| CliError::data(format!("data does not fit the shape {shape:?}: {e}")))
}

/// Room reserved for the header, so the shape can be filled in once the data is written: enough
/// for a shape of rank 4 with 20-digit dimensions. A multiple of 64, as the format recommends.
const HEADER_ROOM: usize = 192;

/// The full header block (magic to newline) for `descr` and `shape`, padded to `HEADER_ROOM` bytes
/// (or the next multiple of 64 if the shape needs more).
fn header_block(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple}, }}");
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    let total = HEADER_ROOM.max(unpadded.div_ceil(64) * 64);
    let header_len = (total - MAGIC.len() - 4) as u16;
    let mut block = Vec::with_capacity(total);
    block.extend_from_slice(MAGIC);
    block.extend_from_slice(&[1, 0]);
    block.extend_from_slice(&header_len.to_le_bytes());
    block.extend_from_slice(dict.as_bytes());
    block.resize(total - 1, b' ');
    block.push(b'\n');
    block
}

/// Writes a `.npy` file whose shape is only known at the end: the data is appended as it comes, and
/// the header (written first with room to spare) is filled in by [`NpyWriter::finish`].
pub(crate) struct NpyWriter<W: Write + Seek> {
    out: W,
    descr: &'static str,
    count: u64,
    buffer: Vec<u8>,
}

impl<W: Write + Seek> NpyWriter<W> {
    /// Starts a file of elements of type `T`.
    pub(crate) fn new<T: CliFloat>(mut out: W) -> io::Result<Self> {
        out.write_all(&header_block(T::NPY_DESCR, &[0; 4]))?;
        Ok(NpyWriter { out, descr: T::NPY_DESCR, count: 0, buffer: Vec::new() })
    }

    /// Appends values in C order.
    pub(crate) fn write<T: CliFloat>(&mut self, values: impl IntoIterator<Item = T>) -> io::Result<()> {
        debug_assert_eq!(T::NPY_DESCR, self.descr);
        self.buffer.clear();
        for v in values {
            v.push_npy_bytes(&mut self.buffer);
            self.count += 1;
        }
        self.out.write_all(&self.buffer)
    }

    /// Fills in the header with `shape`, which must hold exactly the values written.
    pub(crate) fn finish(mut self, shape: &[usize]) -> Result<W, CliError> {
        let count: u128 = shape.iter().map(|&d| d as u128).product();
        if count != u128::from(self.count) {
            return Err(CliError::data(format!(
                "internal error: {} values written for the shape {shape:?}",
                self.count
            )));
        }
        let block = header_block(self.descr, shape);
        if block.len() != HEADER_ROOM {
            return Err(CliError::usage(format!("the shape {shape:?} is too long for a .npy header")));
        }
        let io_error = |e: io::Error| CliError::from_io("writing the .npy header", &e);
        self.out.seek(SeekFrom::Start(0)).map_err(io_error)?;
        self.out.write_all(&block).map_err(io_error)?;
        self.out.seek(SeekFrom::End(0)).map_err(io_error)?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn header_round_trip() {
        let block = header_block("<f2", &[2, 3]);
        assert_eq!(block.len(), HEADER_ROOM);
        let (header, len) = read_header(&mut Cursor::new(&block)).unwrap();
        assert_eq!(len, HEADER_ROOM);
        assert_eq!((header.kind, header.size, header.shape), (Kind::Float, 2, vec![2, 3]));
        let scalar = header_block("<f8", &[]);
        assert!(String::from_utf8_lossy(&scalar).contains("'shape': ()"));
        let one = header_block("<f8", &[5]);
        assert!(String::from_utf8_lossy(&one).contains("'shape': (5,)"));
    }

    #[test]
    fn descr_codes() {
        assert_eq!(parse_descr("<f8").unwrap(), (Kind::Float, 8, false));
        assert_eq!(parse_descr(">i2").unwrap(), (Kind::Signed, 2, true));
        assert_eq!(parse_descr("|b1").unwrap(), (Kind::Bool, 1, false));
        assert_eq!(parse_descr("|u1").unwrap(), (Kind::Unsigned, 1, false));
        for bad in ["<c16", "<U5", "|O", "<f16", "|V8", "<M8[s]"] {
            let e = parse_descr(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.to_string().contains(bad));
        }
    }

    #[test]
    fn writer_fills_in_the_shape() {
        let mut w = NpyWriter::new::<f32>(Cursor::new(Vec::new())).unwrap();
        w.write([1.0f32, 2.0, 3.0]).unwrap();
        w.write([4.0f32, 5.0, 6.0]).unwrap();
        let bytes = w.finish(&[2, 3]).unwrap().into_inner();
        let (header, len) = read_header(&mut Cursor::new(&bytes)).unwrap();
        let NpyArray::F32(a) = decode(&header, &bytes[len..]).unwrap() else { panic!("not f32") };
        assert_eq!(a, ndarray::array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]].into_dyn());
    }

    #[test]
    fn signed_integers_are_sign_extended() {
        let header =
            Header { kind: Kind::Signed, size: 2, big_endian: true, fortran_order: false, shape: vec![2] };
        let NpyArray::Int(a) = decode(&header, &[0xff, 0xfe, 0x00, 0x07]).unwrap() else { panic!("not int") };
        assert_eq!(a.as_slice().unwrap(), &[-2, 7]);
    }
}
