"""Checks of every solver answer and the reasons of a run without one (shared by the pareto sweep, capacity and
purchase): a plan must lie in the space, meet the SLO and equal the solver's exact numbers in the evaluator, else
``VerificationError`` (a bug); a run that found nothing says why (time, empty space, or the SLO that binds)."""

from __future__ import annotations

from planner.cpsat import OutOfTime, SliceSweep, Step, sweep_for
from planner.errors import (
    EmptySpaceError,
    InfeasibleError,
    TimeLimitError,
    VerificationError,
)
from planner.evaluate import check_plan, evaluate, plan_weight, slo_violations
from planner.exact import ps_to_s
from planner.exhaustive import empty_space_message
from planner.schema import Metrics, Plan, Slo, distinct
from planner.space import Space, units_of

__all__ = ["diagnose_infeasible", "no_plan_error", "verify_solution"]


def verify_solution(space: Space, step: Step, slo: Slo, objective: str = "chips") -> Metrics:
    """The evaluator's metrics of a solver step, which must lie in the space, meet ``slo`` and equal the
    solver's exact numbers (TTFT, decode latency, chips, QPS/chip, weight under ``objective``)."""
    plan: Plan = step.plan
    why = check_plan(space, plan)
    if why:
        raise VerificationError(f"CP-SAT plan {plan} is outside the search space: {why}")
    m = evaluate(space, plan)
    c = step.cost
    w = plan_weight(space, plan, objective)
    if (m.ttft_ps, m.decode_ps, m.chips, m.ratio, w) != (c.ttft, c.l, c.n, c.ratio, c.w):
        raise VerificationError(f"CP-SAT and evaluator disagree on {plan}: TTFT {c.ttft} vs {m.ttft_ps} ps, decode "
                                f"{c.l} vs {m.decode_ps} ps, chips {c.n} vs {m.chips}, QPS/chip {c.ratio} vs "
                                f"{m.ratio}, {objective} weight {c.w} vs {w}")
    bad = slo_violations(m, slo)
    if bad:
        raise VerificationError(f"CP-SAT plan {plan} misses the SLO by the evaluator: {'; '.join(bad)}")
    return m


def diagnose_infeasible(space: Space, slo: Slo, free: SliceSweep) -> str:
    """Why no plan meets the SLO: the stage or limit that binds, with numbers (from the cost tables of ``free``, the
    sweep of the same space without an SLO)."""
    st = free.tables
    facts = []
    fastest = {s: ps_to_s(int(st.steps(s)[:, 0].min())) for s in space.pre_decode}  # smallest batch, best option
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
    if slo.qps_min is not None and not facts and space.decides_servers:
        ret = max(float(b) / float(st.lat["retrieval"][:, i].min()) for i, b in enumerate(st.batches)) * 1e12
        if ret < slo.qps_min:
            top_r = max(int(units_of(o)) for o in space.retrieval_options)
            facts.append(f"retrieval on at most {top_r} servers serves at most {ret:.4g} QPS (search."
                         f"max_retrieval_servers)")
            fix = "lower qps_min or raise search.max_retrieval_servers"
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
    free = sweep if slo == Slo() else sweep_for(space, Slo(), sweep.settings, sweep.clock)
    try:
        if free is sweep or free.point(None) is None:
            return EmptySpaceError(empty_space_message(space))
    except OutOfTime:
        return out_of_time
    return InfeasibleError(diagnose_infeasible(space, slo, free))
