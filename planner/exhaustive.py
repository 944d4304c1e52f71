"""Exhaustive search: every (placement x chips x batches) schedule of a space, vectorised with numpy, exact.

For one placement, the chip assignments in range (S3, streamed in chunks, partial sums pruned against the range)
form the rows of int64 arrays of shape (k, |B|): TTFT and the pre-decode cycle C_pre = max_g C_g in picoseconds
(Q1); decode is a table (D, L_dec) per decode chip count. Every comparison is exact (``planner.exact``).

- The frontier needs few decode batches per (assignment, B): at fixed TTFT and chips a schedule's QPS/chip is
  min(B / C_pre, D / L_dec) / N, so F2 only picks, on decode's staircase (D / L_dec higher, L_dec lower), the
  least-L_dec D that does not bind (D C_pre >= B L_dec) and binding ones within the tie tolerance of the best.
- ``iter_schedules`` yields every schedule (all D) meeting an SLO, for capacity questions and tests.

Before enumerating, the number of schedules is counted (by dynamic programming over chip sums, no
enumeration); beyond ``max_schedules`` the search refuses with the count (``SpaceTooLargeError``). Every
frontier point is re-evaluated by the scalar evaluator, which must agree exactly (else ``VerificationError``).
Points of a complete enumeration are proven optimal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from planner.counting import MAX_SCHEDULES, count_assignments, count_schedules, guard
from planner.errors import EmptySpaceError, InfeasibleError, InstanceError, VerificationError
from planner.evaluate import evaluate, plan_weight
from planner.exact import cmp_products, decode_cap_ps, mul, qps_cycle_cap_ps, rate
from planner.frontier import candidates, pareto_indices
from planner.schedules import Progress, chunks, total_chips
from planner.schedules import ScheduleTables as _Tables
from planner.schema import ACCELERATOR_STAGES, CapacityResult, FrontierPoint, FrontierResult, Plan, Slo, distinct
from planner.space import Space, kind_of, units_of

__all__ = ["MAX_SCHEDULES", "ScheduleArrays", "count_assignments", "count_schedules", "empty_space_message",
           "exhaustive_frontier", "exhaustive_min_chips", "exhaustive_most_qps", "exhaustive_union",
           "iter_schedules"]



@dataclass(frozen=True)
class ScheduleArrays:
    """Flat arrays of schedules of one placement chunk (one entry per schedule), exact integers (Q1):
    the bottleneck serves ``cycle_batch`` requests every ``cycle_ps``."""

    placement_index: int
    chips: np.ndarray  # (m, groups) group chip counts
    batch: np.ndarray  # (m,) requests per pre-decode cycle: the request batch B, or the burst R (MB4)
    decode_batch: np.ndarray  # (m,) decode batch D
    ttft_ps: np.ndarray
    decode_ps: np.ndarray
    cycle_batch: np.ndarray
    cycle_ps: np.ndarray
    total_chips: np.ndarray
    column: np.ndarray  # (m,) the batch column (``_Tables.batches``): B's index, or a micro-batch schedule's

    def take(self, idx: np.ndarray) -> ScheduleArrays:
        return ScheduleArrays(self.placement_index, *(getattr(self, f)[idx] for f in _FIELDS))


_FIELDS = ("chips", "batch", "decode_batch", "ttft_ps", "decode_ps", "cycle_batch", "cycle_ps", "total_chips", "column")


def _stairs(tables: _Tables, n: int) -> list[np.ndarray]:
    """Per column: decode's staircase at n chips, the rows with D >= its need (B; MB: the largest b_s) (meeting the SLO's row filters)
    undominated on (D / L higher, L lower), by D / L descending (so L descending too)."""
    dt = tables.decode(n)
    memo: dict[int, np.ndarray] = {}
    for need in np.unique(tables.need):
        idx = np.flatnonzero(dt.ok & (dt.D >= need))
        idx = idx[np.lexsort((dt.D[idx], dt.L[idx], dt.rank[idx]))]
        best = np.concatenate(([np.iinfo(np.int64).max], np.minimum.accumulate(dt.L[idx])[:-1]))
        memo[int(need)] = idx[dt.L[idx] < best]
    return [memo[int(need)] for need in tables.need]


def _decode_choices(tables: _Tables, A: np.ndarray, dc: int, cpre: np.ndarray, ok: np.ndarray):
    """The decode rows a frontier may pick per (row, column), as flat arrays (row, column, decode index, binds).

    At fixed chips and TTFT a schedule's QPS/chip is min(B / C_pre, D / L) / N, so F2 only ever picks, on the
    staircase, the least-L row that does not bind (D C_pre >= B L), and binding rows whose QPS/chip is within the
    tie tolerance of the best there (a float band, 2e-9 wide: a superset)."""
    picks = []
    n_dec = A[:, dc]
    needs = np.unique(tables.need)
    for n in np.unique(n_dec):
        rows = np.flatnonzero(n_dec == n)
        dt = tables.decode(int(n))
        stairs = _stairs(tables, int(n))
        for need in needs:  # the columns needing the same D share a staircase: decided together
            cols = np.flatnonzero(tables.need == need)
            stair = stairs[int(cols[0])]
            ri, ci = np.nonzero(ok[np.ix_(rows, cols)])
            if len(stair) == 0 or len(ri) == 0:
                continue
            r, b = rows[ri], cols[ci]
            c, B = cpre[r, b], tables.B[b]
            # j0 = how many staircase rows do not bind (their D / L >= B / C_pre), exactly
            free = cmp_products(dt.D[stair][None, :], c[:, None], B[:, None], dt.L[stair][None, :]) >= 0
            j0 = free.sum(axis=1)
            q = dt.D[stair] / dt.L[stair]
            top = np.where(j0 > 0, B / c, q[0])  # the best throughput at this (row, column)
            band = np.searchsorted(-q, -top * (1 - 2e-9), side="right")  # rows within the tie band
            first = np.maximum(j0 - 1, 0)
            for off in range(int((band - first).max(initial=0))):
                j = first + off
                sel = j < band
                picks.append((r[sel], b[sel], stair[j[sel]], j[sel] >= j0[sel]))
    if not picks:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e, np.zeros(0, dtype=bool)
    return tuple(np.concatenate(x) for x in zip(*picks))


def _ir_arrays(space: Space, tables: _Tables, pi: int, A, ttft, cpre, ok, l_it) -> ScheduleArrays:
    """IR4: every schedule of a chunk with iterative retrieval that meets the SLO: decode serves (2D - b + 1)
    every 2 M ps, M = L_dec(D) + n L_it (L_it of the row's servers and prefill option, ``l_it``, rows x columns); its
    whole-decode latency ceil(2 D M / (2D - b + 1)) meets the TPOT bound, its throughput decode's share of the QPS
    floor (Q3)."""
    placement, n_it = space.placements[pi], space.iterations
    dc, parts = len(placement) - 1, []
    tpot_cap = decode_cap_ps(tables.slo.tpot_max_s, space.decode_tokens()) if tables.slo.tpot_max_s else None
    for n in np.unique(A[:, dc]):
        rows = np.flatnonzero(A[:, dc] == n)
        dt = tables.decode(int(n))
        for c, (_, b) in enumerate(tables.iterative):
            r, d = rows[ok[rows, c]], np.flatnonzero(dt.D >= tables.need[c])
            if len(r) == 0 or len(d) == 0:
                continue
            r, d = np.repeat(r, len(d)), np.tile(d, len(r))
            D = dt.D[d]
            m = dt.L[d] + n_it * l_it[r, c]
            num, den = 2 * D - b + 1, 2 * m
            dec_ps = -(-(2 * D * m) // num)
            keep = np.ones(len(r), dtype=bool) if tpot_cap is None else dec_ps <= tpot_cap
            if tables.slo.qps_min is not None:
                keep &= np.array([int(y) <= qps_cycle_cap_ps(int(x), tables.slo.qps_min) for x, y in zip(num, den)],
                                 dtype=bool)
            r, D, num, den, dec_ps = r[keep], D[keep], num[keep], den[keep], dec_ps[keep]
            R, cp = tables.B[c], cpre[r, c]
            binds = cmp_products(num, cp, R, den) < 0  # decode's rate below the pre-decode groups'
            parts.append(ScheduleArrays(pi, A[r], np.full(len(r), R), D, ttft[r, c], dec_ps, np.where(binds, num, R),
                                        np.where(binds, den, cp), total_chips(A[r], placement), np.full(len(r), c)))
    return _concat(parts)[0] if parts else ScheduleArrays(pi, A[:0], *(np.zeros(0, dtype=np.int64),) * 8)


def _frontier_chunk(space: Space, tables: _Tables, pi: int, A, ttft, cpre, ok, l_it) -> ScheduleArrays:
    if tables.iterative is not None:
        arr = _ir_arrays(space, tables, pi, A, ttft, cpre, ok, l_it)
        return ScheduleArrays(pi, *(getattr(arr, f) for f in _FIELDS))
    placement = space.placements[pi]
    dc = len(placement) - 1
    r, bi, di, binds = _decode_choices(tables, A, dc, cpre, ok)
    D = np.zeros(len(r), dtype=np.int64)
    L = np.zeros(len(r), dtype=np.int64)
    for n in np.unique(A[r, dc]):
        m = A[r, dc] == n
        dt = tables.decode(int(n))
        D[m], L[m] = dt.D[di[m]], dt.L[di[m]]
    B = tables.B[bi]
    return ScheduleArrays(pi, A[r], B, D, ttft[r, bi], L, np.where(binds, D, B), np.where(binds, L, cpre[r, bi]),
                          total_chips(A[r], placement), bi)


def _front(arr: ScheduleArrays) -> ScheduleArrays:
    """The schedules of a chunk that F2 may pick (``planner.frontier.candidates``)."""
    return arr.take(candidates(arr.ttft_ps, arr.cycle_batch, mul(arr.cycle_ps, arr.total_chips), arr.decode_ps,
                               arr.total_chips))


def _concat(arrs: list[ScheduleArrays]) -> tuple[ScheduleArrays, np.ndarray]:
    """All arrays as one (placement index per entry in the second value)."""
    width = max(a.chips.shape[1] for a in arrs)
    pad = [np.pad(a.chips, ((0, 0), (0, width - a.chips.shape[1]))) for a in arrs]
    cat = {f: np.concatenate([getattr(a, f) for a in arrs]) for f in _FIELDS[1:]}
    return ScheduleArrays(-1, np.concatenate(pad), **cat), np.concatenate([np.full(len(a.batch), a.placement_index)
                                                                            for a in arrs])


def _plan(space: Space, tables: _Tables, pi: int, codes: np.ndarray, col: int, d: int) -> Plan:
    """The plan of one assignment row (group option codes, then the retrieval option under S9) at a batch column."""
    placement = space.placements[pi]
    acc = [(s, int(codes[gi])) for gi, g in enumerate(placement) for s in g if s in ACCELERATOR_STAGES]
    pre, burst = tables.batches(int(col))
    batch = pre | {"decode": int(d)}
    it = tables.iterative[int(col)][1] if tables.iterative is not None else None
    total = int(units_of(codes[:len(placement)]).sum())
    servers, server = (int(space.servers(total)) if space.has_retrieval else 0), space.server_types[0]
    if space.decides_servers:
        ret = int(codes[len(placement)])
        servers, server = int(units_of(ret)), space.server_types[int(kind_of(ret))]
    return Plan(placement=placement, chips_per_stage={s: int(units_of(c)) for s, c in acc}, batch_per_stage=batch,
                retrieval_servers=servers, accelerator_per_stage={s: space.types[int(kind_of(c))] for s, c in acc},
                retrieval_server=server if space.has_retrieval else "", burst_requests=burst, iterative_batch=it)


def _checked_point(space: Space, tables: _Tables, arr: ScheduleArrays, pis: np.ndarray, i: int) -> FrontierPoint:
    plan = _plan(space, tables, int(pis[i]), arr.chips[i], int(arr.column[i]), int(arr.decode_batch[i]))
    m = evaluate(space, plan)
    if (m.ttft_ps, m.decode_ps, m.ratio) != (int(arr.ttft_ps[i]), int(arr.decode_ps[i]), _ratio(arr, i)):
        raise VerificationError(f"exhaustive and evaluator disagree on {plan}: TTFT {arr.ttft_ps[i]} vs "
                                f"{m.ttft_ps} ps, decode {arr.decode_ps[i]} vs {m.decode_ps} ps, QPS/chip "
                                f"{_ratio(arr, i)} vs {m.ratio}")
    return FrontierPoint(metrics=m, plan=plan, proven_optimal=True, gap=0.0)


def _ratio(arr: ScheduleArrays, i: int) -> Fraction:
    return Fraction(int(arr.cycle_batch[i]), int(arr.cycle_ps[i]) * int(arr.total_chips[i]))


def _candidates(space: Space, slo: Slo, progress: Progress | None, max_schedules: float):
    """Every schedule F2 may pick, over the chunks: (tables, arrays, placement index per entry, schedules)."""
    total = guard(space, max_schedules)
    tables = _Tables(space, slo)
    kept = []
    for pi, A, ttft, cpre, ok, l_it in chunks(space, tables, progress):
        arr = _frontier_chunk(space, tables, pi, A, ttft, cpre, ok, l_it)
        if len(arr.batch):
            kept.append(_front(arr))
    if not kept:
        raise InfeasibleError(_infeasible_reason(space, slo))
    arr, pis = _concat(kept)
    return tables, arr, pis, int(total)


def _ranked(arr: ScheduleArrays) -> tuple:
    return arr.ttft_ps, arr.cycle_batch, mul(arr.cycle_ps, arr.total_chips), arr.decode_ps, arr.total_chips


def exhaustive_frontier(space: Space, slo: Slo | None = None, progress: Progress | None = None,
                        max_schedules: float = MAX_SCHEDULES) -> FrontierResult:
    """The exact Pareto frontier of the space by complete enumeration; every point proven optimal."""
    slo = slo if slo is not None else space.instance.slo
    t0 = time.perf_counter()
    tables, arr, pis, total = _candidates(space, slo, progress, max_schedules)
    best = pareto_indices(*_ranked(arr))
    points = tuple(_checked_point(space, tables, arr, pis, int(i)) for i in best)  # F1-F3 over the chunks' candidates
    return FrontierResult(instance=space.instance.name, solver="exhaustive", solve_seconds=time.perf_counter() - t0,
                          points=points, schedules_evaluated=total, complete=True)


def exhaustive_union(spaces: list[Space], slo: Slo, progress: Progress | None = None,
                     max_schedules: float = MAX_SCHEDULES) -> tuple[list[tuple[int, FrontierPoint]], int]:
    """K5 by enumeration: F1-F3 over the plans of every space at once (a design's variants; ties to the earlier
    space), as (space index, point) pairs, and the schedules evaluated. A space with no plan under ``slo`` adds
    none; none at all raises the first space's error (``InfeasibleError`` or ``EmptySpaceError``)."""
    got, first = [], None
    for k, space in enumerate(spaces):
        try:
            got.append((k, *_candidates(space, slo, progress, max_schedules)))
        except (InfeasibleError, EmptySpaceError) as exc:
            first = first or exc
    if not got:
        raise first
    cols = [np.concatenate(c) for c in zip(*(_ranked(arr) for _, _, arr, _, _ in got))]
    owner = np.concatenate([np.full(len(arr.batch), j) for j, (_, _, arr, _, _) in enumerate(got)])
    local = np.concatenate([np.arange(len(arr.batch)) for _, _, arr, _, _ in got])
    out = []
    for i in pareto_indices(*cols):
        k, tables, arr, pis, _ = got[int(owner[i])]
        out.append((k, _checked_point(spaces[k], tables, arr, pis, int(local[i]))))
    return out, sum(t for *_, t in got)


def iter_schedules(space: Space, slo: Slo | None = None, progress: Progress | None = None,
                   max_schedules: float = MAX_SCHEDULES) -> Iterator[ScheduleArrays]:
    """Every schedule of the space (every D >= B) that meets ``slo``, in chunks."""
    slo = slo or Slo()
    guard(space, max_schedules)
    tables = _Tables(space, slo)
    for pi, A, ttft, cpre, ok, l_it in chunks(space, tables, progress):
        if tables.iterative is not None:
            arr = _ir_arrays(space, tables, pi, A, ttft, cpre, ok, l_it)
            yield ScheduleArrays(pi, *(getattr(arr, f) for f in _FIELDS))
            continue
        dc = len(space.placements[pi]) - 1
        for n in np.unique(A[:, dc]):
            rows = np.flatnonzero(A[:, dc] == n)
            dt = tables.decode(int(n))
            valid = ok[rows][:, :, None] & dt.ok[None, None, :] & (dt.D[None, None, :] >= tables.need[None, :, None])
            r, bi, di = np.nonzero(valid)
            if len(r) == 0:
                continue
            rr = rows[r]
            c = cpre[rr, bi]
            binds = cmp_products(dt.D[di], c, tables.B[bi], dt.L[di]) < 0  # D / L < B / C_pre
            yield ScheduleArrays(pi, A[rr], tables.B[bi], dt.D[di], ttft[rr, bi], dt.L[di],
                                 np.where(binds, dt.D[di], tables.B[bi]), np.where(binds, dt.L[di], c),
                                 total_chips(A[rr], space.placements[pi]), bi)


def _weights(space: Space, placement, A: np.ndarray, objective: str) -> np.ndarray:
    """O4: the integer weight of every assignment row (``Space.weight`` per group option and retrieval option)."""
    w = np.zeros(len(A), dtype=np.int64)
    cols = [(gi, False) for gi, g in enumerate(placement) if any(s in ACCELERATOR_STAGES for s in g)]
    cols += [(len(placement), True)] if space.decides_servers else []
    for c, server in cols:
        uniq, inv = np.unique(A[:, c], return_inverse=True)
        w += np.array([space.weight(objective, int(u), server) for u in uniq], dtype=np.int64)[inv.reshape(-1)]
    return w


def exhaustive_min_chips(space: Space, slo: Slo | None = None, progress: Progress | None = None,
                         max_schedules: float = MAX_SCHEDULES, objective: str = "chips") -> CapacityResult:
    """O4 by enumeration: the least weight (chips, rent, purchase or power) meeting ``slo`` (qps_min required),
    then the least TTFT, then the least TPOT; the reference of ``planner.capacity.min_chips``."""
    slo = slo if slo is not None else space.instance.slo
    if slo.qps_min is None:
        raise InstanceError(f"{space.instance.name}: capacity planning needs a QPS target, and slo.qps_min is not "
                            f"set. To fix: pass --qps (requests/s) or set slo.qps_min in the instance")
    guard(space, max_schedules)
    t0 = time.perf_counter()
    tables = _Tables(space, slo)
    best = None
    for pi, A, ttft, cpre, ok, l_it in chunks(space, tables, progress):
        placement = space.placements[pi]
        dc = len(placement) - 1
        if tables.iterative is not None:  # IR4: the decode rows depend on the row's L_it
            arr = _ir_arrays(space, tables, pi, A, ttft, cpre, ok, l_it)
            if len(arr.batch):
                w = _weights(space, placement, arr.chips, objective)
                k = int(np.lexsort((arr.decode_ps, arr.ttft_ps, w))[0])
                cand = (int(w[k]), int(arr.ttft_ps[k]), int(arr.decode_ps[k]))
                if best is None or cand < best[0]:
                    best = (cand, _plan(space, tables, pi, arr.chips[k], int(arr.column[k]), int(arr.decode_batch[k])))
            continue
        weight = _weights(space, placement, A, objective)
        for n in np.unique(A[:, dc]):
            rows = np.flatnonzero(A[:, dc] == n)
            dt = tables.decode(int(n))
            valid = dt.ok[None, :] & (dt.D[None, :] >= tables.need[:, None])  # (|columns|, |D|)
            lmin = np.where(valid, dt.L[None, :], np.iinfo(np.int64).max)
            j = np.argmin(lmin, axis=1)  # least L (then least D) per B
            good = ok[rows] & valid.any(axis=1)[None, :]
            r, bi = np.nonzero(good)
            if len(r) == 0:
                continue
            key = np.lexsort((dt.L[j[bi]], ttft[rows[r], bi], weight[rows[r]]))[0]
            cand = (int(weight[rows[r[key]]]), int(ttft[rows[r[key]], bi[key]]), int(dt.L[j[bi[key]]]))
            if best is None or cand < best[0]:
                best = (cand, _plan(space, tables, pi, A[rows[r[key]]], int(bi[key]), int(dt.D[j[bi[key]]])))
    if best is None:
        raise InfeasibleError(_infeasible_reason(space, slo))
    m = evaluate(space, best[1])
    got = (plan_weight(space, best[1], objective), m.ttft_ps, m.decode_ps)
    if got != best[0]:
        raise VerificationError(f"exhaustive capacity and evaluator disagree on {best[1]}: {best[0]} vs {got}")
    return CapacityResult(instance=space.instance.name, solver="exhaustive", solve_seconds=time.perf_counter() - t0,
                          qps_min=slo.qps_min, objective=objective,
                          retrieval_servers=space.instance.search.retrieval_servers,
                          point=FrontierPoint(metrics=m, plan=best[1], proven_optimal=True, gap=0.0))


def exhaustive_most_qps(space: Space, slo: Slo, budget: float, objective: str,
                        max_schedules: float = MAX_SCHEDULES) -> FrontierPoint | None:
    """O5 by enumeration: among the schedules meeting ``slo``'s TTFT and TPOT bounds whose weight is within
    ``budget`` (USD or USD/h), the most reported QPS, then the least weight, TTFT and TPOT; the reference of
    ``planner.purchase.most_qps`` (None: nothing within budget)."""
    cap = Fraction(budget) * space.scale(objective)
    best = None
    for arr in iter_schedules(space, slo.model_copy(update={"qps_min": None}), max_schedules=max_schedules):
        w = _weights(space, space.placements[arr.placement_index], arr.chips, objective)
        for i in np.flatnonzero(w <= int(cap)):  # weights are integers: w <= cap <=> w <= floor(cap)
            key = (-rate(int(arr.cycle_batch[i]), int(arr.cycle_ps[i])), int(w[i]), int(arr.ttft_ps[i]),
                   int(arr.decode_ps[i]))
            if best is None or key < best[0]:
                best = (key, arr.placement_index, arr.chips[i], int(arr.column[i]), int(arr.decode_batch[i]))
    if best is None:
        return None
    plan = _plan(space, _Tables(space, slo), *best[1:])
    return FrontierPoint(metrics=evaluate(space, plan), plan=plan, proven_optimal=True, gap=0.0)


def empty_space_message(space: Space) -> str:
    return (f"the search space holds no schedule: no placement has a chip assignment summing into "
            f"[{space.min_chips}, {space.max_chips}] chips with a decode batch >= the request batch. To fix: widen "
            f"search.total_chips or the per-stage chip options")


def _infeasible_reason(space: Space, slo: Slo) -> str:
    """Why no schedule meets ``slo``: the best TTFT, TPOT and QPS of the whole space, against the bounds."""
    bounds = ", ".join(f"{k} = {v}" for k, v in slo.model_dump().items() if v is not None)
    tables = _Tables(space, Slo())
    best_ttft, best_dec, best_qps = None, None, 0.0
    for pi, A, ttft, cpre, ok, l_it in chunks(space, tables, None):
        arr = _frontier_chunk(space, tables, pi, A, ttft, cpre, ok, l_it)
        if len(arr.batch) == 0:
            continue
        best_ttft = min(best_ttft or np.inf, float(arr.ttft_ps.min()))
        best_qps = max(best_qps, float(np.max(arr.cycle_batch / arr.cycle_ps)) * 1e12)
        for n in np.unique(A[:, len(space.placements[pi]) - 1]):
            best_dec = min(best_dec or np.inf, float(tables.decode(int(n)).L.min()))
    if best_ttft is None:
        raise EmptySpaceError(empty_space_message(space))
    facts = []
    if slo.ttft_max_s is not None and best_ttft / 1e12 > slo.ttft_max_s:
        a, b = distinct(best_ttft / 1e12, slo.ttft_max_s, 6)
        facts.append(f"the fastest schedule's TTFT is {a} s > ttft_max_s {b} s")
    step = best_dec / 1e12 / space.decode_tokens()
    if slo.tpot_max_s is not None and step > slo.tpot_max_s:
        a, b = distinct(step, slo.tpot_max_s, 6)
        facts.append(f"the fastest decode step is {a} s > tpot_max_s {b} s")
    if slo.qps_min is not None and best_qps < slo.qps_min:
        a, b = distinct(best_qps, slo.qps_min, 6)
        facts.append(f"the highest QPS of any schedule is {a} < qps_min {b}")
    detail = "; ".join(facts) or "the bounds cannot hold together"
    return f"no schedule meets {bounds}: {detail}. To fix: relax those bounds or allow more chips"
