"""Bind an instance's cost source to per-stage cost models from ``models``, and its resources to prices.

Each stage gets one cost per offered type (accelerator stages: per accelerator type, None where
``cost.stage_accelerators`` excludes it; retrieval: per CPU server type), each a ``models.cost.StageCost`` or
``RetrievalModel``; the solvers and the evaluator only see that interface. ``resources`` prices every offered
type: the catalog's cited estimates, overridden by the instance's price file (M1, docs/model.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models import (
    EncodeCost,
    ProfileError,
    RerankCost,
    RetrievalCost,
    TableCost,
    inference_table,
    read_inference_csv,
    read_retrieval_csv,
    retrieval_table,
)
from models.analytical import RooflineCost, StageWork
from models.calibration import Calibration, load_calibration, shipped_calibration
from models.catalog import Priced, accelerator, cpu_server, transformer
from models.roofline import Efficiency, Precision
from models.scan import Database, ScanCost
from models.errors import ModelError
from planner.errors import InstanceError
from planner.loader import load_prices
from planner.prices import PriceEntry
from planner.schema import CALIBRATED_EFFICIENCIES, AnalyticalCostSource, Instance, ProfileCostSource, clip

__all__ = ["Resource", "accelerator_types", "calibration_of", "offer_types", "resources", "server_types",
           "stage_costs"]


def _concat(tables: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}


def _profile_costs(inst: Instance, src: ProfileCostSource) -> dict[str, tuple]:
    folder = Path(src.profiles_dir)
    files = src.files
    cache: dict[str, dict[str, np.ndarray]] = {}

    def inference(name: str) -> dict[str, np.ndarray]:
        if name not in cache:
            cache[name] = read_inference_csv(folder / name)
        return cache[name]

    # kind -> (profile file, profile stage, sequence-length field, decode-steps field or None)
    plain = {"prefill": (files.main_llm, "prefill", "prompt_tokens", None),
             "decode": (files.main_llm, "decode", "prompt_tokens", "decode_tokens"),
             "rewrite_prefill": (files.rewriter, "prefill", "prompt_tokens", None),
             "rewrite_decode": (files.rewriter, "decode", "prompt_tokens", "decode_tokens")}
    out: dict[str, object] = {}
    for st in inst.pipeline.stages:
        k = st.kind
        if getattr(st, "cached_tokens", 0) or getattr(st, "resident_kv_bytes", 0):
            raise InstanceError(f"{inst.name}: prefill caches {st.cached_tokens} prompt tokens (R11), which profile "
                                f"tables do not model (a profile row times a whole prompt). To fix: use cost.kind: "
                                f"analytical, or drop cached_tokens")
        if k in plain:
            name, stage, seq, steps = plain[k]
            out[k] = TableCost(inference_table(inference(name), model=st.model, stage=stage, hardware=src.hardware,
                                               seq_len=getattr(st, seq),
                                               dec_steps=getattr(st, steps) if steps else None, source=name))
        elif k == "rerank":
            t = inference_table(inference(files.reranker), model=st.model, stage="prefill", hardware=src.hardware,
                                seq_len=st.passage_tokens, source=files.reranker)
            out[k] = RerankCost(t, st.top_k)
        elif k == "encode":
            t = inference_table(inference(files.encoder), model=st.model, stage="prefill", hardware=src.hardware,
                                seq_len=st.chunk_tokens, source=files.encoder)
            if 1 not in t.curves:
                raise ProfileError(f"{t.description} has no 1-chip rows (has {list(t.unit_counts)} chips); the "
                                   f"encoder model replicates one chip's profile. To fix: add 1-chip rows.")
            out[k] = EncodeCost(t.curves[1], st.chunks_per_request)
        elif k == "retrieval":
            cols = _concat([read_retrieval_csv(folder / f) for f in files.retrieval])
            t = retrieval_table(cols, database=st.database, chips_per_server=inst.search.chips_per_server,
                                source=", ".join(files.retrieval))
            out[k] = RetrievalCost(t, st.queries_per_retrieval)
        else:  # pragma: no cover - the schema admits no other kind
            raise ValueError(f"unknown stage kind {k}")
    return {k: (c,) for k, c in out.items()}


def _stage_work(st) -> StageWork:
    """R9: what one request asks of an accelerator stage."""
    k = st.kind
    if k == "prefill":
        return StageWork(k, st.prompt_tokens, cached_tokens=st.cached_tokens, load_bytes_per_s=st.kv_load_bytes_per_s,
                         resident_bytes=st.resident_kv_bytes)
    if k == "rewrite_prefill":
        return StageWork(k, st.prompt_tokens)
    if k in ("decode", "rewrite_decode"):
        return StageWork(k, st.prompt_tokens, decode_tokens=st.decode_tokens)
    if k == "rerank":
        return StageWork(k, st.passage_tokens, seqs_per_request=st.top_k)
    if k == "encode":
        return StageWork(k, st.chunk_tokens, seqs_per_request=st.chunks_per_request)
    raise ValueError(f"no roofline work for stage kind {k}")  # pragma: no cover - retrieval is handled apart


def calibration_of(src: AnalyticalCostSource, name: str | None = None) -> Calibration | None:
    """The calibration an analytical source plans with on accelerator ``name`` (default: the first offered) (C4):
    ``default`` is the one shipped for that accelerator's family (None where none ships: datasheet peaks),
    ``none`` is None, else the named file (for every offered type)."""
    if src.calibration == "none":
        return None
    if src.calibration == "default":
        return shipped_calibration(accelerator(name or src.accelerators[0]).vendor)
    return load_calibration(src.calibration)


def _roofline_setup(inst: Instance, src: AnalyticalCostSource, name: str) -> tuple[Efficiency, str]:
    """The efficiencies and their basis on accelerator ``name`` (C4)."""
    eff = src.efficiency
    roof_eff = Efficiency(**eff.model_dump(exclude={"host_memory_usable"}))
    cal = calibration_of(src, name)
    if cal is None:
        return roof_eff, ("the RAGO paper's idealised XPU: datasheet peaks, not calibrated"
                          if accelerator(name).vendor == "rago-xpu" else "datasheet peaks (idealised, not calibrated)")
    typed = sorted(eff.model_fields_set & CALIBRATED_EFFICIENCIES)
    if typed:
        raise InstanceError(f"{inst.name}: efficiency {typed} typed in, and calibration {clip(src.calibration)} "
                            f"({cal.name}) sets them too. To fix: set cost.calibration: none (or --calibration "
                            f"none) to plan with your values, or drop them to use the calibration")
    return cal.efficiency(roof_eff), cal.summary


def _analytical_costs(inst: Instance, src: AnalyticalCostSource) -> dict[str, tuple]:
    prec = Precision(src.weight_bytes_per_param, src.activation_bytes, src.kv_cache_bytes_per_value,
                     src.compute_precision)
    setups = {name: _roofline_setup(inst, src, name) for name in src.accelerators}
    out: dict[str, tuple] = {}
    for st in inst.pipeline.stages:
        if st.kind == "retrieval":
            db = Database(st.database, **src.databases[st.database].model_dump())
            out[st.kind] = tuple(ScanCost(db, cpu_server(name), st.queries_per_retrieval,
                                          src.efficiency.host_memory_usable) for name in src.cpu_servers)
        else:
            allowed = src.stage_accelerators.get(st.kind, src.accelerators)
            out[st.kind] = tuple(RooflineCost(transformer(st.model), accelerator(name), _stage_work(st), prec,
                                              setups[name][0], basis=setups[name][1]) if name in allowed else None
                                 for name in src.accelerators)
    return out


def stage_costs(inst: Instance) -> dict[str, tuple]:
    """Per stage name, its cost on each offered type (``accelerator_types``; retrieval: ``server_types``), None
    where the stage may not run on a type; unscaled (``planner.space`` scales them to the search space)."""
    if isinstance(inst.cost, AnalyticalCostSource):
        return _analytical_costs(inst, inst.cost)
    return _profile_costs(inst, inst.cost)


def accelerator_types(inst: Instance) -> tuple[str, ...]:
    """The offered accelerator types (profiles: the profiled hardware)."""
    src = inst.cost
    return src.accelerators if isinstance(src, AnalyticalCostSource) else (src.hardware,)


def offer_types(inst: Instance, names: list[str] | tuple[str, ...]) -> Instance:
    """The instance offering accelerator types ``names`` (analytical sources; catalog names); per-stage
    restrictions and per-type budgets keep only the types still offered (a stage left with none may then run on
    any of them)."""
    if not isinstance(inst.cost, AnalyticalCostSource):
        raise InstanceError(f"{inst.name}: choosing accelerator types needs an analytical cost source, and it uses "
                            f"{inst.cost.kind}. To fix: use an instance with cost.kind: analytical")
    names = list(names)
    for n in names:
        accelerator(n)  # an unknown name fails here, naming the catalog
    keep = {s: [t for t in ts if t in names] for s, ts in inst.cost.stage_accelerators.items()}
    cost = inst.cost.model_copy(update={"accelerator": names[0] if len(names) == 1 else names,
                                        "stage_accelerators": {s: ts for s, ts in keep.items() if ts}})
    budgets = {t: n for t, n in inst.search.max_chips_per_type.items() if t in names}
    return inst.model_copy(update={"cost": cost, "search": inst.search.model_copy(
        update={"max_chips_per_type": budgets})})


def server_types(inst: Instance) -> tuple[str, ...]:
    """The offered retrieval server types."""
    src = inst.cost
    return src.cpu_servers if isinstance(src, AnalyticalCostSource) else (src.cpu_server,)


@dataclass(frozen=True)
class Resource:
    """One resource type's prices (M1): None where neither the catalog nor the price file knows it."""

    name: str
    price_usd_per_hour: float | None
    purchase_usd: float | None
    power_w: float | None
    source: str


