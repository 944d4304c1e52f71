"""Exhaustive search: every (placement x chips x batches) schedule of a space, vectorised with numpy.

For one placement, the chip assignments (k of them, S3) form the rows of arrays of shape (k, |B|) for the
pre-decode stages and (k, |D|) for decode; broadcasting to (k, |B|, |D|) gives every schedule's QPS, and the
E1-E6 formulas of ``planner.evaluate`` are applied array-wise. Only frontier candidates leave each chunk, so
memory stays bounded by ``chunk_points``. Every frontier point is then re-evaluated by the scalar evaluator
(a mismatch raises ``VerificationError``). Points of a complete enumeration are proven optimal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from planner.errors import EmptySpaceError, InfeasibleError, VerificationError
from planner.evaluate import evaluate
from planner.frontier import pareto_indices
from planner.schema import ACCELERATOR_STAGES, FrontierPoint, FrontierResult, Plan, Slo
from planner.space import Space

__all__ = ["ScheduleArrays", "empty_space_message", "exhaustive_frontier", "iter_schedules"]

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ScheduleArrays:
    """Flat arrays of schedules of one placement chunk (one entry per valid schedule)."""

    placement_index: int
    chips: np.ndarray  # (m, groups) group chip counts
    batch: np.ndarray  # (m,) request batch B
    decode_batch: np.ndarray  # (m,) decode batch D
    ttft_s: np.ndarray
    tpot_s: np.ndarray
    qps: np.ndarray
    total_chips: np.ndarray

    @property
    def qps_per_chip(self) -> np.ndarray:
        return self.qps / self.total_chips


def _latency_rows(cost, units: np.ndarray, batches: np.ndarray) -> np.ndarray:
    """cost.latency_s for each row's unit count over every batch -> (k, |batches|)."""
    uniq, inv = np.unique(units, return_inverse=True)
    table = np.stack([np.asarray(cost.latency_s(int(u), batches), dtype=np.float64) for u in uniq])
    return table[inv.reshape(-1)]


def _chunk(space: Space, pi: int, A: np.ndarray, slo: Slo) -> ScheduleArrays:
    placement = space.placements[pi]
    B = np.asarray(space.batch_options, dtype=np.float64)
    total = A.sum(axis=1)
    servers = space.servers(total)
    group_of = {s: gi for gi, g in enumerate(placement) for s in g}
    inv_q = {gi: np.zeros((len(A), len(B))) for gi, g in enumerate(placement) if "decode" not in g}
    ttft = np.zeros((len(A), len(B)))
    for s in space.pre_decode:
        units = servers if s == "retrieval" else A[:, group_of[s]]
        lat = _latency_rows(space.costs[s], units, B)
        ttft += lat
        inv_q[group_of[s]] += lat / B[None, :]
    q_pre = np.min(np.stack([1.0 / v for v in inv_q.values()]), axis=0)  # (k, |B|)

    n_dec = A[:, group_of["decode"]]
    D = np.asarray(sorted(set().union(*(space.decode_batch_options(int(n)) for n in np.unique(n_dec)))),
                   dtype=np.float64)
    uniq, inv = np.unique(n_dec, return_inverse=True)
    ok_u = np.stack([np.isin(D, space.decode_batch_options(int(n))) for n in uniq])
    lat_u = np.full(ok_u.shape, np.inf)
    for i, n in enumerate(uniq):  # only the batches decode can hold at n chips (S6)
        lat_u[i, ok_u[i]] = space.costs["decode"].latency_s(int(n), D[ok_u[i]])
    lat_dec, d_ok = lat_u[inv.reshape(-1)], ok_u[inv.reshape(-1)]
    q_dec = D[None, :] / lat_dec
    tpot = lat_dec / space.decode_tokens()

    valid = (D[None, None, :] >= B[None, :, None]) & d_ok[:, None, :]
    if slo.ttft_max_s is not None:
        valid &= (ttft <= slo.ttft_max_s)[:, :, None]
    if slo.tpot_max_s is not None:
        valid &= (tpot <= slo.tpot_max_s)[:, None, :]
    qps = np.minimum(q_pre[:, :, None], q_dec[:, None, :])
    if slo.qps_min is not None:
        valid &= qps >= slo.qps_min
    r, bi, di = np.nonzero(valid)
    return ScheduleArrays(pi, A[r], B[bi].astype(np.int64), D[di].astype(np.int64), ttft[r, bi], tpot[r, di],
                          qps[r, bi, di], total[r])


