"""Every error path: TypeError for wrong dtypes and types, ValueError with the library's message otherwise."""

import numpy as np
import pytest
import softmax_rs as s

X = np.arange(6, dtype=np.float64).reshape(2, 3)
X32 = X.astype(np.float32)


@pytest.mark.parametrize(
    "call,match",
    [
        (
            lambda: s.softmax(np.arange(3)),
            "x has dtype int64; softmax_rs works on float16, float32 and float64",
        ),
        (lambda: s.softmax(np.ones(3, dtype=np.complex128)), "x has dtype complex128"),
        (lambda: s.softmax(np.ones(3, dtype=">f8")), r"x has dtype >f8"),
        (lambda: s.log_softmax(np.ones(3, dtype=np.longdouble)), "x has dtype float128"),
        (lambda: s.softmax(["a", "b"]), "x must be a numpy array or a sequence of numbers"),
        (lambda: s.softmax({"a": 1}), "x must be a numpy array or a sequence of numbers"),
        (lambda: s.softmax(None), "x must be a numpy array or a sequence of numbers"),
        (lambda: s.softmax(np.ma.masked_less(X, 2)), r"x is a masked array, whose mask softmax_rs would not see"),
        (lambda: s.softmax_backward(X, np.ma.masked_less(X, 2)), "dy is a masked array"),
        (lambda: s.softmax_backward(X32, X), "dy has dtype float64 but y has dtype float32"),
        (lambda: s.log_softmax_backward(X, X32), "dy has dtype float32 but ly has dtype float64"),
        (lambda: s.softmax(X, where=np.ones((2, 3))), "where must be a boolean array"),
        (lambda: s.softmax(X, out=[0.0] * 6), "out must be a numpy array, got list"),
        (
            lambda: s.softmax(X, out=np.empty((2, 3), np.float32)),
            "out has dtype float32 but x has dtype float64",
        ),
        (
            lambda: s.cross_entropy(X32, np.array([[0.5, 0.5, 0.0]] * 2)),
            "target has dtype float64 but logits",
        ),
        (lambda: s.cross_entropy(X, np.array([True, False])), "target must hold class indices"),
        (lambda: s.nll_loss(X, np.array([0.0, 1.0])), "target must hold class indices of an integer dtype"),
        (
            lambda: s.cross_entropy(X, np.array([0, 1]), weight=np.ones(3, np.float32)),
            "weight has dtype float32",
        ),
        (
            lambda: s.binary_cross_entropy_with_logits(X, X32),
            "target has dtype float32 but x has dtype float64",
        ),
        (
            lambda: s.binary_cross_entropy_with_logits(X, X, pos_weight=np.ones(3, np.float16)),
            "pos_weight has dtype",
        ),
        (lambda: s.softmax(X, axis=1.0), "integer"),
        (lambda: s.softmax(X, temperature="hot"), "temperature"),
    ],
)
def test_wrong_types_are_type_errors(call, match):
    with pytest.raises(TypeError, match=match):
        call()


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: s.softmax(X, axis=2), r"axis 2 is out of range for an array of rank 2 \(valid: -2\.\.2\)"),
        (lambda: s.logsumexp(X, axis=-3), "axis -3 is out of range for an array of rank 2"),
        (lambda: s.softmax(np.float64(1.0)), "axis -1 is out of range for an array of rank 0"),
        (lambda: s.softmax_jacobian(X, axis=7), "axis 7 is out of range"),
        (lambda: s.softmax(X, temperature=0.0), "temperature must be finite and positive, got 0"),
        (lambda: s.log_softmax(X, temperature=-1), "temperature must be finite and positive, got -1"),
        (lambda: s.sigmoid(X, temperature=float("nan")), "temperature must be finite and positive, got NaN"),
        (
            lambda: s.softmax_backward(X, X, temperature=float("inf")),
            "temperature must be finite and positive",
        ),
        (lambda: s.softmax(X, masked_rows="zero"), 'masked_rows must be "nan" or "zeros", got "zero"'),
        (
            lambda: s.cross_entropy(X, np.array([0, 1]), reduction="avg"),
            'reduction must be "none", "sum" or "mean"',
        ),
        (
            lambda: s.softmax(X, where=np.ones(2, bool)),
            r"where of shape \(2,\) does not broadcast to the input's shape \(2, 3\)",
        ),
        (
            lambda: s.softmax_backward(X, X[:, :2]),
            r"the upstream gradient dy has shape \[2, 2\] but the input has shape \[2, 3\]",
        ),
        (lambda: s.sigmoid_backward(X, X[:1]), "the upstream gradient dy has shape"),
        (
            lambda: s.softmax(X, out=np.empty((3, 2))),
            r"out has shape \(3, 2\) but the result has shape \(2, 3\)",
        ),
        (lambda: s.logsumexp(X, out=np.empty(3)), r"out has shape \(3,\) but the result has shape \(2,\)"),
        (lambda: s.softmax(X, out=np.broadcast_to(np.empty(3), (2, 3))), "out is read-only"),
        (
            lambda: s.cross_entropy(X, np.array([0, 3])),
            r"class index 3 at position \[1\] is out of range for 3 classes",
        ),
        (lambda: s.cross_entropy(X, np.array([-1, 0])), r"class index -1 at position \[0\]"),
        (lambda: s.nll_loss(X, np.array([0, 5], np.uint8)), r"class index 5 at position \[1\]"),
        (
            lambda: s.cross_entropy(X, np.array([2**64 - 1, 0], np.uint64)),
            r"class index 18446744073709551615 at position \[0\]",
        ),
        (lambda: s.cross_entropy(X, np.array([0, 1, 2])), "target"),
        (lambda: s.cross_entropy(X, np.array([0, 1]), label_smoothing=1.5), "label"),
        (
            lambda: s.cross_entropy(X, np.array([0, 1]), weight=np.ones(4)),
            "the class weights have length 4 but there are 3 classes",
        ),
        (
            lambda: s.cross_entropy(X, np.array([0, 1]), weight=np.ones((1, 3))),
            r"weight must be 1-D \(one weight per class\), got shape \(1, 3\)",
        ),
        (lambda: s.cross_entropy(np.float64(1.0), np.array(0)), "at least one axis"),
        (lambda: s.cross_entropy(X, np.array([0, 1]), axis=3), "axis 3 is out of range"),
        (lambda: s.cross_entropy(X, np.ones((2, 4)) / 4), "target"),
        (lambda: s.binary_cross_entropy_with_logits(X, X[:, :1]), "target"),
        (lambda: s.binary_cross_entropy_with_logits(X, X, weight=np.ones(4)), "does not broadcast"),
        (lambda: s.binary_cross_entropy_with_logits(X, X, pos_weight=np.ones((3, 3))), "does not broadcast"),
        (lambda: s.softmax(np.zeros((1,) * 33)), "x has 33 axes; softmax_rs handles at most 32"),
        (lambda: s.softmax_jacobian(np.broadcast_to(np.zeros(1), (2**20, 2**20))), "too large to allocate"),
    ],
)
def test_bad_values_are_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy warns converting 2**70 to float16
def test_nothing_panics_on_a_sweep_of_bad_arguments():
    """Every function under a sweep of odd arguments raises TypeError or ValueError, or returns."""
    odd = [
        None,
        0,
        -1,
        2**70,
        float("nan"),
        "x",
        [],
        [[]],
        np.empty(0),
        np.empty((0, 3)),
        np.zeros((2, 0, 3)),
        np.array(np.nan),
        np.ones((2, 3), np.float16),
        np.ones((3, 2), np.int32),
        np.zeros((2, 3), bool),
        X[:, ::-1],
        np.broadcast_to(np.ones(3), (2, 3)),
    ]
    functions = [
        (s.softmax, 1),
        (s.log_softmax, 1),
        (s.logsumexp, 1),
        (s.sigmoid, 1),
        (s.log_sigmoid, 1),
        (s.softmax_jacobian, 1),
        (s.softmax_backward, 2),
        (s.log_softmax_backward, 2),
        (s.sigmoid_backward, 2),
        (s.cross_entropy, 2),
        (s.nll_loss, 2),
        (s.binary_cross_entropy_with_logits, 2),
    ]
    for fn, arity in functions:
        for a in odd:
            for b in odd if arity == 2 else [None]:
                args = (a,) if arity == 1 else (a, b)
                try:
                    fn(*args)
                except (TypeError, ValueError):
                    pass
