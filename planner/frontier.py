"""Pareto filtering on (TTFT lower, QPS/chip higher), ties broken by lower TPOT.

F1 a point is kept iff no other point has TTFT <= and QPS/chip >= with one of them strict;
F2 among points equal in both, the one with the lowest TPOT is kept (then the lowest ``tiebreak``, then the
first given). The result is ordered by TTFT ascending (so QPS/chip strictly ascending too).
Values within a relative ``REL_TOL`` (1e-9) of each other are equal: sums of the same latencies in another
order differ in the last bits, and such noise must not create frontier points.
"""

from __future__ import annotations

import numpy as np

__all__ = ["REL_TOL", "pareto_indices"]

REL_TOL = 1e-9


def pareto_indices(ttft: np.ndarray, qps_per_chip: np.ndarray, tpot: np.ndarray,
                   tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Indices of the frontier points (F1, F2), ordered by TTFT ascending."""
    ttft = np.asarray(ttft, dtype=np.float64)
    qpc = np.asarray(qps_per_chip, dtype=np.float64)
    tpot = np.asarray(tpot, dtype=np.float64)
    if ttft.size == 0:
        return np.zeros(0, dtype=np.int64)
    tb = np.zeros_like(ttft) if tiebreak is None else np.asarray(tiebreak, dtype=np.float64)
    order = np.lexsort((np.arange(ttft.size), tb, tpot, -qpc, ttft))  # last key is primary
    q = qpc[order]
    best_before = np.concatenate(([-np.inf], np.maximum.accumulate(q)[:-1]))
    margin = np.where(np.isfinite(best_before), REL_TOL * np.abs(best_before), 0.0)
    kept = order[q > best_before + margin]
    # A kept point whose TTFT equals (within tolerance) that of a later kept point, which has a higher QPS/chip,
    # is dominated: drop it (scanning from the highest TTFT down).
    out, next_t = [], np.inf
    for i in kept[::-1]:
        if ttft[i] < next_t - REL_TOL * abs(next_t) or next_t == np.inf:
            out.append(i)
            next_t = ttft[i]
    return np.asarray(out[::-1], dtype=np.int64)
