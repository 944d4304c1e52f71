"""Integer tables the CP-SAT model is built from (``docs/model.md``, section "CP-SAT model", parameters).

For every allowed group g that holds a pre-decode stage, the rows (n, j, B, l, q) list, for each chip count
n of the group's options (0 for a retrieval-only group), each retrieval bucket j (the server table in use,
see below) and each request batch B:

- l = ceil(sum_{s in g} L_s / TIME_RES_S)      the group's share of TTFT, rounded *up*;
- q = floor(Q_SCALE / sum_{s in g} (L_s / B))  the group's throughput (E3), rounded *down*.

Decode rows (n, D, q, t): q = floor(Q_SCALE * D / L_dec), t = ceil(t_step / TIME_RES_S) (TPOT), with a
decode batch D dropped when a larger D' at the same n has q' >= q and t' <= t (switching to D' keeps
D' >= B and loses nothing: an exact reduction).

Retrieval buckets: the retrieval latency depends on N only through the server table P5 picks for
r = max(1, floor(N / c)); bucket j is a maximal interval [N_lo_j, N_hi_j] of totals using one table.

Rounding is conservative: the solver never sees a plan as faster or higher-throughput than the evaluator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.schema import ACCELERATOR_STAGES
from planner.space import Space

__all__ = ["Q_SCALE", "TIME_RES_S", "Bucket", "DecodeTable", "GroupTable", "Tables", "build_tables"]

#: One solver time unit, in seconds (latencies are rounded up to it).
TIME_RES_S = 1e-9
#: Solver throughput units per request/second (throughputs are rounded down to it).
Q_SCALE = 1_000_000


@dataclass(frozen=True)
class Bucket:
    n_lo: int
    n_hi: int
    servers: int  # a representative server count of the bucket (its P5 table)


@dataclass(frozen=True)
class GroupTable:
    group: tuple[str, ...]
    options: tuple[int, ...]  # chip counts (empty: retrieval-only group)
    rows: np.ndarray  # int64 columns n, j, B, l, q

    @property
    def has_retrieval(self) -> bool:
        return "retrieval" in self.group


@dataclass(frozen=True)
class DecodeTable:
    rows: np.ndarray  # int64 columns n, D, q, t


@dataclass(frozen=True)
class Tables:
    groups: dict[tuple[str, ...], GroupTable]
    decode: DecodeTable
    buckets: tuple[Bucket, ...]
    batch_options: tuple[int, ...]


def _buckets(space: Space) -> tuple[Bucket, ...]:
    if not space.has_retrieval:
        return (Bucket(space.min_chips, space.max_chips, 0),)
    cost = space.costs["retrieval"]
    table = cost.base.table if hasattr(cost, "base") else cost.table
    counts = np.array(table.unit_counts)
    out: list[Bucket] = []
    for n in range(space.min_chips, space.max_chips + 1):
        r = space.servers(n)
        used = int(counts[counts <= r].max()) if (counts <= r).any() else -1
        if out and out[-1].servers == used and out[-1].n_hi == n - 1:
            out[-1] = Bucket(out[-1].n_lo, n, used)
        else:
            out.append(Bucket(n, n, used))
    return tuple(b for b in out if b.servers > 0)


def _ceil_units(seconds: np.ndarray) -> np.ndarray:
    return np.ceil(np.asarray(seconds) / TIME_RES_S - 1e-6).astype(np.int64)


def _floor_rate(qps: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(qps) * Q_SCALE + 1e-6).astype(np.int64)


def _group_table(space: Space, group: tuple[str, ...], buckets: tuple[Bucket, ...]) -> GroupTable:
    opts = space.group_chip_options(group)
    B = np.asarray(space.batch_options, dtype=np.float64)
    has_ret = "retrieval" in group
    rows = []
    for n in (opts or (0,)):
        if any(s in ACCELERATOR_STAGES for s in group) and n == 0:
            continue
        for j, bucket in enumerate(buckets if has_ret else buckets[:1]):
            lat = np.zeros_like(B)
            per_req = np.zeros_like(B)
            for s in group:
                units = bucket.servers if s == "retrieval" else n
                ls = np.asarray(space.costs[s].latency_s(units, B), dtype=np.float64)
                lat += ls
                per_req += ls / B
            jj = j if has_ret else -1
            rows.append(np.column_stack([np.full(len(B), n), np.full(len(B), jj), B.astype(np.int64),
                                         _ceil_units(lat), _floor_rate(1.0 / per_req)]))
    arr = np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 5), dtype=np.int64)
    return GroupTable(group, opts, arr)


def _undominated(q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Rows (sorted by D) with no later row having q' >= q and t' <= t."""
    if np.all(np.diff(t) >= 0):  # t non-decreasing in D (A3): only later rows of equal t can dominate
        order = np.lexsort((-np.arange(len(t)), t))  # by t, then D descending
        group = np.concatenate(([0], np.cumsum(np.diff(t[order]) != 0)))
        adj = q[order] + group * (int(q.max()) + 1)
        best_before = np.concatenate(([-1], np.maximum.accumulate(adj)[:-1]))
        keep = np.zeros(len(t), dtype=bool)
        keep[order] = adj > best_before
        return keep
    keep = np.ones(len(t), dtype=bool)
    for i in range(len(t) - 1):
        keep[i] = not np.any((q[i + 1:] >= q[i]) & (t[i + 1:] <= t[i]))
    return keep


def _decode_table(space: Space, tpot_max_s: float | None) -> DecodeTable:
    rows = []
    steps = space.decode_tokens()
    for n in space.stage_chip_options["decode"]:
        D = np.asarray(space.decode_batch_options(n), dtype=np.float64)
        lat = np.asarray(space.costs["decode"].latency_s(n, D), dtype=np.float64)
        tpot = lat / steps
        q, t = _floor_rate(D / lat), _ceil_units(tpot)
        keep = _undominated(q, t)
        if tpot_max_s is not None:
            keep &= tpot <= tpot_max_s
        rows.append(np.column_stack([np.full(int(keep.sum()), n), D[keep].astype(np.int64), q[keep], t[keep]]))
    arr = np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 4), dtype=np.int64)
    return DecodeTable(arr)


def build_tables(space: Space, groups: list[tuple[str, ...]], tpot_max_s: float | None = None) -> Tables:
    """Tables of every pre-decode group in ``groups`` and of decode (rows violating ``tpot_max_s`` dropped)."""
    buckets = _buckets(space)
    gt = {g: _group_table(space, g, buckets) for g in groups if "decode" not in g}
    return Tables(gt, _decode_table(space, tpot_max_s), buckets, space.batch_options)
