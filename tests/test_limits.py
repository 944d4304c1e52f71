"""U5 and U6 (``planner.cpsat.limits``) against every schedule of random pipelines: U5 never below the QPS/chip of a
plan under the TTFT bound, U6 never above the TTFT of a plan at the QPS/chip floor, and the chip range (U5's least
N, U6's most N) holding every qualifying plan."""

from fractions import Fraction

from hypothesis import given, settings

from planner import EmptySpaceError, InstanceError
from planner.cpsat.limits import SliceLimits
from planner.cpsat.tables import build_tables
from planner.exhaustive import iter_schedules
from planner.schema import Slo
from tests.conftest import examples
from tests.crosscheck import priced_space_of, space_of
from tests.strategies import overlapped, priced_instances, random_instances


def _schedules(space):
    """(placement, slice index, TTFT ps, QPS/chip as a Fraction, chips) of every schedule."""
    st = build_tables(space, Slo())
    out = []
    for arr in iter_schedules(space):
        p = space.placements[arr.placement_index]
        for col, t, cb, c, n in zip(arr.column, arr.ttft_ps, arr.cycle_batch, arr.cycle_ps, arr.total_chips):
            out.append((p, int(col), int(t), Fraction(int(cb), int(c) * int(n)), int(n)))
    return st, out


@settings(max_examples=examples(40), deadline=None)
@given(random_instances(budgets=True))
def test_u5_u6_hold_every_schedule(data):
    try:
        space = space_of(data)
    except (EmptySpaceError, InstanceError):
        return
    _check(space)


def _check(space):
    st, plans = _schedules(space)
    limits = SliceLimits(space, st)
    by_slice: dict[int, list] = {}
    for p, b, t, r, n in plans:
        by_slice.setdefault(b, []).append((p, t, r, n))
    for b, rows in by_slice.items():
        ttfts = sorted({t for _, t, _, _ in rows})
        for e in [None, *ttfts[:: max(1, len(ttfts) // 4)], ttfts[0] - 1]:
            under = [(p, t, r, n) for p, t, r, n in rows if e is None or t <= e]
            bound = limits.ratio_bounds(b, e)
            for p, t, r, n in under:
                assert p in bound and r <= bound[p], (b, e, p, r, bound.get(p))
                assert n >= limits.least_chips(b, e, {p})
            # F1 asks above a tie floor: a placement may keep a looser bound at most it, never one below a plan
            for above in sorted({r for _, _, r, _ in under})[-2:]:
                loose = limits.ratio_bounds(b, e, above * Fraction(999, 1000))
                for p, t, r, n in under:
                    assert p in loose and r <= loose[p], (b, e, above, p, r, loose.get(p))
            for f in sorted({r for _, _, r, _ in under})[-3:]:
                low = limits.ttft_bounds(b, f, e)
                for p, t, r, n in under:
                    if r >= f:
                        assert p in low and low[p] <= t, (b, e, f, p, t, low.get(p))
                        assert n <= limits.most_chips(b, f, {p})


@settings(max_examples=examples(30), deadline=None)
@given(overlapped())
def test_u5_u6_hold_with_retrieval_pipelined(data):
    """AP4: the bounds from the half terms hold every pipelined schedule."""
    try:
        space = space_of(data)
    except (EmptySpaceError, InstanceError):
        return
    _check(space)


@settings(max_examples=examples(30), deadline=None)
@given(random_instances(iterative=True))
def test_u5_u6_hold_with_iterative_retrieval(data):
    """IR3-IR4: groups' TTFT terms apart from their times per cycle, decode at the slice's least L_it, the levels'
    own caps: the bounds hold every schedule with iterative retrieval."""
    try:
        space = space_of(data)
    except (EmptySpaceError, InstanceError):
        return
    _check(space)


@settings(max_examples=examples(25), deadline=None)
@given(priced_instances())
def test_u5_u6_hold_on_priced_multi_type_pipelines(data):
    try:
        space = priced_space_of(data)
    except (EmptySpaceError, InstanceError):
        return
    _check(space)
