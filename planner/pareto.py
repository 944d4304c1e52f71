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

from planner.cpsat import Clock, OutOfTime, SliceSweep, SolverSettings, Step
from planner.errors import EmptySpaceError, InfeasibleError, TimeLimitError, VerificationError
from planner.evaluate import check_plan, evaluate, slo_violations
from planner.exact import ps_to_s
from planner.exhaustive import empty_space_message
from planner.schema import FrontierPoint, FrontierResult, Metrics, Plan, Slo, distinct
from planner.space import Space

__all__ = ["cpsat_frontier", "diagnose_infeasible", "verify_solution"]


def verify_solution(space: Space, step: Step, slo: Slo) -> Metrics:
    """The evaluator's metrics of a solver step, which must lie in the space, meet ``slo`` and equal the
    solver's exact numbers (TTFT, decode latency, chips, QPS/chip)."""
    plan: Plan = step.plan
    why = check_plan(space, plan)
    if why:
        raise VerificationError(f"CP-SAT plan {plan} is outside the search space: {why}")
    m = evaluate(space, plan)
    c = step.cost
    if (m.ttft_ps, m.decode_ps, m.chips, m.ratio) != (c.ttft, c.l, c.n, c.ratio):
        raise VerificationError(f"CP-SAT and evaluator disagree on {plan}: TTFT {c.ttft} vs {m.ttft_ps} ps, decode "
                                f"{c.l} vs {m.decode_ps} ps, chips {c.n} vs {m.chips}, QPS/chip {c.ratio} vs {m.ratio}")
    bad = slo_violations(m, slo)
    if bad:
        raise VerificationError(f"CP-SAT plan {plan} misses the SLO by the evaluator: {'; '.join(bad)}")
    return m


def diagnose_infeasible(space: Space, slo: Slo, free: SliceSweep) -> str:
    """Why no plan meets the SLO: the stage or limit that binds, with numbers (from the cost tables of ``free``, the
    sweep of the same space without an SLO)."""
    st = free.tables
    facts = []
    fastest = {s: ps_to_s(int(st.lat[s][:, 0].min())) for s in space.pre_decode}  # smallest batch, best option
    if slo.ttft_max_s is not None:
        over = [f"{s} {t:.4g} s" for s, t in fastest.items() if t > slo.ttft_max_s]
        total = sum(fastest.values())
        if over:
            facts.append(f"the fastest option of {', '.join(over)} already exceeds ttft_max_s {slo.ttft_max_s:g} s")
        elif total > slo.ttft_max_s:
            a, b = distinct(total, slo.ttft_max_s)
            facts.append(f"the pre-decode stages' fastest options sum to {a} s > ttft_max_s {b} s "
                         f"({', '.join(f'{s} {t:.3g} s' for s, t in fastest.items())})")
    if slo.tpot_max_s is not None:
        step = min(ps_to_s(int(L.min())) for L in st.decode.L if len(L)) / space.decode_tokens()
        if step > slo.tpot_max_s:
            a, b = distinct(step, slo.tpot_max_s)
            facts.append(f"the fastest decode step is {a} s > tpot_max_s {b} s")
    fix = "relax those bounds"
    if slo.qps_min is not None and not facts:
        top = float(max(free.qps_ub)) * 1e12
        binds = "search.total_chips.max" if space.max_chips == space.instance.search.total_chips.max else \
            "search.max_chips_per_stage"
        facts.append(f"qps_min {slo.qps_min:g} cannot be reached within {space.max_chips} chips under the other "
                     f"bounds" + (f" (no plan of the space exceeds {top:.4g} QPS, bound U1; {binds} limits the "
                                  f"chips)" if top < slo.qps_min else ""))
        fix = f"lower qps_min or raise {binds}"
    bounds = ", ".join(f"{k} = {v}" for k, v in slo.model_dump().items() if v is not None)
    return f"no plan meets {bounds}: {'; '.join(facts) or 'the bounds bind jointly'}. To fix: {fix}"


def no_plan_error(space: Space, slo: Slo, sweep: SliceSweep, stopped: bool) -> Exception:
    """The error of a run that found no plan: out of time, an empty space, or an SLO nothing meets."""
    out_of_time = TimeLimitError(f"no plan found within the time limit ({sweep.clock.elapsed():.3g} s, "
                                 f"{sweep.solves} CP-SAT solves). To fix: raise --time-limit-s")
    if stopped:
        return out_of_time
    free = sweep if slo == Slo() else SliceSweep(space, Slo(), sweep.settings, sweep.clock)
    try:
        if free is sweep or free.point(None) is None:
            return EmptySpaceError(empty_space_message(space))
    except OutOfTime:
        return out_of_time
    return InfeasibleError(diagnose_infeasible(space, slo, free))


def cpsat_frontier(space: Space, *, slo: Slo | None = None, workers: int = 1, time_limit_s: float | None = None,
                   seed: int = 0, progress=None, max_points: int = 100_000) -> FrontierResult:
    """The frontier F1-F3 by the slice sweep; ``time_limit_s`` bounds the whole run (None: no limit)."""
    slo = slo if slo is not None else space.instance.slo
    clock = Clock(time_limit_s)
    sweep = SliceSweep(space, slo, SolverSettings(workers, seed), clock, progress)
    e = sweep.tables.ttft_cap
    found: list[FrontierPoint] = []
    stopped = False
    while len(found) < max_points:
        step = sweep.point(e, label=f"point {len(found) + 1}: ")
        if step is None:
            break
        stopped = step.stopped
        if step.plan is not None:
            m = verify_solution(space, step, slo)
            found.append(FrontierPoint(metrics=m, plan=step.plan, proven_optimal=step.proven, gap=step.gap))
            if progress:
                progress(f"point {len(found)}: TTFT {m.ttft_s:.6g} s, QPS/chip {m.qps_per_chip:.6g}"
                         + ("" if step.proven else f" (not proven, gap {step.gap:.2%})"))
        if stopped:
            break
        e = step.cost.ttft - 1
    if not found:
        raise no_plan_error(space, slo, sweep, stopped)
    return FrontierResult(instance=space.instance.name, solver="cpsat", solve_seconds=clock.elapsed(),
                          points=tuple(sorted(found, key=lambda p: p.metrics.ttft_ps)), solves=sweep.solves,
                          complete=not stopped)
