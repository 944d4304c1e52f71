"""CP-SAT tables, slice model, exact thresholds and bounds (planner/cpsat)."""

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from planner import Plan, build_space, evaluate, load_instance
from planner.cpsat import (
    Ask,
    Clock,
    SliceModel,
    SliceSweep,
    SliceTables,
    SolverSettings,
    best_rows,
    build_ask,
    build_tables,
    capped_rows,
    fast_rows,
    run_ask,
    slice_bounds,
    slice_groups,
    slice_tables,
)
from planner.cpsat.model import cycle_unit
from planner.cpsat.rows import chip_caps
from planner.cpsat.tables import DecodeBook
from planner.exact import ratio_rank
from planner.exhaustive import iter_schedules
from planner.schema import Slo
from tests.conftest import INSTANCES, examples


def _space(case, **search):
    inst = load_instance(INSTANCES / "rago-oss" / f"{case}.yaml")
    return build_space(inst.model_copy(update={"search": inst.search.model_copy(update=search)}))


def _sweep(space, slo=Slo()):
    return SliceSweep(space, slo, SolverSettings(), Clock(None))


def test_tables_are_the_evaluators_integers():
    space = _space("case4")
    st_ = build_tables(space, Slo())
    for bi in (0, 3, 7):
        tb = slice_tables(space, st_, slice_groups(space), bi)
        for g, rows in tb.groups.items():
            for n, t, o, w, x, *steps in rows[:10]:
                each = [int(space.latency_ps(s, int(o), int(tb.batch))) for s in g if s != "retrieval"]
                assert t == sum(each) and steps == each  # one batch per cycle without micro-batching
                assert n == o and w == n and x == 0  # one type: the option code is the count; chips weigh 1
        for j, t, w, step in tb.retrieval:
            assert t == step == int(space.latency_ps("retrieval", st_.buckets[j].servers, int(tb.batch)))


def test_decode_rows_pick_exactly():
    book = build_tables(_space("case1", batches="any"), Slo()).decode
    for B in (1, 7, 64, 300):
        for n, D, L, o, w in best_rows(book, B):
            i = int(np.flatnonzero(book.options == n)[0])
            ok = book.D[i] >= B
            best = max(zip(book.D[i][ok], book.L[i][ok]), key=lambda r: (Fraction(int(r[0]), int(r[1])), -r[1]))
            assert (D, L) == best and D >= B
        for n, D, L, o, w in fast_rows(book, B):
            i = int(np.flatnonzero(book.options == n)[0])
            assert L == book.L[i][book.D[i] >= B].min()


@settings(max_examples=examples(200))
@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(1, 10**12)), min_size=1, max_size=20),
       st.integers(1, 64), st.fractions(min_value=Fraction(1, 10**6), max_value=10**14), st.booleans())
def test_chip_caps_are_exact(rows, batch, k, strict):
    D = np.array([r[0] for r in rows], dtype=np.int64)
    L = np.array([r[1] for r in rows], dtype=np.int64)
    got = chip_caps(D, L, batch, k, strict, 1000)
    for d, l, c in zip(D, L, got):
        v = k * int(d) / (batch * int(l))
        want = (-(-v.numerator // v.denominator) - 1) if strict else v.numerator // v.denominator
        assert c == min(max(want, -1), 1000)


def test_capped_rows_keep_the_fastest_row_per_cap():
    space = _space("case1", batches="any")
    book = build_tables(space, Slo()).decode
    k = Fraction(3 * 10**9)
    rows = capped_rows(book, 4, k, space.max_chips, space.min_chips)
    for n in np.unique(rows[:, 0]):
        sub = rows[rows[:, 0] == n]
        assert np.all(np.diff(sub[:, 5]) != 0)  # column 5: the chip cap
        order = np.argsort(-sub[:, 5])
        assert np.all(np.diff(sub[order, 2]) < 0)  # more chips allowed <=> slower: a strict staircase


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(1, 64), st.integers(1, 40)), max_size=8), min_size=1, max_size=6),
       st.integers(1, 8), st.integers(1, 4000), st.integers(0, 12), st.integers(1, 12), st.integers(1, 16))
