"""Catalogs of accelerators, host CPU servers and transformer models, as validated data.

Every entry cites its public source. Units live in field names: ``_tflops`` (10^12 operations per second, dense,
no sparsity), ``_bytes``, ``_bytes_per_s``. Names are what instances use (``cost.accelerator``,
``cost.cpu_server``, a stage's ``model``); ``accelerator()``, ``cpu_server()`` and ``transformer()`` look them up
and name the alternatives when a name is unknown.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.errors import ModelError

__all__ = ["ACCELERATORS", "CPU_SERVERS", "MODELS", "Accelerator", "CpuServer", "Priced", "TransformerModel",
           "accelerator", "cpu_server", "transformer"]

Pos = Annotated[float, Field(gt=0)]
PosInt = Annotated[int, Field(gt=0)]
GB = 1e9
GIB = 2**30


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Priced(_Spec):
    """What a unit of a resource costs: on-demand rent, purchase, power; public list prices are estimates, and
    ``price_source`` says where they come from (a user price file overrides them, ``planner.loader``)."""

    price_usd_per_hour: Annotated[float, Field(ge=0)] | None = Field(None, description="on-demand rent of one unit")
    purchase_usd: Annotated[float, Field(ge=0)] | None = Field(None, description="list price of one unit (None: not "
                                                                                  "sold)")
    power_w: Annotated[float, Field(ge=0)] | None = Field(None, description="board/server power at load")
    price_source: str = "not priced"


class Accelerator(Priced):
    """One accelerator chip: dense peak per compute precision, HBM, bandwidths, chips per host."""

    name: str
    peak_tflops: dict[Literal["bf16", "int8"], Pos] = Field(description="dense peak per compute precision")
    hbm_bytes: Pos
    hbm_bytes_per_s: Pos
    interconnect_bytes_per_s: Pos = Field(description="inter-chip bandwidth of one chip, one direction")
    chips_per_host: PosInt
    vendor: str = Field(description="family a calibration carries over to (models.calibration, C4)")
    source: str


class CpuServer(Priced):
    """A host CPU server that runs vector search (one thread per query)."""

    name: str
    cores: PosInt
    scan_bytes_per_s_per_core: Pos = Field(description="PQ-code scan rate of one core (ScaNN-style)")
    memory_bytes: Pos
    memory_bytes_per_s: Pos
    memory_bandwidth_utilisation: Annotated[float, Field(gt=0, le=1)]
    source: str


class TransformerModel(_Spec):
    """Shape of a decoder (or encoder) transformer; parameters are derived, not typed in."""

    name: str
    layers: PosInt
    hidden: PosInt
    heads: PosInt
    kv_heads: PosInt
    ffn: PosInt
    vocab: PosInt
    gated_ffn: bool = True
    tied_embeddings: bool = False
    decoder: bool = True
    source: str

    @model_validator(mode="after")
    def _shape(self) -> "TransformerModel":
        if self.hidden % self.heads:
            raise ValueError(f"{self.name}: hidden {self.hidden} is not a multiple of heads {self.heads}. To fix: "
                             f"correct the model shape")
        if self.heads % self.kv_heads:
            raise ValueError(f"{self.name}: heads {self.heads} is not a multiple of kv_heads {self.kv_heads}. To fix: "
                             f"correct the model shape")
        return self

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def layer_params(self) -> int:
        d = self.head_dim
        attn = self.hidden * (self.heads + 2 * self.kv_heads) * d + self.heads * d * self.hidden
        ffn = (3 if self.gated_ffn else 2) * self.hidden * self.ffn
        return attn + ffn

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings or not self.decoder else 2)

    @property
    def params(self) -> int:
        return self.layers * self.layer_params + self.embedding_params

    def kv_values_per_token(self) -> int:
        """K and V values cached per token over all layers."""
        return 2 * self.layers * self.kv_heads * self.head_dim


def _by_name(items: list) -> dict:
    return {x.name: x for x in items}


ACCELERATORS: dict[str, Accelerator] = _by_name([
    # XPU-A/B/C: RAGO paper (Jiang et al., ISCA 2025, arXiv:2503.14649) Table 2; int8 rates follow the TPU each
    # XPU resembles (v5e 394 TOPS, v4 275 TOPS, v5p 918 TOPS; cloud.google.com/tpu/docs/system-architecture-tpu-vm).
    Accelerator(name="XPU-A", peak_tflops={"bf16": 197, "int8": 394}, hbm_bytes=16 * GB, hbm_bytes_per_s=819 * GB,
                interconnect_bytes_per_s=200 * GB, chips_per_host=4, vendor="rago-xpu", source="RAGO Table 2 (~TPU v5e)",
                price_usd_per_hour=1.2, purchase_usd=None, power_w=200,
                price_source="estimate: Google Cloud TPU v5e on-demand list rate (cloud.google.com/tpu/pricing); not sold"),
    Accelerator(name="XPU-B", peak_tflops={"bf16": 275, "int8": 275}, hbm_bytes=32 * GB, hbm_bytes_per_s=1200 * GB,
                interconnect_bytes_per_s=300 * GB, chips_per_host=4, vendor="rago-xpu", source="RAGO Table 2 (~TPU v4)",
                price_usd_per_hour=3.22, purchase_usd=None, power_w=250,
                price_source="estimate: Google Cloud TPU v4 on-demand list rate (cloud.google.com/tpu/pricing); not sold"),
    Accelerator(name="XPU-C", peak_tflops={"bf16": 459, "int8": 918}, hbm_bytes=96 * GB, hbm_bytes_per_s=2765 * GB,
                interconnect_bytes_per_s=600 * GB, chips_per_host=4, vendor="rago-xpu", source="RAGO Table 2 (~TPU v5p)",
                price_usd_per_hour=4.2, purchase_usd=None, power_w=450,
                price_source="estimate: Google Cloud TPU v5p on-demand list rate (cloud.google.com/tpu/pricing); not sold"),
    # NVIDIA H100 SXM5 datasheet: 989 TFLOPS bf16 / 1979 TOPS int8 dense, 80 GB HBM3, 3.35 TB/s, NVLink 900 GB/s
    # bidirectional (450 GB/s per direction), 8 GPUs per HGX host.
    Accelerator(name="H100", peak_tflops={"bf16": 989, "int8": 1979}, hbm_bytes=80 * GB, hbm_bytes_per_s=3350 * GB,
                interconnect_bytes_per_s=450 * GB, chips_per_host=8, vendor="nvidia", source="NVIDIA H100 SXM datasheet",
                price_usd_per_hour=2.69, purchase_usd=30000, power_w=700,
                price_source="estimate: RunPod on-demand H100 SXM (deploybase.ai/articles/b200-vs-h200-vs-h100, 2026); purchase $25k-40k (host360.ai 2026 guide); 700 W SXM TDP (datasheet)"),
    # NVIDIA H200 SXM datasheet: same compute as H100, 141 GB HBM3e, 4.8 TB/s, NVLink 900 GB/s bidirectional.
    Accelerator(name="H200", peak_tflops={"bf16": 989, "int8": 1979}, hbm_bytes=141 * GB, hbm_bytes_per_s=4800 * GB,
                interconnect_bytes_per_s=450 * GB, chips_per_host=8, vendor="nvidia", source="NVIDIA H200 SXM datasheet",
                price_usd_per_hour=3.59, purchase_usd=35000, power_w=700,
                price_source="estimate: RunPod on-demand H200 SXM (deploybase.ai/articles/b200-vs-h200-vs-h100, 2026); purchase estimate; 700 W TDP (datasheet)"),
    # NVIDIA DGX B200 datasheet (8 GPUs: 72 PFLOPS FP8 training, 1,440 GB HBM3e, 64 TB/s): per GPU 2.25 PFLOPS
    # bf16 and 4.5 POPS int8/fp8 dense, 180 GB, 8 TB/s; NVLink 5 1.8 TB/s bidirectional (900 GB/s per direction).
    Accelerator(name="B200", peak_tflops={"bf16": 2250, "int8": 4500}, hbm_bytes=180 * GB, hbm_bytes_per_s=8000 * GB,
                interconnect_bytes_per_s=900 * GB, chips_per_host=8, vendor="nvidia", source="NVIDIA DGX B200 datasheet",
                price_usd_per_hour=5.98, purchase_usd=45000, power_w=1000,
                price_source="estimate: RunPod on-demand B200 (deploybase.ai/articles/b200-vs-h200-vs-h100, 2026); purchase estimate; 1000 W TDP (DGX B200 datasheet)"),
    # Google Cloud TPU v5e: 197 TFLOPS bf16, 394 TOPS int8, 16 GB HBM2, 819 GB/s, ICI 1,600 Gbps; 8 chips per
    # ct5lp-hightpu-8t host (cloud.google.com/tpu/docs/v5e).
    Accelerator(name="TPU-v5e", peak_tflops={"bf16": 197, "int8": 394}, hbm_bytes=16 * GB, hbm_bytes_per_s=819 * GB,
                interconnect_bytes_per_s=200 * GB, chips_per_host=8, vendor="google", source="cloud.google.com/tpu/docs/v5e",
                price_usd_per_hour=1.2, purchase_usd=None, power_w=200,
                price_source="estimate: Google Cloud TPU v5e on-demand list rate (cloud.google.com/tpu/pricing); not sold; power estimate"),
    # Google Cloud TPU v5p: 459 TFLOPS bf16, 918 TOPS int8, 95 GB HBM2e, 2,765 GB/s, ICI 4,800 Gbps; 4 chips per
    # host (cloud.google.com/tpu/docs/v5p).
    Accelerator(name="TPU-v5p", peak_tflops={"bf16": 459, "int8": 918}, hbm_bytes=95 * GB, hbm_bytes_per_s=2765 * GB,
                interconnect_bytes_per_s=600 * GB, chips_per_host=4, vendor="google", source="cloud.google.com/tpu/docs/v5p",
                price_usd_per_hour=4.2, purchase_usd=None, power_w=450,
                price_source="estimate: Google Cloud TPU v5p on-demand list rate (cloud.google.com/tpu/pricing); not sold; power estimate"),
])

CPU_SERVERS: dict[str, CpuServer] = _by_name([
    # RAGO paper section 4: AMD EPYC Milan-like host, 96 cores, 384 GB (read as 384 GiB of DIMMs), 460 GB/s;
    # ScaNN PQ scanning calibrated at 18 GB/s per core and ~80% memory-bandwidth utilisation.
    CpuServer(name="epyc-milan-96c", cores=96, scan_bytes_per_s_per_core=18 * GB, memory_bytes=384 * GIB,
              memory_bytes_per_s=460 * GB, memory_bandwidth_utilisation=0.8, source="RAGO section 4",
                price_usd_per_hour=7.344, purchase_usd=20000, power_w=800,
                price_source="estimate: AWS c6a.48xlarge on-demand, us-east-1 (192 vCPU EPYC Milan, 384 GiB); purchase and power estimates"),
])

MODELS: dict[str, TransformerModel] = _by_name([
    # Llama 3 family: Meta's model cards and config.json on huggingface.co/meta-llama (Llama-3.2-1B, Llama-3.2-3B,
    # Meta-Llama-3-8B, Meta-Llama-3-70B, Llama-3.1-405B).
    TransformerModel(name="llama3-1b", layers=16, hidden=2048, heads=32, kv_heads=8, ffn=8192, vocab=128256,
                     tied_embeddings=True, source="huggingface.co/meta-llama/Llama-3.2-1B config.json"),
    TransformerModel(name="llama3-3b", layers=28, hidden=3072, heads=24, kv_heads=8, ffn=8192, vocab=128256,
                     tied_embeddings=True, source="huggingface.co/meta-llama/Llama-3.2-3B config.json"),
    TransformerModel(name="llama3-8b", layers=32, hidden=4096, heads=32, kv_heads=8, ffn=14336, vocab=128256,
                     source="huggingface.co/meta-llama/Meta-Llama-3-8B config.json"),
    TransformerModel(name="llama3-70b", layers=80, hidden=8192, heads=64, kv_heads=8, ffn=28672, vocab=128256,
                     source="huggingface.co/meta-llama/Meta-Llama-3-70B config.json"),
    TransformerModel(name="llama3-405b", layers=126, hidden=16384, heads=128, kv_heads=8, ffn=53248, vocab=128256,
                     source="huggingface.co/meta-llama/Llama-3.1-405B config.json"),
    # Llama 2: Touvron et al. 2023 Table 1 and config.json on huggingface.co/meta-llama (Llama-2-7b, -13b, -70b).
    TransformerModel(name="llama2-7b", layers=32, hidden=4096, heads=32, kv_heads=32, ffn=11008, vocab=32000,
                     source="huggingface.co/meta-llama/Llama-2-7b-hf config.json"),
    TransformerModel(name="llama2-13b", layers=40, hidden=5120, heads=40, kv_heads=40, ffn=13824, vocab=32000,
                     source="huggingface.co/meta-llama/Llama-2-13b-hf config.json"),
    TransformerModel(name="llama2-70b", layers=80, hidden=8192, heads=64, kv_heads=8, ffn=28672, vocab=32000,
                     source="huggingface.co/meta-llama/Llama-2-70b-hf config.json"),
    # 120M sentence encoder (the RAGO encoder/reranker): BERT-base shape (Devlin et al. 2019), as used by
    # sentence-transformers (SBERT); encoder-only, plain GELU FFN, no LM head.
    TransformerModel(name="encoder-120m", layers=12, hidden=768, heads=12, kv_heads=12, ffn=3072, vocab=30522,
                     gated_ffn=False, decoder=False, source="BERT-base (Devlin et al. 2019) / SBERT"),
    TransformerModel(name="encoder-335m", layers=24, hidden=1024, heads=16, kv_heads=16, ffn=4096, vocab=30522,
                     gated_ffn=False, decoder=False, source="BERT-large (Devlin et al. 2019)"),
])


def _lookup(table: dict, name: str, what: str):
    if name not in table:
        raise ModelError(f"unknown {what} {name!r}. To fix: use one of {sorted(table)} (models/catalog.py)")
    return table[name]


def accelerator(name: str) -> Accelerator:
    return _lookup(ACCELERATORS, name, "accelerator")


def cpu_server(name: str) -> CpuServer:
    return _lookup(CPU_SERVERS, name, "CPU server")


def transformer(name: str) -> TransformerModel:
    return _lookup(MODELS, name, "model")
