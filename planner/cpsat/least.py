"""O4 over the slices: the least-weight plan meeting an SLO with a QPS floor (``docs/model.md``, "Capacity").

The weight W is the sweep's objective (chips, rent, purchase or power; C12). The QPS floor is C8 (pre-decode
cycle cap per slice, decode rows filtered); O4 minimises W, then TTFT, on a slice; the answer is the least
(W, TTFT) over slices, then the least TPOT. Slices are visited by increasing U4 weight lower bound, then TTFT
lower bound, and the scan stops once the bound exceeds the best W, which proves the minimum. A time limit returns
the best plan found, unproven, with the relative weight it might still save as its gap.
"""

from __future__ import annotations

from planner.cpsat.solve import OutOfTime
from planner.cpsat.sweep import SliceSweep, Step, slice_chip_bounds

__all__ = ["least_weight"]


def least_weight(sweep: SliceSweep, qps: float) -> Step | None:
    """O4 on every slice of ``sweep`` (whose SLO carries the QPS floor ``qps``); None if no slice has a plan and
    the scan finished (a stopped scan without a plan is a ``Step`` with ``stopped`` and no plan)."""
    e = sweep.tables.ttft_cap
    lb = slice_chip_bounds(sweep.space, sweep.tables, qps)
    order = sorted((s for s in sweep.slices if lb[s.bi] < float("inf") and (e is None or s.ttft_lb <= e)),
                   key=lambda s: (lb[s.bi], s.ttft_lb, s.bi))
    best, ties, proven, left = None, [], True, None
    try:
        for i, sl in enumerate(order):
            if best is not None and lb[sl.bi] > best[0].w:
                break  # U4: no later slice can weigh less
            if best is not None and lb[sl.bi] == best[0].w and sl.ttft_lb > best[0].ttft:
                continue  # it can at most tie on weight, and cannot reach the best TTFT
            left = lb[sl.bi]
            sweep.say(f"least {sweep.tables.objective}: slice {i + 1}/{len(order)} (B={sl.batch}, >= "
                      f"{lb[sl.bi]:.0f})")
            res = sweep.o4(sl, e)
            if res is None:
                continue
            proven &= res[2]
            key = (res[0].w, res[0].ttft)
            if best is None or key < (best[0].w, best[0].ttft):
                best, ties = res, [sl]
            elif key == (best[0].w, best[0].ttft):
                ties.append(sl)
        if best is None:
            return None
        finals = []
        for sl in ties:  # then the least TPOT among the slices that tie
            cost, values, ok = sweep.o4_tpot(sl, best[0].w, best[0].ttft)
            proven &= ok
            finals.append((cost.l, sl.bi, sl, cost, values))
        *_, sl, cost, values = min(finals, key=lambda f: f[:2])
        proven = proven and sweep.exact
        floor = min(lb[s.bi] for s in order)  # U4 over every slice: what an unproven answer might still save
        gap = 0.0 if proven or not cost.w else max(0.0, 1.0 - floor / cost.w)
        return Step(sweep.plan(sl, values), cost, proven, gap)
    except OutOfTime:
        if best is None:
            return Step(None, None, False, float("inf"), stopped=True)
        bound = left if left is not None else best[0].w
        gap = max(0.0, 1.0 - bound / best[0].w) if best[0].w else 0.0
        return Step(sweep.plan(ties[0], best[1]), best[0], False, gap, stopped=True)
