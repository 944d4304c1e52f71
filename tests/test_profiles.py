"""Profile import rules P1-P7 (models/profiles.py), one test per rule, on hand-checkable tables."""

import numpy as np
import pytest

from models import (EncodeCost, ModelError, ProfileError, RerankCost, RetrievalCost, TableCost, inference_table,
                    read_inference_csv, read_retrieval_csv, retrieval_table)
from tests.conftest import INFERENCE_HEADER, RETRIEVAL_HEADER, write_csv


def _inf(tmp_path, rows):
    return read_inference_csv(write_csv(tmp_path / "p.csv", INFERENCE_HEADER, rows))


def test_p1_units_and_power_of_two_filter(tmp_path):
    cols = _inf(tmp_path, [("m", "decode", 4, 8, "X", 1, 1, 2.0), ("m", "decode", 4, 8, "X", 1, 3, 2.5),
                           ("m", "decode", 4, 8, "X", 3, 1, 1.0), ("m", "decode", 4, 8, "X", 1, 2, 3.0)])
    t = inference_table(cols, model="m", stage="decode", hardware="X", seq_len=8, dec_steps=4)
    assert t.unit_counts == (1,)  # 3 chips dropped
    c = t.curve(1)
    assert c.batch.tolist() == [1, 2]  # batch 3 dropped
    assert c.latency_s.tolist() == pytest.approx([4 * 2.0 / 1000, 4 * 3.0 / 1000])  # dec_steps * time_ms / 1000


def test_p2_pareto_per_chip_count(tmp_path):
    # batch 1 and 2 take the same time: batch 1 is dominated (same latency, lower QPS/chip).
    # batch 8 (16 ms, 500 qps) is dominated by batch 4 (8 ms, 500 qps).
    cols = _inf(tmp_path, [("m", "prefill", 1, 8, "X", 1, 1, 5.0), ("m", "prefill", 1, 8, "X", 1, 2, 5.0),
                           ("m", "prefill", 1, 8, "X", 1, 4, 8.0), ("m", "prefill", 1, 8, "X", 1, 8, 16.0)])
    c = inference_table(cols, model="m", stage="prefill", hardware="X", seq_len=8).curve(1)
    assert c.batch.tolist() == [2, 4]


def test_p3_replica_scaling_doubles_batch_keeps_latency(tmp_path):
    cols = _inf(tmp_path, [("m", "prefill", 1, 8, "X", 1, 1, 5.0), ("m", "prefill", 1, 8, "X", 2, 1, 3.0),
                           ("m", "prefill", 1, 8, "X", 2, 2, 4.0)])
    t = inference_table(cols, model="m", stage="prefill", hardware="X", seq_len=8).scaled_to(8)
    assert t.unit_counts == (1, 2, 4, 8)
    assert t.curve(8).batch.tolist() == [4, 8]
    assert t.curve(8).latency_s.tolist() == pytest.approx([0.003, 0.004])
    with pytest.raises(ModelError, match="no data for 3 chips"):
        t.curve(3)


def test_p4_lookup_below_inside_above():
    from models import BatchCurve
    c = BatchCurve(np.array([2.0, 4.0, 16.0]), np.array([1.0, 1.5, 4.0]))
    assert c.lookup(1) == 1.0  # below the smallest row: the smallest row's latency
    assert c.lookup(4) == 1.5  # a row
    assert c.lookup(64) == pytest.approx(4.0 * 64 / 16)  # above: sequential full batches
    assert c.lookup(8) == pytest.approx(4.0 * 8 / 16)  # a gap: scaled from the largest row, as the artifact does


def test_p5_retrieval_floor_server_table_and_queries(tmp_path):
    cols = read_retrieval_csv(write_csv(tmp_path / "r.csv", RETRIEVAL_HEADER, [
        ("d", "cpu", 2, 1, 10.0), ("d", "cpu", 2, 2, 12.0), ("d", "cpu", 4, 1, 6.0), ("d", "cpu", 4, 2, 7.0)]))
    cost = RetrievalCost(retrieval_table(cols, database="d", chips_per_server=4), queries_per_retrieval=2)
    assert cost.latency_s(3, 1) == pytest.approx(0.012)  # 3 servers -> 2-server table; 1 request = 2 queries
    assert cost.latency_s(7, 1) == pytest.approx(0.007)  # 7 servers -> 4-server table
    scaled = cost.scaled_to(8)
    assert scaled.latency_s(9, 2) == pytest.approx(0.007)  # 8-server table = 4-server rows, batch doubled
    with pytest.raises(ModelError, match="at least 2 servers"):
        cost.latency_s(1, 1)


