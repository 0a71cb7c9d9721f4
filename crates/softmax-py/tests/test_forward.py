"""softmax, log_softmax, logsumexp, sigmoid, log_sigmoid against SciPy, PyTorch and an exact reference."""

import math

import numpy as np
import pytest
import scipy.special as sp
import softmax_rs
from conftest import FLOATS, exact_softmax_rows, rng, ulp_error

# (our function, SciPy's, whether it takes an axis)
OPS = [
    (softmax_rs.softmax, sp.softmax, True),
    (softmax_rs.log_softmax, sp.log_softmax, True),
    (softmax_rs.logsumexp, sp.logsumexp, True),
    (softmax_rs.sigmoid, sp.expit, False),
    (softmax_rs.log_sigmoid, sp.log_expit, False),
]
OP_IDS = [op.__name__ for op, _, _ in OPS]


def assert_matches_scipy(got, x, scipy_fn, dtype, **kw):
    """SciPy in float64 on the same (rounded) inputs, rounded to `dtype`: our result is the
    correctly rounded one in practice, SciPy's float64 result is within a few float64 ulp of
    exact, so after rounding they differ by at most one ulp of a narrow dtype. In float64 the
    logarithmic results get an absolute floor: SciPy forms them as differences of numbers as
    large as the inputs, so its own error there is absolute."""
    x = np.asarray(x, dtype=np.float64)
    want = scipy_fn(x, **kw)
    assert got.dtype == dtype
    assert got.shape == np.shape(want)
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want)
    infinite = np.isinf(want)
    np.testing.assert_array_equal(got[infinite], want[infinite])
    got, want = got[~infinite], want[~infinite]
    if dtype == np.float64:
        logarithmic = scipy_fn in (sp.log_softmax, sp.logsumexp, sp.log_expit)
        finite_x = np.abs(x[np.isfinite(x)])
        atol = 4e-16 * finite_x.max(initial=1.0) if logarithmic else 1e-300
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=atol)
    else:
        want_rounded = want.astype(dtype)
        spacing = np.spacing(np.abs(want_rounded)).astype(np.float64)
        assert np.all(np.abs(got - want_rounded.astype(np.float64)) <= spacing)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op,scipy_fn,has_axis", OPS, ids=OP_IDS)
def test_every_axis_matches_scipy(op, scipy_fn, has_axis, dtype):
    x = (rng(1).standard_normal((3, 4, 5)) * 3).astype(dtype)
    for axis in [-1, 0, 1, 2, -3] if has_axis else [None]:
        kw = {} if axis is None else {"axis": axis}
        assert_matches_scipy(op(x, **kw), x, scipy_fn, dtype, **kw)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op,scipy_fn,has_axis", OPS, ids=OP_IDS)
def test_temperature_scales_the_input(op, scipy_fn, has_axis, dtype):
    x = (rng(2).standard_normal((4, 7)) * 2).astype(dtype)
    kw = {"axis": -1} if has_axis else {}
    for t in [0.25, 0.5, 3.0]:
        got = op(x, temperature=t)
        # x / t is exact in float64 for the powers of two; for 3 its rounding moves the result
        # by far less than the tolerances (an ulp of the narrow types, 1e-13 in float64).
        assert_matches_scipy(got, np.asarray(x, dtype=np.float64) / t, scipy_fn, dtype, **kw)


def test_large_offsets_and_spreads_stay_exact():
    """The +100 offset, a spread of ±300 and a row of 10⁵: every output within the library's
    bound of 2 ulp of the exact value (the f32 softmax kernels store each term rounded and
    measure up to about 1.5; the rest at most 0.52)."""
    pytest.importorskip("mpmath")
    g = rng(3)
    cases = {
        "offset": g.random((2, 20)) + 100.0,
        "spread": g.uniform(-300.0, 300.0, (2, 30)),
        "peaked": np.array([[0.0, -40.0, -50.0, -60.0]]),
    }
    for name, x64 in cases.items():
        for dtype in [np.float32, np.float64]:
            x = x64.astype(dtype)
            exact = exact_softmax_rows(x)
            sm, lsm, lse = softmax_rs.softmax(x), softmax_rs.log_softmax(x), softmax_rs.logsumexp(x)
            for r, (e_sm, e_lsm, e_lse) in enumerate(exact):
                worst = max(
                    max(ulp_error(sm[r, j], e_sm[j], dtype) for j in range(x.shape[1])),
                    max(ulp_error(lsm[r, j], e_lsm[j], dtype) for j in range(x.shape[1])),
                    ulp_error(lse[r], e_lse, dtype),
                )
                assert worst <= 2.0, f"{name} {dtype.__name__} row {r}: {worst} ulp"


def test_long_row_sums_to_one():
    x = rng(4).standard_normal(100_000).astype(np.float32) * 10 + 100
    p = softmax_rs.softmax(x)
    assert abs(math.fsum(p.astype(np.float64)) - 1.0) < 1e-5
    assert_matches_scipy(p, x, sp.softmax, np.float32, axis=-1)


