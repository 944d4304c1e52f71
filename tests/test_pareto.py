"""The CP-SAT sweep against exhaustive enumeration, its monotonicity, time limits and the reproducers of the
reliability issue (planner/pareto.py)."""

import pytest
from hypothesis import example, given, settings

from planner import (EmptySpaceError, InfeasibleError, InstanceError, TimeLimitError, build_space, exhaustive_frontier,
                     load_instance)
from planner.capacity import min_chips
from planner.exhaustive import exhaustive_min_chips
from planner.frontier import tie_floor
from planner.pareto import cpsat_frontier
from planner.schema import Slo
from tests.conftest import INSTANCES, examples, write_yaml
from tests.crosscheck import assert_same_frontier, space_of
from tests.strategies import random_instances

SOLVER = dict(workers=1, seed=0)


def _space(case, **search):
    inst = load_instance(INSTANCES / "rago-oss" / f"{case}.yaml")
    return build_space(inst.model_copy(update={"search": inst.search.model_copy(update=search)}))


@pytest.mark.parametrize("case", ["case1", "case2", "case4"])
def test_shipped_cases_identical_to_exhaustive(case):
    space = _space(case)
    ex, cp = exhaustive_frontier(space), cpsat_frontier(space, **SOLVER)
    assert [p.metrics for p in cp.points] == [p.metrics for p in ex.points]  # exact: every field, every point
    assert all(p.proven_optimal and p.gap == 0.0 for p in cp.points) and cp.complete


@pytest.mark.parametrize("case", ["case1", "case4"])
def test_bounds_at_achievable_values(case):
    """Issue 9, item 1: a TTFT bound or QPS floor set exactly at a frontier point's reported value keeps it."""
    space = _space(case)
    for p in exhaustive_frontier(space).points:
        m = p.metrics
        for slo in (Slo(ttft_max_s=m.ttft_s), Slo(qps_min=m.qps)):
            cp = cpsat_frontier(space, slo=slo, **SOLVER)
            assert_same_frontier(exhaustive_frontier(space, slo), cp, str(slo))
            assert p.metrics in [q.metrics for q in cp.points]
        cap = min_chips(space, slo=Slo(qps_min=m.qps), **SOLVER)  # its own plan's QPS is reachable
        assert cap.point.metrics.qps >= m.qps and cap.point.proven_optimal


def test_the_issue_bounds_on_case1_agree():
    """The literal values of issue 9 (float TTFT/QPS of the old evaluator): both solvers now decide alike."""
    space = _space("case1")
    for slo in (Slo(ttft_max_s=0.05799649314650962), Slo(qps_min=354.9103023362562)):
        assert_same_frontier(_either(exhaustive_frontier, space, slo), _either(cpsat_frontier, space, slo=slo,
                                                                                **SOLVER), str(slo))


def _either(fn, *a, **kw):
    try:
        return fn(*a, **kw)
    except (InfeasibleError, EmptySpaceError) as exc:
        return type(exc)


NMAX = {"name": "nmax-repro",
        "pipeline": {"stages": [{"kind": "prefill", "model": "llama3-1b", "prompt_tokens": 512},
                                {"kind": "decode", "model": "llama3-1b", "prompt_tokens": 512, "decode_tokens": 256}]},
        "cost": {"kind": "analytical", "accelerator": "XPU-C"},
        "search": {"total_chips": {"min": 1, "max": 1000000}, "max_chips_per_stage": 8, "max_batch_size": 64,
                   "max_decode_batch_size": 512}}


@pytest.mark.parametrize("batches", ["pow2", "any"])
def test_budget_beyond_the_caps_changes_nothing(tmp_path, batches):
    """Issue 9, item 2: raising total_chips.max past what the per-stage caps can use leaves every answer alike."""
    base = None
    for top in (16, 20_000, 10**7, 10**9):
        d = NMAX | {"search": NMAX["search"] | {"total_chips": {"min": 1, "max": top}, "batches": batches}}
        space = build_space(load_instance(write_yaml(tmp_path / f"n{top}.yaml", d)))
        assert space.max_chips == 16  # the effective budget: 8 + 8
        cp = cpsat_frontier(space, **SOLVER)
        assert_same_frontier(exhaustive_frontier(space), cp, f"budget {top}")
        base = base or [p.metrics for p in cp.points]
        assert [p.metrics for p in cp.points] == base


