//! Labelled data for training: the built-in digits, a CSV file (a class column, then the
//! features) or an MNIST-format IDX pair (images and labels).

use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::error::CliError;

/// Samples with their features and class labels.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// One row per sample, as read (standardisation happens in the model).
    pub features: Array2<f64>,
    /// The class of each sample, in `0..classes`.
    pub labels: Vec<usize>,
    /// The number of classes.
    pub classes: usize,
    /// Where the data came from, for the report (a line or two).
    pub description: String,
    /// `(rows, columns)` when each sample is an image, so mistakes can be drawn.
    pub image: Option<(usize, usize)>,
    /// The brightest pixel value of an image (for drawing).
    pub pixel_max: f64,
}

/// Where `softmax train` takes its data from.
pub struct Source<'a> {
    /// The data file, or `None` for the built-in digits.
    pub data: Option<&'a Path>,
    /// For an IDX images file, its labels file (guessed from the name when absent).
    pub labels: Option<&'a Path>,
    /// The number of classes, if given; otherwise one more than the largest label.
    pub classes: Option<usize>,
}

/// Reads the data `source` names, and checks every label against the class range.
pub fn load(source: &Source<'_>) -> Result<Dataset, CliError> {
    let Some(path) = source.data else {
        if source.labels.is_some() {
            return Err(CliError::usage("--labels needs --data (an IDX images file)"));
        }
        let mut digits = crate::digits::load();
        settle_classes(&mut digits, source.classes, "built-in digits")?;
        return Ok(digits);
    };
    let bytes = read(path)?;
    let (mut dataset, place) = if bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(CliError::usage(format!(
            "{}: a gzip file; decompress it first (gunzip) and pass the result",
            path.display()
        )));
    } else if is_idx(&bytes) {
        let labels_path = match source.labels {
            Some(p) => p.to_path_buf(),
            None => guess_labels_path(path).ok_or_else(|| {
                CliError::usage(format!(
                    "{}: an IDX images file needs its labels file: pass --labels FILE",
                    path.display()
                ))
            })?,
        };
        (idx_pair(path, &bytes, &labels_path)?, labels_path.display().to_string())
    } else {
        if source.labels.is_some() {
            return Err(CliError::usage(format!(
                "--labels is for IDX image files; {} is read as CSV, whose first column holds the labels",
                path.display()
            )));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            CliError::data(format!(
                "{}: neither an IDX file nor UTF-8 text (invalid byte at offset {})",
                path.display(),
                e.utf8_error().valid_up_to()
            ))
        })?;
        (csv(path, &text)?, path.display().to_string())
    };
    if dataset.labels.is_empty() {
        return Err(CliError::data(format!("{}: no samples", path.display())));
    }
    settle_classes(&mut dataset, source.classes, &place)?;
    Ok(dataset)
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::open(&path.display().to_string(), &e))
}

/// The labels must be in `0..classes` (when given) and there must be some.
fn check_classes(
    labels: &[usize],
    classes: Option<usize>,
    place: impl Fn(usize) -> String,
) -> Result<usize, CliError> {
    if let Some(classes) = classes {
        if classes < 2 {
            return Err(CliError::usage(format!(
                "--classes {classes}: a classifier needs at least 2 classes"
            )));
        }
        if let Some((i, &label)) = labels.iter().enumerate().find(|&(_, &l)| l >= classes) {
            return Err(CliError::data(format!(
                "{}: label {label} is outside the class range 0..{classes} (--classes {classes})",
                place(i)
            )));
        }
        return Ok(classes);
    }
    Ok(labels.iter().max().map_or(0, |&m| m + 1))
}

