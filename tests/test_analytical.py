"""The analytical cost source end to end: paper instances, solver agreement, time shares, validation, CLI."""

import json

import numpy as np
import pytest

from planner import build_space, exhaustive_frontier, load_instance
from planner.cli import main
from planner.evaluate import evaluate, stage_latencies
from planner.pareto import cpsat_frontier
from planner.validate import validate
from tests.conftest import INSTANCES, write_yaml

PAPER = INSTANCES / "paper"
REQUIRED = ["case1-8b", "case1-70b", "case2-70b-1m", "case4-70b", "llm-only-70b", "llm-only-8b"]


@pytest.mark.parametrize("path", sorted(PAPER.glob("*.yaml")), ids=lambda p: p.stem)
def test_paper_instances_build(path):
    space = build_space(load_instance(path))
    assert space.instance.cost.kind == "analytical"
    if space.has_retrieval and "case1" in path.stem:
        assert space.min_chips == 64  # 64B x 96 B needs 16 servers of 4 chips


def test_required_instances_exist():
    assert all((PAPER / f"{n}.yaml").is_file() for n in REQUIRED)


@pytest.mark.parametrize("name", ["case1-8b", "llm-only-70b", "case2-70b-1m"])
def test_cpsat_equals_exhaustive_on_analytical_costs(name):
    space = build_space(load_instance(PAPER / f"{name}.yaml"))
    ex, cp = exhaustive_frontier(space), cpsat_frontier(space, workers=1, time_limit_s=30, seed=0)
    got = [(p.metrics.ttft_s, p.metrics.qps_per_chip) for p in cp.points]
    want = [(p.metrics.ttft_s, p.metrics.qps_per_chip) for p in ex.points]
    assert np.allclose(got, want, rtol=1e-6) and all(p.proven_optimal for p in cp.points)


def test_any_counts_served_directly_and_solved_exactly(tmp_path):
    data = load_instance(PAPER / "llm-only-8b.yaml").model_dump()
    data["search"] |= {"chips": "any", "batches": "any", "total_chips": {"min": 2, "max": 6},
                       "max_chips_per_stage": 4, "max_batch_size": 6, "max_decode_batch_size": 12}
    space = build_space(load_instance(write_yaml(tmp_path / "small.yaml", data)))
    assert space.stage_chip_options["prefill"] == (1, 2, 3, 4)
    ex, cp = exhaustive_frontier(space), cpsat_frontier(space, workers=1, time_limit_s=30, seed=0)
    assert np.allclose([(p.metrics.ttft_s, p.metrics.qps_per_chip) for p in cp.points],
                       [(p.metrics.ttft_s, p.metrics.qps_per_chip) for p in ex.points], rtol=1e-6)
    data["search"] |= {"chips": "pow2", "batches": "pow2"}
    pow2 = exhaustive_frontier(build_space(load_instance(write_yaml(tmp_path / "pow2.yaml", data))))
    best = max(p.metrics.qps_per_chip for p in ex.points)
    assert best >= max(p.metrics.qps_per_chip for p in pow2.points) * (1 - 1e-12)  # pow2 never beats any


def test_time_share_is_resource_time_per_request():
    space = build_space(load_instance(PAPER / "case1-8b.yaml"))
    p = max(exhaustive_frontier(space).points, key=lambda x: x.metrics.qps_per_chip)
    m = evaluate(space, p.plan)
    lat = stage_latencies(space, p.plan)
    use = {s: (p.plan.retrieval_servers * 4 if s == "retrieval" else p.plan.chips_per_stage[s])
              * lat[s] / p.plan.batch_per_stage[s] for s in space.stages}
    assert sum(m.time_share.values()) == pytest.approx(1.0)
    for s in space.stages:
        assert m.time_share[s] == pytest.approx(use[s] / sum(use.values()))


def test_genz_agreement_meets_targets():
    v = validate(with_findings=False)
    assert v["genz_rows_compared"] >= 140
    for stage in ("prefill", "decode"):
        assert v["genz_by_stage"][stage]["median_abs_error"] <= 0.20
    assert v["genz_max_error_ratio"] < 2.0
    assert v["retrieval"]["by_database"]["small_100k"]["median_abs_error"] < 0.05  # brute force: same physics


def test_paper_findings_are_computed():
    found = {f["id"]: f for f in validate()["findings"]}
    assert found["case1-8b"]["holds"] and found["case2-70b"]["holds"] and found["case4-70b"]["holds"]
    ratios = [r["max_qps_per_chip"] for r in found["case1-8b"]["data"]]
    assert ratios == sorted(ratios, reverse=True)
    assert all(set(f) >= {"claim", "criterion", "ours", "holds"} for f in found.values())


def test_cli_validate_costs_and_accelerator_override(tmp_path, capsys):
    out = tmp_path / "v.json"
    md = tmp_path / "v.md"
    assert main(["validate", "--no-findings", "--json", str(out), "--markdown", str(md)]) == 0
    data = json.loads(out.read_text())
    assert {"genz_median_abs_error", "genz_max_error_ratio"} <= set(data)
    assert f"{data['genz_rows_compared']} rows, median |error| {data['genz_median_abs_error']:.1%}" in md.read_text()
    assert main(["costs", str(PAPER / "case1-70b.yaml"), "--stage", "decode", "--units", "4", "--batches", "1",
                 "4096"]) == 0
    text = capsys.readouterr().out
    assert "memory bandwidth" in text and "does not fit" in text
    assert main(["pareto", str(PAPER / "llm-only-8b.yaml"), "--accelerator", "XPU-A", "--quiet", "--json",
                 str(tmp_path / "f.json")]) == 0
    point = json.loads((tmp_path / "f.json").read_text())["points"][0]
    assert sum(point["time_share"].values()) == pytest.approx(1.0)
    capsys.readouterr()
    assert main(["pareto", str(INSTANCES / "rago-oss" / "case1.yaml"), "--accelerator", "XPU-A"]) == 2
    assert "needs an analytical cost source" in capsys.readouterr().err


def test_model_that_fits_nowhere_is_one_line(tmp_path, capsys):
    data = load_instance(PAPER / "case1-405b.yaml").model_dump()
    data["search"]["max_chips_per_stage"] = 16
    data["cost"]["accelerator"] = "XPU-A"
    path = write_yaml(tmp_path / "big.yaml", data)
    assert main(["pareto", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not fit on up to 16 chips" in err and "To fix" in err


def test_missing_database_description_is_rejected(tmp_path, capsys):
    data = load_instance(PAPER / "case1-8b.yaml").model_dump()
    data["cost"]["databases"] = {}
    assert main(["space", str(write_yaml(tmp_path / "nodb.yaml", data))]) == 2
    assert "cost.databases.hyperscale_64b" in capsys.readouterr().err
