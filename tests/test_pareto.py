"""The CP-SAT sweep against exhaustive enumeration, and its monotonicity (planner/pareto.py)."""

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from planner import (EmptySpaceError, InfeasibleError, build_space, exhaustive_frontier, load_instance)
from planner.pareto import cpsat_frontier
from planner.schema import Slo
from tests.conftest import INFERENCE_HEADER, INSTANCES, RETRIEVAL_HEADER, write_csv, write_yaml
from tests.strategies import random_instances

SOLVER = dict(workers=1, time_limit_s=30, seed=0)


def _same_frontier(a, b, rel=1e-6):
    """Equal up to solver rounding: same size, and each point weakly dominated by one of the other set."""
    pa = [(p.metrics.ttft_s, p.metrics.qps_per_chip) for p in a.points]
    pb = [(p.metrics.ttft_s, p.metrics.qps_per_chip) for p in b.points]

    def covered(x, ys):
        return any(t <= x[0] * (1 + rel) + 1e-12 and q >= x[1] * (1 - rel) for t, q in ys)

    return len(pa) == len(pb) and all(covered(x, pb) for x in pa) and all(covered(y, pa) for y in pb)


@pytest.mark.parametrize("case", ["case1", "case2", "case4"])
def test_shipped_cases_identical_to_exhaustive(case):
    space = build_space(load_instance(INSTANCES / "rago-oss" / f"{case}.yaml"))
    ex, cp = exhaustive_frontier(space), cpsat_frontier(space, **SOLVER)
    got = [(p.metrics.ttft_s, p.metrics.qps_per_chip, p.metrics.tpot_s) for p in cp.points]
    want = [(p.metrics.ttft_s, p.metrics.qps_per_chip, p.metrics.tpot_s) for p in ex.points]
    assert [v for t in got for v in t] == pytest.approx([v for t in want for v in t], rel=1e-12)
    assert all(p.proven_optimal and p.gap == 0.0 for p in cp.points)


def _space(data):
    inst, inf, ret = data
    folder = Path(tempfile.mkdtemp(prefix="ragplan-prop-"))
    for name in ("main_llm_perf.csv", "rewriter_perf.csv", "encoder_perf.csv", "reranker_perf.csv"):
        write_csv(folder / name, INFERENCE_HEADER, inf)
    write_csv(folder / "retrieval_perf.csv", RETRIEVAL_HEADER, ret)
    return build_space(load_instance(write_yaml(folder / "i.yaml", inst)))


def _outcome(fn, space, **kw):
    try:
        return fn(space, **kw)
    except (EmptySpaceError, InfeasibleError) as exc:
        return type(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_instances())
def test_cpsat_equals_exhaustive_on_random_pipelines(data):
    try:
        space = _space(data)
    except EmptySpaceError:
        return
    ex = _outcome(exhaustive_frontier, space)
    cp = _outcome(cpsat_frontier, space, **SOLVER)
    if isinstance(ex, type) or isinstance(cp, type):
        assert ex == cp
        return
    assert _same_frontier(ex, cp), ([(p.metrics.ttft_s, p.metrics.qps_per_chip) for p in ex.points],
                                    [(p.metrics.ttft_s, p.metrics.qps_per_chip) for p in cp.points])
    assert all(p.proven_optimal for p in cp.points)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_instances())
def test_looser_ttft_bound_never_lowers_the_optimum(data):
    try:
        space = _space(data)
        full = cpsat_frontier(space, **SOLVER)
    except (EmptySpaceError, InfeasibleError):
        return
    ttfts = sorted(p.metrics.ttft_s for p in full.points)
    best = []
    for bound in ttfts:
        # TTFT shares are rounded up to 1 ns per group: a bound equal to a plan's TTFT needs a few ns of margin.
        res = cpsat_frontier(space, slo=Slo(ttft_max_s=bound + 1e-8), **SOLVER)
        best.append(max(p.metrics.qps_per_chip for p in res.points))
    assert best == sorted(best)
    assert best[-1] == pytest.approx(max(p.metrics.qps_per_chip for p in full.points))


def test_more_chips_never_lowers_the_optimum():
    inst = load_instance(INSTANCES / "rago-oss" / "case4.yaml")
    prev = 0.0
    for top in (80, 96, 128):
        search = inst.search.model_copy(update={"total_chips": inst.search.total_chips.model_copy(update={"max": top})})
        res = cpsat_frontier(build_space(inst.model_copy(update={"search": search})), **SOLVER)
        best = max(p.metrics.qps_per_chip for p in res.points)
        assert best >= prev * (1 - 1e-9)
        prev = best


def test_infeasible_ttft_names_the_stage():
    space = build_space(load_instance(INSTANCES / "rago-oss" / "case1.yaml"))
    with pytest.raises(InfeasibleError, match=r"fastest option of retrieval 0.04508 s, prefill 0.01291 s already exceeds ttft_max_s"):
        cpsat_frontier(space, slo=Slo(ttft_max_s=0.01), **SOLVER)
    with pytest.raises(InfeasibleError, match=r"fastest decode step is .* > tpot_max_s 0.001 s"):
        cpsat_frontier(space, slo=Slo(tpot_max_s=0.001), **SOLVER)


def test_slo_bounds_respected():
    space = build_space(load_instance(INSTANCES / "rago-oss" / "case4.yaml"))
    res = cpsat_frontier(space, slo=Slo(ttft_max_s=0.11, tpot_max_s=0.008, qps_min=100), **SOLVER)
    assert res.points and all(p.metrics.ttft_s <= 0.11 and p.metrics.tpot_s <= 0.008 and p.metrics.qps >= 100
                              for p in res.points)
    ex = exhaustive_frontier(space, Slo(ttft_max_s=0.11, tpot_max_s=0.008, qps_min=100))
    assert _same_frontier(ex, res)


def test_same_seed_same_frontier():
    inst = load_instance(INSTANCES / "rago-oss" / "case4.yaml")
    inst = inst.model_copy(update={"search": inst.search.model_copy(update={"batches": "any"})})
    space = build_space(inst)
    runs = [cpsat_frontier(space, **SOLVER) for _ in range(2)]
    plans = [[p.plan.model_dump() for p in r.points] for r in runs]
    assert plans[0] == plans[1] and runs[0].solves == runs[1].solves and len(plans[0]) > 12
