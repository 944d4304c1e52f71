"""The CP-SAT constraint model of ragplan: integer tables, constraint families C1-C8, solve wrapper O1-O3."""

from planner.cpsat.model import RagModel, build_model
from planner.cpsat.solve import Outcome, RagSolver
from planner.cpsat.tables import Q_SCALE, TIME_RES_S, Tables, build_tables

__all__ = ["Outcome", "Q_SCALE", "RagModel", "RagSolver", "TIME_RES_S", "Tables", "build_model", "build_tables"]
