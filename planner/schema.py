"""Strict schemas of ragplan instances, plans and results (pydantic v2, frozen, unknown keys rejected).

An *instance* is a RAG pipeline (RAGSchema), a cost source, a search space and service-level objectives.
Units live in field names (``_s`` seconds, ``_tokens``, ``chips``). ``planner.loader.load_instance`` reads YAML and
turns every validation problem into one ``InstanceError`` line that names the field, the value and the fix.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.roofline import Efficiency
from models.scan import Database, ScanCost
from planner.errors import MAX_QUOTE, clip, distinct
from planner.schema_design import Design, Overlap, check_overlap, check_prefill_cache
from planner.workload import Workload

__all__ = ["ACCELERATOR_STAGES", "AnalyticalCostSource", "CALIBRATED_EFFICIENCIES", "CapacityResult", "CostSource",
           "DatabaseSpec", "DecodeStage", "Efficiencies", "EncodeStage", "FrontierPoint", "FrontierResult", "Instance",
           "IntRange", "MAX_QUOTE", "MAX_YAML_NODES", "Metrics", "OBJECTIVES", "Pipeline", "Plan", "PrefillStage",
           "ProfileCostSource", "ProfileFiles", "RerankStage", "RetrievalStage", "RewriteDecodeStage",
           "RewritePrefillStage", "STAGE_ORDER", "SearchSpace", "Slo", "Stage", "clip", "distinct"]

StageKind = Literal["encode", "rewrite_prefill", "rewrite_decode", "retrieval", "rerank", "prefill", "decode"]
#: RAGSchema order of the stages; a pipeline lists a subsequence of it.
STAGE_ORDER: tuple[str, ...] = ("encode", "rewrite_prefill", "rewrite_decode", "retrieval", "rerank", "prefill",
                                "decode")
#: Efficiency fields a calibration sets (models.calibration, C1).
CALIBRATED_EFFICIENCIES: frozenset[str] = frozenset({"compute", "memory", "decoder_layer_overhead_s",
                                                     "encoder_layer_overhead_s"})
#: Capacity objectives (O4): what a plan's weight counts.
OBJECTIVES: tuple[str, ...] = ("chips", "cost", "capex", "power")
#: Stages that run on accelerators (retrieval runs on CPU servers).
ACCELERATOR_STAGES: frozenset[str] = frozenset(STAGE_ORDER) - {"retrieval"}


class _Strict(BaseModel):
    """Unknown keys rejected, frozen, and no silent coercion (``true`` is not 1, ``"8"`` is not 8); floats finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
# Upper limits far beyond any real instance, so that an absurd number is one clear error, not an exhausted machine.
Tokens = Annotated[int, Field(gt=0, le=10**8)]
Chips = Annotated[int, Field(gt=0, le=10**6)]
Batch = Annotated[int, Field(gt=0, le=2**16)]
DecodeBatch = Annotated[int, Field(gt=0, le=2**20)]
#: The most nodes an instance YAML may expand to (anchors and aliases counted as copies).
MAX_YAML_NODES = 100_000
class EncodeStage(_Strict):
    """Database encoder (RAGSchema 'document encoder'): encodes N_vec chunks per request (Case II)."""

    kind: Literal["encode"]
    model: str
    chunk_tokens: Tokens = 128
    chunks_per_request: Tokens = Field(description="N_vec: chunks encoded for one request")


class RewritePrefillStage(_Strict):
    kind: Literal["rewrite_prefill"]
    model: str
    prompt_tokens: Tokens


class RewriteDecodeStage(_Strict):
    kind: Literal["rewrite_decode"]
    model: str
    prompt_tokens: Tokens
    decode_tokens: Tokens


class RetrievalStage(_Strict):
    kind: Literal["retrieval"]
    database: str
    queries_per_retrieval: Annotated[int, Field(ge=1, le=64)] = 1


class RerankStage(_Strict):
    kind: Literal["rerank"]
    model: str
    passage_tokens: Tokens
    top_k: Annotated[int, Field(gt=0, le=10**5)] = Field(description="passages scored per query")


class PrefillStage(_Strict):
    kind: Literal["prefill"]
    model: str
    prompt_tokens: Tokens
    cached_tokens: Annotated[int, Field(ge=0, le=10**8)] = 0  # R11: prompt tokens whose KV is loaded, not computed
    kv_load_bytes_per_s: PositiveFloat | None = None  # R11: per chip, the link cached KV loads over
    resident_kv_bytes: Annotated[float, Field(ge=0, le=1e18)] = 0.0  # R12: a KV cache kept in every replica's HBM

    _cache = model_validator(mode="after")(check_prefill_cache)


