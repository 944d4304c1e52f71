"""The CLI contract: table + JSON + plot on success; one line and exit code 2 on expected failures."""

import json
import subprocess
import sys

import pytest

from planner.cli import main
from tests.conftest import INSTANCES, tiny_instance_dict, write_yaml

CASE4 = str(INSTANCES / "rago-oss" / "case4.yaml")


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_pareto_table_json_plot(tmp_path, capsys):
    out_json, out_png = tmp_path / "new" / "f.json", tmp_path / "new" / "f.png"  # folders are created
    code, out, _ = _run(capsys, "pareto", CASE4, "--json", str(out_json), "--plot", str(out_png), "--quiet")
    assert code == 0 and "12 Pareto points" in out and "QPS/chip" in out
    data = json.loads(out_json.read_text())
    assert data["instance"] == "rago-oss-case4" and data["solver"] == "cpsat" and data["complete"] is True
    assert isinstance(data["solve_seconds"], float) and len(data["points"]) == 12 and data["solves"] > 0
    keys = {"ttft_s", "tpot_s", "qps", "qps_per_chip", "chips", "retrieval_servers", "proven_optimal", "placement",
            "chips_per_stage", "batch_per_stage", "bottleneck", "gap", "time_share", "ttft_ps", "decode_ps",
            "bottleneck_batch", "bottleneck_cycle_ps"}
    assert keys <= set(data["points"][0])
    assert all(p["proven_optimal"] for p in data["points"])
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_exhaustive_solver_option(capsys):
    code, out, _ = _run(capsys, "pareto", CASE4, "--solver", "exhaustive", "--quiet")
    assert code == 0 and "solver exhaustive" in out and "6600 schedules evaluated" in out


def test_evaluate_and_space_commands(tmp_path, capsys, profiles):
    inst = write_yaml(tmp_path / "t.yaml", tiny_instance_dict(profiles))
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"placement": [["retrieval"], ["prefill"], ["decode"]],
                                "chips_per_stage": {"prefill": 1, "decode": 1},
                                "batch_per_stage": {"retrieval": 2, "prefill": 2, "decode": 4},
                                "retrieval_servers": 1}))
    code, out, _ = _run(capsys, "evaluate", str(inst), str(plan))
    assert code == 0 and "TTFT 0.02 s" in out and "inside the search space" in out
    code, out, _ = _run(capsys, "space", CASE4)
    # 8 splits, of which 2 collocate stages that share no chip option (rewriter {1,2,4} with prefill {32})
    assert code == 0 and "rewrite_prefill -> rewrite_decode" in out and out.count("placement ") == 6


def _one_line_exit_2(capsys, *argv):
    code, out, err = _run(capsys, *argv)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ragplan: error:") and "To fix" in lines[0], err
    assert "Traceback" not in err
    return lines[0]


