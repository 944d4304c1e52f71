"""Cost matrices of a space and the integer tables of one batch slice (``docs/model.md``, "CP-SAT model").

``CostMatrices`` evaluates every stage once over all its chip options and request batches (decode: over its
decode batches). ``slice_tables`` cuts, for one request batch B, the integer rows the slice model uses:

- group g (pre-decode): rows (n, j, l, q) per chip option n (0 for a retrieval-only group) and retrieval
  bucket j (only for groups holding retrieval): l = ceil(sum_{s in g} L_s / TIME_RES_S) rounded *up*,
  q = floor(scale B / sum_{s in g} L_s) rounded *down* (scale = ``CostMatrices.q_scale``);
- decode: rows (n, D, q, t), D >= B; q = floor(scale D / L_dec), t = ceil(TPOT / TIME_RES_S). With
  ``full_decode`` every undominated D is kept (D dominated by a larger D' with q' >= q, t' <= t); otherwise
  only the highest-throughput D per n (what O1/O2 need; exact for them).
- retrieval buckets: r = max(1, floor(N / c)) picks the P5 server table; bucket j is a maximal interval of N
  using one table.

Rounding is conservative: the solver never sees a plan faster or higher-throughput than the evaluator does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.schema import ACCELERATOR_STAGES
from planner.space import Space

__all__ = ["Q_SCALE", "TIME_RES_S", "Bucket", "CostMatrices", "SliceTables", "build_matrices", "ceil_units",
           "floor_rate", "group_latency", "slice_tables"]

#: One solver time unit, in seconds (latencies are rounded up to it).
TIME_RES_S = 1e-9
#: The finest solver throughput scale, units per request/s (throughputs are rounded down to 1 / scale). A space
#: uses the largest power of ten <= Q_SCALE that keeps max_throughput * scale * N_max <= RATE_PRODUCT_MAX, so
#: the ratio objective q Q - p N stays far from int64 overflow.
Q_SCALE = 1_000_000_000
RATE_PRODUCT_MAX = 10**17


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
    q_scale: int  # solver rate units per request/s for this space


@dataclass(frozen=True)
class SliceTables:
    batch: int
    groups: dict[tuple[str, ...], np.ndarray]  # int64 rows n, j, l, q
    decode: np.ndarray  # int64 rows n, D, q, t
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
    q_max = max([float((B[None, :] / m).max()) for m in lat.values()] + [float(q.max()) for q in dec_q if len(q)])
    scale = Q_SCALE
    while scale > 1 and q_max * scale * space.max_chips > RATE_PRODUCT_MAX:
        scale //= 10
    return CostMatrices(B, options, lat, buckets, dec_opts, dec_b, dec_q, dec_t, scale)


def ceil_units(seconds: np.ndarray) -> np.ndarray:
    """Seconds -> solver time units, rounded up."""
    return np.ceil(np.asarray(seconds) / TIME_RES_S - 1e-6).astype(np.int64)


def floor_rate(qps: np.ndarray, scale: int) -> np.ndarray:
    """Requests/s -> solver rate units (``scale`` per request/s), rounded down."""
    return np.floor(np.asarray(qps) * scale + 1e-6).astype(np.int64)


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


def group_latency(space: Space, cm: CostMatrices, group: tuple[str, ...],
                  batches: np.ndarray | slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
    """A group's chip options n (0 for a retrieval-only group) and sum_{s in g} L_s of shape (n, j, b): j over
    the retrieval buckets (a single column if the group holds no retrieval), b over ``batches`` (indices)."""
    opts = space.group_chip_options(group)
    acc = any(s in ACCELERATOR_STAGES for s in group)
    n_vals = np.asarray(opts if acc else (0,), dtype=np.int64)
    nb = len(cm.batches[batches])
    lat = np.zeros((len(n_vals), len(cm.buckets) if "retrieval" in group else 1, nb))
    for s in group:
        if s == "retrieval":
            lat += cm.lat[s][:, batches][None, :, :]
        else:
            lat += cm.lat[s][np.searchsorted(cm.options[s], n_vals)][:, None, batches]
    return n_vals, lat


def _group_rows(space: Space, cm: CostMatrices, group: tuple[str, ...], bi: int) -> np.ndarray:
    n_vals, lat = group_latency(space, cm, group, np.array([bi]))
    lat = lat[:, :, 0]
    j_vals = np.arange(lat.shape[1]) if "retrieval" in group else np.array([-1])
    nn, jj = np.meshgrid(n_vals, j_vals, indexing="ij")
    return np.column_stack([nn.ravel(), jj.ravel(), ceil_units(lat.ravel()),
                            floor_rate(cm.batches[bi] / lat.ravel(), cm.q_scale)]).reshape(-1, 4).astype(np.int64)


def _decode_rows(cm: CostMatrices, batch: float, full: bool) -> np.ndarray:
    rows = []
    for n, D, q, t in zip(cm.dec_options, cm.dec_batches, cm.dec_q, cm.dec_t):
        ok = D >= batch
        if not ok.any():
            continue
        D, qi, ti = D[ok], floor_rate(q[ok], cm.q_scale), ceil_units(t[ok])
        if full:
            keep = _undominated(qi, ti)
        else:  # the highest throughput, then the lowest TPOT
            best = np.lexsort((ti, -qi))[0]
            keep = np.zeros(len(D), dtype=bool)
            keep[best] = True
        rows.append(np.column_stack([np.full(int(keep.sum()), n), D[keep].astype(np.int64), qi[keep], ti[keep]]))
    return np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 4), dtype=np.int64)


def slice_tables(space: Space, cm: CostMatrices, groups: list[tuple[str, ...]], bi: int,
                 full_decode: bool) -> SliceTables:
    """The integer rows of the slice B = batches[bi]."""
    gt = {g: _group_rows(space, cm, g, bi) for g in groups}
    return SliceTables(int(cm.batches[bi]), gt, _decode_rows(cm, cm.batches[bi], full_decode), cm.buckets)
