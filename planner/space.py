"""The search space of an instance: stages, placements, chip and batch options, and scaled stage costs.

Everything a solver (exhaustive or CP-SAT) and the evaluator share lives here, derived once from the
instance (rules S1-S7 of ``docs/model.md``, section "Search space"):

- S1 chip options of an accelerator stage: the instance's list if given, else powers of two up to the
  per-stage max for encode/rerank and the (replica-scaled) profiled counts for the other stages; always
  capped at ``max_chips_per_stage``. Tables are replica-scaled up to the largest option.
- S2 a collocated group uses one count for all its stages: the intersection of the members' options (and
  of the powers of two up to the per-stage max, with ``chips: pow2``); a placement with a group whose members share
  no count is not in the space.
- S3 total chips = sum over groups holding an accelerator stage; it must lie in [min, max] where min is
  raised to chips_per_server x the smallest profiled server count of retrieval, and max is lowered to the most
  any placement can use (the sum of its groups' largest options): the effective budget N_max.
- S4 retrieval servers = max(1, floor(total chips / chips_per_server)).
- S5 pre-decode request batch B: powers of two up to ``max_batch_size`` (every pre-decode stage runs B).
- S6 decode batch D: powers of two up to the largest batch of decode's table (analytical: its memory capacity)
  at its chip count, capped by ``max_decode_batch_size`` if set, D >= B.
- S7 ``chips: any`` / ``batches: any`` widen S1/S5/S6 to every integer (from the smallest profiled count, or the
  instance's own list), and serve costs by the replica rules A1-A4 of ``models.replicas``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from models.cost import RetrievalModel, StageCost
from models.replicas import any_count_cost
from planner.costs import stage_costs
from planner.dag import Placement, build_dag, placements
from planner.errors import EmptySpaceError, InstanceError
from planner.exact import to_ps
from planner.schema import ACCELERATOR_STAGES, Instance

__all__ = ["Space", "batch_grid", "build_space", "pow2_upto"]


def pow2_upto(n: int) -> tuple[int, ...]:
    """Powers of two 1, 2, 4, ... <= n."""
    return tuple(1 << i for i in range(max(0, int(n)).bit_length()))


def batch_grid(top: int, mode: str) -> tuple[int, ...]:
    """S5/S6/S7: the batches up to ``top``: every integer (``any``) or the powers of two (``pow2``)."""
    return tuple(range(1, top + 1)) if mode == "any" else pow2_upto(top)


@dataclass(frozen=True)
class Space:
    instance: Instance
    stages: tuple[str, ...]
    costs: dict[str, object]
    placements: tuple[Placement, ...]
    stage_chip_options: dict[str, tuple[int, ...]]
    min_chips: int
    max_chips: int
    batch_options: tuple[int, ...]
    _decode_cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def pre_decode(self) -> tuple[str, ...]:
        return self.stages[:-1]

    @property
    def has_retrieval(self) -> bool:
        return "retrieval" in self.stages

    @property
    def chips_per_server(self) -> int:
        return self.instance.search.chips_per_server

    def decode_tokens(self) -> int:
        return self.instance.pipeline.stage("decode").decode_tokens

    def latency_ps(self, stage: str, units: int, batch: np.ndarray | float) -> np.ndarray:
        """Q1: the latency of one batch of ``stage`` on ``units`` chips (retrieval: servers), in whole picoseconds
        (an int64 array, 0-d for a scalar batch); every solver and the evaluator use these integers."""
        return to_ps(self.costs[stage].latency_s(int(units), batch))

    def group_chip_options(self, group: tuple[str, ...]) -> tuple[int, ...]:
        """S2: chip counts a group may use (empty tuple for a retrieval-only group)."""
        acc = [s for s in group if s in ACCELERATOR_STAGES]
        if not acc:
            return ()
        opts = set(self.stage_chip_options[acc[0]])
        for s in acc[1:]:
            opts &= set(self.stage_chip_options[s])
        if len(acc) > 1 and self.instance.search.chips == "pow2":
            opts &= set(pow2_upto(self.instance.search.max_chips_per_stage))
        return tuple(sorted(opts))

    def servers(self, total_chips: int | np.ndarray) -> int | np.ndarray:
        """S4: retrieval servers for a total chip count."""
        return np.maximum(1, np.asarray(total_chips) // self.chips_per_server) if np.ndim(total_chips) else max(
            1, int(total_chips) // self.chips_per_server)

    def decode_batch_options(self, chips: int) -> tuple[int, ...]:
        """S6/S7: decode batches at ``chips`` decode chips."""
        if chips not in self._decode_cache:
            top = self.costs["decode"].max_batch(chips)
            cap = self.instance.search.max_decode_batch_size
            self._decode_cache[chips] = batch_grid(min(top, cap) if cap else top, self.instance.search.batches)
        return self._decode_cache[chips]


def _chip_options(inst: Instance, costs: dict[str, object]) -> dict[str, tuple[int, ...]]:
    sp = inst.search
    out: dict[str, tuple[int, ...]] = {}
    for stage in inst.pipeline.stage_names:
        if stage not in ACCELERATOR_STAGES:
            continue
        scaled = costs[stage].scaled_to(sp.max_chips_per_stage)
        low = scaled.min_units()  # fewest chips the cost source can serve (memory, or the profiled counts)
        given = sp.chip_options.get(stage)
        if given is not None:
            if sp.chips == "pow2":
                bad = [n for n in given if n & (n - 1)]
                if bad:
                    raise InstanceError(f"search.chip_options.{stage} has {bad}, not powers of two, with search.chips:"
                                        f" pow2. To fix: use powers of two or set search.chips: any")
            opts = tuple(n for n in given if low <= n <= sp.max_chips_per_stage)
            if not opts:
                raise InstanceError(f"search.chip_options.{stage} {given}: none within [{low}, max_chips_per_stage "
                                    f"{sp.max_chips_per_stage}] ({low} = the fewest chips its cost model serves). "
                                    f"To fix: list counts in that range or raise max_chips_per_stage")
        elif sp.chips == "any":
            opts = tuple(range(low, sp.max_chips_per_stage + 1))
        elif scaled.every_pow2:
            opts = pow2_upto(sp.max_chips_per_stage)  # the artifact's rule for profiled encode/rerank
        else:
            opts = tuple(n for n in scaled.unit_counts() if n <= sp.max_chips_per_stage)
        if not opts:
            raise InstanceError(f"stage {stage}: its cost source serves {low} or more chips but "
                                f"search.max_chips_per_stage is {sp.max_chips_per_stage}. To fix: raise "
                                f"search.max_chips_per_stage to at least {low}")
        out[stage] = opts
    return out


def build_space(inst: Instance) -> Space:
    """Derive the search space (S1-S7) of an instance and scale its cost tables to it."""
    sp = inst.search
    any_mode = sp.chips == "any" or sp.batches == "any"
    raw = stage_costs(inst)
    options = _chip_options(inst, raw)
    costs: dict[str, object] = {}
    dag = build_dag(inst.pipeline)
    draft = Space(inst, inst.pipeline.stage_names, {}, tuple(placements(dag, sp.placement)), options, 0, 0,
                  batch_grid(sp.max_batch_size, sp.batches))

    def usable(g) -> bool:  # S2: an accelerator group needs a chip count common to its members
        return bool(draft.group_chip_options(g)) or not any(s in ACCELERATOR_STAGES for s in g)

    allowed = tuple(p for p in draft.placements if all(usable(g) for g in p))
    if not allowed:
        raise EmptySpaceError(f"placement policy {sp.placement!r} allows no placement of stages "
                              f"{list(inst.pipeline.stage_names)} whose collocated stages share a chip option. "
                              f"To fix: set search.placement: all, or give collocated stages common chip_options")
    most = max(sum(max(draft.group_chip_options(g) or (0,)) for g in p) for p in allowed)  # S3
    min_chips, max_chips = sp.total_chips.min, min(sp.total_chips.max, most)
    if max_chips < max(min_chips, 1):
        raise EmptySpaceError(f"the most chips any placement can use is {most} (the per-stage options, at most "
                              f"search.max_chips_per_stage = {sp.max_chips_per_stage} per group), below "
                              f"search.total_chips.min = {min_chips}. To fix: lower search.total_chips.min or raise "
                              f"search.max_chips_per_stage")
    for stage, cost in raw.items():
        if stage == "retrieval":
            costs[stage] = cost.scaled_to(max(1, max_chips // sp.chips_per_server))
            min_chips = max(min_chips, sp.chips_per_server * cost.min_servers())
        else:
            costs[stage] = cost.scaled_to(max(options[stage]))
        if any_mode:
            costs[stage] = any_count_cost(cost, costs[stage], memory_bound=stage == "decode")
    if min_chips > max_chips:
        fix = (f"raise search.total_chips.max to >= {min_chips}" if max_chips == sp.total_chips.max else
               f"raise search.max_chips_per_stage (placements use at most {max_chips} chips)")
        raise EmptySpaceError(f"retrieval needs >= {min_chips} chips in total ({min_chips // sp.chips_per_server} "
                              f"servers x {sp.chips_per_server} chips) but the space allows at most {max_chips}. "
                              f"To fix: {fix}")
    return replace(draft, costs=costs, placements=allowed, min_chips=min_chips, max_chips=max_chips)
