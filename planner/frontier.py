"""The frontier of TTFT (lower) against QPS/chip (higher), defined exactly (rules F1-F3 of ``docs/model.md``).

- F1 for a TTFT bound e, r*(e) is the largest QPS/chip of any plan with TTFT <= e.
- F2 the point for e is, among plans with TTFT <= e and QPS/chip >= r*(e) (1 - TIE_REL), the one with the least
  TTFT, then the least TPOT, then the fewest chips. TIE_REL = 10^-9: QPS/chip values that close are ties, so that
  rounding a latency to the picosecond, or linear scaling computed in floats, never makes a frontier point of its
  own. Plans still tied are interchangeable (their QPS/chip differ by less than TIE_REL); this module then takes
  the highest QPS/chip, then the first given.
- F3 the frontier is the sequence of points for e = the SLO's bound (or none), then e = the last point's TTFT
  - 1 ps, until no plan is left. Without the tie tolerance this is exactly the Pareto set with ties broken by
  TPOT, then chips.

Inputs are the exact integers of ``planner.exact`` (TTFT and whole decode in picoseconds, QPS/chip as the ratio
num/den of integers), so both solvers decide every comparison the same way. ``candidates`` keeps every plan F2
may pick (cheap, exact), ``pareto_indices`` runs F1-F3.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from planner.exact import ratio_rank

__all__ = ["TIE_REL", "candidates", "pareto_indices", "tie_floor"]

#: QPS/chip values within this relative distance of the best are ties (F2).
TIE_REL = Fraction(1, 10**9)


def tie_floor(best: Fraction) -> Fraction:
    """F2: the least QPS/chip that ties ``best``."""
    return best * (1 - TIE_REL)


def _ints(x, like: np.ndarray) -> np.ndarray:
    return np.zeros_like(like) if x is None else np.asarray(x, dtype=np.int64)


def candidates(ttft_ps, ratio_num, ratio_den, decode_ps, chips=None) -> np.ndarray:
    """Indices of every plan F2 may pick: those that no other plan beats on (TTFT, TPOT, chips) taken
    lexicographically while having a QPS/chip at least as high (exact)."""
    ttft = np.asarray(ttft_ps, dtype=np.int64)
    if ttft.size == 0:
        return np.zeros(0, dtype=np.int64)
    rank = ratio_rank(np.asarray(ratio_num), np.asarray(ratio_den))
    order = np.lexsort((np.arange(ttft.size), rank, _ints(chips, ttft), _ints(decode_ps, ttft), ttft))
    r = rank[order]
    best_before = np.concatenate(([np.iinfo(np.int64).max], np.minimum.accumulate(r)[:-1]))
    return np.sort(order[r < best_before])


def pareto_indices(ttft_ps, ratio_num, ratio_den, decode_ps, chips=None, ttft_cap_ps: int | None = None) -> np.ndarray:
    """F1-F3: the frontier's plans (indices), ordered by TTFT ascending; ``ttft_cap_ps`` is the first bound."""
    ttft = np.asarray(ttft_ps, dtype=np.int64)
    keep = candidates(ttft, ratio_num, ratio_den, decode_ps, chips)
    if keep.size == 0:
        return keep
    num, den = np.asarray(ratio_num)[keep], np.asarray(ratio_den)[keep]
    t, dec, n = ttft[keep], _ints(decode_ps, ttft)[keep], _ints(chips, ttft)[keep]
    ratio = [Fraction(int(a), int(b)) for a, b in zip(num, den)]
    order = sorted(range(len(keep)), key=lambda i: t[i])  # the candidates by TTFT: a bound keeps a prefix
    out, e = [], ttft_cap_ps
    while order:
        if e is not None:
            while order and t[order[-1]] > e:
                order.pop()
            if not order:
                break
        floor = tie_floor(max(ratio[i] for i in order))
        tied = [i for i in order if ratio[i] >= floor]
        t_star = min(t[i] for i in tied)
        pick = min((i for i in tied if t[i] == t_star), key=lambda i: (dec[i], n[i], -ratio[i], keep[i]))
        out.append(int(keep[pick]))
        e = int(t_star) - 1
    return np.asarray(out[::-1], dtype=np.int64)
