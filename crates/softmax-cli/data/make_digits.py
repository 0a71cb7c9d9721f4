"""Writes digits.bin, the built-in data set of `softmax train`, from the copy inside scikit-learn.

    pip install scikit-learn && python make_digits.py

Layout: 1797 records of 65 bytes, each the class (0..=9) then the 64 pixels (0..=16) of the
8x8 image, row by row, in scikit-learn's order. No network is needed beyond installing the wheel:
`load_digits` reads `sklearn/datasets/data/digits.csv.gz` from the package.
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

digits = load_digits()
pixels = digits.data.astype(np.uint8)
assert (pixels == digits.data).all() and pixels.max() <= 16
labels = digits.target.astype(np.uint8)[:, None]
records = np.hstack([labels, pixels])
assert records.shape == (1797, 65)
Path(__file__).with_name("digits.bin").write_bytes(records.tobytes())