def iter_schedules(space: Space, slo: Slo | None = None, chunk_points: int = 2_000_000,
                   progress: Progress | None = None):
    """Yield ``ScheduleArrays`` covering every schedule of the space that meets ``slo``."""
    slo = slo or Slo()
    n_b = len(space.batch_options)
    for pi, placement in enumerate(space.placements):
        A = space.chip_assignments(placement)
        if progress:
            progress(pi + 1, len(space.placements), " | ".join("+".join(g) for g in placement))
        if len(A) == 0:
            continue
        n_d = max(len(space.decode_batch_options(int(n))) for n in np.unique(A[:, -1]))
        rows = max(1, chunk_points // (n_b * n_d))
        for start in range(0, len(A), rows):
            yield _chunk(space, pi, A[start:start + rows], slo)


def _plan(space: Space, pi: int, chips: np.ndarray, b: int, d: int, total: int) -> Plan:
    placement = space.placements[pi]
    chips_per_stage = {s: int(chips[gi]) for gi, g in enumerate(placement) for s in g if s in ACCELERATOR_STAGES}
    batch = {s: int(b) for s in space.pre_decode} | {"decode": int(d)}
    return Plan(placement=placement, chips_per_stage=chips_per_stage, batch_per_stage=batch,
                retrieval_servers=int(space.servers(total)) if space.has_retrieval else 0)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-300)


def exhaustive_frontier(space: Space, slo: Slo | None = None, progress: Progress | None = None) -> FrontierResult:
    """The exact Pareto frontier of the space by complete enumeration; every point proven optimal."""
    slo = slo if slo is not None else space.instance.slo
    t0 = time.perf_counter()
    kept: list[ScheduleArrays] = []
    evaluated = 0
    for arr in iter_schedules(space, slo, progress=progress):
        evaluated += len(arr.batch)
        idx = pareto_indices(arr.ttft_s, arr.qps_per_chip, arr.tpot_s, arr.total_chips)
        kept.append(ScheduleArrays(arr.placement_index, arr.chips[idx], arr.batch[idx], arr.decode_batch[idx],
                                   arr.ttft_s[idx], arr.tpot_s[idx], arr.qps[idx], arr.total_chips[idx]))
    cands = [(k, i) for k, arr in enumerate(kept) for i in range(len(arr.batch))]
    if not cands:  # raises EmptySpaceError instead when the space holds no schedule even without the SLO
        raise InfeasibleError(_infeasible_reason(space, slo))
    cat = lambda f: np.concatenate([getattr(a, f) for a in kept])  # noqa: E731
    qpc = cat("qps") / cat("total_chips")
    best = pareto_indices(cat("ttft_s"), qpc, cat("tpot_s"), cat("total_chips"))
    points = []
    for j in best:
        k, i = cands[j]
        arr = kept[k]
        plan = _plan(space, arr.placement_index, arr.chips[i], arr.batch[i], arr.decode_batch[i], arr.total_chips[i])
        m = evaluate(space, plan)
        if not (_close(m.ttft_s, arr.ttft_s[i]) and _close(m.qps, arr.qps[i]) and _close(m.tpot_s, arr.tpot_s[i])):
            raise VerificationError(f"exhaustive and evaluator disagree on {plan}: ttft {arr.ttft_s[i]} vs {m.ttft_s},"
                                    f" qps {arr.qps[i]} vs {m.qps}, tpot {arr.tpot_s[i]} vs {m.tpot_s}")
        points.append(FrontierPoint(metrics=m, plan=plan, proven_optimal=True, gap=0.0))
    return FrontierResult(instance=space.instance.name, solver="exhaustive", solve_seconds=time.perf_counter() - t0,
                          points=tuple(points), schedules_evaluated=evaluated)


def empty_space_message(space: Space) -> str:
    return (f"the search space holds no schedule: no placement has a chip assignment summing into "
            f"[{space.min_chips}, {space.max_chips}] chips with a decode batch >= the request batch. To fix: widen "
            f"search.total_chips or the per-stage chip options")


def _infeasible_reason(space: Space, slo: Slo) -> str:
    bounds = ", ".join(f"{k} = {v}" for k, v in slo.model_dump().items() if v is not None)
    best_ttft, best_tpot, best_qps = np.inf, np.inf, 0.0
    for arr in iter_schedules(space, Slo()):
        if len(arr.batch) == 0:
            continue
        best_ttft = min(best_ttft, float(arr.ttft_s.min()))
        best_tpot = min(best_tpot, float(arr.tpot_s.min()))
        best_qps = max(best_qps, float(arr.qps.max()))
    if best_qps == 0.0:
        raise EmptySpaceError(empty_space_message(space))
    facts = []
    if slo.ttft_max_s is not None and best_ttft > slo.ttft_max_s:
        facts.append(f"the fastest schedule's TTFT is {best_ttft:.6g} s > ttft_max_s {slo.ttft_max_s:g} s")
    if slo.tpot_max_s is not None and best_tpot > slo.tpot_max_s:
        facts.append(f"the fastest decode step is {best_tpot:.6g} s > tpot_max_s {slo.tpot_max_s:g} s")
    if slo.qps_min is not None and best_qps < slo.qps_min:
        facts.append(f"the highest QPS of any schedule is {best_qps:.6g} < qps_min {slo.qps_min:g}")
    detail = "; ".join(facts) or "the bounds cannot hold together"
    return f"no schedule meets {bounds}: {detail}. To fix: relax those bounds or allow more chips"
