"""Frontier rules F1-F3 (planner/frontier.py) against a brute-force statement of the definition."""

from fractions import Fraction

import numpy as np
from hypothesis import example, given, settings

from planner import pareto_indices
from planner.frontier import TIE_REL, candidates
from tests.conftest import examples
from tests.strategies import exact_clouds


def _brute(ttft, num, den, dec, chips):
    """F1-F3 literally: for e = inf, then the last TTFT - 1: the max ratio r*, the ties >= r* (1 - TIE_REL), the
    least TTFT among them, then the least TPOT, then the fewest chips, then the highest ratio."""
    ratio = [Fraction(a, b) for a, b in zip(num, den)]
    out, e = [], None
    while True:
        feas = [i for i in range(len(ttft)) if e is None or ttft[i] <= e]
        if not feas:
            return out[::-1]
        best = max(ratio[i] for i in feas)
        tied = [i for i in feas if ratio[i] >= best * (1 - TIE_REL)]
        t = min(ttft[i] for i in tied)
        out.append(min((i for i in tied if ttft[i] == t), key=lambda i: (dec[i], chips[i], -ratio[i], i)))
        e = t - 1


@settings(max_examples=examples(300))
@given(exact_clouds())
@example(([5, 5, 3], [2, 4, 1], [3, 6, 2], [7, 6, 9], [1, 2, 1]))  # equal ratios 2/3 = 4/6: TPOT decides
def test_matches_the_definition(cloud):
    ttft, num, den, dec, chips = cloud
    got = pareto_indices(ttft, num, den, dec, chips)
    assert list(got) == _brute(ttft, num, den, dec, chips)
    assert set(got) <= set(candidates(ttft, num, den, dec, chips))
    assert list(np.asarray(ttft)[got]) == sorted(np.asarray(ttft)[got])


def test_near_ties_do_not_make_points():
    # ratio 1 at TTFT 10 and 1 + 1e-12 at TTFT 20: one point (the faster one), the ratios tie (F2)
    got = pareto_indices([10, 20], [10**12, 10**12 + 1], [10**12, 10**12], [1, 1])
    assert list(got) == [0]
    # 1 + 1e-6 is no tie: two points
    assert list(pareto_indices([10, 20], [10**6, 10**6 + 1], [10**6, 10**6], [1, 1])) == [0, 1]


def test_first_bound_and_empty():
    assert list(pareto_indices([10, 20], [1, 2], [1, 1], [1, 1], ttft_cap_ps=15)) == [0]
    assert pareto_indices([], [], [], []).size == 0


def test_huge_integers_stay_exact():
    big = 10**18
    num = np.array([big + 1, big], dtype=object)
    assert list(pareto_indices([1, 1], num, np.array([big, big], dtype=object), [5, 1])) == [1]  # tie: TPOT
