"""The CLI's promise on bad input: exit code 2, exactly one line on stderr with "To fix:", never a traceback.

A corpus of bad instance files (tests/data/bad/, each breaking tests/data/good-analytical.yaml once) runs through
every command; bad option lists run against valid instances; and a property test mutates valid instances at
random (dropped or renamed keys, swapped types, extreme numbers, NaN/inf, unicode) and accepts only success or
the one-line error."""

import contextlib
import copy
import io
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.cli import main
from tests.conftest import INSTANCES, examples

DATA = Path(__file__).parent / "data"
GOOD = str(DATA / "good-analytical.yaml")
CASE4 = str(INSTANCES / "rago-oss" / "case4.yaml")
BAD = sorted((DATA / "bad").glob("*.yaml"))
SOLVE_ONLY = {"infeasible-slo.yaml"}  # loads and builds; only planning finds nothing


def _run(capsys, argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse exits by itself
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(code, err, argv):
    lines = err.strip().splitlines()
    assert code == 2, (argv, code, err)
    assert len(lines) == 1 and lines[0].startswith("ragplan: error:") and "To fix:" in lines[0], (argv, err)
    assert "Traceback" not in err and len(lines[0]) < 1000, argv


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    """Plan JSONs for ``evaluate``: a valid plan, a whole frontier, and broken ones."""
    d = tmp_path_factory.mktemp("plans")
    frontier = d / "frontier.json"
    assert main(["pareto", GOOD, "--quiet", "--json", str(frontier)]) == 0
    data = json.loads(frontier.read_text())
    assert len(data["points"]) > 1
    point = data["points"][0]
    files = {"plan": point, "frontier": data, "list": [1, 2], "missing-keys": {"placement": point["placement"]},
             "decode-zero": point | {"batch_per_stage": point["batch_per_stage"] | {"decode": 0}},
             "bad-placement": point | {"placement": [["decode"], ["prefill"], ["retrieval"]]},
             "string-chips": point | {"chips_per_stage": {k: str(v) for k, v in point["chips_per_stage"].items()}}}
    out = {k: d / f"{k}.json" for k in files}
    for k, v in files.items():
        out[k].write_text(json.dumps(v))
    (d / "not-json.json").write_text("{placement: ")
    out["not-json"] = d / "not-json.json"
    return out


@pytest.mark.parametrize("path", BAD, ids=[p.name for p in BAD])
@pytest.mark.parametrize("command", ["pareto", "min-chips", "space", "costs", "evaluate", "compare", "simulate"])
def test_every_bad_file_through_every_command(capsys, plans, path, command):
    if path.name in SOLVE_ONLY and command not in ("pareto", "min-chips", "compare"):
        return
    argv = {"pareto": ["pareto", path, "--quiet"], "min-chips": ["min-chips", path, "--qps-min", "1", "--quiet"],
            "space": ["space", path], "costs": ["costs", path, "--stage", "prefill"],
            "evaluate": ["evaluate", path, plans["plan"]], "compare": ["compare", path, "--quiet"],
            "simulate": ["simulate", path, "--plan", plans["plan"], "--rate", "1", "--duration", "1", "--quiet"]}[command]
    code, _, err = _run(capsys, argv)
    _one_line(code, err, argv)


def test_the_corpus_is_large_enough():
    assert len(BAD) >= 40


BAD_OPTIONS = [
    [], ["nosuchcommand"], ["pareto"],
    ["pareto", GOOD, "--ttft-max-s", "-1"], ["pareto", GOOD, "--ttft-max-s", "nan"],
    ["pareto", GOOD, "--ttft-max-s", "inf"], ["pareto", GOOD, "--ttft-max-s", "abc"],
    ["pareto", GOOD, "--ttft-max-s", "0"], ["pareto", GOOD, "--qps-min", "-5"], ["pareto", GOOD, "--qps-min", "1e300"],
    ["pareto", GOOD, "--tpot-max-s", "0"], ["pareto", GOOD, "--time-limit-s", "-1"],
    ["pareto", GOOD, "--time-limit-s", "0"], ["pareto", GOOD, "--workers", "0"], ["pareto", GOOD, "--seed", "-1"],
    ["pareto", GOOD, "--json", "{tmp}"], ["pareto", GOOD, "--json", "{tmp}/"],
    ["pareto", GOOD, "--json", "/proc/nope/out.json"], ["pareto", GOOD, "--plot", "{tmp}/out.txt"],
    ["pareto", GOOD, "--plot", "{tmp}"], ["pareto", GOOD, "--chips", "bad"], ["pareto", GOOD, "--solver", "magic"],
    ["pareto", CASE4, "--accelerator", "XPU-A"], ["pareto", GOOD, "--accelerator", "XPU-Z"],
    ["pareto", GOOD, "--ttft-max-s", "1e-9"], ["pareto", CASE4, "--solver", "exhaustive", "--chips", "any"],
    ["pareto", CASE4, "--time-limit-s", "1e-6"], ["pareto", "{tmp}/missing.yaml"], ["pareto", "{tmp}"],
    ["min-chips", GOOD, "--quiet"], ["min-chips", GOOD, "--qps-min", "1e9", "--quiet"],
    ["min-chips", CASE4, "--qps-min", "300", "--time-limit-s", "1e-6"],
    ["costs", GOOD, "--stage", "nope"], ["costs", GOOD, "--stage", "decode", "--units", "0"],
    ["costs", GOOD, "--stage", "decode", "--batches", "-1"], ["costs", GOOD, "--stage", "decode", "--units", "1e30"],
    ["evaluate", GOOD, "{tmp}/missing.json"], ["evaluate", GOOD, "@not-json"], ["evaluate", GOOD, "@list"],
    ["evaluate", GOOD, "@missing-keys"], ["evaluate", GOOD, "@frontier"],
    ["evaluate", GOOD, "@frontier", "--point", "99"], ["evaluate", GOOD, "@frontier", "--point", "fastest"],
    ["evaluate", GOOD, "@decode-zero"], ["evaluate", GOOD, "@bad-placement"], ["evaluate", GOOD, "@string-chips"],
    ["evaluate", GOOD, "@plan", "--point", "0"],
    ["validate", "--profiles", "{tmp}/nowhere", "--no-findings"], ["validate", "--json", "{tmp}"],
    ["pareto", GOOD, "--burst", "0"], ["pareto", GOOD, "--burst", "x"], ["pareto", GOOD, "--burst", "6"],
    ["pareto", GOOD, "--ttft-p99-slo", "0"], ["pareto", GOOD, "--ttft-p99-slo", "1", "--quiet"],
    ["pareto", GOOD, "--ttft-p99-slo", "1", "--rate", "-1"], ["pareto", GOOD, "--ttft-p99-slo", "1", "--rate", "1e9"],
    ["compare", GOOD, "--baseline", "nope"], ["compare", GOOD, "--baseline-chips", "0"],
    ["compare", CASE4, "--baseline-chips", "3", "--quiet"], ["compare", CASE4, "--json", "{tmp}"],
    ["simulate", GOOD, "--rate", "1", "--duration", "1"], ["simulate", GOOD, "--plan", "@plan", "--rate", "1"],
    ["simulate", GOOD, "--plan", "@plan", "--rate", "1", "--duration", "0"],
    ["simulate", GOOD, "--plan", "@plan", "--rate", "0", "--duration", "1"],
    ["simulate", GOOD, "--plan", "@plan", "--trace", "{tmp}/none.txt", "--duration", "1"],
    ["simulate", GOOD, "--plan", "@not-json", "--rate", "1", "--duration", "1"],
    ["simulate", GOOD, "--plan", "@frontier", "--point", "99", "--rate", "1", "--duration", "1"],
    ["simulate", GOOD, "--plan", "@plan", "--rate", "1", "--duration", "1", "--json", "{tmp}"],
]


@pytest.mark.parametrize("argv", BAD_OPTIONS, ids=[" ".join(Path(a).name for a in x) or "(none)" for x in BAD_OPTIONS])
def test_bad_options(capsys, plans, tmp_path, argv):
    argv = [plans[a[1:]] if a.startswith("@") else a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = _run(capsys, argv)
    _one_line(code, err, argv)


def test_outputs_are_checked_before_solving(capsys, tmp_path):
    code, out, err = _run(capsys, ["pareto", CASE4, "--chips", "any", "--batches", "any", "--plot", tmp_path / "x.txt"])
    assert code == 2 and out == "" and "--plot" in err  # refused at once, not after a long solve


def test_evaluate_takes_its_own_output(capsys, plans, tmp_path):
    for argv in (["evaluate", GOOD, plans["plan"]], ["evaluate", GOOD, plans["frontier"], "--point", "1"],
                 ["evaluate", GOOD, plans["frontier"], "--point", "max-qps-per-chip"],
                 ["evaluate", GOOD, plans["frontier"], "--point", "min-ttft"]):
        code, out, err = _run(capsys, argv)
        assert code == 0 and "inside the search space" in out, (argv, err)
    cap = tmp_path / "cap.json"
    assert main(["min-chips", GOOD, "--qps-min", "10", "--quiet", "--json", str(cap)]) == 0
    code, out, _ = _run(capsys, ["evaluate", GOOD, cap])
    assert code == 0 and "inside the search space" in out


def test_closed_pipe_is_quiet(tmp_path):
    import subprocess
    import sys
    r = subprocess.run(f"{sys.executable} -m planner.cli pareto {CASE4} --json {tmp_path / 'f.json'} | head -1",
                       shell=True, capture_output=True, text=True)
    assert r.stdout.count("\n") == 1 and "Traceback" not in r.stderr and (tmp_path / "f.json").exists()


# -- mutations of valid instances --------------------------------------------------------------------------------

_BASE = yaml.safe_load(Path(GOOD).read_text())
_EXTREME = [0, -1, 2**63, 10**30, 1e308, -1e-300, float("nan"), float("inf"), "ünïcödé ☃", "", None, True, [], {},
            "8", 1.5]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))



