"""Profile tables: stage latencies measured (or simulated) offline, served by lookup.

Reads the CSV formats of the RAGO artifact (google/rago, Apache-2.0) and prepares them the way its sweeps do,
rule by rule (ids as in ``docs/model.md``, section "Profile tables"):

- P1 ``latency_s = time_ms / 1000`` (decode: ``dec_steps * time_ms / 1000``); ``qps = batch / latency_s``;
  ``qps_per_chip = qps / chips`` (retrieval: chips = chips_per_server * servers). Only power-of-two batch sizes
  and chip/server counts are kept.
- P2 Per (stage, unit count) only Pareto rows on (latency_s lower, qps_per_chip higher) are kept.
- P3 Replica scaling: a unit count 2n missing from the data gets the rows of n with the batch doubled (same
  latency), repeated until the largest count needed is reached.
- P4 Lookup L(n, b): the row's latency if b is a row; the smallest row's latency if b is below it; otherwise
  L(B) * b / B with B the largest row (a batch larger than any row runs as sequential full batches).
- P5 Retrieval with s servers uses the table of the largest (scaled) server count <= s; a retrieval of q
  query vectors per request looks up batch b * q.
- P6 Rerank: the profile batches count passages; each query reranks top_k passages, so the query table is
  the passage rows with batch >= top_k, re-indexed to batch / top_k. If no row reaches top_k, the largest
  row serves one query in top_k / B of its latency units.
- P7 Encode (N_vec chunks per request, E chips each holding a model copy): with the one-chip rows scaled to
  batch * E, b* = the largest scaled batch strictly below c * N_vec (else the smallest), and
  L_enc(E, c) = L_1(b* / E) * c * N_vec / b*.

Every function here is pure; nothing is printed or written.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.cost import Breakdown
from models.errors import ModelError, ProfileError

__all__ = [
    "BatchCurve",
    "EncodeCost",
    "ProfileTable",
    "RerankCost",
    "RetrievalCost",
    "TableCost",
    "inference_table",
    "is_power_of_two",
    "read_inference_csv",
    "read_retrieval_csv",
    "retrieval_table",
]

INFERENCE_COLUMNS = (
    "model.name",
    "model.stage",
    "model.dec_steps",
    "model.seq_len_inference_prefill",
    "hardware.name",
    "hardware.num_chips",
    "batch_size",
    "time_ms",
)
RETRIEVAL_COLUMNS = ("db.name", "hardware.name", "hardware.num_servers", "batch_size", "time_ms")
_INT_COLUMNS = {"model.dec_steps", "model.seq_len_inference_prefill", "hardware.num_chips",
                "hardware.num_servers", "batch_size"}


def is_power_of_two(x: np.ndarray | int) -> np.ndarray | bool:
    """True where x is a positive integer power of two (1, 2, 4, ...)."""
    a = np.asarray(x, dtype=np.int64)
    out = (a > 0) & ((a & (a - 1)) == 0)
    return bool(out) if out.ndim == 0 else out


def _read_csv(path: Path, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise ProfileError(f"Profile file {path} does not exist. To fix: point the instance's cost.profiles_dir "
                           f"at the folder holding it, or copy the RAGO profiles there.")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in columns if c not in header]
        if missing:
            raise ProfileError(f"Profile file {path} lacks columns {missing} (has {header}). To fix: use the RAGO "
                               f"profile format with columns {list(columns)}.")
        rows = list(reader)
    out: dict[str, np.ndarray] = {}
    for col in columns:
        raw = [r[col] for r in rows]
        try:
            if col in _INT_COLUMNS:
                out[col] = np.array([int(float(v)) for v in raw], dtype=np.int64)
            elif col == "time_ms":
                out[col] = np.array([float(v) for v in raw], dtype=np.float64)
            else:
                out[col] = np.array(raw, dtype=object)
        except ValueError as exc:
            raise ProfileError(f"Profile file {path}: column {col} has a non-numeric value ({exc}). To fix: "
                               f"correct that row.") from exc
    if len(rows) and np.any(out["time_ms"] <= 0):
        raise ProfileError(f"Profile file {path} has rows with time_ms <= 0. To fix: remove or correct them.")
    return out


def read_inference_csv(path: str | Path) -> dict[str, np.ndarray]:
    """Read an inference profile (``main_llm_perf.csv`` format) into column arrays."""
    return _read_csv(Path(path), INFERENCE_COLUMNS)


def read_retrieval_csv(path: str | Path) -> dict[str, np.ndarray]:
    """Read a retrieval profile (``retrieval_perf.csv`` format) into column arrays."""
    return _read_csv(Path(path), RETRIEVAL_COLUMNS)


@dataclass(frozen=True)
class BatchCurve:
    """Latency of one batch at one unit count, as the Pareto rows of a profile (sorted by batch)."""

    batch: np.ndarray
    latency_s: np.ndarray

    def lookup(self, b: np.ndarray | float) -> np.ndarray:
        """P4: latency of a batch of ``b`` (scalar or array) at this unit count."""
        b = np.asarray(b, dtype=np.float64)
        idx = np.clip(np.searchsorted(self.batch, b), 0, len(self.batch) - 1)
        exact = self.batch[idx] == b
        below = b < self.batch[0]
        big_b, big_l = self.batch[-1], self.latency_s[-1]
        out = np.where(exact, self.latency_s[idx], big_l * b / big_b)
        return np.where(below & ~exact, self.latency_s[0], out)

    def interp(self, b: np.ndarray | float) -> np.ndarray:
        """A1: latency at batch ``b``: P4 on rows and outside the rows' range; strictly between rows, the linear
        interpolation I, or min(P4, I) at a power of two (P4's own value there, so never above ``pow2``)."""
        b = np.asarray(b, dtype=np.float64)
        p4 = self.lookup(b)
        inside = np.interp(b, self.batch, self.latency_s)
        between = (b > self.batch[0]) & (b < self.batch[-1])
        log2 = np.log2(np.maximum(b, 1.0))
        pow2 = np.floor(log2) == log2
        return np.where(between, np.where(pow2, np.minimum(p4, inside), inside), p4)

    def doubled(self) -> "BatchCurve":
        """P3: the rows of twice as many units as data-parallel replicas (batch x2, same latency)."""
        return BatchCurve(self.batch * 2, self.latency_s.copy())

    @property
    def max_batch(self) -> float:
        return float(self.batch[-1])


def _pareto_rows(batch: np.ndarray, latency: np.ndarray, units_as_chips: float) -> BatchCurve:
    """P2: keep rows not dominated on (latency lower, qps_per_chip higher); sorted by batch."""
    qpc = batch / latency / units_as_chips
    keep = np.ones(len(batch), dtype=bool)
    for i in range(len(batch)):
        dominated = (latency <= latency[i]) & (qpc >= qpc[i]) & ((latency < latency[i]) | (qpc > qpc[i]))
        keep[i] = not dominated.any()
    order = np.argsort(batch[keep], kind="stable")
    return BatchCurve(batch[keep][order].astype(np.float64), latency[keep][order].astype(np.float64))


@dataclass(frozen=True)
class ProfileTable:
    """Pareto curves per unit count (chips for inference, servers for retrieval) of one stage."""

    description: str
    unit: str  # "chips" or "servers"
    curves: dict[int, BatchCurve]

    @property
    def unit_counts(self) -> tuple[int, ...]:
        return tuple(sorted(self.curves))

    def scaled_to(self, max_units: int) -> "ProfileTable":
        """P3: add replica-scaled unit counts (doubling) until the largest count reaches ``max_units``."""
        curves = dict(self.curves)
        while max(curves) < max_units:
            for n in sorted(curves):
                if 2 * n not in curves:
                    curves[2 * n] = curves[n].doubled()
        return ProfileTable(self.description, self.unit, curves)

    def curve(self, units: int) -> BatchCurve:
        """The curve at exactly ``units``; a count absent from the (scaled) data is a ModelError."""
        if units not in self.curves:
            raise ModelError(f"{self.description} has no data for {units} {self.unit} (has {list(self.unit_counts)}). "
                             f"To fix: choose {self.unit} from that list, or profile {units} {self.unit}.")
        return self.curves[units]

    def floor_curve(self, units: int) -> BatchCurve:
        """P5: the curve of the largest unit count <= ``units``."""
        counts = [n for n in self.unit_counts if n <= units]
        if not counts:
            raise ModelError(f"{self.description} needs at least {self.unit_counts[0]} {self.unit}, got {units}. "
                             f"To fix: allow more chips in total (retrieval servers = total chips / chips per server).")
        return self.curves[counts[-1]]


def inference_table(cols: dict[str, np.ndarray], *, model: str, stage: str, hardware: str, seq_len: int,
                    dec_steps: int | None = None, source: str = "profile") -> ProfileTable:
    """P1+P2: the prepared table of one inference stage (``stage`` is ``prefill`` or ``decode``)."""
    sel = ((cols["model.name"] == model) & (cols["model.stage"] == stage) & (cols["hardware.name"] == hardware)
           & (cols["model.seq_len_inference_prefill"] == seq_len))
    if dec_steps is not None:
        sel &= cols["model.dec_steps"] == dec_steps
    sel &= is_power_of_two(cols["batch_size"]) & is_power_of_two(cols["hardware.num_chips"])
    what = f"{source}: {model} {stage} on {hardware}, {seq_len} tokens" + (
        f", {dec_steps} decode steps" if dec_steps is not None else "")
    if not sel.any():
        have = sorted({(str(m), str(s), str(h), int(q), int(d)) for m, s, h, q, d in zip(
            cols["model.name"], cols["model.stage"], cols["hardware.name"],
            cols["model.seq_len_inference_prefill"], cols["model.dec_steps"])})
        shown = ", ".join(map(str, have[:6])) + (f", ... ({len(have)} in all)" if len(have) > 6 else "")
        raise ProfileError(f"No profile rows for {what}. Available (model, stage, hardware, seq_len, dec_steps): "
                           f"{shown}. To fix: pick one of those in the instance, or add rows to the profile.")
    chips = cols["hardware.num_chips"][sel]
    batch = cols["batch_size"][sel]
    steps = cols["model.dec_steps"][sel] if stage == "decode" else np.ones(int(sel.sum()), dtype=np.int64)
    latency = steps * cols["time_ms"][sel] / 1000.0
    curves = {int(n): _pareto_rows(batch[chips == n], latency[chips == n], float(n)) for n in np.unique(chips)}
    return ProfileTable(what, "chips", curves)


def retrieval_table(cols: dict[str, np.ndarray], *, database: str, chips_per_server: int,
                    source: str = "profile") -> ProfileTable:
    """P1+P2: the prepared retrieval table of one database (unit: servers)."""
    sel = ((cols["db.name"] == database) & is_power_of_two(cols["batch_size"])
           & is_power_of_two(cols["hardware.num_servers"]))
    what = f"{source}: retrieval on database {database}"
    if not sel.any():
        raise ProfileError(f"No retrieval profile rows for database {database!r}. Available: "
                           f"{sorted(set(cols['db.name'].tolist()))}. To fix: use one of those names.")
    servers = cols["hardware.num_servers"][sel]
    batch = cols["batch_size"][sel]
    latency = cols["time_ms"][sel] / 1000.0
    curves = {int(s): _pareto_rows(batch[servers == s], latency[servers == s], float(s * chips_per_server))
              for s in np.unique(servers)}
    return ProfileTable(what, "servers", curves)


@dataclass(frozen=True)
class TableCost:
    """A stage served straight from its table: prefill, decode, rewrite prefill/decode."""

    table: ProfileTable
    every_pow2 = False

    @property
    def description(self) -> str:
        return self.table.description

    def latency_s(self, units: int, batch: np.ndarray | float) -> np.ndarray:
        return self.table.curve(units).lookup(batch)

    def replica_curves(self) -> dict[int, BatchCurve]:
        return dict(self.table.curves)

    def any_batch(self) -> "TableCost":
        return self

    def breakdown(self, units: int, batch: int) -> Breakdown:
        return Breakdown("profile", float(self.latency_s(units, batch)))

    def max_batch(self, units: int) -> int:
        return int(self.table.curve(units).max_batch)

    def batch_cap(self, units: int) -> int:
        return self.max_batch(units)

    def unit_counts(self) -> tuple[int, ...]:
        return self.table.unit_counts

    def min_units(self) -> int:
        return self.table.unit_counts[0]

    def scaled_to(self, max_units: int) -> "TableCost":
        return TableCost(self.table.scaled_to(max_units))


@dataclass(frozen=True)
class RetrievalCost:
    """P5: retrieval served by the table of the largest server count <= the servers given."""

    table: ProfileTable
    queries_per_retrieval: int = 1
    interpolate: bool = False  # A1 between profiled batches (``batches: any``)

    @property
    def description(self) -> str:
        return self.table.description

    def latency_s(self, servers: int, batch: np.ndarray | float) -> np.ndarray:
        curve = self.table.floor_curve(servers)
        scans = np.asarray(batch, dtype=np.float64) * self.queries_per_retrieval
        return curve.interp(scans) if self.interpolate else curve.lookup(scans)

    def replica_curves(self) -> None:
        return None  # P5 already serves any server count

    def any_batch(self) -> "RetrievalCost":
        return RetrievalCost(self.table, self.queries_per_retrieval, True)

    def breakdown(self, servers: int, batch: int) -> Breakdown:
        return Breakdown("profile", float(self.latency_s(servers, batch)))

    def min_servers(self) -> int:
        return self.table.unit_counts[0]

    def batch_cap(self, servers: int) -> int:
        return max(1, int(self.table.floor_curve(servers).max_batch) // self.queries_per_retrieval)

    def server_counts(self) -> tuple[int, ...]:
        """Server counts with a (scaled) table; P5 serves any other count from the largest one below it."""
        return self.table.unit_counts

    def scaled_to(self, max_servers: int) -> "RetrievalCost":
        return RetrievalCost(self.table.scaled_to(max_servers), self.queries_per_retrieval, self.interpolate)


@dataclass(frozen=True)
class RerankCost:
    """P6: a passage-batch table served as a query-batch table (each query reranks ``top_k`` passages)."""

    passages: ProfileTable
    top_k: int
    _cache: dict = field(default_factory=dict, compare=False, repr=False)
    every_pow2 = True  # the artifact's rule for profiled rerank

    @property
    def description(self) -> str:
        return self.passages.description + " (queries)"

    def replica_curves(self) -> dict[int, BatchCurve]:
        return {u: self.query_curve(u) for u in self.unit_counts()}

    def any_batch(self) -> "RerankCost":
        return self

    def breakdown(self, units: int, batch: int) -> Breakdown:
        return Breakdown("profile", float(self.latency_s(units, batch)))

    def query_curve(self, units: int) -> BatchCurve:
        if units not in self._cache:
            c = self.passages.curve(units)
            sel = c.batch >= self.top_k
            if sel.any():
                self._cache[units] = BatchCurve(c.batch[sel] / self.top_k, c.latency_s[sel])
            else:
                self._cache[units] = BatchCurve(np.array([1.0]), np.array([c.latency_s[-1] * self.top_k / c.batch[-1]]))
        return self._cache[units]

    def latency_s(self, units: int, batch: np.ndarray | float) -> np.ndarray:
        return self.query_curve(units).lookup(batch)

    def max_batch(self, units: int) -> int:
        return max(1, int(self.query_curve(units).max_batch))

    def batch_cap(self, units: int) -> int:
        return self.max_batch(units)

    def unit_counts(self) -> tuple[int, ...]:
        return self.passages.unit_counts

    def min_units(self) -> int:
        return self.passages.unit_counts[0]

    def scaled_to(self, max_units: int) -> "RerankCost":
        return RerankCost(self.passages.scaled_to(max_units), self.top_k)


@dataclass(frozen=True)
class EncodeCost:
    """P7: encoding N_vec chunks per request on E chips, each holding a copy of the encoder."""

    one_chip: BatchCurve
    n_vec: int
    every_pow2 = True  # the artifact's rule for the profiled encoder

    @property
    def description(self) -> str:
        return f"encoder: one-chip profile replicated (P7), {self.n_vec} chunks per request"

    def replica_curves(self) -> None:
        return None  # P7 already serves any chip count and any batch

    def any_batch(self) -> "EncodeCost":
        return self

    def breakdown(self, chips: int, batch: int) -> Breakdown:
        return Breakdown("profile", float(self.latency_s(chips, batch)))

    def latency_s(self, chips: int, batch: np.ndarray | float) -> np.ndarray:
        c = np.atleast_1d(np.asarray(batch, dtype=np.float64))
        scaled = self.one_chip.batch * chips  # one-chip rows as E replicas
        total = c * self.n_vec  # chunks to encode for c requests
        below = scaled[None, :] < total[:, None]
        # b* = largest scaled batch strictly below the work, else the smallest scaled batch.
        pick = np.where(below.any(axis=1), below.sum(axis=1) - 1, 0)
        b_star = scaled[pick]
        lat = self.one_chip.latency_s[pick] * total / b_star
        return lat if np.ndim(batch) else lat[0]

    def max_batch(self, chips: int) -> int:
        """Request-batch limit used with micro-batching (one chip's share of a request vs its largest batch)."""
        b1 = self.one_chip.max_batch
        share = self.n_vec / chips
        if share > b1:
            return 1
        x = int(np.ceil(b1 / share))
        return 1 << (x - 1).bit_length()

    def batch_cap(self, chips: int) -> int:
        return self.max_batch(chips)

    def unit_counts(self) -> tuple[int, ...]:
        return ()

    def min_units(self) -> int:
        return 1

    def scaled_to(self, max_units: int) -> "EncodeCost":
        return self
