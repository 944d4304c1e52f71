"""CP-SAT tables, slice model and bounds (planner/cpsat, planner/pareto.slice_bounds)."""

import numpy as np
import pytest

from planner import build_space, evaluate, load_instance
from planner.cpsat import TIME_RES_S, RagSolver, build_matrices, build_model, slice_groups, slice_tables
from planner.pareto import _Sweep, slice_bounds
from planner.schema import IntRange
from planner.schema import Slo
from tests.conftest import INSTANCES


def _space(case, **search):
    inst = load_instance(INSTANCES / "rago-oss" / f"{case}.yaml")
    return build_space(inst.model_copy(update={"search": inst.search.model_copy(update=search)}))


def test_rounding_is_conservative():
    space = _space("case4")
    cm = build_matrices(space)
    for bi in range(len(cm.batches)):
        tb = slice_tables(space, cm, slice_groups(space), bi, full_decode=True)
        for g, rows in tb.groups.items():
            for n, j, lat_u, q_u in rows[:20]:
                true_lat = sum(float(cm.lat[s][j if s == "retrieval" else
                                               int(np.searchsorted(cm.options[s], n)), bi]) for s in g)
                assert lat_u * TIME_RES_S >= true_lat * (1 - 1e-12)  # rounded up
                assert q_u / cm.q_scale <= cm.batches[bi] / true_lat * (1 + 1e-12)  # rounded down


def test_decode_rows_keep_only_undominated():
    space = _space("case1")
    cm = build_matrices(space)
    rows = slice_tables(space, cm, slice_groups(space), 0, full_decode=True).decode
    for n in np.unique(rows[:, 0]):
        sub = rows[rows[:, 0] == n]
        for i in range(len(sub) - 1):
            later = sub[i + 1:]
            assert not np.any((later[:, 2] >= sub[i, 2]) & (later[:, 3] <= sub[i, 3]))
    assert np.all(rows[:, 1] >= cm.batches[0])


@pytest.mark.parametrize("case", ["case1", "case2", "case4"])
def test_bound_is_valid_and_tight(case):
    space = _space(case)
    sweep = _Sweep(space, Slo(), 1, 30, 0)
    ub, _ = slice_bounds(space, sweep.cm)
    for sl in sweep.slices:
        res = sweep.ratio(sl, None)
        if res is None:
            continue
        assert res[1] / res[2] <= ub[sl.bi]
        assert ub[sl.bi] <= res[1] / res[2] * 1.01  # exact up to rounding when TTFT is unbounded


def test_rate_scale_shrinks_with_the_chip_budget():
    small = build_matrices(_space("case4"))
    big = build_matrices(_space("case4", chip_options={}, max_chips_per_stage=8192,
                                total_chips=IntRange(min=16, max=8192)))
    assert small.q_scale == 10**9 and big.q_scale < small.q_scale


def test_policy_disaggregated_forbids_groups():
    space = _space("case4", placement="disaggregated")
    cm = build_matrices(space)
    rm = build_model(space, slice_tables(space, cm, slice_groups(space), 3, full_decode=True))
    solver = RagSolver(space, rm, workers=1, time_limit_s=30)
    out, p, q, gap = solver.max_ratio(None)
    plan = solver.plan(out.values)
    assert all(len(g) == 1 for g in plan.placement) and gap == 0.0
    assert evaluate(space, plan).qps_per_chip * cm.q_scale >= p / q * (1 - 1e-9)
