"""Retrieval pipelined with prefill (AP1-AP4): the integer rules, the evaluator by hand, and CP-SAT against
enumeration on random pipelines."""

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner import EmptySpaceError, InstanceError, build_space, load_instance
from planner.evaluate import evaluate, stage_latencies
from planner.exhaustive import exhaustive_frontier
from planner.overlap import pair_ttft, penalty, rate_of
from tests.conftest import INSTANCES, examples, write_yaml
from tests.crosscheck import check_space, space_of
from tests.strategies import overlapped

import yaml

lat = st.integers(0, 2**58)


@given(lat, lat, st.integers(2, 64))
def test_pair_is_the_chunk_recurrence_rounded_up(l_r, l_pf, c):
    """AP2: the last prefill chunk's end, max_j (j L_r + (c - j + 1) L_pf) / c exactly, rounded up once; and AP4's
    additive lower bounds."""
    exact = max(Fraction(j * l_r + (c - j + 1) * l_pf, c) for j in (1, c))  # the max of a linear function of j
    assert pair_ttft(l_r, l_pf, c) == math.ceil(exact)
    assert pair_ttft(l_r, l_pf, c) >= max(l_r + -(-l_pf // c), -(-l_r // c) + l_pf)  # AP4's two sums
    assert pair_ttft(l_r, l_pf, c) <= l_r + l_pf


@given(lat, st.floats(0, 1), st.floats(0, 1))
def test_penalty_is_exact(l_pf, p, rho):
    num, den = rate_of(p, rho)
    assert abs(Fraction(num, den) - Fraction(p) * Fraction(rho)) <= Fraction(1, 10**9)
    assert penalty(l_pf, num, den) == math.ceil(Fraction(num, den) * l_pf)


def _case1(tmp_path, overlap: dict | None, **search):
    data = yaml.safe_load((INSTANCES / "paper" / "case1-8b.yaml").read_text())
    data["pipeline"]["overlap"] = overlap
    data["search"] |= search
    return load_instance(write_yaml(tmp_path / "o.yaml", data))


def test_evaluator_by_hand(tmp_path):
    inst = _case1(tmp_path, {"chunks": 4, "wrong_probability": 0.2, "reprefill_fraction": 0.5})
    space = build_space(inst)
    point = exhaustive_frontier(space).points[-1]
    lat = stage_latencies(space, point.plan)
    pen = math.ceil(lat["prefill"] * Fraction(1, 10))
    l_r, l_pf = lat["retrieval"], lat["prefill"]
    want = max(l_r + math.ceil(Fraction(l_pf, 4)), l_pf + math.ceil(Fraction(l_r, 4))) + pen
    m = evaluate(space, point.plan)
    assert m.ttft_ps == want < l_r + l_pf + pen
    assert m.stage_qps["prefill"] == pytest.approx(point.plan.batch_per_stage["prefill"] / ((l_pf + pen) * 1e-12))


def test_overlap_rules_refuse(tmp_path):
    with pytest.raises(InstanceError, match="AP1"):
        load_instance(write_yaml(tmp_path / "a.yaml", yaml.safe_load(
            (INSTANCES / "paper" / "case4-8b.yaml").read_text()) | {"pipeline": yaml.safe_load(
                (INSTANCES / "paper" / "case4-8b.yaml").read_text())["pipeline"] | {"overlap": {"chunks": 2}}}))
    with pytest.raises(InstanceError, match="micro-batching"):
        _case1(tmp_path, {"chunks": 2}, micro_batching=True)
    space = build_space(_case1(tmp_path, {"chunks": 2}, placement="all"))
    assert all(not {"retrieval", "prefill"} <= set(g) for p in space.placements for g in p)


@settings(max_examples=examples(40), deadline=None)
@given(overlapped())
def test_cpsat_equals_enumeration_with_overlap(data):
    """C18 against AP1-AP4 by enumeration: frontiers, TTFT bounds, QPS floors, min-chips (``check_space``)."""
    try:
        space = space_of(data)
    except (EmptySpaceError, InstanceError):
        return
    check_space(space)


@pytest.mark.parametrize("p", [0.0, 0.3])
def test_simulator_runs_the_chunks(tmp_path, p):
    """D10: unloaded (a burst of B, far apart) the simulated TTFT is AP2-AP3's: exactly without wrong early
    results (floats against whole picoseconds), within 2% on the mean with them (each batch draws its re-prefill);
    saturated, the achieved QPS is the predicted capacity."""
    import numpy as np

    from planner.simulate import Arrivals, simulate

    space = build_space(_case1(tmp_path, {"chunks": 4, "wrong_probability": p, "reprefill_fraction": 0.5}))
    for point in exhaustive_frontier(space).points[::3]:
        m, b = point.metrics, point.plan.batch_per_stage["prefill"]
        gap = 50 * m.ttft_s
        low = simulate(space, point.plan, Arrivals("trace", times_s=tuple(np.repeat(np.arange(200) * gap, b).tolist())),
                       duration_s=200 * gap, seed=2)
        assert low.ttft_s["mean"] == pytest.approx(m.ttft_s, rel=1e-9 if p == 0 else 2e-2)
        cap = simulate(space, point.plan, Arrivals("poisson", 1.3 * m.qps), duration_s=5_000 / m.qps, seed=2)
        assert cap.achieved_qps == pytest.approx(m.qps, rel=2e-2)
