"""Hardware purchase: the most QPS under the SLO that a budget buys (``docs/model.md``, "Purchase", O5).

For a fleet (the offered accelerator types, or one of them alone) the budget caps the plan's weight: purchase
(``capex``, USD) or, with ``per_hour``, rent (``cost``, USD/h). O5 searches the QPS target q over the answers of
O4 (``planner.capacity``): W*(q), the least weight of a plan with QPS >= q, never decreases in q, so the most QPS
within budget is the largest q with W*(q) <= budget. The search keeps lo (a plan within budget, QPS lo) and hi (a
target whose W* exceeds the budget, or no plan reaches): it doubles lo until a target fails, then bisects, jumping
lo to each plan's own QPS, and once hi - lo <= 1e-9 lo it asks for nextafter(lo): a failure there proves that no
plan within budget beats lo (QPS compared as reported floats, Q3). Every answer is re-checked by the evaluator;
the result is proven when every O4 answer it rests on is.
"""

from __future__ import annotations

import math
from fractions import Fraction

from pydantic import BaseModel, ConfigDict

from planner.capacity import capacity
from planner.costs import accelerator_types, offer_types
from planner.cpsat import Clock
from planner.errors import InfeasibleError, InstanceError, TimeLimitError
from planner.evaluate import plan_weight
from planner.schema import CapacityResult, FrontierPoint, Instance, Slo
from planner.space import Space, build_space

__all__ = ["Fleet", "PurchaseResult", "most_qps", "purchase"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fleet(_Frozen):
    """The best plan of one fleet (a set of offered accelerator types) within the budget."""

    types: tuple[str, ...]
    point: FrontierPoint | None
    proven_optimal: bool
    why: str = ""  # why there is no plan (the cheapest plan's price, or the SLO nothing meets)
    solves: int = 0
    searches: int = 0  # O4 answers the search asked for


class PurchaseResult(_Frozen):
    instance: str
    budget_usd: float
    per_hour: bool
    objective: str  # capex, or cost with per_hour
    solve_seconds: float
    fleets: tuple[Fleet, ...]  # each type alone, then every offered type together (if several)

    def best(self, mixed: bool) -> Fleet | None:
        """The best single-type fleet (most QPS, then least weight), or the fleet of every offered type."""
        if mixed:
            return self.fleets[-1] if len(self.fleets) > 1 else None
        singles = [f for f in self.fleets if len(f.types) == 1 and f.point is not None]
        return max(singles, key=lambda f: (f.point.metrics.qps, -(f.point.metrics.capex_usd or 0)), default=None)


def most_qps(space: Space, slo: Slo, budget: float, objective: str, clock: Clock, progress=None) -> Fleet:
    """O5 on one space: the plan with the most QPS whose weight under ``objective`` is within ``budget`` (USD, or
    USD/h), meeting ``slo``'s TTFT and TPOT bounds (its QPS floor is the search's)."""
    cap = Fraction(budget) * space.scale(objective)
    solves, searches, proven = 0, 0, True

    def least(q: float) -> CapacityResult | None:
        nonlocal solves, searches, proven
        searches += 1
        if clock.remaining() <= 0:
            raise TimeLimitError("the time limit ended the purchase search. To fix: raise --time-limit-s")
        try:
            res = capacity(space, slo=slo.model_copy(update={"qps_min": q}), objective=objective,
                           time_limit_s=None if clock.deadline is None else clock.remaining())
        except InfeasibleError:
            return None
        solves += res.solves or 0
        proven &= res.point.proven_optimal
        return res

    types = space.types
    # The cheapest plan meeting the SLO at all: every plan whose batch cycle is under 2^60 ps (13 days) qualifies.
    first = least(max(space.batch_options) * 1e12 / 2**60)
    if first is None:
        return Fleet(types=types, point=None, proven_optimal=True, why="no plan meets the SLO", searches=searches)
    w = plan_weight(space, first.point.plan, objective)
    if w > cap:
        return Fleet(types=types, point=None, proven_optimal=proven, solves=solves, searches=searches,
                     why=f"the cheapest plan meeting the SLO costs {w / space.scale(objective):,.6g} > the budget "
                         f"{budget:,.6g}")
    best, lo, hi = first, first.point.metrics.qps, None
    while True:
        if hi is None:
            q = 2 * lo
        elif hi - lo <= 1e-9 * lo:
            q = math.nextafter(lo, math.inf)
        else:
            q = (lo + hi) / 2
        if hi is not None and q >= hi:
            break  # nothing within budget reaches hi, and hi <= nextafter(lo): lo is the most
        if progress:
            progress(f"{'+'.join(types)}: {lo:.6g} QPS within budget; trying {q:.6g}")
        res = least(q)
        if res is not None and plan_weight(space, res.point.plan, objective) <= cap:
            best, lo = res, res.point.metrics.qps
        else:
            hi = q
    return Fleet(types=types, point=best.point, proven_optimal=proven, solves=solves, searches=searches)


def purchase(inst: Instance, budget_usd: float, *, per_hour: bool = False, time_limit_s: float | None = None,
             progress=None) -> PurchaseResult:
    """The most QPS ``budget_usd`` buys (rent per hour with ``per_hour``) under the instance's TTFT and TPOT
    bounds: for each offered accelerator type alone, and for all of them together (a superset, never worse)."""
    if not budget_usd > 0:
        raise InstanceError(f"budget {budget_usd!r} USD is not positive. To fix: give a budget > 0")
    objective = "cost" if per_hour else "capex"
    clock = Clock(time_limit_s)
    types = accelerator_types(inst)
    offers = [(t,) for t in types] + ([types] if len(types) > 1 else [])
    fleets = []
    for names in offers:
        space = build_space(offer_types(inst, names) if len(types) > 1 else inst)
        fleets.append(most_qps(space, inst.slo, budget_usd, objective, clock, progress))
    return PurchaseResult(instance=inst.name, budget_usd=budget_usd, per_hour=per_hour, objective=objective,
                          solve_seconds=clock.elapsed(), fleets=tuple(fleets))
