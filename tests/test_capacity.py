"""Capacity planning (planner/capacity.py, objective O4) against exhaustive enumeration."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner import EmptySpaceError, InfeasibleError, InstanceError, build_space, load_instance
from planner.capacity import min_chips
from planner.exhaustive import iter_schedules
from planner.schema import Slo
from tests.conftest import INSTANCES
from tests.strategies import random_instances
from tests.test_pareto import _space

SOLVER = dict(workers=1, time_limit_s=30, seed=0)


def _fewest(space, slo):
    """(chips, TTFT, TPOT) of the lexicographically least schedule meeting ``slo``, by enumeration."""
    best = None
    for a in iter_schedules(space, slo):
        if len(a.total_chips):
            i = np.lexsort((a.tpot_s, a.ttft_s, a.total_chips))[0]
            key = (int(a.total_chips[i]), float(a.ttft_s[i]), float(a.tpot_s[i]))
            best = key if best is None or key < best else best
    return best


def _key(res):
    m = res.point.metrics
    return m.chips, m.ttft_s, m.tpot_s


@pytest.mark.parametrize("case, slo", [
    ("case1", Slo(qps_min=100)),
    ("case2", Slo(qps_min=10)),
    ("case2", Slo(qps_min=15, ttft_max_s=0.2)),
    ("case4", Slo(qps_min=300, ttft_max_s=0.2)),
    ("case4", Slo(qps_min=50, ttft_max_s=0.12, tpot_max_s=0.01)),
])
def test_shipped_cases_equal_exhaustive(case, slo):
    space = build_space(load_instance(INSTANCES / "rago-oss" / f"{case}.yaml"))
    res = min_chips(space, slo=slo, **SOLVER)
    assert res.point.proven_optimal
    assert _key(res) == pytest.approx(_fewest(space, slo), rel=1e-9)
    m = res.point.metrics
    assert m.qps >= slo.qps_min and (slo.ttft_max_s is None or m.ttft_s <= slo.ttft_max_s)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_instances(), st.floats(0.05, 1.2))
def test_random_pipelines_equal_exhaustive(data, share):
    try:
        space = _space(data)
    except EmptySpaceError:
        return
    top = max((float(a.qps.max()) for a in iter_schedules(space, Slo()) if len(a.qps)), default=None)
    if top is None:
        return
    slo = Slo(qps_min=top * share)
    want = _fewest(space, slo)
    if want is None:
        with pytest.raises(InfeasibleError):
            min_chips(space, slo=slo, **SOLVER)
        return
    res = min_chips(space, slo=slo, **SOLVER)
    assert res.point.proven_optimal
    # chips exactly; TTFT and TPOT up to the solver's 1 ns resolution of shares
    got = _key(res)
    assert got[0] == want[0] and got[1] == pytest.approx(want[1], rel=1e-6, abs=1e-8)
    assert got[2] == pytest.approx(want[2], rel=1e-6, abs=1e-8)


def test_higher_target_never_needs_fewer_chips():
    inst = load_instance(INSTANCES / "rago-oss" / "case2.yaml")
    inst = inst.model_copy(update={"search": inst.search.model_copy(
        update={"chips": "any", "batches": "any", "chip_options": {}})})
    space = build_space(inst)
    chips = [min_chips(space, slo=Slo(qps_min=q), **SOLVER).point.metrics.chips for q in (5, 10, 20, 30)]
    assert chips == sorted(chips) and chips[-1] > chips[0]


def test_needs_a_target_and_explains_infeasible():
    space = build_space(load_instance(INSTANCES / "rago-oss" / "case2.yaml"))
    with pytest.raises(InstanceError, match="needs a QPS target.*To fix: pass --qps-min"):
        min_chips(space, slo=Slo(), **SOLVER)
    with pytest.raises(InfeasibleError, match="qps_min 50 cannot be reached within 64 chips"):
        min_chips(space, slo=Slo(qps_min=50), **SOLVER)
