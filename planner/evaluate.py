"""The independent evaluator: metrics of any plan, from the cost models alone (never imports ortools).

Formulas (``docs/model.md``, section "Evaluator", E1-E7), for a plan without micro-batching:

- E1 stage latency L_s = cost_s(n_g(s), b_s): n_g(s) chips of the stage's group; retrieval uses the plan's
  servers; every pre-decode stage runs the same request batch B.
- E2 stage throughput q_s = b_s / L_s; decode: L_dec = decode_tokens x t_step(D), q_dec = D / L_dec.
- E3 group throughput (time-multiplexed stages): q_g = 1 / sum_{s in g} 1 / q_s.
- E4 QPS = min_g q_g; the bottleneck is the last group attaining it; QPS/chip = QPS / chips.
- E5 chips = sum over groups holding an accelerator stage of the group's count.
- E6 TTFT = sum over pre-decode stages of L_s (B); TPOT = t_step(D) = L_dec / decode_tokens.
- E7 end-to-end latency = TTFT + L_dec.
- E8 time share (the RAGO paper's breakdown: time x resources): stage s spends u_s = m_s / q_s resource-seconds
  per request, m_s = its group's chips (retrieval: servers x chips_per_server, the hosts it occupies);
  share_s = u_s / sum_s' u_s'.

``check_plan`` says whether a plan lies in an instance's search space (S1-S6) and why not.
"""

from __future__ import annotations

import numpy as np

from planner.errors import InstanceError
from planner.schema import ACCELERATOR_STAGES, Metrics, Plan
from planner.space import Space

__all__ = ["check_plan", "evaluate", "stage_latencies"]


def _structure(space: Space, plan: Plan) -> None:
    flat = tuple(s for g in plan.placement for s in g)
    if flat != space.stages:
        raise InstanceError(f"plan placement {list(map(list, plan.placement))} does not cover the stages "
                            f"{list(space.stages)} in order. To fix: list every stage once, in pipeline order")
    for g in plan.placement:
        counts = {plan.chips_per_stage.get(s) for s in g if s in ACCELERATOR_STAGES}
        if None in counts:
            missing = [s for s in g if s in ACCELERATOR_STAGES and s not in plan.chips_per_stage]
            raise InstanceError(f"plan gives no chip count for {missing}. To fix: add them to chips_per_stage")
        if len(counts) > 1:
            raise InstanceError(f"collocated group {list(g)} has different chip counts {sorted(counts)}. To fix: "
                                f"give every stage of a group the same count")
    missing_b = [s for s in space.stages if s not in plan.batch_per_stage]
    if missing_b:
        raise InstanceError(f"plan gives no batch size for {missing_b}. To fix: add them to batch_per_stage")
    pre = {plan.batch_per_stage[s] for s in space.pre_decode}
    if len(pre) > 1:
        raise InstanceError(f"pre-decode batches differ ({sorted(pre)}); that needs micro-batching, which this "
                            f"version does not evaluate. To fix: use one batch for every pre-decode stage")
    if space.has_retrieval and plan.retrieval_servers < 1:
        raise InstanceError(f"plan has {plan.retrieval_servers} retrieval servers. To fix: give at least 1")


def stage_latencies(space: Space, plan: Plan) -> dict[str, float]:
    """E1: latency in seconds of one batch of every stage under ``plan``."""
    out = {}
    for s in space.stages:
        units = plan.retrieval_servers if s == "retrieval" else plan.chips_per_stage[s]
        out[s] = float(space.costs[s].latency_s(units, plan.batch_per_stage[s]))
    return out


def evaluate(space: Space, plan: Plan) -> Metrics:
    """E1-E7: metrics of ``plan`` (raises ``InstanceError`` if the plan is malformed)."""
    _structure(space, plan)
    lat = stage_latencies(space, plan)
    stage_qps = {s: plan.batch_per_stage[s] / lat[s] for s in space.stages}
    group_qps = tuple(float(1.0 / np.sum([1.0 / stage_qps[s] for s in g])) for g in plan.placement)
    qps = min(group_qps)
    bottleneck = next(g for g, q in reversed(list(zip(plan.placement, group_qps))) if q == qps)
    chips = sum(plan.chips_per_stage[next(s for s in g if s in ACCELERATOR_STAGES)]
                for g in plan.placement if any(s in ACCELERATOR_STAGES for s in g))
    ttft = float(np.sum([lat[s] for s in space.pre_decode]))
    use = {s: (plan.retrieval_servers * space.chips_per_server if s == "retrieval" else plan.chips_per_stage[s])
           / stage_qps[s] for s in space.stages}
    total_use = sum(use.values())
    return Metrics(
        ttft_s=ttft,
        tpot_s=lat["decode"] / space.decode_tokens(),
        e2e_latency_s=ttft + lat["decode"],
        qps=qps,
        qps_per_chip=qps / chips,
        chips=chips,
        retrieval_servers=plan.retrieval_servers,
        stage_qps=stage_qps,
        group_qps=group_qps,
        bottleneck=bottleneck,
        time_share={s: u / total_use for s, u in use.items()},
    )


def check_plan(space: Space, plan: Plan) -> list[str]:
    """Reasons why ``plan`` is outside the search space (empty list: it is inside)."""
    _structure(space, plan)
    why = []
    if plan.placement not in space.placements:
        why.append(f"placement {list(map(list, plan.placement))} is not allowed by policy "
                   f"{space.instance.search.placement!r}")
    chips = 0
    for g in plan.placement:
        opts = space.group_chip_options(g)
        if opts:
            n = plan.chips_per_stage[next(s for s in g if s in ACCELERATOR_STAGES)]
            chips += n
            if n not in opts:
                why.append(f"group {list(g)} uses {n} chips, not among its options {list(opts)}")
    if not space.min_chips <= chips <= space.max_chips:
        why.append(f"total {chips} chips outside [{space.min_chips}, {space.max_chips}]")
    if space.has_retrieval and plan.retrieval_servers != space.servers(chips):
        why.append(f"{plan.retrieval_servers} retrieval servers, the space gives {space.servers(chips)} for {chips} chips")
    b = plan.batch_per_stage[space.stages[0]]
    d = plan.batch_per_stage["decode"]
    if b not in space.batch_options:
        why.append(f"request batch {b} not among {list(space.batch_options)}")
    if d not in space.decode_batch_options(plan.chips_per_stage["decode"]) or d < b:
        why.append(f"decode batch {d} not among the decode options at {plan.chips_per_stage['decode']} chips or "
                   f"below the request batch {b}")
    return why
