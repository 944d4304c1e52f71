"""Bounds of a slice that know the TTFT bound (``docs/model.md``, "Pareto sweep", U5 and U6).

U1 bounds a slice's QPS/chip for every TTFT bound at once, so when the bound e is tight it is loose: most of the
sweep's solves on the large `any` spaces were slices whose U1 bound beat the best plan while no plan of theirs
under e did (measured: 1,002 of 1,159 O1 threshold solves and 351 of 418 O2 solves infeasible on paper case4-70b).
Per slice (built on first use, the least recently used dropped beyond a memory budget) and placement p, over the
total chips N = 0..N_max (dense arrays):

- LB_TT_p(N | C): a lower bound on the TTFT of p's plans with at most N chips and cycle at most C: the min-plus
  convolution over p's accelerator groups of their options with time per cycle <= C (the group holding retrieval
  counts retrieval's least time per cycle in its cycle), at N - d_0(C) (the fewest decode chips of an option whose
  best cycle fits C), plus retrieval's least latency among the buckets at most N chips reach. Whole picoseconds,
  exact. A group's TTFT term is its time per cycle except under AP4 (its half terms) and IR3 (one batch of B:
  the cycle carries the iterative batches); decode's level under IR4 is its rate at the slice's least L_it. Built for a
  grid of 16 cycle caps (spread over the slice's levels, then no cap), and at a level's own cap when refined.
- the levels Q_i of U1 (groups', decode's and, under S4, the buckets' throughputs) with n_i, the chips U1's need
  gives them (under S4 also the chips whose servers reach Q_i), and each level's cap: B / Q_i when every plan's
  throughput is a level (no group holds retrieval with an accelerator stage), else B / Q_{i-1}.

U5: a plan of p at level Q_i (or, with the interval cap, in (Q_{i-1}, Q_i]) has N >= max(N_min, n_i,
min{N : LB_TT_p(N | cap_i) <= e}), so its QPS/chip is at most Q_i over that; the maximum over i, the grid row at or
above cap_i first (valid, looser), then the best levels at their own cap until none left could beat the best refined
one; exact at the levels near it (every rational behind the float), floats widened by 1e-9 elsewhere. Valid for
every smaller e. U6: a plan of p at QPS/chip >= f at level i has N <= Q_i / f, so TTFT >= min_i
LB_TT_p(floor(Q_i / f) | cap_i), the lowest values refined likewise.
"""

from __future__ import annotations

from collections import OrderedDict
from fractions import Fraction

import numpy as np

from planner.cpsat.bounds import Curves, need, need_exact
from planner.cpsat.tables import SpaceTables, group_latency
from planner.schema import ACCELERATOR_STAGES
from planner.space import Space, units_of

__all__ = ["SliceLimits"]

#: 'no plan' in the int64 TTFT arrays: above any sum of latencies (each < 2^58 ps, Q1), summed without overflow.
BIG = 2**61
WIDEN = 1 + 1e-9
CELLS = 40_000  # grid rows x (N_max + 1) per placement (16 caps up to N_max = 2,351, fewer beyond); refinement too
KEEP_BYTES = 256 * 2**20  # the slices' arrays kept at once
REFINE = 16  # levels refined at once (one convolution over their caps)
REFINE_U6 = 64  # the most levels U6 refines per bound
INT_BOUND = 2**62  # 'no bound' on a QPS/chip (requests per ps-chip: every real one is below 1)


