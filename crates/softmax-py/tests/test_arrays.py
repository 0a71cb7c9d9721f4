"""Strided views read in place, `out=` in every form, float16, and arrays Rust cannot view directly."""

import tracemalloc

import numpy as np
import pytest
import softmax_rs
from conftest import FLOATS, rng

UNARY = [
    softmax_rs.softmax,
    softmax_rs.log_softmax,
    softmax_rs.logsumexp,
    softmax_rs.sigmoid,
    softmax_rs.log_sigmoid,
    softmax_rs.softmax_jacobian,
]


def views(base):
    """Non-contiguous views of a 3-D array: steps, reversals, transposes, Fortran order, broadcasts."""
    yield base[::2, :, ::3]
    yield base[::-1, ::-2]
    yield base.transpose(2, 0, 1)
    yield np.asfortranarray(base)
    yield np.broadcast_to(base[:1], base.shape)
    yield base[..., 1:]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fn", UNARY, ids=lambda f: f.__name__)
def test_strided_views_give_the_contiguous_result(fn, dtype):
    base = (rng(1).standard_normal((6, 5, 7)) * 3).astype(dtype)
    for view in views(base):
        for axis in [-1, 0, 1] if fn not in (softmax_rs.sigmoid, softmax_rs.log_sigmoid) else [None]:
            kw = {} if axis is None else {"axis": axis}
            # Contiguous rows may take the vectorised kernels and strided ones the exact portable
            # path: the same values within the accuracy bound (both within 2 ulp of exact).
            got, want = fn(view, **kw), fn(np.ascontiguousarray(view), **kw)
            np.testing.assert_array_max_ulp(got, want, maxulp=2)


def test_backward_and_losses_read_strided_views():
    base = rng(2).standard_normal((8, 6))
    y, dy = softmax_rs.softmax(base[::2].T, axis=0), base[1::2].T
    np.testing.assert_array_equal(
        softmax_rs.softmax_backward(y, dy, axis=0), softmax_rs.softmax_backward(y.copy(), dy.copy(), axis=0)
    )
    logits, target = base[:, ::-2], np.arange(8)[::-1] % 3
    np.testing.assert_array_equal(
        softmax_rs.cross_entropy(logits, target, return_grad=True)[1],
        softmax_rs.cross_entropy(logits.copy(), target.copy(), return_grad=True)[1],
    )


def test_strided_input_is_not_copied():
    """numpy's allocations are traced by tracemalloc: reading a strided view and writing into a
    preallocated out must allocate far less than the input (the kernels' row buffers are Rust's)."""
    base = rng(3).standard_normal((2000, 1000))
    view = base[::2, ::-1]  # 1000 × 1000, 8 MB, non-contiguous
    out = np.empty(view.shape)
    softmax_rs.softmax(view[:2], out=out[:2])  # first-call imports and caches are not the input
    tracemalloc.start()
    softmax_rs.softmax(view, out=out)
    softmax_rs.log_softmax(view.T, axis=0, out=out.T)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < view.nbytes / 100, f"peak {peak} bytes for an input of {view.nbytes}"
    np.testing.assert_array_equal(out.T, softmax_rs.log_softmax(np.ascontiguousarray(view.T), axis=0))


def test_misaligned_and_odd_stride_arrays_are_copied_then_computed():
    raw = np.zeros(8 * 7 + 1, dtype=np.uint8)
    misaligned = np.frombuffer(raw.data, dtype=np.float64, count=7, offset=1)
    assert not misaligned.flags.aligned
    values = rng(4).standard_normal(7)
    misaligned = misaligned.copy()  # the frombuffer view is read-only; rebuild it writeable below
    buf = np.zeros(8 * 7 + 1, dtype=np.uint8)
    x = np.ndarray((7,), dtype=np.float64, buffer=buf, offset=1)
    x[:] = values
    assert not x.flags.aligned
    np.testing.assert_array_equal(softmax_rs.softmax(x), softmax_rs.softmax(values))
    # A misaligned out goes through numpy.copyto.
    out = np.ndarray((7,), dtype=np.float64, buffer=np.zeros(8 * 7 + 1, np.uint8), offset=1)
    assert softmax_rs.softmax(values, out=out) is out
    np.testing.assert_array_equal(out, softmax_rs.softmax(values))
    # Strides that are not whole elements (a float32 field of a packed record).
    records = np.zeros(5, dtype=[("a", np.int8), ("b", np.float32)])
    records["b"] = values[:5]
    field = records["b"]
    assert field.strides[0] % 4 != 0
    np.testing.assert_array_equal(
        softmax_rs.softmax(field), softmax_rs.softmax(values[:5].astype(np.float32))
    )