def test_p6_rerank_passages_to_queries(tmp_path):
    cols = _inf(tmp_path, [("r", "prefill", 1, 16, "X", 1, b, t) for b, t in ((1, 1.0), (4, 2.0), (8, 3.0),
                                                                              (16, 5.0))])
    t = inference_table(cols, model="r", stage="prefill", hardware="X", seq_len=16)
    cost = RerankCost(t, top_k=8)
    assert cost.query_curve(1).batch.tolist() == [1, 2]  # passages 8 and 16 -> queries 1 and 2
    assert cost.latency_s(1, 1) == pytest.approx(0.003)
    assert cost.latency_s(1, 4) == pytest.approx(0.005 * 2)
    few = RerankCost(t, top_k=32)  # no row reaches 32 passages: the largest row, scaled
    assert few.latency_s(1, 1) == pytest.approx(0.005 * 32 / 16)


def test_p7_encoder_formula(tmp_path):
    cols = _inf(tmp_path, [("e", "prefill", 1, 128, "X", 1, b, t) for b, t in ((1, 1.0), (2, 1.5), (4, 2.0))])
    one = inference_table(cols, model="e", stage="prefill", hardware="X", seq_len=128).curve(1)
    enc = EncodeCost(one, n_vec=10)
    # E = 2 chips: scaled batches 2, 4, 8; work 10 chunks -> b* = 8 (largest < 10): L_1(4) * 10 / 8.
    assert enc.latency_s(2, 1) == pytest.approx(0.002 * 10 / 8)
    # 3 requests -> 30 chunks, b* = 8 again.
    assert enc.latency_s(2, 3) == pytest.approx(0.002 * 30 / 8)
    # E = 8: scaled batches 8, 16, 32; 10 chunks -> b* = 8: L_1(1) * 10 / 8.
    assert enc.latency_s(8, 1) == pytest.approx(0.001 * 10 / 8)
    # E = 16: scaled 16, 32, 64, none below 10 -> the smallest, 16: L_1(1) * 10 / 16.
    assert enc.latency_s(16, 1) == pytest.approx(0.001 * 10 / 16)
    assert enc.max_batch(1) == 1 and enc.max_batch(8) == 4  # ceil(4 / (10/8)) = 4


def test_missing_rows_name_what_exists(tmp_path):
    cols = _inf(tmp_path, [("m", "prefill", 1, 8, "X", 1, 1, 5.0)])
    with pytest.raises(ProfileError, match=r"No profile rows for .*m prefill on Y.*Available.*To fix"):
        inference_table(cols, model="m", stage="prefill", hardware="Y", seq_len=8)


def test_bad_files(tmp_path):
    with pytest.raises(ProfileError, match="does not exist"):
        read_inference_csv(tmp_path / "nope.csv")
    write_csv(tmp_path / "x.csv", ["a", "b"], [(1, 2)])
    with pytest.raises(ProfileError, match="lacks columns"):
        read_inference_csv(tmp_path / "x.csv")
    write_csv(tmp_path / "y.csv", INFERENCE_HEADER, [("m", "prefill", 1, 8, "X", 1, 1, "fast")])
    with pytest.raises(ProfileError, match="non-numeric"):
        read_inference_csv(tmp_path / "y.csv")


def test_table_cost_interface(tmp_path):
    cols = _inf(tmp_path, [("m", "prefill", 1, 8, "X", 1, 1, 5.0), ("m", "prefill", 1, 8, "X", 1, 2, 6.0)])
    cost = TableCost(inference_table(cols, model="m", stage="prefill", hardware="X", seq_len=8))
    assert cost.max_batch(1) == 2 and cost.unit_counts() == (1,)
    assert cost.latency_s(1, np.array([1, 2, 4])).tolist() == pytest.approx([0.005, 0.006, 0.012])
