"""Decode rows of one slice's asks, from the ``DecodeBook`` (``docs/model.md``, section "CP-SAT model"): rows
(n_d, D, L, o_d, w_d) with D >= the slice's least decode batch.

- ``best_rows`` per option the highest D / L_dec (then the least L_dec): all a ratio threshold or O1 needs;
- ``fast_rows`` per option the least L_dec (O4); ``all_rows`` every row (iterative retrieval, C17);
- ``capped_rows`` per option the least-L_dec row for every chip cap N <= floor(K D / (B L)) a threshold K allows
  (O3, the cap appended as a sixth column); ``chip_caps`` those caps, exactly.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from planner.cpsat.tables import DecodeBook, _segment_min

__all__ = ["all_rows", "best_rows", "capped_rows", "chip_caps", "fast_rows"]


def _pick_rows(book: DecodeBook, batch: int, table: str) -> np.ndarray:
    key = (batch, table)  # the sweep asks a slice's rows once per solve: remembered per batch (read-only)
    if key not in book._picked:
        rows = _pick(book, batch, getattr(book, table))
        rows.setflags(write=False)
        book._picked[key] = rows
    return book._picked[key]


def _pick(book: DecodeBook, batch: int, table: list[np.ndarray]) -> np.ndarray:
    rows = []
    for o, n, w, D, L, pick in zip(book.options, book.chips, book.weights, book.D, book.L, table):
        k = int(np.searchsorted(D, batch))  # D ascending: rows k.. have D >= B
        if k < len(D):
            j = pick[k]
            rows.append((int(n), int(D[j]), int(L[j]), int(o), int(w)))
    return np.asarray(rows, dtype=np.int64).reshape(-1, 5)


def all_rows(book: DecodeBook, batch: int) -> np.ndarray:
    """Rows (n_d, D, L, o_d, w_d) with D >= ``batch``: every one (iterative retrieval, C17); remembered per batch
    (read-only)."""
    key = (batch, "all")
    if key not in book._picked:
        parts = [np.column_stack([np.full(len(D) - k, n), D[k:], L[k:], np.full(len(D) - k, o), np.full(len(D) - k, w)])
                 for o, n, w, D, L in zip(book.options, book.chips, book.weights, book.D, book.L)
                 for k in [int(np.searchsorted(D, batch))]]
        rows = np.concatenate(parts).astype(np.int64) if parts else np.zeros((0, 5), dtype=np.int64)
        rows.setflags(write=False)
        held = [k for k in book._picked if k[1] == "all"]
        if len(held) >= 8:  # up to every row of every option each: the last 8 batches
            book._picked.pop(held[0])
        book._picked[key] = rows
    return book._picked[key]


def best_rows(book: DecodeBook, batch: int) -> np.ndarray:
    """Rows (n_d, D, L, o_d, w_d) with D >= ``batch`` (B, or max b_s): per decode option the highest throughput
    D / L (then least L)."""
    return _pick_rows(book, batch, "best_from")


def fast_rows(book: DecodeBook, batch: int) -> np.ndarray:
    """Rows (n_d, D, L, o_d, w_d) with D >= B: per decode option the least L (then least D)."""
    return _pick_rows(book, batch, "fast_from")


def chip_caps(D: np.ndarray, L: np.ndarray, batch: int, k_max: Fraction, strict: bool, top: int) -> np.ndarray:
    """The most chips N each decode row (D, L) allows under the threshold N B L <= K D (strict: <), i.e.
    floor(K D / (B L)) (strict: ceil(.) - 1), clipped to [-1, top]; exact (floats with an integer check)."""
    x = float(k_max) * D.astype(np.float64) / (float(batch) * L.astype(np.float64))
    out = np.floor(np.minimum(x, top + 1.0)).astype(np.int64)
    near = np.flatnonzero((np.abs(x - np.round(x)) <= 1e-6 * np.maximum(1.0, x)) & (x <= top + 2.0))
    for i in near:  # decide exactly where the float might be off by one (elsewhere ceil - 1 = floor)
        v = k_max * int(D[i]) / (batch * int(L[i]))
        out[i] = (-(-v.numerator // v.denominator) - 1) if strict else v.numerator // v.denominator
    return np.clip(out, -1, top)


def capped_rows(book: DecodeBook, batch: int, k_max: Fraction, top: int, n_floor: int,
                need: int | None = None) -> np.ndarray:
    """Rows (n_d, D, L, o_d, w_d, N_cap) with D >= need (default B) under the threshold K on the cost of ``batch``
    requests per cycle (B, or the burst R): per decode option, for each chip cap
    the least-L row (rows undominated on L lower and N_cap higher, with N_cap >= max(n_d + 1, n_floor)); what O3
    needs. By ratio D / L (highest first) the caps only fall, so the row of cap c is the least L of a prefix: the
    prefixes of every option and cap at once, floats deciding all but a band of 1e-9 around each boundary (those rows
    are candidates too), then the exact caps of the candidates alone."""
    flat = book.flat()
    need = batch if need is None else need
    opts = np.flatnonzero(np.maximum(book.chips + 1, n_floor) <= top)
    lo_c = np.maximum(book.chips[opts] + 1, n_floor)
    count = top - lo_c + 1  # the caps c = lo_c .. top of each option (>= 1 each)
    if not len(opts):
        return np.zeros((0, 6), dtype=np.int64)
    opt = np.repeat(opts, count)
    c = np.repeat(lo_c - np.concatenate(([0], np.cumsum(count)[:-1])), count) + np.arange(int(count.sum()))
    thr = -(c * (batch / float(k_max)))  # cap >= c needs D / L >= c B / K
    a, z = flat.start[opt], flat.start[opt + 1]
    sure = _segment_search(flat.neg_q, a, z, thr * (1 + 1e-9))  # rows a..sure-1: cap >= c beyond float error
    maybe = _segment_search(flat.neg_q, a, z, thr * (1 - 1e-9))
    # the least L among rows a..sure-1 with D >= need: the last strict prefix minimum of L there
    least = flat.least_index(need)
    cand = [least[sure[sure > a] - 1]]
    band = maybe > sure
    if band.any():
        cand.append(np.concatenate([np.arange(x, y) for x, y in zip(sure[band], maybe[band])]))
    idx = np.unique(np.concatenate(cand))
    idx = idx[flat.D[idx] >= need]
    o, d, l = flat.option[idx], flat.D[idx], flat.L[idx]
    cap = chip_caps(d, l, batch, k_max, False, top)
    ok = cap >= np.maximum(book.chips[o] + 1, n_floor)
    o, d, l, cap = o[ok], d[ok], l[ok], cap[ok]
    sel = np.lexsort((d, l, -cap, o))  # per option by cap descending, then L, then D
    first = np.r_[True, o[sel][1:] != o[sel][:-1]]
    keep = sel[first | (l[sel] < np.r_[0, _segment_min(l[sel], first)[:-1]])]  # faster than every row capped higher
    o = o[keep]
    return np.column_stack([book.chips[o], d[keep], l[keep], book.options[o], book.weights[o],
                            cap[keep]]).astype(np.int64).reshape(-1, 6)


def _segment_search(neg_q: np.ndarray, a: np.ndarray, z: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per query j (queries of one segment consecutive): a_j + the number of neg_q[a_j:z_j] (ascending) <= t_j."""
    out = np.empty(len(t), dtype=np.int64)
    cut = np.flatnonzero(np.r_[True, (a[1:] != a[:-1]) | (z[1:] != z[:-1]), True])  # an empty segment shares a
    for x, y in zip(cut[:-1].tolist(), cut[1:].tolist()):
        lo, hi = int(a[x]), int(z[x])
        out[x:y] = lo + np.searchsorted(neg_q[lo:hi], t[x:y], side="right")
    return out
