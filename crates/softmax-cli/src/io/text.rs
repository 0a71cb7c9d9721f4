//! Text input: one row per line, values separated by spaces, tabs or commas, read row by row so a
//! stream of any length runs in constant memory.
//!
//! Blank lines and lines starting with `#` are skipped. Every row must have as many values as the
//! first; errors name the input, the line and the column.

use std::io::{BufRead, BufReader, Read};

use ndarray::Array2;

use crate::error::CliError;

/// The fields of one line: each value's text and the (1-based, in characters) column where it
/// starts. Values are separated by whitespace or by a comma (with optional whitespace around it);
/// a value in double quotes is unquoted.
///
/// # Errors
/// An empty field (two commas in a row, or a comma at either end), as `(column, message)`.
pub(crate) fn split_fields(line: &str) -> Result<Vec<(usize, &str)>, (usize, String)> {
    let mut fields = Vec::new();
    // Whether a comma has been seen since the last value (or the line began with one).
    let mut after_comma = false;
    let mut chars = line.char_indices().enumerate().peekable();
    while let Some(&(column, (start, c))) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == ',' {
            if after_comma || fields.is_empty() {
                return Err((column + 1, "empty value before this comma".to_string()));
            }
            after_comma = true;
            chars.next();
        } else {
            let mut end = start;
            while let Some(&(_, (at, c))) = chars.peek() {
                if c.is_whitespace() || c == ',' {
                    break;
                }
                end = at + c.len_utf8();
                chars.next();
            }
            let text = &line[start..end];
            let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
            fields.push((column + 1, text));
            after_comma = false;
        }
    }
    if after_comma {
        return Err((line.chars().count(), "empty value after the last comma".to_string()));
    }
    Ok(fields)
}

/// How one kind of value is read from text: its name in messages and its parser.
pub(crate) struct ValueKind<V> {
    /// What the value should be, for messages ("number", "class index", …).
    pub(crate) name: &'static str,
    /// The parser; `None` rejects the text.
    pub(crate) parse: fn(&str) -> Option<V>,
}

/// Rows of values from a text stream.
pub(crate) struct TextRows {
    reader: BufReader<Box<dyn Read>>,
    name: String,
    line: Vec<u8>,
    line_number: u64,
    bytes_read: u64,
    rows_read: u64,
    /// The number of values per row, and the line that set it.
    width: Option<(usize, u64)>,
    /// An error met after some rows of a batch, reported by the next call once those rows are
    /// out, so that every good row before a bad line gets its answer.
    pending: Option<CliError>,
}

impl TextRows {
    /// Rows read from `reader`; `name` is how messages call the input (a file name, `<stdin>`).
    pub(crate) fn new(reader: Box<dyn Read>, name: impl Into<String>) -> Self {
        TextRows {
            reader: BufReader::with_capacity(1 << 16, reader),
            name: name.into(),
            line: Vec::new(),
            line_number: 0,
            bytes_read: 0,
            rows_read: 0,
            width: None,
            pending: None,
        }
    }

    /// The input's name in messages.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Bytes consumed so far (for progress).
    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Rows returned so far.
    pub(crate) fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// The number of values per row, once the first row has been read.
    pub(crate) fn width(&self) -> Option<usize> {
        self.width.map(|(w, _)| w)
    }

    /// Whether everything received so far has been consumed, so the next read may wait for more
    /// input: the moment to flush output for a user typing rows or a slow producer.
    pub(crate) fn is_idle(&self) -> bool {
        self.reader.buffer().is_empty()
    }

    /// Reads the next row into `out` (cleared first); `false` at the end of the input.
    ///
    /// # Errors
    /// A value `kind` rejects, an empty field, a row of another width than the first, text that is
    /// not UTF-8, or a read error.
    pub(crate) fn next_row<V>(&mut self, kind: &ValueKind<V>, out: &mut Vec<V>) -> Result<bool, CliError> {
        out.clear();
        loop {
            self.line.clear();
            let n =
                self.reader.read_until(b'\n', &mut self.line).map_err(|e| CliError::read(&self.name, &e))?;
            if n == 0 {
                return Ok(false);
            }
            self.bytes_read += n as u64;
            self.line_number += 1;
            let line_number = self.line_number;
            let text = std::str::from_utf8(&self.line).map_err(|e| {
                CliError::data(format!(
                    "{}: line {line_number}: not UTF-8 text (byte {} of the line)",
                    self.name,
                    e.valid_up_to() + 1
                ))
            })?;
            let trimmed = text.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fields = split_fields(text).map_err(|(column, message)| {
                CliError::data(format!("{}: line {line_number}, column {column}: {message}", self.name))
            })?;
            for (column, field) in fields {
                let value = (kind.parse)(field).ok_or_else(|| {
                    CliError::data(format!(
                        "{}: line {line_number}, column {column}: \"{field}\" is not a {}",
                        self.name, kind.name
                    ))
                })?;
                out.push(value);
            }
            match self.width {
                None => self.width = Some((out.len(), line_number)),
                Some((width, first)) if width != out.len() => {
                    return Err(CliError::data(format!(
                        "{}: line {line_number} has {} but line {first} has {width} (rows must have equal lengths)",
                        self.name,
                        counted(out.len() as u64, "value")
                    )));
                }
                Some(_) => {}
            }
            self.rows_read += 1;
            return Ok(true);
        }
    }