def _mutate(draw, root, ops: list[str], values: list) -> None:
    """1-3 mutations in place under ``root``: a key or item dropped, a key renamed, or a value replaced."""
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(root) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = root
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        op = draw(st.sampled_from(ops))
        if op == "drop":
            parent.pop(key)
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["kind", "name", "max", "zz", "ü"]))] = parent.pop(key)
        else:
            parent[key] = draw(st.sampled_from(values))


@st.composite
def mutated(draw):
    d = copy.deepcopy(_BASE)
    _mutate(draw, d, ["drop", "rename", "value"], _EXTREME)
    return d


@settings(max_examples=examples(60))
@given(mutated())
def test_mutated_instances_succeed_or_say_one_line(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("mut") / "m.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    _each_plans_or_says_one_line([["space", path], ["pareto", path, "--quiet", "--time-limit-s", "20"]], data)


def _each_plans_or_says_one_line(argvs: list, data) -> None:
    for argv in argvs:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in argv])
            except SystemExit as exc:
                code = exc.code
        if code != 0:
            _one_line(code, err.getvalue(), (argv, data))


_DESIGN = yaml.safe_load((INSTANCES / "design" / "case1-knobs.yaml").read_text())


@st.composite
def mutated_designs(draw):
    """Mutations of the design example's ``design`` section (knobs, prompt, quality tables, floors)."""
    d = copy.deepcopy(_DESIGN)
    _mutate(draw, d["design"], ["drop", "value"], _EXTREME + [[0.5], ["x"], [True], {"when": {}, "value": 1}])
    return d


@settings(max_examples=examples(40))
@given(mutated_designs())
def test_mutated_designs_succeed_or_say_one_line(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("mutd") / "m.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    _each_plans_or_says_one_line([["pareto", path, "--quiet", "--time-limit-s", "20"],
                                  ["design", path, "--quiet", "--time-limit-s", "20", "--ttft-slo", "0.2"]], data)
