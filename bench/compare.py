#!/usr/bin/env python3
"""softmax_rs side by side with ONNX Runtime, PyTorch, JAX and SciPy: speed and accuracy.

Usage, from the repository root with softmax_rs installed (see README.md, "Python"):

    pip install onnxruntime scipy mpmath    # PyTorch and JAX are compared too when installed
    python bench/compare.py                 # the full table, one thread each (several minutes)
    python bench/compare.py --threads 2     # N threads for every implementation
    python bench/compare.py --quick         # small arrays: a check that everything runs
    python bench/compare.py --in-cache      # the speed issue's shapes, one buffer kept in cache

On the same arrays, in one process, for softmax, log-softmax, logsumexp, softmax backward and
cross-entropy with its gradient: each implementation's speed in 10⁹ elements per second (median
of repeated runs, rotating over buffers larger than the last-level cache), its speed relative to
softmax_rs, and its largest error in ulp against an exact reference (float32 inputs: float64 with
exact sums, every output; float64 inputs: mpmath on sampled rows, or the standard library's
decimal where mpmath is not installed). The table on stdout is markdown, ready to paste;
progress goes to stderr.
"""

import argparse
import datetime
import json
import math
import os
import pathlib
import platform
import statistics
import sys
import time

import numpy as np
import peers as peer_modules
import reference

CASES = {
    # name: (label, generator, full shape, quick shape)
    "normal": ("N(0, 1)", lambda g, shape: g.standard_normal(shape), (4096, 1024), (256, 256)),
    "offset": ("U(0, 1) + 100", lambda g, shape: g.random(shape) + 100.0, (4096, 1024), (256, 256)),
    "spread": ("U(−300, 300)", lambda g, shape: g.uniform(-300.0, 300.0, shape), (4096, 1024), (256, 256)),
    "long": ("N(0, 1), long rows", lambda g, shape: g.standard_normal(shape), (4, 1_000_000), (2, 10_000)),
}
# --in-cache: the speed issue's shapes, N(0, 1), each on one buffer that stays in the caches.
IN_CACHE = {
    "4096x128": ("N(0, 1), in cache", lambda g, shape: g.standard_normal(shape), (4096, 128), (256, 128)),
    "256x1000": ("N(0, 1), in cache", lambda g, shape: g.standard_normal(shape), (256, 1000), (64, 1000)),
    "64x32768": ("N(0, 1), in cache", lambda g, shape: g.standard_normal(shape), (64, 32768), (4, 32768)),
}
# In cache a call takes well under a millisecond: each timed sample repeats it for this long.
SAMPLE_SECONDS = 0.05
DTYPES = {"float32": np.float32, "float64": np.float64}
MIB = 1 << 20


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, help="threads per implementation (default 1)")
    p.add_argument("--quick", action="store_true", help="small arrays and few runs: a smoke test")
    p.add_argument(
        "--impls",
        default=",".join(P.name for P in peer_modules.PEERS),
        help="comma-separated implementations (default: every one installed)",
    )
    p.add_argument("--ops", default=",".join(peer_modules.OPS), help="comma-separated operations")
    p.add_argument("--cases", help="comma-separated inputs: " + ", ".join(CASES) + " (default: all)")
    p.add_argument(
        "--in-cache",
        action="store_true",
        help="time one buffer kept in cache, at the shapes " + ", ".join(IN_CACHE) + " (the speed issue's); "
        "--cases then chooses among those",
    )
    p.add_argument("--dtypes", default="float32,float64", help="comma-separated dtypes")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per measurement, at most")
    p.add_argument("--seconds", type=float, default=2.0, help="time per measurement after 3 runs")
    p.add_argument("--json", type=pathlib.Path, help="also write every measurement to this file")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error("--threads must be at least 1")
    cases = IN_CACHE if args.in_cache else CASES
    args.cases = args.cases or ",".join(cases)
    for name, value, known in [
        ("--impls", args.impls, [P.name for P in peer_modules.PEERS]),
        ("--ops", args.ops, peer_modules.OPS),
        ("--cases", args.cases, list(cases)),
        ("--dtypes", args.dtypes, list(DTYPES)),
    ]:
        unknown = [v for v in value.split(",") if v not in known]
        if unknown:
            p.error(f"{name}: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    if args.quick:
        args.repeats, args.seconds = min(args.repeats, 3), min(args.seconds, 0.5)
    return args


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def rotation_bytes():
    """At least twice the largest cache (64 MiB at least), so each run starts from memory."""
    largest = 0
    for index in pathlib.Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            size = (index / "size").read_text().strip()
            largest = max(largest, int(size[:-1]) * {"K": 1 << 10, "M": MIB}.get(size[-1], 1))
        except (OSError, ValueError):
            continue
    return max(64 * MIB, 2 * largest)


def make_buffers(case, dtype, quick, in_cache=False):
    """The rotating buffers of one input case (one buffer in cache): logits x, class targets t,
    and for the backward pass y = softmax(x) and an upstream gradient dy, each in `dtype`."""
    label, generate, full, small = (IN_CACHE if in_cache else CASES)[case]
    shape = small if quick else full
    itemsize = np.dtype(dtype).itemsize
    if in_cache:
        count = 1
    else:
        count = 2 if quick else max(2, math.ceil(rotation_bytes() / (shape[0] * shape[1] * itemsize)))
    buffers = []
    for i in range(count):
        g = np.random.default_rng(1000 * i + list(IN_CACHE if in_cache else CASES).index(case))
        x = generate(g, shape).astype(dtype)
        x64 = x.astype(np.float64)
        y = np.exp(x64 - x64.max(axis=1, keepdims=True))
        y = (y / y.sum(axis=1, keepdims=True)).astype(dtype)
        buffers.append(
            {
                "x": x,
                "t": g.integers(0, shape[1], shape[0]),
                "y": y,
                "dy": g.standard_normal(shape).astype(dtype),
            }
        )
    return f"{label}, {shape[0]}×{shape[1]}", buffers


def time_runs(run, count, repeats, seconds):
    """Median wall time of up to `repeats` runs (at least 3, fewer past `seconds`), rotating over
    the buffers after buffer 0, and the process's CPU time over wall time during them. With one
    buffer (in cache), each sample is the mean of as many calls as fill SAMPLE_SECONDS."""
    times = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    i = 1
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() - wall0 < seconds):
        t0, calls = time.perf_counter(), 0
        while True:
            run(i % count)
            calls += 1
            elapsed = time.perf_counter() - t0
            if count > 1 or elapsed >= SAMPLE_SECONDS:
                break
        times.append(elapsed / calls)
        i += 1
    wall = time.perf_counter() - wall0
    return statistics.median(times), (time.process_time() - cpu0) / wall, len(times)


