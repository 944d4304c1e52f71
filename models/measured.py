"""Measured stage latencies: the CSV format, and the roofline's prediction of each row.

One row is one timed forward pass on one accelerator (``docs/model.md``, "Measured rows"):

    accelerator,model,phase,batch,new_tokens,context_tokens,precision,seconds[,layers_measured,layers_total]

- ``accelerator`` and ``model`` are catalog names (``models/catalog.py``);
- ``phase`` ``prefill``: ``batch`` sequences of ``new_tokens`` tokens each, the last ``new_tokens`` of
  ``context_tokens`` (causal for decoders; an encoder attends to all ``context_tokens``);
  ``decode``: one step of ``batch`` sequences, one new token each, attending to ``context_tokens`` cached tokens;
- ``precision`` ``bf16``/``fp16`` (2-byte weights, activations and KV) or ``fp8``/``int8`` (1-byte weights and
  KV, 2-byte activations, the 8-bit peak);
- ``seconds`` the whole model's time (a model measured on ``layers_measured`` of its ``layers_total`` layers is
  scaled to all of them before it is written; the two columns record that).

The prediction (``predict_s``) is the planner's own roofline (R1-R10) on one chip with memory capacity not
enforced, so that a row measured on a model that would not fit (scaled from a few layers) is still compared.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.catalog import Accelerator, TransformerModel, accelerator, transformer
from models.errors import ModelError
from models.roofline import Efficiency, Pass, Precision, pass_latency

__all__ = ["COLUMNS", "PRECISIONS", "CalibrationError", "MeasuredRow", "predict_s", "read_measured_csv",
           "row_pass", "write_measured_csv"]

#: Columns of a measured-rows CSV, in order (the last two optional).
COLUMNS = ("accelerator", "model", "phase", "batch", "new_tokens", "context_tokens", "precision", "seconds",
           "layers_measured", "layers_total")
#: Byte widths and compute precision per precision name.
PRECISIONS: dict[str, Precision] = {
    "bf16": Precision(2.0, 2.0, 2.0, "bf16"),
    "fp16": Precision(2.0, 2.0, 2.0, "bf16"),
    "fp8": Precision(1.0, 2.0, 1.0, "int8"),
    "int8": Precision(1.0, 2.0, 1.0, "int8"),
}
_NO_CAPACITY_LIMIT = 1e9  # hbm_usable: latency only; memory capacity is the planner's business, not the fit's


class CalibrationError(ModelError):
    """Measured rows or a calibration file are invalid, or a fit cannot be made from them."""


class MeasuredRow(BaseModel):
    """One measured pass; names resolve against the catalogs when the row is used."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accelerator: str
    model: str
    phase: Literal["prefill", "decode"]
    batch: Annotated[int, Field(gt=0, le=2**20)]
    new_tokens: Annotated[int, Field(gt=0, le=10**7)]
    context_tokens: Annotated[int, Field(gt=0, le=10**7)]
    precision: Literal["bf16", "fp16", "fp8", "int8"]
    seconds: Annotated[float, Field(gt=0, le=1e5, allow_inf_nan=False)]
    layers_measured: Annotated[int, Field(gt=0)] | None = None
    layers_total: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> MeasuredRow:
        if self.phase == "decode" and self.new_tokens != 1:
            raise ValueError(f"a decode row times one step of one new token per sequence, got new_tokens "
                             f"{self.new_tokens}. To fix: set new_tokens to 1 (or phase to prefill)")
        if self.context_tokens < self.new_tokens:
            raise ValueError(f"context_tokens {self.context_tokens} < new_tokens {self.new_tokens}: the context "
                             f"includes the new tokens. To fix: set context_tokens >= new_tokens")
        if (self.layers_measured is None) != (self.layers_total is None):
            raise ValueError("layers_measured and layers_total come together. To fix: give both or neither")
        if self.layers_measured is not None and self.layers_measured > self.layers_total:
            raise ValueError(f"layers_measured {self.layers_measured} > layers_total {self.layers_total}. To fix: "
                             f"correct the layer counts")
        return self

    @property
    def key(self) -> str:
        """The row's group in summaries: accelerator, model and phase."""
        return f"{self.accelerator} {self.model} {self.phase}"

    def resolve(self) -> tuple[Accelerator, TransformerModel, Precision]:
        """Catalog entries of the row; CalibrationError if a name is unknown or the layer count disagrees."""
        try:
            hw, model = accelerator(self.accelerator), transformer(self.model)
        except ModelError as exc:
            raise CalibrationError(f"measured row {self.key} batch {self.batch}: {exc}") from None
        if self.layers_total is not None and self.layers_total != model.layers:
            raise CalibrationError(f"measured row {self.key} batch {self.batch}: layers_total {self.layers_total} "
                                   f"but {model.name} has {model.layers} layers. To fix: name the model the rows "
                                   f"were measured on")
        return hw, model, PRECISIONS[self.precision]


