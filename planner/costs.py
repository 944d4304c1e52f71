"""Bind an instance's cost source to per-stage cost models from ``models``.

Each stage gets one object with ``latency_s(units, batch)`` (units = chips, or servers for retrieval). The
solvers and the evaluator only see that interface, whatever the source (profiles today, rooflines next).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models import (EncodeCost, ProfileError, RerankCost, RetrievalCost, TableCost, inference_table,
                    read_inference_csv, read_retrieval_csv, retrieval_table)
from planner.schema import Instance, ProfileCostSource

__all__ = ["stage_costs"]


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


def stage_costs(inst: Instance) -> dict[str, object]:
    """Cost model per stage name, unscaled (``planner.space`` scales them to the search space)."""
    return _profile_costs(inst, inst.cost)
