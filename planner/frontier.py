"""Pareto filtering on (TTFT lower, QPS/chip higher), ties broken by lower TPOT.

F1 a point is kept iff no other point has TTFT <= and QPS/chip >= with one of them strict;
F2 among points equal in both, the one with the lowest TPOT is kept (then the lowest ``tiebreak``, then the
first given). The result is ordered by TTFT ascending (so QPS/chip strictly ascending too).
"""

from __future__ import annotations

import numpy as np

__all__ = ["pareto_indices"]


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
    return order[q > best_before]
