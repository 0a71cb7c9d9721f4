"""The comparison script (bench/compare.py): its exact references, its ONNX encoding, and a quick run."""

import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, exact_softmax_rows, rng, ulp_error

sys.path.insert(0, str(REPO / "bench"))
import onnx_models  # noqa: E402
import reference  # noqa: E402


def test_protobuf_varints():
    assert onnx_models._varint(1) == b"\x01"
    assert onnx_models._varint(300) == b"\xac\x02"
    assert onnx_models._varint(-1) == b"\xff" * 9 + b"\x01"  # int64 −1, as protobuf encodes it


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp", "softmax_backward", "cross_entropy"])
def test_onnx_models_compute_their_operation(op):
    ort = pytest.importorskip("onnxruntime")
    import scipy.special as sp

    x = rng(1).standard_normal((6, 5))
    y, dy, t = sp.softmax(x, axis=1), rng(2).standard_normal((6, 5)), np.array([0, 4, 2, 2, 1, 3])
    data, inputs, _ = onnx_models.build(op, np.float64, x.shape)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    feeds = {"x": x, "y": y, "dy": dy, "t": t}
    got = session.run(None, {name: feeds[name] for name, _, _ in inputs})
    lp = sp.log_softmax(x, axis=1)
    want = {
        "softmax": [sp.softmax(x, axis=1)],
        "log_softmax": [lp],
        "logsumexp": [sp.logsumexp(x, axis=1)],
        "softmax_backward": [y * (dy - (dy * y).sum(axis=1, keepdims=True))],
        "cross_entropy": [-lp[np.arange(6), t].mean(), (np.exp(lp) - np.eye(5)[t]) / 6],
    }[op]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)


def test_the_float32_reference_is_exact():
    """The float64-with-exact-sums reference agrees with mpmath to a small fraction of an ulp of
    float32, on the adversarial inputs of the comparison."""
    pytest.importorskip("mpmath")
    g = rng(3)
    for x in [g.standard_normal((3, 40)), g.random((3, 40)) + 100, g.uniform(-300, 300, (3, 40))]:
        x = x.astype(np.float32)
        stats = reference.RowStats(x)
        for r, (sm, lsm, lse) in enumerate(exact_softmax_rows(x)):
            assert ulp_error(stats.logsumexp()[r], lse, np.float32) < 1e-6
            for j in range(x.shape[1]):
                assert ulp_error(stats.softmax()[r, j], sm[j], np.float32) < 1e-6
                assert ulp_error(stats.log_softmax()[r, j], lsm[j], np.float32) < 1e-6


def test_float64_references_agree_and_see_errors():
    """mpmath and the decimal fallback measure the same float64 errors: ≤ 1 ulp for softmax_rs,
    the usual tens to hundreds of ulp for SciPy on a ±300 spread."""
    mpmath = pytest.importorskip("mpmath")
    import scipy.special as sp
    import softmax_rs

    g = rng(4)
    x = g.uniform(-300, 300, (3, 64))
    inputs = {"x": x, "t": np.array([1, 5, 9]), "y": sp.softmax(x, axis=1), "dy": g.standard_normal((3, 64))}
    ours = {
        "softmax": (softmax_rs.softmax(x),),
        "log_softmax": (softmax_rs.log_softmax(x),),
        "logsumexp": (softmax_rs.logsumexp(x),),
        "softmax_backward": (softmax_rs.softmax_backward(inputs["y"], inputs["dy"]),),
        "cross_entropy": softmax_rs.cross_entropy(x, inputs["t"], return_grad=True),
    }
    samples = [
        reference.MpSample(x, [0, 1, 2], backend=b) for b in (reference.exact_math(), reference.DecimalMath())
    ]
    assert samples[0].mp is mpmath
    for op, outputs in ours.items():
        errors = [reference.float64_errors(op, inputs, outputs, s) for s in samples]
        assert errors[0] == pytest.approx(errors[1], abs=1e-9) and errors[0] <= 1.0, op
    scipy_errors = [reference.float64_errors("softmax", inputs, (sp.softmax(x, axis=1),), s) for s in samples]
    assert scipy_errors[0] == pytest.approx(scipy_errors[1], rel=1e-9) and scipy_errors[0] > 10


def test_max_ulp_error():
    ref = np.array([1.0, 0.0, np.nan, np.inf, 1e-45])
    assert reference.max_ulp_error(np.float32([1.0, 0.0, np.nan, np.inf, 0.0]), ref, np.float32) < 1.0
    one_ulp = np.float32(1.0) + np.float32(2**-23)
    assert reference.max_ulp_error(np.float32([one_ulp]), np.array([1.0]), np.float32) == 1.0
    assert math.isinf(reference.max_ulp_error(np.float32([np.nan]), np.array([1.0]), np.float32))


def run_compare(*args):
    """bench/compare.py with `args`, which must succeed; its completed process."""
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "compare.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_quick_comparison_runs_and_softmax_rs_is_exact():
    impls = "softmax_rs,onnxruntime,scipy"
    result = run_compare("--quick", "--impls", impls, "--cases", "normal,spread,long")
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    header, body = rows[0], rows[1:]
    names = [c.strip() for c in header.strip("|").split("|")][3:]
    assert names[0] == "softmax_rs" and "scipy" in names
    assert len(body) == 5 * 3 * 2  # operations × inputs × dtypes
    for line in body:
        cells = [c.strip() for c in line.strip("|").split("|")]
        for name, cell in zip(names, cells[3:]):
            assert cell != "failed", f"{name} failed: {line}"
        speed_and_error = cells[3]  # softmax_rs: "0.0376 (1×), 0.50 ulp"
        ulp = float(speed_and_error.rsplit(", ", 1)[1].split()[0])
        # SPEC's bound; the vectorised float32 kernels measure up to about 1.5 ulp.
        assert ulp <= 2.0, line


def test_quick_in_cache_comparison_covers_the_speed_issue_shapes():
    result = run_compare(
        "--quick", "--in-cache", "--impls", "softmax_rs,scipy", "--ops", "softmax,cross_entropy", "--dtypes", "float32"
    )
    assert "ms of calls on one buffer in cache" in result.stdout
    body = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    # Two operations at each of the three shapes (made small by --quick), every cell timed.
    assert len(body) == 2 * 3, result.stdout
    assert all("in cache" in line and "failed" not in line for line in body), result.stdout
    for line in body:
        ulp = float(line.strip("|").split("|")[3].strip().rsplit(", ", 1)[1].split()[0])
        assert ulp <= 2.0, line
