"""Priced resources: prices and price files, per-type weights in the evaluator, purchase (O5) against
enumeration, monotonicity of the least cost, explanations, and the priced CLI commands."""

import json
import math

import pytest
from hypothesis import given, settings

from planner import EmptySpaceError, InstanceError, build_space, load_instance
from planner.capacity import capacity
from planner.cli import main
from planner.costs import offer_types
from planner.errors import InfeasibleError
from planner.evaluate import evaluate, plan_weight
from planner.explain import explain
from planner.purchase import purchase
from planner.schema import Slo
from tests.conftest import INSTANCES, examples, write_yaml
from tests.crosscheck import check_purchase, priced_space_of
from tests.strategies import priced_instances

EXAMPLE = INSTANCES / "priced" / "rag-70b-hyperscale.yaml"


def _small(tmp_path, types=("H100", "H200"), prices=None, **search):
    """A small priced instance: llama3-1b RAG, dedicated retrieval servers, the given types offered."""
    data = {"name": "small", "pipeline": {"stages": [
        {"kind": "retrieval", "database": "db"},
        {"kind": "prefill", "model": "llama3-1b", "prompt_tokens": 512},
        {"kind": "decode", "model": "llama3-1b", "prompt_tokens": 512, "decode_tokens": 64}]},
        "cost": {"kind": "analytical", "accelerator": list(types), "calibration": "none",
                 "databases": {"db": {"vectors": 1e10, "bytes_per_vector": 64}}},
        "search": {"total_chips": {"min": 2, "max": 8}, "max_chips_per_stage": 4, "max_batch_size": 8,
                   "max_decode_batch_size": 32, "retrieval_servers": "decision", "max_retrieval_servers": 4}
                  | search}
    if prices is not None:
        write_yaml(tmp_path / "prices.yaml", prices)
        data["cost"]["prices"] = "prices.yaml"
    return load_instance(write_yaml(tmp_path / "small.yaml", data))


def test_catalog_prices_are_cited_estimates_and_the_price_file_overrides_field_by_field(tmp_path):
    space = build_space(_small(tmp_path, prices={"accelerators": {"H100": {"price_usd_per_hour": 1.5}},
                                                 "cpu_servers": {"epyc-milan-96c": {"power_w": 500}}}))
    h100, h200 = space.type_resources
    assert h100.price_usd_per_hour == 1.5 and h100.purchase_usd == 30000 and "user price file" in h100.source
    assert h200.price_usd_per_hour == 3.59 and "estimate" in h200.source
    (srv,) = space.server_resources
    assert srv.power_w == 500 and srv.price_usd_per_hour == 7.344


def test_evaluator_prices_each_group_by_its_type_and_dedicated_servers(tmp_path):
    space = build_space(_small(tmp_path))
    plan = capacity(space, slo=Slo(qps_min=50), objective="chips").point.plan
    m = evaluate(space, plan)
    price = {"H100": 2.69, "H200": 3.59}
    want = sum(n * price[plan.accelerator_per_stage[s]] for s, n in plan.chips_per_stage.items())
    want += plan.retrieval_servers * 7.344
    assert m.cost_usd_per_hour == pytest.approx(want, rel=1e-12)
    assert sum(m.rent_by_resource.values()) == pytest.approx(want, rel=1e-12)
    assert plan_weight(space, plan, "chips") == m.chips


def test_unpriced_types_fail_with_a_fix(tmp_path):
    space = build_space(load_instance(INSTANCES / "rago-oss" / "case1.yaml"))
    with pytest.raises(InstanceError, match="H100_GPU has no price_usd_per_hour.*To fix: give it in a price file"):
        capacity(space, slo=Slo(qps_min=10), objective="cost")
    assert evaluate(space, capacity(space, slo=Slo(qps_min=10)).point.plan).cost_usd_per_hour is None
    bad = write_yaml(tmp_path / "p.yaml", {"accelerators": {"H100": {"price_usd_per_hour": -1}}})
    code = main(["capacity", str(EXAMPLE), "--prices", str(bad), "--quiet"])
    assert code == 2


def test_a_per_type_budget_forces_a_mixed_fleet(tmp_path):
    free = capacity(build_space(_small(tmp_path)), slo=Slo(qps_min=400), objective="cost")
    cheap = min(free.point.metrics.chips_per_type, key=free.point.metrics.chips_per_type.get)
    limited = build_space(_small(tmp_path, max_chips_per_type={cheap: 1}))
    res = capacity(limited, slo=Slo(qps_min=400), objective="cost")
    assert res.point.metrics.chips_per_type.get(cheap, 0) <= 1 and res.point.proven_optimal
    assert res.point.metrics.cost_usd_per_hour >= free.point.metrics.cost_usd_per_hour