def _resource(name: str, entry: Priced | None, user: PriceEntry | None) -> Resource:
    fields = ("price_usd_per_hour", "purchase_usd", "power_w")
    base = {f: getattr(entry, f) if entry is not None else None for f in fields}
    src = entry.price_source if entry is not None else "not priced"
    if user is not None:
        given = {f: getattr(user, f) for f in fields if getattr(user, f) is not None}
        base |= given
        src = f"{user.source} ({', '.join(given)})" + (f"; else {src}" if entry is not None else "")
    return Resource(name, **base, source=src)


def resources(inst: Instance) -> tuple[tuple[Resource, ...], tuple[Resource, ...]]:
    """The prices of the offered accelerator types and retrieval server types (M1): each catalog entry's cited
    estimate, overridden field by field by the price file of ``cost.prices``."""
    user = load_prices(inst.cost.prices) if inst.cost.prices else None

    def find(lookup, name: str):
        try:
            return lookup(name)
        except ModelError:
            return None  # not in the catalog (e.g. profiled hardware): priced by the price file only
    acc = tuple(_resource(n, find(accelerator, n), user.accelerators.get(n) if user else None)
                for n in accelerator_types(inst))
    srv = tuple(_resource(n, find(cpu_server, n), user.cpu_servers.get(n) if user else None)
                for n in server_types(inst))
    return acc, srv
