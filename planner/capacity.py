"""Capacity planning: the fewest chips that meet an SLO with a QPS floor (objective O4, ``docs/model.md``).

Same slices as the Pareto sweep (``planner.cpsat.SliceSweep``): the QPS floor is C8 (pre-decode cycle cap per
slice, decode rows filtered), and O4 minimises N, then TTFT, on a slice; the answer is the least (N, TTFT) over
slices, then the least TPOT. Slices are visited by increasing U4 chip lower bound, then TTFT lower bound, and the
scan stops once the bound exceeds the best N, which proves the minimum. The plan is re-checked by the evaluator
(``verify_solution``: in the space, the solver's exact numbers, every SLO bound). A time limit returns the best
plan found, unproven, with the relative chips it might still save as its gap.
"""

from __future__ import annotations

from planner.cpsat import Clock, SliceSweep, SolverSettings, Step, slice_chip_bounds
from planner.cpsat.solve import OutOfTime
from planner.errors import InstanceError
from planner.pareto import no_plan_error, verify_solution
from planner.schema import CapacityResult, FrontierPoint, Slo
from planner.space import Space

__all__ = ["min_chips"]


def min_chips(space: Space, *, slo: Slo | None = None, workers: int = 1, time_limit_s: float | None = None,
              seed: int = 0, progress=None) -> CapacityResult:
    """The fewest accelerator chips whose plan meets ``slo`` (qps_min required; TTFT and TPOT bounds optional);
    ties: the least TTFT, then the least TPOT. Proven optimal when every deciding solve ended OPTIMAL."""
    slo = slo if slo is not None else space.instance.slo
    if slo.qps_min is None:
        raise InstanceError(f"{space.instance.name}: capacity planning needs a QPS target, and slo.qps_min is not "
                            f"set. To fix: pass --qps-min (requests/s) or set slo.qps_min in the instance")
    clock = Clock(time_limit_s)
    sweep = SliceSweep(space, slo, SolverSettings(workers, seed), clock, progress)
    e = sweep.tables.ttft_cap
    lb = slice_chip_bounds(space, sweep.tables, slo.qps_min)
    order = sorted((s for s in sweep.slices if lb[s.bi] < float("inf") and (e is None or s.ttft_lb <= e)),
                   key=lambda s: (lb[s.bi], s.ttft_lb, s.bi))
    best, ties, proven, stopped, left = None, [], True, False, None
    try:
        for i, sl in enumerate(order):
            if best is not None and lb[sl.bi] > best[0].n:
                break  # U4: no later slice can use fewer chips
            if best is not None and lb[sl.bi] == best[0].n and sl.ttft_lb > best[0].ttft:
                continue  # it can at most tie on chips, and cannot reach the best TTFT
            left = lb[sl.bi]
            if progress:
                progress(f"fewest chips: slice {i + 1}/{len(order)} (B={sl.batch}, >= {lb[sl.bi]:.0f} chips)")
            res = sweep.o4(sl, e)
            if res is None:
                continue
            proven &= res[2]
            key = (res[0].n, res[0].ttft)
            if best is None or key < (best[0].n, best[0].ttft):
                best, ties = res, [sl]
            elif key == (best[0].n, best[0].ttft):
                ties.append(sl)
        left = None
        if best is not None:  # then the least TPOT among the slices that tie
            finals = []
            for sl in ties:
                cost, values, ok = sweep.o4_tpot(sl, best[0].n, best[0].ttft)
                proven &= ok
                finals.append((cost.l, sl.bi, sl, cost, values))
            *_, sl, cost, values = min(finals, key=lambda f: f[:2])
    except OutOfTime:
        stopped = True
        sl = ties[0] if ties else None
        cost, values = (best[0], best[1]) if best is not None else (None, None)
    if best is None:
        raise no_plan_error(space, slo, sweep, stopped)
    proven = proven and not stopped and sweep.exact
    gap = 0.0 if proven else max(0.0, 1.0 - (left if left is not None else best[0].n) / best[0].n)
    step = Step(sweep.plan(sl, values), cost, proven, gap, stopped)
    m = verify_solution(space, step, slo)
    return CapacityResult(instance=space.instance.name, solver="cpsat", solve_seconds=clock.elapsed(),
                          qps_min=slo.qps_min, point=FrontierPoint(metrics=m, plan=step.plan, proven_optimal=proven,
                                                                   gap=gap), solves=sweep.solves)
