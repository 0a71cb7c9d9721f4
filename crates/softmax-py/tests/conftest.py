"""Shared helpers of the softmax_rs test suite: exact references, ulp distances, reference vectors."""

import json
import math
import pathlib

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
GOLDEN = REPO / "crates" / "softmax" / "tests" / "golden"
FLOATS = [np.float16, np.float32, np.float64]


def rng(seed=0):
    return np.random.default_rng(seed)


def ulp_of(value, dtype):
    """The spacing of `dtype` at the (float64 or mpmath) value: 2^(e − p + 1), floored at the
    smallest subnormal, so that a correctly rounded result is within 0.5 of it."""
    info = np.finfo(dtype)
    value = abs(float(value))
    if value == 0.0 or not math.isfinite(value):
        return float(info.smallest_subnormal)
    exponent = max(math.frexp(value)[1] - 1, info.minexp)
    return math.ldexp(1.0, exponent - info.nmant)


def ulp_error(got, exact, dtype):
    """|got − exact| in ulp of `dtype` at `exact`; exact is an mpmath number or a float64. Equal
    infinities and NaN against NaN count 0; anything else non-finite counts infinity."""
    got = float(got)
    if math.isnan(got) or math.isinf(got):
        same = (math.isnan(got) and math.isnan(float(exact))) or got == float(exact)
        return 0.0 if same else math.inf
    import mpmath

    diff = abs(mpmath.mpf(got) - mpmath.mpf(exact))
    return float(diff / mpmath.mpf(ulp_of(exact, dtype)))


def exact_softmax_rows(x, temperature=1.0):
    """Softmax, log-softmax and logsumexp of each row of a 2-D array, with mpmath at 200 bits
    (the inputs as given, already rounded to their dtype)."""
    import mpmath

    mpmath.mp.prec = 200
    t = mpmath.mpf(float(temperature))
    rows = []
    for row in np.asarray(x, dtype=np.float64):
        scaled = [mpmath.mpf(float(v)) / t for v in row]
        m = max(scaled)
        terms = [mpmath.exp(v - m) for v in scaled]
        s = mpmath.fsum(terms)
        ln_s = mpmath.log(s)
        rows.append(([e / s for e in terms], [v - m - ln_s for v in scaled], m + ln_s))
    return rows


def load_golden(name):
    """The cases of a reference file, with "NaN"/"Infinity"/"-Infinity" strings as floats."""
    with open(GOLDEN / name, encoding="utf-8") as f:
        return json.load(f)["cases"]


def tensor(value, dtype=np.float64):
    """A {"shape", "data"} tensor of a reference file as a numpy array."""
    if value is None:
        return None
    data = [float(v) if isinstance(v, str) else v for v in value["data"]]
    return np.array(data, dtype=dtype).reshape(value["shape"])


def assert_close_to_reference(got, want, rel, abs_, what):
    """Same shape, NaN where `want` is NaN, equal infinities, otherwise within max(rel·|want|, abs)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan), f"{what}: NaN at {np.argwhere(np.isnan(got) != nan)}"
    inf = np.isinf(want)
    assert np.array_equal(got[inf], want[inf]), f"{what}: infinities differ"
    finite = ~nan & ~inf
    bound = np.maximum(rel * np.abs(want[finite]), abs_)
    err = np.abs(got[finite] - want[finite])
    assert np.all(err <= bound), f"{what}: worst error {np.max(err / bound) if err.size else 0} × the bound"


@pytest.fixture(scope="session")
def torch():
    """PyTorch in float64, or the test is skipped."""
    module = pytest.importorskip("torch")
    module.set_num_threads(1)
    return module
