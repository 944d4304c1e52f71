"""Iterative retrieval by request batch (``docs/model.md``, "Iterative retrieval", IR5-IR8): the frontier and
capacity objectives (O1-O4) of a space whose pre-decode accelerator stages form one group holding prefill,
retrieval alone on the hosts (S4), without a column per (B, b_it).

A slice is a request batch B; a plan of it is a key (placement p, the group's option o, decode's option d: N = n_o
+ n_d chips, retrieval's bucket j = the one N reaches), an iterative batch x and a decode row D >= max(B, x). Per
request the group takes pre_g(x) = A_o / B + n I_o(x) / x, retrieval pre_r(x) = R_j / B + n I_j(x) / x (A_o its
stages' L_s(B), I the iterative batch's prefix and retrieval, IR3), decode 2M / q with M = L_D + n (I_j(x) +
I_o(x)), q = 2D - x + 1 (IR4); QPS/chip = 1 / (N T), T = max(pre_g, pre_r, 2M / q); TTFT = A_o + R_j (IR3).

- IR6 a threshold (QPS/chip >= f): per key the least x meeting both pre-decode caps, x*, serves every decode row
  best: a larger x has no smaller X = n (I_j + I_o) (the latencies never fall with the batch, checked per option;
  where they do, every x whose X is a strict prefix minimum among those meeting the caps is kept) and a smaller q.
- IR7 the largest QPS/chip of a key: x in increasing pre = max(pre_g, pre_r) (T >= pre), each with decode's least
  2M / q, until pre reaches the best T.
- IR8 bounds: T >= max(min_x pre, min_D L_D / D + X_lo / D_max) per key (X_lo the least X); per slice the largest
  over its keys (a cheaper form first: the group's and retrieval's least per-request times apart).
Floats order and screen; every decision at a margin is taken on exact integers (Q1-Q4).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from planner.cpsat.keys import SLACK, ByBatchTables, least_ratio
from planner.cpsat.solve import Clock, OutOfTime, SolverSettings
from planner.cpsat.sweep import Cost, SliceSweep, _Slice
from planner.cpsat.tables import SpaceTables, build_tables
from planner.exact import decode_cap_ps
from planner.frontier import tie_floor
from planner.overlap import pipelined
from planner.schema import ACCELERATOR_STAGES, Plan, Slo
from planner.space import Space, kind_of, units_of

__all__ = ["IterativeSweep", "by_batch", "sweep_for"]

def by_batch(space: Space) -> bool:
    """Whether IR5 applies: iterative retrieval, retrieval on the hosts (S4) alone in its group, and in every
    placement one pre-decode group with accelerator stages, holding prefill."""
    if not space.iterations or space.decides_servers or space.micro or pipelined(space) is not None:
        return False
    for p in space.placements:
        pre = [g for g in p if "decode" not in g]
        acc = [g for g in pre if any(s in ACCELERATOR_STAGES for s in g)]
        if len(acc) != 1 or "prefill" not in acc[0] or any("retrieval" in g and len(g) > 1 for g in pre):
            return False
    return True


def sweep_for(space: Space, slo: Slo, settings: SolverSettings, clock: Clock, progress=None,
              objective: str = "chips", tables: SpaceTables | None = None) -> SliceSweep:
    """The sweep of a frontier (F1-F3) or a capacity answer (O4 under ``objective``): IR5's by-batch slices where they
    apply, else the CP-SAT slices (on ``tables``, the space's ``build_tables``, where the caller has them)."""
    if by_batch(space):
        return IterativeSweep(space, slo, settings, clock, progress, objective)
    return SliceSweep(space, slo, settings, clock, progress, objective, tables)


class _Limits:
    """U6 for the by-batch slices (``union_point`` asks it)."""

    def __init__(self, sweep: "IterativeSweep"):
        self.sweep = sweep

    def ttft_bound(self, bi: int, floor: Fraction, e: int | None) -> int | None:
        """The least TTFT of the slice's keys whose bound reaches ``floor`` under TTFT <= e (None: none)."""
        bt = self.sweep.batch(bi)
        ok = bt.ub >= float(floor) * (1 - SLACK)
        if e is not None:
            ok &= bt.ttft <= e
        return int(bt.ttft[ok].min()) if ok.any() else None


class IterativeSweep(ByBatchTables, SliceSweep):
    """The slices (request batches) of an IR5 space under an SLO and the objectives O1-O3 on them (IR6-IR8),
    exact; ``union_point`` and ``union_frontier`` drive it like a ``SliceSweep``."""

    def __init__(self, space: Space, slo: Slo, settings: SolverSettings, clock: Clock, progress=None,
                 objective: str = "chips"):
        self.slo, self.space, self.settings, self.clock, self.progress = slo, space, settings, clock, progress
        st = self.tables = build_tables(space, slo, progress, objective, by_batch=True)
        self.solves, self.keys, self.exact, self.limits, self.lazy = 0, 0, True, _Limits(self), False  # no CP-SAT
        self.n = space.iterations
        self.X = np.asarray(space.iterative_batch_options(), dtype=np.int64)
        self.B = np.asarray(st.batches, dtype=np.int64)
        self.tpot_cap = decode_cap_ps(slo.tpot_max_s, space.decode_tokens()) if slo.tpot_max_s else None
        self._rows(space, st)
        self._keys(space, st)
        self._cache: dict = {}  # slice -> its keys (``batch``)
        self._caps: dict[int, int] = {}  # Q3's cycle cap per R'
        ub, lb, self.qps_ub = self._cheap()
        self.slices = [_Slice(b, int(self.B[b]), ub[b], int(lb[b]), dead=ub[b] <= 0, need=int(self.B[b]), ub0=ub[b])
                       for b in range(len(self.B))]

    # -- exact pieces -----------------------------------------------------------------------------------------------

    @staticmethod
    def _below(num: np.ndarray, den: np.ndarray, cap: Fraction, strict: bool = False) -> np.ndarray:
        """Per row, num / den < cap (strict) or <= cap, exactly: floats beyond a 1e-14 margin (their error is below
        4e-16: num, den and the quotient each rounded once), integers within. (``cmp_products`` would broadcast the
        cap's numerator and denominator, often past int64, to whole object arrays: 30% slower frontiers.)"""
        f = num.astype(np.float64) / den.astype(np.float64)
        c = float(cap)
        out = f < c * (1 - 1e-14)
        band = np.flatnonzero(~out & (f <= c * (1 + 1e-14)))
        if len(band):
            lhs = num[band].astype(object) * cap.denominator
            rhs = den[band].astype(object) * cap.numerator
            out[band] = (lhs < rhs) if strict else (lhs <= rhs)
        return out

    def _best(self, b: int, k: int, limit: Fraction | None) -> tuple[Fraction, int, int] | None:
        """IR7: a key's least T over x and D (T <= ``limit`` only): (T, x index, decode row index). The iterative
        batches are taken by increasing pre-decode time (T >= it); each best found drops every batch whose
        pre-decode time reaches it."""
        xs, num, den = self._order(b, k)
        live = self._floor_mask(b, k, xs)
        if limit is not None:
            live &= self._below(num, den, limit)
        f = num.astype(np.float64) / den.astype(np.float64)
        best = None
        while live.any():
            i = int(np.argmin(np.where(live, f, np.inf)))  # the least pre-decode time left (first among ties)
            live[i] = False
            xi = int(xs[i])
            D, L, M, q, le = self._decode(b, k, xi)
            if not len(D):
                continue
            r = least_ratio(2 * M, q)
            t = max(Fraction(int(num[i]), int(den[i])), Fraction(2 * int(M[r]), int(q[r])))
            if (limit is None or t <= limit) and (best is None or t < best[0]):
                best = (t, xi, int(np.searchsorted(self.tables.decode.D[int(self.kd[k])], int(D[r]))))
                live &= self._below(num, den, t, strict=True)
        return best

    def _meet(self, b: int, k: int, floor: Fraction | None) -> tuple[int, int, int] | None:
        """IR6: a key's plan with QPS/chip >= floor (None: any; the SLO's QPS floor always) and the least decode
        latency: (Le, x index, decode row index), None if none."""
        cap = None if floor is None else 1 / (int(self.kn[k]) * floor)  # T <= cap
        xs, num, den = self._order(b, k)
        ok = self._floor_mask(b, k, xs)
        if cap is not None:
            ok &= self._below(num, den, cap)
        mono = bool(self.mono_g[self.kg[k]] and self.mono_r[self.kj[k]])
        best, x_seen = None, None
        for xi in xs[ok].tolist():  # x ascending
            x_now = int(self.Ir[self.kj[k], xi]) + int(self.I[self.kg[k], xi])
            if x_seen is not None and x_now >= x_seen:
                continue
            x_seen = x_now
            D, L, M, q, le = self._decode(b, k, xi)
            fit = self._below(2 * M, q, cap) if cap is not None else np.ones(len(D), dtype=bool)
            if fit.any():
                r = int(np.flatnonzero(fit)[np.argmin(le[fit])])
                got = (int(le[r]), xi, int(np.searchsorted(self.tables.decode.D[int(self.kd[k])], int(D[r]))))
                if best is None or got[0] < best[0]:
                    best = got
            if mono:
                break  # IR6: x* serves every row best
        return best

    def _plan(self, b: int, k: int, xi: int, row: int) -> tuple[Cost, dict]:
        """The exact cost of (key, x, decode row) and its values."""
        book, d = self.tables.decode, int(self.kd[k])
        D, L = int(book.D[d][row]), int(book.L[d][row])
        r, cg, cr = (int(v[0]) for v in self._cycles(b, k, np.array([xi])))
        x = int(self.X[xi])
        m = L + self.n * (int(self.Ir[self.kj[k], xi]) + int(self.I[self.kg[k], xi]))
        q = 2 * D - x + 1
        n = int(self.kn[k])
        ttft = int(self.A[self.kg[k], b]) + int(self.R[self.kj[k], b])
        cost = Cost(r, ttft, max(cg, cr), n, D, -(-2 * D * m // q), int(self.kw[k]), (q, 2 * m))
        return cost, {"key": k, "x": x, "D": D}

    def _tick(self) -> None:
        self.keys += 1  # a key evaluated
        if self.clock.remaining() <= 0:
            raise OutOfTime()

    # -- objectives (``union_point``'s interface) -------------------------------------------------------------------

    def tighten(self, sl: _Slice, e: int | None, above: Fraction | None = None) -> None:
        """IR8 at e: the slice's bound is the largest of its keys' with TTFT <= e; no key there: dead (exact per
        key: ``above`` changes nothing)."""
        if sl.bounded_at == e or sl.dead:
            return
        sl.bounded_at = e
        bt = self.batch(sl.bi)
        ok = bt.ttft <= e if e is not None else np.ones(len(bt.keys), dtype=bool)
        if not ok.any():
            sl.dead = True
            return
        self.lower(sl, Fraction(float(bt.ub[ok].max())), strict=False)

    def o1(self, sl: _Slice, e: int | None, beat: Fraction | None):
        """O1 by IR7: the slice's largest QPS/chip under TTFT <= e (with ``beat``: None unless some plan ties or
        beats it), keys by decreasing bound until none can beat the best."""
        if sl.best is not None and (e is None or sl.best[0].ttft <= e):
            return sl.best if beat is None or sl.best[0].ratio > beat else None
        floor = None if beat is None else tie_floor(beat)
        bt = self.batch(sl.bi)
        top, got = floor, None
        order = bt.by_ub if e is None else bt.by_ub[bt.ttft[bt.by_ub] <= e]
        for c in range(0, len(order), 32):
            part = order[c:c + 32]
            if top is not None:
                part = part[bt.ub[part] >= float(top) * (1 - SLACK)]
                if not len(part):
                    break
            ks = bt.keys[part]
            for k, ub in zip(ks.tolist(), self._coupled(sl.bi, ks).tolist()):
                if top is not None and ub < float(top) * (1 - SLACK):
                    continue
                if top is not None:  # exact: a key bound by its group or retrieval alone cannot beat (or tie) top
                    most = 1 / (int(self.kn[k]) * max(self._low(bt, sl.bi, "g", int(self.kg[k])),
                                                      self._low(bt, sl.bi, "r", int(self.kj[k]))))
                    if most < top or (got is not None and most == top):
                        continue
                self._tick()
                lim = None if top is None else 1 / (int(self.kn[k]) * top)
                res = self._best(sl.bi, k, lim)
                if res is not None:
                    ratio = 1 / (int(self.kn[k]) * res[0])
                    if top is None or ratio > top or (got is None and ratio >= top):
                        top, got = ratio, (k, res[1], res[2])
        if got is None:
            if beat is None:
                sl.dead = True
            else:
                self.lower(sl, floor, strict=True)
            return None
        cost, values = self._plan(sl.bi, *got)
        sl.best = (cost, values, True)
        self.lower(sl, cost.ratio, strict=False)
        return sl.best

    def _feasible(self, sl: _Slice, e: int | None, floor: Fraction):
        """Keys (by TTFT, then chips) whose bound reaches ``floor`` under TTFT <= e."""
        bt = self.batch(sl.bi)
        for i in bt.by_ttft.tolist():
            if (e is not None and bt.ttft[i] > e) or bt.ub[i] < float(floor) * (1 - SLACK):
                continue
            yield int(bt.keys[i]), int(bt.ttft[i])

    def o2(self, sl: _Slice, e: int | None, floor: Fraction, low: int | None = None):
        """O2: the least TTFT among plans with QPS/chip >= floor under TTFT <= e (keys by TTFT, the first that meets
        the floor, IR6)."""
        if sl.best is not None and (e is None or sl.best[0].ttft <= e) and sl.best[0].ratio >= floor \
                and sl.best[0].ttft in (sl.ttft_lb, low):
            return sl.best
        for k, _ in self._feasible(sl, e, floor):
            self._tick()
            got = self._meet(sl.bi, k, floor)
            if got is not None:
                cost, values = self._plan(sl.bi, k, got[1], got[2])
                return cost, values, True
        self.lower(sl, floor, strict=True)
        return None

    def o3(self, sl: _Slice, ttft: int, floor: Fraction):
        """O3: the least TPOT, then the fewest chips (then the highest QPS/chip), among plans with QPS/chip >= floor
        and TTFT <= ttft (every such key, IR6)."""
        best = None
        for k, _ in self._feasible(sl, ttft, floor):
            self._tick()
            got = self._meet(sl.bi, k, floor)
            if got is None:
                continue
            cost, values = self._plan(sl.bi, k, got[1], got[2])
            if best is None or (cost.l, cost.n, -cost.ratio) < (best[0].l, best[0].n, -best[0].ratio):
                best = (cost, values)
        if best is None:
            raise RuntimeError(f"O3 on slice B={sl.batch} has no plan right after O2 found one: a bug")
        return best[0], best[1], True

    def _reaching(self, sl: _Slice, e: int | None) -> np.ndarray:
        """Indices into the slice's keys under TTFT <= e whose bound (IR8) reaches the SLO's QPS floor, by weight,
        then TTFT."""
        bt = self.batch(sl.bi)
        ok = np.ones(len(bt.keys), dtype=bool) if e is None else bt.ttft <= e
        if self.slo.qps_min is not None:  # QPS <= N x the QPS/chip bound (requests per ps)
            ok &= bt.ub * bt.n * 1e12 >= self.slo.qps_min * (1 - SLACK)
        idx = np.flatnonzero(ok)
        return idx[np.lexsort((bt.ttft[idx], self.kw[bt.keys[idx]]))]

    def o4(self, sl: _Slice, e: int | None):
        """O4: the least weight, then the least TTFT, under the SLO (keys by weight then TTFT: the first with a plan,
        IR6 with the QPS floor's caps)."""
        bt = self.batch(sl.bi)
        for i in self._reaching(sl, e).tolist():
            self._tick()
            k = int(bt.keys[i])
            got = self._meet(sl.bi, k, None)
            if got is not None:
                cost, values = self._plan(sl.bi, k, got[1], got[2])
                return cost, values, True
        return None

    def o4_tpot(self, sl: _Slice, w: int, ttft: int):
        """O4's tie-break: the least TPOT among plans with weight <= w and TTFT <= ttft (every such key)."""
        bt, best = self.batch(sl.bi), None
        for i in self._reaching(sl, ttft).tolist():
            k = int(bt.keys[i])
            if self.kw[k] > w:
                break
            self._tick()
            got = self._meet(sl.bi, k, None)
            if got is not None and (best is None or got[0] < best[0]):
                best = (got[0], k, got[1], got[2])
        if best is None:
            raise RuntimeError(f"O4 TPOT on slice B={sl.batch} has no plan right after O4 found one: a bug")
        cost, values = self._plan(sl.bi, *best[1:])
        return cost, values, True

    def plan(self, sl: _Slice, v: dict) -> Plan:
        sp, k = self.space, v["key"]
        pi, g = self.group[self.kg[k]]
        o, d = self.code[self.kg[k]], int(self.tables.decode.options[self.kd[k]])
        codes = {s: o for s in g if s in ACCELERATOR_STAGES} | {"decode": d}
        return Plan(placement=sp.placements[pi], chips_per_stage={s: int(units_of(c)) for s, c in codes.items()},
                    batch_per_stage={s: sl.batch for s in sp.pre_decode} | {"decode": v["D"]},
                    retrieval_servers=int(sp.servers(int(self.kn[k]))), retrieval_server=sp.server_types[0],
                    accelerator_per_stage={s: sp.types[int(kind_of(c))] for s, c in codes.items()},
                    burst_requests=None, iterative_batch=v["x"])
