"""``ragplan sweep`` (``planner.scenarios``): the grid, resumability, failures per scenario without stopping the
sweep, the summary table, and the same results on local processes and on a local Ray instance."""

import csv
import json

import pytest
import yaml

from planner import InstanceError
from planner.cli import main
from planner.scenarios import load_spec, run_sweep, scenarios
from tests.conftest import INSTANCES

SPEC = {"name": "t", "instances": [str(INSTANCES / "paper" / "llm-only-8b.yaml"),
                                   str(INSTANCES / "paper" / "case1-8b.yaml")],
        "overrides": {"ttft_max_s": [None, 0.001], "accelerator": ["XPU-C", "H100"]}}


def _spec(tmp_path, data=SPEC):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_spec(path)


def _key(rows):
    return [(r["instance"], r["accelerator"], r["ttft_max_s"], r["status"], r.get("points"), r.get("best_qps_per_chip"))
            for r in rows]


def test_grid_resume_failures_and_table(tmp_path):
    spec, base = _spec(tmp_path)
    grid = scenarios(spec, base)
    assert len(grid) == 8 and len({s.id for s in grid}) == 8
    rows, solved = run_sweep(spec, base, tmp_path / "out", workers=2)
    assert solved == 8 and [r["status"] for r in rows].count("error") == 4  # TTFT <= 1 ms: nothing qualifies
    assert all("To fix" in r["error"] for r in rows if r["status"] == "error")
    ok = [r for r in rows if r["status"] == "ok"]
    for r in ok:
        got = json.loads((tmp_path / "out" / "scenarios" / f"{r['id']}.json").read_text())
        assert got["schema"] == "ragplan.frontier/1" and len(got["points"]) == r["points"]
        assert got["scenario"]["overrides"]["accelerator"] == r["accelerator"]
    with open(tmp_path / "out" / "summary.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [t["id"] for t in table] == [r["id"] for r in rows]
    again, solved_again = run_sweep(spec, base, tmp_path / "out", workers=2)  # resumable: nothing solved again
    assert solved_again == 0 and _key(again) == _key(rows)
    (tmp_path / "out" / "scenarios" / f"{ok[0]['id']}.row.json").unlink()  # one result lost: only it is solved
    assert run_sweep(spec, base, tmp_path / "out", workers=1)[1] == 1


def test_ray_backend_gives_the_local_results(tmp_path):
    pytest.importorskip("ray")
    spec, base = _spec(tmp_path, SPEC | {"overrides": {"accelerator": ["XPU-C", "H100"]}})
    local, _ = run_sweep(spec, base, tmp_path / "local", workers=1)
    ray_rows, solved = run_sweep(spec, base, tmp_path / "ray", backend="ray")
    assert solved == 4 and _key(ray_rows) == _key(local)


def test_spec_errors_and_cli(tmp_path, capsys):
    with pytest.raises(InstanceError, match="match no file"):
        spec, base = _spec(tmp_path, SPEC | {"instances": ["nowhere/*.yaml"]})
        scenarios(spec, base)
    with pytest.raises(InstanceError, match="invalid sweep spec"):
        _spec(tmp_path, SPEC | {"overrides": {"chips": ["many"]}})
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC | {"overrides": {"accelerator": ["XPU-C"]}}))
    assert main(["sweep", str(spec_path), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "2 scenarios, 2 solved now" in out and (tmp_path / "o" / "summary.png").stat().st_size > 5_000
    assert main(["sweep", str(tmp_path / "missing.yaml")]) == 2


def test_unreachable_ray_address_fails_at_once(tmp_path, capsys):
    pytest.importorskip("ray")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC))
    assert main(["sweep", str(spec_path), "--backend", "ray", "--address", "127.0.0.1:1", "--out",
                 str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Ray cluster answers there" in err[0] and "To fix" in err[0]
