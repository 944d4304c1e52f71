"""Self-design: the RAG knobs chosen with placement, allocation and batching (``docs/model.md``, "Self-design",
K1-K7).

- ``design_frontier`` (K5): the TTFT vs QPS/chip frontier over every knob combination that meets the quality
  floors: the variants' slices are one set for the sweep (``planner.cpsat.point.union_point``), so a slice of
  a variant is searched only while its bound can beat the best plan of any variant, and every point is proven
  like a plain frontier's. The exhaustive reference enumerates every variant and runs F1-F3 on the union.
- ``design_levels`` (K6): the three-way frontier (quality, TTFT, QPS/chip): per quality level q of the design's
  metric, the frontier over the variants of quality >= q; a level's point is kept when no higher level has one
  with TTFT <= and QPS/chip >= it. Per level, what each knob costs (K7): the best QPS/chip under the TTFT bound
  with the knob held at each of its values.
- K11: a variant covered by an earlier one (every plan of it matched by a plan of the earlier one, no worse in any
  latency) is left out of a question where that one is a member; the points are the same.
Every point is re-checked by the evaluator on its own variant's space.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from models.errors import ModelError
from planner.cpsat import Clock, SliceSweep, SolverSettings, build_tables, by_batch, covers, sweep_for
from planner.cpsat.point import union_point
from planner.errors import EmptySpaceError, InfeasibleError, InstanceError, TimeLimitError
from planner.exhaustive import exhaustive_union
from planner.knobs import Variant, variants
from planner.pareto import union_frontier
from planner.schema import FrontierPoint, FrontierResult, Instance, Slo
from planner.space import Space, build_space
from planner.verify import verify_solution

__all__ = ["DesignLevel", "DesignResult", "KnobCost", "design_frontier", "design_levels", "design_spaces"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KnobCost(_Out):
    """K7: the best QPS/chip under the TTFT bound with ``knob`` held at ``value`` (None: no plan)."""

    knob: str
    value: bool | int | float | str
    qps_per_chip: float | None
    ttft_s: float | None
    proven: bool = True  # False: a time limit cut the question short (the best found)


class DesignLevel(_Out):
    quality_min: float
    variants: tuple[str, ...]
    frontier: tuple[FrontierPoint, ...]  # TTFT ascending
    knob_costs: tuple[KnobCost, ...]


class DesignResult(_Out):
    instance: str
    metric: str
    solver: str
    solve_seconds: float
    ttft_max_s: float | None
    levels: tuple[DesignLevel, ...]  # quality descending
    three_way: tuple[tuple[int, int], ...]  # (level, point) of the (quality, TTFT, QPS/chip) Pareto set
    variants_left_out: dict[str, str]
    solves: int | None = None
    complete: bool = True  # False: a time limit cut some level's sweep short


def design_spaces(inst: Instance, floors: dict[str, float] | None = None) -> tuple[list[Variant], list[Space],
                                                                                   dict[str, str]]:
    """K4-K5: the variants searched (meeting every floor, with a space), their spaces, and those left out (why)."""
    kept, dropped = variants(inst, floors)
    bound = dict(inst.design.floors) | dict(floors or {})
    left = {v.label: "below " + ", ".join(f"{m} >= {f:.4g} ({v.quality[m]:.4g})" for m, f in bound.items()
                                          if v.quality[m] < f) for v in dropped}
    vs, spaces = [], []
    for v in kept:
        try:
            sp = build_space(v.instance)
        except (EmptySpaceError, InstanceError, ModelError) as exc:
            left[v.label] = str(exc)
            continue
        for other in reversed(spaces):  # a stage's rows are computed once per distinct cost model
            sp.share_rows(other)
        spaces.append(sp)
        vs.append(v)
    if not spaces:
        why = "; ".join(f"{k}: {w}" for k, w in list(left.items())[:3])
        raise InfeasibleError(f"no knob combination of {inst.name} meets the quality floors and has a search "
                              f"space ({len(left)} left out; {why[:400]}). To fix: lower the quality floors or "
                              f"widen the design's knobs")
    return vs, spaces, left


class _Union:
    """The solver of a design's variants: CP-SAT sweeps (built on first use, reset per question) or enumeration.
    K11: a variant covered by an earlier one among a question's members is left out of it (same frontier)."""

    def __init__(self, spaces: list[Space], slo: Slo, solver: str, workers: int, time_limit_s: float | None,
                 seed: int, progress) -> None:
        self.spaces, self.slo, self.solver, self.progress = spaces, slo, solver, progress
        self.clock = Clock(time_limit_s)
        self.settings = SolverSettings(workers, seed)
        self.sweeps: list[SliceSweep | None] | None = None
        self._covers: dict[tuple[int, int], bool] = {}  # K11 (j, k): whether variant j covers variant k
        if solver == "cpsat":
            self.sweeps = [None] * len(spaces)
            self.tables = [build_tables(sp, slo, progress) if not by_batch(sp) else None for sp in spaces]
        self.stopped = False

    @property
    def solves(self) -> int | None:
        return sum(w.solves for w in self.sweeps if w is not None) if self.sweeps is not None else None

    def covers(self, j: int, k: int) -> bool:
        """K11: whether variant j covers variant k (decided once per pair)."""
        if (j, k) not in self._covers:
            a, b = self.tables[j], self.tables[k]  # (None: a by-batch space, IR5, never compared)
            self._covers[(j, k)] = a is not None and b is not None and covers(self.spaces[j], a, self.spaces[k], b)
            if self._covers[(j, k)] and self.progress:
                self.progress(f"knob combination {k + 1}: covered by combination {j + 1} (K11)")
        return self._covers[(j, k)]

    def kept(self, members: list[int]) -> list[int]:
        """K11: the members no earlier member covers (CP-SAT; enumeration searches every member), in order. Only the
        members kept so far are asked: covering is transitive (a member covered by a covered one is covered by
        that one's coverer, earlier still)."""
        if self.sweeps is None:
            return members
        out: list[int] = []
        for k in sorted(members):
            if not any(self.covers(j, k) for j in out):
                out.append(k)
        return out

    def _fresh(self, members: list[int]) -> list[SliceSweep]:
        """The members' sweeps (built on first use), each restarted (a question starts again from the TTFT bound)."""
        for k in members:
            if self.sweeps[k] is None:
                self.sweeps[k] = sweep_for(self.spaces[k], self.slo, self.settings, self.clock, self.progress,
                                           tables=self.tables[k])
        ws = [self.sweeps[k] for k in members]
        for w in ws:
            w.reset()
        return ws

    def frontier(self, members: list[int]) -> list[tuple[int, FrontierPoint]]:
        """F1-F3 over the members' plans, TTFT ascending, with each point's variant index."""
        if self.sweeps is None:
            try:
                got, _ = exhaustive_union([self.spaces[k] for k in members], self.slo, self.progress)
            except (InfeasibleError, EmptySpaceError):
                return []
        else:
            members = self.kept(members)
            got, stopped = union_frontier(self._fresh(members), [self.spaces[k] for k in members], self.slo,
                                          self.progress)
            self.stopped |= stopped
        return sorted(((members[j], p) for j, p in got), key=lambda kp: kp[1].metrics.ttft_ps)

    def first(self, members: list[int]) -> tuple[int, FrontierPoint] | None:
        """The point at the TTFT bound (F2 at e = the SLO's bound) over the members' plans."""
        if self.sweeps is None:
            got = self.frontier(members)
            return got[-1] if got else None
        members = self.kept(members)
        ws = self._fresh(members)
        got = union_point(ws, ws[0].tables.ttft_cap)
        if got is None or got[1].plan is None:
            self.stopped |= got is not None
            return None
        j, step = got
        k = members[j]
        m = verify_solution(self.spaces[k], step, self.slo)
        return k, FrontierPoint(metrics=m, plan=step.plan, proven_optimal=step.proven, gap=step.gap)