def test_malformed_yaml(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text("name: [\n")
    assert "malformed YAML" in _one_line_exit_2(capsys, "pareto", str(p))


def test_unknown_stage_and_field(tmp_path, capsys, profiles):
    d = tiny_instance_dict(profiles)
    d["pipeline"]["stages"][1]["kind"] = "prefil"
    assert "prefil" in _one_line_exit_2(capsys, "pareto", str(write_yaml(tmp_path / "a.yaml", d)))
    d = tiny_instance_dict(profiles)
    d["slo"] = {"ttft_s": 1}
    assert "unknown field 'ttft_s'" in _one_line_exit_2(capsys, "pareto", str(write_yaml(tmp_path / "b.yaml", d)))


def test_missing_profile_rows(tmp_path, capsys, profiles):
    d = tiny_instance_dict(profiles)
    d["pipeline"]["stages"][1]["prompt_tokens"] = 4096
    msg = _one_line_exit_2(capsys, "pareto", str(write_yaml(tmp_path / "a.yaml", d)))
    assert "No profile rows for" in msg and "4096 tokens" in msg


def test_impossible_range_and_empty_space(tmp_path, capsys, profiles):
    d = tiny_instance_dict(profiles, total_chips={"min": 9, "max": 4})
    assert "min 9 > max 4" in _one_line_exit_2(capsys, "pareto", str(write_yaml(tmp_path / "a.yaml", d)))
    d = tiny_instance_dict(profiles, total_chips={"min": 3, "max": 8})
    assert "the most chips any placement can use is 2" in _one_line_exit_2(capsys, "pareto",
                                                                           str(write_yaml(tmp_path / "b.yaml", d)))


def test_infeasible_slo(capsys):
    assert "ttft_max_s" in _one_line_exit_2(capsys, "pareto", CASE4, "--ttft-max-s", "0.001", "--quiet")


def test_bad_option_is_one_line():
    r = subprocess.run([sys.executable, "-m", "planner.cli", "pareto", CASE4, "--solver", "magic"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "invalid choice" in r.stderr


@pytest.mark.parametrize("argv", [["pareto", "missing.yaml"], ["evaluate", CASE4, "missing-plan.json"]])
def test_missing_files(capsys, argv):
    assert "cannot read" in _one_line_exit_2(capsys, *argv)


def test_min_chips_text_json_and_errors(tmp_path, capsys):
    out_json = tmp_path / "new" / "cap.json"
    code, out, _ = _run(capsys, "min-chips", CASE4, "--qps-min", "300", "--ttft-max-s", "0.2", "--json", str(out_json))
    assert code == 0 and "fewest chips for QPS >= 300 (proven optimal" in out and "\n65 chips" in out
    data = json.loads(out_json.read_text())
    assert data["qps_min"] == 300 and data["plan"]["chips"] == 65 and data["plan"]["qps"] >= 300
    assert data["objective"] == "chips" and data["chips"] == 65 and data["proven_optimal"]
    assert sum(g["chips"] for g in data["accelerator_per_group"]) == 65
    assert data["plan"]["proven_optimal"] and data["plan"]["ttft_s"] <= 0.2
    code, out, err = _run(capsys, "min-chips", CASE4)
    assert code == 2 and out == "" and err.count("\n") == 1 and "To fix: pass --qps" in err
    code, _, err = _run(capsys, "min-chips", CASE4, "--qps-min", "5000", "--quiet")
    assert code == 2 and "qps_min 5000 cannot be reached within 96 chips" in err and "Traceback" not in err


def test_progress_lines_from_the_first_second(capsys):
    code, _, err = _run(capsys, "pareto", str(INSTANCES / "rago-oss" / "case1.yaml"), "--chips", "any", "--batches",
                        "any")
    lines = err.strip().splitlines()
    assert code == 0 and lines and all(line.startswith("[") and " s] " in line for line in lines)
    assert float(lines[0][1:].split(" s]")[0]) < 2.0  # the first line comes within the first seconds


CASE2_PAPER = str(INSTANCES / "rago-oss" / "case2-paper-1m.yaml")


def test_compare_against_the_llm_extension_baseline(tmp_path, capsys):
    out_json, out_png = tmp_path / "c.json", tmp_path / "c.png"
    code, out, _ = _run(capsys, "compare", CASE2_PAPER, "--baseline", "llm-extension", "--json", str(out_json),
                        "--plot", str(out_png), "--quiet")
    assert code == 0 and "against the llm-extension baseline" in out and "speedup in max QPS/chip" in out
    data = json.loads(out_json.read_text())
    ours, base = data["frontier"]["points"], data["baseline_frontier"]["points"]
    assert data["speedup_max_qps_per_chip"] == pytest.approx(max(p["qps_per_chip"] for p in ours)
                                                             / max(p["qps_per_chip"] for p in base))
    assert data["speedup_max_qps_per_chip"] > 1.0 and 0.0 <= data["min_ttft_reduction"] < 1.0  # B1 is in the space
    assert data["baseline_chips"] == 128 and all(p["chips"] == 128 for p in base)
    assert all(p["placement"][0] == ["encode", "retrieval", "prefill"] for p in base)
    assert all(p["chips_per_stage"]["prefill"] == p["chips_per_stage"]["decode"] == 64 for p in base)
    assert all(p["burst_requests"] == max(v for s, v in p["batch_per_stage"].items() if s != "decode") for p in ours)
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_explains_what_it_cannot_do(capsys):
    # case1 starts with retrieval: no group may start with it (G3), so no llm-extension layout exists
    code, _, err = _run(capsys, "compare", str(INSTANCES / "rago-oss" / "case1.yaml"), "--quiet")
    assert code == 2 and err.count("\n") == 1 and "To fix" in err
    code, _, err = _run(capsys, "compare", CASE2_PAPER, "--baseline-chips", "100", "--quiet")
    assert code == 2 and "--baseline-chips 100" in err and "To fix" in err


def test_burst_option(tmp_path, capsys, profiles):
    tiny = str(write_yaml(tmp_path / "t.yaml", tiny_instance_dict(profiles)))
    code, out, _ = _run(capsys, "pareto", tiny, "--burst", "2", "--json", str(tmp_path / "b.json"), "--quiet")
    assert code == 0
    pts = json.loads((tmp_path / "b.json").read_text())["points"]
    assert {p["burst_requests"] for p in pts} == {2}
    code, _, err = _run(capsys, "pareto", tiny, "--burst", "3", "--quiet")  # validated like the YAML
    assert code == 2 and "burst_requests 3 is not a power of two" in err and err.count("\n") == 1
    code, _, err = _run(capsys, "pareto", tiny, "--burst", "search", "--batches", "any", "--quiet")
    assert code == 2 and "micro_batching needs batches: pow2" in err
