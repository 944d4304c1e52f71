"""Bounds of the slice sweep (``docs/model.md``, "Pareto sweep", U1 and U4), from the picosecond tables.

U1: an upper bound on QPS/chip r_B for every TTFT bound (per placement, group g needs n_g(Q) = min{n : q_g(n, B)
>= Q} chips for a throughput Q). U4: a lower bound on the weight (chips, or a priced objective) of a slice's plans
with QPS >= Q. Bounds are computed in floats and widened by 1e-9 relative (float error is 1e-15); candidates for
U1's maximum are recomputed exactly.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from planner.burst import finish_times, mean_ceil
from planner.cpsat.tables import SpaceTables, group_latency
from planner.schema import ACCELERATOR_STAGES
from planner.space import Space, units_of

__all__ = ["Curves", "SliceBound", "burst_ttft_bounds", "need", "need_exact", "slice_bounds", "slice_chip_bounds"]


def _group_q(space: Space, st: SpaceTables, group: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Options (codes) of a group and its least latency (ps) per option and slice (any bucket): its best
    throughput is B / that."""
    opts, lat = group_latency(space, st, group)
    return opts, lat.min(axis=1)


def _decode_q(st: SpaceTables) -> tuple[np.ndarray, np.ndarray]:
    """Best decode throughput per decode option and slice, max over D >= B (MB: max b_s) of D / L, as (D, L) arrays
    (0, 1: no row)."""
    book = st.decode
    num = np.zeros((len(book.options), len(st.batches)), dtype=np.int64)
    den = np.ones((len(book.options), len(st.batches)), dtype=np.int64)
    if st.iterative is not None:  # IR4 with the least L_it of the slice: q / 2(L + L_it) never lower for a plan
        _iterative_q(st, num, den)
        return num, den
    for i, (D, L, best) in enumerate(zip(book.D, book.L, book.best_from)):
        k = np.searchsorted(D, st.needs())
        ok = k < len(D)
        j = best[np.minimum(k, len(D) - 1)[ok]] if len(D) else np.zeros(0, dtype=np.int64)
        num[i, ok], den[i, ok] = D[j], L[j]
    return num, den


