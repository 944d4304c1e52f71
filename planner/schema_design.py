"""The design section of an instance (``docs/model.md``, "Self-design", K1-K5): the RAG knobs the planner chooses
jointly with placement, allocation and batching, and the quality tables that say what each choice costs.

Quality never comes from ragplan: every metric is a table the user gives, one row per knob combination (or per
combination of the knobs the metric depends on), e.g. recall by scan fraction measured by
``ragplan calibrate retrieval``, end-task accuracy by model and passages from the user's own evaluation.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["KNOBS", "CacheSpec", "Design", "Knobs", "KnobValue", "Overlap", "PipeliningSpec", "PromptShape", "QualityRow",
           "check_overlap", "check_prefill_cache"]

#: The knobs, in the order a variant's label lists them.
KNOBS: tuple[str, ...] = ("scan_fraction", "passages", "rerank_depth", "model", "rewriter", "kv_cache_passages",
                          "kv_cache_location", "embedding_cache", "pipeline_chunks")
KnobValue = Union[bool, int, float, str]


class _Design(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Overlap(_Design):
    """AP1: prefill pipelined with retrieval over ``chunks`` chunks (``planner.overlap``); a wrong early result
    (``wrong_probability``) re-runs ``reprefill_fraction`` of the prefill."""

    chunks: Annotated[int, Field(ge=2, le=1024)]
    wrong_probability: Annotated[float, Field(ge=0, le=1)] = 0.0
    reprefill_fraction: Annotated[float, Field(ge=0, le=1)] = 1.0


def check_overlap(overlap: Overlap | None, kinds: list[str], n: int) -> None:
    """AP1 on a pipeline: retrieval, then prefill right after it, without iterative retrieval."""
    if overlap is not None and (n > 1 or "retrieval" not in kinds or kinds[kinds.index("retrieval") + 1] != "prefill"):
        raise ValueError(f"pipeline.overlap pipelines retrieval with the prefill right after it (AP1), without "
                         f"iterative retrieval; the stages are {kinds} with retrievals_per_sequence = {n}. To fix: "
                         f"remove pipeline.overlap")


def check_prefill_cache(stage):
    """R11 on a prefill stage: at least one token computed; a load bandwidth where tokens are cached."""
    if stage.cached_tokens >= stage.prompt_tokens:
        raise ValueError(f"prefill cached_tokens {stage.cached_tokens} >= prompt_tokens {stage.prompt_tokens}: at "
                         f"least one token is computed. To fix: cache fewer tokens")
    if stage.cached_tokens and stage.kv_load_bytes_per_s is None and not stage.resident_kv_bytes:
        raise ValueError(f"prefill caches {stage.cached_tokens} tokens but gives neither kv_load_bytes_per_s (R11: "
                         f"the cache on the host) nor resident_kv_bytes (R12: in HBM). To fix: set one")
    if stage.kv_load_bytes_per_s is not None and stage.resident_kv_bytes:
        raise ValueError("prefill gives both kv_load_bytes_per_s (R11: the cache on the host) and resident_kv_bytes "
                         "(R12: in HBM). To fix: keep the one where the cache lives")
    return stage


def _distinct(name: str, values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError(f"design.knobs.{name} lists a value twice: {values}. To fix: list each value once")
    return values


class Knobs(_Design):
    """K1: each knob's options (a knob left out keeps the pipeline's own value)."""

    scan_fraction: list[Annotated[float, Field(gt=0, le=1)]] | None = Field(
        None, min_length=1, max_length=64, description="share of the IVF-PQ database each query scans")
    passages: list[Annotated[int, Field(gt=0, le=1000)]] | None = Field(
        None, min_length=1, max_length=64, description="passages in the main model's prompt (needs design.prompt)")
    rerank_depth: list[Annotated[int, Field(gt=0, le=10**5)]] | None = Field(
        None, min_length=1, max_length=64, description="passages the reranker scores (the rerank stage's top_k)")
    model: list[Annotated[str, Field(min_length=1, max_length=80)]] | None = Field(
        None, min_length=1, max_length=16, description="the main model (prefill and decode), catalog names")
    rewriter: list[bool] | None = Field(None, min_length=1, max_length=2,
                                        description="keep (true) or drop (false) the query rewriter's stages")
    kv_cache_passages: list[Annotated[int, Field(ge=0, le=10**12)]] | None = Field(
        None, min_length=1, max_length=16, description="K8: the most popular passages whose KV is kept (0: none)")
    kv_cache_location: list[Literal["host", "hbm"]] | None = Field(
        None, min_length=1, max_length=2, description="K8: where the KV cache lives (default host)")
    embedding_cache: list[bool] | None = Field(None, min_length=1, max_length=2,
                                               description="K9: re-encode only the changed chunks of a context")

    pipeline_chunks: list[Annotated[int, Field(ge=1, le=1024)]] | None = Field(
        None, min_length=1, max_length=16, description="K10: chunks retrieval is pipelined with prefill over (1: off)")

    @field_validator("scan_fraction", "passages", "rerank_depth", "model", "rewriter", "kv_cache_passages",
                     "kv_cache_location", "embedding_cache", "pipeline_chunks")
    @classmethod
    def _once(cls, v, info):
        return v if v is None else _distinct(info.field_name, v)

    def varied(self) -> dict[str, list]:
        """The knobs given, in ``KNOBS`` order."""
        return {k: getattr(self, k) for k in KNOBS if getattr(self, k) is not None}


class PromptShape(_Design):
    """K2: prompt_tokens = question_tokens + passages x passage_tokens (prefill and decode)."""

    question_tokens: Annotated[int, Field(ge=0, le=10**7)]
    passage_tokens: Annotated[int, Field(gt=0, le=10**6)]
    passages: Annotated[int, Field(gt=0, le=1000)] | None = Field(None, description="k where the passages knob is "
                                                                                   "not varied (for K8)")


class CacheSpec(_Design):
    """K8-K9: what the caches see. K8, a KV cache of popular passages (RAGCache-like): passage popularity is Zipf
    with exponent ``zipf_s`` over ``corpus_passages``; cached KV loads at ``kv_load_bytes_per_s`` per chip. K9, a
    document-embedding cache (long-context encoding): only ``changed_fraction`` of a context's chunks are
    re-encoded."""

    corpus_passages: Annotated[int, Field(gt=0, le=10**10)] | None = None
    zipf_s: Annotated[float, Field(gt=0, le=10)] | None = None
    kv_load_bytes_per_s: Annotated[float, Field(gt=0)] | None = None
    changed_fraction: Annotated[float, Field(gt=0, le=1)] | None = None


class QualityRow(_Design):
    """One row of a quality table: the metric's value where every knob named in ``when`` takes its value."""

    when: dict[str, KnobValue] = Field(default_factory=dict)
    value: float