def _flat_rows(model, stage, steps, seq, max_b):
    """Profile rows 50, 51, 52 .. ms on 1 chip and 25, 26, 27 .. ms on 2 chips at batches 1, 2, 4 .. max_b."""
    batches = [1 << i for i in range(max_b.bit_length())]
    return [(model, stage, steps, seq, "X", c, b, (50 // c + i) / 1000) for c in (1, 2) for i, b in enumerate(batches)]


# Found by this test when it claimed that re-bounding returns the very same metrics: two plans tie exactly on
# TTFT, TPOT, chips and QPS/chip (the rewriter's and the LLM's groups swap chip counts); F2 may return either.
REBOUND = ({"name": "random", "pipeline": {"stages": [
    {"kind": "rewrite_prefill", "model": "rw", "prompt_tokens": 8},
    {"kind": "rewrite_decode", "model": "rw", "prompt_tokens": 8, "decode_tokens": 2},
    {"kind": "prefill", "model": "llm", "prompt_tokens": 8},
    {"kind": "decode", "model": "llm", "prompt_tokens": 8, "decode_tokens": 4}]},
    "cost": {"kind": "profiles", "profiles_dir": ".", "hardware": "X", "files": {"retrieval": ["retrieval_perf.csv"]}},
    "search": {"total_chips": {"min": 4, "max": 4}, "max_chips_per_stage": 2, "max_batch_size": 2, "chips_per_server": 1,
               "chips": "pow2", "batches": "pow2", "placement": "all"}},
    _flat_rows("llm", "prefill", 1, 8, 4) + _flat_rows("llm", "decode", 4, 8, 8) + _flat_rows("rw", "prefill", 1, 8, 4)
    + _flat_rows("rw", "decode", 2, 8, 4) + _flat_rows("rr", "prefill", 1, 16, 4)
    + _flat_rows("enc", "prefill", 1, 16, 4),
    [("db", "cpu", 1, 1, 0.02), ("db", "cpu", 1, 2, 0.02), ("db", "cpu", 1, 4, 0.02)])


@settings(max_examples=examples(25))
@given(random_instances())
@example(REBOUND)
def test_looser_ttft_bound_never_lowers_the_optimum(data):
    try:
        space = space_of(data)
        full = cpsat_frontier(space, **SOLVER)
    except (EmptySpaceError, InfeasibleError, InstanceError):
        return
    best = []
    for p in full.points:  # the bound at a point's own TTFT admits it (Q3): the answer is as good, within F2's ties
        res = cpsat_frontier(space, slo=Slo(ttft_max_s=p.metrics.ttft_s), **SOLVER)
        top = res.points[-1].metrics
        assert top.ttft_ps <= p.metrics.ttft_ps and top.ratio >= tie_floor(p.metrics.ratio)
        best.append(max(q.metrics.ratio for q in res.points))
    assert best == sorted(best)


def test_more_chips_never_lowers_the_optimum():
    prev = 0
    for top in (80, 96, 128):
        inst = load_instance(INSTANCES / "rago-oss" / "case4.yaml")
        search = inst.search.model_copy(update={"total_chips": inst.search.total_chips.model_copy(update={"max": top})})
        res = cpsat_frontier(build_space(inst.model_copy(update={"search": search})), **SOLVER)
        best = max(p.metrics.ratio for p in res.points)
        assert best >= prev
        prev = best


def test_infeasible_names_the_stage():
    space = _space("case1")
    with pytest.raises(InfeasibleError, match=r"fastest option of retrieval 0.04508 s, prefill 0.01291 s already "
                                              r"exceeds ttft_max_s"):
        cpsat_frontier(space, slo=Slo(ttft_max_s=0.01), **SOLVER)
    with pytest.raises(InfeasibleError, match=r"fastest decode step is .* > tpot_max_s 0.001 s"):
        cpsat_frontier(space, slo=Slo(tpot_max_s=0.001), **SOLVER)


def test_slo_bounds_respected():
    space = _space("case4")
    slo = Slo(ttft_max_s=0.11, tpot_max_s=0.008, qps_min=100)
    res = cpsat_frontier(space, slo=slo, **SOLVER)
    assert res.points and all(p.metrics.ttft_s <= 0.11 and p.metrics.tpot_s <= 0.008 and p.metrics.qps >= 100
                              for p in res.points)
    assert_same_frontier(exhaustive_frontier(space, slo), res, str(slo))


def test_same_seed_same_frontier():
    space = _space("case4", batches="any")
    runs = [cpsat_frontier(space, **SOLVER) for _ in range(2)]
    plans = [[p.plan.model_dump() for p in r.points] for r in runs]
    assert plans[0] == plans[1] and runs[0].solves == runs[1].solves and len(plans[0]) > 12


def test_time_limit_returns_what_it_found_or_says_so():
    """Issue 9, item 4: a time limit is never an uncaught TimeoutError."""
    space = _space("case1", chips="any", batches="any", chip_options={})
    with pytest.raises(TimeLimitError, match=r"no plan found within the time limit .* To fix: raise --time-limit-s"):
        cpsat_frontier(space, time_limit_s=1e-6, **SOLVER)
    full = cpsat_frontier(space, **SOLVER)
    partial = 0
    for share in (0.3, 0.45, 0.6, 0.75, 0.9):  # limits within the run (the first point's share of it varies)
        try:
            part = cpsat_frontier(space, time_limit_s=full.solve_seconds * share, **SOLVER)
        except TimeLimitError:  # not even the first point in time: said so, as above
            continue
        if part.complete:  # this run was faster than the full one: the same frontier
            assert [p.metrics.ttft_ps for p in part.points] == [p.metrics.ttft_ps for p in full.points]
            continue
        partial += 1
        assert 0 < len(part.points) <= len(full.points)
        assert all(p.gap >= 0 for p in part.points) and all(p.proven_optimal or p.gap is not None
                                                            for p in part.points)
        # every point it did prove is a point of the full frontier
        assert {p.metrics.ttft_ps for p in part.points if p.proven_optimal} <= {p.metrics.ttft_ps
                                                                                for p in full.points}
    assert partial > 0, "no time limit within the run stopped it part way"


def test_capacity_reproducer_quarter_of_top_qps(tmp_path):
    """Issue 9, item 1: prefill + decode, any chips and batches, qps_min a quarter of the top QPS."""
    d = NMAX | {"search": NMAX["search"] | {"chips": "any", "batches": "any", "max_batch_size": 8,
                                            "total_chips": {"min": 1, "max": 6}, "max_chips_per_stage": 4}}
    space = build_space(load_instance(write_yaml(tmp_path / "q.yaml", d)))
    top = max(p.metrics.qps for p in exhaustive_frontier(space).points)
    for share in (0.25, 0.5, 1.0):
        slo = Slo(qps_min=top * share)
        cp, ex = min_chips(space, slo=slo, **SOLVER), exhaustive_min_chips(space, slo)
        key = lambda r: (r.point.metrics.chips, r.point.metrics.ttft_ps, r.point.metrics.decode_ps)  # noqa: E731
        assert key(cp) == key(ex) and cp.point.proven_optimal


def test_messages_show_numbers_that_differ():
    """Near a bound both sides are printed with the digits that tell them apart (not '0.058 s > 0.058 s')."""
    space = _space("case1")
    for fn, kw in ((cpsat_frontier, SOLVER), (exhaustive_frontier, {})):
        with pytest.raises(InfeasibleError, match=r"0\.057996493148 s > ttft_max_s 0\.057996493147 s\b.*To fix"):
            fn(space, slo=Slo(ttft_max_s=0.05799649314650962), **kw)
