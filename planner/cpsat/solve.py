"""Solve wrapper of one slice model: objectives O1-O3, solver status -> outcome, solution -> ``Plan``.

Objectives (``docs/model.md``, section "CP-SAT model"), each under TTFT <= e (the domain of TTFT):

- O1 max QPS/chip = B / (P x cycle unit), i.e. min P = N C: one optimisation solve, exact in solver units.
- O2 min TTFT subject to P <= P* + 2 N_max (ties: plans whose real ratio equals the optimum's but whose
  rounded cycle came out up to 2 units higher; each cycle is a sum of at most two parts rounded up).
- O3 min t_d (N_max + 1) + N subject to that and TTFT <= the O2 optimum (ties: lower TPOT, then fewer chips,
  as rule F2).
- O4 (capacity) min N, then TTFT, then TPOT, under the QPS floor of C8.

Temporary constraints are cleared from the proto after use, so one model serves a whole sweep; each
solution is the hint of the next solve.
"""

from __future__ import annotations

from dataclasses import dataclass

from ortools.sat.python import cp_model

from planner.cpsat.model import RagModel
from planner.schema import ACCELERATOR_STAGES, Plan
from planner.space import Space

__all__ = ["Outcome", "RagSolver", "tie_units"]


def tie_units(space: Space) -> int:
    """2 N_max: how much higher P may come out for a plan whose real QPS/chip ties the optimum's (O2): its
    cycle is a sum of at most two parts, each rounded up by less than one unit."""
    return 2 * space.max_chips


@dataclass(frozen=True)
class Outcome:
    """One solve: whether it is proven optimal, the main variables' values, objective and bound."""

    optimal: bool
    values: dict
    objective: float
    bound: float


