"""The evaluator against the RAGO artifact's own test vectors, and by hand on a tiny instance."""

import ast
import csv
from pathlib import Path

import pytest

from planner import InstanceError, Plan, build_space, check_plan, evaluate, load_instance
from tests.conftest import INSTANCES, tiny_instance_dict, write_yaml

VECTORS = Path(__file__).parent / "data"


def _space(case, **search):
    inst = load_instance(INSTANCES / "rago-oss" / f"{case}.yaml")
    return build_space(inst.model_copy(update={"search": inst.search.model_copy(update=search)}))


def _vector_rows(case):
    with (VECTORS / f"case{case}_disaggregated_all_points.csv").open() as fh:
        return list(csv.DictReader(fh))


def _plan_of(space, r):
    return Plan(placement=tuple(tuple(g) for g in ast.literal_eval(r["collocation_strategy"])),
                chips_per_stage={s: int(r[f"num_chips_{s}"]) for s in space.stages if s != "retrieval"},
                batch_per_stage={s: int(r[f"batch_size_{s}"]) for s in space.stages},
                retrieval_servers=int(r["num_retrieval_servers"]))


@pytest.mark.parametrize("case", [1, 4])
def test_reproduces_every_vector_row(case):
    space = _space(f"case{case}", placement="disaggregated")
    rows = _vector_rows(case)
    assert len(rows) == {1: 110, 4: 2970}[case]
    for r in rows:
        plan = _plan_of(space, r)
        m = evaluate(space, plan)
        assert check_plan(space, plan) == []
        want = {"latency_s_ttft": m.ttft_s, "latency_s_tpot": m.tpot_s, "qps": m.qps, "qps_per_chip": m.qps_per_chip,
                "latency_s": m.e2e_latency_s, "num_chips_e2e": m.chips}
        want |= {f"qps_{s}": q for s, q in m.stage_qps.items()}
        for col, got in want.items():
            assert got == pytest.approx(float(r[col]), rel=1e-3), (col, r)
        assert list(m.bottleneck) == ast.literal_eval(r["qps_bound"])


def test_tiny_by_hand(tmp_path, profiles):
    space = build_space(load_instance(write_yaml(tmp_path / "t.yaml", tiny_instance_dict(profiles))))
    plan = Plan(placement=(("retrieval",), ("prefill",), ("decode",)), chips_per_stage={"prefill": 1, "decode": 1},
                batch_per_stage={"retrieval": 2, "prefill": 2, "decode": 4}, retrieval_servers=1)
    m = evaluate(space, plan)
    assert m.ttft_s == pytest.approx(0.005 + 0.015)  # retrieval 5 ms (batch 2 row) + prefill 15 ms
    assert m.tpot_s == pytest.approx(0.002)  # decode step at batch 4
    assert m.e2e_latency_s == pytest.approx(0.020 + 4 * 0.002)
    assert m.stage_qps["retrieval"] == pytest.approx(400) and m.stage_qps["prefill"] == pytest.approx(2 / 0.015)
    assert m.qps == pytest.approx(2 / 0.015) and m.bottleneck == ("prefill",)
    assert m.chips == 2 and m.qps_per_chip == pytest.approx(1 / 0.015)


def test_collocated_group_time_multiplexes(tmp_path, profiles):
    d = tiny_instance_dict(profiles)
    d["pipeline"]["stages"].insert(1, {"kind": "rerank", "model": "r", "passage_tokens": 16, "top_k": 2})
    space = build_space(load_instance(write_yaml(tmp_path / "t.yaml", d)))
    plan = Plan(placement=(("retrieval",), ("rerank", "prefill"), ("decode",)),
                chips_per_stage={"rerank": 1, "prefill": 1, "decode": 1},
                batch_per_stage={"retrieval": 1, "rerank": 1, "prefill": 1, "decode": 1}, retrieval_servers=1)
    m = evaluate(space, plan)
    q_rr, q_pf = 1 / 0.003, 1 / 0.010  # rerank: 1 query = 2 passages (3 ms); prefill 10 ms
    assert m.group_qps[1] == pytest.approx(1 / (1 / q_rr + 1 / q_pf))
    assert m.chips == 2  # the collocated group counts once
    assert m.ttft_s == pytest.approx(0.005 + 0.003 + 0.010)


def test_malformed_plans(tmp_path, profiles):
    space = build_space(load_instance(write_yaml(tmp_path / "t.yaml", tiny_instance_dict(profiles))))
    base = dict(placement=(("retrieval",), ("prefill",), ("decode",)), chips_per_stage={"prefill": 1, "decode": 1},
                batch_per_stage={"retrieval": 1, "prefill": 1, "decode": 1}, retrieval_servers=1)
    with pytest.raises(InstanceError, match="does not cover the stages"):
        evaluate(space, Plan(**base | {"placement": (("prefill",), ("retrieval",), ("decode",))}))
    with pytest.raises(InstanceError, match="no chip count"):
        evaluate(space, Plan(**base | {"chips_per_stage": {"decode": 1}}))
    with pytest.raises(InstanceError, match="micro-batching"):
        evaluate(space, Plan(**base | {"batch_per_stage": {"retrieval": 1, "prefill": 2, "decode": 2}}))
    outside = Plan(**base | {"batch_per_stage": {"retrieval": 2, "prefill": 2, "decode": 1}})
    assert any("decode batch 1" in w for w in check_plan(space, outside))
