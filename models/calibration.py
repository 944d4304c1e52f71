"""Calibration of the roofline against measured rows (``docs/model.md``, rules C1-C5).

- C1 form: a row's predicted time is the roofline R1-R10 on one chip of its accelerator with four explicit
  parameters: compute efficiency eta_c and memory efficiency eta_m (fractions of the datasheet peaks), and the
  fixed per-layer overheads tau_dec and tau_enc (seconds per decoder / encoder layer per pass).
- C2 fit: theta = (eta_c, eta_m, tau_dec, tau_enc) minimises sum_i (log t_hat_i(theta) - log t_i)^2 (relative
  error, so a 0.5 ms encoder row weighs as much as a 7 s prefill), subject to 1e-4 <= eta <= 1 and
  0 <= tau <= 0.1 s, by scipy's trust-region reflective least squares from eta = 0.7, tau = 10 us. An overhead
  no row identifies (no encoder rows: tau_enc) is not fitted but *tied* to the other one, and says so.
  Standard errors come from the Jacobian at the optimum: cov = s^2 (J^T J)^-1, s^2 = SSR / (n - k).
- C3 errors: e_i = t_hat_i / t_i - 1; a report gives median |e| and the largest ratio max(t_hat/t, t/t_hat).
- C4 transfer: the parameters are relative to datasheets (eta) or absolute per-layer times (tau), so a
  calibration fitted on one accelerator applies to any other, its efficiencies scaling that one's peaks. It is
  the default for accelerators of its ``vendor`` family (``SHIPPED``); others keep the datasheet (eta = 1,
  tau = 0), stated in every cost description.
- C5 what the form leaves out: tensor/pipeline links (``link``, ``link_latency_s``) and HBM capacity are not
  calibrated (the rows are single-chip latencies); they keep their configured values.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.catalog import accelerator
from models.measured import CalibrationError, MeasuredRow, predict_s
from models.roofline import Efficiency

__all__ = ["FORMAT", "PARAMETERS", "SHIPPED", "Calibration", "check", "fit", "load_calibration",
           "shipped_calibration"]

FORMAT = "ragplan-calibration/1"
#: Calibrations that ship with ragplan, by accelerator vendor (C4).
SHIPPED: dict[str, Path] = {"nvidia": Path(__file__).parent / "data" / "h100-bf16.json"}
#: C1's parameters: name -> (Efficiency field, lower bound, upper bound, start).
PARAMETERS: dict[str, tuple[str, float, float, float]] = {
    "compute_efficiency": ("compute", 1e-4, 1.0, 0.7),
    "memory_efficiency": ("memory", 1e-4, 1.0, 0.7),
    "decoder_layer_overhead_s": ("decoder_layer_overhead_s", 0.0, 0.1, 1e-5),
    "encoder_layer_overhead_s": ("encoder_layer_overhead_s", 0.0, 0.1, 1e-5),
}
_OTHER_LAYER = {"decoder_layer_overhead_s": "encoder_layer_overhead_s",
                "encoder_layer_overhead_s": "decoder_layer_overhead_s"}
Efficiency01 = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
Overhead = Annotated[float, Field(ge=0, le=0.1, allow_inf_nan=False)]
Stat = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Calibration(BaseModel):
    """Fitted roofline parameters (C1) with their provenance and fit quality (a ``--out`` JSON file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["ragplan-calibration/1"] = FORMAT
    name: str
    vendor: str = Field(description="accelerator family it is the default for (C4)")
    fitted_on: list[str] = Field(description="accelerators of the rows it was fitted on")
    source: str = Field(description="the measured-rows file")
    rows: Annotated[int, Field(gt=0)]
    compute_efficiency: Efficiency01
    memory_efficiency: Efficiency01
    decoder_layer_overhead_s: Overhead
    encoder_layer_overhead_s: Overhead
    tied: list[str] = Field(default_factory=list, description="parameters no row identified (C2)")
    standard_errors: dict[str, Stat] = Field(default_factory=dict)
    median_abs_error: Stat
    max_error_ratio: Stat
    datasheet_median_abs_error: Stat
    datasheet_max_error_ratio: Stat

    def efficiency(self, base: Efficiency | None = None) -> Efficiency:
        """``base`` (default: the datasheet's) with C1's four parameters replaced by the fitted ones."""
        return dataclasses.replace(base or Efficiency(), **{field: getattr(self, name) for name, (field, *_) in PARAMETERS.items()})

    @property
    def summary(self) -> str:
        return (f"calibrated on {self.rows} measured {'/'.join(self.fitted_on)} rows ({self.name}), median error "
                f"{self.median_abs_error:.1%}, max {self.max_error_ratio:.2f}x")


def _errors(pred: np.ndarray, meas: np.ndarray) -> tuple[np.ndarray, float, float]:
    """C3: per-row error, median |error|, largest ratio."""
    ratio = pred / meas
    return ratio - 1.0, float(np.median(np.abs(ratio - 1.0))), float(np.max(np.maximum(ratio, 1.0 / ratio)))


def fit(rows: list[MeasuredRow], name: str, source: str, *, tie_overheads: bool = False,
        overheads: bool = True) -> Calibration:
    """C2: the least-squares fit of C1 on ``rows`` (``tie_overheads``/``overheads``: the simpler forms that
    ``bench/calibration_forms.py`` compares)."""
    from scipy.optimize import least_squares  # imported here: planning never loads scipy

    is_decoder = [r.resolve()[1].decoder for r in rows]  # resolving checks every name once, before any fit
    vendors = sorted({accelerator(r.accelerator).vendor for r in rows})
    if len(vendors) != 1:
        raise CalibrationError(f"rows mix accelerator families {vendors}: a calibration is the default for one "
                               f"family. To fix: fit each family's rows on their own")
    meas = np.array([r.seconds for r in rows])
    decoders, encoders = any(is_decoder), not all(is_decoder)
    free = ["compute_efficiency", "memory_efficiency"]
    tied: list[str] = []
    if overheads:
        if tie_overheads or not encoders:
            free.append("decoder_layer_overhead_s")
            tied.append("encoder_layer_overhead_s")
        elif not decoders:
            free.append("encoder_layer_overhead_s")
            tied.append("decoder_layer_overhead_s")
        else:
            free += ["decoder_layer_overhead_s", "encoder_layer_overhead_s"]
    if len(rows) <= len(free):
        raise CalibrationError(f"{len(rows)} rows cannot fit {len(free)} parameters {free}. To fix: measure more "
                               f"batch sizes (at least {len(free) + 1} rows; a dozen per model and phase is better)")

    def efficiency(theta: np.ndarray) -> Efficiency:
        values = dict(zip(free, theta))
        for t in tied:  # the other layer type's overhead
            values[t] = values[_OTHER_LAYER[t]]
        return dataclasses.replace(Efficiency(), **{PARAMETERS[k][0]: float(v) for k, v in values.items()})

    lo = np.array([PARAMETERS[k][1] for k in free])
    hi = np.array([PARAMETERS[k][2] for k in free])
    x0 = np.array([PARAMETERS[k][3] for k in free])
    scale = np.array([1.0 if k.endswith("efficiency") else 1e-5 for k in free])
    res = least_squares(lambda th: np.log(predict_s(rows, efficiency(th)) / meas), x0, bounds=(lo, hi),
                        x_scale=scale, method="trf", xtol=1e-12, ftol=1e-12, gtol=1e-12)
    eff = efficiency(res.x)
    _, med, worst = _errors(predict_s(rows, eff), meas)
    _, dmed, dworst = _errors(predict_s(rows, Efficiency()), meas)
    return Calibration(name=name, vendor=vendors[0], fitted_on=sorted({r.accelerator for r in rows}), source=source,
                       rows=len(rows), compute_efficiency=eff.compute, memory_efficiency=eff.memory,
                       decoder_layer_overhead_s=eff.decoder_layer_overhead_s,
                       encoder_layer_overhead_s=eff.encoder_layer_overhead_s, tied=tied,
                       standard_errors=_standard_errors(res, free, len(rows)), median_abs_error=med,
                       max_error_ratio=worst, datasheet_median_abs_error=dmed, datasheet_max_error_ratio=dworst)


def _standard_errors(res, free: list[str], n: int) -> dict[str, float]:
    """C2: sqrt(diag(s^2 (J^T J)^-1)); a parameter the rows do not determine gets none (singular J^T J)."""
    dof = n - len(free)
    s2 = float(np.sum(res.fun**2)) / dof
    jtj = res.jac.T @ res.jac
    if np.linalg.matrix_rank(jtj) < len(free):
        return {}
    cov = np.linalg.inv(jtj) * s2
    return {k: float(np.sqrt(max(cov[i, i], 0.0))) for i, k in enumerate(free)}


def check(rows: list[MeasuredRow], calibration: Calibration | None) -> dict:
    """C3 for ``rows`` under ``calibration`` (None: the datasheet roofline): per-row and per-group errors."""
    eff = calibration.efficiency() if calibration else Efficiency()
    meas = np.array([r.seconds for r in rows])
    pred = predict_s(rows, eff)
    err, med, worst = _errors(pred, meas)
    family = calibration.vendor if calibration else None
    out_rows = [{**r.model_dump(), "predicted_s": float(p), "error": float(e),
                 "in_family": family is None or accelerator(r.accelerator).vendor == family}
                for r, p, e in zip(rows, pred, err)]
    groups: dict[str, list[float]] = {}
    for r, e in zip(rows, err):
        groups.setdefault(r.key, []).append(float(e))
    return {
        "calibration": calibration.name if calibration else "datasheet",
        "calibration_summary": calibration.summary if calibration else "datasheet peaks, no overheads",
        "rows_compared": len(rows), "median_abs_error": med, "max_error_ratio": worst,
        "groups": [{"group": k, "rows": len(v), "median_abs_error": float(np.median(np.abs(v))),
                    "max_error_ratio": float(max(max(1 + e, 1 / (1 + e)) for e in v))} for k, v in groups.items()],
        "rows": out_rows,
    }


def load_calibration(path: str | Path) -> Calibration:
    """A calibration JSON written by ``ragplan calibrate fit``; CalibrationError says what is wrong with it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"cannot read calibration {path}: {getattr(exc, 'strerror', None) or exc}. To fix: "
                               f"give a JSON file written by 'ragplan calibrate fit --out'") from exc
    try:
        return Calibration.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e["loc"]) or "file"
        raise CalibrationError(f"calibration {path}: {where}: {e['msg']}. To fix: write it again with 'ragplan "
                               f"calibrate fit --out'") from exc


def shipped_calibration(vendor: str) -> Calibration | None:
    """C4: the calibration ragplan ships for an accelerator family, or None (datasheet peaks)."""
    return load_calibration(SHIPPED[vendor]) if vendor in SHIPPED else None
