"""The project's PyTorch reference vectors (crates/softmax/tests/golden, float64), through the Python module.

Tolerances as in the Rust suite (crates/softmax/tests/golden.rs): PyTorch is the less accurate
side, within a few 1e-16 relative except where a value is a cancellation, where its error is
absolute (about ε·|logsumexp|); float32 results are held to 1e-5 of PyTorch's float64 ones.
"""

import math

import numpy as np
import pytest
import softmax_rs
from conftest import assert_close_to_reference, load_golden, tensor

F64_REL, F64_ABS = 1e-13, 1e-15


def check_f32(got, want, what):
    got = np.asarray(got, dtype=np.float64)
    bound = 1e-5 * np.maximum(np.abs(want), 1.0)
    finite = np.isfinite(want)
    assert np.array_equal(np.isnan(got), np.isnan(want)), what
    assert np.all(np.abs(got[finite] - want[finite]) <= bound[finite]), what


def run_both_dtypes(case_name, call, inputs, want_loss, want_grad):
    """`call(*inputs)` in float64 (against PyTorch at F64_REL) and in float32 (loosely)."""
    loss, grad = call(*inputs)
    assert_close_to_reference(loss, want_loss, F64_REL, F64_ABS, f"{case_name}: loss")
    assert_close_to_reference(grad, want_grad, F64_REL, F64_ABS, f"{case_name}: grad")
    narrow = [
        a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype == np.float64 else a for a in inputs
    ]
    loss32, grad32 = call(*narrow)
    assert np.asarray(loss32).dtype == np.float32 and grad32.dtype == np.float32
    check_f32(loss32, want_loss, f"{case_name}: loss (float32)")
    check_f32(grad32, want_grad, f"{case_name}: grad (float32)")


@pytest.mark.parametrize("case", load_golden("cross_entropy.json"), ids=lambda c: c["name"])
def test_cross_entropy_reference_vectors(case):
    kind_int = case["target_kind"] == "indices"
    target = tensor(case["target"], np.int64 if kind_int else np.float64)

    def call(logits, target, weight):
        return softmax_rs.cross_entropy(
            logits,
            target,
            weight=weight,
            ignore_index=case["ignore_index"],
            label_smoothing=case["label_smoothing"],
            reduction=case["reduction"],
            return_grad=True,
        )

    inputs = (tensor(case["logits"]), target, tensor(case["weight"]))
    run_both_dtypes(case["name"], call, inputs, tensor(case["loss"]), tensor(case["grad"]))


@pytest.mark.parametrize("case", load_golden("nll_loss.json"), ids=lambda c: c["name"])
def test_nll_loss_reference_vectors(case):
    def call(log_probs, target, weight):
        return softmax_rs.nll_loss(
            log_probs,
            target,
            weight=weight,
            ignore_index=case["ignore_index"],
            reduction=case["reduction"],
            return_grad=True,
        )

    inputs = (tensor(case["log_probs"]), tensor(case["target"], np.int64), tensor(case["weight"]))
    run_both_dtypes(case["name"], call, inputs, tensor(case["loss"]), tensor(case["grad"]))


@pytest.mark.parametrize("case", load_golden("bce_with_logits.json"), ids=lambda c: c["name"])
def test_bce_with_logits_reference_vectors(case):
    def call(x, target, weight, pos_weight):
        return softmax_rs.binary_cross_entropy_with_logits(
            x, target, weight=weight, pos_weight=pos_weight, reduction=case["reduction"], return_grad=True
        )

    inputs = (tensor(case["x"]), tensor(case["target"]), tensor(case["weight"]), tensor(case["pos_weight"]))
    run_both_dtypes(case["name"], call, inputs, tensor(case["loss"]), tensor(case["grad"]))


@pytest.mark.parametrize("case", load_golden("softmax_special.json"), ids=lambda c: c["name"])
def test_softmax_special_reference_vectors(case):
    x = tensor(case["input"])
    want_sm, want_lsm, want_lse = (
        tensor(case["softmax"]),
        tensor(case["log_softmax"]),
        tensor(case["logsumexp"]),
    )
    sm, lsm, lse = softmax_rs.softmax(x), softmax_rs.log_softmax(x), softmax_rs.logsumexp(x)
    assert_close_to_reference(lse, want_lse, F64_REL, F64_ABS, "logsumexp")
    for r in range(x.shape[0]):
        row = x[r]
        k = int(np.sum(row == np.inf))
        if k and not np.any(np.isnan(row)):
            # SPEC.md departs from PyTorch here on purpose: k +inf entries share the mass
            # (1/k, log-softmax −ln k), the rest get 0 and −inf. PyTorch gives NaN.
            assert np.all(np.isnan(want_sm[r])) and np.all(np.isnan(want_lsm[r]))
            np.testing.assert_array_equal(sm[r], np.where(row == np.inf, 1.0 / k, 0.0))
            np.testing.assert_array_equal(lsm[r], np.where(row == np.inf, -math.log(k), -np.inf))
        else:
            assert_close_to_reference(sm[r], want_sm[r], F64_REL, F64_ABS, f"softmax row {r}")
            assert_close_to_reference(lsm[r], want_lsm[r], F64_REL, F64_ABS, f"log_softmax row {r}")