/// A CSV file: one sample per line, the class index first, then the features. A first line that
/// is not all numbers is a header; blank lines and lines starting with `#` are skipped.
fn csv(path: &Path, text: &str) -> Result<Dataset, CliError> {
    let name = path.display();
    let mut labels = Vec::new();
    let mut values = Vec::new();
    let mut width: Option<(usize, usize)> = None; // (features, first data line)
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    let mut pending = lines.next();
    if let Some((_, first)) = pending
        && first.split(',').any(|field| field.trim().parse::<f64>().is_err())
    {
        pending = lines.next(); // a header
    }
    while let Some((index, line)) = pending {
        let line_no = index + 1;
        let mut fields = line.split(',').map(str::trim);
        let label_text = fields.next().unwrap_or("");
        labels.push(parse_label(label_text).map_err(|why| {
            CliError::data(format!("{name}: line {line_no}, column 1: label {label_text:?} {why}"))
        })?);
        let before = values.len();
        for (column, field) in fields.enumerate() {
            let value: f64 = field.parse().map_err(|_| {
                CliError::data(format!(
                    "{name}: line {line_no}, column {}: {field:?} is not a number",
                    column + 2
                ))
            })?;
            if !value.is_finite() {
                return Err(CliError::data(format!(
                    "{name}: line {line_no}, column {}: {field} is not a finite number",
                    column + 2
                )));
            }
            values.push(value);
        }
        let count = values.len() - before;
        match width {
            None if count == 0 => {
                return Err(CliError::data(format!("{name}: line {line_no}: a label but no features")));
            }
            None => width = Some((count, line_no)),
            Some((features, first)) if features != count => {
                return Err(CliError::data(format!(
                    "{name}: line {line_no}: {count} features, but line {first} has {features}"
                )));
            }
            Some(_) => {}
        }
        pending = lines.next();
    }
    let features = width.map_or(0, |(f, _)| f);
    let classes = labels.iter().max().map_or(0, |&m| m + 1);
    let features = Array2::from_shape_vec((labels.len(), features), values)
        .map_err(|e| CliError::data(format!("{name}: {e}")))?;
    Ok(Dataset {
        description: format!(
            "{name}: {}, {}",
            count(labels.len(), "sample"),
            count(features.ncols(), "feature")
        ),
        features,
        labels,
        classes,
        image: None,
        pixel_max: 1.0,
    })
}

/// A class index: a non-negative integer, written as `3` or `3.0`.
fn parse_label(text: &str) -> Result<usize, &'static str> {
    let value: f64 = text.parse().map_err(|_| "is not a class index (labels are integers 0, 1, 2, …)")?;
    if value.fract() != 0.0 || !value.is_finite() {
        return Err("is not a class index (labels are integers 0, 1, 2, …)");
    }
    if value < 0.0 {
        return Err("is outside the class range (labels are integers 0, 1, 2, …)");
    }
    if value > u32::MAX as f64 {
        return Err("is too large for a class index");
    }
    Ok(value as usize)
}

/// Whether `bytes` start like an IDX file of unsigned bytes (`00 00 08 dims`).
fn is_idx(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 0x08 && (1..=4).contains(&bytes[3])
}

/// MNIST's naming: `train-images-idx3-ubyte` goes with `train-labels-idx1-ubyte`.
fn guess_labels_path(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_str()?;
    let guess = name.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1");
    let candidate = images.with_file_name(guess);
    (candidate != images && candidate.exists()).then_some(candidate)
}

/// An IDX header: the dimensions, after checking the magic and the length.
fn idx_dims<'a>(path: &Path, bytes: &'a [u8]) -> Result<(Vec<usize>, &'a [u8]), CliError> {
    let name = path.display();
    if !is_idx(bytes) {
        return Err(CliError::data(format!(
            "{name}: not an IDX file of unsigned bytes (the magic number should be 00 00 08 0n)"
        )));
    }
    let rank = usize::from(bytes[3]);
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(CliError::data(format!("{name}: the IDX header is cut short")));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let body = &bytes[header..];
    if expected != Some(body.len()) {
        return Err(CliError::data(format!(
            "{name}: the IDX header says {dims:?} ({} bytes) but {} bytes follow it",
            expected.map_or("too many".to_string(), |e| e.to_string()),
            body.len()
        )));
    }
    Ok((dims, body))
}

