"""The CP-SAT model of ragplan: cost matrices and slice tables, constraint families C1-C9, objectives O1-O3."""

from planner.cpsat.model import RagModel, build_model, slice_groups
from planner.cpsat.solve import Outcome, RagSolver
from planner.cpsat.tables import CYCLE_RES_S, TIME_RES_S, CostMatrices, SliceTables, build_matrices, slice_tables

__all__ = ["CYCLE_RES_S", "CostMatrices", "Outcome", "RagModel", "RagSolver", "SliceTables", "TIME_RES_S",
           "build_matrices", "build_model", "slice_groups", "slice_tables"]