    /// Reads up to `max_rows` rows, stopping early when the input is idle (see
    /// [`TextRows::is_idle`]) so interactive input gets its answers at once; `None` at the end.
    ///
    /// # Errors
    /// As [`TextRows::next_row`].
    pub(crate) fn next_batch<V: Clone>(
        &mut self,
        kind: &ValueKind<V>,
        max_rows: usize,
    ) -> Result<Option<Array2<V>>, CliError> {
        if let Some(error) = self.pending.take() {
            return Err(error);
        }
        let (mut data, mut row, mut rows) = (Vec::new(), Vec::new(), 0);
        while rows < max_rows.max(1) {
            match self.next_row(kind, &mut row) {
                Ok(true) => {}
                Ok(false) => break,
                Err(error) if rows > 0 => {
                    self.pending = Some(error);
                    break;
                }
                Err(error) => return Err(error),
            }
            data.extend_from_slice(&row);
            rows += 1;
            if self.is_idle() {
                break;
            }
        }
        if rows == 0 {
            return Ok(None);
        }
        let width = self.width().unwrap_or(0);
        Array2::from_shape_vec((rows, width), data)
            .map(Some)
            .map_err(|e| CliError::data(format!("{}: internal error: batch shape: {e}", self.name)))
    }

    /// Reads every remaining row into a matrix (`0 × 0` for an input without rows).
    ///
    /// # Errors
    /// As [`TextRows::next_row`].
    pub(crate) fn read_all<V: Clone>(&mut self, kind: &ValueKind<V>) -> Result<Array2<V>, CliError> {
        let (mut data, mut row, mut rows) = (Vec::new(), Vec::new(), 0);
        while self.next_row(kind, &mut row)? {
            data.extend_from_slice(&row);
            rows += 1;
        }
        let width = self.width().unwrap_or(0);
        Array2::from_shape_vec((rows, width), data)
            .map_err(|e| CliError::data(format!("{}: internal error: shape: {e}", self.name)))
    }
}

/// `n` things in words: "1 value", "3 values".
pub(crate) fn counted(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<(usize, &str)> {
        split_fields(line).unwrap()
    }

    #[test]
    fn separators() {
        assert_eq!(texts("1 2\t3"), vec![(1, "1"), (3, "2"), (5, "3")]);
        assert_eq!(texts(" 1, 2 ,3\r\n"), vec![(2, "1"), (5, "2"), (8, "3")]);
        assert_eq!(texts("\"1.5\",-inf"), vec![(1, "1.5"), (7, "-inf")]);
        assert_eq!(split_fields("1,,2").unwrap_err().0, 3);
        assert_eq!(split_fields(",1").unwrap_err().0, 1);
        assert!(split_fields("1, 2,").unwrap_err().1.contains("after the last"));
        assert_eq!(texts("é 2"), vec![(1, "é"), (3, "2")]);
    }

    fn numbers() -> ValueKind<f64> {
        ValueKind { name: "number", parse: |t| t.parse().ok() }
    }

    #[test]
    fn rows_and_errors() {
        let input = "# comment\n1 2\n\n3,4\n5 x\n";
        let mut rows = TextRows::new(Box::new(input.as_bytes()), "t.txt");
        let mut row = Vec::new();
        assert!(rows.next_row(&numbers(), &mut row).unwrap());
        assert_eq!(row, [1.0, 2.0]);
        assert!(rows.next_row(&numbers(), &mut row).unwrap());
        assert_eq!(row, [3.0, 4.0]);
        let e = rows.next_row(&numbers(), &mut row).unwrap_err();
        assert_eq!(e.to_string(), "t.txt: line 5, column 3: \"x\" is not a number");
        let mut ragged = TextRows::new(Box::new("1 2\n3\n".as_bytes()), "r.csv");
        let e = ragged.read_all(&numbers()).unwrap_err();
        assert!(e.to_string().starts_with("r.csv: line 2 has 1 value but line 1 has 2"), "{e}");
        let all = TextRows::new(Box::new("1 2\n3 4\n".as_bytes()), "a").read_all(&numbers()).unwrap();
        assert_eq!(all, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
    }
}
