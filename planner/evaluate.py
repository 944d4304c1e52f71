"""The independent evaluator: metrics of any plan, from the cost models alone (never imports ortools).

Formulas (``docs/model.md``, section "Evaluator", E1-E8), for a plan without micro-batching, on the exact time
base of ``planner.exact`` (every latency a whole number of picoseconds, Q1; every comparison exact):

- E1 stage latency L_s = cost_s(n_g(s), b_s) in ps: n_g(s) chips of the stage's group; retrieval uses the plan's
  servers; every pre-decode stage runs the same request batch B.
- E2 stage throughput q_s = b_s / L_s; decode: L_dec = decode_tokens x t_step(D), q_dec = D / L_dec.
- E3 group throughput (time-multiplexed stages): q_g = 1 / sum_{s in g} 1 / q_s.
- E4 QPS = min_g q_g; the bottleneck is the last group attaining it; QPS/chip = QPS / chips.
- E5 chips = sum over groups holding an accelerator stage of the group's count (and per accelerator type).
- E6 TTFT = sum over pre-decode stages of L_s (B); TPOT = t_step(D) = L_dec / decode_tokens. With retrieval
  pipelined with prefill (AP2-AP3, ``planner.overlap``) retrieval's and prefill's terms are their pair's, plus the
  re-prefill penalty, which also adds to prefill's time per cycle.
- E7 end-to-end latency = TTFT + L_dec.
- E8 time share (the RAGO paper's breakdown: time x resources): stage s spends u_s = m_s / q_s resource-seconds
  per request, m_s = its group's chips (retrieval: servers x chips_per_server, the hosts it occupies);
  share_s = u_s / sum_s' u_s'.
- MB (micro-batching, ``planner.burst``): with ``plan.burst_requests`` = R, stage s runs batches b_s (dividing R);
  a pre-decode group serves R requests every C_g = sum_{s in g} (R / b_s) L_s (MB4), and TTFT is the mean time
  the burst's requests leave the last pre-decode stage, its groups each on one timeline (MB2, MB3).
- E9 (M2) rent, purchase and power: sum over groups of n_g x the price of the group's type, plus, when retrieval
  servers are a decision (S9), r x the server type's price (hosts, S4, are priced with the chips); from the same
  integer weights as the solvers (``Space.weight``); None where a resource has no such price.

``check_plan`` says whether a plan lies in an instance's search space (S1-S6) and why not.
"""

from __future__ import annotations

import math

from planner.burst import finish_times, mean_ceil
from planner.errors import InstanceError
from planner.exact import ps_to_s, rate, tpot_s
from planner.schema import ACCELERATOR_STAGES, Metrics, Plan, Slo, clip
from planner.overlap import pipelined
from planner.space import STRIDE, Space, kind_of, units_of

__all__ = ["check_plan", "evaluate", "plan_weight", "slo_violations", "stage_latencies", "unit_codes"]


def _type_index(names: tuple[str, ...], given: str | None, what: str) -> int:
    if given is None or given == "":
        if len(names) == 1:
            return 0
        raise InstanceError(f"plan gives no type for {what}, and several are offered ({list(names)}). To fix: name "
                            f"one in the plan")
    if given not in names:
        raise InstanceError(f"plan runs {what} on {given!r}, not offered ({list(names)}). To fix: use an offered type")
    return names.index(given)


def unit_codes(space: Space, plan: Plan) -> dict[str, int]:
    """The option code (S1, S9) of every accelerator stage and of retrieval under ``plan``."""
    codes = {s: _type_index(space.types, plan.accelerator_per_stage.get(s), f"stage {s}") * STRIDE
             + plan.chips_per_stage[s] for s in space.stages if s in ACCELERATOR_STAGES}
    if space.has_retrieval:
        codes["retrieval"] = (_type_index(space.server_types, plan.retrieval_server, "retrieval") * STRIDE
                              + plan.retrieval_servers)
    return codes


def _group_codes(space: Space, plan: Plan, codes: dict[str, int]) -> list[int]:
    """The option of every group holding an accelerator stage."""
    return [codes[next(s for s in g if s in ACCELERATOR_STAGES)] for g in plan.placement
            if any(s in ACCELERATOR_STAGES for s in g)]


def _resources(space: Space, plan: Plan) -> list[tuple[str, int, bool]]:
    """(type name, option code, is a retrieval server) of every weighed part of the plan: each accelerator group,
    and retrieval's option (its weight is 0 on the accelerators' hosts, S4)."""
    codes = unit_codes(space, plan)
    parts = [(space.types[int(kind_of(c))], c, False) for c in _group_codes(space, plan, codes)]
    if space.has_retrieval:
        parts.append((space.server_types[int(kind_of(codes["retrieval"]))], codes["retrieval"], True))
    return parts


