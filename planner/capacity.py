"""Capacity planning: the fewest chips that meet an SLO with a QPS floor (objective O4, ``docs/model.md``).

Same slice decomposition as the Pareto sweep (``planner.pareto``): for each request batch B the slice model
(C1-C9) has the QPS floor as C8 (C <= floor(B / (qps_min x cycle unit))) and O4 minimises N, then TTFT; the
answer is the least (N, TTFT) over slices, then the least TPOT. Slices are visited by increasing U4 chip
lower bound (``slice_chip_bounds``), then TTFT lower bound, and the scan stops once the bound exceeds the best
N found, which proves the minimum. The plan is re-evaluated by the evaluator (``verify_solution``) and must
meet every SLO bound there, else ``VerificationError``.
"""

from __future__ import annotations

import math
import time

from planner.cpsat.tables import TIME_RES_S
from planner.errors import EmptySpaceError, InfeasibleError, InstanceError, VerificationError
from planner.exhaustive import empty_space_message
from planner.pareto import SliceSweep, diagnose_infeasible, slice_chip_bounds, verify_solution
from planner.schema import CapacityResult, FrontierPoint, Slo
from planner.space import Space

__all__ = ["min_chips"]


def min_chips(space: Space, *, slo: Slo | None = None, workers: int = 1, time_limit_s: float = 60.0,
              seed: int = 0) -> CapacityResult:
    """The fewest accelerator chips whose plan meets ``slo`` (qps_min required; TTFT and TPOT bounds optional);
    ties: the least TTFT, then the least TPOT. Proven optimal when every deciding solve ended OPTIMAL."""
    slo = slo if slo is not None else space.instance.slo
    if slo.qps_min is None:
        raise InstanceError(f"{space.instance.name}: capacity planning needs a QPS target, and slo.qps_min is not "
                            f"set. To fix: pass --qps-min (requests/s) or set slo.qps_min in the instance")
    t0 = time.perf_counter()
    sweep = SliceSweep(space, slo, workers, time_limit_s, seed)
    eps = math.floor(slo.ttft_max_s / TIME_RES_S) if slo.ttft_max_s is not None else None
    lb = slice_chip_bounds(space, sweep.cm, slo.qps_min)
    order = sorted((s for s in sweep.slices if math.isfinite(lb[s.bi]) and (eps is None or s.ttft_lb <= eps)),
                   key=lambda s: (lb[s.bi], s.ttft_lb))
    best, ties, proven = None, [], True
    for sl in order:
        if best is not None and lb[sl.bi] > best[0]:
            break  # U4: no later slice can use fewer chips
        if best is not None and lb[sl.bi] == best[0] and sl.ttft_lb > best[1]:
            continue  # it can at most tie on chips, and cannot reach the best TTFT
        solver = sweep.solver(sl)
        if solver is None:
            continue
        out = sweep.count(sl, solver.fewest_chips, eps)
        if out is None:
            continue
        proven &= out.optimal
        key = (out.values["N"], out.values["TTFT"])
        if best is None or key < best:
            best, ties = key, [sl]
        elif key == best:
            ties.append(sl)
    if best is None:
        if SliceSweep(space, Slo(), workers, time_limit_s, seed).point(None) is None:
            raise EmptySpaceError(empty_space_message(space))
        raise InfeasibleError(diagnose_infeasible(space, slo))
    finals = []
    for sl in ties:
        out = sweep.count(sl, sweep.solver(sl).fewest_chips_tpot, *best)
        proven &= out.optimal
        vals = out.values if sweep.full_decode else sweep.refine_decode(sl, out.values, sweep.cycle_cap(sl))
        finals.append((vals["tpot"], sl.bi, sl, vals))
    tpot, _, sl, vals = min(finals, key=lambda f: f[:2])
    plan = sl.solver.plan(vals)
    metrics = verify_solution(space, plan, vals, len(sweep.groups), sweep.cm.cycle_res_s)
    if metrics.qps < slo.qps_min * (1 - 1e-9) or (slo.ttft_max_s is not None and metrics.ttft_s > slo.ttft_max_s) \
            or (slo.tpot_max_s is not None and metrics.tpot_s > slo.tpot_max_s * (1 + 1e-9)):
        raise VerificationError(f"CP-SAT capacity plan {plan} misses the SLO {slo} by the evaluator: {metrics}")
    point = FrontierPoint(metrics=metrics, plan=plan, proven_optimal=proven, gap=0.0 if proven else None)
    return CapacityResult(instance=space.instance.name, solver="cpsat", solve_seconds=time.perf_counter() - t0,
                          qps_min=slo.qps_min, point=point, solves=sweep.solves)
