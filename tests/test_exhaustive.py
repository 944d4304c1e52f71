"""Exhaustive search: hand-checked tiny spaces, the artifact's sweeps, SLO filters and failure modes."""

import ast
import csv
from pathlib import Path

import pytest

from planner import (
    EmptySpaceError,
    InfeasibleError,
    SpaceTooLargeError,
    build_space,
    exhaustive_frontier,
    load_instance,
)
from planner.exhaustive import count_schedules, exhaustive_min_chips, iter_schedules
from planner.schema import Slo
from tests.conftest import INSTANCES, tiny_instance_dict, write_yaml

VECTORS = Path(__file__).parent / "data"


def _tiny(tmp_path, profiles, **search):
    return build_space(load_instance(write_yaml(tmp_path / "t.yaml", tiny_instance_dict(profiles, **search))))


def test_tiny_frontier_by_hand(tmp_path, profiles):
    # B in {1, 2}; D in {1, 2, 4} with D >= B -> 5 schedules on 1 + 1 chips.
    # B=1: TTFT 5 + 10 ms, QPS = min(200, 100) = 100 -> 50 per chip, best TPOT at D=1 (1 ms).
    # B=2: TTFT 5 + 15 ms, QPS = min(400, 133.3) -> 66.7 per chip; D=2 (1.5 ms) beats D=4 on TPOT.
    res = exhaustive_frontier(_tiny(tmp_path, profiles))
    assert res.schedules_evaluated == 5
    got = [v for p in res.points
           for v in (p.metrics.ttft_s, p.metrics.qps_per_chip, p.metrics.tpot_s, p.plan.batch_per_stage["decode"])]
    assert got == pytest.approx([0.015, 50.0, 0.001, 1, 0.020, 200 / 3, 0.0015, 2])
    assert all(p.proven_optimal for p in res.points)


def test_slo_filters(tmp_path, profiles):
    sp = _tiny(tmp_path, profiles)
    assert [p.metrics.ttft_s for p in exhaustive_frontier(sp, Slo(ttft_max_s=0.016)).points] == pytest.approx([0.015])
    assert len(exhaustive_frontier(sp, Slo(tpot_max_s=0.0012)).points) == 1
    assert [p.metrics.qps for p in exhaustive_frontier(sp, Slo(qps_min=120)).points] == pytest.approx([400 / 3])


def test_infeasible_explains_the_binding_bound(tmp_path, profiles):
    with pytest.raises(InfeasibleError, match=r"fastest schedule's TTFT is 0.015 s > ttft_max_s 0.01 s. To fix"):
        exhaustive_frontier(_tiny(tmp_path, profiles), Slo(ttft_max_s=0.01))


def test_empty_space(tmp_path, profiles):
    with pytest.raises(EmptySpaceError, match=r"retrieval needs >= 2 chips.*To fix: raise search.total_chips.max"):
        _tiny(tmp_path, profiles, total_chips={"min": 1, "max": 1})
    # 1 + 1 chips at most (per-stage max 1): never in [3, 8], and the space says so when it is built
    with pytest.raises(EmptySpaceError, match=r"the most chips any placement can use is 2 .* below "
                                              r"search.total_chips.min = 3. To fix"):
        _tiny(tmp_path, profiles, total_chips={"min": 3, "max": 8})
    sp = _tiny(tmp_path, profiles, max_batch_size=2, max_decode_batch_size=1)  # D >= B = 2 impossible at B=2 ...
    assert [p.plan.batch_per_stage["decode"] for p in exhaustive_frontier(sp).points] == [1]  # ... B=1 remains


@pytest.mark.parametrize("case", [1, 4])
def test_enumerates_the_artifact_schedules(case):
    inst = load_instance(INSTANCES / "rago-oss" / f"case{case}.yaml")
    sp = build_space(inst.model_copy(update={"search": inst.search.model_copy(update={"placement": "disaggregated"})}))
    mine = set()
    for arr in iter_schedules(sp):
        for i in range(len(arr.batch)):
            mine.add((tuple(arr.chips[i].tolist()), int(arr.batch[i]), int(arr.decode_batch[i])))
    with (VECTORS / f"case{case}_disaggregated_all_points.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    groups = [g[0] for g in ast.literal_eval(rows[0]["collocation_strategy"])]
    theirs = {(tuple(0 if s == "retrieval" else int(r[f"num_chips_{s}"]) for s in groups),
               int(r["batch_size_request"]), int(r["batch_size_decode"])) for r in rows}
    assert mine == theirs
    # ... and the frontier is the Pareto set of the artifact's own rows (a float brute force here; ours is exact on
    # picosecond latencies, which moves values by < 1e-9 relative).
    pts = [(float(r["latency_s_ttft"]), float(r["qps_per_chip"])) for r in rows]
    want = sorted({p for p in pts if not any(t <= p[0] and q >= p[1] and (t, q) != p for t, q in pts)})
    got = [(p.metrics.ttft_s, p.metrics.qps_per_chip) for p in exhaustive_frontier(sp).points]
    assert [v for x in got for v in x] == pytest.approx([v for x in want for v in x], rel=1e-9)


@pytest.mark.parametrize("case, n_points", [("case1", 4), ("case2", 7), ("case4", 12)])
def test_shipped_cases(case, n_points):
    res = exhaustive_frontier(build_space(load_instance(INSTANCES / "rago-oss" / f"{case}.yaml")))
    assert len(res.points) == n_points
    ttft = [p.metrics.ttft_s for p in res.points]
    qpc = [p.metrics.qps_per_chip for p in res.points]
    assert ttft == sorted(ttft) and qpc == sorted(qpc) and len(set(qpc)) == len(qpc)


def _case(case, **search):
    inst = load_instance(INSTANCES / "rago-oss" / f"{case}.yaml")
    return build_space(inst.model_copy(update={"search": inst.search.model_copy(update=search)}))


def test_refuses_a_space_too_large_with_its_size():
    sp = _case("case4", chips="any", chip_options={})  # 64 counts per stage: about 10^10 schedules
    with pytest.raises(SpaceTooLargeError, match=r"would enumerate over \d.* schedules \(its limit is 1e\+08\)\. "
                                                 r"To fix: use --solver cpsat"):
        exhaustive_frontier(sp)
    with pytest.raises(SpaceTooLargeError):
        next(iter_schedules(sp))


@pytest.mark.parametrize("case, search", [("case4", {}), ("case1", {"batches": "any", "max_batch_size": 64})])
def test_count_equals_enumeration(case, search):
    sp = _case(case, **search)
    assert count_schedules(sp) == sum(len(a.batch) for a in iter_schedules(sp))


def test_min_chips_by_hand(tmp_path, profiles):
    # 2 chips always; QPS >= 120 needs B=2 (133.3 QPS); then the least TTFT (20 ms) and the least TPOT (D=2, 1.5 ms)
    res = exhaustive_min_chips(_tiny(tmp_path, profiles), Slo(qps_min=120))
    m = res.point.metrics
    assert (m.chips, m.ttft_s, m.tpot_s, res.point.plan.batch_per_stage["decode"]) == (2, 0.02, 0.0015, 2)