def plan_weight(space: Space, plan: Plan, objective: str) -> int:
    """O4/E9: the plan's integer weight under ``objective`` (``Space.weight``: chips, micro-USD/h, cents, mW)."""
    return sum(space.weight(objective, c, server) for _, c, server in _resources(space, plan))


def _rent_by_resource(space: Space, plan: Plan) -> dict[str, float]:
    """E9: rent (USD/h) per resource type of the plan (unpriced types and hosts left out)."""
    out: dict[str, float] = {}
    for name, c, server in _resources(space, plan):
        if server and not space.decides_servers:
            continue  # the accelerators' hosts: priced with them
        try:
            out[name] = out.get(name, 0.0) + space.weight("cost", c, server) / space.scale("cost")
        except InstanceError:
            continue  # not priced: the total is unknown too (cost_usd_per_hour None)
    return out


def _priced(space: Space, plan: Plan, objective: str) -> float | None:
    try:
        return plan_weight(space, plan, objective) / space.scale(objective)
    except InstanceError:
        return None  # a resource without this price: the metric is unknown, not zero


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
        kinds = {plan.accelerator_per_stage.get(s) for s in g if s in ACCELERATOR_STAGES}
        if len(kinds) > 1:
            raise InstanceError(f"collocated group {list(g)} runs on different accelerator types {sorted(map(str, kinds))}"
                                f". To fix: give every stage of a group the same type")
    missing_b = [s for s in space.stages if s not in plan.batch_per_stage]
    if missing_b:
        raise InstanceError(f"plan gives no batch size for {missing_b}. To fix: add them to batch_per_stage")
    pre = {plan.batch_per_stage[s] for s in space.pre_decode}
    burst = plan.burst_requests
    if burst is None and len(pre) > 1:
        raise InstanceError(f"pre-decode batches differ ({sorted(pre)}) without a burst; that needs micro-batching "
                            f"(MB1). To fix: give the plan burst_requests, or one batch for every pre-decode stage")
    if burst is not None and any(burst % b for b in pre):
        raise InstanceError(f"pre-decode batches {sorted(pre)} do not all divide the burst of {burst} requests "
                            f"(MB1). To fix: use batches that divide burst_requests (powers of two up to it)")
    if space.iterations and plan.iterative_batch is None:
        raise InstanceError(f"the pipeline retrieves {space.iterations + 1} times per sequence, and the plan gives no "
                            f"iterative_batch (IR2). To fix: add iterative_batch to the plan")
    if plan.iterative_batch is not None and plan.iterative_batch > plan.batch_per_stage["decode"]:
        raise InstanceError(f"iterative batch {plan.iterative_batch} > decode batch {plan.batch_per_stage['decode']}: "
                            f"it would never fill (IR4). To fix: use an iterative batch <= the decode batch")
    if space.has_retrieval and plan.retrieval_servers < 1:
        raise InstanceError(f"plan has {plan.retrieval_servers} retrieval servers. To fix: give at least 1")


def stage_latencies(space: Space, plan: Plan) -> dict[str, int]:
    """E1: latency of one batch of every stage under ``plan``, in whole picoseconds (Q1)."""
    codes = unit_codes(space, plan)
    return {s: space.latency_at(s, codes[s], plan.batch_per_stage[s]) for s in space.stages}


