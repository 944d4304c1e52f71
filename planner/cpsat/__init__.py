"""The CP-SAT planner: integer tables of a space and its slices, the slice model (C1-C12), the solve wrapper, the
slice sweep with its objectives (O1-O4) and bounds (U1-U4), and the O4 scan ``least_weight``. ``planner.pareto``
and ``planner.capacity`` use these public names only."""

from planner.cpsat.dominance import covers, plain
from planner.cpsat.model import INT_LIMIT, Ask, SliceModel, build_ask, build_base, slice_groups
from planner.cpsat.iterative import IterativeSweep, by_batch, sweep_for
from planner.cpsat.least import least_weight
from planner.cpsat.solve import Clock, Outcome, OutOfTime, SolverSettings, run_ask
from planner.cpsat.sweep import Cost, SliceSweep, Step, slice_bounds, slice_chip_bounds
from planner.cpsat.rows import best_rows, capped_rows, fast_rows
from planner.cpsat.tables import Bucket, DecodeBook, SliceTables, SpaceTables, build_tables, slice_tables

__all__ = ["Ask", "Bucket", "Clock", "Cost", "DecodeBook", "INT_LIMIT", "IterativeSweep", "OutOfTime", "Outcome",
           "SliceModel", "SliceSweep", "SliceTables", "SolverSettings", "SpaceTables", "Step", "best_rows", "build_ask",
           "build_base", "build_tables", "by_batch", "capped_rows", "covers", "fast_rows", "least_weight", "plain", "run_ask",
           "slice_bounds",
           "slice_chip_bounds",
           "slice_groups", "slice_tables", "sweep_for"]
