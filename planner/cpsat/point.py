"""One frontier point (F1-F2, ``docs/model.md``) over the slices of one or several sweeps.

Several sweeps are the variants of a design (K5): their slices are one set, searched by the same rules, so a
point is the best plan of any variant, proven like any other. A sweep's slices keep their bounds and optima
between points (U2), so the points of a frontier come from successive calls with decreasing TTFT bounds.
Ties that survive F2 and O3 go to the earlier sweep (the design's order), then the lower slice index.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING, Sequence

from planner.cpsat.solve import OutOfTime
from planner.frontier import tie_floor

if TYPE_CHECKING:  # pragma: no cover
    from planner.cpsat.sweep import SliceSweep, Step

__all__ = ["union_point"]


def _gap(live: list, ratio: Fraction) -> float:
    """Relative QPS/chip still possible: the largest slice bound over the point's ratio, minus 1."""
    top = max([s.ub for _, _, s in live if not s.dead] + [ratio])
    return float(top / ratio) - 1.0


def union_point(sweeps: Sequence["SliceSweep"], e: int | None, label: str = "") -> tuple[int, "Step"] | None:
    """The frontier point under TTFT <= e over every sweep's slices, with the index of the sweep whose plan it is;
    None if no plan has TTFT <= e."""
    from planner.cpsat.sweep import Step

    live = sorted(((k, w, s) for k, w in enumerate(sweeps) for s in w.slices
                   if not s.dead and (e is None or s.ttft_lb <= e)),
                  key=lambda m: (-m[2].ub, m[2].ttft_lb, m[0], m[2].bi))
    many = len(sweeps) > 1
    best, found, proven = None, [], True
    try:
        for k, w, sl in live:  # U2: slice optima still under e are free, and give the asks below a ratio to beat
            if sl.best is not None and (e is None or sl.best[0].ttft <= e):
                found.append((k, w, sl, sl.best))
                proven &= sl.best[2]
                best = sl.best[0].ratio if best is None else max(best, sl.best[0].ratio)
        for i, (k, w, sl) in enumerate(live):  # F1: r*(e), slices by decreasing bound, stop when none can beat it
            if best is not None and sl.ub <= best:
                break  # the rest can at most tie: F2 looks at them
            w.tighten(sl, e, None if best is None else tie_floor(best))  # U5 refines only what may reach the ties
            if sl.dead or (best is not None and sl.ub <= best):
                continue
            w.say(f"{label}best QPS/chip: slice {i + 1}/{len(live)} (B={sl.batch}"
                  + (f", variant {k + 1}/{len(sweeps)})" if many else ")"))
            res = w.o1(sl, e, best)
            if res is not None:
                found.append((k, w, sl, res))
                proven &= res[2]
                best = res[0].ratio if best is None else max(best, res[0].ratio)
        if best is None:
            return None
        floor = tie_floor(best)
        t_star, at = None, []
        tied = sorted(((k, w, s) for k, w, s in live if not s.dead and w.may_reach(s, floor)),
                      key=lambda m: (m[2].ttft_lb, m[0], m[2].bi))
        for i, (k, w, sl) in enumerate(tied):  # F2: the least TTFT among ties, slices by TTFT lower bound
            if t_star is not None and sl.ttft_lb > t_star:
                break
            w.tighten(sl, e)
            if sl.dead or not w.may_reach(sl, floor):
                continue
            low = w.limits.ttft_bound(sl.bi, floor, e)  # U6
            if low is None:
                w.lower(sl, floor, strict=True)
                continue
            if t_star is not None and low > t_star:
                continue
            w.say(f"{label}least TTFT at QPS/chip {float(best) * 1e12:.6g}: slice {i + 1}/{len(tied)}")
            res = w.o2(sl, e, floor, low)
            if res is None:
                continue
            proven &= res[2]
            if t_star is None or res[0].ttft < t_star:
                t_star, at = res[0].ttft, [(k, w, sl)]
            elif res[0].ttft == t_star:
                at.append((k, w, sl))
        finals = []
        for k, w, sl in at:  # F2: then the least TPOT, then the fewest chips
            cost, values, ok = w.o3(sl, t_star, floor)
            proven &= ok
            finals.append((cost.l, cost.n, -cost.ratio, k, sl.bi, w, sl, cost, values))
        *_, k, _, w, sl, cost, values = min(finals, key=lambda f: f[:5])
        exact = all(x.exact for x in sweeps)
        return k, Step(w.plan(sl, values), cost, proven and exact, 0.0 if proven and exact else
                       _gap(live, cost.ratio))
    except OutOfTime:
        if not found:
            return 0, Step(None, None, False, math.inf, stopped=True)
        k, w, sl, (cost, values, _) = max(found, key=lambda f: (f[3][0].ratio, -f[3][0].ttft, -f[0]))
        return k, Step(w.plan(sl, values), cost, False, _gap(live, cost.ratio), stopped=True)