@settings(max_examples=examples(25))
@given(priced_instances())
def test_least_cost_is_monotone(data):
    """A higher target never costs less; a looser TTFT bound never costs more; more types never cost more."""
    try:
        space = priced_space_of(data)
        top = capacity(space, slo=Slo(qps_min=1e-3), objective="cost")
    except (EmptySpaceError, InstanceError, InfeasibleError):
        return
    q = top.point.metrics.qps

    def cost(sp, **slo):
        try:
            return plan_weight(sp, capacity(sp, slo=Slo(**slo), objective="cost").point.plan, "cost")
        except (InfeasibleError, EmptySpaceError):
            return math.inf
    a, b = cost(space, qps_min=q / 2), cost(space, qps_min=q)
    assert a <= b
    t = top.point.metrics.ttft_s
    assert cost(space, qps_min=q / 2, ttft_max_s=t * 2) <= cost(space, qps_min=q / 2, ttft_max_s=t)
    allowed = space.instance.cost.stage_accelerators.values()
    if len(space.types) > 1 and all(space.types[0] in ts for ts in allowed):  # the type alone: a subset
        try:
            w_alone = cost(build_space(offer_types(space.instance, space.types[:1])), qps_min=q / 2)
        except (EmptySpaceError, InstanceError):
            w_alone = math.inf  # the type alone cannot run the pipeline
        assert a <= w_alone  # the mixed catalog is a superset (prices of a type do not depend on the others)


@settings(max_examples=examples(20))
@given(priced_instances())
def test_purchase_equals_enumeration(data):
    try:
        space = priced_space_of(data)
    except (EmptySpaceError, InstanceError):
        return
    check_purchase(space)


def test_purchase_reports_each_type_and_the_mixed_fleet(tmp_path):
    r = purchase(_small(tmp_path), 200_000)
    assert [f.types for f in r.fleets] == [("H100",), ("H200",), ("H100", "H200")]
    best, mixed = r.best(False), r.best(True)
    assert mixed.point.metrics.qps >= best.point.metrics.qps  # a superset never buys less
    assert all(f.point.metrics.capex_usd <= 200_000 for f in r.fleets if f.point)


def test_explanation_names_the_binding_limits_and_their_marginal_value(tmp_path):
    space = build_space(_small(tmp_path))
    target = capacity(space, slo=Slo(qps_min=300), objective="cost").point.metrics.qps  # an achieved QPS: no room
    res = capacity(space, slo=Slo(qps_min=target), objective="cost")
    e = explain(space, res, slo=Slo(qps_min=target))
    qps = next(m for m in e.marginals if m.change.startswith("QPS"))
    looser = capacity(space, slo=Slo(qps_min=target / 1.1), objective="cost").point.metrics.cost_usd_per_hour
    assert qps.objective_after == pytest.approx(looser, rel=1e-12) and qps.proven
    line = next(x for x in e.binds + e.slack if x.startswith("QPS"))
    assert (line in e.binds) == (qps.delta < 0) and "+0.0% room" in line
    assert sum(e.time_share.values()) == pytest.approx(1.0)


def test_cli_capacity_objectives_sweep_and_purchase(tmp_path, capsys):
    out = tmp_path / "cap.json"
    assert main(["capacity", str(EXAMPLE), "--objective", "capex", "--json", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert data["objective"] == "capex" and data["proven_optimal"] and data["qps"] >= 1000
    assert {"cost_usd_per_hour", "capex_usd", "power_w", "ttft_s", "tpot_s", "chips", "retrieval_servers",
            "accelerator_per_group", "explanation"} <= set(data)
    assert data["plan"]["accelerator_per_stage"] and data["ttft_s"] <= 0.5 and data["tpot_s"] <= 0.05
    sweep, png = tmp_path / "sweep.json", tmp_path / "sweep.png"
    assert main(["capacity", str(EXAMPLE), "--sweep-qps", "250:1000:4", "--json", str(sweep), "--plot", str(png),
                 "--quiet"]) == 0
    pts = json.loads(sweep.read_text())["points"]
    costs = [p["cost_usd_per_hour"] for p in pts]
    assert len(pts) == 4 and costs == sorted(costs) and all(p["proven_optimal"] for p in pts)
    assert png.stat().st_size > 1000
    pur = tmp_path / "pur.json"
    assert main(["purchase", str(EXAMPLE), "--budget-usd", "2000000", "--json", str(pur), "--quiet"]) == 0
    p = json.loads(pur.read_text())
    assert len(p["fleets"]) == 4 and p["best_mixed"]["plan"]["qps"] >= p["best_single"]["plan"]["qps"]
    capsys.readouterr()
    assert main(["capacity", str(EXAMPLE), "--qps", "100000", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "max_retrieval_servers" in err and "To fix" in err


@pytest.mark.parametrize("argv, says", [
    (["capacity", str(EXAMPLE), "--sweep-qps", "1:2"], "is not A:B:N"),
    (["capacity", str(EXAMPLE), "--sweep-qps", "5:1:3"], "need 0 < A <= B"),
    (["capacity", str(EXAMPLE), "--plot", "x.png"], "--plot draws a --sweep-qps run"),
    (["purchase", str(EXAMPLE), "--budget-usd", "-5"], "is not an amount of USD"),
    (["capacity", str(EXAMPLE), "--accelerator", "H100,FOO"], "unknown accelerator 'FOO'"),
    (["capacity", str(INSTANCES / "paper" / "case1-8b.yaml"), "--qps", "10", "--objective", "capex"],
     "XPU-C has no purchase_usd"),
])
def test_priced_cli_errors_are_one_line_with_a_fix(capsys, tmp_path, monkeypatch, argv, says):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv + ["--quiet"])
    except SystemExit as exc:  # option errors exit from argparse itself
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and says in err and "To fix" in err and "Traceback" not in err