@pytest.mark.parametrize("dtype", FLOATS)
def test_where_excludes_positions(dtype):
    x = rng(5).standard_normal((3, 6)).astype(dtype)
    mask = rng(6).random((3, 6)) > 0.3
    mask[:, 0] = True
    x_excluded = np.where(mask, x.astype(np.float64), -np.inf)
    got = softmax_rs.softmax(x, where=mask)
    assert np.all(got[~mask] == 0)
    assert_matches_scipy(got, x_excluded, sp.softmax, dtype, axis=-1)
    got = softmax_rs.log_softmax(x, where=mask)
    assert np.all(got[~mask] == -np.inf)
    assert_matches_scipy(got, x_excluded, sp.log_softmax, dtype, axis=-1)
    assert_matches_scipy(softmax_rs.logsumexp(x, where=mask), x_excluded, sp.logsumexp, dtype, axis=-1)
    assert np.all(softmax_rs.sigmoid(x, where=mask)[~mask] == 0)
    assert np.all(softmax_rs.log_sigmoid(x, where=mask)[~mask] == -np.inf)


def test_where_broadcasts_and_accepts_sequences():
    x = rng(7).standard_normal((2, 3, 4))
    column_mask = np.array([True, False, True, True])
    full = np.broadcast_to(column_mask, x.shape)
    np.testing.assert_array_equal(softmax_rs.softmax(x, where=column_mask), softmax_rs.softmax(x, where=full))
    np.testing.assert_array_equal(
        softmax_rs.softmax(x, where=[True, False, True, True]), softmax_rs.softmax(x, where=full)
    )


def test_masked_rows_policy():
    x = np.array([[1.0, 2.0], [-np.inf, -np.inf]])
    nan_rows = softmax_rs.softmax(x)
    assert np.all(np.isnan(nan_rows[1])) and np.all(np.isfinite(nan_rows[0]))
    zeros = softmax_rs.softmax(x, masked_rows="zeros")
    np.testing.assert_array_equal(zeros[1], [0.0, 0.0])
    np.testing.assert_array_equal(softmax_rs.log_softmax(x, masked_rows="zeros")[1], [-np.inf, -np.inf])
    mask = np.array([[True, True], [False, False]])
    np.testing.assert_array_equal(
        softmax_rs.softmax(np.ones((2, 2)), where=mask, masked_rows="zeros")[1], [0, 0]
    )
    # logsumexp of a row with nothing finite is −inf under both policies.
    assert softmax_rs.logsumexp(x)[1] == -np.inf
    assert softmax_rs.logsumexp(x, masked_rows="zeros")[1] == -np.inf


def test_special_values():
    x = np.array([[1.0, np.nan, 2.0], [np.inf, 0.0, np.inf], [-np.inf, 0.0, 0.0]])
    p = softmax_rs.softmax(x)
    assert np.all(np.isnan(p[0]))
    np.testing.assert_array_equal(p[1], [0.5, 0.0, 0.5])  # +inf entries share the mass
    np.testing.assert_array_equal(p[2], [0.0, 0.5, 0.5])
    lp = softmax_rs.log_softmax(x)
    np.testing.assert_array_equal(lp[1], [-math.log(2), -np.inf, -math.log(2)])
    lse = softmax_rs.logsumexp(x)
    assert math.isnan(lse[0]) and lse[1] == np.inf and lse[2] == pytest.approx(math.log(2))
    assert softmax_rs.logsumexp(np.empty((2, 0))).tolist() == [-np.inf, -np.inf]
    assert softmax_rs.softmax(np.empty((2, 0), dtype=np.float32)).shape == (2, 0)


def test_keepdims():
    x = rng(8).standard_normal((2, 3, 4))
    for axis in range(-3, 3):
        kept = softmax_rs.logsumexp(x, axis=axis, keepdims=True)
        np.testing.assert_allclose(kept, sp.logsumexp(x, axis=axis, keepdims=True), rtol=1e-14)
        np.testing.assert_array_equal(kept.squeeze(axis), softmax_rs.logsumexp(x, axis=axis))


def test_two_class_softmax_is_sigmoid_of_the_difference():
    a, b = rng(9).standard_normal(50), rng(10).standard_normal(50)
    p = softmax_rs.softmax(np.stack([a, b], axis=1))
    # Equal to the accuracy bound: a − b is itself rounded.
    np.testing.assert_allclose(p[:, 0], softmax_rs.sigmoid(a - b), rtol=1e-15)
    quarters = np.array([[3.0, 1.0], [0.25, -2.5]])  # exact differences: bitwise equal
    np.testing.assert_array_equal(
        softmax_rs.softmax(quarters)[:, 0], softmax_rs.sigmoid(np.array([2.0, 2.75]))
    )


def test_python_numbers_become_float64():
    got = softmax_rs.softmax([1, 2, 3])
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, sp.softmax([1.0, 2.0, 3.0]), rtol=1e-15)
    assert softmax_rs.sigmoid(0.0) == 0.5
    assert softmax_rs.softmax(np.float32([1.0, 1.0])).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_pytorch(torch, dtype):
    x = (rng(11).standard_normal((5, 9)) * 4 + 20).astype(dtype)
    t = torch.from_numpy(x.astype(np.float64))
    cases = [
        (softmax_rs.softmax(x, axis=0), torch.softmax(t, dim=0)),
        (softmax_rs.log_softmax(x, axis=1), torch.log_softmax(t, dim=1)),
        (softmax_rs.logsumexp(x, axis=1), torch.logsumexp(t, dim=1)),
        (softmax_rs.sigmoid(x - 20), torch.sigmoid(t - 20)),
        (softmax_rs.log_sigmoid(x - 20), torch.nn.functional.logsigmoid(t - 20)),
    ]
    for got, want in cases:
        want = want.numpy()
        rtol = 1e-13 if dtype == np.float64 else 2**-23
        np.testing.assert_allclose(got, want.astype(dtype), rtol=rtol, atol=0)
