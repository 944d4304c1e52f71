"""Scenario sweeps (``ragplan sweep SPEC.yaml``; docs/cli.md): a grid of instances x overrides, each scenario a
frontier (or a capacity answer) solved on its own, in parallel on local processes or on Ray, resumable.

- S-spec: ``instances`` (paths or globs, relative to the spec file), ``overrides`` (each key a list; the grid is
  their product with the instances), ``command`` (pareto or capacity), ``time_limit_s`` per scenario.
- A scenario's id is a hash of its instance file's path and content and its overrides: its result is
  ``OUT/scenarios/<id>.json`` (or ``<id>.error.json``: the one-line error, the sweep goes on); a scenario whose
  result exists is not solved again (resumable); ``OUT/summary.csv`` has one row per scenario.
- Backends: ``local`` (a process per core), ``ray`` (``ray.init(address)``: a local Ray instance, or a cluster's
  address; each scenario a task of one CPU, so a cluster runs as many at once as it has CPUs).
"""

from __future__ import annotations

import csv
import glob
import hashlib
import itertools
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.errors import EXPECTED_ERRORS, InstanceError

__all__ = ["Scenario", "SweepSpec", "load_spec", "plot_summary", "run_scenario", "run_sweep", "scenarios"]

OVERRIDES = ("accelerator", "chips", "batches", "placement", "ttft_max_s", "tpot_max_s", "qps_min",
             "total_chips_max", "model")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Overrides(_Spec):
    """Each key a list of values (None: the instance's own); the grid is their product."""

    accelerator: list[str | None] = [None]
    chips: list[Literal["pow2", "any"] | None] = [None]
    batches: list[Literal["pow2", "any"] | None] = [None]
    placement: list[Literal["all", "disaggregated", "collocated", "llm-extension"] | None] = [None]
    ttft_max_s: list[Annotated[float, Field(gt=0)] | None] = [None]
    tpot_max_s: list[Annotated[float, Field(gt=0)] | None] = [None]
    qps_min: list[Annotated[float, Field(gt=0)] | None] = [None]
    total_chips_max: list[Annotated[int, Field(gt=0)] | None] = [None]
    model: list[str | None] = [None]


class SweepSpec(_Spec):
    name: str = "sweep"
    instances: list[str] = Field(min_length=1)
    overrides: Overrides = Overrides()
    command: Literal["pareto", "capacity"] = "pareto"
    objective: Literal["chips", "cost", "capex", "power"] = "chips"
    time_limit_s: Annotated[float, Field(gt=0)] | None = None


@dataclass(frozen=True)
class Scenario:
    id: str
    instance: str  # absolute path
    overrides: dict
    command: str
    objective: str
    time_limit_s: float | None


def load_spec(path: str | Path) -> tuple[SweepSpec, Path]:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
        return SweepSpec.model_validate(data), path.parent
    except (OSError, yaml.YAMLError) as exc:
        raise InstanceError(f"cannot read the sweep spec {path}: {exc}. To fix: give a readable YAML file") from None
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(str(x) for x in e["loc"])
        raise InstanceError(f"{path}: invalid sweep spec: {where}: {e['msg']}. To fix: see docs/cli.md (ragplan "
                            f"sweep)") from None


def scenarios(spec: SweepSpec, base: Path) -> list[Scenario]:
    """The grid, in order: instances (globs expanded, sorted), then the overrides' product."""
    files: list[str] = []
    for pattern in spec.instances:
        hits = sorted(glob.glob(str(base / pattern)))
        if not hits:
            raise InstanceError(f"sweep instances {pattern!r} match no file under {base}. To fix: correct the path "
                                f"or glob (relative to the spec file)")
        files += [str(Path(h).resolve()) for h in hits if str(Path(h).resolve()) not in files]
    keys = list(Overrides.model_fields)
    out = []
    for f in files:
        content = Path(f).read_bytes()
        for combo in itertools.product(*(getattr(spec.overrides, k) for k in keys)):
            ov = {k: v for k, v in zip(keys, combo) if v is not None}
            key = json.dumps([f, hashlib.sha256(content).hexdigest(), ov, spec.command, spec.objective,
                              spec.time_limit_s], sort_keys=True)
            out.append(Scenario(hashlib.sha256(key.encode()).hexdigest()[:16], f, ov, spec.command, spec.objective,
                                spec.time_limit_s))
    return out


