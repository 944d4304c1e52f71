"""Cost matrices of a space and the integer tables of one batch slice (``docs/model.md``, "CP-SAT model").

``CostMatrices`` evaluates every stage once over all its chip options and request batches (decode: over its
decode batches). ``slice_tables`` cuts, for one request batch B, the integer rows the slice model uses:

- group g (pre-decode), its accelerator members only: rows (n, a, c) per chip option n, with
  a = ceil(sum_{s in g, s != retrieval} L_s(n, B) / TIME_RES_S) (TTFT share) and the same sum in cycle units
  c = ceil(. / cycle_res_s), both rounded *up*; a retrieval-only group has no rows;
- retrieval: rows (j, a, c) per retrieval bucket j (its latency at the bucket's server table);
- decode: rows (n, D, c, t), D >= B: c = ceil(B L_dec / D / cycle_res_s), the time decode needs per B requests,
  t = ceil(TPOT / TIME_RES_S). With ``full_decode`` every undominated D is kept (D dominated by a larger D'
  with c' <= c, t' <= t); otherwise only the least-c D per n (what O1/O2 need; exact for them).
- retrieval buckets: r = max(1, floor(N / c)) picks the P5 server table; bucket j is a maximal interval of N
  using one table.

Rounding is conservative: the solver never sees a plan faster or higher-throughput than the evaluator does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.schema import ACCELERATOR_STAGES
from planner.space import Space

__all__ = ["CYCLE_RES_S", "TIME_RES_S", "Bucket", "CostMatrices", "SliceTables", "build_matrices", "ceil_units",
           "group_latency", "slice_tables"]

#: One solver time unit of TTFT and TPOT, in seconds (latencies are rounded up to it).
TIME_RES_S = 1e-9
#: The finest cycle unit (the time a group needs per batch, which sets throughput), in seconds. A space uses
#: the smallest power of ten >= CYCLE_RES_S that keeps (largest cycle) x N_max <= PRODUCT_MAX, so the product
#: P = N x C stays far from int64 overflow.
CYCLE_RES_S = 1e-12
PRODUCT_MAX = 10**17


@dataclass(frozen=True)
class Bucket:
    n_lo: int
    n_hi: int
    servers: int  # the server count whose P5 table serves the bucket


@dataclass(frozen=True)
class CostMatrices:
    """Latencies (s) of every stage over its options: lat[s][i, b] at chip option i (retrieval: bucket i)."""

    batches: np.ndarray
    options: dict[str, np.ndarray]
    lat: dict[str, np.ndarray]
    buckets: tuple[Bucket, ...]
    dec_options: np.ndarray
    dec_batches: list[np.ndarray]  # per decode option: its decode batches D
    dec_q: list[np.ndarray]  # D / L_dec (requests/s)
    dec_t: list[np.ndarray]  # TPOT (s)
    cycle_res_s: float  # seconds per solver cycle unit for this space
    dec_ti: list[np.ndarray]  # dec_t in solver time units (rounded up)
    dec_best: list[np.ndarray]  # dec_best[i][k]: the row >= k with the highest dec_q, then the lowest dec_ti


@dataclass(frozen=True)
class SliceTables:
    batch: int
    groups: dict[tuple[str, ...], np.ndarray]  # int64 rows n, a, c of the accelerator members (none: 0 rows)
    retrieval: np.ndarray  # int64 rows j, a, c per bucket (0 rows without retrieval)
    decode: np.ndarray  # int64 rows n, D, c, t
    buckets: tuple[Bucket, ...]


def _buckets(space: Space) -> tuple[Bucket, ...]:
    if not space.has_retrieval:
        return (Bucket(space.min_chips, space.max_chips, 0),)
    counts = np.array(space.costs["retrieval"].server_counts())
    out: list[Bucket] = []
    for n in range(space.min_chips, space.max_chips + 1):
        fit = counts[counts <= space.servers(n)]
        used = int(fit.max()) if fit.size else -1
        if out and out[-1].servers == used:
            out[-1] = Bucket(out[-1].n_lo, n, used)
        else:
            out.append(Bucket(n, n, used))
    return tuple(b for b in out if b.servers > 0)


def build_matrices(space: Space, tpot_max_s: float | None = None) -> CostMatrices:
    """Evaluate every stage once (decode batches with TPOT above ``tpot_max_s`` are dropped)."""
    B = np.asarray(space.batch_options, dtype=np.float64)
    buckets = _buckets(space)
    options, lat = {}, {}
    for s in space.pre_decode:
        if s == "retrieval":
            options[s] = np.array([b.servers for b in buckets])
        else:
            options[s] = np.asarray(space.stage_chip_options[s])
        lat[s] = np.stack([np.asarray(space.costs[s].latency_s(int(u), B), dtype=np.float64) for u in options[s]])
    dec_opts = np.asarray(space.stage_chip_options["decode"])
    dec_b, dec_q, dec_t = [], [], []
    for n in dec_opts:
        D = np.asarray(space.decode_batch_options(int(n)), dtype=np.float64)
        ld = np.asarray(space.costs["decode"].latency_s(int(n), D), dtype=np.float64)
        t = ld / space.decode_tokens()
        keep = t <= tpot_max_s if tpot_max_s is not None else np.ones(len(D), dtype=bool)
        dec_b.append(D[keep])
        dec_q.append(D[keep] / ld[keep])
        dec_t.append(t[keep])
    cycle_max = sum(float(m.max()) for m in lat.values()) + max(
        [float(B.max() / q.min()) for q in dec_q if len(q)], default=0.0)
    res = CYCLE_RES_S
    while cycle_max / res * space.max_chips > PRODUCT_MAX:
        res *= 10
    dec_ti = [ceil_units(t) for t in dec_t]
    return CostMatrices(B, options, lat, buckets, dec_opts, dec_b, dec_q, dec_t, res, dec_ti,
                        [_suffix_best(q, t) for q, t in zip(dec_q, dec_ti)])


def _suffix_best(q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """For every k, the index >= k of the highest q, then the lowest t (then the smallest index)."""
    if len(q) == 0:
        return np.zeros(0, dtype=np.int64)
    rank = np.empty(len(q), dtype=np.int64)
    rank[np.lexsort((np.arange(len(q)), t, -q))] = np.arange(len(q))
    best_rank = np.minimum.accumulate(rank[::-1])[::-1]
    return np.argsort(rank)[best_rank]


def ceil_units(seconds: np.ndarray, res_s: float = TIME_RES_S) -> np.ndarray:
    """Seconds -> solver units of ``res_s`` seconds, rounded up."""
    return np.ceil(np.asarray(seconds) / res_s - 1e-6).astype(np.int64)


def _undominated(q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Rows (sorted by D) with no later row having q' >= q and t' <= t (q >= 0)."""
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


