"""Pareto sweep with the CP-SAT slice models: epsilon-constraint on TTFT, every point proven optimal or gapped.

Decomposition (``docs/model.md``, section "Pareto sweep"): the request batch B is the only decision every
pre-decode group shares, so the problem splits into slices, one small CP-SAT model per B (C1-C9). For a TTFT
bound e, the best QPS/chip is max over slices of the slice optimum r_B(e). Slices are visited in decreasing
order of an upper bound U_B and the search stops when U_B < the best found, which proves the maximum:

- U1 relaxation: for a placement and a throughput level Q, each group needs at least
  n_g(Q) = min{n : q_g(n, B) >= Q} chips, independently of the others, so Q/N <= max_Q Q / max(N_min, sum_g
  n_g(Q)) (retrieval caps Q at its best bucket); exact when TTFT is unbounded;
- U2 monotonicity: r_B(e) is non-increasing as e shrinks, so a solved r_B(e') (e' >= e) bounds r_B(e), and a
  slice optimum whose TTFT still fits e remains optimal (no solve);
- U3 before solving O1 on a slice, one feasibility solve asks for a plan that could tie the best ratio; a 'no'
  ends the slice (and lowers U_B), so only slices that can win or tie run the O1 optimisation;
- slices whose TTFT lower bound sum_s min_n L_s(n, B) exceeds e are skipped.

Per point: O1 on the slices as above, visiting slices of equal bound by increasing TTFT lower bound; O2 (min
TTFT at the best ratio) on every slice attaining it, and a slice that can at most tie on the ratio (within
TIE_REL = 2e-9 relative) is skipped when its TTFT lower bound exceeds the best O2 TTFT so far; O3 (min TPOT,
then chips) on the slices attaining the least TTFT; then e = TTFT - 1 unit. Ratios are compared as real
QPS/chip, B / (P x cycle unit); a solution's real ratio may exceed that by the rounding of its cycle (at most
``tie`` units of P), which the tie tests allow for. With ``batches: any`` the slice
models keep only each decode chip count's highest-throughput batch (exact for O1/O2) and O3 picks the decode
batch of the O2 plan by a scan. Every point is re-evaluated by the independent evaluator, must lie in the
search space and must not look better to the solver than to the evaluator (else ``VerificationError``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from planner.cpsat.model import build_model, slice_groups
from planner.cpsat.solve import RagSolver, tie_units
from planner.cpsat.tables import TIME_RES_S, CostMatrices, build_matrices, ceil_units, group_latency, slice_tables
from planner.errors import EmptySpaceError, InfeasibleError, VerificationError
from planner.evaluate import check_plan, evaluate
from planner.exhaustive import empty_space_message
from planner.frontier import pareto_indices
from planner.schema import FrontierPoint, FrontierResult, Metrics, Plan, Slo
from planner.space import Space

__all__ = ["SliceSweep", "cpsat_frontier", "diagnose_infeasible", "slice_bounds", "slice_chip_bounds",
           "verify_solution"]

Progress = Callable[[int, int, str], None]
#: QPS/chip values within this relative distance (above the bounds' own 1e-9 safety margin) are ties.
TIE_REL = 2e-9


def _group_q(space: Space, cm: CostMatrices, group: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Chip options of a group and its best throughput per option and slice, q[i, b] (any retrieval bucket)."""
    opts, lat = group_latency(space, cm, group)
    return opts, cm.batches[None, :] / lat.min(axis=1)


def _decode_q(cm: CostMatrices) -> np.ndarray:
    """Best decode throughput per decode option and slice: max over D >= B of D / L_dec."""
    out = np.zeros((len(cm.dec_options), len(cm.batches)))
    for i, (D, qd) in enumerate(zip(cm.dec_batches, cm.dec_q)):
        if len(D):
            suffix = np.maximum.accumulate(qd[::-1])[::-1]
            idx = np.searchsorted(D, cm.batches)
            out[i] = np.where(idx < len(D), suffix[np.minimum(idx, len(D) - 1)], 0.0)
    return out


def _curves(space: Space, cm: CostMatrices):
    """Per group holding an accelerator stage (and decode): chip options and best throughput per slice."""
    groups = {g: _group_q(space, cm, g) for p in space.placements for g in p if "decode" not in g
              and any(s != "retrieval" for s in g)}
    return groups, (cm.dec_options, _decode_q(cm))