def _instance(sc: Scenario):
    from planner.loader import load_instance
    from planner.overrides import apply_overrides

    return apply_overrides(load_instance(sc.instance), spec=True, **sc.overrides)


def run_scenario(sc: Scenario, out_dir: str) -> dict:
    """Solve one scenario and write its result (or its error) under ``out_dir``/scenarios; returns its summary row.
    Never raises for an expected failure (bad instance, nothing feasible, out of time)."""
    from planner.capacity import capacity
    from planner.pareto import cpsat_frontier
    from planner.report import capacity_json, frontier_json
    from planner.space import build_space

    folder = Path(out_dir) / "scenarios"
    folder.mkdir(parents=True, exist_ok=True)
    row = {"id": sc.id, "instance": Path(sc.instance).stem, "command": sc.command} | {
        k: sc.overrides.get(k, "") for k in OVERRIDES}
    t0 = time.perf_counter()
    try:
        inst = _instance(sc)
        space = build_space(inst)
        if sc.command == "pareto":
            res = cpsat_frontier(space, time_limit_s=sc.time_limit_s)
            payload = frontier_json(res) | {"slo": inst.slo.model_dump()}
            best = max(res.points, key=lambda p: p.metrics.ratio)
            row |= {"status": "ok" if res.complete else "incomplete", "points": len(res.points),
                    "best_qps_per_chip": best.metrics.qps_per_chip, "min_ttft_s": res.points[0].metrics.ttft_s,
                    "solves": res.solves}
        else:
            if inst.slo.qps_min is None:
                raise InstanceError("a capacity sweep needs a QPS target. To fix: add overrides.qps_min")
            res = capacity(space, slo=inst.slo, objective=sc.objective, time_limit_s=sc.time_limit_s)
            payload = capacity_json(res)
            row |= {"status": "ok", "points": 1, "best_qps_per_chip": res.point.metrics.qps_per_chip,
                    "min_ttft_s": res.point.metrics.ttft_s, "solves": res.solves,
                    "objective_value": {"chips": res.point.metrics.chips, "cost": res.point.metrics.cost_usd_per_hour,
                                        "capex": res.point.metrics.capex_usd,
                                        "power": res.point.metrics.power_w}[sc.objective]}
        payload |= {"scenario": {"id": sc.id, "instance": sc.instance, "overrides": sc.overrides}}
        (folder / f"{sc.id}.json").write_text(json.dumps(payload, indent=1) + "\n")
    except EXPECTED_ERRORS as exc:
        row |= {"status": "error", "error": str(exc)}
        (folder / f"{sc.id}.error.json").write_text(json.dumps(row, indent=1) + "\n")
    row["seconds"] = time.perf_counter() - t0
    (folder / f"{sc.id}.row.json").write_text(json.dumps(row) + "\n")
    return row


def _done(sc: Scenario, out_dir: Path) -> dict | None:
    f = out_dir / "scenarios" / f"{sc.id}.row.json"
    return json.loads(f.read_text()) if f.exists() else None