@pytest.mark.parametrize("dtype", FLOATS)
def test_out_receives_the_result(dtype):
    x = rng(5).standard_normal((4, 6)).astype(dtype)
    for fn, shape in [
        (softmax_rs.softmax, (4, 6)),
        (softmax_rs.log_softmax, (4, 6)),
        (softmax_rs.sigmoid, (4, 6)),
        (softmax_rs.log_sigmoid, (4, 6)),
        (softmax_rs.logsumexp, (4,)),
        (softmax_rs.softmax_jacobian, (4, 6, 6)),
    ]:
        out = np.full(shape, 7, dtype=dtype)
        assert fn(x, out=out) is out
        np.testing.assert_array_equal(out, fn(x))
    y = softmax_rs.softmax(x)
    for fn in [softmax_rs.softmax_backward, softmax_rs.log_softmax_backward, softmax_rs.sigmoid_backward]:
        out = np.empty_like(x)
        assert fn(y, x, out=out) is out
        np.testing.assert_array_equal(out, fn(y, x))


def test_out_may_be_strided_or_alias_the_input():
    x = rng(6).standard_normal((5, 8))
    want = softmax_rs.softmax(x)
    big = np.zeros((10, 16))
    out = big[::2, ::-2]
    softmax_rs.softmax(x, out=out)
    np.testing.assert_array_equal(out, want)
    assert np.all(big[1::2] == 0)
    in_place = x.copy()
    assert softmax_rs.softmax(in_place, out=in_place) is in_place
    np.testing.assert_array_equal(in_place, want)
    # Overlapping but not identical: the result goes through a temporary.
    shifted = np.concatenate([x, np.zeros((1, 8))])
    softmax_rs.softmax(shifted[:5], out=shifted[1:])
    np.testing.assert_array_equal(shifted[1:], want)
    keep = x.copy()
    softmax_rs.logsumexp(keep, out=keep[:, 0])
    np.testing.assert_array_equal(keep[:, 0], softmax_rs.logsumexp(x))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_backward_out_may_be_strided_or_alias_an_input(name):
    """The backward passes write into `out` directly when Rust can view it, and through a
    temporary when it is one of the inputs."""
    forward, backward = getattr(softmax_rs, name), getattr(softmax_rs, name + "_backward")
    y = forward(rng(9).standard_normal((5, 8)))
    dy = rng(10).standard_normal((5, 8))
    want = backward(y, dy)
    big = np.zeros((10, 16))
    out = big[::2, ::-2]
    assert backward(y, dy, out=out) is out
    np.testing.assert_array_equal(out, want)
    assert np.all(big[1::2] == 0)
    for which in range(2):
        args = [y.copy(), dy.copy()]
        assert backward(*args, out=args[which]) is args[which]
        np.testing.assert_array_equal(args[which], want)
    # Along axis 0, into a transposed view.
    out = np.empty((8, 5)).T
    assert backward(y, dy, axis=0, out=out) is out
    np.testing.assert_array_equal(out, backward(y, dy, axis=0))


