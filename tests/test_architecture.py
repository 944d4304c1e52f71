"""Layering and public API: lower layers never import higher ones; ``__all__`` is the public surface."""

import ast
from pathlib import Path

import models
import planner

ROOT = Path(__file__).resolve().parents[1]
# Rank of each module; a module may import only modules of lower or equal rank ("models" is below planner).
RANK = {
    "models": 0,
    "planner.errors": 1, "planner.workload": 1.5, "planner.schema_design": 1.8, "planner.schema": 2, "planner.prices": 2, "planner.exact": 2, "planner.frontier": 2, "planner.plans": 2,
    "planner.dag": 3, "planner.costs": 3, "planner.loader": 3, "planner.burst": 3, "planner.knobs": 3.5, "planner.overlap": 3, "planner.overrides": 3.5, "planner.space_rows": 3.8, "planner.space": 4,
    "planner.evaluate": 5, "planner.counting": 5, "planner.schedules": 5.5, "planner.exhaustive": 6, "planner.cpsat": 6,
    "planner.verify": 7, "planner.pareto": 7, "planner.baseline": 7, "planner.capacity": 7, "planner.purchase": 7.5, "planner.explain": 7.5, "planner.validate": 7,
    "planner.report": 8, "planner.report_priced": 8, "planner.calibrate": 8, "planner.cli_common": 8, "planner.cli_calibrate": 9, "planner.cli_compare": 9, "planner.report_compare": 8, "planner.cli_simulate": 9, "planner.report_sim": 8, "planner.cli_design": 9, "planner.report_design": 8, "planner.report_html": 8, "planner.cli_sweep": 9, "planner.scenarios": 8,
    "planner.simulate": 7, "planner.percentile": 7.5, "planner.design": 7.5,
    "planner.cli": 9, "planner": 10,
}
NO_SOLVER = ("models", "planner.burst", "planner.evaluate", "planner.exhaustive", "planner.space", "planner.space_rows",
             "planner.schema", "planner.exact",
             "planner.frontier", "planner.plans", "planner.loader")


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts)


def _rank(name: str) -> int:
    while name not in RANK:
        name = name.rsplit(".", 1)[0]
    return RANK[name]


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_layers():
    bad = []
    for pkg in ("models", "planner"):
        for path in (ROOT / pkg).rglob("*.py"):
            me = _module(path)
            for imp in _imports(path):
                if imp.split(".")[0] in ("models", "planner") and _rank(imp) > _rank(me):
                    bad.append(f"{me} imports {imp}")
    assert bad == []


def test_evaluator_side_never_imports_ortools():
    for path in list((ROOT / "models").rglob("*.py")) + [ROOT / "planner" / f"{m}.py" for m in
                                                         ("evaluate", "exhaustive", "counting", "prices", "space", "space_rows", "schema", "costs", "burst", "schedules",
                                                          "exact", "frontier", "plans", "loader", "knobs", "overlap",
                                                          "schema_design")]:
        assert not any(i.startswith("ortools") for i in _imports(path)), path


def test_public_api_exists():
    for mod in (planner, models):
        assert mod.__all__ == sorted(mod.__all__)
        for name in mod.__all__:
            assert hasattr(mod, name), name


def test_public_api_has_the_planners_and_their_results():
    for name in ("cpsat_frontier", "min_chips", "exhaustive_frontier", "exhaustive_min_chips", "FrontierResult",
                 "CapacityResult", "FrontierPoint", "Metrics", "Plan", "Slo", "TimeLimitError", "SpaceTooLargeError",
                 "read_plan"):
        assert name in planner.__all__, name
    from planner import cpsat
    assert cpsat.__all__ == sorted(cpsat.__all__)
    assert all(hasattr(cpsat, n) for n in cpsat.__all__)


def test_time_limit_error_is_an_expected_error():
    assert issubclass(planner.TimeLimitError, planner.RagplanError)
    assert issubclass(planner.SpaceTooLargeError, planner.RagplanError)
    assert planner.RagplanError in planner.EXPECTED_ERRORS


def test_modules_stay_small():
    for pkg in ("models", "planner"):
        for path in (ROOT / pkg).rglob("*.py"):
            assert len(path.read_text().splitlines()) <= 450, path


def test_constraint_families_match_docs_one_to_one():
    """Every C-family of docs/model.md has an ``add_<family>`` in planner/cpsat/model.py (or micro.py, imported by
    it) whose docstring opens with its id, and every such function is documented there."""
    import re

    from planner.cpsat import model

    doc = (ROOT / "docs" / "model.md").read_text()
    section = doc[doc.index("## CP-SAT model"):doc.index("## Pareto sweep")]
    documented = set(re.findall(r"^- \*\*(C\d+)\*\*", section, flags=re.M))
    coded = {re.match(r"(C\d+)", f.__doc__).group(1) for name, f in vars(model).items()
             if name.startswith("add_") and callable(f)}
    assert documented == coded == {f"C{i}" for i in range(1, 19)}