/// An IDX images file (`n × rows × columns`, or `n × features`) with its labels file (`n`).
fn idx_pair(images_path: &Path, images: &[u8], labels_path: &Path) -> Result<Dataset, CliError> {
    let (dims, pixels) = idx_dims(images_path, images)?;
    let labels_bytes = read(labels_path)?;
    let (label_dims, labels) = idx_dims(labels_path, &labels_bytes)?;
    if label_dims.len() != 1 {
        return Err(CliError::data(format!(
            "{}: a labels file has one dimension, this one has {label_dims:?}",
            labels_path.display()
        )));
    }
    if dims.len() < 2 || dims[0] != label_dims[0] {
        return Err(CliError::data(format!(
            "{} holds images of shape {dims:?} but {} holds {} labels",
            images_path.display(),
            labels_path.display(),
            label_dims[0]
        )));
    }
    let samples = dims[0];
    let features = dims[1..].iter().product::<usize>();
    let image = (dims.len() == 3).then(|| (dims[1], dims[2]));
    let features =
        Array2::from_shape_vec((samples, features), pixels.iter().map(|&p| f64::from(p)).collect())
            .map_err(|e| CliError::data(format!("{}: {e}", images_path.display())))?;
    let labels: Vec<usize> = labels.iter().map(|&l| usize::from(l)).collect();
    let classes = labels.iter().max().map_or(0, |&m| m + 1);
    Ok(Dataset {
        description: format!(
            "{} with {}: {}, {}",
            images_path.display(),
            labels_path.display(),
            count(samples, "sample"),
            count(features.ncols(), "feature")
        ),
        features,
        labels,
        classes,
        image,
        pixel_max: 255.0,
    })
}

/// "1 feature", "64 features".
fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// After loading: the classes in force, each label checked against them.
pub fn settle_classes(dataset: &mut Dataset, classes: Option<usize>, place: &str) -> Result<(), CliError> {
    dataset.classes =
        check_classes(&dataset.labels, classes, |i| format!("{place}: sample {i} (counting from 0)"))?;
    if dataset.classes < 2 {
        return Err(CliError::data(format!(
            "{place}: every label is {}; a classifier needs at least 2 classes",
            dataset.labels.first().copied().unwrap_or(0)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_header_comments_and_integer_labels() {
        let text = "label,a,b\n# a comment\n1, 0.5, 2\n\n0,1e3,-4\n2.0,0,0\n";
        let d = csv(Path::new("x.csv"), text).unwrap();
        assert_eq!(d.labels, [1, 0, 2]);
        assert_eq!(d.classes, 3);
        assert_eq!(d.features, ndarray::array![[0.5, 2.0], [1000.0, -4.0], [0.0, 0.0]]);
    }

    #[test]
    fn csv_errors_name_the_line_and_column() {
        let err = |text: &str| csv(Path::new("d.csv"), text).unwrap_err().to_string();
        assert_eq!(err("0,1,2\n1,1\n"), "d.csv: line 2: 1 features, but line 1 has 2");
        assert_eq!(err("0,1,2\n1,x,2\n"), "d.csv: line 2, column 2: \"x\" is not a number");
        assert!(
            err("0,1\n-1,2\n")
                .starts_with("d.csv: line 2, column 1: label \"-1\" is outside the class range")
        );
        assert!(err("0,1\n1.5,2\n").contains("label \"1.5\" is not a class index"));
        assert_eq!(err("0,1\n1,inf\n"), "d.csv: line 2, column 2: inf is not a finite number");
    }

    #[test]
    fn labels_beyond_classes_are_refused() {
        let mut d = csv(Path::new("d.csv"), "0,1\n3,2\n").unwrap();
        let e = settle_classes(&mut d, Some(3), "d.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            "d.csv: sample 1 (counting from 0): label 3 is outside the class range 0..3 (--classes 3)"
        );
        assert_eq!(e.exit_code(), 1);
        settle_classes(&mut d, None, "d.csv").unwrap();
        assert_eq!(d.classes, 4);
    }

    #[test]
    fn idx_headers_are_checked() {
        let mut images = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
        images.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        let (dims, body) = idx_dims(Path::new("i"), &images).unwrap();
        assert_eq!((dims, body.len()), (vec![2, 2, 2], 8));
        let e = idx_dims(Path::new("i"), &images[..images.len() - 1]).unwrap_err();
        assert_eq!(e.to_string(), "i: the IDX header says [2, 2, 2] (8 bytes) but 7 bytes follow it");
    }
}
