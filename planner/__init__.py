"""ragplan: plan placement, chip counts and batching of RAG serving pipelines.

Public API (everything else is private and may change)."""

from planner.errors import (EXPECTED_ERRORS, EmptySpaceError, InfeasibleError, InstanceError, RagplanError,
                            VerificationError)
from planner.evaluate import check_plan, evaluate
from planner.exhaustive import exhaustive_frontier
from planner.frontier import pareto_indices
from planner.schema import FrontierPoint, FrontierResult, Instance, Metrics, Plan, load_instance
from planner.space import Space, build_space

__all__ = [
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
    "Space",
    "VerificationError",
    "build_space",
    "check_plan",
    "evaluate",
    "exhaustive_frontier",
    "load_instance",
    "pareto_indices",
]
