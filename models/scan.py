"""Vector-search cost on CPU servers: a ScaNN-style multi-level tree scan, or a brute-force scan.

Formulas V1-V4 (``docs/model.md``, section "Analytical models"):

- V1 bytes one query vector scans on one shard of N_s = N / s vectors (s servers, every query goes to every
  shard). IVF-PQ tree of ``levels`` levels, fanout f: the top level's f centroids are all scanned; level
  k = 2 .. levels-1 holds min(f^k, N_s) centroids and the leaves hold the N_s vectors, of which the fraction
  phi is scanned: M_q = f beta + sum_k phi min(f^k, N_s) beta + phi N_s beta (beta bytes per vector/centroid).
  Brute force: M_q = N_s beta.
- V2 a batch of b requests with q query vectors each runs Q = b q scans per server, one thread per scan, on C
  cores: latency = max(ceil(Q / C) M_q / r_core, Q M_q / (u W)) with r_core the per-core scan rate, W the
  memory bandwidth and u its attainable utilisation.
- V3 a server holds its shard: N_s beta <= eta_mem host memory; the fewest servers s_min follow.
- V4 more servers never slow a batch down (M_q is non-increasing in s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.catalog import CpuServer
from models.cost import Breakdown
from models.errors import ModelError

__all__ = ["Database", "ScanCost"]


@dataclass(frozen=True)
class Database:
    name: str
    vectors: float
    bytes_per_vector: float
    kind: str = "ivf_pq"  # or "brute_force"
    scan_fraction: float = 0.001
    levels: int = 3
    fanout: int = 4096

    def bytes_per_query(self, servers: int) -> float:
        """V1: bytes one query vector scans on each of ``servers`` shards."""
        shard = self.vectors / servers
        if self.kind == "brute_force":
            return shard * self.bytes_per_vector
        upper = self.fanout + sum(self.scan_fraction * min(self.fanout**k, shard) for k in range(2, self.levels))
        return (upper + self.scan_fraction * shard) * self.bytes_per_vector

    @property
    def total_bytes(self) -> float:
        return self.vectors * self.bytes_per_vector


@dataclass(frozen=True)
class ScanCost:
    """Retrieval served by V1-V4 on ``host`` servers; ``queries_per_retrieval`` vectors per request."""

    db: Database
    host: CpuServer
    queries_per_retrieval: int = 1
    memory_usable: float = 0.95
    max_servers: int = 0

    @property
    def description(self) -> str:
        return f"scan model: database {self.db.name} ({self.db.kind}) on {self.host.name} servers"

    def latency_s(self, servers: int, batch: np.ndarray | float) -> np.ndarray:
        if servers < self.min_servers():
            raise ModelError(f"database {self.db.name} ({self.db.total_bytes / 1e12:.3g} TB) needs >= "
                             f"{self.min_servers()} servers, got {servers}. To fix: allow more chips in total "
                             f"(servers = total chips / chips per server)")
        return np.maximum(*self._terms(servers, batch))

    def _terms(self, servers: int, batch: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """V2's two times: per-core scan and memory bandwidth."""
        scans = np.asarray(batch, dtype=np.float64) * self.queries_per_retrieval
        mq = self.db.bytes_per_query(servers)
        h = self.host
        per_core = np.ceil(scans / h.cores) * mq / h.scan_bytes_per_s_per_core
        memory = scans * mq / (h.memory_bytes_per_s * h.memory_bandwidth_utilisation)
        return per_core, memory

    def bound(self, servers: int, batch: int) -> str:
        """Which resource bounds a batch: per-core scan rate or memory bandwidth."""
        core, mem = self._terms(servers, batch)
        return "per-core scan" if core >= mem else "memory bandwidth"

    def breakdown(self, servers: int, batch: int) -> Breakdown:
        core, mem = self._terms(servers, batch)
        return Breakdown(self.bound(servers, batch), float(max(core, mem)), "",
                         {"per-core scan": float(core), "memory bandwidth": float(mem)})

    def replica_curves(self) -> None:
        return None  # V1-V4 serve any server count and any batch

    def any_batch(self) -> "ScanCost":
        return self

    def min_servers(self) -> int:
        """V3: fewest servers whose memory holds the database."""
        return max(1, math.ceil(self.db.total_bytes / (self.memory_usable * self.host.memory_bytes)))

    def batch_cap(self, servers: int) -> None:
        return None  # the scan model serves any batch

    def server_counts(self) -> tuple[int, ...]:
        top = max(self.max_servers, self.min_servers())
        return tuple(range(self.min_servers(), top + 1))

    def scaled_to(self, max_servers: int) -> "ScanCost":
        return ScanCost(self.db, self.host, self.queries_per_retrieval, self.memory_usable, max_servers)
