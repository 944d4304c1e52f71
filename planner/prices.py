"""The user price file (YAML): prices of accelerator and CPU server types by name, overriding the catalog's cited
estimates field by field (rule M1, docs/model.md; read by ``planner.loader.load_prices``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from planner.schema import _Strict

__all__ = ["PriceEntry", "PriceFile"]


class PriceEntry(_Strict):
    """Prices of one resource (any field left out keeps the catalog's estimate)."""

    price_usd_per_hour: Annotated[float, Field(ge=0, le=1e6)] | None = None
    purchase_usd: Annotated[float, Field(ge=0, le=1e10)] | None = None
    power_w: Annotated[float, Field(ge=0, le=1e7)] | None = None
    source: str = "user price file"


class PriceFile(_Strict):
    """A user price file: overrides (or adds) prices of accelerator and CPU server types by name."""

    accelerators: dict[str, PriceEntry] = Field(default_factory=dict)
    cpu_servers: dict[str, PriceEntry] = Field(default_factory=dict)
