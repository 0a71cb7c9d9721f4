"""Exact references for the comparison, and errors in ulp.

float32 inputs: float64 arithmetic with correctly rounded row sums (`math.fsum`), every output
(float32 has 29 bits fewer than float64, so this reference is exact to far below an ulp).
float64 inputs: mpmath at 160 bits on a sample of rows (and of positions in very long rows), or,
where mpmath is not installed, the standard library's decimal module at 60 digits.
"""

import decimal
import math

import numpy as np

MP_BITS = 160
MAX_POSITIONS = 4096  # outputs checked per sampled float64 row


# ---------------------------------------------------------------------------------------------
# Errors in ulp
# ---------------------------------------------------------------------------------------------


def ulp_of(ref, dtype):
    """The spacing of `dtype` at each (float64) reference value: a correctly rounded result is
    within 0.5 of it. Subnormal and zero references get the smallest subnormal spacing."""
    info = np.finfo(dtype)
    _, exponent = np.frexp(np.abs(ref))
    exponent = np.maximum(exponent - 1, info.minexp)
    ulp = np.ldexp(1.0, exponent - info.nmant)
    return np.where(ref == 0, float(info.smallest_subnormal), ulp)


def max_ulp_error(got, ref, dtype):
    """The largest |got − ref| in ulp of `dtype`; NaN against NaN and equal infinities count 0,
    any other non-finite disagreement infinity."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        raise ValueError(f"result of shape {got.shape}, reference of shape {ref.shape}")
    agree = (np.isnan(got) & np.isnan(ref)) | ((got == ref) & np.isinf(ref))
    finite = np.isfinite(got) & np.isfinite(ref)
    if np.any(~agree & ~finite):
        return math.inf
    if not np.any(finite):
        return 0.0
    g, r = got[finite], ref[finite]
    return float(np.max(np.abs(g - r) / ulp_of(r, dtype)))


# ---------------------------------------------------------------------------------------------
# float32 inputs: float64 with exact sums
# ---------------------------------------------------------------------------------------------


class RowStats:
    """Per row of a 2-D float32 array: the maximum m, the terms e = exp(x − m) in float64 (x − m
    is exact, or within 2⁻⁵³ relative where x is far smaller than m), and rest = Σ e − 1
    correctly rounded (the maximum's term is exactly 1), so that ln s = log1p(rest) keeps a
    dominant class's tiny log-probability."""

    def __init__(self, x):
        x64 = np.asarray(x, dtype=np.float64)
        self.m = x64.max(axis=1, keepdims=True)
        self.d = x64 - self.m
        self.e = np.exp(self.d)
        self.rest = np.array([[math.fsum([*row, -1.0])] for row in self.e.tolist()])
        self.ln_s = np.log1p(self.rest)
        self.s = 1.0 + self.rest

    def softmax(self):
        return self.e / self.s

    def log_softmax(self):
        # d ≤ 0 and −ln s ≤ 0: a sum of like signs, no cancellation.
        return self.d - self.ln_s

    def logsumexp(self):
        return (self.m + self.ln_s)[:, 0]


def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def softmax_backward_f64(y, dy):
    """y ⊙ (dy − ⟨dy, y⟩) for float32 y and dy: the products are exact in float64, the dot product
    is carried as two floats (an exact sum and its exact remainder), and dy − dot in two."""
    y64, dy64 = np.asarray(y, np.float64), np.asarray(dy, np.float64)
    prods = (y64 * dy64).tolist()
    dot_hi = np.array([math.fsum(p) for p in prods])
    dot_lo = np.array([math.fsum([*p, -h]) for p, h in zip(prods, dot_hi)])
    diff_hi, err = _two_sum(dy64, -dot_hi[:, None])
    diff_lo = err - dot_lo[:, None]
    return y64 * diff_hi + y64 * diff_lo


def cross_entropy_f64(x, target, stats):
    """Mean cross-entropy and its gradient (softmax − onehot) / rows for float32 logits, from the
    logits' RowStats."""
    rows = np.arange(x.shape[0])
    losses = stats.ln_s[:, 0] - stats.d[rows, target]
    loss = math.fsum(losses.tolist()) / x.shape[0]
    grad = stats.softmax()
    # p_t − 1 = −(s − e_t)/s, with s − e_t = rest when t is the maximum, else (1 − e_t) + rest
    # (1 − e_t is exact for e_t ≥ 1/2, and a sum of positives otherwise).
    e_t = stats.e[rows, target]
    others = np.where(stats.d[rows, target] == 0, stats.rest[:, 0], (1.0 - e_t) + stats.rest[:, 0])
    grad[rows, target] = -others / stats.s[:, 0]
    return np.float64(loss), grad / x.shape[0]


def float32_reference(op, inputs, stats=None):
    """The reference outputs of `op` (a tuple, like the implementations') on float32 inputs;
    `stats` are the RowStats of inputs["x"] when already computed."""
    if op == "softmax_backward":
        return (softmax_backward_f64(inputs["y"], inputs["dy"]),)
    stats = stats or RowStats(inputs["x"])
    if op == "cross_entropy":
        return cross_entropy_f64(inputs["x"], inputs["t"], stats)
    return (getattr(stats, op)(),)


# ---------------------------------------------------------------------------------------------
# float64 inputs: mpmath (or decimal) on a sample
# ---------------------------------------------------------------------------------------------


def sample_rows(n_rows, row_len):
    """Row indices spread over the array, first and last included: 8 rows of up to 1024 entries,
    fewer of longer rows (one row of 10⁶ takes mpmath about ten seconds)."""
    count = max(1, min(8, n_rows, (1 << 13) // max(row_len, 1)))
    return sorted(set(np.linspace(0, n_rows - 1, count).astype(int).tolist()))


def sample_positions(row, rng):
    """Positions of a row to check: all of a short row; of a long one, a random sample with the
    largest and smallest entries."""
    k = len(row)
    if k <= MAX_POSITIONS:
        return list(range(k))
    chosen = set(rng.choice(k, MAX_POSITIONS, replace=False).tolist())
    chosen.update([int(np.argmax(row)), int(np.argmin(row))])
    return sorted(chosen)


class DecimalMath:
    """The few mpmath functions the float64 reference uses, from the standard library: decimal's
    exp and ln are correctly rounded at the context's precision (60 digits, about 200 bits), and
    a float converts to Decimal exactly."""

    name = "decimal"

    def __init__(self):
        decimal.getcontext().prec = 60

    mpf = staticmethod(decimal.Decimal)

    @staticmethod
    def exp(v):
        return v.exp()

    @staticmethod
    def log(v):
        return v.ln()

    @staticmethod
    def fsum(values):
        return sum(values, decimal.Decimal(0))


def exact_math():
    """mpmath at MP_BITS bits, or DecimalMath without it."""
    try:
        import mpmath
    except ImportError:
        return DecimalMath()
    mpmath.mp.prec = MP_BITS
    mpmath.name = "mpmath"
    return mpmath


class MpSample:
    """Sampled rows (and positions) of a float64 array, with their exact softmax statistics
    computed on first use (see exact_math)."""

    def __init__(self, x, rows, seed=0, backend=None):
        self.mp = backend or exact_math()
        rng = np.random.default_rng(seed)
        self.array, self.rows = x, rows
        self.positions = {r: sample_positions(x[r], rng) for r in rows}
        self._stats = {}

    def stats(self, r):
        """(x, m, e, s, ln s) of row r: its entries, maximum, terms exp(x − m), sum and log-sum."""
        if r not in self._stats:
            mp = self.mp
            xs = [mp.mpf(v) for v in self.array[r].tolist()]
            m = max(xs)
            e = [mp.exp(v - m) for v in xs]
            s = mp.fsum(e)
            self._stats[r] = (xs, m, e, s, mp.log(s))
        return self._stats[r]


def float64_errors(op, inputs, outputs, sample):
    """The largest error in ulp of float64 `outputs` of `op` over the sampled rows and positions
    (for cross-entropy: its gradient, as the mean loss needs every row)."""
    mp = sample.mp
    worst = 0.0

    def account(got, exact):
        nonlocal worst
        got = float(got)
        if not math.isfinite(got):
            worst = math.inf
            return
        ulp = mp.mpf(float(ulp_of(np.array(float(exact)), np.float64)))
        worst = max(worst, float(abs(mp.mpf(got) - exact) / ulp))

    for r in sample.rows:
        positions = sample.positions[r]
        if op == "softmax_backward":
            y = [mp.mpf(v) for v in inputs["y"][r].tolist()]
            dy = [mp.mpf(v) for v in inputs["dy"][r].tolist()]
            dot = mp.fsum(a * b for a, b in zip(y, dy))
            for j in positions:
                account(outputs[0][r, j], y[j] * (dy[j] - dot))
            continue
        xs, m, e, s, ln_s = sample.stats(r)
        if op == "softmax":
            for j in positions:
                account(outputs[0][r, j], e[j] / s)
        elif op == "log_softmax":
            for j in positions:
                account(outputs[0][r, j], xs[j] - m - ln_s)
        elif op == "logsumexp":
            account(outputs[0][r], m + ln_s)
        elif op == "cross_entropy":
            n, t = inputs["x"].shape[0], int(inputs["t"][r])
            for j in sorted(set(positions) | {t}):
                p = e[j] / s
                account(outputs[1][r, j], ((p - 1) if j == t else p) / n)
        else:
            raise ValueError(op)
    return worst
