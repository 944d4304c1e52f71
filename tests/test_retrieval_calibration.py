"""``ragplan calibrate retrieval`` (models.retrieval_calibration, V5-V7) on a small faiss index."""

import json

import numpy as np
import pytest

from models.measured import CalibrationError
from models.retrieval_calibration import RetrievalSpec, calibrate_retrieval, predict_scan_s
from planner.cli import main

pytest.importorskip("faiss")  # the [retrieval] extra; .ci/run installs faiss-cpu


def test_small_index_end_to_end(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["calibrate", "retrieval", "--small", "--quiet", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "recall@10" in text and "scan_bytes_per_s_per_core" in text and f"wrote {out}" in text
    rep = json.loads(out.read_text())
    assert rep["rows_compared"] == len(rep["rows"]) == 3 * 3 * len(rep["threads"])
    recall = [r["recall_at_10"] for r in rep["recall"]]
    assert 0 <= recall[0] <= recall[-1] <= 1 and recall[-1] > 0.5  # scanning more finds more
    bytes_ = [r["scan_bytes_per_query"] for r in rep["recall"]]
    assert bytes_ == sorted(bytes_) and bytes_[0] > 0
    f = rep["fitted"]
    assert f["scan_bytes_per_s_per_core"] > 1e7 and 0 <= f["parallel_efficiency"] <= 1
    # a smoke bound, loose enough for a loaded machine: the targets are measured at full size (docs/validation.md)
    assert rep["median_abs_error"] < 1.0
    for r in rep["rows"]:
        assert r["predicted_s"] == pytest.approx(r["measured_s"] * (1 + r["error"]), rel=1e-9)


def test_v6_waves_and_parallel_efficiency():
    q, m = np.array([1.0, 2.0, 3.0, 8.0]), np.full(4, 1e6)
    perfect = predict_scan_s(q, np.full(4, 2.0), m, 1e-5, 1e-6, 1e9, 1.0)
    assert perfect == pytest.approx(1e-5 + np.array([1, 1, 2, 4]) * (1e-6 + 1e-3))  # ceil(Q / C) waves
    serial = predict_scan_s(q, np.full(4, 2.0), m, 1e-5, 1e-6, 1e9, 0.0)
    assert serial == pytest.approx(1e-5 + q * (1e-6 + 1e-3))  # no parallel gain: one wave per query
    assert predict_scan_s(q, np.ones(4), m, 0.0, 0.0, 1e9, 0.5) == pytest.approx(q * 1e-3)


def test_refusals():
    with pytest.raises(CalibrationError, match="not a multiple of code_bytes"):
        calibrate_retrieval(RetrievalSpec(dim=30, code_bytes=8))
    with pytest.raises(CalibrationError, match="cannot train 2048 lists"):
        calibrate_retrieval(RetrievalSpec(vectors=1000))
