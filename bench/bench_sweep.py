"""A 200-scenario sweep of the paper instances (issue: scenario sweeps on Ray): sequential, local processes and
local Ray, each from an empty results folder; target: Ray within 1.2x the sequential time over the cores.

The grid: every paper instance (32) x 7 accelerators (XPU-A/B/C, H100, H200, B200, TPU v5p; a model that does not
fit a type is a failed scenario, reported, the sweep goes on) = 224 scenarios, power-of-two spaces, pareto.
Prints the times, the ratio and the failures; JSON in ``bench/results/sweep.json``.

Usage: python bench/bench_sweep.py [--out bench/results/sweep.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.scenarios import SweepSpec, run_sweep  # noqa: E402

SPEC = {"name": "paper-grid", "instances": ["instances/paper/*.yaml"],
        "overrides": {"accelerator": ["XPU-A", "XPU-B", "XPU-C", "H100", "H200", "B200", "TPU-v5p"]}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "sweep.json"))
    args = ap.parse_args()
    spec = SweepSpec.model_validate(SPEC)
    cores = os.cpu_count() or 1
    runs = {}
    for name, backend, workers in (("sequential", "local", 1), (f"local x{cores}", "local", cores),
                                   (f"ray ({cores} CPUs)", "ray", None)):
        out = Path(tempfile.mkdtemp(prefix="ragplan-sweep-"))
        t0 = time.perf_counter()
        rows, solved = run_sweep(spec, ROOT, out, backend=backend, workers=workers)
        runs[name] = {"seconds": time.perf_counter() - t0, "scenarios": len(rows), "solved": solved,
                      "failed": sum(r["status"] == "error" for r in rows),
                      "solve_seconds_sum": sum(r["seconds"] for r in rows)}
        shutil.rmtree(out)
        print(f"{name:16s} {runs[name]['seconds']:7.1f} s  {len(rows)} scenarios, {runs[name]['failed']} failed, "
              f"scenario time summed {runs[name]['solve_seconds_sum']:.1f} s", flush=True)
    seq = runs["sequential"]["seconds"]
    ray_s = runs[f"ray ({cores} CPUs)"]["seconds"]
    ratio = ray_s / (seq / cores)
    print(f"ray / (sequential / {cores} cores) = {ratio:.2f} (target <= 1.2)")
    Path(args.out).write_text(json.dumps({"cores": cores, "runs": runs, "ray_over_ideal": ratio}, indent=1) + "\n")


if __name__ == "__main__":
    main()
