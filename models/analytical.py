"""Stage costs from the roofline (``models.roofline``): the same interface as the profile tables.

A stage's request batch b becomes sequences (R9): prefill, rewrite prefill and decode stages run b sequences;
rerank runs b x top_k passages; encode runs b x N_vec chunks. Decode latency is ``decode_tokens`` steps of one
token each (P1's convention), at the average context prompt + decode_tokens / 2, with the KV cache sized for the
peak context prompt + decode_tokens. Any chip count and any batch are served directly (no replica rules).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models.catalog import Accelerator, TransformerModel
from models.cost import Breakdown
from models.errors import ModelError
from models.roofline import (ROWS_AT_ONCE, Efficiency, Pass, Precision, fits_latency_many, memory_capacity,
                             pass_latency, shardings)

__all__ = ["RooflineCost", "StageWork"]


@dataclass(frozen=True)
class StageWork:
    """What one request asks of a stage: ``seqs_per_request`` sequences of ``tokens`` tokens; decode stages
    add ``decode_tokens`` generated tokens."""

    label: str
    tokens: int
    seqs_per_request: int = 1
    decode_tokens: int | None = None
    cached_tokens: int = 0  # R11: prompt tokens whose KV is loaded, not computed (prefill)
    load_bytes_per_s: float | None = None  # R11: per chip (None with cached tokens: the KV is resident, R12)
    resident_bytes: float = 0.0  # R12: a KV cache every replica keeps in HBM

    def step(self, model: TransformerModel) -> Pass:
        if self.decode_tokens is None:
            new = self.tokens - self.cached_tokens  # R11: the cached prefix is attended to, not computed
            ctx = self.cached_tokens + (new + 1) / 2 if model.decoder else float(self.tokens)
            return Pass(new, ctx, self.tokens, model.decoder, self.resident_bytes)
        return Pass(1, self.tokens + self.decode_tokens / 2, self.tokens + self.decode_tokens, True)


@dataclass(frozen=True)
class RooflineCost:
    """A stage served by the roofline: ``latency_s(chips, batch)`` like ``models.profiles.TableCost``."""

    model: TransformerModel
    hw: Accelerator
    work: StageWork
    precision: Precision = Precision()
    efficiency: Efficiency = Efficiency()
    max_units: int = 0
    basis: str = "datasheet peaks (idealised, not calibrated)"
    _cache: dict = field(default_factory=dict, compare=False, repr=False)
    _memo: dict = field(default_factory=dict, init=False, compare=False, repr=False)  # pass_latency's, by sharding
    every_pow2 = False

    @property
    def description(self) -> str:
        return f"roofline: {self.model.name} {self.work.label} on {self.hw.name}, {self.basis}"

    @property
    def is_decode(self) -> bool:
        return self.work.decode_tokens is not None

    def _seqs(self, batch: np.ndarray | float) -> np.ndarray:
        return np.asarray(batch, dtype=np.float64) * self.work.seqs_per_request

    def latency_s(self, units: int, batch: np.ndarray | float) -> np.ndarray:
        """Latency (s) of one batch of ``batch`` requests on ``units`` chips (decode: all its steps)."""
        b = np.atleast_1d(np.asarray(batch, dtype=np.float64))
        lat, _ = pass_latency(self.model, self.hw, self.precision, self.efficiency, int(units), self._seqs(b),
                              self.work.step(self.model), waves=not self.is_decode, parts_too=False,
                              memo=self._memo)
        if self.is_decode:
            lat = lat * self.work.decode_tokens
        if self.work.cached_tokens and self.work.load_bytes_per_s:  # R11: cached KV over every chip's link first
            lat = lat + self._seqs(b) * self.work.cached_tokens * self.kv_bytes_per_token() / (
                self.work.load_bytes_per_s * int(units))
        if not np.all(np.isfinite(lat)):
            bad = int(b[~np.isfinite(lat)][0])
            raise ModelError(f"{self.description}: batch {bad} does not fit on {units} chips (largest "
                             f"{self.max_batch(units)}; {self.memory_reason(units)}). To fix: use a smaller batch or "
                             f"more chips")
        return lat if np.ndim(batch) else lat[0]

    def latency_rows_s(self, units, batch: np.ndarray) -> np.ndarray | None:
        """``latency_s`` on several chip counts at once, (len(units), len(batch)): the same floats, inf where a batch
        does not fit (no error: the caller asks ``latency_s`` for such a row); None past ``ROWS_AT_ONCE`` batches."""
        b = np.asarray(batch, dtype=np.float64).reshape(-1)
        if b.size > ROWS_AT_ONCE:
            return None
        u = np.asarray(units, dtype=np.int64).reshape(-1)
        lat = fits_latency_many(self.model, self.hw, self.precision, self.efficiency, u, self._seqs(b),
                                self.work.step(self.model), not self.is_decode)
        if self.is_decode:
            lat = lat * self.work.decode_tokens
        if self.work.cached_tokens and self.work.load_bytes_per_s:  # R11, as in ``latency_s``
            lat = lat + self._seqs(b) * self.work.cached_tokens * self.kv_bytes_per_token() / (
                self.work.load_bytes_per_s * u[:, None])
        return lat

    def kv_bytes_per_token(self) -> float:
        """K and V of one token over every layer (R6's KV term unsharded)."""
        m = self.model
        return 2 * m.layers * m.kv_heads * m.head_dim * self.precision.kv_bytes

    def capacity(self, units: int) -> int:
        """Sequences ``units`` chips hold at once, over the best sharding (0: the model does not fit)."""
        if units not in self._cache:
            ps = self.work.step(self.model)
            self._cache[units] = max([memory_capacity(self.model, self.hw, self.precision, self.efficiency, sh, ps)
                                      * sh.replicas(units) for sh in shardings(self.model, units)] + [0])
        return self._cache[units]

    def max_batch(self, units: int) -> int:
        """Largest request batch resident at once on ``units`` chips (the decode batch limit)."""
        cap = self.capacity(units) // self.work.seqs_per_request
        if cap < 1:
            raise ModelError(f"{self.description} does not fit on {units} chips: {self.memory_reason(units)}. To "
                             f"fix: give this stage at least {self.min_units()} chips")
        return cap

    def memory_reason(self, units: int) -> str:
        m, hw = self.model, self.hw
        weights = m.params * self.precision.weight_bytes
        usable = self.efficiency.hbm_usable * hw.hbm_bytes * units
        return (f"{m.name} weights {weights / 1e9:.4g} GB ({m.params / 1e9:.4g}e9 params x "
                f"{self.precision.weight_bytes:g} B)"
                + (f" and a resident KV cache of {self.work.resident_bytes / 1e9:.4g} GB (R12)"
                   if self.work.resident_bytes else "")
                + " plus the KV cache and activations of one request vs "
                f"{units} x {hw.hbm_bytes / 1e9:.4g} GB HBM x {self.efficiency.hbm_usable:g} usable = "
                f"{usable / 1e9:.4g} GB")

    def min_units(self, limit: int | None = None) -> int:
        """Fewest chips that hold the model and one request (ModelError with the reason if none <= limit)."""
        limit = limit or max(self.max_units, 1)
        for n in range(1, limit + 1):
            if self.capacity(n) >= self.work.seqs_per_request:
                return n
        raise ModelError(f"{self.description} does not fit on up to {limit} chips: {self.memory_reason(limit)}. "
                         f"To fix: raise search.max_chips_per_stage or choose an accelerator with more HBM")

    def batch_cap(self, units: int) -> None:
        return None  # any batch (in waves where it does not fit at once, R5)

    def unit_counts(self) -> tuple[int, ...]:
        """Power-of-two chip counts up to ``max_units`` that hold the model (the ``chips: pow2`` options)."""
        low = self.min_units()
        return tuple(1 << i for i in range(self.max_units.bit_length()) if (1 << i) >= low)

    def scaled_to(self, max_units: int) -> "RooflineCost":
        return RooflineCost(self.model, self.hw, self.work, self.precision, self.efficiency, max_units, self.basis)

    def replica_curves(self) -> None:
        return None  # the roofline serves any chip count and any batch

    def any_batch(self) -> "RooflineCost":
        return self

    def breakdown(self, units: int, batch: int) -> Breakdown:
        """The best sharding of one (chips, batch) option and which resource bounds it."""
        b = np.array([float(batch)])
        _, parts = pass_latency(self.model, self.hw, self.precision, self.efficiency, int(units), self._seqs(b),
                                self.work.step(self.model), waves=not self.is_decode)
        steps = self.work.decode_tokens or 1
        fits = [sp for sp in parts if np.isfinite(sp[1].total[0])]
        best = min(fits, key=lambda sp: float(sp[1].total[0]), default=None)
        if best is None:
            return Breakdown("memory capacity", float("inf"), "", {})
        sh, p = best
        shares = {"compute": float(p.compute_s[0]), "memory bandwidth": float(p.memory_s[0]),
                  "interconnect": float(p.comm_s[0]), "layer overhead": float(np.asarray(p.overhead_s).flat[0])}
        return Breakdown(max(shares, key=shares.get), float(p.total[0]) * steps,
                         f"tp{sh.tp} pp{sh.pp} dp{sh.replicas(units)}", {k: v * steps for k, v in shares.items()})
