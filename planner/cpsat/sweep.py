"""The slices of a space and the exact objectives on them (``docs/model.md``, "CP-SAT model", O1-O4, U1-U6).

The request batch B is the only decision every pre-decode group shares, so the problem splits into slices, one
small model per B (C1-C10, ``planner.cpsat.model``). A slice plan costs K = N max(C_pre, B L / D) picosecond-chips
per B requests: QPS/chip = B / K, an exact rational. On a slice, under TTFT <= e:

- O1 the largest QPS/chip r_B(e): min P = N C (C9, the cycle rounded up: a good plan fast), then a strict
  certification "is there a plan with K < K(x)?" (C10, exact); a 'yes' is a better plan and the step repeats, a
  'no' (INFEASIBLE) proves r_B(e) = B / K(x). Asked to tie or beat a ratio r, the first solve also asks
  K <= B / f, f = r's tie floor: an infeasible answer proves r_B(e) < f in one solve.
- O2 the least TTFT among plans with QPS/chip >= a tie floor r (K <= B / r, C10);
- O3 the least TPOT, then the fewest chips, among those with TTFT <= t (decode rows capped per threshold);
- O4 the least weight W (C12: chips, rent, purchase or power), then the least TTFT, under the SLO (QPS floor in C8);
  then the least TPOT.

Bounds (``planner.cpsat.bounds``, ``planner.cpsat.limits``): U1 an upper bound on r_B for every e (per placement,
group g needs n_g(Q) = min{n : q_g(n, B) >= Q} chips for a throughput Q); U2 r_B(e) never grows as e shrinks, so a
slice optimum whose TTFT still fits e stands, and a proof that r_B(e) < r holds for every smaller e; U4 a lower bound
on the chips of a slice's plans with QPS >= Q; U5 (per placement) a bound on r_B(e) that knows e, U6 a TTFT lower
bound at a QPS/chip floor (``SliceLimits``): they skip slices, drop placements from asks (C13) and cap O3's decode
rows. Bounds are computed in floats from the picosecond tables and widened by 1e-9 relative (float error is 1e-15).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from planner.burst import finish_times, mean_ceil
from planner.cpsat.bounds import SliceBound, slice_bounds, slice_chip_bounds
from planner.cpsat.limits import SliceLimits
from planner.cpsat.point import union_point
from planner.cpsat.model import INT_LIMIT, Ask, SliceModel, build_ask, build_base, slice_groups
from planner.cpsat.solve import Clock, Outcome, OutOfTime, SolverSettings, run_ask
from planner.cpsat.rows import all_rows, best_rows, capped_rows, fast_rows
from planner.cpsat.tables import SpaceTables, build_tables, slice_tables
from planner.exact import decode_cap_ps
from planner.errors import VerificationError
from planner.frontier import tie_floor
from planner.schema import ACCELERATOR_STAGES, Plan, Slo
from planner.space import Space, kind_of, units_of

__all__ = ["Cost", "SliceSweep", "Step", "slice_bounds", "slice_chip_bounds"]


@dataclass(frozen=True)
class Cost:
    """A slice plan's exact numbers (Q1): TTFT, pre-decode cycle and decode latency (ps), chips, D, K."""

    batch: int
    ttft: int
    c_pre: int
    n: int
    d: int
    l: int
    w: int = 0  # the weight under the sweep's objective (O4)
    dec: tuple[int, int] | None = None  # IR4: decode serves dec[0] requests every dec[1] ps (else D every L)

    @property
    def k(self) -> Fraction:
        num, den = self.dec or (self.d, self.l)
        return self.n * max(Fraction(self.c_pre), Fraction(self.batch * den, num))

    @property
    def ratio(self) -> Fraction:
        return self.batch / self.k


@dataclass(frozen=True)
class Step:
    """One answer of the sweep: the plan, its exact cost, whether every deciding solve was proven, the gap
    (relative QPS/chip or chips still possible), and whether the time limit cut it short."""

    plan: Plan | None
    cost: Cost | None
    proven: bool
    gap: float
    stopped: bool = False