class Errors:
    """The largest error in ulp of an implementation's outputs on buffer 0 against the exact
    reference, which is computed once per operation and input."""

    def __init__(self, buffer, dtype):
        self.buffer, self.dtype = buffer, dtype
        self.references = {}
        self.stats = None
        self.sample = None
        if dtype == np.float64:
            self.sample = reference.MpSample(buffer["x"], reference.sample_rows(*buffer["x"].shape))

    def __call__(self, op, outputs):
        if self.dtype == np.float32:
            if op not in self.references:
                if self.stats is None and op != "softmax_backward":
                    self.stats = reference.RowStats(self.buffer["x"])  # shared by the forward ops
                self.references[op] = reference.float32_reference(op, self.buffer, self.stats)
            return max(
                reference.max_ulp_error(o, r, self.dtype) for o, r in zip(outputs, self.references[op])
            )
        return reference.float64_errors(op, self.buffer, outputs, self.sample)


def measure_all(args, log):
    chosen = args.impls.split(",")
    implementations, missing = [], []
    for P in peer_modules.PEERS:
        if P.name not in chosen:
            continue
        try:
            implementations.append(P(args.threads))
        except ImportError as e:
            if P is peer_modules.SoftmaxRs:
                raise SystemExit(f"softmax_rs is not installed ({e}); see README.md, 'Python'")
            missing.append(P.name)
    results = []
    for dtype_name in args.dtypes.split(","):
        dtype = DTYPES[dtype_name]
        for case in args.cases.split(","):
            label, buffers = make_buffers(case, dtype, args.quick, args.in_cache)
            errors = Errors(buffers[0], dtype)
            for op in args.ops.split(","):
                elements = buffers[0]["x"].size
                row = {
                    "op": op,
                    "input": label,
                    "dtype": dtype_name,
                    "elements": elements,
                    "buffers": len(buffers),
                    "cells": {},
                }
                for impl in implementations:
                    cell = {}
                    try:
                        run = impl.prepare(op, buffers)
                        if run is None:
                            continue
                        outputs = impl.to_numpy(run(0))  # the warm-up run (and JAX's compilation)
                        cell["ulp"] = errors(op, outputs)
                        seconds, cpu_ratio, runs = time_runs(run, len(buffers), args.repeats, args.seconds)
                        cell.update(gelem_per_s=elements / seconds / 1e9, cpu_per_wall=cpu_ratio, runs=runs)
                    except Exception as e:  # noqa: BLE001 - one failing peer must not end the comparison
                        cell = {"error": f"{type(e).__name__}: {e}".splitlines()[0][:200]}
                    finally:
                        run = None
                    row["cells"][impl.name] = cell
                    progress = describe(cell, None, args.threads)
                    log(f"{op:17} {label:32} {dtype_name:8} {impl.name:12} {progress}")
                results.append(row)
    return implementations, missing, results


