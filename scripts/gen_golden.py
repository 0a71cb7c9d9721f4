#!/usr/bin/env python3
"""Generate golden reference vectors for the softmax crate from PyTorch (float64).

Usage (from the repository root):

    pip install torch && python3 scripts/gen_golden.py

Writes JSON files into crates/softmax/tests/golden/ (see the README there for
the schema). The output is deterministic: fixed seeds, float64 throughout,
single-threaded, and each file is written with a stable key order and layout.
"""

import itertools
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

GENERATOR = "scripts/gen_golden.py"
DTYPE = torch.float64
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "crates", "softmax", "tests", "golden")

# PyTorch's default ignore_index; a target never equals it in these cases, so
# it stands for "no ignore_index" (recorded as null).
NO_IGNORE = -100

torch.set_num_threads(1)
torch.set_default_dtype(DTYPE)


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------

def enc_scalar(v):
    """A Python number as a JSON value: ints stay ints, non-finite floats become
    the strings "NaN", "Infinity" or "-Infinity"."""
    if isinstance(v, bool):
        raise TypeError("bool in tensor data")
    if isinstance(v, int):
        return v
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def flatten(nested):
    if isinstance(nested, list):
        out = []
        for item in nested:
            out.extend(flatten(item))
        return out
    return [nested]


def enc_tensor(t):
    """{"shape": [...], "data": [...]} with data flattened in row-major order."""
    if t is None:
        return None
    t = t.detach().cpu().contiguous()
    return {
        "shape": list(t.shape),
        "data": [enc_scalar(v) for v in flatten(t.tolist())],
    }