def test_capped_rows_equal_the_staircase_by_brute_force(options, batch, k_num, n_floor, top, need):
    """All options at once (prefix minima, float boundaries re-checked exactly) = per option, per row: N_cap, the
    rows with D >= need and N_cap >= max(n_d + 1, n_floor), each kept when faster than every row capped higher (ties:
    least L, then least D). Options without rows and equal ratios included."""
    Ds, Ls = [], []
    for rows in options:
        by_d = dict(sorted(rows))  # one latency per batch, batches ascending
        Ds.append(np.array(list(by_d), dtype=np.int64))
        Ls.append(np.array([10 * v for v in by_d.values()], dtype=np.int64))
    ranks = [ratio_rank(D, L) if len(D) else np.zeros(0, dtype=np.int64) for D, L in zip(Ds, Ls)]
    n = len(options)
    book = DecodeBook(np.arange(1, n + 1), np.arange(1, n + 1), np.arange(1, n + 1), Ds, Ls, [], [], ranks)
    k = Fraction(k_num, 7)
    want = []
    for i, (D, L) in enumerate(zip(Ds, Ls)):
        cand = []
        for d, l in zip(D.tolist(), L.tolist()):
            cap = min(int(k * d / (batch * l)), top)
            if d >= need and cap >= max(i + 2, n_floor):
                cand.append((-cap, l, d))
        best = None
        for c, l, d in sorted(cand):
            if best is None or l < best:
                want.append((i + 1, d, l, i + 1, i + 1, -c))
                best = l
    got = capped_rows(book, batch, k, top, n_floor, need)
    assert sorted(map(tuple, got.tolist())) == sorted(want)


def test_o1_is_the_slice_optimum_by_enumeration():
    space = _space("case4", placement="disaggregated")
    sweep = _sweep(space)
    best = {}
    for a in iter_schedules(space):
        for i in range(len(a.batch)):
            r = Fraction(int(a.cycle_batch[i]), int(a.cycle_ps[i]) * int(a.total_chips[i]))
            b = int(a.batch[i])
            best[b] = max(best.get(b, r), r)
    for sl in sweep.slices:
        res = sweep.o1(sl, None, None)
        assert res is not None and res[2] and res[0].ratio == best[sl.batch]


def test_bounds_are_valid_and_exact_when_tight():
    space = _space("case1")
    sweep = _sweep(space)
    ub, _, _ = slice_bounds(space, sweep.tables)
    for sl in sweep.slices:
        res = sweep.o1(sl, None, None)
        if res is not None:
            assert res[0].ratio <= ub[sl.bi]
            if sl.batch >= 64:  # retrieval-bound slices: U1 is the optimum itself
                assert res[0].ratio == ub[sl.bi]


def test_asks_never_edit_the_base_model():
    space = _space("case4")
    sweep = _sweep(space)
    sl = sweep.slices[4]
    base = sweep.base(sl)
    before = str(base.model.proto)
    rows = best_rows(sweep.tables.decode, sl.batch)
    for ask in (Ask(rows, "P", None, product=True), Ask(rows, "TTFT", 10**11, Fraction(10**10)),
                Ask(rows, "P", None, Fraction(10**9), strict=True, product=True)):
        a, exact = build_ask(base, ask)
        run_ask(a, SolverSettings(), Clock(None))
        assert exact
    assert str(base.model.proto) == before


def test_disaggregated_policy_forbids_groups():
    space = _space("case4", placement="disaggregated")
    sweep = _sweep(space)
    sl = sweep.slices[3]
    cost, values, proven = sweep.o1(sl, None, None)
    plan = sweep.plan(sl, values)
    assert all(len(g) == 1 for g in plan.placement) and proven
    assert evaluate(space, plan).ratio == cost.ratio


def test_cycle_unit_coarsens_only_past_int64():
    tables = SliceTables(4, {}, np.zeros((0, 2), dtype=np.int64), ())
    rows = np.array([[1, 8, 10**12], [2, 16, 3 * 10**11]], dtype=np.int64)
    for n_max, want in ((100, 1), (10**9, 1000)):
        m = SliceModel(None, tables, [], 1, n_max, c_pre_hi=10**12)
        tau, cd = cycle_unit(m, rows)
        assert tau == want and cd == [-(-4 * 10**12 // (8 * tau)), -(-4 * 3 * 10**11 // (16 * tau))]
        assert max(max(cd), -(-m.c_pre_hi // tau)) * n_max <= 2**62
    small = _sweep(_space("case4"))
    sl = small.slices[-1]
    assert cycle_unit(small.base(sl), best_rows(small.tables.decode, sl.batch))[0] == 1


def test_plan_of_a_solution_evaluates_to_its_cost():
    space = _space("case2", batches="any")
    sweep = _sweep(space)
    for sl in sweep.slices[::97]:
        res = sweep.o1(sl, None, None)
        if res:
            m = evaluate(space, sweep.plan(sl, res[1]))
            assert (m.ttft_ps, m.decode_ps, m.chips, m.ratio) == (res[0].ttft, res[0].l, res[0].n, res[0].ratio)
    assert isinstance(sweep.plan(sl, res[1]), Plan)