@dataclass
class _Slice:
    bi: int
    batch: int
    ub: Fraction  # r_B(e) <= ub (< ub if ub_strict) for the current e and every smaller one
    ttft_lb: int
    ub_strict: bool = False
    base: SliceModel | None = None
    best: tuple[Cost, dict, bool] | None = None  # O1 at the last e solved: (cost, values, proven) (U2)
    dead: bool = False
    hint: dict = field(default_factory=dict)
    bounded_at: int | None | str = "never"  # the last TTFT bound e U5 was applied at
    reach: dict = field(default_factory=dict)  # U5 there: placement -> bound on its QPS/chip
    need: int = 0  # the least decode batch: B, or with micro-batching the largest b_s
    ub0: Fraction = Fraction(0)  # the bound at the start (U1/U3, for every e)


class SliceSweep:
    """The slices of a space under an SLO: tables, bounds, lazily built models and the objectives O1-O4."""

    def __init__(self, space: Space, slo: Slo, settings: SolverSettings, clock: Clock, progress=None,
                 objective: str = "chips", tables: SpaceTables | None = None):
        self.slo = slo
        self.space, self.settings, self.clock, self.progress = space, settings, clock, progress
        # ``tables``: ``build_tables(space, slo, progress, objective)`` where the caller has them (a design, K11)
        self.tables = tables if tables is not None else build_tables(space, slo, progress, objective)
        self.groups = slice_groups(space)
        self.lazy = space.micro  # many slices: U3 first, each slice's U1 on first visit
        u1 = SliceBound(space, self.tables)  # its curves (decode's levels, per option and slice) serve U5-U6 too
        ub, lb, self.qps_ub = slice_bounds(space, self.tables, progress, lazy=self.lazy, u1=u1)
        self.u1 = u1 if self.lazy else None
        need = self.tables.needs()
        self.slices = [_Slice(i, int(self.tables.batches[i]), ub[i], int(lb[i]), dead=ub[i] <= 0, need=int(need[i]),
                              ub0=ub[i])
                       for i in range(len(ub))]
        self.limits = SliceLimits(space, self.tables, curves=u1.curves)
        self.solves, self.exact = 0, True

    @staticmethod
    def lower(sl: _Slice, value: Fraction, strict: bool) -> None:
        """U2: record r_B(e) <= value (< value if strict), valid for every smaller e too."""
        if value < sl.ub:
            sl.ub, sl.ub_strict = value, strict
        elif value == sl.ub:
            sl.ub_strict |= strict

    @staticmethod
    def may_reach(sl: _Slice, r: Fraction) -> bool:
        return sl.ub > r or (sl.ub == r and not sl.ub_strict)

    def tighten(self, sl: _Slice, e: int | None, above: Fraction | None = None) -> None:
        """U5 at e (once per e): r_B(e) <= the bound, for e and every smaller e; a slice without a plan under e
        is dead. ``above``: the caller asks only which placements may exceed it (those at most it may keep a looser
        bound at most it), at every later use under this e too (the frontier's F1 and F2 at one point ask above
        its tie floor, which only rises during F1)."""
        if sl.bounded_at == e or sl.dead:
            return
        if sl.bounded_at == "never" and self.u1 is not None:  # U1 replaces U3 (lazy bounds)
            self.lower(sl, self.u1.of(sl.bi)[0], strict=False)
            sl.dead |= sl.ub <= 0
        sl.bounded_at = e
        sl.reach = self.limits.ratio_bounds(sl.bi, e, above)
        if not sl.reach:
            sl.dead = True
        else:
            self.lower(sl, max(sl.reach.values()), strict=False)

    def scope(self, sl: _Slice, e: int | None, r: Fraction | None, strict: bool) -> dict:
        """C13 for an ask at TTFT <= e for QPS/chip > r (>= r if not strict; None: any): the groups it may leave out
        (those of no placement whose U5 bound reaches r and, for >= r, whose U6 bound fits e: every plan that
        qualifies lies in a placement that does) and the chip range of the placements kept (U5's least N under e,
        U6's most N at r), as ``Ask`` fields."""
        self.tighten(sl, e)
        keep = [p for p, u in sl.reach.items() if r is None or u > r or (u == r and not strict)]
        if r is not None and not strict:
            fits = self.limits.ttft_bounds(sl.bi, r, e)
            keep = [p for p in keep if p in fits]
        used = {g for p in keep for g in p}
        most = self.limits.most_chips(sl.bi, r, set(keep)) if r is not None else self.space.max_chips
        return {"off": tuple("+".join(g) for g in self.groups if g not in used),
                "n_min": self.limits.least_chips(sl.bi, e, set(keep)), "n_max": min(most, self.space.max_chips)}

    # -- models and solutions ------------------------------------------------------------------------------------

    def base(self, sl: _Slice) -> SliceModel | None:
        """The slice's base model (built on first use); None (and the slice dead) if decode has no row D >= B."""
        if sl.base is None and not sl.dead:
            if len(self.rows(sl, "best_from")) == 0:
                sl.dead = True
                return None
            cap = self.tables.cycle_cap
            sl.base = build_base(self.space, slice_tables(self.space, self.tables, self.groups, sl.bi),
                                 int(cap[sl.bi]) if cap is not None else None)
            if self.tables.iterative is not None:  # C17 applies the SLO's decode bounds to the stalled decode
                t = self.slo.tpot_max_s
                sl.base.tpot_cap = decode_cap_ps(t, self.space.decode_tokens()) if t is not None else None
                sl.base.qps_min = self.slo.qps_min
        return sl.base

    def _run(self, sl: _Slice, ask: Ask) -> Outcome | None:
        a, exact = build_ask(sl.base, ask)
        self.exact &= exact
        self.solves += 1
        out = run_ask(a, self.settings, self.clock, sl.hint)
        if out is not None:
            sl.hint = out.values
        return out

    def rows(self, sl: _Slice, table: str) -> np.ndarray:
        """The decode rows of a slice's asks: per option the highest D / L or the least L with D >= need; with
        iterative retrieval every row with D >= need (which is best depends on the plan's L_it, C17)."""
        if self.tables.iterative is not None:
            return all_rows(self.tables.decode, sl.need)
        return (best_rows if table == "best_from" else fast_rows)(self.tables.decode, sl.need)

    def cost(self, sl: _Slice, v: dict) -> Cost:
        """The exact cost of a solution, from the slice's integer tables (not from the solver's bounds)."""
        tb = sl.base.tables
        t_r = int(tb.retrieval[v["bucket"], 1]) if len(tb.retrieval) else 0
        w = v["w_d"] + (int(tb.retrieval[v["bucket"], 2]) if len(tb.retrieval) else 0)
        ttft, c_pre, n, steps, pf_it = 0, 0, v["n_d"], {}, 0
        for g in self.groups:
            name = "+".join(g)
            if not v[f"y:{name}"]:
                continue
            rows = tb.groups[g]
            row = rows[rows[:, 2] == v[f"o:{name}"]][0] if len(rows) else np.zeros(5, dtype=np.int64)
            n, w, t = n + int(row[0]), w + int(row[3]), int(row[1])
            ttft += t
            c_pre = max(c_pre, t + (t_r if "retrieval" in g else 0))
            if tb.column is not None or tb.iterative is not None or tb.overlap is not None:  # one batch's L_s
                acc = iter(row[5:].tolist())
                steps[g] = [int(tb.retrieval[v["bucket"], 3]) if s == "retrieval" else next(acc) for s in g]
                pf_it = next(acc) if (tb.iterative is not None or tb.overlap is not None) and "prefill" in g \
                    else pf_it  # IR: L_pf(b_it); AP: pen(L_pf)
        ttft += t_r
        if tb.column is not None:  # MB2-MB3 from the tables: the solver's TTFT only bounds it from above (C15)
            ttft = self._burst_ttft(steps, tb)
        elif tb.overlap is not None:  # AP2-AP3 from the tables: the solver's TTFT only bounds it from above (C18)
            one = {s: t for g in steps for s, t in zip(g, steps[g])}
            ttft = (sum(t for s, t in one.items() if s not in ("retrieval", "prefill"))
                    + tb.overlap.pair(t_r, one["prefill"]) + pf_it)
        elif tb.iterative is not None:  # IR: one batch of B through every stage (t_g carries iterative work)
            ttft = sum(sum(x) for x in steps.values()) + (0 if any("retrieval" in g for g in steps) else
                                                          int(tb.retrieval[v["bucket"], 3]))
        exact = tb.column is None and tb.overlap is None  # else the solver's TTFT bounds it from above
        if n != v["N"] or w != v["W"] or ttft > v["TTFT"] or (exact and ttft != v["TTFT"]):
            raise VerificationError(f"CP-SAT solution {v} disagrees with its tables: N {n}, TTFT {ttft}, W {w}")
        if tb.iterative is None:
            return Cost(sl.batch, ttft, c_pre, n, v["D"], v["L"], w)
        _, b, _, n_it = tb.iterative  # IR4: the stalled decode from the tables
        m = v["L"] + n_it * (int(tb.retrieval[v["bucket"], 4]) + pf_it)
        q = 2 * v["D"] - b + 1
        return Cost(sl.batch, ttft, c_pre, n, v["D"], -(-2 * v["D"] * m // q), w, (q, 2 * m))

    def _burst_ttft(self, steps: dict, tb) -> int:
        """MB3 of the chosen groups (their stages' one-batch latencies ``steps``, retrieval's included)."""
        batches, burst = tb.column
        b = dict(zip(self.space.pre_decode, batches))
        order = sorted(steps, key=lambda g: self.space.stages.index(g[0]))
        return mean_ceil(sum(finish_times([[b[s] for s in g] for g in order], [steps[g] for g in order], burst)),
                         burst)

    def plan(self, sl: _Slice, v: dict) -> Plan:
        """The ``Plan`` of a solution's values."""
        sp = self.space
        chosen = sorted((g for g in self.groups if v[f"y:{'+'.join(g)}"]), key=lambda g: sp.stages.index(g[0]))
        codes = {s: v[f"o:{'+'.join(g)}"] for g in chosen for s in g if s in ACCELERATOR_STAGES} | {"decode": v["o_d"]}
        column = self.tables.columns[sl.bi] if self.tables.columns is not None else None
        b = self.tables.iterative[sl.bi][0] if self.tables.iterative is not None else sl.batch  # IR: B, not R'
        pre = dict(zip(sp.pre_decode, column[0])) if column else {s: b for s in sp.pre_decode}
        batch = pre | {"decode": v["D"]}
        servers, server = (int(sp.servers(v["N"])) if sp.has_retrieval else 0), sp.server_types[0]
        if sp.decides_servers:
            o = self.tables.buckets[v["bucket"]].servers
            servers, server = int(units_of(o)), sp.server_types[int(kind_of(o))]
        return Plan(placement=tuple(chosen) + (("decode",),), chips_per_stage={s: int(units_of(o)) for s, o in
                                                                               codes.items()},
                    batch_per_stage=batch, retrieval_servers=servers,
                    accelerator_per_stage={s: sp.types[int(kind_of(o))] for s, o in codes.items()},
                    retrieval_server=server if sp.has_retrieval else "", burst_requests=column[1] if column else None,
                    iterative_batch=self.tables.iterative[sl.bi][1] if self.tables.iterative is not None else None)

    # -- objectives ----------------------------------------------------------------------------------------------

    def o1(self, sl: _Slice, e: int | None, beat: Fraction | None):
        """O1: (cost, values, proven) of the largest QPS/chip under TTFT <= e, or None if the slice has no plan
        there (with ``beat``: none that ties or beats it, QPS/chip >= its tie floor: then r_B(e) < that floor, and
        F2 need not look at the slice). The slice's bound tightens accordingly (U2)."""
        if sl.best is not None and (e is None or sl.best[0].ttft <= e):
            return sl.best if beat is None or sl.best[0].ratio > beat else None
        if self.base(sl) is None:
            return None
        rows = self.rows(sl, "best_from")
        floor = tie_floor(beat) if beat is not None else None  # tie or beat: a 'no' spares F2 the slice
        scope = self.scope(sl, e, floor, False)
        out = None
        top = [p for p, u in sl.reach.items() if u >= sl.ub] or self.space.placements
        if beat is None and not self.limits.off and not sl.ub_strict and sl.ub > 0 and \
                any(pl.on_levels for pl in self.limits.of(sl.bi) if pl.placement in top):
            # U5 is exact where a plan attains it: ask for QPS/chip >= the bound itself; a plan is then optimal
            # without a certification, and a 'no' proves r_B(e) < the bound (not asked where the bound comes only
            # from placements whose plans' throughputs are not its levels: it is rarely attained there)
            out = self._run(sl, Ask(rows, "P", e, sl.batch / sl.ub, product=True, **self.scope(sl, e, sl.ub, False)))
            if out is None:
                self.lower(sl, sl.ub, strict=True)
        if out is None and beat is None and scope["n_max"] > 2 * scope["n_min"]:
            # a good plan among few chips first: then the certifications' own range is narrow (C13)
            window = scope | {"n_max": 2 * scope["n_min"]}
            out = self._run(sl, Ask(rows, "P", e, None, product=True, **window))
        if out is None:
            out = self._run(sl, Ask(rows, "P", e, sl.batch / floor if beat else None, product=True, **scope))
        if out is None:
            if beat is None:
                sl.dead = True  # nothing under e, so nothing under any smaller e either
            else:
                self.lower(sl, floor, strict=True)
            return None
        cost = self.cost(sl, out.values)
        proven = True
        while cost.ratio < sl.ub:  # certify unless U1/U2 is attained (r_B(e) <= ub = this plan's ratio: optimal)
            try:
                better = self._run(sl, Ask(rows, "P", e, cost.k, strict=True, product=True,
                                           **self.scope(sl, e, cost.ratio, True)))
            except OutOfTime:
                proven = False
                break
            if better is None:
                break
            nxt = self.cost(sl, better.values)
            if not nxt.k < cost.k:
                raise VerificationError(f"CP-SAT certification returned K {nxt.k} >= {cost.k} on slice B={sl.batch}")
            out, cost = better, nxt
        sl.best = (cost, out.values, proven)
        if proven:
            self.lower(sl, cost.ratio, strict=False)
        return sl.best

    def o2(self, sl: _Slice, e: int | None, floor: Fraction, low: int | None = None) -> tuple[Cost, dict, bool] | None:
        """O2: the least TTFT among plans with QPS/chip >= floor under TTFT <= e (None: no such plan); ``low`` a
        lower bound on it (U6)."""
        if sl.best is not None and (e is None or sl.best[0].ttft <= e) and sl.best[0].ratio >= floor \
                and sl.best[0].ttft in (sl.ttft_lb, low):
            return sl.best  # its TTFT is the least possible (the slice's, or U6's at the floor): nothing to improve
        if self.base(sl) is None:
            return None
        out = self._run(sl, Ask(self.rows(sl, "best_from"), "TTFT", e, sl.batch / floor,
                                **self.scope(sl, e, floor, False)))
        if out is None:
            self.lower(sl, floor, strict=True)
            return None
        return self.cost(sl, out.values), out.values, out.optimal

    def o3(self, sl: _Slice, ttft: int, floor: Fraction) -> tuple[Cost, dict, bool]:
        """O3: the least TPOT, then the fewest chips, among plans with QPS/chip >= floor and TTFT <= ttft."""
        k, scope = sl.batch / floor, self.scope(sl, ttft, floor, False)
        # rows capped below U5's least N admit no plan; caps above U6's most N are all alike
        ir = self.tables.iterative is not None  # C17: the rows stay whole, the stalled latency is Le
        rows = (self.rows(sl, "best_from") if ir else
                capped_rows(self.tables.decode, sl.batch, k, scope["n_max"], scope["n_min"], sl.need))
        if len(rows) == 0:
            raise RuntimeError(f"O3 on slice B={sl.batch} has no decode row right after O2 found a plan: a bug")
        l_hi = int(rows[:, 2].max())
        if not ir and (l_hi + 1) * (self.space.max_chips + 1) < INT_LIMIT:
            out = self._run(sl, Ask(rows, "TPOT", ttft, k, **scope))
            proven = out is not None and out.optimal
        else:  # the lexicographic objective would pass int64: two solves
            first = self._run(sl, Ask(rows, "L", ttft, k, **scope))
            out = first and self._run(sl, Ask(rows, "N", ttft, k, l_max=first.values.get("Le", first.values["L"]),
                                              **scope))  # N alone
            proven = out is not None and first.optimal and out.optimal
        if out is None:
            raise RuntimeError(f"O3 infeasible on slice B={sl.batch} right after O2 found a plan: a solver bug")
        return self.cost(sl, out.values), out.values, proven

    def o4(self, sl: _Slice, e: int | None) -> tuple[Cost, dict, bool] | None:
        """O4: the least weight W (chips, or the priced objective), then the least TTFT, under the SLO (None: no
        plan)."""
        if self.base(sl) is None:
            return None
        rows = self.rows(sl, "fast_from")
        if len(rows) == 0:
            return None
        if (self.w_hi(sl, rows) + 1) * (sl.base.ttft_hi + 1) < INT_LIMIT:
            out = self._run(sl, Ask(rows, "W_TTFT", e))
            return out and (self.cost(sl, out.values), out.values, out.optimal)
        first = self._run(sl, Ask(rows, "W", e))
        out = first and self._run(sl, Ask(rows, "TTFT", e, w_max=first.values["W"]))
        return out and (self.cost(sl, out.values), out.values, first.optimal and out.optimal)

    @staticmethod
    def w_hi(sl: _Slice, rows: np.ndarray) -> int:
        """The largest weight a plan of the slice can have (for the lexicographic objective's range)."""
        tb = sl.base.tables
        return (sum(int(r[:, 3].max()) for r in tb.groups.values() if len(r)) + int(rows[:, 4].max())
                + (int(tb.retrieval[:, 2].max()) if len(tb.retrieval) else 0))

    def o4_tpot(self, sl: _Slice, w: int, ttft: int) -> tuple[Cost, dict, bool]:
        """O4's tie-break: the least TPOT among plans with W <= w and TTFT <= ttft."""
        out = self._run(sl, Ask(self.rows(sl, "fast_from"), "L", ttft, w_max=w))
        if out is None:
            raise RuntimeError(f"O4 TPOT infeasible on slice B={sl.batch} right after O4 found a plan: a solver bug")
        return self.cost(sl, out.values), out.values, out.optimal

    # -- one frontier point ----------------------------------------------------------------------------------------

    def say(self, what: str) -> None:
        if self.progress:
            self.progress(what)

    def point(self, e: int | None, label: str = "") -> Step | None:
        """The frontier point (F1-F2) under TTFT <= e, or None if no plan has TTFT <= e (``union_point``)."""
        got = union_point([self], e, label)
        return None if got is None else got[1]

    def reset(self) -> None:
        """Forget every TTFT-dependent state (bounds tightened at some e, slice optima): the sweep can start again
        from a larger TTFT bound; tables and e-independent bounds are kept."""
        for sl in self.slices:
            sl.ub, sl.ub_strict, sl.best, sl.dead = sl.ub0, False, None, sl.ub0 <= 0
            sl.bounded_at, sl.reach = "never", {}