def _staircase(units: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The options of a group that an 'at most n chips' bound needs: by units, those strictly faster than every
    option with fewer chips (an option left out is never faster than a kept one with fewer chips, so it is
    allowed under no cycle cap where that one is not)."""
    order = np.lexsort((lat, units))
    u, t = units[order], lat[order]
    prev = np.concatenate(([np.iinfo(np.int64).max], np.minimum.accumulate(t)[:-1]))
    keep = t < prev
    return u[keep], t[keep]


def _first(units: np.ndarray, lat: np.ndarray, caps: np.ndarray, size: int, tt: np.ndarray | None = None) -> np.ndarray:
    """``_convolve`` of the all-zero bound: row k, N is the latency of the fastest option with at most N chips,
    if it fits caps[k] (on the staircase, options with fewer chips are slower, so none of them fits then). With
    ``tt`` (AP4: a TTFT term other than the time per cycle ``lat``): the least tt of an option with at most N chips
    whose lat fits caps[k], every option looked at."""
    if tt is not None:
        order = np.argsort(units, kind="stable")
        u, t, w = units[order], lat[order], tt[order]
        allowed = np.where(t[None, :] <= caps[:, None], w[None, :], BIG)
        best = np.minimum.accumulate(allowed, axis=1) if len(u) else allowed
        j = np.searchsorted(u, np.arange(size), side="right") - 1
        return np.where(j[None, :] >= 0, best[:, np.maximum(j, 0)], BIG) if len(u) else \
            np.full((len(caps), size), BIG, dtype=np.int64)
    u, t = _staircase(units, lat)
    j = np.searchsorted(u, np.arange(size), side="right") - 1  # the last staircase option with u <= N
    lat_n = np.where(j >= 0, t[np.maximum(j, 0)], BIG)
    return np.where(lat_n[None, :] <= caps[:, None], lat_n[None, :], BIG)


def _convolve(f: np.ndarray, units: np.ndarray, lat: np.ndarray, caps: np.ndarray,
              tt: np.ndarray | None = None) -> np.ndarray:
    """Row k: min over options o with t_o <= caps[k] of f[k, N - u_o] + t_o (BIG where none fits); f holds 'at most
    N chips' bounds, one row per cycle cap, caps ascending (so an option is allowed on a suffix of the rows). With
    ``tt`` the option adds tt_o (its TTFT term, AP4), every option looked at."""
    out = np.full_like(f, BIG)
    tmp = np.empty_like(f)
    size = f.shape[1]
    us, ts = _staircase(units, lat) if tt is None else (units, lat)
    ks = np.searchsorted(caps, ts)
    ws = ts if tt is None else tt
    for u, w, k in zip(us.tolist(), ws.tolist(), ks.tolist()):
        if u < size and k < len(caps):
            part = tmp[k:, : size - u]
            np.add(f[k:, : size - u], w, out=part)
            np.minimum(out[k:, u:], part, out=out[k:, u:])
    return np.minimum(out, BIG, out=out)


class _Placement:
    """One placement on one slice: the rows LB_TT_p(N | C_k) over the cycle grid; the levels Q_i (ascending floats)
    with a lower bound n_lo on their chips (n_i, and under S4 the chips whose servers reach Q_i), the cycle cap
    ``cap`` a plan of the level meets (B / Q_i, or B / Q_{i-1} where throughputs are not all levels) and the first
    grid row at or above it (``row``); the rows at each level's own cap, computed on demand (``fine``); and what
    recomputes a level exactly: the curves, the rationals (num, den) behind each float level (``inv``) and the
    retrieval buckets (first N, latency) under S4."""

    def __init__(self, placement, rows, levels, n_lo, cap, row, curves, pairs, inv, buckets):
        self.placement, self.levels, self.n_lo, self.cap, self.row = placement, levels, n_lo, cap, row
        self.curves, self.pairs, self.inv, self.buckets = curves, pairs, inv, buckets
        self._rows = rows  # the slice's ``_Rows``
        self.fine: dict[int, np.ndarray] = {}
        self._exact: dict = {}

    @property
    def lb(self) -> np.ndarray:
        """LB_TT_p(N | C_k) over the grid rows k (the slice's convolutions, on first use)."""
        return self._rows.of(self.placement)

    def first(self, e: int | None) -> np.ndarray:
        """Per grid row, the least N with LB_TT_p(N | C_k) <= e (the row's length if none)."""
        return np.zeros(self._rows.n, dtype=np.int64) if e is None else (self.lb > e).sum(axis=1)

    def most(self, floor: float, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Per level, the most chips a plan at QPS/chip >= floor can have (Q_i / floor, capped at N_max), and
        whether that leaves room for its least chips n_lo."""
        hi = np.minimum(np.floor(self.levels * WIDEN / floor), size - 1).astype(np.int64)
        return hi, self.n_lo <= hi

    def exact_chips(self, level: Fraction, floor: int) -> int | None:
        """max(floor, n(level), the chips whose servers reach it), exactly (None: no option reaches the level)."""
        if level not in self._exact:
            self._exact[level] = self._chips(level)
        n = self._exact[level]
        return None if n is None else max(n, floor)

    def _chips(self, level: Fraction) -> int | None:
        n = need_exact(self.curves, level)
        if n is None:
            return None
        if self.buckets is not None:  # S4: the first N of a bucket whose throughput B / t_r reaches the level
            lo, lat, batch = self.buckets
            q, lf = batch / lat.astype(np.float64), float(level)
            ok = q >= lf * (1 + 1e-12)
            for i in np.flatnonzero(np.abs(q - lf) <= lf * 1e-12):  # too close for floats: decide exactly
                ok[i] = Fraction(batch, int(lat[i])) >= level
            if not ok.any():
                return None
            n = max(n, int(lo[ok].min()))
        return n


class _Rows:
    """A slice's LB_TT rows of every placement, computed together (placements share convolution prefixes) when
    one is first asked for: U5 without a TTFT bound needs none (the first frontier point visits most slices so)."""

    def __init__(self, make, n: int):
        self.make, self.rows, self.n = make, None, n  # n: the grid's rows

    def of(self, placement) -> np.ndarray:
        if self.rows is None:
            self.rows, self.make = self.make(), None
        return self.rows[placement]


class SliceLimits:
    """U5 and U6 of the slices of a space, each slice's arrays computed on first use."""

    def __init__(self, space: Space, st: SpaceTables, grid: int = 16, curves: Curves | None = None):
        self.space, self.st = space, st
        # with micro-batching TTFT is not additive (MB2): U5 and U6 are not derived there, the methods answer what
        # holds for every plan (no bound). With iterative retrieval (IR3-IR4) a group's time per cycle carries the
        # iterative batches (its TTFT term is its stages' L_s(B), ``self.tt``) and decode's level is its rate at the
        # slice's least L_it (C17 never faster): a level still bounds every plan reaching it.
        self.off = space.micro
        self.curves = curves or Curves(space, st, chips=True)  # (U1's, where the sweep shares them)
        self.size = space.max_chips + 1
        self.grid = max(0, min(grid, CELLS // self.size - 1))  # rows x N stays within CELLS per placement
        self.refines = REFINE * self.size <= CELLS  # levels at their own caps: rows of N_max + 1 each, 16 at once
        self.acc, self.tt = {}, {}  # per group: (chips, time per cycle); AP4: its TTFT term where they differ
        for p in space.placements:
            for g in p:
                if "decode" not in g and any(s in ACCELERATOR_STAGES for s in g) and g not in self.acc:
                    codes, lat = group_latency(space, st, g, retrieval=False)
                    self.acc[g] = (np.asarray(units_of(codes), dtype=np.int64), lat[:, 0, :])
                    if st.iterative is not None:  # IR: the TTFT term, one batch of B through the group's stages
                        self.tt[g] = sum(st.steps(s)[np.searchsorted(st.options[s], codes)] for s in g
                                         if s != "retrieval")
                    if st.overlap is not None and "prefill" in g:  # AP4's first sum: ceil(L_pf / c) + pen
                        pf = st.steps("prefill")[np.searchsorted(st.options["prefill"], codes)]
                        self.tt[g] = lat[:, 0, :] - pf - (-pf // st.overlap.chunks)  # L_pf -> ceil(L_pf / c)
        self._cache: OrderedDict[int, list[_Placement]] = OrderedDict()
        # slices kept at once (least recently used dropped, rebuilt on demand): within KEEP_BYTES of arrays
        self.keep = max(8, KEEP_BYTES // max(1, len(space.placements) * (self.grid + 1) * self.size * 8))

    def _retrieval(self, b: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Retrieval's least TTFT term (one batch of B, ps) and best throughput (requests/ps; inf: no cap) over the
        buckets a total of at most N reaches, per N; and its least time per cycle anywhere (IR3: with the iterative
        batches; else the same latencies)."""
        sp, st = self.space, self.st
        if not sp.has_retrieval:
            return np.zeros(self.size, dtype=np.int64), np.full(self.size, np.inf), 0
        lat, one = st.lat["retrieval"][:, b], st.steps("retrieval")[:, b]  # time per cycle; TTFT term (IR: differ)
        if sp.decides_servers:  # S9: any option at any N (its throughput is one of U1's curves)
            return np.full(self.size, int(one.min()), dtype=np.int64), np.full(self.size, np.inf), int(lat.min())
        t = np.full(self.size, BIG, dtype=np.int64)
        c = np.full(self.size, BIG, dtype=np.int64)
        for bk, lt, l1 in zip(st.buckets, lat, one):
            if bk.n_lo < self.size:
                c[bk.n_lo] = min(c[bk.n_lo], int(lt))
                t[bk.n_lo] = min(t[bk.n_lo], int(l1))
        t, c = np.minimum.accumulate(t), np.minimum.accumulate(c)
        q = np.where(c < BIG, int(st.batches[b]) / np.maximum(c, 1).astype(np.float64), 0.0)
        return t, q, int(lat.min())

    def of(self, b: int) -> list[_Placement]:
        """The placements' arrays at slice b (computed once)."""
        if b in self._cache:
            self._cache.move_to_end(b)
        else:
            self._cache[b] = self._build(b)
            if len(self._cache) > self.keep:
                self._cache.popitem(last=False)
        return self._cache[b]

    def _grid(self, B: int, curves: list, b: int) -> np.ndarray:
        """The slice's cycle grid: the cycles B / Q of up to ``grid`` levels spread over every placement's levels
        (one grid, so placements share their convolutions), then no cap (BIG)."""
        qs = [num[num > 0] / den[num > 0] for cv in curves if cv is not None for _, num, den in cv]
        if self.space.has_retrieval:
            qs.append(B / self.st.lat["retrieval"][:, b].astype(np.float64))
        levels = np.concatenate(qs) if qs else np.zeros(0)
        cyc = np.unique(np.ceil(B / levels[levels > 0] * WIDEN)).astype(np.int64)
        pick = np.unique(np.linspace(0, len(cyc) - 1, min(self.grid, len(cyc))).round().astype(int)) if len(cyc) \
            else np.zeros(0, dtype=int)
        return np.append(np.minimum(cyc[pick], BIG - 1), BIG)

    def _rows(self, b: int, caps: np.ndarray, placements, retrieval: tuple | None = None) -> dict:
        """LB_TT_p(N | C) of each placement (those with curves at slice b) for the cycle caps ``caps`` (ascending),
        as arrays (len(caps), N_max + 1); placements in pipeline order share their convolution prefixes.
        ``retrieval``: ``_retrieval(b)`` where the caller has it."""
        st, size = self.st, self.size
        B = int(st.batches[b])
        t_ret, _, r_min = retrieval or self._retrieval(b)
        book = self.curves
        dec_q = book.dec_num[:, b] / book.dec_den[:, b]
        # decode: per cap, the fewest chips of an option whose best cycle B / q fits it (q >= B / cap)
        order = np.argsort(-dec_q, kind="stable")
        fewest = np.minimum.accumulate(np.where(dec_q[order] > 0, book.dec_w[order], BIG))
        k = np.searchsorted(-dec_q[order], -B / (caps.astype(np.float64) * WIDEN), side="right")
        d0 = np.where(k > 0, fewest[np.maximum(k - 1, 0)], BIG)
        idx = np.arange(size)[None, :] - np.minimum(d0, size)[:, None]
        if st.overlap is None:
            return self._lb(b, caps, placements, idx, t_ret, r_min, False)
        # AP4: TTFT is at least either sum of AP2's max (plus pen): L_r + ceil(L_pf / c), or ceil(L_r / c) + L_pf
        c = st.overlap.chunks
        first = self._lb(b, caps, placements, idx, t_ret, r_min, True)
        second = self._lb(b, caps, placements, idx, np.where(t_ret < BIG, -(-t_ret // c), BIG), r_min, False)
        return {p: np.maximum(first[p], second[p]) for p in first}

    def _lb(self, b: int, caps: np.ndarray, placements, idx: np.ndarray, ret_tt: np.ndarray, r_min: int,
            split: bool) -> dict:
        """``_rows``' convolutions, retrieval's TTFT term ``ret_tt`` per N; with ``split`` (AP4) the prefill's group,
        and with iterative retrieval every group, adds its own TTFT terms (``self.tt``) instead of its times per
        cycle."""
        sp, size = self.space, self.size
        out, conv, st_it = {}, {}, self.st.iterative is not None
        for p in placements:
            groups = tuple(sorted((g for g in p if g in self.acc), key=lambda g: sp.stages.index(g[0])))
            f = None
            for j in range(1, len(groups) + 1):
                if groups[:j] not in conv:
                    g = groups[j - 1]
                    units, lat = self.acc[g]
                    t = lat[:, b] + (r_min if "retrieval" in g else 0)
                    # AP4 (split): the prefill's half terms (AP1: no retrieval there); IR: one batch's L_s(B)
                    tt = self.tt[g][:, b] if g in self.tt and (split or st_it) else None
                    nf = _first(units, t, caps, size, tt) if f is None else _convolve(f, units, t, caps, tt)
                    if "retrieval" in g and tt is None:  # the cap counted retrieval; the TTFT adds it once below
                        nf = np.where(nf < BIG, nf - r_min, BIG)
                    conv[groups[:j]] = nf
                f = conv[groups[:j]]
            if f is None:
                f = np.zeros((len(caps), size), dtype=np.int64)
            lb = np.where(idx >= 0, np.take_along_axis(f, np.maximum(idx, 0), axis=1), BIG)
            out[p] = np.minimum(lb + ret_tt[None, :], BIG)
        return out

    def _build(self, b: int) -> list[_Placement]:
        sp, st = self.space, self.st
        B = int(st.batches[b])
        ret = self._retrieval(b)
        q_ret = ret[1]
        curves = {p: cv for p in sp.placements if (cv := self.curves.of(p, b)) is not None}
        caps = self._grid(B, list(curves.values()), b)
        rows = _Rows(lambda: self._rows(b, caps, list(curves), ret), len(caps))
        hosts = sp.has_retrieval and not sp.decides_servers
        out = []
        for p, cv in curves.items():
            ret_lat = st.lat["retrieval"][:, b] if hosts else np.zeros(0, dtype=np.int64)
            pairs = np.column_stack([np.concatenate([num for _, num, _ in cv] + [np.full(len(ret_lat), B)]),
                                     np.concatenate([den for _, _, den in cv] + [ret_lat])])
            pairs = pairs[pairs[:, 0] > 0]
            if len(pairs) == 0:
                continue
            levels, inv = np.unique(pairs[:, 0] / pairs[:, 1], return_inverse=True)
            lo = np.maximum(need(cv, levels), sp.min_chips)
            if hosts:  # S4: the chips whose servers reach the level
                lo = np.maximum(lo, np.searchsorted(q_ret, levels * (1 - 1e-9)))
            # a plan's cycle: B / Q_i where every plan's throughput is one of the levels (E5: the slowest group,
            # decode at its best row, retrieval's bucket), else up to B / Q_{i-1} (a group holding retrieval and an
            # accelerator stage has a cycle t_g + t_r no level names)
            # (IR4: decode's rate at the plan's L_it may fall below its level, but then the plan's throughput Q is
            # above the next level down, Q_i >= Q is the least level over it, and every group still meets B / Q_i)
            exact = not any("retrieval" in g for g in p if g in self.acc)
            top = levels if exact else np.concatenate(([0.0], levels[:-1]))
            with np.errstate(divide="ignore"):
                cap = np.where(top > 0, B / top * WIDEN, np.inf)
            row = np.minimum(np.searchsorted(caps, cap), len(caps) - 1)
            buckets = (np.array([bk.n_lo for bk in st.buckets]), ret_lat, B) if hosts else None
            out.append(_Placement(p, rows, levels, lo, cap, row, cv, pairs, inv, buckets))
            out[-1].on_levels = exact  # every plan's throughput is a level: U5 may be attained
        return out

    def _refine(self, b: int, pl: _Placement, idx: np.ndarray) -> np.ndarray:
        """LB_TT_p(. | cap_i) at the levels ``idx``' own caps (rows, computed once per level)."""
        todo = [int(i) for i in idx if int(i) not in pl.fine]
        if todo:
            caps = np.minimum(pl.cap[todo], float(BIG - 1))
            order = np.argsort(caps, kind="stable")
            got = self._rows(b, np.ceil(caps[order]).astype(np.int64), [pl.placement])[pl.placement]
            for r, j in zip(got, order):
                pl.fine[todo[j]] = r
        return np.stack([pl.fine[int(i)] for i in idx])

    def ratio_bounds(self, b: int, e: int | None, above: Fraction | None = None) -> dict:
        """U5 per placement: an upper bound on the QPS/chip (requests per ps-chip) of its plans with TTFT <= e, valid
        for every smaller bound too (placements without such a plan are left out). The levels within 1e-7 of the
        float maximum are recomputed exactly (every rational behind them), the others widened by 1e-9: a bound
        that a plan attains is that plan's QPS/chip exactly, so a slice that can only tie the best needs no
        solve in F1. ``above``: a placement whose bound is at most it may get any valid bound at most it (its levels
        at or below it are not refined: the caller only asks which bounds exceed it)."""
        if self.off:
            return {p: Fraction(INT_BOUND) for p in self.space.placements}
        out, floor = {}, self.space.min_chips
        least = 0.0 if above is None else float(above) / WIDEN  # float grid values at most this are at most above
        for pl in self.of(b):
            need_n = pl.first(e)[pl.row]
            n = np.maximum(pl.n_lo, need_n)
            ok = n < self.size
            if not ok.any():
                continue
            val = np.where(ok, pl.levels / np.maximum(n, 1), 0.0)
            if e is not None and self.refines:  # the grid row's cap is at or above a level's own: refine the best
                need_n, val = self._tighten(b, pl, e, need_n, val, least)
                if not val.any():
                    continue
            top = float(val.max())
            if top * WIDEN <= least:  # at most ``above``: the float bound, widened, is enough
                out[pl.placement] = Fraction(top * WIDEN)
                continue
            near = val >= top * (1 - 1e-7)
            bound = Fraction(0)
            for i in np.flatnonzero(near):
                for a, d in {tuple(x) for x in pl.pairs[pl.inv == i].tolist()}:
                    level = Fraction(a, d)
                    m = pl.exact_chips(level, max(floor, int(need_n[i])))
                    if m is not None and m < self.size:
                        bound = max(bound, level / m)
            rest = val[~near]
            if len(rest):
                bound = max(bound, Fraction(float(rest.max()) * WIDEN))
            if bound > 0:
                out[pl.placement] = bound
        return out

    def _tighten(self, b: int, pl: _Placement, e: int, need_n: np.ndarray, val: np.ndarray, least: float = 0.0):
        """U5 at the levels' own caps, best first, until no level left at its grid row's bound could beat the best
        refined one or ``least`` (a level's bound only falls when its cap tightens): per level, the least N and the
        bound."""
        need_n, val = need_n.copy(), val.copy()
        order = np.argsort(-val, kind="stable")
        best, pos = least, 0
        while pos < len(order) and val[order[pos]] > best:
            idx = order[pos: pos + REFINE]
            idx = idx[val[idx] > best]
            first = (self._refine(b, pl, idx) > e).sum(axis=1)
            need_n[idx] = np.maximum(need_n[idx], first)
            n = np.maximum(pl.n_lo[idx], need_n[idx])
            val[idx] = np.where(n < self.size, pl.levels[idx] / np.maximum(n, 1), 0.0)
            best = max(best, float(val[idx].max()))
            pos += REFINE
        return need_n, val

    def least_chips(self, b: int, e: int | None, placements=None) -> int:
        """A lower bound on the chips of slice b's plans with TTFT <= e (in ``placements``, default all): the least
        N with LB_TT_p(N) <= e under no cycle cap (N_max + 1: none)."""
        if self.off:
            return self.space.min_chips
        firsts = [max(int(pl.first(e)[-1]), self.space.min_chips) for pl in self.of(b)
                  if placements is None or pl.placement in placements]
        return min(firsts, default=self.size)

    def most_chips(self, b: int, floor: Fraction, placements=None) -> int:
        """An upper bound on the chips of slice b's plans with QPS/chip >= floor (in ``placements``, default all):
        N <= Q_i / floor for the level Q_i of the plan's throughput, N >= n_i (-1: none)."""
        if self.off:
            return self.space.max_chips
        top = -1
        for pl in self.of(b):
            if placements is None or pl.placement in placements:
                hi, ok = pl.most(float(floor), self.size)
                if ok.any():
                    top = max(top, int(hi[ok].max()))
        return top

    def ttft_bounds(self, b: int, floor: Fraction, e: int | None) -> dict:
        """U6 per placement: a lower bound on the TTFT (ps) of its plans with QPS/chip >= floor and TTFT <= e
        (placements without such a plan are left out)."""
        if self.off:
            return {p: 0 for p in self.space.placements}
        out = {}
        for pl in self.of(b):
            hi, ok = pl.most(float(floor), self.size)
            idx = np.flatnonzero(ok)
            if not len(idx):
                continue
            low = pl.lb[pl.row[idx], hi[idx]]
            t = self._lowest(b, pl, idx, hi[idx], low)
            if t < BIG and (e is None or t <= e):
                out[pl.placement] = t
        return out

    def _lowest(self, b: int, pl: _Placement, idx: np.ndarray, hi: np.ndarray, low: np.ndarray) -> int:
        """min_i LB_TT_p(hi_i | cap_i) over the levels ``idx`` (their grid rows give ``low``, never above): the
        lowest first at their own caps, until no grid value left is below the least refined one, or REFINE_U6
        levels refined (the rest count at their grid value)."""
        order = np.argsort(low, kind="stable")
        best, pos = BIG, 0
        while self.refines and pos < min(len(order), REFINE_U6) and low[order[pos]] < best:
            k = order[pos: pos + REFINE]
            best = min(best, int(self._refine(b, pl, idx[k])[np.arange(len(k)), hi[k]].min()))
            pos += REFINE
        return int(min(best, low[order[pos:]].min(initial=BIG)))

    def ttft_bound(self, b: int, floor: Fraction, e: int | None) -> int | None:
        """U6: a lower bound on the TTFT (ps) of slice b's plans with QPS/chip >= floor and TTFT <= e (None: there
        are none)."""
        return min(self.ttft_bounds(b, floor, e).values(), default=None)