def run_sweep(spec: SweepSpec, base: Path, out_dir: str | Path, backend: str = "local", address: str | None = None,
              workers: int | None = None, progress=None) -> tuple[list[dict], int]:
    """Every scenario's summary row (in grid order) and how many were solved now (the others were done before);
    writes ``summary.csv``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    grid = scenarios(spec, base)
    rows: dict[str, dict] = {}
    todo = []
    for sc in grid:
        row = _done(sc, out_dir)
        if row is None:
            todo.append(sc)
        else:
            rows[sc.id] = row

    def tick(row: dict) -> None:
        rows[row["id"]] = row
        if progress:
            bar = "#" * (20 * len(rows) // len(grid))
            progress(f"[{bar:<20}] {len(rows)}/{len(grid)} scenarios ({sum(r['status'] == 'error' for r in rows.values())}"
                     f" failed); last: {row['instance']} {row['status']} in {row['seconds']:.2f} s")

    if todo and backend == "ray":
        _run_ray(todo, out_dir, address, tick)
    elif todo:
        _run_local(todo, out_dir, workers or os.cpu_count() or 1, tick)
    ordered = [rows[sc.id] for sc in grid]
    _write_csv(ordered, out_dir / "summary.csv")
    return ordered, len(todo)


def _run_local(todo: list[Scenario], out_dir: Path, workers: int, tick) -> None:
    if workers == 1:
        for sc in todo:
            tick(run_scenario(sc, str(out_dir)))
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_scenario, sc, str(out_dir)) for sc in todo]
        for fut in as_completed(futures):
            tick(fut.result())


def _run_ray(todo: list[Scenario], out_dir: Path, address: str | None, tick) -> None:
    try:
        import ray
    except ImportError:
        raise InstanceError("--backend ray needs Ray (the sweep extra). To fix: pip install -e '.[sweep]'") from None
    if address and address not in ("auto", "local"):
        _reachable(address)
    started = not ray.is_initialized()
    early: list[dict] = []
    rest = todo
    if started:  # the driver solves scenarios itself while Ray starts (about 2 s of process start-ups)
        lock, up, taken = threading.Lock(), threading.Event(), [0]

        def meanwhile() -> None:
            while not up.is_set():
                with lock:
                    if taken[0] >= len(todo):
                        return
                    sc, taken[0] = todo[taken[0]], taken[0] + 1
                early.append(run_scenario(sc, str(out_dir)))

        worker = threading.Thread(target=meanwhile, daemon=True)
        worker.start()
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        except (ConnectionError, TimeoutError, RuntimeError) as exc:
            raise InstanceError(f"Ray did not start (address {address or 'local'}): {exc}. To fix: check the "
                                f"cluster (ray status) or run without --address") from exc
        finally:
            up.set()
            with lock:
                rest, taken[0] = todo[taken[0]:], len(todo)
    try:
        task = ray.remote(num_cpus=1)(run_scenario)
        pending = [task.remote(sc, str(out_dir)) for sc in rest]
        if started:
            worker.join()  # its last scenario runs beside the first tasks
            for row in early:
                tick(row)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for r in ready:
                tick(ray.get(r))
    finally:
        if started:
            ray.shutdown()


def _reachable(address: str, timeout_s: float = 5.0) -> None:
    """A cluster address that accepts no connection fails at once (Ray would retry for minutes)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            return
    except (OSError, ValueError) as exc:
        raise InstanceError(f"--address {address!r}: no Ray cluster answers there ({exc}). To fix: start one "
                            f"(ray start --head) or give its HOST:PORT; without --address a local Ray instance "
                            f"runs") from None


def _write_csv(rows: list[dict], path: Path) -> None:
    cols = ["id", "instance", "command", *OVERRIDES, "status", "points", "best_qps_per_chip", "min_ttft_s",
            "objective_value", "solves", "seconds", "error"]
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)


def plot_summary(rows: list[dict], path: Path) -> None:
    """Each solved scenario's best QPS/chip against its least TTFT, one colour per instance (a PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    ok = [r for r in rows if r.get("status") in ("ok", "incomplete")]
    for name in sorted({r["instance"] for r in ok}):
        mine = [r for r in ok if r["instance"] == name]
        ax.scatter([r["min_ttft_s"] for r in mine], [r["best_qps_per_chip"] for r in mine], label=name, s=18)
    ax.set_xscale("log")
    ax.set_xlabel("least TTFT (s)")
    ax.set_ylabel("best QPS per chip")
    failed = len(rows) - len(ok)
    ax.set_title(f"{len(rows)} scenarios ({failed} failed)")
    if ok and len({r["instance"] for r in ok}) <= 12:
        ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
