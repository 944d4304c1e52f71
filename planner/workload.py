"""The traffic an instance serves, for the simulator (``docs/model.md``, "Simulation", D3): how long the answers
and how long the prompts are. The analytical model and the solvers price every sequence at the pipeline's
``decode_tokens`` and ``prompt_tokens``; the simulator draws each sequence's lengths from ``output_tokens`` and
``prompt_tokens`` (their means stay the pipeline's)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["LengthDistribution", "Workload", "draw_lengths"]


class LengthDistribution(BaseModel):
    """``fixed`` (every sequence the mean), ``uniform`` over [min_tokens, max_tokens], or ``lognormal`` with
    coefficient of variation ``cv`` (std / mean); the mean is the stage's ``decode_tokens`` (uniform: its own)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    kind: Literal["fixed", "uniform", "lognormal"] = "fixed"
    min_tokens: int | None = Field(None, ge=1, le=10**8)
    max_tokens: int | None = Field(None, ge=1, le=10**8)
    cv: float | None = Field(None, gt=0, le=100)

    @model_validator(mode="after")
    def _fields(self) -> "LengthDistribution":
        if self.kind == "uniform" and (self.min_tokens is None or self.max_tokens is None
                                       or self.min_tokens > self.max_tokens):
            raise ValueError(f"a uniform length needs min_tokens <= max_tokens (got {self.min_tokens}, "
                             f"{self.max_tokens}). To fix: give both, in order")
        if self.kind == "lognormal" and self.cv is None:
            raise ValueError("a lognormal length needs cv (std / mean, e.g. 0.5). To fix: give cv")
        return self


class Workload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    output_tokens: LengthDistribution = LengthDistribution()
    prompt_tokens: LengthDistribution = LengthDistribution()  # mean: the prefill stage's prompt_tokens


def draw_lengths(dist: LengthDistribution, mean: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n output lengths (whole tokens, at least 1)."""
    if dist.kind == "fixed":
        return np.full(n, mean, dtype=np.int64)
    if dist.kind == "uniform":
        return rng.integers(dist.min_tokens, dist.max_tokens + 1, n)
    sigma2 = np.log1p(dist.cv ** 2)  # lognormal with the given mean and cv
    x = rng.lognormal(np.log(mean) - sigma2 / 2, np.sqrt(sigma2), n)
    return np.maximum(1, np.rint(x)).astype(np.int64)
