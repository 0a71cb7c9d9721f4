"""cross_entropy, nll_loss and binary_cross_entropy_with_logits against numpy/SciPy formulas and PyTorch."""

import itertools

import numpy as np
import pytest
import scipy.special as sp
import softmax_rs
from conftest import FLOATS, rng

INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


def cross_entropy_reference(logits, target, weight=None, reduction="mean", smoothing=0.0):
    """PyTorch's definition for class indices along axis 1 of (N, C), in float64 with SciPy."""
    lp = sp.log_softmax(logits.astype(np.float64), axis=1)
    n, c = lp.shape
    w = np.ones(c) if weight is None else weight.astype(np.float64)
    picked = -lp[np.arange(n), target] * w[target]
    smooth = -(lp * w).sum(axis=1) / c
    losses = (1 - smoothing) * picked + smoothing * smooth
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / w[target].sum()


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_cross_entropy_matches_the_formula(dtype, reduction):
    g = rng(1)
    logits = (g.standard_normal((6, 5)) * 3).astype(dtype)
    target = g.integers(0, 5, 6)
    weight = g.random(5).astype(dtype) + 0.5
    for w, smoothing in itertools.product([None, weight], [0.0, 0.1]):
        got = softmax_rs.cross_entropy(
            logits, target, weight=w, reduction=reduction, label_smoothing=smoothing
        )
        want = cross_entropy_reference(logits, target, w, reduction, smoothing)
        assert np.asarray(got).dtype == dtype
        rtol = {np.float16: 2e-3, np.float32: 2e-7, np.float64: 1e-13}[dtype]
        np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, rtol=rtol)


def test_reduced_loss_is_a_numpy_scalar():
    loss = softmax_rs.cross_entropy(np.zeros((2, 3), np.float32), np.array([0, 1]))
    assert isinstance(loss, np.float32)
    loss, grad = softmax_rs.cross_entropy(
        np.zeros((2, 3)), np.array([0, 1]), reduction="none", return_grad=True
    )
    assert loss.shape == (2,) and grad.shape == (2, 3)


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    g = rng(2)
    logits = g.standard_normal((4, 3))
    target = np.array([0, 2, 1, 2])
    loss, grad = softmax_rs.cross_entropy(logits, target, return_grad=True)
    assert loss == softmax_rs.cross_entropy(logits, target)
    onehot = np.eye(3)[target]
    np.testing.assert_allclose(grad, (sp.softmax(logits, axis=1) - onehot) / 4, rtol=1e-13, atol=1e-17)


@pytest.mark.parametrize("int_dtype", INT_DTYPES)
def test_class_indices_of_any_integer_dtype(int_dtype):
    logits = rng(3).standard_normal((5, 4))
    target = np.array([0, 3, 1, 2, 3])
    want = softmax_rs.cross_entropy(logits, target.astype(np.int64))
    assert softmax_rs.cross_entropy(logits, target.astype(int_dtype)) == want
    assert softmax_rs.cross_entropy(logits, target.tolist()) == want
    lp = softmax_rs.log_softmax(logits, axis=1)
    assert softmax_rs.nll_loss(lp, target.astype(int_dtype)) == softmax_rs.nll_loss(lp, target)


def test_ignore_index_and_class_axis():
    g = rng(4)
    logits = g.standard_normal((3, 4, 2))  # (N, C, D), classes on axis 1
    target = np.array([[0, 3], [-100, 1], [2, 2]])
    loss = softmax_rs.cross_entropy(logits, target, reduction="none")
    assert loss.shape == (3, 2) and loss[1, 0] == 0
    moved = np.moveaxis(logits, 1, -1)  # classes last: the same losses with axis=-1
    np.testing.assert_array_equal(softmax_rs.cross_entropy(moved, target, axis=-1, reduction="none"), loss)
    target_7 = np.where(target == -100, 7, target)
    np.testing.assert_array_equal(
        softmax_rs.cross_entropy(logits, target_7, ignore_index=7, reduction="none"), loss
    )
    # Every target ignored: the mean is NaN (as PyTorch), the gradient 0.
    loss, grad = softmax_rs.cross_entropy(logits, np.full((3, 2), -100), return_grad=True)
    assert np.isnan(loss) and np.all(grad == 0)


def test_probability_targets():
    g = rng(5)
    logits = g.standard_normal((4, 3)).astype(np.float32)
    probs = sp.softmax(g.standard_normal((4, 3)), axis=1).astype(np.float32)
    got = softmax_rs.cross_entropy(logits, probs, reduction="none")
    want = -(probs.astype(np.float64) * sp.log_softmax(logits.astype(np.float64), axis=1)).sum(axis=1)
    np.testing.assert_allclose(got, want, rtol=2e-7)
    # A sequence of floats takes the logits' dtype.
    np.testing.assert_array_equal(softmax_rs.cross_entropy(logits, probs.tolist(), reduction="none"), got)


