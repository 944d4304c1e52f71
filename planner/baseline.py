"""The RAGO paper's baseline, "LLM-system extension" (``docs/model.md``, "Baseline", B1-B2), and how a frontier
compares with it.

- B1 every pre-decode stage runs in one collocated group with the main LLM's prefix (placement policy
  ``llm-extension``), on as many chips as decode (the paper tunes prefix : decode to 1 : 1), the total fixed at
  2n; batching is searched as in the instance (micro-batching included). n is the largest count both the group
  and decode offer with 2n <= ``total_chips.max`` (or ``chips / 2`` when given).
- B2 the comparison: the speedup of the best QPS/chip (ours over the baseline's, exact rationals) and the
  reduction of the least TTFT (1 - ours / the baseline's).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from planner.errors import InstanceError
from planner.schema import ACCELERATOR_STAGES, FrontierResult, Instance, IntRange
from planner.space import build_space, units_of

__all__ = ["BASELINES", "Comparison", "compare_frontiers", "llm_extension"]

BASELINES = ("llm-extension",)


def llm_extension(inst: Instance, chips: int | None = None) -> tuple[Instance, int]:
    """B1: the baseline instance of ``inst`` and its chips per side n (prefix group = decode = n, total 2n)."""
    layout = inst.model_copy(update={"search": inst.search.model_copy(update={"placement": "llm-extension"})})
    space = build_space(layout)  # EmptySpaceError when the stages cannot share one group (G3)
    placement = space.placements[0]
    if len(space.types) > 1:
        raise InstanceError(f"the llm-extension baseline runs one accelerator type; {inst.name} offers "
                            f"{list(space.types)}. To fix: offer one type (cost.accelerator or --accelerator)")
    both = sorted({int(units_of(o)) for o in space.group_chip_options(placement[0], placement)}
                  & {int(units_of(o)) for o in space.group_chip_options(placement[1], placement)})
    if chips is not None:
        if chips % 2 or chips // 2 not in both:
            raise InstanceError(f"--baseline-chips {chips}: the prefix group and decode each take half, and both "
                                f"offer only {both} chips. To fix: give twice one of those")
        n = chips // 2
    else:
        fit = [x for x in both if 2 * x <= inst.search.total_chips.max]
        if not fit:
            raise InstanceError(f"the llm-extension baseline gives the prefix group and decode n chips each, n in "
                                f"{both} (offered by both), and 2n exceeds total_chips.max "
                                f"{inst.search.total_chips.max} for each. To fix: raise total_chips.max or give "
                                f"--baseline-chips")
        n = fit[-1]
    options = {s: [n] for s in inst.pipeline.stage_names if s in ACCELERATOR_STAGES}
    search = inst.search.model_copy(update={"placement": "llm-extension", "chip_options": options,
                                            "collocated_chip_options": {},
                                            "total_chips": IntRange(min=2 * n, max=2 * n)})
    return inst.model_copy(update={"name": f"{inst.name}-llm-extension", "search": search}), n


@dataclass(frozen=True)
class Comparison:
    """B2: a frontier against the baseline's."""

    max_ratio: Fraction
    baseline_max_ratio: Fraction
    min_ttft_ps: int
    baseline_min_ttft_ps: int

    @property
    def speedup_max_qps_per_chip(self) -> float:
        return float(self.max_ratio / self.baseline_max_ratio)

    @property
    def min_ttft_reduction(self) -> float:
        return 1.0 - self.min_ttft_ps / self.baseline_min_ttft_ps


def compare_frontiers(ours: FrontierResult, baseline: FrontierResult) -> Comparison:
    """B2 from two frontiers (each non-empty)."""
    return Comparison(max(p.metrics.ratio for p in ours.points), max(p.metrics.ratio for p in baseline.points),
                      min(p.metrics.ttft_ps for p in ours.points), min(p.metrics.ttft_ps for p in baseline.points))
