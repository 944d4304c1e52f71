"""The versioned JSON contracts (docs/schema/*.json): real outputs of pareto (plain, design, exhaustive) and
capacity validate, and the schema refuses what the contract does not allow; the CSV of a frontier."""

import csv
import json

import jsonschema
import pytest
from referencing import Registry, Resource

from planner.cli import main
from tests.conftest import INSTANCES, ROOT

SCHEMAS = {p.stem: json.loads(p.read_text()) for p in (ROOT / "docs" / "schema").glob("*.json")}
REGISTRY = Registry().with_resources([(s["$id"], Resource.from_contents(s)) for s in SCHEMAS.values()])


def _valid(payload: dict, name: str) -> None:
    jsonschema.Draft202012Validator(SCHEMAS[name], registry=REGISTRY).validate(payload)


@pytest.mark.parametrize("args", [
    ["pareto", str(INSTANCES / "rago-oss" / "case4.yaml"), "--ttft-slo", "0.2"],
    ["pareto", str(INSTANCES / "paper" / "case1-8b.yaml"), "--solver", "exhaustive"],
    ["pareto", str(INSTANCES / "design" / "case1-knobs.yaml"), "--quality-min", "0.69"],
])
def test_frontier_outputs_validate(tmp_path, args):
    out = tmp_path / "f.json"
    assert main(args + ["--json", str(out), "--csv", str(tmp_path / "f.csv"), "--quiet"]) == 0
    payload = json.loads(out.read_text())
    _valid(payload, "frontier-v1")
    with open(tmp_path / "f.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["ttft_ps"]) for r in rows] == [p["ttft_ps"] for p in payload["points"]]
    bad = payload | {"points": [payload["points"][0] | {"chips": 0}]}
    with pytest.raises(jsonschema.ValidationError):
        _valid(bad, "frontier-v1")
    with pytest.raises(jsonschema.ValidationError):
        _valid(payload | {"schema": "ragplan.frontier/2"}, "frontier-v1")


def test_capacity_output_validates(tmp_path):
    out = tmp_path / "c.json"
    assert main(["capacity", str(INSTANCES / "priced" / "rag-70b-hyperscale.yaml"), "--qps", "500", "--json",
                 str(out), "--quiet"]) == 0
    _valid(json.loads(out.read_text()), "capacity-v1")


def test_design_output_validates_and_reports(tmp_path):
    from planner.report_html import report_html, result_kind

    out = tmp_path / "d.json"
    assert main(["design", str(INSTANCES / "design" / "case1-knobs.yaml"), "--ttft-slo", "0.2", "--quality-min",
                 "0.66", "--json", str(out), "--quiet"]) == 0
    payload = json.loads(out.read_text())
    _valid(payload, "design-v1")
    assert result_kind(payload) == "design"
    page = report_html(payload)
    assert page.count('"level": ') == sum(len(lv["frontier"]) for lv in payload["levels"]) and "knob_costs" in page
