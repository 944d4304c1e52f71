"""Micro-batching (MB1-MB5): the step order and finish times by hand, the numpy recurrence against the scalar one,
the burst rule MB5, and the exhaustive search against every plan of small micro-batched spaces."""

import itertools

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from planner import build_space, exhaustive_frontier, load_instance
from planner.burst import burst_ttft, finish_times, group_finish, group_steps, mean_ceil
from planner.evaluate import check_plan, evaluate
from planner.exhaustive import count_schedules
from planner.schema import Plan, SearchSpace
from tests.conftest import INSTANCES, examples, tiny_instance_dict, write_yaml
from tests.crosscheck import evaluated_frontier

MS = 10**9  # picoseconds per millisecond


def test_step_order_by_hand():
    # the README's example: batches [4, 2, 8] run the first stage once, the second twice, until the third can run
    assert group_steps((4, 2, 8), 8) == (0, 1, 1, 0, 1, 1, 2)
    assert group_steps((8, 2), 8) == (0, 1, 1, 1, 1)
    assert group_steps((2, 8), 8) == (0, 0, 0, 0, 1)
    assert group_steps((4,), 8) == (0, 0)


def test_finish_times_by_hand():
    # lone stages: batches of 2 every 10 ps, then batches of 4 taking 100: the second waits for the timeline
    assert finish_times([[2], [4]], [[10], [100]], 8) == [120] * 4 + [220] * 4
    # one group [4, 2, 8]: 10 + 3 + 3 + 10 + 3 + 3 + 100 on one timeline
    assert finish_times([[4, 2, 8]], [[10, 3, 100]], 8) == [132] * 8
    assert mean_ceil(7, 2) == 4 and mean_ceil(8, 2) == 4


def _tiny(tmp_path, profiles, **search):
    data = tiny_instance_dict(profiles, micro_batching=True, **search)
    return build_space(load_instance(write_yaml(tmp_path / "t.yaml", data)))


def _plan(r, p, burst, d=2):
    return Plan(placement=(("retrieval",), ("prefill",), ("decode",)), chips_per_stage={"prefill": 1, "decode": 1},
                batch_per_stage={"retrieval": r, "prefill": p, "decode": d}, retrieval_servers=1,
                burst_requests=burst)


def test_evaluator_by_hand(tmp_path, profiles):
    # retrieval 5 ms at b = 1 or 2; prefill 10 ms at b = 1, 15 ms at b = 2 (tiny profiles)
    sp = _tiny(tmp_path, profiles)
    m = evaluate(sp, _plan(1, 2, 2))  # retrieval done at 5, 10 ms; prefill of both from 10 to 25 ms
    assert (m.ttft_ps, m.bottleneck_batch, m.bottleneck_cycle_ps) == (25 * MS, 2, 15 * MS)
    m = evaluate(sp, _plan(2, 1, 2))  # retrieval of both by 5 ms; prefill one at a time: 15, 25 -> mean 20
    assert (m.ttft_ps, m.bottleneck_cycle_ps) == (20 * MS, 20 * MS)
    assert evaluate(sp, _plan(2, 2, 2)).ttft_ps == 20 * MS  # one batch: the sum of the latencies
    assert check_plan(sp, _plan(1, 2, 2)) == []
    sp4 = _tiny(tmp_path, profiles, max_batch_size=4, burst_requests=4)
    # a burst of 4 in batches of 2: prefill 5..20 and (waiting for its timeline) 20..35 ms -> mean 27.5 ms
    assert evaluate(sp4, _plan(2, 2, 4, d=4)).ttft_ps == 27_500_000_000
    assert "burst of 2 requests, the space's is 4" in " ".join(check_plan(sp4, _plan(2, 2, 2)))


