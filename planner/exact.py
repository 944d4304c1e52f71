"""The exact time base shared by the evaluator, the exhaustive search and the CP-SAT model (rules Q1-Q4 of
``docs/model.md``, section "Exact arithmetic").

- Q1 every stage latency a cost source returns (float seconds) is quantised once, to whole picoseconds,
  rounding up: ``to_ps(L) = max(1, ceil(L x 10^12 - 10^-3))`` (the 10^-3 ps absorbs the float error of the
  product, so 0.015 s is 15,000,000,000 ps). Every consumer uses these integers, so TTFT, cycles, QPS,
  QPS/chip and TPOT are exact rationals and ties are exact: no tolerance decides anything.
- Q2 a reported value in seconds (or requests/s) is the float nearest to its exact rational (``ps_to_s``,
  ``tpot_s``, ``rate``); Python's int / int is correctly rounded, and so is numpy's float64 division of integers
  below 2^53, so both paths print the same float.
- Q3 a plan meets an SLO bound iff its *reported* value does (TTFT <= ttft_max_s, TPOT <= tpot_max_s,
  QPS >= qps_min, each compared as floats): a bound copied from ragplan's own output admits that plan. The
  ``*_cap`` functions turn a bound into the exact integer limit that decides the same way.
- Q4 QPS/chip is ``Fraction(batch, cycle_ps x chips)`` (requests per picosecond-chip; x 10^12 for per second),
  compared exactly; ``ratio_rank`` ranks such ratios given as integer arrays, exactly.

Nothing here imports a solver.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from models.errors import ModelError

__all__ = ["MAX_PS", "PS_PER_S", "cmp_products", "decode_cap_ps", "decode_rows_meet", "mul", "ps_to_s",
           "qps_cycle_cap_ps", "rate", "ratio_rank", "to_ps", "tpot_s", "ttft_cap_ps"]

#: Picoseconds per second: the quantum of every latency (Q1).
PS_PER_S = 10**12
#: Latencies are refused beyond this (2^58 ps, about 3.3 days per batch), so a TTFT or cycle summing up to 31
#: stages (a pipeline has at most 7) stays inside int64 (the evaluator's sums, the exhaustive search's arrays, CP-SAT's domains).
MAX_PS = 2**58


def to_ps(seconds: np.ndarray | float) -> np.ndarray:
    """Q1: latencies (s) -> whole picoseconds, rounded up (an int64 array; 0-d for a scalar input)."""
    s = np.asarray(seconds, dtype=np.float64)
    if not np.all(np.isfinite(s)) or np.any(s * PS_PER_S >= MAX_PS):
        bad = s[~(np.isfinite(s) & (s * PS_PER_S < MAX_PS))].ravel()[0]
        raise ModelError(f"a stage latency of {bad:.4g} s is beyond what ragplan plans with ({MAX_PS / PS_PER_S:.3g}"
                         f" s per batch). To fix: use smaller batches (search.max_batch_size) or check the cost source")
    return np.maximum(1, np.ceil(s * PS_PER_S - 1e-3)).astype(np.int64)


def ps_to_s(ps: int | np.ndarray) -> float | np.ndarray:
    """Q2: picoseconds -> the nearest float in seconds."""
    if isinstance(ps, np.ndarray):
        return ps.astype(np.float64) / PS_PER_S
    return int(ps) / PS_PER_S


def tpot_s(decode_ps: int | np.ndarray, tokens: int) -> float | np.ndarray:
    """Q2: time per output token (s) of a whole decode of ``tokens`` steps taking ``decode_ps``."""
    if isinstance(decode_ps, np.ndarray):
        return decode_ps.astype(np.float64) / float(tokens * PS_PER_S)
    return int(decode_ps) / (tokens * PS_PER_S)


def rate(batch: int, time_ps: int) -> float:
    """Q2: requests/s of ``batch`` requests every ``time_ps`` (also QPS/chip with time_ps = cycle x chips)."""
    return int(batch) * PS_PER_S / int(time_ps)


def ttft_cap_ps(bound_s: float) -> int:
    """Q3: the largest TTFT (ps) whose reported seconds are <= ``bound_s`` (-1 if none)."""
    k = int(Fraction(bound_s) * PS_PER_S)  # floor for a non-negative bound: k / 10^12 <= bound exactly
    while ps_to_s(k + 1) <= bound_s:
        k += 1
    return max(k, -1)


def decode_cap_ps(tpot_max_s: float, tokens: int) -> int:
    """Q3: the largest whole-decode latency (ps) whose reported TPOT is <= ``tpot_max_s``."""
    k = int(Fraction(tpot_max_s) * tokens * PS_PER_S)
    while tpot_s(k + 1, tokens) <= tpot_max_s:
        k += 1
    return k


def qps_cycle_cap_ps(batch: int, qps_min: float) -> int:
    """Q3: the largest cycle (ps per ``batch`` requests) whose reported QPS is >= ``qps_min`` (0 if none)."""
    k = int(Fraction(batch * PS_PER_S) / Fraction(qps_min))  # batch / k >= qps_min exactly
    while rate(batch, k + 1) >= qps_min:
        k += 1
    return k


def decode_rows_meet(D: np.ndarray, L: np.ndarray, tokens: int, tpot_max_s: float | None,
                     qps_min: float | None) -> np.ndarray:
    """Q3 on decode rows (batch D, whole decode L ps): which meet the TPOT bound and decode's share of the QPS
    floor (D / L reported >= qps_min)."""
    ok = np.ones(len(D), dtype=bool)
    if tpot_max_s is not None:
        ok &= L <= decode_cap_ps(tpot_max_s, tokens)
    if qps_min is not None:
        ok &= np.array([int(l) <= qps_cycle_cap_ps(int(d), qps_min) for d, l in zip(D, L)], dtype=bool)
    return ok


def _reduce(num: np.ndarray, den: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = np.gcd(num, den)
    return num // g, den // g


def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The exact element-wise product of integer arrays: int64 when it surely fits, else Python integers."""
    a, b = np.asarray(a), np.asarray(b)
    top = int(np.max(np.abs(a), initial=0)) * int(np.max(np.abs(b), initial=0))
    if top < 2**62 and a.dtype != object and b.dtype != object:
        return a.astype(np.int64) * b.astype(np.int64)
    return a.astype(object) * b.astype(object)


