"""The exact time base (planner/exact.py, rules Q1-Q4)."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.errors import ModelError
from planner.exact import (MAX_PS, decode_cap_ps, ps_to_s, qps_cycle_cap_ps, rate, ratio_rank, to_ps, tpot_s,
                           ttft_cap_ps)
from tests.conftest import examples

seconds = st.floats(1e-9, 1e4, allow_nan=False)


def test_quantum_and_limit():
    assert int(to_ps(0.015)) == 15_000_000_000 and int(to_ps(0.0)) == 1  # Q1: whole ps, at least 1
    # Q1: a latency past 2^58 ps is refused, so sums of up to 31 stages stay inside int64
    assert 31 * MAX_PS < 2**63
    with pytest.raises(ModelError, match=r"stage latency of 4e\+05 s is beyond .* To fix"):
        to_ps(np.array([1.0, 4e5]))


@settings(max_examples=examples(300))
@given(seconds, st.integers(1, 4096), st.floats(1e-3, 1e6, allow_nan=False))
def test_caps_decide_like_the_reported_floats(bound, tokens, qps):
    """Q3: each cap is the largest integer whose reported float passes the bound."""
    k = ttft_cap_ps(bound)
    assert ps_to_s(k) <= bound < ps_to_s(k + 1)
    d = decode_cap_ps(bound, tokens)
    assert tpot_s(d, tokens) <= bound < tpot_s(d + 1, tokens)
    c = qps_cycle_cap_ps(tokens, qps)  # tokens stands in for a batch here
    assert rate(tokens, c + 1) < qps <= (rate(tokens, c) if c > 0 else float("inf"))


@settings(max_examples=examples(200))
@given(st.lists(st.tuples(st.integers(1, 10**6), st.integers(1, 10**17)), min_size=1, max_size=30))
def test_ratio_rank_is_exact(pairs):
    num = np.array([p[0] for p in pairs], dtype=np.int64)
    den = np.array([p[1] for p in pairs], dtype=np.int64)
    rank = ratio_rank(num, den)
    exact = [Fraction(int(a), int(b)) for a, b in pairs]
    for i in range(len(pairs)):
        for j in range(len(pairs)):
            assert (rank[i] < rank[j]) == (exact[i] > exact[j]) and (rank[i] == rank[j]) == (exact[i] == exact[j])


def test_ratio_rank_near_ties():
    big = 10**17  # three ratios within 1e-17 of 1, beyond float precision: ranked by exact arithmetic
    num, den = [big + 1, big, 2 * big], [big, big - 1, 2 * big]
    want = sorted({Fraction(a, b) for a, b in zip(num, den)}, reverse=True)
    assert list(ratio_rank(np.array(num, dtype=np.int64), np.array(den, dtype=np.int64))) == [
        want.index(Fraction(a, b)) for a, b in zip(num, den)]
    assert len(want) == 3