def test_plan_errors_name_the_fix(tmp_path, profiles):
    sp = _tiny(tmp_path, profiles)
    with pytest.raises(Exception, match=r"do not all divide the burst of 3 requests .*To fix"):
        evaluate(sp, _plan(2, 2, 3))
    with pytest.raises(Exception, match=r"differ \(\[1, 2\]\) without a burst.*To fix"):
        evaluate(sp, _plan(1, 2, None))
    plain = build_space(load_instance(write_yaml(tmp_path / "p.yaml", tiny_instance_dict(profiles))))
    assert "the space does not (search.micro_batching is false)" in " ".join(check_plan(plain, _plan(1, 2, 2)))


def test_schema_refuses_what_mb1_cannot_serve():
    base = {"total_chips": {"min": 1, "max": 2}, "max_chips_per_stage": 1}
    with pytest.raises(ValidationError, match="burst_requests 4 needs micro_batching: true"):
        SearchSpace(**base, burst_requests=4)
    with pytest.raises(ValidationError, match="micro_batching needs batches: pow2"):
        SearchSpace(**base, micro_batching=True, batches="any")
    with pytest.raises(ValidationError, match="burst_requests 6 is not a power of two"):
        SearchSpace(**base, micro_batching=True, burst_requests=6)


def test_tiny_micro_frontier_by_hand(tmp_path, profiles):
    # columns (retrieval b, prefill b): (1, 1) R=1 TTFT 15 ms; (2, 2) R=2 TTFT 20 ms, 2 per 15 ms; (2, 1) R=2
    # TTFT 20 ms but 2 per 20 ms and (1, 2) 25 ms are dominated: the frontier is the one-batch frontier
    sp = _tiny(tmp_path, profiles)
    res = exhaustive_frontier(sp)
    assert [(p.metrics.ttft_ps, p.plan.burst_requests) for p in res.points] == [(15 * MS, 1), (20 * MS, 2)]
    assert res.schedules_evaluated == count_schedules(sp) == 3 + 2 * 3  # D >= max b: 3 rows at (1, 1), 2 elsewhere


batches = st.sampled_from([1, 2, 4, 8])


@st.composite
def pipelines(draw):
    """Random groups of stage batches and latencies (ps)."""
    groups = draw(st.lists(st.lists(batches, min_size=1, max_size=3), min_size=1, max_size=3))
    lat = [[draw(st.integers(1, 1000)) for _ in g] for g in groups]
    return groups, lat


@settings(max_examples=examples(150))
@given(pipelines())
@example(([[4, 2, 8]], [[10, 3, 100]]))
def test_numpy_recurrence_equals_the_scalar_one(case):
    groups, lat = case
    burst = max(max(g) for g in groups)
    want = mean_ceil(sum(finish_times(groups, lat, burst)), burst)
    arrive = None
    for g, ls in zip(groups, lat):
        arrive = group_finish(tuple(g), [np.array([x, 2 * x]) for x in ls], arrive, burst)
    got = burst_ttft(arrive)
    assert got[0] == want
    assert got[1] == mean_ceil(sum(finish_times(groups, [[2 * x for x in ls] for ls in lat], burst)), burst)


@settings(max_examples=examples(150))
@given(pipelines())
def test_one_batch_is_the_sum_of_latencies(case):
    groups, lat = case
    burst = max(max(g) for g in groups)
    same = [[burst] * len(g) for g in groups]
    assert finish_times(same, lat, burst) == [sum(map(sum, lat))] * burst


@settings(max_examples=examples(150))
@given(pipelines())
def test_mb5_ttft_never_falls_as_the_burst_grows(case):
    """MB5: the first R requests finish alike in a larger burst, later ones no earlier, so R = max b_s is best."""
    groups, lat = case
    r = max(max(g) for g in groups)
    first = finish_times(groups, lat, r)
    for k in (2, 4):
        more = finish_times(groups, lat, k * r)
        assert more[:r] == first
        assert all(a <= b for a, b in zip(more, more[1:]))
        assert mean_ceil(sum(more), k * r) >= mean_ceil(sum(first), r)