def evaluate(space: Space, plan: Plan) -> Metrics:
    """E1-E8: metrics of ``plan``, exact (raises ``InstanceError`` if the plan is malformed).

    Each group g serves b_g requests every c_g picoseconds (pre-decode: b_g = B, c_g = the sum of its stages'
    latencies; decode: D every L_dec); QPS = min_g b_g / c_g, compared by cross-multiplication."""
    _structure(space, plan)
    lat = stage_latencies(space, plan)
    b = plan.batch_per_stage
    pre = [g for g in plan.placement if "decode" not in g]
    ov = pipelined(space)
    if ov is not None:  # AP2-AP3: retrieval pipelined with prefill; a wrong early result re-runs part of it
        pen = ov.penalty(lat["prefill"])
        groups = [(b[g[0]], sum(lat[s] for s in g) + (pen if "prefill" in g else 0)) for g in pre]
        ttft = (sum(lat[s] for s in space.pre_decode if s not in ("retrieval", "prefill"))
                + ov.pair(lat["retrieval"], lat["prefill"]) + pen)
        lat = lat | {"prefill": lat["prefill"] + pen}  # its time per cycle (stage QPS, time shares)
    elif plan.burst_requests is None:
        groups = [(b[g[0]], sum(lat[s] for s in g)) for g in pre]  # (requests, ps) per group
        ttft = sum(lat[s] for s in space.pre_decode)
    else:  # MB4: R requests per cycle; MB2-MB3: the burst's mean finish time
        r = plan.burst_requests
        groups = [(r, sum(r // b[s] * lat[s] for s in g)) for g in pre]
        ttft = mean_ceil(sum(finish_times([[b[s] for s in g] for g in pre], [[lat[s] for s in g] for g in pre],
                                          r)), r)
    decode_ps, use_it = lat["decode"], {}
    if space.iterations:  # IR2-IR4: iterative retrievals load retrieval and prefill, and stall decode
        groups, dec, decode_ps, use_it = _iterative(space, plan, lat, pre, groups)
        groups.append(dec)
    else:
        groups.append((b["decode"], lat["decode"]))
    qb, qc = groups[0]
    for gb, gc in groups[1:]:
        if gb * qc <= qb * gc:  # gb / gc <= qb / qc: ties go to the later group (E4)
            qb, qc = gb, gc
    bottleneck = next(g for g, (gb, gc) in reversed(list(zip(plan.placement, groups))) if gb * qc == qb * gc)
    group_codes = _group_codes(space, plan, unit_codes(space, plan))
    chips = sum(int(units_of(c)) for c in group_codes)
    per_type = {t: sum(int(units_of(c)) for c in group_codes if kind_of(c) == k) for k, t in enumerate(space.types)}
    use = {s: (plan.retrieval_servers * space.chips_per_server if s == "retrieval" else plan.chips_per_stage[s])
           * (lat[s] / b[s] + use_it.get(s, 0.0)) for s in space.stages}
    total_use = sum(use.values())
    return Metrics(
        ttft_s=ps_to_s(ttft),
        tpot_s=tpot_s(decode_ps, space.decode_tokens()),
        e2e_latency_s=ps_to_s(ttft + decode_ps),
        qps=rate(qb, qc),
        qps_per_chip=rate(qb, qc * chips),
        chips=chips,
        retrieval_servers=plan.retrieval_servers,
        stage_qps={s: rate(b[s], lat[s]) for s in space.stages},
        group_qps=tuple(rate(gb, gc) for gb, gc in groups),
        bottleneck=bottleneck,
        time_share={s: u / total_use for s, u in use.items()},
        ttft_ps=ttft,
        decode_ps=decode_ps,
        bottleneck_batch=qb,
        bottleneck_cycle_ps=qc,
        chips_per_type={t: n for t, n in per_type.items() if n},
        cost_usd_per_hour=_priced(space, plan, "cost"),
        rent_by_resource=_rent_by_resource(space, plan),
        capex_usd=_priced(space, plan, "capex"),
        power_w=_priced(space, plan, "power"),
    )


def _iterative(space: Space, plan: Plan, lat: dict[str, int], pre: list, groups: list):
    """IR2-IR4 (``docs/model.md``, "Iterative retrieval"): with n = N - 1 iterative retrievals per sequence in
    batches of b (L_r(b) on the plan's servers, then a prefix L_pf(b) of the new passages on the prefill chips),
    every pre-decode group serves R' = lcm(B, b) requests per cycle, retrieval's and prefill's groups also run
    n R' / b iterative batches; decode serves (2D - b + 1) requests every 2 (L_dec + n (L_r(b) + L_pf(b))) ps (IR4);
    its whole-decode latency rounded up. Returns (groups, decode pair, decode ps, extra time per request per stage)."""
    n, bi = space.iterations, plan.iterative_batch
    codes = unit_codes(space, plan)
    l_it = {"retrieval": space.latency_at("retrieval", codes["retrieval"], bi),
            "prefill": space.latency_at("prefill", codes["prefill"], bi)}
    batch = groups[0][0]
    r = math.lcm(batch, bi)
    out = [(r, gc * (r // gb) + n * (r // bi) * sum(t for s, t in l_it.items() if s in g))
           for g, (gb, gc) in zip(pre, groups)]
    d, m = plan.batch_per_stage["decode"], lat["decode"] + n * sum(l_it.values())
    return out, (2 * d - bi + 1, 2 * m), -(-2 * d * m // (2 * d - bi + 1)), {s: n * t / bi for s, t in l_it.items()}


def check_plan(space: Space, plan: Plan) -> list[str]:
    """Reasons why ``plan`` is outside the search space (empty list: it is inside)."""
    _structure(space, plan)
    why = []
    if plan.placement not in space.placements:
        why.append(f"placement {list(map(list, plan.placement))} is not allowed by policy "
                   f"{space.instance.search.placement!r}")
    codes = unit_codes(space, plan)
    chips, per_type = 0, [0] * len(space.types)
    for g in plan.placement:
        opts = space.group_chip_options(g, plan.placement)
        if opts:
            o = codes[next(s for s in g if s in ACCELERATOR_STAGES)]
            chips += int(units_of(o))
            per_type[int(kind_of(o))] += int(units_of(o))
            if o not in opts:
                why.append(f"group {list(g)} uses {space.label(o)} chips, not among its options "
                           f"{[space.label(x) for x in opts][:12]}")
    if not space.min_chips <= chips <= space.max_chips:
        why.append(f"total {chips} chips outside [{space.min_chips}, {space.max_chips}]")
    for t, n, cap in zip(space.types, per_type, space.type_budget):
        if n > cap:
            why.append(f"{n} chips of {t} exceed its budget {cap} (search.max_chips_per_type)")
    if space.decides_servers and codes["retrieval"] not in space.retrieval_options:
        why.append(f"{space.label(codes['retrieval'], server=True)} retrieval servers, not among the options "
                   f"(shard minimum to search.max_retrieval_servers)")
    elif space.has_retrieval and not space.decides_servers and plan.retrieval_servers != space.servers(chips):
        why.append(f"{plan.retrieval_servers} retrieval servers, the space gives {space.servers(chips)} for {chips} chips")
    d = plan.batch_per_stage["decode"]
    it = plan.iterative_batch
    if it is not None and (not space.iterations or it not in space.iterative_batch_options()):
        why.append(f"iterative batch {it}: " + ("the pipeline retrieves once per sequence" if not space.iterations
                                                else f"not among {clip(list(space.iterative_batch_options()))}"))
    if plan.burst_requests is None:
        b = plan.batch_per_stage[space.stages[0]]
        if b not in space.batch_options:
            why.append(f"request batch {b} not among {list(space.batch_options)}")
    else:
        why += _burst_reasons(space, plan)
        b = max(plan.batch_per_stage[s] for s in space.pre_decode)
    if codes["decode"] in space.stage_chip_options["decode"] and (
            d not in space.decode_batch_options(codes["decode"]) or d < b):
        why.append(f"decode batch {d} not among the decode options at {space.label(codes['decode'])} chips or "
                   f"below the request batch {b}")
    return why


def _burst_reasons(space: Space, plan: Plan) -> list[str]:
    """MB1: why a micro-batched plan is outside the space (empty: inside)."""
    sp = space.instance.search
    if not space.micro:
        return [f"plan micro-batches a burst of {plan.burst_requests}, and the space does not (search.micro_batching"
                f" is false)"]
    why = [f"stage {s} batch {plan.batch_per_stage[s]} not among its micro-batches {list(space.stage_batch_options(s))}"
           for s in space.pre_decode if plan.batch_per_stage[s] not in space.stage_batch_options(s)]
    r, top = plan.burst_requests, max(plan.batch_per_stage[s] for s in space.pre_decode)
    if sp.burst_requests is not None and r != sp.burst_requests:
        why.append(f"burst of {r} requests, the space's is {sp.burst_requests} (search.burst_requests)")
    elif sp.burst_requests is None and (r & (r - 1) or not top <= r <= sp.max_batch_size):
        why.append(f"burst of {r} requests: not a power of two in [{top}, {sp.max_batch_size}] (the largest batch, "
                   f"search.max_batch_size)")
    return why


def slo_violations(m: Metrics, slo: Slo) -> list[str]:
    """Q3: the SLO bounds a plan's reported metrics miss (empty: it meets them all)."""
    bad = []
    if slo.ttft_max_s is not None and not m.ttft_s <= slo.ttft_max_s:
        bad.append(f"TTFT {m.ttft_s!r} s > ttft_max_s {slo.ttft_max_s!r}")
    if slo.tpot_max_s is not None and not m.tpot_s <= slo.tpot_max_s:
        bad.append(f"TPOT {m.tpot_s!r} s > tpot_max_s {slo.tpot_max_s!r}")
    if slo.qps_min is not None and not m.qps >= slo.qps_min:
        bad.append(f"QPS {m.qps!r} < qps_min {slo.qps_min!r}")
    return bad
