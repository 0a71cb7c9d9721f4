//! The built-in data of `softmax train`: the UCI optical recognition of handwritten digits, as
//! shipped with scikit-learn (`sklearn.datasets.load_digits`).
//!
//! 1797 images of 8×8 pixels with values 0..=16, ten classes (the digits 0 to 9). The data set is
//! by E. Alpaydin and C. Kaynak, Bogazici University, 1998, from the UCI Machine Learning
//! Repository, under the Creative Commons Attribution 4.0 licence (CC BY 4.0). `data/digits.bin`
//! is written from scikit-learn's copy by `data/make_digits.py`: 1797 records of 65 bytes, the
//! class and then the 64 pixels row by row, in scikit-learn's order.

use ndarray::Array2;

use crate::train::dataset::Dataset;

const RECORDS: &[u8] = include_bytes!("../data/digits.bin");
const IMAGES: usize = 1797;
const SIDE: usize = 8;
const PIXELS: usize = SIDE * SIDE;
const RECORD: usize = 1 + PIXELS;

// The embedded file is part of the build: a wrong size is a build error, not a run-time one.
const _: () = assert!(RECORDS.len() == IMAGES * RECORD);

/// Where the built-in data comes from, for the training report and the saved model.
pub const ATTRIBUTION: &str = "UCI optical recognition of handwritten digits, E. Alpaydin and\n\
                               C. Kaynak, 1998, CC BY 4.0; the copy shipped with scikit-learn";

/// The 1797 digit images as a data set of 64 features (pixels 0..=16) and ten classes.
pub fn load() -> Dataset {
    let records = RECORDS.chunks_exact(RECORD);
    let labels = records.clone().map(|record| usize::from(record[0])).collect();
    let pixels = records.flat_map(|record| record[1..].iter().map(|&p| f64::from(p))).collect();
    Dataset {
        features: Array2::from_shape_vec((IMAGES, PIXELS), pixels).expect("1797 × 64 pixels"),
        labels,
        classes: 10,
        description: format!(
            "built-in digits: {IMAGES} images of {SIDE}×{SIDE} pixels, 10 classes\n{ATTRIBUTION}"
        ),
        image: Some((SIDE, SIDE)),
        pixel_max: 16.0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_data_is_scikit_learns() {
        let digits = super::load();
        assert_eq!(digits.features.dim(), (1797, 64));
        // Class sizes and the first image as `load_digits()` gives them.
        let mut counts = [0usize; 10];
        digits.labels.iter().for_each(|&c| counts[c] += 1);
        assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
        let first: Vec<f64> = digits.features.row(0).iter().take(16).copied().collect();
        assert_eq!(first, [0., 0., 5., 13., 9., 1., 0., 0., 0., 0., 13., 15., 10., 15., 5., 0.]);
        assert!(digits.features.iter().all(|&p| (0.0..=16.0).contains(&p)));
    }
}
