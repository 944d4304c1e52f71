"""The CP-SAT planner: integer tables of a space and its slices, the slice model (C1-C10), the solve wrapper and
the slice sweep with its objectives (O1-O4) and bounds (U1-U4). ``planner.pareto`` and ``planner.capacity`` use
these public names only."""

from planner.cpsat.model import INT_LIMIT, Ask, SliceModel, build_ask, build_base, slice_groups
from planner.cpsat.solve import Clock, Outcome, OutOfTime, SolverSettings, run_ask
from planner.cpsat.sweep import Cost, SliceSweep, Step, slice_bounds, slice_chip_bounds
from planner.cpsat.tables import (
                                  Bucket,
                                  DecodeBook,
                                  SliceTables,
                                  SpaceTables,
                                  best_rows,
                                  build_tables,
                                  capped_rows,
                                  fast_rows,
                                  slice_tables,
)

__all__ = ["Ask", "Bucket", "Clock", "Cost", "DecodeBook", "INT_LIMIT", "OutOfTime", "Outcome", "SliceModel",
           "SliceSweep", "SliceTables", "SolverSettings", "SpaceTables", "Step", "best_rows", "build_ask",
           "build_base", "build_tables", "capped_rows", "fast_rows", "run_ask", "slice_bounds", "slice_chip_bounds",
           "slice_groups", "slice_tables"]
