"""Pareto sweep with the CP-SAT model: epsilon-constraint on TTFT, every point proven optimal or with its gap.

Sweep (``docs/model.md``, section "Pareto sweep"): e = TTFT bound of the SLO (or none); repeat
{ O1 max QPS/chip under TTFT <= e; O2 min TTFT at that ratio; O3 min TPOT, then chips; record the point;
e = its TTFT - 1 unit } until infeasible. Every point is re-evaluated by the independent evaluator, must lie
in the search space and must not look better to the solver than to the evaluator (else ``VerificationError``).
The floating-point frontier (F1-F2) of the recorded points is returned.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from planner.cpsat import Q_SCALE, TIME_RES_S, RagSolver, build_model, build_tables
from planner.errors import InfeasibleError, VerificationError
from planner.evaluate import check_plan, evaluate
from planner.frontier import pareto_indices
from planner.schema import FrontierPoint, FrontierResult, Metrics, Plan, Slo
from planner.space import Space

__all__ = ["cpsat_frontier", "diagnose_infeasible"]

Progress = Callable[[int, int, str], None]


def _verify(space: Space, plan: Plan, vals: dict, n_groups: int) -> Metrics:
    why = check_plan(space, plan)
    if why:
        raise VerificationError(f"CP-SAT plan {plan} is outside the search space: {why}")
    m = evaluate(space, plan)
    ttft_units = m.ttft_s / TIME_RES_S
    if not (ttft_units - 1e-3 <= vals["TTFT"] <= ttft_units + n_groups + 1):
        raise VerificationError(f"CP-SAT TTFT {vals['TTFT']} units vs evaluator {ttft_units:.3f} for {plan}")
    if vals["Q"] > m.qps * Q_SCALE * (1 + 1e-9) + 1e-6:
        raise VerificationError(f"CP-SAT QPS {vals['Q'] / Q_SCALE} exceeds the evaluator's {m.qps} for {plan}")
    if vals["N"] != m.chips:
        raise VerificationError(f"CP-SAT chips {vals['N']} vs evaluator {m.chips} for {plan}")
    return m


def diagnose_infeasible(space: Space, slo: Slo) -> str:
    """Why no plan meets the SLO: the stage or limit that binds, with numbers (cheap, from the cost models)."""
    facts = []
    fastest = {}
    for s in space.pre_decode:
        if s == "retrieval":
            units = sorted({int(space.servers(n)) for n in (space.min_chips, space.max_chips)})
            fastest[s] = min(float(np.min(space.costs[s].latency_s(u, 1))) for u in units)
        else:
            fastest[s] = min(float(np.min(space.costs[s].latency_s(n, 1))) for n in space.stage_chip_options[s])
    if slo.ttft_max_s is not None:
        over = [f"{s} {t:.4g} s" for s, t in fastest.items() if t > slo.ttft_max_s]
        if over:
            facts.append(f"the fastest option of {', '.join(over)} already exceeds ttft_max_s {slo.ttft_max_s:g} s")
        elif sum(fastest.values()) > slo.ttft_max_s:
            facts.append(f"the pre-decode stages' fastest options sum to {sum(fastest.values()):.4g} s > ttft_max_s "
                         f"{slo.ttft_max_s:g} s ({', '.join(f'{s} {t:.3g} s' for s, t in fastest.items())})")
    if slo.tpot_max_s is not None:
        best = min(float(np.min(space.costs["decode"].latency_s(n, 1))) for n in space.stage_chip_options["decode"])
        best /= space.decode_tokens()
        if best > slo.tpot_max_s:
            facts.append(f"the fastest decode step is {best:.4g} s > tpot_max_s {slo.tpot_max_s:g} s")
    if slo.qps_min is not None and not facts:
        facts.append(f"qps_min {slo.qps_min:g} cannot be reached within {space.max_chips} chips under the other "
                     f"bounds")
    bounds = ", ".join(f"{k} = {v}" for k, v in slo.model_dump().items() if v is not None)
    detail = "; ".join(facts) or "the bounds bind jointly"
    return f"no plan meets {bounds}: {detail}. To fix: relax those bounds, or allow more chips per stage"


def cpsat_frontier(space: Space, *, slo: Slo | None = None, workers: int = 2, time_limit_s: float = 60.0,
                   seed: int = 0, progress: Progress | None = None, max_points: int = 10_000) -> FrontierResult:
    """The TTFT vs QPS/chip frontier by repeated CP-SAT solves (O1-O3 under a tightening TTFT bound)."""
    slo = slo if slo is not None else space.instance.slo
    t0 = time.perf_counter()
    groups = sorted({g for p in space.placements for g in p if "decode" not in g}, key=lambda g: (len(g), g))
    tables = build_tables(space, groups, slo.tpot_max_s)
    if len(tables.decode.rows) == 0:
        raise InfeasibleError(diagnose_infeasible(space, slo))
    qps_min = math.ceil(slo.qps_min * Q_SCALE) if slo.qps_min is not None else None
    solver = RagSolver(space, build_model(space, tables, qps_min=qps_min), workers=workers,
                       time_limit_s=time_limit_s, seed=seed)
    eps = math.floor(slo.ttft_max_s / TIME_RES_S) if slo.ttft_max_s is not None else None
    found: list[FrontierPoint] = []
    while len(found) < max_points:
        first = solver.max_ratio(eps)
        if first is None:
            break
        _, p, q, gap = first
        o2 = solver.min_ttft(p, q, eps)
        o3 = solver.min_tpot(p, q, o2.values["TTFT"])
        plan = solver.plan(o3.values)
        metrics = _verify(space, plan, o3.values, len(groups))
        optimal = gap == 0.0 and o2.optimal and o3.optimal
        found.append(FrontierPoint(metrics=metrics, plan=plan, proven_optimal=optimal, gap=gap))
        if progress:
            progress(len(found), 0, f"TTFT {metrics.ttft_s:.4g} s, QPS/chip {metrics.qps_per_chip:.4g}")
        eps = o2.values["TTFT"] - 1
    if not found:
        raise InfeasibleError(diagnose_infeasible(space, slo))
    keep = pareto_indices([p.metrics.ttft_s for p in found], [p.metrics.qps_per_chip for p in found],
                          [p.metrics.tpot_s for p in found], [p.metrics.chips for p in found])
    return FrontierResult(instance=space.instance.name, solver="cpsat", solve_seconds=time.perf_counter() - t0,
                          points=tuple(found[i] for i in keep), schedules_evaluated=None,
                          solves=solver.solves)
