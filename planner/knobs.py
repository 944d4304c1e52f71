"""The design's knob combinations as instance variants (``docs/model.md``, "Self-design", K1-K4).

A variant is the instance with one value per varied knob applied (K2), its quality metrics looked up in the
design's tables (K3), kept when it meets every floor (K4). The solvers then treat the variants' slices as one
space: a frontier point is the best plan over every kept variant (``planner.design``).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from dataclasses import dataclass

import numpy as np
from pydantic import ValidationError

from models.catalog import transformer
from planner.errors import InstanceError
from planner.schema import AnalyticalCostSource, Instance
from planner.schema_design import Design, Overlap

__all__ = ["Variant", "apply_knobs", "label", "parse_floor", "quality_of", "variants", "zipf_hit_rate"]


@dataclass(frozen=True)
class Variant:
    """One knob combination: its values (the varied knobs, ``KNOBS`` order), the instance it makes, its quality."""

    knobs: dict
    instance: Instance
    quality: dict[str, float]

    @property
    def label(self) -> str:
        return label(self.knobs)


def kv_bytes_per_token(model, cost) -> float:
    """K and V of one token over every layer at the cost source's KV precision (R6's KV term unsharded)."""
    kv = cost.kv_cache_bytes_per_value if isinstance(cost, AnalyticalCostSource) else 1.0
    return 2 * model.layers * model.kv_heads * model.head_dim * kv


def label(knobs: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in knobs.items()) or "(fixed)"


def _stages(inst: Instance, kinds: tuple[str, ...], knob: str) -> list[int]:
    idx = [i for i, s in enumerate(inst.pipeline.stages) if s.kind in kinds]
    if not idx:
        raise InstanceError(f"design.knobs.{knob} needs a {' or '.join(kinds)} stage, and the pipeline has "
                            f"{list(inst.pipeline.stage_names)}. To fix: remove the knob or add the stage")
    return idx


def apply_knobs(inst: Instance, knobs: dict) -> Instance:
    """K2: the instance with each knob's value applied; the design section dropped (a variant is a plain
    instance)."""
    design = inst.design
    stages = list(inst.pipeline.stages)
    cost, search = inst.cost, inst.search
    for knob, value in knobs.items():
        if knob == "scan_fraction":
            if not isinstance(cost, AnalyticalCostSource):
                raise InstanceError("design.knobs.scan_fraction needs an analytical cost source (its database "
                                    "model scans a fraction of the vectors). To fix: remove the knob or use "
                                    "cost.kind: analytical")
            dbs = dict(cost.databases)
            for i in _stages(inst, ("retrieval",), knob):
                db = dbs[stages[i].database]
                if db.kind != "ivf_pq":
                    raise InstanceError(f"design.knobs.scan_fraction applies to IVF-PQ databases; "
                                        f"{stages[i].database!r} is {db.kind}. To fix: remove the knob")
                dbs[stages[i].database] = db.model_copy(update={"scan_fraction": float(value)})
            cost = cost.model_copy(update={"databases": dbs})
        elif knob == "passages":
            tokens = design.prompt.question_tokens + int(value) * design.prompt.passage_tokens
            for i in _stages(inst, ("prefill", "decode"), knob):
                stages[i] = stages[i].model_copy(update={"prompt_tokens": tokens})
        elif knob == "rerank_depth":
            for i in _stages(inst, ("rerank",), knob):
                stages[i] = stages[i].model_copy(update={"top_k": int(value)})
        elif knob == "model":
            for i in _stages(inst, ("prefill", "decode"), knob):
                stages[i] = stages[i].model_copy(update={"model": str(value)})
        elif knob == "rewriter":
            drop = ("rewrite_prefill", "rewrite_decode")
            _stages(inst, drop, knob)
            if not value:
                stages = [s for s in stages if s.kind not in drop]
                search = search.model_copy(update={
                    "chip_options": {k: v for k, v in search.chip_options.items() if k not in drop},
                    "collocated_chip_options": {k: v for k, v in search.collocated_chip_options.items()
                                                if k not in drop}})
        elif knob == "kv_cache_passages":
            i = _stages(inst, ("prefill",), knob)[0]
            k = knobs.get("passages", design.prompt.passages)
            hit = zipf_hit_rate(int(value), design.cache.corpus_passages, design.cache.zipf_s)
            cached = min(math.floor(hit * k * design.prompt.passage_tokens), stages[i].prompt_tokens - 1)
            if knobs.get("kv_cache_location", "host") == "host":  # R11: loaded over the host link
                update = {"kv_load_bytes_per_s": design.cache.kv_load_bytes_per_s}
            else:  # R12: every prefill replica keeps the C passages' KV in HBM (the model after the model knob)
                per_token = kv_bytes_per_token(transformer(stages[i].model), cost)
                update = {"resident_kv_bytes": float(value) * design.prompt.passage_tokens * per_token}
            stages[i] = stages[i].model_copy(update={"cached_tokens": cached if value else 0} | (update if value else {}))
        elif knob == "kv_cache_location":
            pass  # applied with kv_cache_passages (K8)
        elif knob == "embedding_cache":
            i = _stages(inst, ("encode",), knob)[0]
            if value:
                chunks = math.ceil(stages[i].chunks_per_request * design.cache.changed_fraction)
                stages[i] = stages[i].model_copy(update={"chunks_per_request": chunks})
        elif knob == "pipeline_chunks":
            _stages(inst, ("retrieval",), knob)
            pl = design.pipelining
            overlap = None if value == 1 else Overlap(chunks=int(value), wrong_probability=pl.wrong_probability,
                                                      reprefill_fraction=pl.reprefill_fraction)
    pipeline = inst.pipeline.model_copy(update={"stages": stages})
    pipeline = pipeline if "pipeline_chunks" not in knobs else pipeline.model_copy(update={"overlap": overlap})
    data = inst.model_dump(mode="python", round_trip=True) | {
        "pipeline": pipeline.model_dump(mode="python", round_trip=True),
        "cost": cost.model_dump(mode="python", round_trip=True),
        "search": search.model_dump(mode="python", round_trip=True), "design": None}
    try:
        return Instance.model_validate(data, strict=False)
    except ValidationError as exc:  # e.g. a knob a rule refuses in this pipeline (AP1)
        msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise InstanceError(f"design knobs {label(knobs)} make an invalid instance: {msg}") from None


@functools.lru_cache(maxsize=64)
def _harmonic(n: int, s: float) -> float:
    """H(n, s) = sum_{i <= n} i^-s: exact to 10^6 terms, then the Euler-Maclaurin tail (relative error < 1e-12);
    remembered (a design's variants ask the same corpus again and again: 48 times, 0.9 s, in the Case II bench)."""
    head = min(n, 10**6)
    total = float(np.sum(np.arange(1, head + 1, dtype=np.float64) ** -s))
    if n > head:
        a, b = float(head), float(n)
        integral = math.log(b / a) if s == 1 else (b ** (1 - s) - a ** (1 - s)) / (1 - s)
        total += integral + (b ** -s - a ** -s) / 2 + s * (a ** (-s - 1) - b ** (-s - 1)) / 12
    return total


def zipf_hit_rate(cached: int, corpus: int, s: float) -> float:
    """K8: the share of passage reads that hit a cache of the ``cached`` most popular of ``corpus`` passages,
    popularity Zipf(s): H(C, s) / H(P, s)."""
    c = min(cached, corpus)
    return 0.0 if c <= 0 else _harmonic(c, s) / _harmonic(corpus, s)


def quality_of(design: Design, knobs: dict) -> dict[str, float]:
    """K3: each metric's value at a knob combination: the one row whose ``when`` the combination matches."""
    out = {}
    for metric, rows in design.quality.items():
        hits = [r for r in rows if all(knobs.get(k) == v and type(knobs.get(k)) is type(v)
                                       for k, v in r.when.items())]
        if len(hits) != 1:
            raise InstanceError(f"design.quality.{metric} has {len(hits)} rows matching {label(knobs)} (each "
                                f"combination needs exactly one). To fix: give one row for it")
        out[metric] = hits[0].value
    return out


FLOOR = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*>=\s*([-+0-9.eE]+)\s*$")


def parse_floor(text: str) -> tuple[str, float]:
    """K4: 'recall>=0.9' as (metric, floor)."""
    m = FLOOR.match(text)
    if m is None:
        raise InstanceError(f"quality floor {text[:80]!r} is not METRIC>=VALUE. To fix: write e.g. recall>=0.9")
    try:
        return m.group(1), float(m.group(2))
    except ValueError:
        raise InstanceError(f"quality floor {text[:80]!r} has no number after '>='. To fix: write e.g. "
                            f"recall>=0.9") from None


def variants(inst: Instance, floors: dict[str, float] | None = None) -> tuple[list[Variant], list[Variant]]:
    """K1-K4: every knob combination of the instance's design (kept: meets every floor of the design's and of
    ``floors``, which override it per metric; dropped: the others), in the product's order."""
    design = inst.design
    if design is None:
        raise InstanceError(f"instance {inst.name!r} has no design section, so it has no knobs or quality to "
                            f"bound. To fix: add a design section (docs/model.md, Self-design) or drop the "
                            f"quality floors")
    bound = dict(design.floors) | dict(floors or {})
    unknown = sorted(set(bound) - set(design.quality))
    if unknown:
        raise InstanceError(f"quality floor on {unknown}, which have no table in design.quality (metrics: "
                            f"{sorted(design.quality)}). To fix: bound one of those")
    varied = design.knobs.varied()
    kept, dropped = [], []
    for combo in itertools.product(*varied.values()):
        knobs = dict(zip(varied, combo))
        q = quality_of(design, knobs)
        v = Variant(knobs, apply_knobs(inst, knobs), q)
        (kept if all(q[m] >= f for m, f in bound.items()) else dropped).append(v)
    return kept, dropped