def _need(curves: list[tuple[np.ndarray, np.ndarray]], levels: np.ndarray) -> np.ndarray:
    """sum over curves of n(Q) = min{n : q(n) >= Q} at each level Q (inf where no option reaches it)."""
    need = np.zeros(len(levels))
    for opts, q in curves:
        order = np.argsort(opts)
        run = np.maximum.accumulate(q[order])
        k = np.searchsorted(run, levels * (1 - 1e-12))
        need += np.where(k < len(opts), opts[order][np.minimum(k, len(opts) - 1)], np.inf)
    return need


def slice_bounds(space: Space, cm: CostMatrices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """U1 upper bound on QPS/chip, TTFT lower bound (time units) and upper bound on QPS within N_max chips (the
    largest level Q with sum_g n_g(Q) <= N_max) of every slice.

    For a placement and a throughput level Q, group g needs n_g >= n_g(Q) = min{n : q_g(n, B) >= Q}
    chips, so every plan of the slice has Q/N <= max_Q Q / max(N_min, sum_g n_g(Q)) over the levels Q (the
    groups' and retrieval buckets' throughputs); retrieval caps Q at its best bucket. Exact when TTFT is
    unbounded, up to the retrieval bucket N selects."""
    nb = len(cm.batches)
    ttft_lb = np.zeros(nb)
    for s in space.pre_decode:
        ttft_lb += cm.lat[s].min(axis=0)
    ret_q = cm.batches[None, :] / cm.lat["retrieval"] if space.has_retrieval else np.zeros((0, nb))
    ret_cap = ret_q.max(axis=0) if space.has_retrieval else np.full(nb, np.inf)
    cache, dec = _curves(space, cm)
    ub, qps_ub = np.full(nb, -1.0), np.zeros(nb)
    for b in range(nb):
        for placement in space.placements:
            curves = [(cache[g][0], cache[g][1][:, b]) for g in placement if g in cache] + [(dec[0], dec[1][:, b])]
            if any(len(o) == 0 for o, _ in curves):
                continue
            levels = np.unique(np.concatenate([q for _, q in curves] + [ret_q[:, b]]))
            levels = levels[(levels > 0) & (levels <= ret_cap[b])]
            need = _need(curves, levels)
            ok = need <= space.max_chips
            if ok.any():
                ub[b] = max(ub[b], float(np.max(levels[ok] / np.maximum(need[ok], space.min_chips))))
                qps_ub[b] = max(qps_ub[b], float(levels[ok].max()))
    ub = np.where(ub > 0, ub * (1 + 1e-9), -1.0)
    return ub, np.floor(ttft_lb / TIME_RES_S * (1 - 1e-12)).astype(np.int64), qps_ub * (1 + 1e-9)


def slice_chip_bounds(space: Space, cm: CostMatrices, qps: float) -> np.ndarray:
    """U4 lower bound on the chips of every slice's plans with QPS >= qps (inf: none reaches qps).

    N >= max(N_min, min over placements of sum_g n_g(qps), N_lo of the first retrieval bucket whose servers
    reach qps), with n_g(Q) as in U1 (each group's best option over the retrieval buckets)."""
    nb = len(cm.batches)
    cache, dec = _curves(space, cm)
    lb = np.full(nb, np.inf)
    level = np.array([qps])
    for b in range(nb):
        for placement in space.placements:
            curves = [(cache[g][0], cache[g][1][:, b]) for g in placement if g in cache] + [(dec[0], dec[1][:, b])]
            if all(len(o) for o, _ in curves):
                lb[b] = min(lb[b], float(_need(curves, level)[0]))
        if space.has_retrieval:
            reach = [bk.n_lo for bk, lat in zip(cm.buckets, cm.lat["retrieval"][:, b])
                     if cm.batches[b] / lat >= qps * (1 - 1e-12)]
            lb[b] = max(lb[b], min(reach, default=np.inf))
    return np.maximum(lb, space.min_chips)


@dataclass
class _Slice:
    bi: int
    ub: float
    ttft_lb: int
    solver: RagSolver | None = None
    cache: tuple | None = None  # (outcome, gap) of the last O1
    dead: bool = False


class SliceSweep:
    """The slices of a space under an SLO: their cost matrices, bounds and (lazily built) CP-SAT models."""

    def __init__(self, space: Space, slo: Slo, workers: int, time_limit_s: float, seed: int):
        self.space, self.slo = space, slo
        self.cm = build_matrices(space, slo.tpot_max_s)
        self.groups = slice_groups(space)
        self.full_decode = space.instance.search.batches != "any"
        self.kw = dict(workers=workers, time_limit_s=time_limit_s, seed=seed)
        ub, lb, _ = slice_bounds(space, self.cm)
        self.slices = [_Slice(i, float(ub[i]), int(lb[i]), dead=ub[i] < 0) for i in range(len(ub))]
        self.solves = 0
        self.tie = tie_units(space)  # P units a tied plan's rounding may add

    def solver(self, sl: _Slice) -> RagSolver | None:
        """The slice's CP-SAT model and solver (built on first use; None if the slice has no decode row)."""
        if sl.solver is None and not sl.dead:
            tables = slice_tables(self.space, self.cm, self.groups, sl.bi, self.full_decode)
            rm = build_model(self.space, tables, self.cycle_cap(sl))
            if rm is None:
                sl.dead = True
                return None
            sl.solver = RagSolver(self.space, rm, **self.kw)
        return sl.solver

    def cycle_cap(self, sl: _Slice) -> int | None:
        """C8: the largest cycle (units) meeting the SLO's QPS floor at batch B, floor(B / (qps_min x unit))."""
        if self.slo.qps_min is None:
            return None
        return math.floor(self.cm.batches[sl.bi] / (self.slo.qps_min * self.cm.cycle_res_s))

    def real(self, sl: _Slice, product: int) -> float:
        """The QPS/chip B / (P x cycle unit) of a solution of slice ``sl`` (a lower bound of the plan's own)."""
        return float(self.cm.batches[sl.bi]) / (product * self.cm.cycle_res_s)

    def real_hi(self, sl: _Slice, product: int) -> float:
        """The highest real QPS/chip a solution of P = ``product`` may stand for: its rounding may add up to
        ``tie`` units to P (so ties are judged on this)."""
        return self.real(sl, max(product - self.tie, 1))

    def _fits(self, sl: _Slice, eps: int | None) -> bool:
        return sl.cache is not None and (eps is None or sl.cache[0].values["TTFT"] <= eps)

    def ratio(self, sl: _Slice, eps: int | None):
        """r_B(e) as (outcome, gap), from the cache when U2 allows; None if the slice is infeasible."""
        if self._fits(sl, eps):
            return sl.cache
        solver = self.solver(sl)
        if solver is None:
            return None
        res = self.count(sl, solver.max_ratio, eps)
        if res is None:
            sl.dead = True  # infeasible at e, so at every smaller e
            return None
        sl.cache = res
        p = res[0].values["P"]
        sl.ub = min(sl.ub, self.real_hi(sl, p) * (1 + 1e-12))
        return res

    def can_reach(self, sl: _Slice, eps: int | None, floor: float) -> bool:
        """U3: whether slice B may have a plan of real QPS/chip >= floor under TTFT <= eps (cache first, then
        one feasibility solve of P <= B / (floor x unit) + tie); a 'no' lowers U_B, valid for every smaller e (U2)."""
        if self._fits(sl, eps):
            return self.real_hi(sl, sl.cache[0].values["P"]) >= floor
        solver = self.solver(sl)
        if solver is None:
            return False
        p_max = math.floor(self.cm.batches[sl.bi] / (floor * self.cm.cycle_res_s)) + self.tie
        if not self.count(sl, solver.beats, eps, p_max):
            sl.ub = min(sl.ub, self.real_hi(sl, p_max + 1) * (1 + 1e-12))
            return False
        return True

    def count(self, sl: _Slice, fn, *args):
        """Run ``fn(*args)`` (a solver method of slice ``sl``), adding its solves to the sweep's count."""
        before = sl.solver.solves
        out = fn(*args)
        self.solves += sl.solver.solves - before
        return out

    def point(self, eps: int | None):
        """One frontier point under TTFT <= eps: (plan, values, TTFT, proven, gap) or None."""
        live = [s for s in self.slices if not s.dead and (eps is None or s.ttft_lb <= eps)]
        width = max((s.ub for s in live), default=0.0) * TIE_REL or 1.0
        live.sort(key=lambda s: (-math.floor(s.ub / width), s.ttft_lb))  # equal bounds: lowest TTFT first
        best, t_best, entries, proven, gap = 0.0, math.inf, [], True, 0.0
        floor = 0.0  # real QPS/chip a plan needs to tie the best: best x (1 - TIE_REL)
        for sl in live:
            if sl.ub < floor:
                break  # U1/U2: no later slice can reach the best ratio
            if sl.ub <= best * (1 + TIE_REL) and sl.ttft_lb > t_best:
                continue  # it can at most tie on QPS/chip, and cannot reach the best TTFT
            if best > 0 and not self.can_reach(sl, eps, floor):
                continue  # U3: a feasibility solve proved r_B(e) < floor
            res = self.ratio(sl, eps)
            if res is None:
                continue
            out, g = res
            proven &= g == 0.0
            gap = max(gap, g)
            p = out.values["P"]
            if self.real_hi(sl, p) < floor:
                continue
            o2 = self.count(sl, sl.solver.min_ttft, p, eps)  # O2 on every slice attaining the ratio
            proven &= o2.optimal
            entries.append((o2.values["TTFT"], sl, p))
            best = max(best, self.real(sl, p))
            floor = best * (1 - TIE_REL)
            t_best = min(t for t, sl_, p_ in entries if self.real_hi(sl_, p_) >= floor)
        o2 = [(t, sl, p) for t, sl, p in entries if self.real_hi(sl, p) >= floor]
        if not o2:
            return None
        t_star = min(t for t, *_ in o2)
        finals = []
        for t, sl, p in o2:
            if t != t_star:
                continue
            out = self.count(sl, sl.solver.min_tpot, p, t_star)
            proven &= out.optimal
            cap = (p + self.tie) // out.values["N"]  # c_d that keeps P <= P* + tie
            vals = out.values if self.full_decode else self.refine_decode(sl, out.values, cap)
            finals.append((vals["tpot"], vals["N"], sl, vals))
        tpot, n, sl, vals = min(finals, key=lambda f: (f[0], f[1], f[2].bi))
        return sl.solver.plan(vals), vals, t_star, proven, gap

    def refine_decode(self, sl: _Slice, values: dict, cycle_cap: int) -> dict:
        """With ``batches: any`` (the slice models keep only the least-cycle D per decode chip count): the
        least-TPOT decode batch D >= B at the plan's decode chips with cycle c_d <= ``cycle_cap``, the rest of
        the plan fixed (O3 keeps P <= P* + tie: cap (P* + tie) // N; O4 keeps the QPS floor: cap C8's bound)."""
        vals = dict(values)
        i = int(np.searchsorted(self.cm.dec_options, vals["nd"]))
        D, qd, ti = self.cm.dec_batches[i], self.cm.dec_q[i], self.cm.dec_ti[i]
        B = self.cm.batches[sl.bi]
        ci = ceil_units(B / qd, self.cm.cycle_res_s)
        ok = (D >= B) & (ci <= cycle_cap)
        j = int(np.lexsort((D, ti + np.where(ok, 0, np.iinfo(np.int64).max // 2)))[0])
        if ok[j] and ti[j] < vals["tpot"]:
            c = max(vals["C"], int(ci[j]))  # still an upper bound of the plan's cycle
            vals |= {"D": int(D[j]), "tpot": int(ti[j]), "cd": int(ci[j]), "C": c, "P": c * vals["N"]}
        return vals


def verify_solution(space: Space, plan: Plan, vals: dict, n_groups: int, cycle_res_s: float) -> Metrics:
    why = check_plan(space, plan)
    if why:
        raise VerificationError(f"CP-SAT plan {plan} is outside the search space: {why}")
    m = evaluate(space, plan)
    ttft_units = m.ttft_s / TIME_RES_S
    if not (ttft_units - 1e-3 <= vals["TTFT"] <= ttft_units + n_groups + 1):
        raise VerificationError(f"CP-SAT TTFT {vals['TTFT']} units vs evaluator {ttft_units:.3f} for {plan}")
    batch = plan.batch_per_stage[space.pre_decode[0]]
    if batch / (vals["C"] * cycle_res_s) > m.qps * (1 + 1e-9):
        raise VerificationError(f"CP-SAT QPS {batch / (vals['C'] * cycle_res_s)} exceeds the evaluator's {m.qps} "
                                f"for {plan}")
    if vals["N"] != m.chips or vals["P"] != vals["N"] * vals["C"]:
        raise VerificationError(f"CP-SAT chips {vals['N']} (P {vals['P']}, C {vals['C']}) vs evaluator {m.chips} "
                                f"for {plan}")
    return m


def diagnose_infeasible(space: Space, slo: Slo) -> str:
    """Why no plan meets the SLO: the stage or limit that binds, with numbers (from the cost models)."""
    cm = build_matrices(space, None)
    facts = []
    fastest = {s: float(cm.lat[s][:, 0].min()) for s in space.pre_decode}  # batch 1, best option
    if slo.ttft_max_s is not None:
        over = [f"{s} {t:.4g} s" for s, t in fastest.items() if t > slo.ttft_max_s]
        if over:
            facts.append(f"the fastest option of {', '.join(over)} already exceeds ttft_max_s {slo.ttft_max_s:g} s")
        elif sum(fastest.values()) > slo.ttft_max_s:
            facts.append(f"the pre-decode stages' fastest options sum to {sum(fastest.values()):.4g} s > ttft_max_s "
                         f"{slo.ttft_max_s:g} s ({', '.join(f'{s} {t:.3g} s' for s, t in fastest.items())})")
    if slo.tpot_max_s is not None:
        best = min(float(t.min()) for t in cm.dec_t if len(t))
        if best > slo.tpot_max_s:
            facts.append(f"the fastest decode step is {best:.4g} s > tpot_max_s {slo.tpot_max_s:g} s")
    if slo.qps_min is not None and not facts:
        top = float(slice_bounds(space, cm)[2].max())
        facts.append(f"qps_min {slo.qps_min:g} cannot be reached within {space.max_chips} chips under the other bounds"
                     + (f" (no plan of the space exceeds {top:.4g} QPS, bound U1)" if top < slo.qps_min else ""))
    bounds = ", ".join(f"{k} = {v}" for k, v in slo.model_dump().items() if v is not None)
    detail = "; ".join(facts) or "the bounds bind jointly"
    return f"no plan meets {bounds}: {detail}. To fix: relax those bounds, or allow more chips per stage"


def cpsat_frontier(space: Space, *, slo: Slo | None = None, workers: int = 1, time_limit_s: float = 60.0,
                   seed: int = 0, progress: Progress | None = None, max_points: int = 100_000) -> FrontierResult:
    """The TTFT vs QPS/chip frontier by the slice-decomposed epsilon-constraint sweep (O1-O3, U1-U2)."""
    slo = slo if slo is not None else space.instance.slo
    t0 = time.perf_counter()
    sweep = SliceSweep(space, slo, workers, time_limit_s, seed)
    eps = math.floor(slo.ttft_max_s / TIME_RES_S) if slo.ttft_max_s is not None else None
    found: list[FrontierPoint] = []
    while len(found) < max_points:
        res = sweep.point(eps)
        if res is None:
            break
        plan, vals, t_star, proven, gap = res
        metrics = verify_solution(space, plan, vals, len(sweep.groups), sweep.cm.cycle_res_s)
        found.append(FrontierPoint(metrics=metrics, plan=plan, proven_optimal=proven, gap=0.0 if proven else gap))
        if progress:
            progress(len(found), 0, f"TTFT {metrics.ttft_s:.4g} s, QPS/chip {metrics.qps_per_chip:.4g}")
        eps = t_star - 1
    if not found:
        if slo == Slo() or SliceSweep(space, Slo(), workers, time_limit_s, seed).point(None) is None:
            raise EmptySpaceError(empty_space_message(space))
        raise InfeasibleError(diagnose_infeasible(space, slo))
    keep = pareto_indices([p.metrics.ttft_s for p in found], [p.metrics.qps_per_chip for p in found],
                          [p.metrics.tpot_s for p in found], [p.metrics.chips for p in found])
    return FrontierResult(instance=space.instance.name, solver="cpsat", solve_seconds=time.perf_counter() - t0,
                          points=tuple(found[i] for i in keep), solves=sweep.solves)
