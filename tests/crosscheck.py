"""Cross-checks of the CP-SAT planner against exhaustive enumeration, shared by the property tests
(``tests/test_crosscheck.py``, deterministic in CI) and the longer randomized command (``bench/crosscheck.py``).

For one space: the frontier without SLO, with a TTFT bound and with a QPS floor set *exactly* at achievable values
(a frontier point's reported TTFT, a schedule's reported QPS), and min-chips at achievable QPS floors, CP-SAT and
enumeration must agree exactly: the same (TTFT, TPOT, chips) at every frontier point (QPS/chip within the tie
tolerance of F2, the only freedom the definition leaves), every CP-SAT point proven, and both solvers failing the
same way when nothing qualifies."""

from __future__ import annotations

import tempfile
from pathlib import Path

from planner import (
    EmptySpaceError,
    InfeasibleError,
    build_space,
    exhaustive_frontier,
    load_instance,
)
from planner.capacity import capacity, min_chips
from planner.cpsat import Clock
from planner.evaluate import plan_weight
from planner.exhaustive import exhaustive_min_chips, exhaustive_most_qps
from planner.frontier import tie_floor
from planner.pareto import cpsat_frontier
from planner.purchase import most_qps
from planner.schema import OBJECTIVES, Slo
from planner.space import Space
from tests.conftest import INFERENCE_HEADER, RETRIEVAL_HEADER, write_csv, write_yaml

SOLVER = dict(workers=1, seed=0)


def space_of(data) -> Space:
    """The space of a ``random_instances`` draw (profiles and YAML written to a fresh folder)."""
    inst, inf, ret = data
    with tempfile.TemporaryDirectory(prefix="ragplan-prop-") as tmp:  # profiles are read while the space is built
        folder = Path(tmp)
        for name in ("main_llm_perf.csv", "rewriter_perf.csv", "encoder_perf.csv", "reranker_perf.csv"):
            write_csv(folder / name, INFERENCE_HEADER, inf)
        write_csv(folder / "retrieval_perf.csv", RETRIEVAL_HEADER, ret)
        return build_space(load_instance(write_yaml(folder / "i.yaml", inst)))