def dump(value, indent=0):
    """Pretty JSON: objects one key per line, lists of scalars on one line.
    Floats use Python's repr (shortest round-trip form)."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f'{pad}  {json.dumps(k)}: {dump(v, indent + 1)}' for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return "[" + ", ".join(dump(v) for v in value) + "]"
        items = [f"{pad}  {dump(v, indent + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("non-finite float must be encoded as a string")
        return repr(value)
    # str, int, None, bool
    return json.dumps(value, allow_nan=False)


def write(filename, cases):
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), f"duplicate case names in {filename}"
    doc = {
        "generator": GENERATOR,
        "torch_version": torch.__version__,
        "cases": cases,
    }
    text = dump(doc) + "\n"
    json.loads(text)  # sanity check: valid JSON
    path = os.path.join(OUT_DIR, filename)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(path, ROOT)}: {len(cases)} cases, {len(text)} bytes")


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def gen(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def loss_and_grad(fn, x):
    """Evaluate fn on a fresh leaf copy of x; return (loss, d(sum(loss))/dx)."""
    leaf = x.detach().clone().requires_grad_(True)
    loss = fn(leaf)
    loss.sum().backward()
    return loss.detach(), leaf.grad.detach()


REDUCTIONS = ["none", "sum", "mean"]


# --------------------------------------------------------------------------
# cross_entropy
# --------------------------------------------------------------------------

def ce_case(name, logits, target, kind, weight, ignore_index, ls, reduction):
    def fn(x):
        return F.cross_entropy(
            x,
            target,
            weight=weight,
            ignore_index=NO_IGNORE if ignore_index is None else ignore_index,
            reduction=reduction,
            label_smoothing=ls,
        )

    loss, grad = loss_and_grad(fn, logits)
    return {
        "name": name,
        "logits": enc_tensor(logits),
        "target_kind": kind,
        "target": enc_tensor(target),
        "weight": enc_tensor(weight),
        "ignore_index": ignore_index,
        "label_smoothing": ls,
        "reduction": reduction,
        "loss": enc_tensor(loss),
        "grad": enc_tensor(grad),
    }


def cross_entropy_cases():
    cases = []
    C = 4
    weight_vec = torch.tensor([0.5, 2.0, 1.0, 1.5], dtype=DTYPE)
    smoothings = [0.0, 0.1, 1.0]

    # ---- shape (N=5, C=4) ----
    g = gen(1)
    logits = torch.randn(5, C, generator=g, dtype=DTYPE) * 3
    # fixed targets: every class occurs, the ignored class 1 occurs twice
    idx = torch.tensor([2, 1, 0, 1, 3])
    probs = torch.softmax(torch.randn(5, C, generator=g, dtype=DTYPE) * 2, dim=1)

    for (wname, w), ign, ls, red in itertools.product(
        [("noweight", None), ("weight", weight_vec)], [None, 1], smoothings, REDUCTIONS
    ):
        name = f"2d_indices_{wname}_{'ign1' if ign is not None else 'noign'}_ls{ls}_{red}"
        cases.append(ce_case(name, logits, idx, "indices", w, ign, ls, red))

    for (wname, w), ls, red in itertools.product(
        [("noweight", None), ("weight", weight_vec)], smoothings, REDUCTIONS
    ):
        name = f"2d_probs_{wname}_ls{ls}_{red}"
        cases.append(ce_case(name, logits, probs, "probabilities", w, None, ls, red))

    # ---- shape (N=3, C=4, D=2): class axis 1 ----
    g = gen(2)
    logits3 = torch.randn(3, C, 2, generator=g, dtype=DTYPE) * 3
    idx3 = torch.tensor([[3, 1], [2, 0], [1, 2]])
    probs3 = torch.softmax(torch.randn(3, C, 2, generator=g, dtype=DTYPE) * 2, dim=1)

    for (wname, w), ign, red in itertools.product(
        [("noweight", None), ("weight", weight_vec)], [None, 1], REDUCTIONS
    ):
        ls = 0.1
        name = f"3d_indices_{wname}_{'ign1' if ign is not None else 'noign'}_ls{ls}_{red}"
        cases.append(ce_case(name, logits3, idx3, "indices", w, ign, ls, red))
    for (wname, w), red in itertools.product(
        [("noweight", None), ("weight", weight_vec)], REDUCTIONS
    ):
        ls = 0.1
        name = f"3d_probs_{wname}_ls{ls}_{red}"
        cases.append(ce_case(name, logits3, probs3, "probabilities", w, None, ls, red))

    # ---- every target ignored ----
    all_ign = torch.ones(5, dtype=torch.long)
    for (wname, w), ls, red in itertools.product(
        [("noweight", None), ("weight", weight_vec)], [0.0, 0.1], REDUCTIONS
    ):
        name = f"2d_all_ignored_{wname}_ls{ls}_{red}"
        cases.append(ce_case(name, logits, all_ign, "indices", w, 1, ls, red))

    return cases


# --------------------------------------------------------------------------
# nll_loss
# --------------------------------------------------------------------------

def nll_case(name, log_probs, target, weight, ignore_index, reduction):
    def fn(lp):
        return F.nll_loss(
            lp,
            target,
            weight=weight,
            ignore_index=NO_IGNORE if ignore_index is None else ignore_index,
            reduction=reduction,
        )

    loss, grad = loss_and_grad(fn, log_probs)
    return {
        "name": name,
        "log_probs": enc_tensor(log_probs),
        "target": enc_tensor(target),
        "weight": enc_tensor(weight),
        "ignore_index": ignore_index,
        "reduction": reduction,
        "loss": enc_tensor(loss),
        "grad": enc_tensor(grad),
    }


def nll_loss_cases():
    cases = []
    C = 4
    weight_vec = torch.tensor([0.5, 2.0, 1.0, 1.5], dtype=DTYPE)
    g = gen(3)
    log_probs = torch.log_softmax(torch.randn(5, C, generator=g, dtype=DTYPE) * 3, dim=1)
    idx = torch.tensor([3, 0, 1, 2, 1])

    for (wname, w), ign, red in itertools.product(
        [("noweight", None), ("weight", weight_vec)], [None, 1], REDUCTIONS
    ):
        name = f"2d_{wname}_{'ign1' if ign is not None else 'noign'}_{red}"
        cases.append(nll_case(name, log_probs, idx, w, ign, red))

    # (N=3, C=4, D=2), class axis 1
    log_probs3 = torch.log_softmax(torch.randn(3, C, 2, generator=g, dtype=DTYPE) * 3, dim=1)
    idx3 = torch.tensor([[0, 3], [2, 1], [1, 0]])
    for ign, red in itertools.product([None, 1], REDUCTIONS):
        name = f"3d_weight_{'ign1' if ign is not None else 'noign'}_{red}"
        cases.append(nll_case(name, log_probs3, idx3, weight_vec, ign, red))

    all_ign = torch.ones(5, dtype=torch.long)
    for (wname, w), red in itertools.product(
        [("noweight", None), ("weight", weight_vec)], REDUCTIONS
    ):
        name = f"2d_all_ignored_{wname}_{red}"
        cases.append(nll_case(name, log_probs, all_ign, w, 1, red))
    return cases


# --------------------------------------------------------------------------
# binary_cross_entropy_with_logits
# --------------------------------------------------------------------------

def bce_case(name, x, target, weight, pos_weight, reduction):
    def fn(v):
        return F.binary_cross_entropy_with_logits(
            v, target, weight=weight, pos_weight=pos_weight, reduction=reduction
        )

    loss, grad = loss_and_grad(fn, x)
    return {
        "name": name,
        "x": enc_tensor(x),
        "target": enc_tensor(target),
        "weight": enc_tensor(weight),
        "pos_weight": enc_tensor(pos_weight),
        "reduction": reduction,
        "loss": enc_tensor(loss),
        "grad": enc_tensor(grad),
    }


def bce_cases():
    cases = []
    g = gen(4)
    x = torch.randn(4, 3, generator=g, dtype=DTYPE) * 3
    target = torch.rand(4, 3, generator=g, dtype=DTYPE)
    # exact 0 and 1 targets
    target[0, 0] = 0.0
    target[1, 1] = 1.0
    target[2, 2] = 0.0
    target[3, 0] = 1.0
    target[3, 2] = 0.5
    # large-|x| variant: same targets, some entries replaced by +-50, +-200
    x_large = x.clone()
    x_large[0, 0] = 50.0    # target 0: loss ~ 50
    x_large[1, 1] = -200.0  # target 1: loss ~ 200
    x_large[2, 2] = 200.0   # target 0: loss ~ 200
    x_large[3, 0] = 50.0    # target 1: loss ~ 0
    x_large[0, 1] = -50.0   # fractional target
    x_large[2, 0] = -200.0  # fractional target
    x_large[1, 2] = 200.0   # fractional target

    weight = torch.tensor([0.5, 1.0, 2.0], dtype=DTYPE)
    pos_weight = torch.tensor([3.0, 0.25, 1.5], dtype=DTYPE)

    for (xname, xv), (wname, w), (pname, pw), red in itertools.product(
        [("x", x), ("xlarge", x_large)],
        [("noweight", None), ("weight", weight)],
        [("noposw", None), ("posw", pos_weight)],
        REDUCTIONS,
    ):
        name = f"{xname}_{wname}_{pname}_{red}"
        cases.append(bce_case(name, xv, target, w, pw, red))
    return cases


# --------------------------------------------------------------------------
# softmax / log_softmax / logsumexp on special values
# --------------------------------------------------------------------------

def softmax_special_cases():
    inf = math.inf
    nan = math.nan
    g = gen(5)
    rows = [
        ("nan_in_row", [[1.0, nan, 2.0, -1.0]]),
        ("one_pos_inf", [[1.0, inf, 2.0, -1.0]]),
        ("two_pos_inf", [[inf, 0.5, inf, -3.0]]),
        ("neg_inf_and_finite", [[-inf, 1.0, -inf, 3.0, 0.0]]),
        ("all_neg_inf", [[-inf, -inf, -inf]]),
        ("single_neg_inf", [[-inf]]),
        ("single_finite", [[7.5]]),
        ("pos_inf_and_neg_inf", [[inf, -inf, 0.0]]),
        ("nan_and_pos_inf", [[nan, inf, 1.0]]),
        ("rand_plus_100", (torch.rand(1, 20, generator=g, dtype=DTYPE) + 100).tolist()),
        ("large_1000_1001_1002", [[1000.0, 1001.0, 1002.0]]),
        ("large_negative", [[-1000.0, -1001.0, -1002.0]]),
        ("max_zero_lowest", [[1.7976931348623157e308, 0.0, -1.7976931348623157e308]]),
        ("two_rows_mixed", [[0.0, 1.0, 2.0], [-inf, -inf, 5.0]]),
    ]
    cases = []
    for name, data in rows:
        x = torch.tensor(data, dtype=DTYPE)
        cases.append(special_case(name, x))
    cases.append(special_case("empty_rows_2x0", torch.empty(2, 0, dtype=DTYPE)))
    return cases


def special_case(name, x):
    return {
        "name": name,
        "input": enc_tensor(x),
        "softmax": enc_tensor(torch.softmax(x, dim=-1)),
        "log_softmax": enc_tensor(torch.log_softmax(x, dim=-1)),
        "logsumexp": enc_tensor(torch.logsumexp(x, dim=-1)),
    }


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    torch.manual_seed(0)
    write("cross_entropy.json", cross_entropy_cases())
    write("nll_loss.json", nll_loss_cases())
    write("bce_with_logits.json", bce_cases())
    write("softmax_special.json", softmax_special_cases())
    return 0


if __name__ == "__main__":
    sys.exit(main())