def _with_knobs(vs: list[Variant], kp: tuple[int, FrontierPoint]) -> FrontierPoint:
    k, p = kp
    return p.model_copy(update={"knobs": dict(vs[k].knobs), "quality": dict(vs[k].quality)})


def design_frontier(inst: Instance, floors: dict[str, float] | None = None, *, solver: str = "cpsat",
                    workers: int = 1, time_limit_s: float | None = None, seed: int = 0,
                    progress=None) -> FrontierResult:
    """K5: the frontier over every knob combination meeting the floors; each point carries its knobs and
    quality."""
    vs, spaces, left = design_spaces(inst, floors)
    run = _Union(spaces, inst.slo, solver, workers, time_limit_s, seed, progress)
    got = run.frontier(list(range(len(vs))))
    if not got and run.stopped:
        raise TimeLimitError(f"no plan found within the time limit ({run.clock.elapsed():.3g} s, {run.solves} CP-SAT "
                             f"solves over {len(vs)} knob combinations). To fix: raise --time-limit-s")
    if not got:
        raise InfeasibleError(f"no plan of any of the {len(vs)} knob combinations of {inst.name} meets the SLO "
                              f"{inst.slo.model_dump(exclude_none=True)}. To fix: relax the SLO or the quality "
                              f"floors (run 'ragplan pareto' on one variant for the binding limit)")
    return FrontierResult(instance=inst.name, solver=solver, solve_seconds=run.clock.elapsed(),
                          points=tuple(_with_knobs(vs, kp) for kp in got), solves=run.solves,
                          complete=not run.stopped, variants=tuple(v.label for v in vs), variants_left_out=left)


