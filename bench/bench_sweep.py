"""A 200-scenario sweep of the paper instances (issue: scenario sweeps on Ray): sequential, local processes and
local Ray, each from an empty results folder; target: Ray within 1.2x the sequential time over the cores. Ray runs
twice: starting and stopping its local instance within the timed run (``ragplan sweep --backend ray``), and against a
local cluster started before the clock (``ray start --head``, then ``--address auto``: how a cluster is used).

Two grids, each every paper instance (32) x 7 accelerators (XPU-A/B/C, H100, H200, B200, TPU v5p; a model that does
not fit a type is a failed scenario, reported, the sweep goes on) = 224 pareto scenarios:
- ``pow2``: the instances' power-of-two spaces (about 0.15 s a scenario: Ray's fixed start and stop dominate);
- ``any``: the same with ``chips: any`` (every chip count; seconds a scenario, the kind of sweep worth a cluster).
Prints the times, the ratio and the failures per grid; JSON in ``bench/results/sweep.json``.

Usage: python bench/bench_sweep.py [--grids pow2 any] [--out bench/results/sweep.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.scenarios import SweepSpec, run_sweep  # noqa: E402

ACCELERATORS = ["XPU-A", "XPU-B", "XPU-C", "H100", "H200", "B200", "TPU-v5p"]
GRIDS = {"pow2": {"name": "paper-grid", "instances": ["instances/paper/*.yaml"],
                  "overrides": {"accelerator": ACCELERATORS}},
         "any": {"name": "paper-grid-any", "instances": ["instances/paper/*.yaml"],
                 "overrides": {"accelerator": ACCELERATORS, "chips": ["any"]}}}


def run_grid(grid: str, cores: int) -> dict:
    spec = SweepSpec.model_validate(GRIDS[grid])
    runs = {}
    for name, backend, workers in (("sequential", "local", 1), (f"local x{cores}", "local", cores),
                                   (f"ray ({cores} CPUs)", "ray", None), ("ray, cluster up", "ray", "up")):
        out = Path(tempfile.mkdtemp(prefix="ragplan-sweep-"))
        address = None
        if workers == "up":  # a local cluster started before the clock (as a cluster is, in production)
            subprocess.run(["ray", "start", "--head", f"--num-cpus={cores}", "--include-dashboard=false",
                            "--disable-usage-stats"], check=True, capture_output=True)
            address, workers = "auto", None
        t0 = time.perf_counter()
        try:
            rows, solved = run_sweep(spec, ROOT, out, backend=backend, address=address, workers=workers)
        finally:
            if address:
                seconds = time.perf_counter() - t0
                subprocess.run(["ray", "stop"], check=True, capture_output=True)
        runs[name] = {"seconds": seconds if address else time.perf_counter() - t0, "scenarios": len(rows),
                      "solved": solved,
                      "failed": sum(r["status"] == "error" for r in rows),
                      "solve_seconds_sum": sum(r["seconds"] for r in rows)}
        shutil.rmtree(out)
        print(f"{grid:5s} {name:16s} {runs[name]['seconds']:7.1f} s  {len(rows)} scenarios, {runs[name]['failed']} "
              f"failed, scenario time summed {runs[name]['solve_seconds_sum']:.1f} s", flush=True)
    seq = runs["sequential"]["seconds"]
    ratio = runs[f"ray ({cores} CPUs)"]["seconds"] / (seq / cores)
    up = runs["ray, cluster up"]["seconds"] / (seq / cores)
    local = runs[f"local x{cores}"]["seconds"] / (seq / cores)
    print(f"{grid:5s} ray / (sequential / {cores} cores) = {ratio:.2f} (target <= 1.2; Ray started and stopped "
          f"within), {up:.2f} with the local cluster up before; local pool {local:.2f}")
    return {"runs": runs, "ray_over_ideal": ratio, "ray_cluster_up_over_ideal": up, "local_over_ideal": local}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--grids", nargs="*", choices=sorted(GRIDS), default=["pow2", "any"])
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "sweep.json"))
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    grids = {g: run_grid(g, cores) for g in args.grids}
    Path(args.out).write_text(json.dumps({"cores": cores, "grids": grids}, indent=1) + "\n")


if __name__ == "__main__":
    main()