class DecodeStage(_Strict):
    kind: Literal["decode"]
    model: str
    prompt_tokens: Tokens
    decode_tokens: Tokens


Stage = Annotated[
    Union[EncodeStage, RewritePrefillStage, RewriteDecodeStage, RetrievalStage, RerankStage, PrefillStage,
          DecodeStage],
    Field(discriminator="kind"),
]


class Pipeline(_Strict):
    """A RAGSchema pipeline: stages in RAGSchema order, each kind at most once."""

    stages: list[Stage]
    retrievals_per_sequence: Annotated[int, Field(ge=1, le=10**3)] = 1
    overlap: Overlap | None = None  # AP1-AP4: retrieval pipelined with prefill

    @model_validator(mode="after")
    def _check_order(self) -> "Pipeline":
        kinds = [s.kind for s in self.stages]
        if len(set(kinds)) != len(kinds):
            dup = sorted({k for k in kinds if kinds.count(k) > 1})
            raise ValueError(f"stage kinds {dup} appear more than once. To fix: list each stage once")
        ranks = [STAGE_ORDER.index(k) for k in kinds]
        if ranks != sorted(ranks):
            want = [k for k in STAGE_ORDER if k in kinds]
            raise ValueError(f"stages are in order {kinds}. To fix: list them in RAGSchema order {want}")
        for need in ("prefill", "decode"):
            if need not in kinds:
                raise ValueError(f"the pipeline has no {need} stage (stages: {kinds}). To fix: add the main "
                                 f"LLM's prefill and decode stages")
        if ("rewrite_prefill" in kinds) != ("rewrite_decode" in kinds):
            raise ValueError("a query rewriter needs both rewrite_prefill and rewrite_decode. To fix: add the "
                             "missing one or remove both")
        n = self.retrievals_per_sequence
        if n > 1 and "retrieval" not in kinds:
            raise ValueError(f"retrievals_per_sequence = {n} needs a retrieval stage (stages: {kinds}). To fix: add "
                             f"one or set retrievals_per_sequence: 1")
        check_overlap(self.overlap, kinds, n)
        if n > 1 and n > self.stage("decode").decode_tokens:
            raise ValueError(f"retrievals_per_sequence = {n} exceeds the {self.stage('decode').decode_tokens} decode "
                             f"tokens it spreads over (IR1). To fix: use at most that many")
        return self

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.kind for s in self.stages)

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.kind == name:
                return s
        raise KeyError(name)


class ProfileFiles(_Strict):
    """File names of the RAGO-format profiles inside ``profiles_dir``."""

    main_llm: str = "main_llm_perf.csv"
    rewriter: str = "rewriter_perf.csv"
    encoder: str = "encoder_perf.csv"
    reranker: str = "reranker_perf.csv"
    retrieval: list[str] = ["retrieval_perf.csv", "retrieval_perf_small_10k.csv"]


PRICES_HELP = ("a price YAML (accelerators: and cpu_servers: maps of name -> price_usd_per_hour, purchase_usd, "
               "power_w), relative to the instance file; it overrides the catalog's estimates")


class ProfileCostSource(_Strict):
    """Stage costs from profile tables in the RAGO CSV format (see docs/model.md, 'Profile tables')."""

    kind: Literal["profiles"]
    profiles_dir: str = Field(description="folder of the CSVs; relative paths are relative to the instance file")
    hardware: str = Field(description="accelerator name in the profiles, e.g. H100_GPU")
    files: ProfileFiles = ProfileFiles()
    cpu_server: str = Field("epyc-milan-96c", description="the retrieval hosts (for their price)")
    prices: str | None = Field(None, min_length=1, max_length=4096, description=PRICES_HELP)


class DatabaseSpec(_Strict):
    """A vector database for the analytical retrieval model (docs/model.md, V1-V4)."""

    kind: Literal["ivf_pq", "brute_force"] = Database.kind
    vectors: Annotated[float, Field(gt=0, le=1e15)]
    bytes_per_vector: Annotated[float, Field(gt=0, le=1e9)] = Field(description="PQ code (ivf_pq) or raw vector bytes")
    scan_fraction: Annotated[float, Field(gt=0, le=1)] = Database.scan_fraction
    levels: Annotated[int, Field(ge=2, le=16)] = Database.levels
    fanout: Annotated[int, Field(gt=0, le=10**9)] = Database.fanout


