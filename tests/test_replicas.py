"""Any chip count, any batch (models/replicas.py): rules A1-A4 by hand, monotonicity, never above pow2."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from models import BatchCurve, ProfileTable, TableCost
from models.replicas import ReplicaCost, any_count_cost
from planner import build_space, load_instance
from tests.conftest import INSTANCES

ONE = BatchCurve(np.array([1.0, 2.0, 4.0]), np.array([0.010, 0.012, 0.020]))
TWO = BatchCurve(np.array([1.0, 2.0, 4.0]), np.array([0.006, 0.007, 0.011]))


def test_a1_interpolates_between_rows_and_keeps_p4_outside():
    assert ONE.interp(3) == pytest.approx(0.016)  # halfway between 0.012 and 0.020, not P4's 0.015
    gap = BatchCurve(np.array([2.0, 8.0]), np.array([0.010, 0.016]))
    assert gap.interp(4) == pytest.approx(0.008)  # a power of two in a gap: min(P4 0.008, I 0.012)
    assert gap.interp(5) == pytest.approx(0.013)  # elsewhere: the interpolation
    assert ONE.interp(1) == pytest.approx(0.010)
    assert ONE.interp(8) == pytest.approx(0.040)  # P4 beyond the largest row


def test_a2_a3_replicas_and_best_unit():
    cost = ReplicaCost({1: ONE, 2: TWO})
    # 3 chips: 3 replicas of 1 chip (busiest gets ceil(4/3) = 2 -> 12 ms) or 1 replica of 2 (4 -> 11 ms).
    assert cost.latency_s(3, 4) == pytest.approx(0.011)
    # 5 chips, batch 5: 5 x 1 chip -> 1 each = 10 ms; 2 x 2 chips -> ceil(5/2) = 3 -> I(TWO, 3) = 9 ms.
    assert cost.latency_s(5, 5) == pytest.approx(0.009)
    assert cost.max_batch(5) == 5 * 4


def test_a4_memory_bound_decode():
    cost = ReplicaCost({1: ONE}, memory_bound=True)
    assert cost.max_batch(3) == 12
    assert cost.latency_s(3, 12) == pytest.approx(0.020)
    with pytest.raises(Exception, match="cannot serve batch 13 on 3 chips"):
        cost.latency_s(3, 13)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 40))
def test_monotone_in_chips_and_batch(n, b):
    cost = ReplicaCost({1: ONE, 2: TWO})
    assert cost.latency_s(n + 1, b) <= cost.latency_s(n, b) + 1e-15
    assert cost.latency_s(n, b + 1) >= cost.latency_s(n, b) - 1e-15


@pytest.mark.parametrize("case", ["case2", "case4"])
def test_never_above_pow2_at_pow2_points(case):
    inst = load_instance(INSTANCES / "rago-oss" / f"{case}.yaml")
    pw = build_space(inst)
    an = build_space(inst.model_copy(update={"search": inst.search.model_copy(
        update={"chips": "any", "batches": "any", "chip_options": {}})}))
    for s in pw.stages:
        if s == "retrieval":
            continue
        for n in pw.stage_chip_options[s]:
            B = np.array(pw.batch_options if s != "decode" else pw.decode_batch_options(n), dtype=float)
            assert np.all(an.cost(s, n).latency_s(n, B) <= pw.cost(s, n).latency_s(n, B) * (1 + 1e-12))


def test_any_count_cost_wraps_tables():
    table = ProfileTable("t", "chips", {1: ONE, 2: TWO})
    wrapped = any_count_cost(TableCost(table), TableCost(table.scaled_to(8)))
    assert wrapped.latency_s(8, 4) == pytest.approx(TableCost(table.scaled_to(8)).latency_s(8, 4))
