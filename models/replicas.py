"""Serving any chip count and any batch size from profiles (``chips: any``, ``batches: any``).

Rules (``docs/model.md``, section "Any chip count, any batch", A1-A4):

- A1 batch b at unit count u: f_u(b) = P4_u(b) on a row, below the smallest row and above the largest; strictly
  between rows, the linear interpolation I_u(b) of the neighbouring Pareto rows, except at a power of two, where
  f_u = min(P4_u, I_u) (P4 prices such a gap batch from the largest row: keeping it means a power-of-two batch
  never costs more than with ``batches: pow2``). I_u is monotone: Pareto rows have latency increasing in batch.
- A2 n chips run k = floor(n / u) data-parallel replicas of a profiled unit u <= n (the remainder idles);
  a batch b splits so that the busiest replica gets ceil(b / k): latency R_u(n, b) = f_u(ceil(b / k)).
- A3 L(n, b) = min over profiled u <= n of R_u(n, b) (the planner configures the best unit), and, when n is a
  replica-scaled count of the P3 table and b a power of two, at most the P3/P4 value. L is non-increasing
  in n (more chips only add configurations).
- A4 decode (a memory-bounded batch): only units whose busiest replica stays within the largest profiled
  row are allowed, ceil(D / k) <= B_max(u); the largest decode batch is max_u floor(n/u) * B_max(u).

These rules are sound: each value is the latency of a real configuration of the chips under the profile's
own lookup rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.cost import Breakdown, RetrievalModel, StageCost
from models.errors import ModelError
from models.profiles import BatchCurve, ProfileTable

__all__ = ["ReplicaCost", "any_count_cost"]


@dataclass(frozen=True)
class ReplicaCost:
    """A2-A4 over the profiled unit curves of one stage; ``pow2`` is the P3 table (for the A3 cap)."""

    units: dict[int, BatchCurve]
    pow2: ProfileTable | None = None
    memory_bound: bool = False
    description: str = "stage"
    every_pow2 = False

    def latency_s(self, n: int, batch: np.ndarray | float) -> np.ndarray:
        b = np.atleast_1d(np.asarray(batch, dtype=np.float64))
        best = np.full(b.shape, np.inf)
        for u, curve in self.units.items():
            if u > n:
                continue
            share = np.ceil(b / (n // u))
            lat = curve.interp(share)
            if self.memory_bound:
                lat = np.where(share <= curve.batch[-1], lat, np.inf)
            best = np.minimum(best, lat)
        if self.pow2 is not None and n in self.pow2.curves:
            is_pow2 = (b >= 1) & (np.floor(np.log2(np.maximum(b, 1))) == np.log2(np.maximum(b, 1)))
            p3 = self.pow2.curves[n].lookup(b)
            if self.memory_bound:
                p3 = np.where(b <= self.pow2.curves[n].batch[-1], p3, np.inf)
            best = np.where(is_pow2, np.minimum(best, p3), best)
        if not np.all(np.isfinite(best)):
            raise ModelError(f"{self.description} cannot serve batch {int(b[~np.isfinite(best)][0])} on {n} chips "
                             f"(largest batch {self.max_batch(n)}). To fix: use a smaller batch or more chips.")
        return best if np.ndim(batch) else best[0]

    def max_batch(self, n: int) -> int:
        caps = [(n // u) * int(c.batch[-1]) for u, c in self.units.items() if u <= n]
        if self.pow2 is not None and n in self.pow2.curves:
            caps.append(int(self.pow2.curves[n].batch[-1]))
        if not caps:
            raise ModelError(f"{self.description} has no profiled unit of <= {n} chips (units "
                             f"{sorted(self.units)}). To fix: give this stage at least {min(self.units)} chips.")
        return max(caps)

    def min_units(self) -> int:
        return min(self.units)

    def batch_cap(self, n: int) -> int:
        return self.max_batch(n)

    def unit_counts(self) -> tuple[int, ...]:
        return tuple(sorted(self.units))

    def scaled_to(self, max_units: int) -> "ReplicaCost":
        return self  # A2 already serves every count

    def replica_curves(self) -> None:
        return None  # already replicated

    def any_batch(self) -> "ReplicaCost":
        return self

    def breakdown(self, units: int, batch: int) -> Breakdown:
        return Breakdown("profile", float(self.latency_s(units, batch)), "replicas of profiled units (A2)")


def any_count_cost(raw: StageCost | RetrievalModel, scaled: StageCost | RetrievalModel, *,
                   memory_bound: bool = False) -> StageCost | RetrievalModel:
    """The A1-A4 version of a stage's cost: ``raw`` is the unscaled cost, ``scaled`` its P3-scaled twin. Sources
    whose ``replica_curves`` is None serve any count themselves (A1 between batches, where they need it)."""
    units = raw.replica_curves()
    if units is None:
        return scaled.any_batch()
    return ReplicaCost(units, ProfileTable(raw.description, "chips", scaled.replica_curves()), memory_bound,
                       raw.description)
