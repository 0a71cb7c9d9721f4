"""Backward passes and the Jacobian: against the formulas in float64, each other, and PyTorch's autograd."""

import numpy as np
import pytest
import softmax_rs
from conftest import FLOATS, rng


def softmax_vjp_reference(y, dy, axis, temperature=1.0):
    y, dy = y.astype(np.float64), dy.astype(np.float64)
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True)) / temperature


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_backward_matches_the_formula(dtype):
    x = rng(1).standard_normal((3, 4, 5)).astype(dtype)
    dy = rng(2).standard_normal((3, 4, 5)).astype(dtype)
    for axis in [-1, 0, 1]:
        y = softmax_rs.softmax(x, axis=axis)
        dx = softmax_rs.softmax_backward(y, dy, axis=axis)
        assert dx.dtype == dtype and dx.shape == x.shape
        want = softmax_vjp_reference(y, dy, axis)
        # Norm-wise: a few ε of the dtype times ‖y‖‖dy‖ per row (the SPEC's bound is 4 ε).
        eps = np.finfo(dtype).eps
        scale = np.sqrt(np.sum(y.astype(np.float64) ** 2, axis=axis, keepdims=True)) * np.sqrt(
            np.sum(dy.astype(np.float64) ** 2, axis=axis, keepdims=True)
        )
        assert np.all(np.abs(dx - want) <= 4 * eps * scale + np.finfo(dtype).smallest_subnormal)


def test_softmax_backward_is_the_jacobian_transposed():
    x = rng(3).standard_normal((6, 7))
    dy = rng(4).standard_normal((6, 7))
    for t in [1.0, 0.5]:
        j = softmax_rs.softmax_jacobian(x, temperature=t)
        y = softmax_rs.softmax(x, temperature=t)
        dx = softmax_rs.softmax_backward(y, dy, temperature=t)
        np.testing.assert_allclose(dx, np.einsum("rki,rk->ri", j, dy), rtol=1e-12, atol=1e-15)


def test_log_softmax_backward_matches_the_formula():
    x = rng(5).standard_normal((4, 8))
    dy = rng(6).standard_normal((4, 8))
    for axis, t in [(-1, 1.0), (0, 2.0)]:
        ly = softmax_rs.log_softmax(x, axis=axis, temperature=t)
        dx = softmax_rs.log_softmax_backward(ly, dy, axis=axis, temperature=t)
        want = (dy - np.exp(ly) * dy.sum(axis=axis, keepdims=True)) / t
        np.testing.assert_allclose(dx, want, rtol=1e-12, atol=1e-15)


def test_sigmoid_backward_matches_the_formula():
    x = rng(7).standard_normal(50) * 4
    dy = rng(8).standard_normal(50)
    y = softmax_rs.sigmoid(x)
    np.testing.assert_allclose(softmax_rs.sigmoid_backward(y, dy), dy * y * (1 - y), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(
        softmax_rs.sigmoid_backward(y, dy, temperature=2.0), dy * y * (1 - y) / 2, rtol=1e-14, atol=1e-300
    )
    mask = x > 0
    assert np.all(softmax_rs.sigmoid_backward(y, dy, where=mask)[~mask] == 0)


def test_masked_positions_get_zero_gradient():
    x = rng(9).standard_normal((3, 5))
    mask = np.array([True, True, False, True, False])
    y = softmax_rs.softmax(x, where=mask)
    dx = softmax_rs.softmax_backward(y, np.ones_like(x) * np.nan, where=mask)
    assert np.all(dx[:, ~mask] == 0)
    j = softmax_rs.softmax_jacobian(x, where=mask)
    assert np.all(j[:, ~mask, :] == 0) and np.all(j[:, :, ~mask] == 0)


def test_jacobian_shape_and_values():
    x = rng(10).standard_normal((2, 3, 4))
    j = softmax_rs.softmax_jacobian(x, axis=1)
    assert j.shape == (2, 4, 3, 3)
    y = softmax_rs.softmax(x, axis=1)
    for a in range(2):
        for c in range(4):
            v = y[a, :, c]
            np.testing.assert_allclose(j[a, c], np.diag(v) - np.outer(v, v), rtol=1e-14, atol=1e-17)


def test_jacobian_against_finite_differences():
    x = rng(11).standard_normal(5)
    j = softmax_rs.softmax_jacobian(x)
    h = 1e-6
    for i in range(5):
        e = np.zeros(5)
        e[i] = h
        column = (softmax_rs.softmax(x + e) - softmax_rs.softmax(x - e)) / (2 * h)
        np.testing.assert_allclose(j[:, i], column, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_backward_matches_pytorch_autograd(torch, temperature):
    x = rng(12).standard_normal((4, 6)) * 3
    dy = rng(13).standard_normal((4, 6))
    t = torch.tensor(x, requires_grad=True)
    (torch.softmax(t / temperature, dim=1) * torch.tensor(dy)).sum().backward()
    y = softmax_rs.softmax(x, temperature=temperature)
    np.testing.assert_allclose(
        softmax_rs.softmax_backward(y, dy, temperature=temperature), t.grad.numpy(), rtol=1e-12, atol=1e-15
    )
    t = torch.tensor(x, requires_grad=True)
    (torch.log_softmax(t / temperature, dim=0) * torch.tensor(dy)).sum().backward()
    ly = softmax_rs.log_softmax(x, axis=0, temperature=temperature)
    np.testing.assert_allclose(
        softmax_rs.log_softmax_backward(ly, dy, axis=0, temperature=temperature),
        t.grad.numpy(),
        rtol=1e-12,
        atol=1e-15,
    )
    t = torch.tensor(x[0], requires_grad=True)
    jac = torch.autograd.functional.jacobian(lambda v: torch.softmax(v / temperature, dim=0), t)
    np.testing.assert_allclose(
        softmax_rs.softmax_jacobian(x[0], temperature=temperature), jac.numpy(), rtol=1e-12, atol=1e-15
    )
