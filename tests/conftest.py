"""Shared fixtures: tiny synthetic profiles and instances written to a temporary folder; hypothesis profiles.

Hypothesis runs derandomized in every default run (profile ``ci``: the same examples every time, no example
database, so a failure found once cannot make later runs fail), and every counterexample ever found is pinned
with ``@example``. ``RAGPLAN_HYPOTHESIS=fuzz`` (with ``RAGPLAN_EXAMPLES=N``) searches at random instead; see
docs/testing.md.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("fuzz", derandomize=False, database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("RAGPLAN_HYPOTHESIS", "ci"))


def examples(n: int) -> int:
    """A property test's example count: ``n``, or RAGPLAN_EXAMPLES when set (the longer randomized runs)."""
    return int(os.environ.get("RAGPLAN_EXAMPLES", n))

ROOT = Path(__file__).resolve().parents[1]
INSTANCES = ROOT / "instances"
INFERENCE_HEADER = ["model.name", "model.stage", "model.dec_steps", "model.seq_len_inference_prefill",
                    "hardware.name", "hardware.num_chips", "batch_size", "time_ms"]
RETRIEVAL_HEADER = ["db.name", "hardware.name", "hardware.num_servers", "batch_size", "time_ms"]


def write_csv(path: Path, header: list[str], rows: list[tuple]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def tiny_profiles(folder: Path) -> Path:
    """Hand-checkable profiles (times in ms): model m on hardware X, database d."""
    folder.mkdir(parents=True, exist_ok=True)
    inf = [("m", "prefill", 1, 8, "X", 1, 1, 10.0), ("m", "prefill", 1, 8, "X", 1, 2, 15.0),
           ("m", "decode", 4, 8, "X", 1, 1, 1.0), ("m", "decode", 4, 8, "X", 1, 2, 1.5),
           ("m", "decode", 4, 8, "X", 1, 4, 2.0),
           ("r", "prefill", 1, 16, "X", 1, 1, 2.0), ("r", "prefill", 1, 16, "X", 1, 2, 3.0),
           ("r", "prefill", 1, 16, "X", 1, 4, 4.0)]
    for name in ("main_llm_perf.csv", "rewriter_perf.csv", "encoder_perf.csv", "reranker_perf.csv"):
        write_csv(folder / name, INFERENCE_HEADER, inf)
    write_csv(folder / "retrieval_perf.csv", RETRIEVAL_HEADER,
              [("d", "cpu", 1, 1, 5.0), ("d", "cpu", 1, 2, 5.0), ("d", "cpu", 1, 4, 8.0)])
    return folder


def tiny_instance_dict(profiles: Path, **search) -> dict:
    """retrieval(d) -> prefill(m) -> decode(m): 2 chips, 1 server, batches up to 2."""
    return {
        "name": "tiny",
        "pipeline": {"stages": [
            {"kind": "retrieval", "database": "d"},
            {"kind": "prefill", "model": "m", "prompt_tokens": 8},
            {"kind": "decode", "model": "m", "prompt_tokens": 8, "decode_tokens": 4},
        ]},
        "cost": {"kind": "profiles", "profiles_dir": str(profiles), "hardware": "X",
                 "files": {"retrieval": ["retrieval_perf.csv"]}},
        "search": {"total_chips": {"min": 2, "max": 2}, "max_chips_per_stage": 1, "max_batch_size": 2,
                   "chips_per_server": 2} | search,
    }


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    return tiny_profiles(tmp_path / "profiles")


@pytest.fixture
def tiny_yaml(tmp_path: Path, profiles: Path) -> Path:
    return write_yaml(tmp_path / "tiny.yaml", tiny_instance_dict(profiles))