class Efficiencies(_Strict):
    """Roofline efficiency factors (1.0 = datasheet peak); see docs/model.md, R1-R6."""

    compute: Annotated[float, Field(gt=0, le=1)] = Efficiency.compute
    memory: Annotated[float, Field(gt=0, le=1)] = Efficiency.memory
    link: Annotated[float, Field(gt=0, le=1)] = Efficiency.link
    link_latency_s: Annotated[float, Field(ge=0)] = Efficiency.link_latency_s
    hbm_usable: Annotated[float, Field(gt=0, le=1)] = Efficiency.hbm_usable
    decoder_layer_overhead_s: Annotated[float, Field(ge=0, le=0.1)] = Efficiency.decoder_layer_overhead_s
    encoder_layer_overhead_s: Annotated[float, Field(ge=0, le=0.1)] = Efficiency.encoder_layer_overhead_s
    host_memory_usable: Annotated[float, Field(gt=0, le=1)] = ScanCost.memory_usable


class AnalyticalCostSource(_Strict):
    """Stage costs from the roofline and scan models over the catalogs (docs/model.md, 'Analytical models')."""

    kind: Literal["analytical"]
    accelerator: str | list[str] = Field(description="catalog name, e.g. XPU-C, H100 (models/catalog.py), or a "
                                                     "list of the types the planner may choose from, per group")
    stage_accelerators: dict[StageKind, list[str]] = Field(default_factory=dict, description="per stage, the "
                                                           "offered types it may run on (default: all)")
    cpu_server: str | list[str] = Field("epyc-milan-96c", description="retrieval server type(s) offered")
    prices: str | None = Field(None, min_length=1, max_length=4096, description=PRICES_HELP)
    weight_bytes_per_param: Annotated[float, Field(gt=0, le=64)] = 1.0
    activation_bytes: Annotated[float, Field(gt=0, le=64)] = 2.0
    kv_cache_bytes_per_value: Annotated[float, Field(gt=0, le=64)] = 1.0
    compute_precision: Literal["bf16", "int8"] = "int8"
    efficiency: Efficiencies = Efficiencies()
    calibration: str = Field(default="default", min_length=1, max_length=4096,
                             description="default: the calibration ragplan ships for the accelerator's family (the "
                                         "NVIDIA ones: fitted on measured H100 rows), datasheet peaks for others; "
                                         "none: datasheet peaks; else a calibration JSON (relative to the instance "
                                         "file) from 'ragplan calibrate fit'")
    databases: dict[str, DatabaseSpec] = Field(default_factory=dict)

    @property
    def accelerators(self) -> tuple[str, ...]:
        """The offered accelerator types, in the order given."""
        return (self.accelerator,) if isinstance(self.accelerator, str) else tuple(self.accelerator)

    @property
    def cpu_servers(self) -> tuple[str, ...]:
        return (self.cpu_server,) if isinstance(self.cpu_server, str) else tuple(self.cpu_server)

    @model_validator(mode="after")
    def _types(self) -> "AnalyticalCostSource":
        for what, names in (("accelerator", self.accelerators), ("cpu_server", self.cpu_servers)):
            if not names:
                raise ValueError(f"cost.{what} is an empty list. To fix: name at least one")
            if len(set(names)) != len(names):
                raise ValueError(f"cost.{what} lists {sorted(n for n in set(names) if names.count(n) > 1)} twice. "
                                 f"To fix: list each type once")
        for stage, names in self.stage_accelerators.items():
            extra = sorted(set(names) - set(self.accelerators))
            if extra or not names:
                raise ValueError(f"cost.stage_accelerators.{stage} = {names}: {extra or 'empty'} not among the offered"
                                 f" accelerators {list(self.accelerators)}. To fix: list offered types only")
        return self


CostSource = Annotated[Union[ProfileCostSource, AnalyticalCostSource], Field(discriminator="kind")]


class IntRange(_Strict):
    min: Annotated[int, Field(ge=0, le=10**12)]
    max: Annotated[int, Field(ge=1, le=10**12)]

    @model_validator(mode="after")
    def _ordered(self) -> "IntRange":
        if self.min > self.max:
            raise ValueError(f"min {self.min} > max {self.max}. To fix: make min <= max")
        return self


