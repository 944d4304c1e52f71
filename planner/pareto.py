"""The TTFT vs QPS/chip frontier (rules F1-F3) by the slice sweep of ``planner.cpsat``: every point proven
optimal, or reported with its gap, and re-checked by the independent evaluator.

The sweep (``docs/model.md``, section "Pareto sweep"): e = the SLO's TTFT bound (or none); repeat: the point for
e (``SliceSweep.point``: O1 on the slices by decreasing bound U1 until none can beat the best, O2 on the slices
that may tie it by increasing TTFT lower bound, O3 on those attaining the least TTFT); e = its TTFT - 1 ps; until
no plan has TTFT <= e. Each point must lie in the search space, meet the SLO and match the solver's exact
numbers in the evaluator, else ``VerificationError`` (a bug). A run's time limit ends the sweep early: the points
found are returned, the last one unproven with its gap, and the result says the frontier is incomplete.
"""

from __future__ import annotations

import math

from planner.cpsat import Clock, SliceSweep, SolverSettings, sweep_for
from planner.cpsat.point import union_point
from planner.schema import FrontierPoint, FrontierResult, Slo
from planner.space import Space
from planner.verify import no_plan_error, verify_solution

__all__ = ["cpsat_frontier", "union_frontier"]


def _left(sweeps: list[SliceSweep], found: list[FrontierPoint]) -> str:
    """What remains of the sweep: the TTFT range still to cover (from the last point down to the least TTFT lower
    bound of a live slice) and the share of that range covered so far, on a log scale (frontier points crowd at
    low TTFTs): an estimate, not a promise."""
    live = [s.ttft_lb for w in sweeps for s in w.slices if not s.dead]
    if not live or not found:
        return ""
    lo, top, now = max(min(live), 1), found[0].metrics.ttft_ps, found[-1].metrics.ttft_ps
    done = 1.0 if top <= lo else math.log(top / now) / math.log(top / lo)
    return f"; TTFT {now / 1e12:.4g} s down to >= {lo / 1e12:.4g} s left (~{min(done, 1.0):.0%} of it done)"


def union_frontier(sweeps: list[SliceSweep], spaces: list[Space], slo: Slo, progress=None,
                   max_points: int = 100_000) -> tuple[list[tuple[int, FrontierPoint]], bool]:
    """F3 over the slices of every sweep (one space, or a design's variants, K5): the points, TTFT descending, each
    with the index of its space and re-checked by the evaluator there, and whether the time limit stopped it."""
    e = sweeps[0].tables.ttft_cap
    found: list[tuple[int, FrontierPoint]] = []
    stopped = False
    while len(found) < max_points:
        got = union_point(sweeps, e, label=f"point {len(found) + 1}: ")
        if got is None:
            break
        k, step = got
        stopped = step.stopped
        if step.plan is not None:
            m = verify_solution(spaces[k], step, slo)
            found.append((k, FrontierPoint(metrics=m, plan=step.plan, proven_optimal=step.proven, gap=step.gap)))
            if progress:
                progress(f"point {len(found)}: TTFT {m.ttft_s:.6g} s, QPS/chip {m.qps_per_chip:.6g}"
                         + ("" if step.proven else f" (not proven, gap {step.gap:.2%})")
                         + _left(sweeps, [p for _, p in found]))
        if stopped:
            break
        e = step.cost.ttft - 1
    return found, stopped


def cpsat_frontier(space: Space, *, slo: Slo | None = None, workers: int = 1, time_limit_s: float | None = None,
                   seed: int = 0, progress=None, max_points: int = 100_000) -> FrontierResult:
    """The frontier F1-F3 by the slice sweep; ``time_limit_s`` bounds the whole run (None: no limit)."""
    slo = slo if slo is not None else space.instance.slo
    clock = Clock(time_limit_s)
    sweep = sweep_for(space, slo, SolverSettings(workers, seed), clock, progress)
    found, stopped = union_frontier([sweep], [space], slo, progress, max_points)
    if not found:
        raise no_plan_error(space, slo, sweep, stopped)
    return FrontierResult(instance=space.instance.name, solver="cpsat", solve_seconds=clock.elapsed(),
                          points=tuple(sorted((p for _, p in found), key=lambda p: p.metrics.ttft_ps)),
                          solves=sweep.solves, complete=not stopped)
