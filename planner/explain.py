"""Why a capacity plan is what it is (``docs/model.md``, "Explanations"): the bottleneck, each stage's share of
the resource-time, which limits bind (SLO bounds, memory, budgets, the QPS floor), and the marginal value of
loosening each one: the instance is re-solved with that limit loosened (one more unit of a resource, or a bound
10% looser) and the change of the objective reported, each re-solve proven like the answer itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.capacity import capacity
from planner.errors import InfeasibleError
from planner.evaluate import plan_weight, unit_codes
from planner.schema import CapacityResult, Slo
from planner.space import Space, build_space, units_of

__all__ = ["Explanation", "Marginal", "explain"]

LOOSER = 1.1  # a looser SLO bound: 10% more room


@dataclass(frozen=True)
class Marginal:
    """The objective after loosening one limit (None: still no plan), and whether that answer is proven."""

    change: str
    objective_after: float | None
    delta: float | None
    proven: bool


@dataclass(frozen=True)
class Explanation:
    objective: str
    objective_value: float
    bottleneck: tuple[str, ...]
    time_share: dict[str, float]
    binds: tuple[str, ...]  # limits at (or within 1% of) their bound
    slack: tuple[str, ...]  # limits with room
    marginals: tuple[Marginal, ...] = field(default_factory=tuple)

    def to_json(self) -> dict:
        return {"objective": self.objective, "objective_value": self.objective_value,
                "bottleneck": list(self.bottleneck), "time_share": self.time_share, "binds": list(self.binds),
                "slack": list(self.slack), "marginals": [m.__dict__ for m in self.marginals]}


def _value(space: Space, res: CapacityResult) -> float:
    return plan_weight(space, res.point.plan, res.objective) / space.scale(res.objective)


@dataclass(frozen=True)
class _Limit:
    line: str  # the limit with the plan's value
    tight: bool  # at (or within 1% of) its bound
    search: dict | None = None  # the loosening: a search update ...
    slo: dict | None = None  # ... or an SLO update (None, None: no re-solve)
    label: str = ""


def _limits(space: Space, res: CapacityResult, slo: Slo) -> list[_Limit]:
    m, plan, sp = res.point.metrics, res.point.plan, space.instance.search
    out: list[_Limit] = []

    def bound(name: str, value: float, limit: float, upper: bool, key: str) -> None:
        room = (limit - value) / limit if upper else (value - limit) / limit
        out.append(_Limit(f"{name} {value:.6g} vs {'<=' if upper else '>='} {limit:.6g} ({room:+.1%} room)",
                          room <= 0.01, None, {key: limit * LOOSER if upper else limit / LOOSER},
                          f"{name} bound {'+' if upper else '-'}10%"))

    bound("QPS", m.qps, slo.qps_min, False, "qps_min")
    if slo.ttft_max_s is not None:
        bound("TTFT", m.ttft_s, slo.ttft_max_s, True, "ttft_max_s")
    if slo.tpot_max_s is not None:
        bound("TPOT", m.tpot_s, slo.tpot_max_s, True, "tpot_max_s")
    codes = unit_codes(space, plan)
    d = plan.batch_per_stage["decode"]
    held = space.cost("decode", codes["decode"]).max_batch(int(units_of(codes["decode"])))
    cap = sp.max_decode_batch_size
    if cap is not None and cap < held:
        out.append(_Limit(f"decode batch {d} vs search.max_decode_batch_size {cap}", d >= cap,
                          {"max_decode_batch_size": 2 * cap}, None, "max_decode_batch_size x2"))
    else:
        out.append(_Limit(f"decode batch {d} vs the {held} requests {space.label(codes['decode'])} chips hold "
                          f"(memory)", d >= held))
    most = max(plan.chips_per_stage.values())
    pow2 = sp.chips == "pow2"
    out.append(_Limit(f"largest group {most} chips vs search.max_chips_per_stage {sp.max_chips_per_stage}",
                      most >= sp.max_chips_per_stage,
                      {"max_chips_per_stage": 2 * sp.max_chips_per_stage if pow2 else sp.max_chips_per_stage + 1},
                      None, "max_chips_per_stage " + ("x2" if pow2 else "+1")))
    out.append(_Limit(f"{m.chips} chips vs the total budget N_max = {space.max_chips}", m.chips >= space.max_chips,
                      {"total_chips": sp.total_chips.model_copy(update={"max": space.max_chips + 1})}, None,
                      "total_chips.max +1"))
    for t, cap_t in zip(space.types, space.type_budget):
        if t in sp.max_chips_per_type:
            used = m.chips_per_type.get(t, 0)
            out.append(_Limit(f"{used} {t} chips vs its budget {cap_t} (search.max_chips_per_type)", used >= cap_t,
                              {"max_chips_per_type": sp.max_chips_per_type | {t: cap_t + 1}}, None,
                              f"one more {t}"))
    if space.decides_servers:
        top_r = max(int(units_of(o)) for o in space.retrieval_options)
        out.append(_Limit(f"{plan.retrieval_servers} retrieval servers vs search.max_retrieval_servers {top_r}",
                          plan.retrieval_servers >= top_r, {"max_retrieval_servers": top_r + 1}, None,
                          "one more retrieval server"))
    return out


def explain(space: Space, res: CapacityResult, slo: Slo | None = None, time_limit_s: float | None = None,
            marginals: bool = True) -> Explanation:
    """The explanation of a capacity answer ``res`` on ``space`` under ``slo`` (default: the instance's). A limit
    binds when loosening it lowers the objective (re-solved; ``marginals`` false: when it is within 1% of its
    bound); SLO bounds are always re-solved, resource limits only when the plan sits at them."""
    slo = slo if slo is not None else space.instance.slo.model_copy(update={"qps_min": res.qps_min})
    before = _value(space, res)
    binds, slack, out = [], [], []
    for lim in _limits(space, res, slo):
        solve = marginals and (lim.slo is not None or (lim.search is not None and lim.tight))
        if not solve:
            (binds if lim.tight else slack).append(lim.line)
            continue
        other = build_space(space.instance.model_copy(update={"search": space.instance.search.model_copy(
            update=lim.search)})) if lim.search else space
        try:
            r = capacity(other, slo=slo.model_copy(update=lim.slo or {}), objective=res.objective,
                         time_limit_s=time_limit_s)
            after = _value(other, r)
            out.append(Marginal(lim.label, after, after - before, r.point.proven_optimal))
        except InfeasibleError:
            out.append(Marginal(lim.label, None, None, True))
        lowers = out[-1].delta is not None and out[-1].delta < 0
        (binds if lowers else slack).append(lim.line)
    m = res.point.metrics
    return Explanation(res.objective, before, m.bottleneck, dict(m.time_share), tuple(binds), tuple(slack),
                       tuple(out))
