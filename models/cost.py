"""The one typed interface every stage cost model implements (profiles, rooflines, scans, replica rules).

The planner sees a stage only through these protocols: an accelerator stage through ``StageCost`` (units are
chips), retrieval through ``RetrievalModel`` (units are CPU servers). Nothing above ``models`` dispatches on a
concrete class: what differs between sources (which chip counts a ``pow2`` space offers, how ``chips: any`` is
served, what bounds an option) is a method or attribute here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from models.profiles import BatchCurve

__all__ = ["Breakdown", "RetrievalModel", "StageCost"]


@dataclass(frozen=True)
class Breakdown:
    """What bounds one (units, batch) option: the binding resource (``bound``), the configuration that attains
    the latency (e.g. ``tp4 pp1 dp2``; empty when the source has none), and the latency's parts in seconds."""

    bound: str
    latency_s: float
    configuration: str = ""
    parts_s: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class StageCost(Protocol):
    """An accelerator stage: the latency of one request batch on some chips, and what limits the options."""

    #: ``chips: pow2`` offers every power of two up to the per-stage max (else: ``unit_counts()``).
    every_pow2: bool

    @property
    def description(self) -> str: ...

    def latency_s(self, units: int, batch: np.ndarray | float) -> np.ndarray:
        """Seconds for one batch of ``batch`` requests on ``units`` chips (decode: all its steps); a
        ``ModelError`` with the reason when the option cannot run."""

    def max_batch(self, units: int) -> int:
        """Largest request batch resident at once on ``units`` chips (the decode batch limit)."""

    def min_units(self) -> int:
        """Fewest chips the source serves (memory, or the profiled counts)."""

    def batch_cap(self, units: int) -> int | None:
        """Largest micro-batch (MB1) the source describes on ``units`` chips: a profile's largest (replica-scaled)
        row; None: any batch."""

    def unit_counts(self) -> tuple[int, ...]:
        """The chip counts of a ``chips: pow2`` space (when ``every_pow2`` is false)."""

    def scaled_to(self, max_units: int) -> "StageCost":
        """The same cost over counts up to ``max_units`` (profiles: P3 replica scaling)."""

    def replica_curves(self) -> dict[int, BatchCurve] | None:
        """Per profiled unit count its request-batch curve, which the replica rules A1-A4 replicate; None when
        the source serves any chip count and any batch itself."""

    def any_batch(self) -> "StageCost":
        """The cost serving batches between profiled rows (A1) where ``replica_curves`` is None."""

    def breakdown(self, units: int, batch: int) -> Breakdown: ...


@runtime_checkable
class RetrievalModel(Protocol):
    """Vector search on CPU servers: the latency of one request batch on some servers."""

    @property
    def description(self) -> str: ...

    def latency_s(self, servers: int, batch: np.ndarray | float) -> np.ndarray: ...

    def min_servers(self) -> int:
        """Fewest servers that hold the database (its shard-memory minimum)."""

    def server_counts(self) -> tuple[int, ...]:
        """Server counts with a distinct latency table (others use the largest count below them)."""

    def batch_cap(self, servers: int) -> int | None:
        """Largest micro-batch (MB1) the source describes on ``servers`` servers (None: any batch)."""

    def scaled_to(self, max_servers: int) -> "RetrievalModel": ...

    def replica_curves(self) -> dict[int, BatchCurve] | None: ...

    def any_batch(self) -> "RetrievalModel": ...

    def breakdown(self, servers: int, batch: int) -> Breakdown: ...
