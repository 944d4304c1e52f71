"""CP-SAT tables, slice model and bounds (planner/cpsat, planner/pareto.slice_bounds)."""

import numpy as np
import pytest

from planner import build_space, evaluate, load_instance
from planner.cpsat import CYCLE_RES_S, TIME_RES_S, RagSolver, build_matrices, build_model, slice_groups, slice_tables
from planner.pareto import SliceSweep, slice_bounds
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
            for n, lat_u, cyc_u in rows[:20]:
                true_lat = sum(float(cm.lat[s][int(np.searchsorted(cm.options[s], n)), bi]) for s in g
                               if s != "retrieval")
                assert lat_u * TIME_RES_S >= true_lat * (1 - 1e-12)  # rounded up
                assert cyc_u * cm.cycle_res_s >= true_lat * (1 - 1e-12)  # rounded up: throughput rounded down
        for j, lat_u, cyc_u in tb.retrieval:
            true_lat = float(cm.lat["retrieval"][j, bi])
            assert lat_u * TIME_RES_S >= true_lat * (1 - 1e-12) and cyc_u * cm.cycle_res_s >= true_lat * (1 - 1e-12)
        for n, D, cyc_u, _ in tb.decode[:20]:
            i = int(np.searchsorted(cm.dec_options, n))
            k = int(np.searchsorted(cm.dec_batches[i], D))
            assert cyc_u * cm.cycle_res_s >= cm.batches[bi] / cm.dec_q[i][k] * (1 - 1e-12)


def test_decode_rows_keep_only_undominated():
    space = _space("case1")
    cm = build_matrices(space)
    rows = slice_tables(space, cm, slice_groups(space), 0, full_decode=True).decode
    for n in np.unique(rows[:, 0]):
        sub = rows[rows[:, 0] == n]
        for i in range(len(sub) - 1):
            later = sub[i + 1:]
            assert not np.any((later[:, 2] <= sub[i, 2]) & (later[:, 3] <= sub[i, 3]))
    assert np.all(rows[:, 1] >= cm.batches[0])


@pytest.mark.parametrize("case", ["case1", "case2", "case4"])
def test_bound_is_valid_and_tight(case):
    space = _space(case)
    sweep = SliceSweep(space, Slo(), 1, 30, 0)
    ub, _, _ = slice_bounds(space, sweep.cm)
    for sl in sweep.slices:
        res = sweep.ratio(sl, None)
        if res is None:
            continue
        ratio = sweep.real(sl, res[0].values["P"])
        assert ratio <= ub[sl.bi]
        assert ub[sl.bi] <= ratio * 1.01  # exact up to rounding when TTFT is unbounded


def test_cycle_unit_coarsens_with_the_chip_budget():
    small = build_matrices(_space("case4"))
    big = build_matrices(_space("case4", chip_options={}, max_chips_per_stage=8192,
                                total_chips=IntRange(min=16, max=8192)))
    assert CYCLE_RES_S <= small.cycle_res_s <= 1e-11 and big.cycle_res_s > small.cycle_res_s


def test_policy_disaggregated_forbids_groups():
    space = _space("case4", placement="disaggregated")
    cm = build_matrices(space)
    rm = build_model(space, slice_tables(space, cm, slice_groups(space), 3, full_decode=True))
    solver = RagSolver(space, rm, workers=1, time_limit_s=30)
    out, gap = solver.max_ratio(None)
    plan = solver.plan(out.values)
    assert all(len(g) == 1 for g in plan.placement) and gap == 0.0
    assert evaluate(space, plan).qps_per_chip >= cm.batches[3] / (out.values["P"] * cm.cycle_res_s) * (1 - 1e-12)