class SearchSpace(_Strict):
    """What the planner may choose: placement, chips per stage/group, batch sizes."""

    placement: Literal["all", "disaggregated", "collocated", "llm-extension"] = "all"
    chips: Literal["pow2", "any"] = "pow2"
    batches: Literal["pow2", "any"] = "pow2"
    chip_options: dict[StageKind, list[Chips]] = Field(default_factory=dict)
    collocated_chip_options: dict[StageKind, list[Chips]] = Field(
        default_factory=dict, description="S1: more chip counts a stage may take in every placement other than "
                                          "full disaggregation (the RAGO artifact's collocated sweeps)")
    total_chips: IntRange
    max_chips_per_stage: Chips
    max_batch_size: Batch = Field(1024, description="largest request batch of the pre-decode stages")
    max_decode_batch_size: DecodeBatch | None = Field(None, description="cap on decode batches (None: the cost "
                                                      "model's memory limit)")
    chips_per_server: Annotated[int, Field(gt=0, le=1024)] = 4
    retrieval_servers: Literal["hosts", "decision"] = Field(
        "hosts", description="hosts: the RAGO rule, r = max(1, floor(N / chips_per_server)) CPU hosts of the "
                             "accelerators (priced with them); decision: r dedicated, priced servers chosen by the "
                             "planner between the shard-memory minimum and max_retrieval_servers")
    max_retrieval_servers: Annotated[int, Field(gt=0, le=10**5)] | None = Field(
        None, description="most dedicated retrieval servers (decision; default: the shard minimum x 4)")
    max_chips_per_type: dict[str, Chips] = Field(default_factory=dict, description="budget per accelerator type")
    micro_batching: bool = Field(False, description="MB1: every pre-decode stage runs its own batch b_s over a "
                                 "burst of requests (docs/model.md, Micro-batching)")
    burst_requests: Batch | None = Field(None, description="MB1: the burst R of requests arriving together "
                                         "(micro-batching; None: searched, R = the largest b_s, MB5)")

    @model_validator(mode="after")
    def _burst(self) -> "SearchSpace":
        if self.burst_requests is not None and not self.micro_batching:
            raise ValueError(f"burst_requests {self.burst_requests} needs micro_batching: true (without it every "
                             f"pre-decode stage runs one batch). To fix: set micro_batching: true or drop "
                             f"burst_requests")
        if self.micro_batching and self.batches != "pow2":
            raise ValueError("micro_batching needs batches: pow2 (each stage's batch must divide the burst, MB1). "
                             "To fix: set search.batches: pow2")
        if self.burst_requests is not None and self.burst_requests & (self.burst_requests - 1):
            raise ValueError(f"burst_requests {self.burst_requests} is not a power of two (each stage's batch must "
                             f"divide it, MB1). To fix: use a power of two")
        return self

    @field_validator("chip_options", "collocated_chip_options")
    @classmethod
    def _options(cls, v: dict[str, list[int]]) -> dict[str, list[int]]:
        if "retrieval" in v:
            raise ValueError("retrieval runs on CPU servers, whose count follows the total chips: it takes no chip "
                             "options. To fix: remove retrieval from chip_options and collocated_chip_options")
        for stage, opts in v.items():
            if not opts:
                raise ValueError(f"chip_options.{stage} is empty. To fix: list at least one chip count")
        return {k: sorted(set(o)) for k, o in v.items()}


class Slo(_Strict):
    """Service-level objectives and budgets; unset means unbounded."""

    ttft_max_s: PositiveFloat | None = None
    tpot_max_s: PositiveFloat | None = None
    qps_min: PositiveFloat | None = None


class Instance(_Strict):
    name: str
    description: str = ""
    pipeline: Pipeline
    cost: CostSource
    search: SearchSpace
    slo: Slo = Slo()
    workload: Workload = Workload()  # the simulator's traffic (D3); the solvers use decode_tokens
    design: Design | None = None  # K1-K5: RAG knobs chosen with the plan (``planner.knobs``)

    @model_validator(mode="after")
    def _options_name_stages(self) -> "Instance":
        names = self.pipeline.stage_names
        if self.pipeline.overlap is not None and self.search.micro_batching:
            raise ValueError("pipeline.overlap with micro-batching is not modelled (AP1, MB1). To fix: set "
                             "search.micro_batching: false or remove pipeline.overlap")
        if self.pipeline.retrievals_per_sequence > 1 and self.search.micro_batching:
            raise ValueError("iterative retrieval with micro-batching is not modelled (IR1, MB1). To fix: set "
                             "search.micro_batching: false or retrievals_per_sequence: 1")
        if isinstance(self.cost, AnalyticalCostSource):
            for st in self.pipeline.stages:
                if st.kind == "retrieval" and st.database not in self.cost.databases:
                    raise ValueError(f"retrieval database {st.database!r} is not described in cost.databases "
                                     f"(has {sorted(self.cost.databases)}). To fix: add cost.databases."
                                     f"{st.database} with its vectors and bytes_per_vector")
        for stage in (*self.search.chip_options, *self.search.collocated_chip_options):
            if stage not in names:
                raise ValueError(f"search.chip_options names stage {stage!r}, which is not in the pipeline {list(names)}."
                                 f" To fix: remove it or add that stage")
        return self


