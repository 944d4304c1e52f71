"""The keys of the by-batch slices and their bounds (``docs/model.md``, "Iterative retrieval", IR5 and IR8; used by
``planner.cpsat.iterative``).

Per (placement, group option) row g: A[g, b] its stages' L_s(B) summed and I[g, x] = L_pf(x); per retrieval bucket
j: R[j, b] = L_r(B) and Ir[j, x]; decode's book. A key is (row g, decode option d) with N = n_o + n_d in
[N_min, N_max], in a bucket, within the per-type budgets. Exact integers throughout (Q1); bounds in floats,
widened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from planner.exact import qps_cycle_cap_ps
from planner.space import Space, kind_of, units_of

__all__ = ["ByBatchTables", "SLACK", "least_ratio"]

SLACK = 1e-9  # relative float margin of every screen (float error is about 1e-15)


def least_ratio(num: np.ndarray, den: np.ndarray) -> int:
    """The index of the least num / den (positive integers; the first among exact ties): floats pick the candidates
    within 1e-14 of the least (their error is below 4e-16: num, den and the quotient each rounded once), Python
    integers decide among them."""
    f = num.astype(np.float64) / den.astype(np.float64)
    near = np.flatnonzero(f <= f.min() * (1 + 1e-14))
    best = int(near[0])
    for i in near[1:].tolist():
        if int(num[i]) * int(den[best]) < int(num[best]) * int(den[i]):
            best = i
    return best


@dataclass
class _Batch:
    """One slice's keys (indices into the sweep's key arrays) with their TTFT and bound; orders made on first use."""

    keys: np.ndarray
    ttft: np.ndarray
    ub: np.ndarray  # IR8 per key, requests per ps-chip (floats, widened)
    n: np.ndarray  # chips per key
    low: dict  # ('g', group row) or ('r', bucket) -> its least time per request over x, exact (``_low``)
    _by: dict = field(default_factory=dict)

    @property
    def by_ub(self) -> np.ndarray:
        if "ub" not in self._by:
            self._by["ub"] = np.argsort(-self.ub, kind="stable")
        return self._by["ub"]

    @property
    def by_ttft(self) -> np.ndarray:
        if "ttft" not in self._by:
            self._by["ttft"] = np.lexsort((self.n, self.ttft))
        return self._by["ttft"]


class ByBatchTables:
    """The rows, keys and bounds of IR5's slices (a base of ``IterativeSweep``, which sets ``space``, ``slo``,
    ``tables``, ``n``, ``X``, ``B``, ``tpot_cap`` and calls ``_rows`` and ``_keys``)."""

    def _rows(self, space: Space, st) -> None:
        """Per (placement, group option) row g: A[g, b] its stages' L_s(B) summed, I[g, x] prefill's L_pf(x); per
        bucket j: R[j, b] = L_r(B), Ir[j, x]; whether each row's iterative latencies never fall with x."""
        xs = tuple(int(x) for x in self.X)
        self.group, self.code, A, I = [], [], [], []
        for pi, p in enumerate(space.placements):
            g = next(g for g in p if "prefill" in g)
            for o in space.group_chip_options(g, p):
                self.group.append((pi, g))
                self.code.append(int(o))
                A.append(sum(st.lat[s][int(np.searchsorted(st.options[s], o))] for s in g))
                I.append(space.latency_row("prefill", int(o), xs))
        self.A, self.I = np.array(A, dtype=np.int64).reshape(-1, len(self.B)), np.array(I, dtype=np.int64)
        self.R = st.lat["retrieval"]
        self.Ir = np.array([space.latency_row("retrieval", int(bk.servers), xs) for bk in st.buckets], dtype=np.int64)
        self.mono_g = np.all(np.diff(self.I, axis=1) >= 0, axis=1) if self.I.size else np.ones(0, dtype=bool)
        self.mono_r = np.all(np.diff(self.Ir, axis=1) >= 0, axis=1)
        book = st.decode
        self.dmax = np.array([int(D[-1]) if len(D) else 0 for D in book.D], dtype=np.int64)
        self.dec_low = np.full((len(book.D), len(self.B)), np.inf)  # min over D >= B of L / D, per option and B
        for i, (D, L) in enumerate(zip(book.D, book.L)):
            if len(D):
                low = np.minimum.accumulate((L / D)[::-1])[::-1]
                at = np.searchsorted(D, self.B)
                self.dec_low[i, at < len(D)] = low[at[at < len(D)]]
        top = 2 * int(self.dmax.max(initial=0)) + 1
        self.qcap = (np.array([qps_cycle_cap_ps(q, self.slo.qps_min) if q else 0 for q in range(top + 1)],
                              dtype=np.int64) if self.slo.qps_min is not None else None)  # Q3 per q: decode's share

    def _keys(self, space: Space, st) -> None:
        """Every (group row g, decode option d) whose N = n_o + n_d lies in [N_min, N_max], in a bucket, within the
        per-type budgets (S8): arrays g, d, N, j and the weight w (hosts are priced with the chips, S4)."""
        book, bk = st.decode, st.buckets
        lo = np.array([b.n_lo for b in bk], dtype=np.int64)
        hi = np.array([b.n_hi for b in bk], dtype=np.int64)
        code = np.asarray(self.code, dtype=np.int64)
        g, d = np.meshgrid(np.arange(len(code)), np.arange(len(book.options)), indexing="ij")
        g, d = g.reshape(-1), d.reshape(-1)
        n = units_of(code[g]) + book.chips[d]
        ok = (n >= space.min_chips) & (n <= space.max_chips)
        if space.budgeted:
            kg, kd = kind_of(code[g]), kind_of(book.options[d])
            cap = np.asarray(space.type_budget, dtype=np.int64)
            ok &= np.where(kg == kd, n <= cap[kg], (units_of(code[g]) <= cap[kg]) & (book.chips[d] <= cap[kd]))
        j = np.searchsorted(hi, n)
        ok &= (j < len(bk)) & (lo[np.minimum(j, len(bk) - 1)] <= n)
        self.kg, self.kd, self.kn, self.kj = g[ok], d[ok], n[ok], j[ok]
        w = np.array([space.weight(st.objective, int(o)) for o in code], dtype=np.int64)
        self.kw = w[self.kg] + book.weights[self.kd]  # the key's weight under the objective (O4; chips: N)
        self.x_lo = self.n * (self.I.min(axis=1)[self.kg] + self.Ir.min(axis=1)[self.kj])  # X's least (IR8)

    def _dec_lb(self, b: int) -> np.ndarray:
        """Per key, decode's least per-request time at slice b: min_{D >= B} L / D + X_lo / D_max (IR8; inf if no
        row has D >= B)."""
        return self.dec_low[self.kd, b] + self.x_lo / np.maximum(self.dmax[self.kd], 1)

    def _cheap(self) -> tuple[list[Fraction], np.ndarray, np.ndarray]:
        """IR8's cheap bound of every slice (the group's and retrieval's least per-request times over x apart), each
        slice's least TTFT, and its most QPS (requests/ps)."""
        per_x_g = (self.n * self.I / self.X[None, :]).min(axis=1)
        per_x_r = (self.n * self.Ir / self.X[None, :]).min(axis=1)
        ub, lb, qps = [], np.zeros(len(self.B), dtype=np.int64), np.zeros(len(self.B))
        for b, B in enumerate(self.B.tolist()):
            pre = np.maximum(self.A[self.kg, b] / B + per_x_g[self.kg], self.R[self.kj, b] / B + per_x_r[self.kj])
            t = np.maximum(pre, self._dec_lb(b))
            live = np.isfinite(t)
            if not live.any():
                ub.append(Fraction(0))
                continue
            ub.append(Fraction(float((1.0 / (self.kn[live] * t[live])).max()) * (1 + SLACK)))
            qps[b] = float((1.0 / t[live]).max()) * (1 + SLACK)
            lb[b] = int((self.A[self.kg, b] + self.R[self.kj, b])[live].min())
        return ub, lb, qps

    def batch(self, b: int) -> _Batch:
        """Slice b's keys with their exact TTFT and IR8 bound (the group's and retrieval's least per-request times
        over x, decode's least), remembered."""
        if b not in self._cache:
            B = int(self.B[b])
            dec = self._dec_lb(b)
            live = np.flatnonzero(np.isfinite(dec))
            xs = self.X <= max(int(self.dmax.max(initial=0)), B)
            g = (self.A[:, b, None] / B + self.n * self.I[:, xs] / self.X[None, xs]).min(axis=1)
            r = (self.R[:, b, None] / B + self.n * self.Ir[:, xs] / self.X[None, xs]).min(axis=1)
            pre = np.maximum(g[self.kg[live]], r[self.kj[live]])
            ub = (1 + SLACK) / (self.kn[live] * np.maximum(pre, dec[live]))
            ttft = self.A[self.kg[live], b] + self.R[self.kj[live], b]
            self._cache[b] = _Batch(live.astype(np.int32), ttft, ub, self.kn[live], {})
        return self._cache[b]

    def _cycles(self, b: int, k: int, xs: np.ndarray) -> tuple[np.ndarray, ...]:
        """(R', the group's cycle, retrieval's cycle) per R' = lcm(B, x) requests (IR3) for each iterative batch
        X[xs], exact (Python integers: cycles per R' may pass int64)."""
        B, g, j = int(self.B[b]), int(self.kg[k]), int(self.kj[k])
        r, x = np.lcm(B, self.X[xs]).astype(object), self.X[xs].astype(object)
        return (r, r // B * int(self.A[g, b]) + self.n * (r // x) * self.I[g, xs].astype(object),
                r // B * int(self.R[j, b]) + self.n * (r // x) * self.Ir[j, xs].astype(object))

    def _floor_mask(self, b: int, k: int, xs: np.ndarray) -> np.ndarray:
        """Q3 per iterative batch X[xs]: the group's and retrieval's cycles per R' = lcm(B, x) within the QPS floor's
        cap (every batch passes without a floor); caps remembered per R'."""
        if self.slo.qps_min is None:
            return np.ones(len(xs), dtype=bool)
        r, cg, cr = self._cycles(b, k, xs)
        for v in set(r.tolist()) - self._caps.keys():
            self._caps[v] = qps_cycle_cap_ps(v, self.slo.qps_min)
        cap = np.array([self._caps[v] for v in r.tolist()], dtype=object)
        return (np.maximum(cg, cr) <= cap).astype(bool)

    def _decode(self, b: int, k: int, xi: int) -> tuple[np.ndarray, ...]:
        """Decode rows of key k at x that meet the TPOT bound and decode's share of the QPS floor: (D, L, M, q, Le)
        with D >= max(B, x), M = L + X, q = 2D - x + 1, Le = ceil(2DM / q) (IR4), exact integers."""
        book, d = self.tables.decode, int(self.kd[k])
        x = int(self.X[xi])
        D, L = book.D[d], book.L[d]
        a = int(np.searchsorted(D, max(int(self.B[b]), x)))
        D, L = D[a:], L[a:]
        M = L + self.n * (int(self.Ir[self.kj[k], xi]) + int(self.I[self.kg[k], xi]))
        q = 2 * D - x + 1
        if len(D) and 2 * float(D[-1]) * float(M.max()) >= 2**62:  # beyond int64: Python integers
            D, M, q = D.astype(object), M.astype(object), q.astype(object)
        le = -(-(2 * D * M) // q)
        ok = np.ones(len(D), dtype=bool)
        if self.tpot_cap is not None:
            ok &= le <= self.tpot_cap
        if self.qcap is not None:
            ok &= 2 * M <= self.qcap[q.astype(np.int64)]
        return D[ok], L[ok], M[ok], q[ok], le[ok]

    def _order(self, b: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A key's iterative batches (indices of those a decode row can take) and their pre-decode time per request
        as exact num / den: num = max(x A + n B I(x), x R + n B I_r(x)), den = B x (Python integers past int64)."""
        B, g, j = int(self.B[b]), int(self.kg[k]), int(self.kj[k])
        xs = np.flatnonzero(self.X <= self.dmax[self.kd[k]])
        x, i_g, i_r = self.X[xs], self.I[g, xs], self.Ir[j, xs]
        if float(x[-1] if len(x) else 0) * max(float(self.A[g, b]), float(self.R[j, b]), 1.0) \
                + self.n * B * float(max(i_g.max(initial=0), i_r.max(initial=0))) >= 2**62:
            x, i_g, i_r = x.astype(object), i_g.astype(object), i_r.astype(object)
        num = np.maximum(x * int(self.A[g, b]) + self.n * B * i_g, x * int(self.R[j, b]) + self.n * B * i_r)
        return xs, num, B * x

    def _low(self, bt: _Batch, b: int, which: str, row: int) -> Fraction:
        """min over x of (x base[b] + n B it[x]) / (B x) for a group row ('g') or a bucket ('r'): its least time per
        request at slice b, exact (floats pick the candidates, integers decide among them); remembered per slice."""
        if (which, row) not in bt.low:
            base, it = (self.A, self.I) if which == "g" else (self.R, self.Ir)
            B = int(self.B[b])
            num = self.X * int(base[row, b]) + self.n * B * it[row]
            den = B * self.X
            i = least_ratio(num, den)
            bt.low[which, row] = Fraction(int(num[i]), int(den[i]))
        return bt.low[which, row]

    def _coupled(self, b: int, ks: np.ndarray) -> np.ndarray:
        """IR8 per key with x coupled: QPS/chip <= 1 / (N min_x max(pre(x), min_{D >= B} L / D + X(x) / D_max))
        (2M / q >= M / D >= L / D + X / D_max); floats, widened."""
        B, g, j, d = int(self.B[b]), self.kg[ks], self.kj[ks], self.kd[ks]
        ig, ir = self.I[g], self.Ir[j]
        pre = np.maximum(self.A[g, b, None] / B + self.n * ig / self.X, self.R[j, b, None] / B + self.n * ir / self.X)
        dec = self.dec_low[d, b, None] + self.n * (ig + ir) / np.maximum(self.dmax[d], 1)[:, None]
        t = np.where(self.X[None, :] <= self.dmax[d, None], np.maximum(pre, dec), np.inf).min(axis=1)
        return (1 + SLACK) / (self.kn[ks] * t)