def _brute_frontier(sp):
    """Every plan of a micro-batched space (every burst R, not only R = max b_s) through the evaluator; the Pareto
    set on (TTFT, QPS/chip) as exact pairs."""
    plans = []
    top = sp.instance.search.max_batch_size
    for placement in sp.placements:
        opts = [sp.group_chip_options(g, placement) or (0,) for g in placement]
        for codes in itertools.product(*opts):
            chips = {s: c for g, c in zip(placement, codes) for s in g if s not in ("retrieval",)}
            total = sum(codes)
            if not sp.min_chips <= total <= sp.max_chips:
                continue
            for v in itertools.product(*(sp.stage_batch_options(s) for s in sp.pre_decode)):
                for r in (x for x in (1, 2, 4, 8, 16, 32, 64, 128) if max(v) <= x <= top):
                    for d in sp.decode_batch_options(chips["decode"]):
                        if d < max(v):
                            continue
                        plans.append(Plan(placement=placement, chips_per_stage=chips, burst_requests=r,
                                          batch_per_stage=dict(zip(sp.pre_decode, v)) | {"decode": d},
                                          retrieval_servers=int(sp.servers(total))))
    return evaluated_frontier(sp, plans), len(plans)


@pytest.mark.parametrize("name,overrides", [
    ("case2-paper-1m", {"max_batch_size": 4, "chip_options": {"encode": [32, 64], "prefill": [4, 8],
                                                               "decode": [4, 8]}}),
    ("case4-paper", {"max_batch_size": 2, "total_chips": {"min": 64, "max": 72}}),
])
def test_exhaustive_equals_every_plan(name, overrides):
    inst = load_instance(INSTANCES / "rago-oss" / f"{name}.yaml")
    sp = build_space(inst.model_copy(update={"search": SearchSpace.model_validate(inst.search.model_dump() | overrides)}))
    want, n = _brute_frontier(sp)
    res = exhaustive_frontier(sp)
    got = [(p.metrics.ttft_ps, p.metrics.ratio) for p in res.points]
    # the frontier's QPS/chip ties within 1e-9 (F2) are one point: compare on the exact Pareto set's values
    assert [t for t, _ in got] == [t for t, _ in want] and [q for _, q in got] == [q for _, q in want]
    assert n > res.schedules_evaluated  # the brute force also tried every larger burst (MB5 made them redundant)
    assert all(check_plan(sp, p.plan) == [] for p in res.points)


def test_micro_batching_with_priced_types_and_server_decisions():
    """MB with C11-C12 and S9: H100/H200/B200 per group, retrieval servers a decision; CP-SAT = enumeration for the
    frontier and for the cheapest plan (rent) at a QPS floor."""
    from planner.capacity import capacity
    from planner.exhaustive import exhaustive_min_chips
    from planner.loader import with_search
    from planner.pareto import cpsat_frontier
    from planner.schema import Slo

    inst = load_instance(INSTANCES / "priced" / "rag-70b-hyperscale.yaml")
    sp = build_space(with_search(inst, {"micro_batching": True, "burst_requests": 2, "max_batch_size": 2,
                                        "total_chips": {"min": 8, "max": 24}, "max_chips_per_stage": 16}))
    ex, cp = exhaustive_frontier(sp, Slo()), cpsat_frontier(sp, slo=Slo())
    key = lambda r: [(p.metrics.ttft_ps, p.metrics.decode_ps, p.metrics.chips) for p in r.points]  # noqa: E731
    assert key(ex) == key(cp) and all(p.proven_optimal for p in cp.points)
    slo = Slo(qps_min=ex.points[len(ex.points) // 2].metrics.qps)
    a, b = exhaustive_min_chips(sp, slo, objective="cost"), capacity(sp, slo=slo, objective="cost")
    assert (a.point.metrics.cost_usd_per_hour, a.point.metrics.ttft_ps) == (b.point.metrics.cost_usd_per_hour,
                                                                            b.point.metrics.ttft_ps)
