"""Capacity planning: the least-weight deployment meeting an SLO with a QPS floor (objective O4, ``docs/model.md``).

The weight is the objective: ``chips`` (the fewest accelerator chips), ``cost`` (rent, USD per hour), ``capex``
(purchase, USD) or ``power`` (W), over every offered accelerator type per group and, when retrieval servers are a
decision (S9), their count and type. The slice scan is ``planner.cpsat.least_weight``; the plan is re-checked by
the evaluator (``verify_solution``: in the space, the solver's exact numbers and weight, every SLO bound). A time
limit returns the best plan found, unproven, with the relative weight it might still save as its gap.
"""

from __future__ import annotations

from planner.cpsat import Clock, SolverSettings, least_weight, sweep_for
from planner.errors import InstanceError
from planner.schema import OBJECTIVES, CapacityResult, FrontierPoint, Slo
from planner.space import Space
from planner.verify import no_plan_error, verify_solution

__all__ = ["capacity", "min_chips"]


def capacity(space: Space, *, slo: Slo | None = None, objective: str = "chips", workers: int = 1,
             time_limit_s: float | None = None, seed: int = 0, progress=None) -> CapacityResult:
    """The least-weight plan meeting ``slo`` (qps_min required; TTFT and TPOT bounds optional); ties: the least
    TTFT, then the least TPOT. Proven optimal when every deciding solve ended OPTIMAL."""
    slo = slo if slo is not None else space.instance.slo
    if slo.qps_min is None:
        raise InstanceError(f"{space.instance.name}: capacity planning needs a QPS target, and slo.qps_min is not "
                            f"set. To fix: pass --qps (requests/s) or set slo.qps_min in the instance")
    if objective not in OBJECTIVES:
        raise InstanceError(f"objective {objective!r} is not one of {list(OBJECTIVES)}. To fix: pick one of those")
    clock = Clock(time_limit_s)
    sweep = sweep_for(space, slo, SolverSettings(workers, seed), clock, progress, objective)
    step = least_weight(sweep, slo.qps_min)
    if step is None or step.plan is None:
        raise no_plan_error(space, slo, sweep, step is not None and step.stopped)
    m = verify_solution(space, step, slo, objective)
    return CapacityResult(instance=space.instance.name, solver="cpsat", solve_seconds=clock.elapsed(),
                          qps_min=slo.qps_min, objective=objective, solves=sweep.solves,
                          retrieval_servers=space.instance.search.retrieval_servers,
                          point=FrontierPoint(metrics=m, plan=step.plan, proven_optimal=step.proven, gap=step.gap))


def min_chips(space: Space, **kwargs) -> CapacityResult:
    """The fewest accelerator chips meeting the SLO: ``capacity`` with objective ``chips``."""
    return capacity(space, objective="chips", **kwargs)