def _outcome(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except (EmptySpaceError, InfeasibleError) as exc:
        return type(exc)


def frontier_key(res) -> list[tuple[int, int, int]]:
    return [(p.metrics.ttft_ps, p.metrics.decode_ps, p.metrics.chips) for p in res.points]


def assert_same_frontier(ex, cp, what: str) -> None:
    if isinstance(ex, type) or isinstance(cp, type):
        assert ex == cp, (what, ex, cp)
        return
    assert frontier_key(ex) == frontier_key(cp), (what, frontier_key(ex), frontier_key(cp))
    for a, b in zip(ex.points, cp.points):
        ra, rb = a.metrics.ratio, b.metrics.ratio
        assert ra >= tie_floor(rb) and rb >= tie_floor(ra), (what, float(ra), float(rb))
    assert all(p.proven_optimal and p.gap == 0.0 for p in cp.points), what


def assert_same_capacity(space: Space, slo: Slo, what: str) -> None:
    ex = _outcome(exhaustive_min_chips, space, slo)
    cp = _outcome(min_chips, space, slo=slo, **SOLVER)
    if isinstance(ex, type) or isinstance(cp, type):
        assert ex == cp, (what, ex, cp)
        return
    key = lambda r: (r.point.metrics.chips, r.point.metrics.ttft_ps, r.point.metrics.decode_ps)
    assert key(ex) == key(cp), (what, key(ex), key(cp))
    assert cp.point.proven_optimal, what


def priced_space_of(data) -> Space:
    """The space of a ``priced_instances`` draw (instance and price file written to a fresh folder)."""
    inst, prices = data
    tmp = Path(tempfile.mkdtemp(prefix="ragplan-priced-"))  # kept: derived instances re-read the price file
    write_yaml(tmp / "prices.yaml", prices)
    return build_space(load_instance(write_yaml(tmp / "i.yaml", inst)))


def assert_same_least(space: Space, slo: Slo, objective: str, what: str) -> None:
    """O4 under ``objective``: the same (weight, TTFT, TPOT) by CP-SAT and enumeration, CP-SAT proven."""
    ex = _outcome(exhaustive_min_chips, space, slo, objective=objective)
    cp = _outcome(capacity, space, slo=slo, objective=objective, **SOLVER)
    if isinstance(ex, type) or isinstance(cp, type):
        assert ex == cp, (what, ex, cp)
        return
    key = lambda r: (plan_weight(space, r.point.plan, objective), r.point.metrics.ttft_ps,
                     r.point.metrics.decode_ps)
    assert key(ex) == key(cp), (what, objective, key(ex), key(cp), ex.point.plan, cp.point.plan)
    assert cp.point.proven_optimal, what


def _free_frontier(space: Space):
    """The frontier without SLO by both solvers, compared; the enumeration's points (None: no plan)."""
    ex = _outcome(exhaustive_frontier, space, Slo())
    assert_same_frontier(ex, _outcome(cpsat_frontier, space, slo=Slo(), **SOLVER), "frontier")
    return None if isinstance(ex, type) else ex.points


def check_priced_space(space: Space) -> int:
    """The frontier and O4 under every objective at achievable QPS floors; returns how many comparisons ran."""
    pts = _free_frontier(space)
    if pts is None:
        return 1
    n = 1
    for i in sorted({0, len(pts) - 1}):
        m = pts[i].metrics
        for objective in OBJECTIVES:
            assert_same_least(space, Slo(qps_min=m.qps), objective, f"qps_min={m.qps!r}")
            assert_same_least(space, Slo(qps_min=m.qps / 3, ttft_max_s=m.ttft_s), objective, "third, TTFT")
            n += 2
    return n


def check_purchase(space: Space) -> int:
    """O5 (purchase) = enumeration at budgets of 1, 1.7 and 4 times the cheapest plan's purchase, and nothing just
    below it; returns how many comparisons ran (0: no plan at all)."""
    try:
        cheapest = capacity(space, slo=Slo(qps_min=1e-3), objective="capex")
    except (EmptySpaceError, InfeasibleError):
        return 0
    base = cheapest.point.metrics.capex_usd
    for budget in (base, base * 1.7, base * 4):
        got = most_qps(space, Slo(), budget, "capex", Clock(None))
        want = exhaustive_most_qps(space, Slo(), budget, "capex")
        assert got.point is not None and want is not None and got.proven_optimal, budget
        key = lambda p: (p.metrics.qps, plan_weight(space, p.plan, "capex"), p.metrics.ttft_ps,
                         p.metrics.decode_ps)
        assert key(got.point) == key(want), (budget, got.point.plan, want.plan)
    below = most_qps(space, Slo(), base * 0.999, "capex", Clock(None))
    assert below.point is None and "cheapest plan" in below.why
    return 4


def check_space(space: Space) -> int:
    """Every cross-check on one space; returns how many comparisons ran."""
    pts = _free_frontier(space)
    if pts is None:
        return 1
    n = 1
    picks = sorted({0, len(pts) // 2, len(pts) - 1})
    for i in picks:  # bounds exactly at achievable values
        m = pts[i].metrics
        for slo in (Slo(ttft_max_s=m.ttft_s), Slo(qps_min=m.qps), Slo(tpot_max_s=m.tpot_s),
                    Slo(ttft_max_s=m.ttft_s, qps_min=m.qps)):
            assert_same_frontier(_outcome(exhaustive_frontier, space, slo),
                                 _outcome(cpsat_frontier, space, slo=slo, **SOLVER), str(slo))
            n += 1
        assert_same_capacity(space, Slo(qps_min=m.qps), f"min-chips qps_min={m.qps!r}")
        assert_same_capacity(space, Slo(qps_min=m.qps / 4, ttft_max_s=m.ttft_s), "min-chips quarter")
        n += 2
    return n


def evaluated_frontier(space: Space, plans) -> list:
    """The exact Pareto set on (TTFT, QPS/chip) of ``plans`` through the evaluator: [(ttft_ps, ratio), ...]."""
    from planner.evaluate import evaluate

    pts = sorted({(m.ttft_ps, -m.ratio) for m in (evaluate(space, p) for p in plans)})
    out, best = [], None
    for t, neg in pts:
        if best is None or -neg > best:
            out.append((t, -neg))
            best = -neg
    return out