def cmp_products(a, b, c, d) -> np.ndarray:
    """sign(a b - c d) element-wise, exactly, for non-negative integer arrays (broadcast): floats decide
    clear cases, Python integers the rest."""
    a, b, c, d = np.broadcast_arrays(*(np.asarray(x) for x in (a, b, c, d)))
    fa = a.astype(np.float64) * b.astype(np.float64)
    fc = c.astype(np.float64) * d.astype(np.float64)
    out = np.sign(fa - fc).astype(np.int64)
    for i in zip(*np.nonzero(np.abs(fa - fc) <= 1e-12 * np.maximum(fa, fc))):
        x = int(a[i]) * int(b[i]) - int(c[i]) * int(d[i])
        out[i] = (x > 0) - (x < 0)
    return out


def ratio_rank(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Q4: dense ranks of the ratios num/den (positive integer arrays, int64 or Python integers): 0 for the largest,
    equal ratios equal ranks.

    Ratios are reduced by their gcd (equal rationals become equal pairs, hence equal floats); a float sort decides
    every pair whose values differ by more than 1e-12 relative, and runs of nearer, unequal values are re-sorted
    with Python integers (cross-multiplication), so the ranks are exact."""
    num, den = np.asarray(num), np.asarray(den)
    if num.size == 0:
        return np.zeros(0, dtype=np.int64)
    num, den = _reduce(num, den)
    q = np.asarray(num / den, dtype=np.float64)
    order = np.lexsort((den, num, -q))
    qs, ns, ds = q[order], num[order], den[order]
    same = (ns[1:] == ns[:-1]) & (ds[1:] == ds[:-1])
    near = ~same & (qs[1:] >= qs[:-1] * (1 - 1e-12))
    if near.any():  # unequal ratios too close for floats: order each run of them exactly
        run_start = np.flatnonzero(np.concatenate(([True], ~(same | near))))
        run_end = np.append(run_start[1:], q.size)
        for a, b in zip(run_start, run_end):
            if b - a > 1 and near[a:b - 1].any():
                idx = sorted(range(a, b), key=lambda i: (-Fraction(int(ns[i]), int(ds[i])), i))
                order[a:b] = order[idx]
        ns, ds = num[order], den[order]
        same = (ns[1:] == ns[:-1]) & (ds[1:] == ds[:-1])
    rank = np.empty(q.size, dtype=np.int64)
    rank[order] = np.concatenate(([0], np.cumsum(~same)))
    return rank
