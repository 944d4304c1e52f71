"""Iterative retrieval (IR1-IR4): the stall model by hand, and the exhaustive search against every plan through the
evaluator."""

import itertools

import pytest

from planner import build_space, exhaustive_frontier, load_instance
from planner.cpsat import Clock, IterativeSweep, SliceSweep, SolverSettings, by_batch, sweep_for
from planner.errors import InstanceError
from planner.evaluate import check_plan, evaluate
from planner.schema import Plan, Slo
from tests.conftest import INSTANCES, tiny_instance_dict, write_yaml
from tests.crosscheck import evaluated_frontier

MS = 10**9


def _tiny(tmp_path, profiles, n=2, **search):
    data = tiny_instance_dict(profiles, **search)
    data["pipeline"]["retrievals_per_sequence"] = n
    return build_space(load_instance(write_yaml(tmp_path / "t.yaml", data)))


def _plan(b, d, it):
    return Plan(placement=(("retrieval",), ("prefill",), ("decode",)), chips_per_stage={"prefill": 1, "decode": 1},
                batch_per_stage={"retrieval": b, "prefill": b, "decode": d}, retrieval_servers=1, iterative_batch=it)


def test_stall_model_by_hand(tmp_path, profiles):
    # tiny profiles: retrieval 5 ms at b = 1, 2; prefill 10 / 15 ms at b = 1 / 2; decode 4 steps of 1 / 1.5 / 2 ms
    sp = _tiny(tmp_path, profiles)  # one iterative retrieval per sequence (n = 1)
    m = evaluate(sp, _plan(1, 2, 1))
    # L_it = 5 + 10 = 15 ms; M = 6 + 15 = 21 ms; decode serves 2D - b + 1 = 4 every 2M = 42 ms (95.2/s); its whole
    # decode ceil(2 D M / 4) = 21 ms. Retrieval's group: 5 + 5 ms per request; prefill's: 10 + 10 ms -> 50/s.
    assert (m.decode_ps, m.bottleneck_batch, m.bottleneck_cycle_ps) == (21 * MS, 1, 20 * MS)
    assert m.bottleneck == ("prefill",) and m.tpot_s == pytest.approx(21e-3 / 4)
    assert m.group_qps[2] == pytest.approx(4 / 42e-3)
    m = evaluate(sp, _plan(1, 2, 2))
    # b = 2: R' = 2; L_it = 5 + 15 = 20 ms; M = 26 ms; decode 3 every 52 ms (57.7/s), whole decode 104/3 ms;
    # prefill's group: 2 x 10 + 15 = 35 ms per 2 requests (57.1/s), the bottleneck
    assert m.decode_ps == -(-4 * 26 * MS // 3) and (m.bottleneck_batch, m.bottleneck_cycle_ps) == (2, 35 * MS)
    assert m.group_qps[2] == pytest.approx(3 / 52e-3)
    assert check_plan(sp, _plan(1, 2, 2)) == []


def test_plan_errors(tmp_path, profiles):
    sp = _tiny(tmp_path, profiles)
    with pytest.raises(InstanceError, match="iterative batch 4 > decode batch 2: it would never fill.*To fix"):
        evaluate(sp, _plan(1, 2, 4))
    with pytest.raises(InstanceError, match="gives no iterative_batch.*To fix"):
        evaluate(sp, _plan(1, 2, None))


def _every_plan(sp):
    out = []
    for placement in sp.placements:
        for codes in itertools.product(*[sp.group_chip_options(g, placement) or (0,) for g in placement]):
            total = sum(codes)
            if not sp.min_chips <= total <= sp.max_chips:
                continue
            chips = {s: c for g, c in zip(placement, codes) for s in g if s != "retrieval"}
            for b, it in itertools.product(sp.batch_options, sp.iterative_batch_options()):
                for d in sp.decode_batch_options(chips["decode"]):
                    if d >= max(b, it):
                        out.append(Plan(placement=placement, chips_per_stage=chips, iterative_batch=it,
                                        batch_per_stage={s: b for s in sp.pre_decode} | {"decode": d},
                                        retrieval_servers=int(sp.servers(total))))
    return out


def test_exhaustive_equals_every_plan():
    inst = load_instance(INSTANCES / "paper" / "case1-8b.yaml")
    inst = inst.model_copy(update={"pipeline": inst.pipeline.model_copy(update={"retrievals_per_sequence": 4}),
                                   "search": inst.search.model_copy(update={"max_batch_size": 16})})
    sp = build_space(inst)
    plans = _every_plan(sp)
    want = evaluated_frontier(sp, plans)
    res = exhaustive_frontier(sp)
    assert [(p.metrics.ttft_ps, p.metrics.ratio) for p in res.points] == want and len(want) > 1
    assert res.schedules_evaluated == len(plans)
    assert all(check_plan(sp, p.plan) == [] for p in res.points)


def test_check_plan_names_a_bad_iterative_batch(tmp_path, profiles):
    sp = _tiny(tmp_path, profiles)
    assert "iterative batch 3: not among [1, 2]" in " ".join(check_plan(sp, _plan(1, 4, 3)))
    once = build_space(load_instance(write_yaml(tmp_path / "o.yaml", tiny_instance_dict(profiles))))
    assert "retrieves once per sequence" in " ".join(check_plan(once, _plan(1, 2, 1)))


def test_too_many_iterative_columns_is_refused_with_the_numbers():
    """IR2 makes every (B, b_it) pair a column of the CP-SAT tables: an `any` batch grid of 1,024 would be 1,048,576
    columns (tables of about 7 GiB); the CP-SAT slices refuse them up front with the counts and what to change, 256 x
    256 still accepted. The sweeps of the same space (frontier, capacity) go by request batch and need no column
    (IR5)."""
    inst = load_instance(INSTANCES / "paper" / "case3-8b.yaml")
    wide = build_space(inst.model_copy(update={"search": inst.search.model_copy(update={"batches": "any"})}))
    assert by_batch(wide)
    assert isinstance(sweep_for(wide, Slo(), SolverSettings(), Clock(None)), IterativeSweep)
    with pytest.raises(InstanceError, match=r"1,024 x 1,024 = 1,048,576 columns.*max_batch_size to <= 256"):
        SliceSweep(wide, Slo(), SolverSettings(), Clock(None))
    ok = inst.model_copy(update={"search": inst.search.model_copy(update={"batches": "any", "max_batch_size": 256})})
    assert len(build_space(ok).iterative_columns()) == 65_536