def _iterative_q(st: SpaceTables, num: np.ndarray, den: np.ndarray) -> None:
    """IR4's best decode rate per option and slice (B, b_it): max over rows D >= max(B, b_it) of q / m2, q = 2D -
    b_it + 1, m2 = 2(L + low), low = n (least L_r(b_it) + least L_pf(b_it)); the first such row in row order
    among equal rates. Slices with the same (b_it, low) share q and m2, so per option and such pair one pass over
    the rows gives every slice's answer: the best row from each row on (D ascending: a slice needs a suffix).
    Floats decide where no two of the pass's rates are within 1e-12 of each other; else each slice's rows within
    1e-12 of its best are compared exactly (the products pass int64)."""
    n_it = st.it["n"]
    b = np.array([i for _, i in st.iterative], dtype=np.int64)
    low = n_it * (st.it["retrieval"].min(axis=0) + st.it["prefill"].min(axis=0))
    need_ = np.asarray(st.need, dtype=np.int64)
    keys, inv = np.unique(np.column_stack([b, low]), axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    groups = [np.flatnonzero(inv == g) for g in range(len(keys))]
    for i, (D, L) in enumerate(zip(st.decode.D, st.decode.L)):
        if not len(D):
            continue
        first = np.searchsorted(D, need_)  # per slice: its first row with D >= need
        for (bb, lw), cols in zip(keys.tolist(), groups):
            ks = first[cols]
            live = ks < len(D)
            if not live.any():
                continue
            cols, ks = cols[live], ks[live]
            q, m2 = 2 * D - bb + 1, 2 * (L + lw)
            rate = q / m2
            rev = rate[::-1]
            top = np.maximum.accumulate(rev)
            at = np.maximum.accumulate(np.where(rev >= top, np.arange(len(D)), 0))  # ties: the first row
            j = len(D) - 1 - at[len(D) - 1 - ks]  # the best row from row k on
            tail = np.sort(rate[int(ks.min()):])
            if np.any(tail[1:] - tail[:-1] <= 1e-12 * np.abs(tail[1:])):  # near ties: exact where they compete
                for c, k0 in enumerate(ks.tolist()):
                    rows = k0 + np.flatnonzero(rate[k0:] >= rate[j[c]] * (1 - 1e-12))
                    best = int(rows[0])
                    for r in rows[1:].tolist():  # strictly better only: the first row keeps a tie
                        if int(q[r]) * int(m2[best]) > int(q[best]) * int(m2[r]):
                            best = r
                    j[c] = best
            num[i, cols], den[i, cols] = q[j], m2[j]


class Curves:
    """Per slice, each group's (and decode's, and under S9 retrieval's) options as their weights (chips: the
    counts, retrieval servers 0; else the objective's weights), ascending, with their best throughput as exact
    ratios num/den (requests per ps): what U1 and U4 need."""

    def __init__(self, space: Space, st: SpaceTables, chips: bool):
        self.space, self.st = space, st

        def weigh(codes: np.ndarray) -> np.ndarray:
            return units_of(codes) if chips else np.array([space.weight(st.objective, int(o)) for o in codes],
                                                          dtype=np.int64).reshape(-1)
        self.groups = {}
        for g in {g for p in space.placements for g in p if "decode" not in g and any(s in ACCELERATOR_STAGES
                                                                                         for s in g)}:
            codes, lat = _group_q(space, st, g)
            w = weigh(np.asarray(codes))
            order = np.argsort(w, kind="stable")
            self.groups[g] = (w[order], lat[order])
        dec_w = np.asarray(units_of(st.decode.options) if chips else st.decode.weights, dtype=np.int64).reshape(-1)
        order = np.argsort(dec_w, kind="stable")
        num, den = _decode_q(st)
        self.dec_w, self.dec_num, self.dec_den = dec_w[order], num[order], den[order]
        self.ret_w = self.ret_lat = None
        if space.decides_servers:
            w = np.array([0 if chips else b.weight for b in st.buckets], dtype=np.int64)
            order = np.argsort(w, kind="stable")
            self.ret_w, self.ret_lat = w[order], st.lat["retrieval"][order]

    def of(self, placement, b: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
        """(weights, num, den) per group of the placement, decode (and retrieval, S9) at slice b; None if one has
        no option."""
        B = int(self.st.batches[b])
        out = [(o, np.full(len(o), B, dtype=np.int64), lat[:, b]) for g, (o, lat) in self.groups.items()
               if g in placement] + [(self.dec_w, self.dec_num[:, b], self.dec_den[:, b])]
        if self.ret_w is not None:
            out.append((self.ret_w, np.full(len(self.ret_w), B, dtype=np.int64), self.ret_lat[:, b]))
        return None if any(len(o) == 0 for o, _, _ in out) else out


def need(curves, levels: np.ndarray) -> np.ndarray:
    """sum over curves (weights ascending, as ``Curves.of`` gives them) of n(Q) = min{n : q(n) >= Q} at each level
    Q (floats, slack 1e-9: never above the exact value; inf where no option reaches it)."""
    total = np.zeros(len(levels))
    low = levels * (1 - 1e-9)
    for opts, num, den in curves:
        k = np.searchsorted(np.maximum.accumulate(num / den), low)
        total += np.where(k < len(opts), opts[np.minimum(k, len(opts) - 1)], np.inf)
    return total


def need_exact(curves, level: Fraction) -> int | None:
    """n(Q) summed over curves (weights ascending), exactly (None: some curve never reaches Q). Floats decide
    options far from Q; those within 1e-12 of it are compared as integers."""
    lf, total = float(level), 0
    for opts, num, den in curves:
        q = num / den
        sure = np.flatnonzero(q >= lf * (1 + 1e-12))
        first = sure[0] if len(sure) else len(q)
        near = np.flatnonzero((q[:first] >= lf * (1 - 1e-12)))
        hit = next((i for i in near.tolist() if Fraction(int(num[i]), int(den[i])) >= level), first)
        if hit == len(q):
            return None
        total += int(opts[hit])
    return total


def burst_ttft_bounds(space: Space, st: SpaceTables) -> np.ndarray:
    """U7 (micro-batching): a lower bound on the TTFT of each slice's plans: MB2-MB3 with every stage alone and at
    its least one-batch latency over its options. Finish times only grow with latencies, and a group's shared
    timeline starts each step no earlier than the stage's own timeline would (its inputs and its previous batch
    come first on it), so no placement or option finishes earlier."""
    low = [st.steps(s).min(axis=0) for s in space.pre_decode]
    return np.array([mean_ceil(sum(finish_times([[b] for b in v], [[int(x[i])] for x in low], r)), r)
                     for i, (v, r) in enumerate(st.columns)], dtype=np.int64)


def slice_bounds(space: Space, st: SpaceTables, progress=None, lazy: bool = False,
                 u1: SliceBound | None = None) -> tuple[list[Fraction], np.ndarray, np.ndarray]:
    """U1 upper bound on QPS/chip (requests per ps-chip, exact where it is attained), TTFT lower bound (ps) and
    upper bound on QPS within the budget (requests/ps) of every slice: a plan of the slice has
    Q / N <= max_Q Q / max(N_min, sum_g n_g(Q)) over the levels Q (groups' and buckets' throughputs), retrieval
    capping Q at its best bucket. Floats find the levels that may attain the maximum (within 1e-7); those are
    recomputed exactly, the others count with a 1e-9 widening (float error is about 1e-15). With ``lazy`` (many
    slices), U3's cheaper bound stands in until ``SliceBound.of`` computes a slice's U1 (the sweep does, on first
    visit). ``u1``: the space's ``SliceBound`` where the caller keeps one (its curves are built once)."""
    nb = len(st.batches)
    ov = st.overlap
    ttft_lb = sum(st.steps(s).min(axis=0) for s in space.pre_decode if ov is None or s not in ("retrieval", "prefill"))
    if ov is not None:  # AP4: at least either sum of AP2's max, plus pen (in prefill's time per cycle)
        c, r, pf = ov.chunks, st.steps("retrieval").min(axis=0), st.lat["prefill"]
        ttft_lb = ttft_lb + np.maximum(r + (pf - st.steps("prefill") - (-st.steps("prefill") // c)).min(axis=0),
                                       -(-r // c) + pf.min(axis=0))
    if st.columns is not None:  # U7
        ttft_lb = burst_ttft_bounds(space, st)
    u1 = u1 or SliceBound(space, st)
    if lazy:
        ub, qps = u1.cheap()
        return ub, np.asarray(ttft_lb, dtype=np.int64), qps
    ubs, qps_ub = [], np.zeros(nb)
    for b in range(nb):
        if progress and b % 32 == 0:
            progress(f"bounds: slice {b + 1}/{nb}")
        ub, q = u1.of(b)
        ubs.append(ub)
        qps_ub[b] = q
    return ubs, np.asarray(ttft_lb, dtype=np.int64), qps_ub


class SliceBound:
    """U1 of one slice at a time (``of``), and U3 for all slices at once (``cheap``)."""

    def __init__(self, space: Space, st: SpaceTables, curves: Curves | None = None):
        self.space, self.st = space, st
        self.curves = curves or Curves(space, st, chips=True)
        self.hosts = space.has_retrieval and not space.decides_servers

    def of(self, b: int) -> tuple[Fraction, float]:
        """U1 at slice b, and the slice's bound on QPS (requests/ps)."""
        space, st, curves, hosts = self.space, self.st, self.curves, self.hosts
        B = int(st.batches[b])
        ret = [Fraction(B, int(l)) for l in st.lat["retrieval"][:, b]] if hosts else []
        cap = max(ret) if ret else None
        ub, qps_ub = Fraction(0), 0.0
        for placement in space.placements:
            cv = curves.of(placement, b)
            if cv is None:
                continue
            nums = [num for _, num, _ in cv] + ([np.full(len(ret), B)] if ret else [])
            dens = [den for _, _, den in cv] + ([st.lat["retrieval"][:, b]] if ret else [])
            lv = np.column_stack([np.concatenate(nums), np.concatenate(dens)])
            lv = lv[lv[:, 0] > 0]
            q, inv = np.unique(lv[:, 0] / lv[:, 1], return_inverse=True)  # levels as floats, each row's one
            keep = q <= float(cap) * (1 + 1e-12) if cap is not None else np.ones(len(q), dtype=bool)
            want = need(cv, q)
            ok = keep & (want <= space.max_chips)
            if not ok.any():
                continue
            val = np.where(ok, q / np.maximum(want, space.min_chips), 0.0)
            qps_ub = max(qps_ub, float(q[ok].max()) * (1 + 1e-9))
            top = float(val.max())
            near = np.flatnonzero(val >= top * (1 - 1e-7))  # candidates for the maximum: exactly, every rational
            for level in {Fraction(int(a), int(d)) for a, d in lv[np.isin(inv, near)].tolist()}:
                if cap is not None and level > cap:
                    continue
                n = need_exact(cv, level)
                if n is not None and n <= space.max_chips:
                    ub = max(ub, level / max(n, space.min_chips))
            rest = val[val < top * (1 - 1e-7)]
            if len(rest):
                ub = max(ub, Fraction(float(rest.max()) * (1 + 1e-9)))
        return ub, qps_ub

    def cheap(self) -> tuple[list[Fraction], np.ndarray]:
        """U3 for every slice at once: Q / N <= 1 / sum_g 1 / e_g, e_g = max_n q_g(n) / n a curve's best QPS per
        chip (decode's included; N = sum_g n_g >= sum_g Q / e_g), and <= Q_r / N_min with Q_r retrieval's best
        throughput; the maximum over placements, widened by 1e-9 (floats). The QPS bound is retrieval's (or
        none: inf)."""
        space, st, cv = self.space, self.st, self.curves
        eff = {g: np.max(st.batches[None, :] / (lat * np.maximum(w, 1)[:, None]), axis=0)
               for g, (w, lat) in cv.groups.items() if len(w)}
        dec = np.max(cv.dec_num / (cv.dec_den * np.maximum(cv.dec_w, 1)[:, None]), axis=0)
        ret = (np.max(st.batches[None, :] / st.lat["retrieval"], axis=0) if space.has_retrieval
               else np.full(len(st.batches), np.inf))
        best = np.zeros(len(st.batches))
        for p in space.placements:
            inv = 1.0 / np.maximum(dec, 1e-300)
            for g in p:
                if g in cv.groups:
                    inv = inv + (1.0 / np.maximum(eff[g], 1e-300) if g in eff else np.inf)
            best = np.maximum(best, np.minimum(1.0 / inv, ret / max(space.min_chips, 1)))
        return [Fraction(float(x) * (1 + 1e-9)) for x in best], ret * (1 + 1e-9)


def slice_chip_bounds(space: Space, st: SpaceTables, qps: float) -> np.ndarray:
    """U4 lower bound on the weight (``st.objective``: chips, or the priced objectives) of every slice's plans with
    QPS >= qps (inf: none reaches qps)."""
    nb = len(st.batches)
    chips = st.objective == "chips"
    curves = Curves(space, st, chips=chips)
    lb = np.full(nb, np.inf)
    level = np.array([qps / 1e12])
    for b in range(nb):
        for placement in space.placements:
            cv = curves.of(placement, b)
            if cv is not None:
                lb[b] = min(lb[b], float(need(cv, level)[0]))
        if space.has_retrieval and not space.decides_servers:
            reach = [bk.n_lo for bk, lat in zip(st.buckets, st.lat["retrieval"][:, b])
                     if st.batches[b] / lat >= level[0] * (1 - 1e-9)]
            lb[b] = max(lb[b], min(reach, default=np.inf) if chips else (0 if reach else np.inf))
    return np.maximum(lb, space.min_chips) if chips else lb
