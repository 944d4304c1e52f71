"""Overrides of an instance from the command line (``ragplan pareto --chips any ...``) and from a sweep spec's
grid (``overrides:``), one implementation for both."""

from __future__ import annotations

from pathlib import Path

from models.calibration import load_calibration
from planner.costs import offer_types
from planner.errors import InstanceError
from planner.loader import load_prices, with_search
from planner.schema import Instance, clip

__all__ = ["apply_overrides", "with_accelerator", "with_calibration"]


def _name(option: str, spec: bool) -> str:
    return f"overrides.{option}" if spec else f"--{option.replace('_', '-')}"


def with_accelerator(inst: Instance, name: str | None, spec: bool = False) -> Instance:
    """Other catalog accelerator(s) (comma-separated: the types offered to every group)."""
    if not name:
        return inst
    if inst.cost.kind != "analytical":
        raise InstanceError(f"{_name('accelerator', spec)} {clip(name)} needs an analytical cost source; {inst.name} "
                            f"uses {inst.cost.kind}. To fix: drop it or use an instance with cost.kind: analytical")
    return offer_types(inst, [n.strip() for n in name.split(",") if n.strip()])


def _with_prices(inst: Instance, path: str | None) -> Instance:
    """A price YAML (relative to the working folder) overriding the catalog's estimates."""
    if not path:
        return inst
    load_prices(path)  # a bad file fails here, with its own message
    return inst.model_copy(update={"cost": inst.cost.model_copy(update={"prices": str(Path(path).resolve())})})


def with_calibration(inst: Instance, value: str | None) -> Instance:
    """default, none or a calibration JSON (relative to the working folder)."""
    if not value:
        return inst
    if inst.cost.kind != "analytical":
        raise InstanceError(f"--calibration {clip(value)} needs an analytical cost source; {inst.name} uses "
                            f"{inst.cost.kind} (measured profiles need no calibration). To fix: drop --calibration")
    if value not in ("default", "none"):
        load_calibration(value)  # a bad file fails here, with its own message
        value = str(Path(value).resolve())
    return inst.model_copy(update={"cost": inst.cost.model_copy(update={"calibration": value})})


def apply_overrides(inst: Instance, *, accelerator: str | None = None, prices: str | None = None,
                    calibration: str | None = None, chips: str | None = None, batches: str | None = None,
                    placement: str | None = None, burst: int | str | None = None, ttft_max_s: float | None = None,
                    tpot_max_s: float | None = None, qps_min: float | None = None,
                    total_chips_max: int | None = None, model: str | None = None, spec: bool = False) -> Instance:
    """The instance with each given override (None: the instance's own); ``spec``: name them as a sweep spec's."""
    inst = _with_prices(with_calibration(with_accelerator(inst, accelerator, spec), calibration), prices)
    search = {k: v for k, v in (("chips", chips), ("batches", batches), ("placement", placement)) if v is not None}
    if chips == "any":
        search["chip_options"] = {}  # every count 1..max_chips_per_stage, whatever the instance lists
        search["collocated_chip_options"] = {}
    if burst is not None:  # MB1: micro-batch a burst (fixed R, or searched: R = the largest b_s)
        search |= {"micro_batching": True, "burst_requests": None if burst == "search" else burst}
    if total_chips_max is not None:
        search["total_chips"] = inst.search.total_chips.model_copy(update={
            "max": total_chips_max, "min": min(inst.search.total_chips.min, total_chips_max)})
    inst = with_search(inst, search) if search else inst
    if model is not None:  # the main model, prefill and decode
        stages = [s.model_copy(update={"model": model}) if s.kind in ("prefill", "decode") else s
                  for s in inst.pipeline.stages]
        inst = inst.model_copy(update={"pipeline": inst.pipeline.model_copy(update={"stages": stages})})
    slo = {k: v for k, v in (("ttft_max_s", ttft_max_s), ("tpot_max_s", tpot_max_s), ("qps_min", qps_min))
           if v is not None}
    return inst.model_copy(update={"slo": inst.slo.model_copy(update=slo)})
