"""Bind an instance's cost source to per-stage cost models from ``models``.

Each stage gets one object with ``latency_s(units, batch)`` (units = chips, or servers for retrieval). The
solvers and the evaluator only see that interface, whatever the source (profiles today, rooflines next).
"""

from __future__ import annotations

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
from models.catalog import accelerator, cpu_server, transformer
from models.roofline import Efficiency, Precision
from models.scan import Database, ScanCost
from planner.errors import InstanceError
from planner.schema import CALIBRATED_EFFICIENCIES, AnalyticalCostSource, Instance, ProfileCostSource, clip

__all__ = ["calibration_of", "stage_costs"]


def _concat(tables: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}


def _profile_costs(inst: Instance, src: ProfileCostSource) -> dict[str, object]:
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
    return out


def _stage_work(st) -> StageWork:
    """R9: what one request asks of an accelerator stage."""
    k = st.kind
    if k in ("prefill", "rewrite_prefill"):
        return StageWork(k, st.prompt_tokens)
    if k in ("decode", "rewrite_decode"):
        return StageWork(k, st.prompt_tokens, decode_tokens=st.decode_tokens)
    if k == "rerank":
        return StageWork(k, st.passage_tokens, seqs_per_request=st.top_k)
    if k == "encode":
        return StageWork(k, st.chunk_tokens, seqs_per_request=st.chunks_per_request)
    raise ValueError(f"no roofline work for stage kind {k}")  # pragma: no cover - retrieval is handled apart


def calibration_of(src: AnalyticalCostSource) -> Calibration | None:
    """The calibration an analytical source plans with (C4): ``default`` is the one shipped for the accelerator's
    family (None where none ships: datasheet peaks), ``none`` is None, else the named file."""
    if src.calibration == "none":
        return None
    if src.calibration == "default":
        return shipped_calibration(accelerator(src.accelerator).vendor)
    return load_calibration(src.calibration)


def _analytical_costs(inst: Instance, src: AnalyticalCostSource) -> dict[str, object]:
    hw = accelerator(src.accelerator)
    eff = src.efficiency
    prec = Precision(src.weight_bytes_per_param, src.activation_bytes, src.kv_cache_bytes_per_value,
                     src.compute_precision)
    roof_eff = Efficiency(**eff.model_dump(exclude={"host_memory_usable"}))
    cal = calibration_of(src)
    basis = ("the RAGO paper's idealised XPU: datasheet peaks, not calibrated" if hw.vendor == "rago-xpu" else
             "datasheet peaks (idealised, not calibrated)")
    if cal is not None:
        typed = sorted(eff.model_fields_set & CALIBRATED_EFFICIENCIES)
        if typed:
            raise InstanceError(f"{inst.name}: efficiency {typed} typed in, and calibration {clip(src.calibration)} "
                                f"({cal.name}) sets them too. To fix: set cost.calibration: none (or --calibration "
                                f"none) to plan with your values, or drop them to use the calibration")
        roof_eff, basis = cal.efficiency(roof_eff), cal.summary
    out: dict[str, object] = {}
    for st in inst.pipeline.stages:
        if st.kind == "retrieval":
            db = src.databases[st.database]
            out[st.kind] = ScanCost(Database(st.database, **db.model_dump()), cpu_server(src.cpu_server),
                                    st.queries_per_retrieval, eff.host_memory_usable)
        else:
            out[st.kind] = RooflineCost(transformer(st.model), hw, _stage_work(st), prec, roof_eff, basis=basis)
    return out


def stage_costs(inst: Instance) -> dict[str, object]:
    """Cost model per stage name, unscaled (``planner.space`` scales them to the search space)."""
    if isinstance(inst.cost, AnalyticalCostSource):
        return _analytical_costs(inst, inst.cost)
    return _profile_costs(inst, inst.cost)