def describe(cell, base, threads):
    """One cell of the table: speed, ratio to softmax_rs, error."""
    if cell is None:
        return "—"
    if "error" in cell:
        return "failed"
    speed = cell["gelem_per_s"]
    text = f"{speed:.3g}"
    if base:
        ratio = speed / base
        text += f" ({ratio:.2g}×)" if ratio < 10 else f" ({ratio:.0f}×)"
    if cell["cpu_per_wall"] > threads + 0.5:
        text += "‡"
    ulp = cell["ulp"]
    if math.isinf(ulp):
        return f"{text}, wrong NaN/inf"
    return f"{text}, {ulp:.0f} ulp" if ulp >= 100 else f"{text}, {ulp:.2f} ulp"


def table(args, implementations, missing, results):
    names = [impl.name for impl in implementations]
    lines = [
        f"Measured {datetime.date.today().isoformat()} on {cpu_name()} ({os.cpu_count()} cores), "
        f"{args.threads} thread{'s' if args.threads > 1 else ''} each"
        + (" (small arrays: --quick)" if args.quick else "")
        + "; "
        + ", ".join(f"{impl.name} {impl.version}" for impl in implementations)
        + (f"; not installed: {', '.join(missing)}" if missing else "")
        + ".",
        "",
        "Each cell: 10⁹ elements per second (median of up to "
        + (
            f"{args.repeats} samples of {SAMPLE_SECONDS * 1000:.0f} ms of calls on one buffer in cache), "
            if args.in_cache
            else f"{args.repeats} runs over rotating buffers of at least {rotation_bytes() // MIB} MiB), "
        )
        + 
        "in parentheses the speed relative to softmax_rs, then the largest error in ulp against "
        "the exact result (float32: every output, float64: up to 8 sampled rows, one of the long "
        f"rows, with {reference.exact_math().name}), subnormal outputs included. Backward errors "
        "are per element, so they show the cancellation in dy − ⟨dy, y⟩. Cross-entropy: the loss "
        "and its gradient (float64: the gradient).",
        "",
        "| operation | input | dtype | " + " | ".join(names) + " |",
        "| --- | --- | --- | " + " | ".join("---:" for _ in names) + " |",
    ]
    footnotes = set()
    for row in results:
        base = row["cells"].get("softmax_rs", {}).get("gelem_per_s")
        cells = [describe(row["cells"].get(n), base, args.threads) for n in names]
        footnotes.update(c for c in cells if "failed" in c or "‡" in c)
        lines.append(f"| {row['op']} | {row['input']} | {row['dtype']} | " + " | ".join(cells) + " |")
    if any("‡" in c for c in footnotes):
        lines += ["", f"‡ used more CPU time than {args.threads} thread(s) of wall time."]
    failures = {
        (n, r["op"], r["dtype"], r["cells"][n]["error"])
        for r in results
        for n in r["cells"]
        if "error" in r["cells"][n]
    }
    if failures:
        lines += [""] + [f"- {n} failed on {op} ({dt}): {err}" for n, op, dt, err in sorted(failures)]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    implementations, missing, results = measure_all(args, log)
    print(table(args, implementations, missing, results))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"threads": args.threads, "quick": args.quick, "results": results}, indent=1, default=float
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
