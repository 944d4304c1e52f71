"""Retrieval pipelined with prefill (AquaPipe-like; ``docs/model.md``, "Pipelining retrieval with prefill",
AP1-AP4): exact integer rules shared by the evaluator, the enumeration and the CP-SAT tables (no ortools).

With c chunks, the prefill of a prompt chunk starts on the partial results of the retrieval so far: retrieval
chunk j ends at j L_r / c, prefill chunk j starts when it and prefill chunk j - 1 have ended and takes L_pf / c.
The last prefill chunk ends at max_j (j L_r + (c - j + 1) L_pf) / c = max(L_r + L_pf / c, L_pf + L_r / c): in whole
picoseconds, max(L_r + ceil(L_pf / c), L_pf + ceil(L_r / c)) (AP2). A wrong early result (probability p) re-runs a
share rho of the prefill: pen(L_pf) = ceil(p rho L_pf) ps more, in TTFT and in the prefill's time per cycle (AP3,
the mean).
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

import numpy as np

__all__ = ["Pipelined", "pair_ttft", "pipelined", "penalty", "rate_of"]

#: the denominator p rho is taken at (exact rational of the user's floats, within 1e-9)
DEN = 10**9


def rate_of(probability: float, fraction: float) -> tuple[int, int]:
    """p rho as num / den (den <= 10^9; the nearest such rational, num <= den)."""
    f = (Fraction(probability) * Fraction(fraction)).limit_denominator(DEN)
    return f.numerator, f.denominator


class Pipelined(NamedTuple):
    """A space's AP1-AP3 constants: chunks c and p rho = num / den."""

    chunks: int
    num: int
    den: int

    def penalty(self, lat):
        return penalty(lat, self.num, self.den)

    def pair(self, l_r, l_pf):
        return pair_ttft(l_r, l_pf, self.chunks)


def pipelined(space) -> Pipelined | None:
    """The space's pipelining of retrieval with prefill (None: off)."""
    ov = space.instance.pipeline.overlap
    return None if ov is None else Pipelined(ov.chunks, *rate_of(ov.wrong_probability, ov.reprefill_fraction))


def _ceil_mul(lat, num: int, den: int):
    """ceil(lat num / den) without overflow (lat < 2^58, num <= den <= 10^9): split lat = q den + r."""
    q, r = np.divmod(lat, den) if isinstance(lat, np.ndarray) else divmod(lat, den)
    return q * num - (-(r * num) // den)


def penalty(lat, num: int, den: int):
    """AP3: ceil(p rho L_pf) for a latency or an int64 array of them."""
    return _ceil_mul(lat, num, den) if num else (lat * 0)


def pair_ttft(l_r, l_pf, chunks: int):
    """AP2: max(L_r + ceil(L_pf / c), L_pf + ceil(L_r / c)) (ints or int64 arrays)."""
    a = l_r - (-l_pf // chunks)
    b = l_pf - (-l_r // chunks)
    return np.maximum(a, b) if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) else max(a, b)
