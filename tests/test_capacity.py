"""Capacity planning (planner/capacity.py, objective O4) against exhaustive enumeration (random pipelines are in
tests/test_crosscheck.py)."""

import pytest

from planner import EmptySpaceError, InfeasibleError, InstanceError, TimeLimitError, build_space, load_instance
from planner.capacity import min_chips
from planner.exhaustive import exhaustive_min_chips
from planner.schema import IntRange, Slo
from tests.conftest import INSTANCES

SOLVER = dict(workers=1, seed=0)


def _key(res):
    m = res.point.metrics
    return m.chips, m.ttft_ps, m.decode_ps


def _space(case, **search):
    inst = load_instance(INSTANCES / "rago-oss" / f"{case}.yaml")
    return build_space(inst.model_copy(update={"search": inst.search.model_copy(update=search)}))


@pytest.mark.parametrize("case, slo", [
    ("case1", Slo(qps_min=100)),
    ("case2", Slo(qps_min=10)),
    ("case2", Slo(qps_min=15, ttft_max_s=0.2)),
    ("case4", Slo(qps_min=300, ttft_max_s=0.2)),
    ("case4", Slo(qps_min=50, ttft_max_s=0.12, tpot_max_s=0.01)),
])
def test_shipped_cases_equal_exhaustive(case, slo):
    space = _space(case)
    res = min_chips(space, slo=slo, **SOLVER)
    assert res.point.proven_optimal and res.point.gap == 0.0
    assert _key(res) == _key(exhaustive_min_chips(space, slo))
    m = res.point.metrics
    assert m.qps >= slo.qps_min and (slo.ttft_max_s is None or m.ttft_s <= slo.ttft_max_s)


def test_its_own_qps_is_reachable():
    """Issue 9: min-chips --qps-min Q with Q the QPS of a plan it returned itself."""
    space = _space("case4", batches="any")
    first = min_chips(space, slo=Slo(qps_min=300), **SOLVER)
    again = min_chips(space, slo=Slo(qps_min=first.point.metrics.qps), **SOLVER)
    assert again.point.metrics.chips <= first.point.metrics.chips and again.point.proven_optimal


def test_higher_target_never_needs_fewer_chips():
    space = _space("case2", chips="any", batches="any", chip_options={})
    chips = [min_chips(space, slo=Slo(qps_min=q), **SOLVER).point.metrics.chips for q in (5, 10, 20, 30)]
    assert chips == sorted(chips) and chips[-1] > chips[0]


def test_needs_a_target_and_explains_infeasible():
    space = _space("case2")
    with pytest.raises(InstanceError, match="needs a QPS target.*To fix: pass --qps"):
        min_chips(space, slo=Slo(), **SOLVER)
    with pytest.raises(InfeasibleError, match=r"qps_min 50 cannot be reached within 64 chips.*search.total_chips.max "
                                              r"limits the chips\)\. To fix: lower qps_min or raise "
                                              r"search.total_chips.max"):
        min_chips(space, slo=Slo(qps_min=50), **SOLVER)


def test_hint_names_the_per_stage_cap_when_it_binds():
    space = _space("case2", total_chips=IntRange(min=1, max=10**6), max_chips_per_stage=4, chip_options={},
                   chips="any")
    with pytest.raises(InfeasibleError, match=r"search.max_chips_per_stage limits the chips\)\. To fix: lower "
                                              r"qps_min or raise search.max_chips_per_stage"):
        min_chips(space, slo=Slo(qps_min=500), **SOLVER)


def test_time_limit():
    space = _space("case1", chips="any", batches="any", chip_options={})
    with pytest.raises(TimeLimitError, match="To fix: raise --time-limit-s"):
        min_chips(space, slo=Slo(qps_min=100), time_limit_s=1e-6, **SOLVER)


def test_empty_space_is_not_called_infeasible(tmp_path, profiles):
    from tests.conftest import tiny_instance_dict, write_yaml
    d = tiny_instance_dict(profiles, max_decode_batch_size=1, max_batch_size=2, batches="pow2")
    space = build_space(load_instance(write_yaml(tmp_path / "t.yaml", d)))
    assert min_chips(space, slo=Slo(qps_min=1), **SOLVER).point.plan.batch_per_stage["decode"] == 1
    with pytest.raises((EmptySpaceError, InfeasibleError)):
        min_chips(space, slo=Slo(qps_min=10**6), **SOLVER)