def test_nll_loss_matches_the_formula():
    g = rng(6)
    lp = sp.log_softmax(g.standard_normal((5, 4)), axis=1)
    target = np.array([1, 0, 3, 3, 2])
    weight = np.array([0.5, 1.0, 2.0, 1.5])
    want = -(lp[np.arange(5), target] * weight[target])
    np.testing.assert_allclose(
        softmax_rs.nll_loss(lp, target, weight=weight, reduction="none"), want, rtol=1e-15
    )
    loss, grad = softmax_rs.nll_loss(lp, target, weight=weight, return_grad=True)
    np.testing.assert_allclose(loss, want.sum() / weight[target].sum(), rtol=1e-15)
    want_grad = np.zeros_like(lp)
    want_grad[np.arange(5), target] = -weight[target] / weight[target].sum()
    np.testing.assert_allclose(grad, want_grad, rtol=1e-15)


def test_bce_with_logits_matches_the_formula():
    g = rng(7)
    x = g.standard_normal((4, 3)) * 5
    t = g.random((4, 3))
    weight = g.random(3) + 0.5
    pos_weight = np.array([1.0, 2.0, 0.5])
    softplus = lambda v: np.logaddexp(0.0, v)  # noqa: E731
    want = weight * (pos_weight * t * softplus(-x) + (1 - t) * softplus(x))
    got = softmax_rs.binary_cross_entropy_with_logits(
        x, t, weight=weight, pos_weight=pos_weight, reduction="none"
    )
    np.testing.assert_allclose(got, want, rtol=1e-13)
    loss, grad = softmax_rs.binary_cross_entropy_with_logits(x, t, return_grad=True)
    want_grad = (sp.expit(x) - t) / x.size
    np.testing.assert_allclose(loss, (t * softplus(-x) + (1 - t) * softplus(x)).mean(), rtol=1e-13)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-12, atol=1e-17)
    # Scalars broadcast.
    np.testing.assert_allclose(
        softmax_rs.binary_cross_entropy_with_logits(x, t, pos_weight=2.0, reduction="sum"),
        (2.0 * t * softplus(-x) + (1 - t) * softplus(x)).sum(),
        rtol=1e-13,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_match_pytorch(torch, dtype):
    F = torch.nn.functional
    g = rng(8)
    x = (g.standard_normal((6, 5)) * 4).astype(dtype)
    target = g.integers(0, 5, 6)
    target[2] = -100
    weight = (g.random(5) + 0.5).astype(dtype)
    rtol = 1e-13 if dtype == np.float64 else 1e-6
    for reduction, smoothing in itertools.product(["none", "sum", "mean"], [0.0, 0.2]):
        t = torch.tensor(x.astype(np.float64), requires_grad=True)
        want = F.cross_entropy(
            t,
            torch.tensor(target),
            weight=torch.tensor(weight.astype(np.float64)),
            reduction=reduction,
            label_smoothing=smoothing,
        )
        want.sum().backward()
        loss, grad = softmax_rs.cross_entropy(
            x, target, weight=weight, reduction=reduction, label_smoothing=smoothing, return_grad=True
        )
        np.testing.assert_allclose(
            np.asarray(loss, np.float64), want.detach().numpy(), rtol=rtol, atol=1e-6 * rtol
        )
        np.testing.assert_allclose(grad, t.grad.numpy(), rtol=rtol, atol=rtol * 1e-3)

        lp = torch.log_softmax(torch.tensor(x.astype(np.float64)), dim=1).numpy().astype(dtype)
        t = torch.tensor(lp.astype(np.float64), requires_grad=True)
        want = F.nll_loss(t, torch.tensor(target), reduction=reduction)
        want.sum().backward()
        loss, grad = softmax_rs.nll_loss(lp, target, reduction=reduction, return_grad=True)
        np.testing.assert_allclose(np.asarray(loss, np.float64), want.detach().numpy(), rtol=rtol)
        np.testing.assert_allclose(grad, t.grad.numpy(), rtol=rtol)

        probs = g.random((6, 5)).astype(dtype)
        t = torch.tensor(x.astype(np.float64), requires_grad=True)
        want = F.binary_cross_entropy_with_logits(
            t,
            torch.tensor(probs.astype(np.float64)),
            pos_weight=torch.tensor(weight.astype(np.float64)),
            reduction=reduction,
        )
        want.sum().backward()
        loss, grad = softmax_rs.binary_cross_entropy_with_logits(
            x, probs, pos_weight=weight, reduction=reduction, return_grad=True
        )
        np.testing.assert_allclose(np.asarray(loss, np.float64), want.detach().numpy(), rtol=rtol)
        np.testing.assert_allclose(grad, t.grad.numpy(), rtol=rtol, atol=rtol * 1e-3)
