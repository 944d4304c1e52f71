"""Pareto filter F1-F2 against a brute-force definition."""

import numpy as np
from hypothesis import given, settings

from planner import pareto_indices
from tests.strategies import point_clouds


@settings(max_examples=300, deadline=None)
@given(point_clouds())
def test_matches_brute_force(cloud):
    ttft, qpc, tpot = map(np.array, cloud)
    got = pareto_indices(ttft, qpc, tpot)
    n = len(ttft)
    nondominated = [i for i in range(n) if not any(
        ttft[j] <= ttft[i] and qpc[j] >= qpc[i] and (ttft[j] < ttft[i] or qpc[j] > qpc[i]) for j in range(n))]
    # F2: one point per distinct (ttft, qpc) among the non-dominated, with the lowest TPOT.
    want = {}
    for i in nondominated:
        key = (ttft[i], qpc[i])
        if key not in want or tpot[i] < tpot[want[key]]:
            want[key] = i
    assert sorted((ttft[i], qpc[i], tpot[i]) for i in got) == sorted(
        (ttft[i], qpc[i], tpot[i]) for i in want.values())
    assert list(ttft[got]) == sorted(ttft[got]) and list(qpc[got]) == sorted(qpc[got])


def test_empty():
    assert pareto_indices([], [], []).size == 0