def group_latency(space: Space, cm: CostMatrices, group: tuple[str, ...], batches: np.ndarray | slice = slice(None),
                  retrieval: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A group's chip options n (0 for a retrieval-only group) and sum_{s in g} L_s of shape (n, j, b): j over
    the retrieval buckets (a single column if the group holds no retrieval, or if ``retrieval`` is false: then
    the sum leaves retrieval out), b over ``batches`` (indices)."""
    opts = space.group_chip_options(group)
    acc = any(s in ACCELERATOR_STAGES for s in group)
    n_vals = np.asarray(opts if acc else (0,), dtype=np.int64)
    nb = len(cm.batches[batches])
    with_ret = retrieval and "retrieval" in group
    lat = np.zeros((len(n_vals), len(cm.buckets) if with_ret else 1, nb))
    for s in group:
        if s == "retrieval":
            if not with_ret:
                continue
            lat += cm.lat[s][:, batches][None, :, :]
        else:
            lat += cm.lat[s][np.searchsorted(cm.options[s], n_vals)][:, None, batches]
    return n_vals, lat


def _group_rows(space: Space, cm: CostMatrices, group: tuple[str, ...], bi: int) -> np.ndarray:
    if not any(s in ACCELERATOR_STAGES for s in group):
        return np.zeros((0, 3), dtype=np.int64)
    n_vals, lat = group_latency(space, cm, group, np.array([bi]), retrieval=False)
    lat = lat[:, 0, 0]
    return np.column_stack([n_vals, ceil_units(lat), ceil_units(lat, cm.cycle_res_s)]).astype(np.int64)


def _retrieval_rows(space: Space, cm: CostMatrices, bi: int) -> np.ndarray:
    if not space.has_retrieval:
        return np.zeros((0, 3), dtype=np.int64)
    lat = cm.lat["retrieval"][:, bi]
    return np.column_stack([np.arange(len(lat)), ceil_units(lat), ceil_units(lat, cm.cycle_res_s)]).astype(np.int64)


def _decode_rows(cm: CostMatrices, batch: float, full: bool) -> np.ndarray:
    rows = []
    for n, D, q, ti, best in zip(cm.dec_options, cm.dec_batches, cm.dec_q, cm.dec_ti, cm.dec_best):
        k = int(np.searchsorted(D, batch))  # D is increasing: rows k.. have D >= B
        if k == len(D):
            continue
        # full: every D >= B, then the undominated ones; else the highest throughput (least cycle), lowest TPOT
        keep = np.arange(k, len(D)) if full else best[k:k + 1]
        ci = ceil_units(batch / q[keep], cm.cycle_res_s)
        if full:
            undominated = _undominated(ci.max() - ci, ti[keep])  # higher is better, >= 0
            keep, ci = keep[undominated], ci[undominated]
        rows.append(np.column_stack([np.full(len(keep), n), D[keep].astype(np.int64), ci, ti[keep]]))
    return np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 4), dtype=np.int64)


def slice_tables(space: Space, cm: CostMatrices, groups: list[tuple[str, ...]], bi: int,
                 full_decode: bool) -> SliceTables:
    """The integer rows of the slice B = batches[bi]."""
    gt = {g: _group_rows(space, cm, g, bi) for g in groups}
    return SliceTables(int(cm.batches[bi]), gt, _retrieval_rows(space, cm, bi),
                       _decode_rows(cm, cm.batches[bi], full_decode), cm.buckets)
