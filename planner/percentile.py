"""Percentile SLOs by simulation (``docs/model.md``, "Simulation", D7-D8): the analytical optimum re-checked under
arriving requests, and the nearest plan whose simulated p99 TTFT meets the bound.

- D7 a plan meets ``p99 TTFT <= S`` at rate R when its simulation (Poisson at R, ``requests`` requests, seed) is
  not saturated and its p99 TTFT is at most S. The 95% confidence interval of the p99 is by batch means: the run's
  latencies (in arrival order) cut into 10 consecutive batches, a p99 per batch, a t-interval over the 10.
- D8 frontier (``pareto``): the points whose predicted QPS reaches R, from the most QPS/chip down (a frontier
  trades TTFT for QPS/chip, so the first that meets the bound is the most efficient one that does); capacity: the
  least-weight plan for R; then the least-weight plans for R whose analytical TTFT is at most 0.8, 0.6, 0.4, 0.2 x
  S (smaller batches fill faster and leave room for queueing); then with headroom, for R (1 + h), h = 0.1, 0.2,
  0.4, 0.8, 1.6; the first that meets the bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from planner.errors import InfeasibleError
from planner.schema import FrontierPoint
from planner.simulate import Arrivals, SimResult, simulate
from planner.space import Space

__all__ = ["HEADROOM", "TTFT_SHARES", "P99Check", "check_p99", "no_plan_meets", "p99_interval", "walk"]

HEADROOM = (0.1, 0.2, 0.4, 0.8, 1.6)
TTFT_SHARES = (0.8, 0.6, 0.4, 0.2)  # analytical TTFT bounds tried, as shares of the p99 bound (D8)
T_975_9 = 2.262  # Student's t, 97.5% quantile, 9 degrees of freedom


def p99_interval(samples: np.ndarray) -> tuple[float, float]:
    """D7: a 95% confidence interval of the p99 by 10 batch means (nan, nan with too few samples)."""
    if len(samples) < 1000:
        return math.nan, math.nan
    per = np.array([np.percentile(b, 99) for b in np.array_split(samples, 10)])
    half = T_975_9 * per.std(ddof=1) / math.sqrt(len(per))
    return float(per.mean() - half), float(per.mean() + half)


@dataclass(frozen=True)
class P99Check:
    """One plan's simulated p99 TTFT against the bound."""

    label: str
    point: FrontierPoint
    sim: SimResult
    p99_s: float
    interval_s: tuple[float, float]
    meets: bool


def check_p99(space: Space, point: FrontierPoint, label: str, bound_s: float, rate: float, requests: int,
              seed: int) -> P99Check:
    """D7 for one plan."""
    m = point.metrics
    duration = max(requests / rate, 50 * m.bottleneck_cycle_ps / 1e12)
    sim = simulate(space, point.plan, Arrivals("poisson", rate), duration, seed=seed)
    p99 = sim.ttft_s["p99"]
    return P99Check(label, point, sim, p99, p99_interval(sim.ttft_samples),
                    bool(not sim.saturated and math.isfinite(p99) and p99 <= bound_s))


def walk(space: Space, candidates: list[tuple[str, Callable[[], FrontierPoint | None]]], bound_s: float, rate: float,
         requests: int = 20_000, seed: int = 0, progress=None) -> tuple[P99Check | None, list[P99Check]]:
    """D8: check candidates in order (each built on demand; None: skipped) until one meets the bound; the one that
    did (None: none) and every check made."""
    tried = []
    for label, make in candidates:
        point = make()
        if point is None:
            continue
        if progress:
            progress(f"simulating {label} at {rate:g} requests/s")
        c = check_p99(space, point, label, bound_s, rate, requests, seed)
        tried.append(c)
        if c.meets:
            return c, tried
    return None, tried


def no_plan_meets(bound_s: float, rate: float, tried: list[P99Check]) -> InfeasibleError:
    best = min((c.p99_s for c in tried if math.isfinite(c.p99_s)), default=math.inf)
    return InfeasibleError(f"no plan tried meets p99 TTFT <= {bound_s:g} s at {rate:g} requests/s by simulation "
                           f"({len(tried)} simulated; the best p99 is {best:.4g} s). To fix: relax --ttft-p99-slo, "
                           f"lower --rate or allow more chips")