class Plan(_Strict):
    """One schedule: placement groups, accelerator type and chips per accelerator stage, batch per stage,
    retrieval servers and their type (types left out: the instance's only one)."""

    placement: tuple[tuple[str, ...], ...]
    chips_per_stage: dict[str, PositiveInt]
    batch_per_stage: dict[str, PositiveInt]
    retrieval_servers: Annotated[int, Field(ge=0)] = 0
    accelerator_per_stage: dict[str, str] = Field(default_factory=dict)
    retrieval_server: str = ""
    burst_requests: PositiveInt | None = Field(None, description="MB1: the burst served with micro-batching (None: "
                                               "one batch B for every pre-decode stage)")
    iterative_batch: PositiveInt | None = Field(None, description="IR2: the batch of iterative retrievals (None: "
                                                "one retrieval per sequence)")


class Metrics(_Strict):
    """What the evaluator computes for a plan: floats as reported (Q2), and the exact integers they come from
    (Q1: TTFT and the whole decode in picoseconds; the bottleneck group serves ``bottleneck_batch`` requests every
    ``bottleneck_cycle_ps``, so QPS/chip = bottleneck_batch / (bottleneck_cycle_ps x chips) exactly)."""

    ttft_s: float
    tpot_s: float
    e2e_latency_s: float
    qps: float
    qps_per_chip: float
    chips: int
    retrieval_servers: int
    stage_qps: dict[str, float]
    group_qps: tuple[float, ...]
    bottleneck: tuple[str, ...]
    time_share: dict[str, float] = Field(default_factory=dict, description="E8: share of resource-time per stage")
    ttft_ps: int
    decode_ps: int
    bottleneck_batch: int
    bottleneck_cycle_ps: int
    chips_per_type: dict[str, int] = Field(default_factory=dict)
    cost_usd_per_hour: float | None = Field(None, description="M2: rent of the plan's priced resources")
    rent_by_resource: dict[str, float] = Field(default_factory=dict, description="E9: USD/h per resource type")
    capex_usd: float | None = Field(None, description="M2: purchase of the plan's resources (None: a type not sold)")
    power_w: float | None = None

    @property
    def ratio(self) -> Fraction:
        """QPS/chip exactly, in requests per picosecond-chip (Q4)."""
        return Fraction(self.bottleneck_batch, self.bottleneck_cycle_ps * self.chips)

    def rank(self) -> tuple:
        """The exact order of F1/F2: TTFT ascending, QPS/chip descending, TPOT ascending, chips ascending."""
        return self.ttft_ps, -self.ratio, self.decode_ps, self.chips


class FrontierPoint(_Strict):
    metrics: Metrics
    plan: Plan
    proven_optimal: bool
    gap: float | None = None
    knobs: dict[str, bool | int | float | str] = Field(default_factory=dict, description="K1: the design's knobs")
    quality: dict[str, float] = Field(default_factory=dict, description="K3: the knobs' quality metrics")


class FrontierResult(_Strict):
    instance: str
    solver: str
    solve_seconds: float
    points: tuple[FrontierPoint, ...]
    schedules_evaluated: int | None = None
    solves: int | None = None
    complete: bool = Field(True, description="False when a time limit stopped the sweep before it reached the "
                                             "frontier's lowest TTFT (points below the last one may exist)")
    variants: tuple[str, ...] = ()  # K5: the design's knob combinations searched
    variants_left_out: dict[str, str] = Field(default_factory=dict)  # K4/K5: combinations not searched, and why


class CapacityResult(_Strict):
    """The least-weight plan (O4: chips, rent, purchase or power) meeting an SLO with a QPS floor."""

    instance: str
    solver: str
    solve_seconds: float
    qps_min: float
    objective: Literal["chips", "cost", "capex", "power"] = "chips"
    retrieval_servers: Literal["hosts", "decision"] = "hosts"  # S4 (priced with the chips) or S9 (dedicated)
    point: FrontierPoint
    solves: int | None = None
