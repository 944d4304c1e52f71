"""Running one ask: solver settings, the run's clock, solver status -> ``Outcome``.

Statuses map to outcomes: OPTIMAL -> a proven answer; FEASIBLE -> an answer the time limit left unproven;
INFEASIBLE -> None (a proof that nothing qualifies); UNKNOWN (the time ran out before any solution) ->
``OutOfTime``; MODEL_INVALID -> RuntimeError (a bug). Every solve gets the time the run has left
(``Clock``), so a run's time limit is honoured whatever the number of solves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ortools.sat.python import cp_model

from planner.cpsat.model import AskModel

__all__ = ["Clock", "OutOfTime", "Outcome", "SolverSettings", "run_ask"]


class OutOfTime(Exception):
    """The run's time limit is reached (internal: the sweeps turn it into partial, unproven results)."""


class Clock:
    """The run's deadline (``time_limit_s`` from now; None: no limit)."""

    def __init__(self, time_limit_s: float | None):
        self.t0 = time.perf_counter()
        self.deadline = None if time_limit_s is None else self.t0 + time_limit_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def remaining(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.perf_counter()


@dataclass(frozen=True)
class SolverSettings:
    """CP-SAT parameters of every solve (docs/model.md, "Solver settings": chosen by measurement)."""

    workers: int = 1
    seed: int = 0

    def apply(self, prm, remaining_s: float, lp: bool = False) -> None:
        prm.num_workers = self.workers
        prm.random_seed = self.seed
        if remaining_s != float("inf"):
            prm.max_time_in_seconds = max(remaining_s, 1e-3)
        # No presolve: slice models are small, and both OR-Tools 9.15 defects met here were presolve proving a
        # feasible model infeasible (docs/model.md, "Solver defects worked around"). Faster, too (measured).
        prm.cp_model_presolve = False
        # No LP relaxation: on these small tables search alone is faster (measured); except C17's stalled decode
        # (products of M, q, N): an iterative-retrieval O3 ran > 30 s of search without it, 0.15 s with it
        # (paper case3-70b, `batches: any` to 64; measured).
        prm.linearization_level = 1 if lp else 0
        # The proofs here take a handful of conflicts; root probing and SAT inprocessing (clause vivification)
        # cost 20-30x the search itself on a case4 `any` slice (docs/model.md, "Solver settings"; measured).
        prm.cp_model_probing_level = 0
        prm.symmetry_level = 0
        prm.use_sat_inprocessing = False
        # A hint (the slice's last solution) finds the first solution only; kept as the branching preference it
        # can trap the search: an iterative-retrieval O3 with N capped at the hint's own N took > 200 s instead of
        # 0.02 s (paper case3-8b-r2, `--chips any`; measured).
        prm.use_optimization_hints = False


@dataclass(frozen=True)
class Outcome:
    """A solution of one ask: whether it is proven optimal, and its values."""

    optimal: bool
    values: dict


def run_ask(a: AskModel, settings: SolverSettings, clock: Clock, hint: dict | None = None) -> Outcome | None:
    """Solve one ask; None if infeasible (proven). Raises ``OutOfTime`` if no solution was found in time."""
    remaining = clock.remaining()
    if remaining <= 0:
        raise OutOfTime()
    hinted = set()
    for k, v in (hint or {}).items():
        if k in a.vars and a.vars[k].index not in hinted:  # names may alias one variable (o = n with one type)
            hinted.add(a.vars[k].index)
            a.model.add_hint(a.vars[k], v)
    solver = cp_model.CpSolver()
    settings.apply(solver.parameters, remaining, lp=a.lp)
    status = solver.solve(a.model)
    if status == cp_model.INFEASIBLE:
        return None
    if status == cp_model.MODEL_INVALID:
        raise RuntimeError(f"CP-SAT rejected the model: {a.model.validate()} (a bug)")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise OutOfTime()
    values = {k: int(solver.value(v)) for k, v in a.vars.items()}
    return Outcome(status == cp_model.OPTIMAL, values)
