"""Scan model V1-V4: hand-computed bytes and latency, server minimum, monotonicity."""

import math

import pytest
from hypothesis import given, strategies as st

from models import ModelError
from models.catalog import cpu_server
from models.scan import Database, ScanCost

HOST = cpu_server("epyc-milan-96c")
PAPER_DB = Database("hyperscale", 64e9, 96, "ivf_pq", 0.001, 3, 4096)


def test_bytes_per_query_by_hand():
    shard = 64e9 / 16
    upper = 4096 + 0.001 * 4096**2  # top level all scanned; level 2: 0.1% of 4096^2 centroids
    assert PAPER_DB.bytes_per_query(16) == pytest.approx((upper + 0.001 * shard) * 96)
    assert Database("ctx", 1e4, 1536, "brute_force").bytes_per_query(1) == 1e4 * 1536


def test_latency_roofline_by_hand():
    cost = ScanCost(PAPER_DB, HOST)
    mq = PAPER_DB.bytes_per_query(16)
    assert cost.latency_s(16, 1) == pytest.approx(mq / 18e9)  # one core per query
    assert cost.bound(16, 1) == "per-core scan"
    assert cost.latency_s(16, 96) == pytest.approx(96 * mq / (0.8 * 460e9))  # memory bandwidth binds
    assert cost.bound(16, 96) == "memory bandwidth"
    q8 = ScanCost(PAPER_DB, HOST, queries_per_retrieval=8)
    assert q8.latency_s(16, 12) == pytest.approx(cost.latency_s(16, 96))


def test_servers_must_hold_the_database():
    cost = ScanCost(PAPER_DB, HOST)
    assert cost.min_servers() == math.ceil(64e9 * 96 / (0.95 * 384 * 2**30)) == 16  # paper: >= 16 servers
    with pytest.raises(ModelError, match="needs >= 16 servers, got 8.*To fix"):
        cost.latency_s(8, 1)
    assert cost.scaled_to(20).server_counts() == tuple(range(16, 21))


@given(s=st.integers(16, 64), b=st.integers(1, 500))
def test_monotone(s, b):
    cost = ScanCost(PAPER_DB, HOST)
    assert cost.latency_s(s + 1, b) <= cost.latency_s(s, b) <= cost.latency_s(s, b + 1)