def _dominated(p: FrontierPoint, above: list[FrontierPoint]) -> bool:
    return any(q.metrics.ttft_ps <= p.metrics.ttft_ps and q.metrics.ratio >= p.metrics.ratio for q in above)


def design_levels(inst: Instance, floors: dict[str, float] | None = None, *, solver: str = "cpsat",
                  workers: int = 1, time_limit_s: float | None = None, seed: int = 0,
                  progress=None) -> DesignResult:
    """K6-K7: per quality level of the design's metric (those meeting the floors), the frontier over the variants
    at or above it and what each knob costs there; the three-way Pareto set across levels."""
    vs, spaces, left = design_spaces(inst, floors)
    metric = inst.design.metric
    run = _Union(spaces, inst.slo, solver, workers, time_limit_s, seed, progress)
    levels, three, above = [], [], []
    for q in sorted({v.quality[metric] for v in vs}, reverse=True):
        members = [k for k, v in enumerate(vs) if v.quality[metric] >= q]
        if progress:
            progress(f"quality {metric} >= {q:.4g}: {len(members)} variants")
        front = [_with_knobs(vs, kp) for kp in run.frontier(members)]
        costs = []
        for knob, values in inst.design.knobs.varied().items():
            for value in values:
                sub = [k for k in members if vs[k].knobs[knob] == value]
                got = run.first(sub) if sub else None
                costs.append(KnobCost(knob=knob, value=value,
                                      qps_per_chip=got[1].metrics.qps_per_chip if got else None,
                                      ttft_s=got[1].metrics.ttft_s if got else None,
                                      proven=got[1].proven_optimal if got else not run.stopped))
        three += [(len(levels), i) for i, p in enumerate(front) if not _dominated(p, above)]
        above += front
        levels.append(DesignLevel(quality_min=q, variants=tuple(vs[k].label for k in members),
                                  frontier=tuple(front), knob_costs=tuple(costs)))
    return DesignResult(instance=inst.name, metric=metric, solver=solver, solve_seconds=run.clock.elapsed(),
                        ttft_max_s=inst.slo.ttft_max_s, levels=tuple(levels), three_way=tuple(three),
                        variants_left_out=left, solves=run.solves, complete=not run.stopped)