def test_out_that_aliases_its_own_elements_goes_through_numpy():
    """A writeable as_strided view whose indices share elements: written as numpy.copyto writes
    it (Rust never holds a mutable view of aliased elements)."""
    x = rng(8).standard_normal((3, 4))
    # Rows two elements apart, four long: elements 0..7 of the storage, most addressed twice.
    storage = np.zeros(8)
    out = np.lib.stride_tricks.as_strided(storage, shape=(3, 4), strides=(16, 8), writeable=True)
    assert softmax_rs.softmax(x, out=out) is out
    expected = np.zeros(8)
    np.copyto(np.lib.stride_tricks.as_strided(expected, shape=(3, 4), strides=(16, 8), writeable=True),
              softmax_rs.softmax(x))
    np.testing.assert_array_equal(storage, expected)
    column = np.lib.stride_tricks.as_strided(np.zeros(1), shape=(3,), strides=(0,), writeable=True)
    softmax_rs.logsumexp(x, out=column)
    assert column[0] == softmax_rs.logsumexp(x)[-1]


def test_float16_is_computed_in_higher_precision_and_rounded_once():
    x = rng(7).standard_normal((3, 50)).astype(np.float16)
    got = softmax_rs.softmax(x)
    assert got.dtype == np.float16
    import scipy.special as sp

    np.testing.assert_array_equal(got, sp.softmax(x.astype(np.float64), axis=-1).astype(np.float16))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_grad_out_receives_the_gradient(dtype, reduction):
    """`grad_out=` gets the gradient `return_grad=True` returns, bit for bit, and is returned
    itself: contiguous, strided (its other elements untouched), along axis 1 of (N, C, L), and
    when it is the logits array (computed through a temporary)."""
    x = (rng(12).standard_normal((6, 5)) * 3).astype(dtype)
    t = np.array([0, 4, 2, 2, 1, 3])
    want_loss, want = softmax_rs.cross_entropy(x, t, reduction=reduction, return_grad=True)
    out = np.full((6, 5), 7, dtype=dtype)
    loss, grad = softmax_rs.cross_entropy(x, t, reduction=reduction, return_grad=True, grad_out=out)
    assert grad is out
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(loss, want_loss)
    big = np.zeros((12, 10), dtype=dtype)
    strided = big[::2, ::-2]
    assert softmax_rs.cross_entropy(x, t, reduction=reduction, return_grad=True, grad_out=strided)[1] is strided
    np.testing.assert_array_equal(strided, want)
    assert np.all(big[1::2] == 0)
    own = x.copy()
    loss, grad = softmax_rs.cross_entropy(own, t, reduction=reduction, return_grad=True, grad_out=own)
    assert grad is own
    np.testing.assert_array_equal(own, want)
    np.testing.assert_array_equal(loss, want_loss)
    x3 = rng(13).standard_normal((2, 5, 3)).astype(dtype)
    t3 = np.array([[0, 1, 4], [3, 3, 2]])
    out3 = np.empty_like(x3)
    softmax_rs.cross_entropy(x3, t3, return_grad=True, grad_out=out3)
    np.testing.assert_array_equal(out3, softmax_rs.cross_entropy(x3, t3, return_grad=True)[1])


def test_cross_entropy_grad_out_is_checked():
    x = rng(14).standard_normal((3, 4))
    t = np.array([0, 1, 2])
    with pytest.raises(ValueError, match="return_grad=True"):
        softmax_rs.cross_entropy(x, t, grad_out=np.empty((3, 4)))
    with pytest.raises(ValueError, match=r"grad_out has shape \(4, 3\)"):
        softmax_rs.cross_entropy(x, t, return_grad=True, grad_out=np.empty((4, 3)))
    with pytest.raises(TypeError, match="grad_out has dtype float32 but logits has dtype float64"):
        softmax_rs.cross_entropy(x, t, return_grad=True, grad_out=np.empty((3, 4), np.float32))
    with pytest.raises(TypeError, match="grad_out must be a numpy array, got list"):
        softmax_rs.cross_entropy(x, t, return_grad=True, grad_out=[[0.0] * 4] * 3)
    frozen = np.empty((3, 4))
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="grad_out is read-only"):
        softmax_rs.cross_entropy(x, t, return_grad=True, grad_out=frozen)