class PipeliningSpec(_Design):
    """K10: a wrong early result's probability and the share of the prefill it re-runs (AP3)."""

    wrong_probability: Annotated[float, Field(ge=0, le=1)] = 0.0
    reprefill_fraction: Annotated[float, Field(ge=0, le=1)] = 1.0


class Design(_Design):
    knobs: Knobs
    prompt: PromptShape | None = None
    cache: CacheSpec = CacheSpec()
    pipelining: PipeliningSpec = PipeliningSpec()
    quality: dict[Annotated[str, Field(min_length=1, max_length=40)], list[QualityRow]] = Field(
        min_length=1, description="K3: per metric (e.g. recall, accuracy), its table over the knobs")
    quality_metric: str | None = Field(None, description="the metric --quality-min bounds (default: the only one)")
    floors: dict[str, float] = Field(default_factory=dict, description="K4: metric >= floor for every plan")

    @model_validator(mode="after")
    def _consistent(self) -> "Design":
        varied = self.knobs.varied()
        if not varied:
            raise ValueError("design.knobs gives no knob. To fix: list the options of at least one of "
                             f"{list(KNOBS)}")
        if "passages" in varied and self.prompt is None:
            raise ValueError("design.knobs.passages needs design.prompt (question_tokens, passage_tokens) to size "
                             "the prompt. To fix: add design.prompt")
        if "kv_cache_location" in varied and "kv_cache_passages" not in varied:
            raise ValueError("design.knobs.kv_cache_location places the cache of kv_cache_passages, which the "
                             "design does not vary. To fix: add kv_cache_passages or drop the location")
        need = {"kv_cache_passages": ("corpus_passages", "zipf_s") + (
                    ("kv_load_bytes_per_s",) if "host" in varied.get("kv_cache_location", ["host"]) else ()),
                "embedding_cache": ("changed_fraction",)}
        for knob, fields in need.items():
            missing = [f for f in fields if knob in varied and getattr(self.cache, f) is None]
            if missing:
                raise ValueError(f"design.knobs.{knob} needs design.cache.{', '.join(missing)}. To fix: add them")
        if "kv_cache_passages" in varied and (self.prompt is None or ("passages" not in varied
                                                                      and self.prompt.passages is None)):
            raise ValueError("design.knobs.kv_cache_passages needs the prompt's shape: design.prompt, with "
                             "design.prompt.passages unless the passages knob is varied. To fix: add them")
        for metric, rows in self.quality.items():
            for row in rows:
                for k, v in row.when.items():
                    if k not in varied:
                        raise ValueError(f"design.quality.{metric} has a row for knob {k!r}, which the design does "
                                         f"not vary (varies {list(varied)}). To fix: remove it from the row")
                    if type(v) is not type(varied[k][0]):  # a value not offered is allowed: it never matches
                        raise ValueError(f"design.quality.{metric} has a row with {k} = {v!r}, a "
                                         f"{type(v).__name__}, but design.knobs.{k} lists "
                                         f"{type(varied[k][0]).__name__}s {varied[k]}. To fix: write a value of "
                                         f"that type")
        metric = self.quality_metric
        if metric is None and len(self.quality) > 1:
            raise ValueError(f"design.quality has {len(self.quality)} metrics {sorted(self.quality)}, so "
                             f"--quality-min needs one named. To fix: set design.quality_metric")
        if metric is not None and metric not in self.quality:
            raise ValueError(f"design.quality_metric {metric!r} has no table (metrics: {sorted(self.quality)}). "
                             f"To fix: name one of them")
        unknown = sorted(set(self.floors) - set(self.quality))
        if unknown:
            raise ValueError(f"design.floors names {unknown}, which have no quality table (metrics: "
                             f"{sorted(self.quality)}). To fix: add their tables or remove the floors")
        return self

    @property
    def metric(self) -> str:
        """The metric a single quality floor (``--quality-min``) bounds."""
        return self.quality_metric or next(iter(self.quality))