class RagSolver:
    """Runs O1-O3 on one slice model."""

    def __init__(self, space: Space, rm: RagModel, *, workers: int = 1, time_limit_s: float = 60.0, seed: int = 0):
        self.space, self.rm = space, rm
        self.solver = cp_model.CpSolver()
        prm = self.solver.parameters
        prm.num_workers = workers
        prm.max_time_in_seconds = time_limit_s
        prm.random_seed = seed
        # No presolve: slice models are small, and both OR-Tools 9.15 defects met here were presolve proving a
        # feasible model infeasible (docs/model.md, "Solver defects worked around"). Faster, too (measured).
        prm.cp_model_presolve = False
        prm.linearization_level = 0  # no LP relaxation: on these small tables search alone is faster (measured)
        # The proofs here take a handful of conflicts; root probing and SAT inprocessing (clause vivification)
        # cost 20-30x the search itself on a case4 `any` slice (docs/model.md, "Solver settings"; measured).
        prm.cp_model_probing_level = 0
        prm.symmetry_level = 0
        prm.use_sat_inprocessing = False
        self.solves = 0
        self._ttft_hi = int(list(rm.model.proto.variables[rm.ttft.index].domain)[-1])

    def _main_vars(self) -> dict[str, cp_model.IntVar]:
        rm = self.rm
        out = {"N": rm.total, "C": rm.cycle, "P": rm.product, "TTFT": rm.ttft, "nd": rm.n_dec, "D": rm.d_batch,
               "tpot": rm.tpot, "cd": rm.cyc_dec, "bucket": rm.bucket}
        out |= {f"y:{'+'.join(g)}": v for g, v in rm.y.items()}
        out |= {f"n:{'+'.join(g)}": v for g, v in rm.n.items()}
        return out

    def _set_ttft_max(self, ttft_max: int | None) -> None:
        hi = self._ttft_hi if ttft_max is None else min(ttft_max, self._ttft_hi)
        dom = self.rm.model.proto.variables[self.rm.ttft.index].domain
        dom.clear()
        dom.extend([0, hi] if hi >= 0 else [1, 0])  # [1, 0] is the empty domain: infeasible

    @property
    def tie(self) -> int:
        return tie_units(self.space)

    def _drop(self, index: int) -> None:
        self.rm.model.proto.constraints[index].clear_linear()  # an empty constraint: always true

    def _solve(self) -> Outcome | None:
        self.solves += 1
        status = self.solver.solve(self.rm.model)
        if status == cp_model.INFEASIBLE:
            return None
        if status == cp_model.MODEL_INVALID:
            raise RuntimeError(f"CP-SAT rejected the model: {self.rm.model.validate()} (a bug)")
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            raise TimeoutError(f"CP-SAT found no solution within {self.solver.parameters.max_time_in_seconds} s "
                               f"(status {self.solver.status_name(status)}). To fix: raise --time-limit-s")
        main = self._main_vars()
        vals = {k: self.solver.value(v) for k, v in main.items()}
        self.rm.model.clear_hints()
        for k, v in main.items():
            self.rm.model.add_hint(v, vals[k])
        return Outcome(status == cp_model.OPTIMAL, vals, self.solver.objective_value, self.solver.best_objective_bound)

    def beats(self, ttft_max: int | None, p_max: int) -> bool:
        """Whether some plan under TTFT <= ttft_max has P <= p_max (a feasibility solve, no objective)."""
        self._set_ttft_max(ttft_max)
        idx = self.rm.model.add(self.rm.product <= p_max).index
        self.rm.model.clear_objective()
        try:
            return self._solve() is not None
        finally:
            self._drop(idx)

    def max_ratio(self, ttft_max: int | None) -> tuple[Outcome, float] | None:
        """O1: the least P = N C under TTFT <= ttft_max as (outcome, gap); None if infeasible.

        gap: relative bound on how much QPS/chip could still improve (0 when proven optimal)."""
        self._set_ttft_max(ttft_max)
        self.rm.model.minimize(self.rm.product)
        out = self._solve()
        if out is None:
            return None
        return out, 0.0 if out.optimal else out.values["P"] / max(out.bound, 1.0) - 1.0

    def _minimise_within(self, bound, ttft_max: int | None, objective, what: str) -> Outcome:
        """Minimise ``objective`` among plans meeting the linear ``bound`` and TTFT <= ttft_max."""
        self._set_ttft_max(ttft_max)
        idx = self.rm.model.add(bound).index
        self.rm.model.minimize(objective)
        try:
            out = self._solve()
        finally:
            self._drop(idx)
        if out is None:
            raise RuntimeError(f"{what} infeasible right after a solve found a plan: a solver bug")
        return out

    def min_ttft(self, p_star: int, ttft_max: int | None) -> Outcome:
        """O2: the least TTFT among plans with P <= P* + tie."""
        return self._minimise_within(self.rm.product <= p_star + self.tie, ttft_max, self.rm.ttft, "O2")

    def min_tpot(self, p_star: int, ttft: int) -> Outcome:
        """O3: the least TPOT, then fewest chips, among plans with P <= P* + tie and TTFT <= ttft."""
        return self._minimise_within(self.rm.product <= p_star + self.tie, ttft,
                                     self.rm.tpot * (self.space.max_chips + 1) + self.rm.total, "O3")

    def fewest_chips(self, ttft_max: int | None) -> Outcome | None:
        """O4: the fewest chips N, then the least TTFT, under TTFT <= ttft_max (the QPS floor is C8):
        min N (T_hi + 1) + TTFT, T_hi = TTFT's largest value. None if infeasible."""
        self._set_ttft_max(ttft_max)
        self.rm.model.minimize(self.rm.total * (self._ttft_hi + 1) + self.rm.ttft)
        return self._solve()

    def fewest_chips_tpot(self, n: int, ttft: int) -> Outcome:
        """O4's tie-break: the least TPOT among plans with N <= n and TTFT <= ttft."""
        return self._minimise_within(self.rm.total <= n, ttft, self.rm.tpot, "O4 TPOT")

    def plan(self, vals: dict) -> Plan:
        """The ``Plan`` of a solution's values."""
        chosen = [g for g in self.rm.groups if vals[f"y:{'+'.join(g)}"]]
        chosen.sort(key=lambda g: self.space.stages.index(g[0]))
        chips = {s: vals[f"n:{'+'.join(g)}"] for g in chosen for s in g if s in ACCELERATOR_STAGES}
        chips["decode"] = vals["nd"]
        batch = {s: self.rm.tables.batch for s in self.space.pre_decode} | {"decode": vals["D"]}
        servers = int(self.space.servers(vals["N"])) if self.space.has_retrieval else 0
        return Plan(placement=tuple(chosen) + (("decode",),), chips_per_stage=chips, batch_per_stage=batch,
                    retrieval_servers=servers)
