"""The schedules an exhaustive search enumerates: chip assignments of each placement (S3, streamed in chunks,
partial sums pruned against the range), and the tables every chunk shares (batch columns, SLO limits, decode rows)
that turn assignments into exact TTFT and pre-decode cycles (Q1; with micro-batching MB2-MB4).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from planner.burst import burst_ttft, group_finish
from planner.overlap import pipelined
from planner.exact import decode_rows_meet, qps_cycle_cap_ps, ratio_rank, ttft_cap_ps
from planner.schema import Slo
from planner.space import Space, kind_of, units_of

__all__ = ["Decode", "Progress", "ScheduleTables", "chunks", "total_chips"]

Progress = Callable[[str], None]
_CHUNK = 2_000_000  # array elements per chunk (memory stays bounded)


@dataclass(frozen=True)
class Decode:
    """Decode rows at one chip count: batches D (ascending), whole-decode latency L (ps), whether each row meets
    the SLO's TPOT bound and its share of the QPS floor, and the exact rank of D / L (0 = highest)."""

    D: np.ndarray
    L: np.ndarray
    ok: np.ndarray
    rank: np.ndarray


class ScheduleTables:
    """What every chunk of a space under an SLO shares: the batch columns, SLO limits, decode rows per chip count.

    A column is a request batch B (S5), or with micro-batching a schedule of stage batches and a burst R (MB1,
    MB5); ``B`` holds its requests per pre-decode cycle (B, or R: MB4), ``need`` the least decode batch (B, or the
    largest b_s)."""

    def __init__(self, space: Space, slo: Slo):
        self.space, self.slo = space, slo
        self.columns = space.burst_columns() if space.micro else None
        self.iterative = space.iterative_columns() if space.iterations else None  # IR2: (B, b_it) per column
        self.B, self.need = space.column_batches()
        self.ttft_cap = ttft_cap_ps(slo.ttft_max_s) if slo.ttft_max_s is not None else None
        self.cycle_cap = (np.array([qps_cycle_cap_ps(int(b), slo.qps_min) for b in self.B], dtype=np.int64)
                          if slo.qps_min is not None else None)
        self._dec: dict[int, Decode] = {}

    def decode(self, n: int) -> Decode:
        if n not in self._dec:
            D = np.asarray(self.space.decode_batch_options(n), dtype=np.int64)
            L = np.asarray(self.space.latency_ps("decode", n, D), dtype=np.int64).reshape(-1)
            ok = decode_rows_meet(D, L, self.space.decode_tokens(), self.slo.tpot_max_s, self.slo.qps_min)
            self._dec[n] = Decode(D, L, ok, ratio_rank(D, L) if len(D) else np.zeros(0, dtype=np.int64))
        return self._dec[n]

    def batches(self, col: int) -> tuple[dict[str, int], int | None]:
        """The pre-decode stages' batches of a column and its burst (None without micro-batching)."""
        if self.iterative is not None:
            return {s: self.iterative[col][0] for s in self.space.pre_decode}, None
        if self.columns is None:
            return {s: int(self.B[col]) for s in self.space.pre_decode}, None
        v, r = self.columns[col]
        return dict(zip(self.space.pre_decode, v)), r

    def _lat(self, s: str, units: np.ndarray, batches: tuple[int, ...]) -> np.ndarray:
        """L_s (ps) of every row's option ``units`` at each batch: shape (k, len(batches))."""
        uniq, inv = np.unique(units, return_inverse=True)
        return np.stack([self.space.latency_row(s, int(u), batches) for u in uniq])[inv.reshape(-1)]

    def pre(self, placement, A: np.ndarray):
        """(TTFT, C_pre, ok, L_it) of shape (k, |columns|): ok = within the TTFT bound and the QPS floor; L_it =
        L_r(b_it) + L_pf(b_it) of each row's servers and prefill option (None without iterative retrieval)."""
        sp = self.space
        servers = (A[:, len(placement)] if sp.decides_servers else
                   sp.servers(total_chips(A, placement)) if sp.has_retrieval else None)
        units = {s: servers if s == "retrieval" else A[:, gi] for gi, g in enumerate(placement) for s in g}
        l_it = None
        if self.columns is not None:
            ttft, cpre = self._burst(placement, units, len(A))
        elif self.iterative is not None:
            ttft, cpre, l_it = self._iterative(placement, units, len(A))
        else:
            group_of = {s: gi for gi, g in enumerate(placement) for s in g}
            cyc = {gi: np.zeros((len(A), len(self.B)), dtype=np.int64) for gi, g in enumerate(placement)
                   if "decode" not in g}
            ttft = np.zeros((len(A), len(self.B)), dtype=np.int64)
            batches = tuple(int(b) for b in self.B)
            ov, lats = pipelined(sp), {}
            for s in sp.pre_decode:
                lats[s] = lat = self._lat(s, units[s], batches)
                if ov is None or s not in ("retrieval", "prefill"):
                    ttft += lat
                cyc[group_of[s]] += lat
            if ov is not None:  # AP2-AP3: retrieval and prefill pipelined; the re-prefill in TTFT and prefill's cycle
                pen = ov.penalty(lats["prefill"])
                ttft += ov.pair(lats["retrieval"], lats["prefill"]) + pen
                cyc[group_of["prefill"]] += pen
            cpre = np.max(np.stack(list(cyc.values())), axis=0)
        ok = np.ones(ttft.shape, dtype=bool)
        if self.ttft_cap is not None:
            ok &= ttft <= self.ttft_cap
        if self.cycle_cap is not None:
            ok &= cpre <= self.cycle_cap[None, :]
        return ttft, cpre, ok, l_it

    def _iterative(self, placement, units: dict[str, np.ndarray], k: int) -> tuple[np.ndarray, ...]:
        """IR3 for k rows and every (B, b_it) column: TTFT at B; each group's cycle per R' = lcm(B, b_it) requests,
        retrieval's and prefill's groups with n R' / b_it iterative batches; and L_r(b_it) + L_pf(b_it)."""
        sp, n = self.space, self.space.iterations
        bs = np.array([b for b, _ in self.iterative], dtype=np.int64)
        its = np.array([i for _, i in self.iterative], dtype=np.int64)
        grid = tuple(sorted(set(bs.tolist()) | set(its.tolist())))
        at_b, at_i = np.searchsorted(grid, bs), np.searchsorted(grid, its)
        lat = {s: self._lat(s, units[s], grid) for s in sp.pre_decode}
        ttft = sum(lat[s][:, at_b] for s in sp.pre_decode)
        extra = {s: n * (self.B // its)[None, :] * lat[s][:, at_i] for s in ("retrieval", "prefill")}
        cyc = [sum(lat[s][:, at_b] for s in g) * (self.B // bs)[None, :] + sum(extra.get(s, 0) for s in g)
               for g in placement if "decode" not in g]
        return ttft, np.max(np.stack(cyc), axis=0), lat["retrieval"][:, at_i] + lat["prefill"][:, at_i]

    def _burst(self, placement, units: dict[str, np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
        """MB2-MB4 for k assignment rows and every column: (TTFT, C_pre), each (k, |columns|). Per burst R, the
        groups are added in order; a group's stage batches are looped over (its step order depends on them only,
        MB2), every row and upstream schedule at once; the columns are the product's schedules (MB5)."""
        sp = self.space
        at = {s: i for i, s in enumerate(sp.pre_decode)}
        ttfts, cycles = [], []
        for r in sp.burst_sizes():
            opts = sp.burst_product(r)
            lat = {s: self._lat(s, units[s], opts[at[s]]) for s in sp.pre_decode}
            finish, cpre = None, np.zeros((k, 1), dtype=np.int64)
            for g in placement[:-1]:
                outs, cycs = [], []
                for v in itertools.product(*(opts[at[s]] for s in g)):
                    ls = [lat[s][:, opts[at[s]].index(b)] for s, b in zip(g, v)]
                    outs.append(group_finish(v, [x[:, None] for x in ls], finish, r))
                    cycs.append(sum(r // b * x for b, x in zip(v, ls)))
                finish = np.stack(outs, axis=2).reshape(k, -1, r)
                cpre = np.maximum(cpre[:, :, None], np.stack(cycs, axis=1)[:, None, :]).reshape(k, -1)
            keep = [max(v) == r or sp.instance.search.burst_requests is not None for v in itertools.product(*opts)]
            ttfts.append(burst_ttft(finish)[:, keep])
            cycles.append(cpre[:, keep])
        return np.concatenate(ttfts, axis=1), np.concatenate(cycles, axis=1)


def total_chips(A: np.ndarray, placement) -> np.ndarray:
    """E5: total chips of assignment rows (the group columns' units; a retrieval column after them is not chips)."""
    return units_of(A[:, :len(placement)]).sum(axis=1)


def _cross(grid: np.ndarray, opts: np.ndarray) -> np.ndarray:
    return np.concatenate([np.repeat(grid, len(opts), axis=0), np.tile(opts, len(grid))[:, None]], axis=1)


def _assignments(space: Space, placement, rows: int) -> Iterator[np.ndarray]:
    """S3: the group options (codes) of ``placement`` with a chip total in [min_chips, max_chips] and every type
    within its budget (S8), then (S9) each retrieval option in a last column, in chunks of about ``rows``; partial
    sums that cannot reach the range are pruned as the groups are added."""
    opts = [np.asarray(space.group_chip_options(g, placement) or (0,), dtype=np.int64) for g in placement]
    lo_rest = np.cumsum([int(units_of(o).min()) for o in opts][::-1])[::-1].tolist() + [0]
    hi_rest = np.cumsum([int(units_of(o).max()) for o in opts][::-1])[::-1].tolist() + [0]
    for first in opts[0]:
        grid = np.array([[first]], dtype=np.int64)
        for gi in range(1, len(opts)):
            grid = _cross(grid, opts[gi])
            s = units_of(grid).sum(axis=1)
            grid = grid[(s + lo_rest[gi + 1] <= space.max_chips) & (s + hi_rest[gi + 1] >= space.min_chips)]
        s = units_of(grid).sum(axis=1)
        keep = (s >= space.min_chips) & (s <= space.max_chips)
        if space.budgeted:
            for k, cap in enumerate(space.type_budget):
                keep &= np.where(kind_of(grid) == k, units_of(grid), 0).sum(axis=1) <= cap
        grid = grid[keep]
        if space.decides_servers:
            grid = _cross(grid, np.asarray(space.retrieval_options, dtype=np.int64))
        for start in range(0, len(grid), max(1, rows)):
            yield grid[start:start + rows]


def chunks(space: Space, tables: ScheduleTables, progress: Progress | None):
    """(placement index, chip rows A, TTFT, C_pre, ok, L_it) per chunk of every placement."""
    nB = len(tables.B)
    for pi, placement in enumerate(space.placements):
        if progress:
            progress(f"[{pi + 1}/{len(space.placements)}] placement {' | '.join('+'.join(g) for g in placement)}")
        n_d = max(len(space.decode_batch_options(int(n))) for n in space.group_chip_options(placement[-1], placement))
        wide = max(space.burst_sizes()) if space.micro else 1  # MB2 keeps (rows, columns, burst) finish times
        for A in _assignments(space, placement, max(1, _CHUNK // (nB * max(n_d, wide)))):
            if len(A):
                yield (pi, A, *tables.pre(placement, A))