def row_pass(row: MeasuredRow, model: TransformerModel) -> Pass:
    """The roofline pass of a row: a decoder's s new tokens attend on average to (c - s) + (s + 1) / 2 tokens
    (causal; a decode step: c), an encoder's to all c."""
    s, c = row.new_tokens, row.context_tokens
    ctx = (c - s) + (s + 1) / 2 if model.decoder else float(c)
    return Pass(s, ctx, c, model.decoder)


def predict_s(rows: list[MeasuredRow], eff: Efficiency) -> np.ndarray:
    """The roofline's time (s) of every row on one chip of the row's accelerator, with efficiencies ``eff``."""
    eff = dataclasses.replace(eff, hbm_usable=_NO_CAPACITY_LIMIT)
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        hw, model, prec = row.resolve()
        lat, _ = pass_latency(model, hw, prec, eff, 1, np.array([float(row.batch)]), row_pass(row, model),
                              waves=False)
        out[i] = float(lat[0])
    return out


def _cell_error(path: Path, line: int, exc: ValidationError) -> CalibrationError:
    e = exc.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "row"
    value = f" {str(e.get('input'))[:40]!r}" if e["loc"] else ""
    msg = e["msg"].removeprefix("Value error, ")
    fix = "" if "To fix" in msg else ". To fix: correct the value (docs/model.md, 'Measured rows')"
    return CalibrationError(f"{path} line {line}: {where}{value}: {msg}{fix}")


def read_measured_csv(path: str | Path) -> list[MeasuredRow]:
    """Rows of a measured-latency CSV; CalibrationError naming the line and column of the first bad cell."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"cannot read measured rows {path}: {getattr(exc, 'strerror', None) or exc}. To "
                               f"fix: give a CSV file of measured rows") from exc
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in COLUMNS[:8] if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if missing or unknown:
        raise CalibrationError(f"{path}: columns {header} lack {missing} and have unknown {unknown}. To fix: use the "
                               f"header {','.join(COLUMNS)} (the last two optional)")
    rows = []
    for line, raw in enumerate(reader, start=2):
        if None in raw or any(v is None for v in raw.values()):
            raise CalibrationError(f"{path} line {line}: {len(header)} columns expected. To fix: give every row "
                                   f"one value per column")
        cells = {k: v.strip() for k, v in raw.items() if v.strip() != ""}
        try:
            rows.append(MeasuredRow.model_validate({k: _number(k, v) for k, v in cells.items()}))
        except ValidationError as exc:
            raise _cell_error(path, line, exc) from None
    if not rows:
        raise CalibrationError(f"{path} has no rows. To fix: add measured rows below the header")
    return rows


def _number(column: str, text: str) -> object:
    """CSV text to the field's type; left as text when it does not parse, so the schema names the bad cell."""
    kind = {"seconds": float}.get(column, int if column in ("batch", "new_tokens", "context_tokens",
                                                             "layers_measured", "layers_total") else str)
    if kind is str:
        return text
    try:
        value = kind(text)
    except ValueError:
        return text
    return value if kind is int or math.isfinite(value) else text


def write_measured_csv(rows: list[MeasuredRow], path: str | Path) -> None:
    """Write rows in the CSV format (``read_measured_csv`` reads them back equal)."""
    with Path(path).open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow([r.accelerator, r.model, r.phase, r.batch, r.new_tokens, r.context_tokens, r.precision,
                        repr(r.seconds), r.layers_measured or "", r.layers_total or ""])
