"""ragplan: plan placement, chip counts and batching of RAG serving pipelines.

Public API (everything else is private and may change)."""

from planner.capacity import min_chips
from planner.errors import (
                            EXPECTED_ERRORS,
                            EmptySpaceError,
                            InfeasibleError,
                            InstanceError,
                            RagplanError,
                            SpaceTooLargeError,
                            TimeLimitError,
                            VerificationError,
)
from planner.evaluate import check_plan, evaluate, slo_violations
from planner.exhaustive import exhaustive_frontier, exhaustive_min_chips
from planner.frontier import pareto_indices
from planner.loader import load_instance
from planner.pareto import cpsat_frontier
from planner.plans import read_plan
from planner.schema import CapacityResult, FrontierPoint, FrontierResult, Instance, Metrics, Plan, Slo
from planner.space import Space, build_space

__all__ = [
    "CapacityResult",
    "EXPECTED_ERRORS",
    "EmptySpaceError",
    "FrontierPoint",
    "FrontierResult",
    "InfeasibleError",
    "Instance",
    "InstanceError",
    "Metrics",
    "Plan",
    "RagplanError",
    "Slo",
    "Space",
    "SpaceTooLargeError",
    "TimeLimitError",
    "VerificationError",
    "build_space",
    "check_plan",
    "cpsat_frontier",
    "evaluate",
    "exhaustive_frontier",
    "exhaustive_min_chips",
    "load_instance",
    "min_chips",
    "pareto_indices",
    "read_plan",
    "slo_violations",
]
