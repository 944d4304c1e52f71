"""Speed at scale (issue: speed at scale): frontier time on `any` spaces and on growing chip budgets.

1. Shipped instances with `--chips any --batches any` (chip lists dropped): time, points, CP-SAT solves (the
   by-batch sweep of the iterative-retrieval case3 instances, IR5-IR8: keys evaluated), peak memory, complete and
   proven.
2. Chip budgets 128 .. 65,536 (total max = per-stage max = budget) on rago-oss case4 (its chip lists dropped) and on
   paper case1-8b, pow2 spaces.
3. The case3 instances with `--chips any` (their power-of-two batches).
4. case3-70b and case3-8b with `batches: any` up to 64 (64 x 64 (B, b_it) columns): the by-batch sweep and the
   CP-SAT columns (C16-C17) on the same space; the frontiers must be the same.
Each run is its own subprocess (peak RSS per run) under ``--time-limit-s`` (default 120 s; an incomplete frontier is
reported as such). Each frontier's exact key (TTFT ps, decode ps, chips per point) is stored in
``bench/results/scale-frontiers/``; a later run compares against it and says whether any point changed.

Usage: python bench/bench_scale.py [--instances NAME ...] [--budgets 128 1024 ...] [--time-limit-s 120]
       [--skip-instances] [--skip-budgets] [--out bench/results/scale.json]
Times are wall-clock seconds on this machine; compare ratios measured in one run, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRONTIERS = ROOT / "bench" / "results" / "scale-frontiers"
CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from planner import build_space, load_instance
from planner.cpsat import Clock, SliceSweep, SolverSettings, sweep_for
from planner.pareto import union_frontier
from planner.schema import IntRange
inst = load_instance({path!r})
search = json.loads({search!r})
columns = search.pop("columns", False)
if "budget" in search:
    b = search.pop("budget")
    search |= {{"total_chips": IntRange(min=inst.search.total_chips.min, max=b), "max_chips_per_stage": b}}
inst = inst.model_copy(update={{"search": inst.search.model_copy(update=search)}})
t0 = time.perf_counter()
space = build_space(inst)
# cpsat_frontier's sweep (or the CP-SAT columns even where the by-batch sweep applies), kept for its counts
w = (SliceSweep if columns else sweep_for)(space, inst.slo, SolverSettings(1, 0), Clock({limit}))
found, stopped = union_frontier([w], [space], inst.slo)
pts = sorted((p for _, p in found), key=lambda p: p.metrics.ttft_ps)
print(json.dumps({{"seconds": time.perf_counter() - t0, "points": len(pts), "solves": w.solves,
                  "keys": getattr(w, "keys", 0), "complete": not stopped,
                  "proven": all(p.proven_optimal for p in pts),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "key": [[p.metrics.ttft_ps, p.metrics.decode_ps, p.metrics.chips] for p in pts]}}))
"""


def run(name: str, path: Path, search: dict, limit: float, ref: str | None = None) -> dict:
    """One frontier in a subprocess; compared with the stored frontier ``ref`` (default: its own name)."""
    code = CHILD.format(root=str(ROOT), path=str(path), search=json.dumps(search), limit=limit)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=limit * 3 + 600)
    if out.returncode != 0:
        row = {"name": name, "error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
        print(f"  {name:34s} error: {row['error'][:150]}", flush=True)
        return row
    row = json.loads(out.stdout.strip().splitlines()[-1]) | {"name": name}
    ref = FRONTIERS / f"{ref or name}.json"
    row["same_as_before"] = None  # incomplete, or a first run (then stored as the reference)
    if ref.exists() and row["complete"]:
        row["same_as_before"] = json.loads(ref.read_text()) == row["key"]
    elif row["complete"]:
        FRONTIERS.mkdir(parents=True, exist_ok=True)
        ref.write_text(json.dumps(row["key"]) + "\n")
    row.pop("key")
    work = f"{row['keys']:6d} keys  " if row.get("keys") else f"{row['solves']:6d} solves"
    print(f"  {name:34s} {row['seconds']:8.1f} s {row['points']:5d} points {work} "
          f"{row['peak_mib']:7.0f} MiB {'complete' if row['complete'] else 'INCOMPLETE'} "
          f"{'proven' if row['proven'] else 'NOT proven'} same: {row['same_as_before']}", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", nargs="*", default=None, help="names like rago-oss/case4, paper/case4-70b")
    ap.add_argument("--budgets", nargs="*", type=int, default=[128, 512, 2048, 8192, 65536])
    ap.add_argument("--time-limit-s", type=float, default=120.0)
    ap.add_argument("--skip-instances", action="store_true")
    ap.add_argument("--skip-budgets", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "scale.json"))
    args = ap.parse_args()
    names = [n for n in args.instances if n] if args.instances else [f"rago-oss/{c}" for c in ("case1", "case2", "case4")] + sorted(
        f"paper/{p.stem}" for p in (ROOT / "instances" / "paper").glob("*.yaml"))
    rows = []
    if not args.skip_instances:
        print("1. shipped instances, --chips any --batches any")
        for n in names:
            rows.append(run(f"{n.replace('/', '-')}-any", ROOT / "instances" / f"{n}.yaml",
                            {"chips": "any", "batches": "any", "chip_options": {}}, args.time_limit_s))
    if not args.skip_budgets:
        print("2. chip budgets (total max = per-stage max), pow2")
        for n in ("rago-oss/case4", "paper/case1-8b"):
            for b in args.budgets:
                rows.append(run(f"{n.replace('/', '-')}-budget-{b}", ROOT / "instances" / f"{n}.yaml",
                                {"chip_options": {}, "budget": b}, args.time_limit_s))
    if not args.skip_instances and not args.instances:
        print("3. iterative retrieval (case3), --chips any, batches pow2")
        for p in sorted((ROOT / "instances" / "paper").glob("case3-*.yaml")):
            rows.append(run(f"paper-{p.stem}-any-chips", p, {"chips": "any", "chip_options": {}}, args.time_limit_s))
        print("4. case3, --chips any --batches any up to 64: by batch (IR5-IR8) and by (B, b_it) column (C16-C17)")
        for stem in ("case3-70b", "case3-8b"):
            p = ROOT / "instances" / "paper" / f"{stem}.yaml"
            small = {"chips": "any", "batches": "any", "max_batch_size": 64, "chip_options": {}}
            rows.append(run(f"paper-{stem}-any-64", p, small, args.time_limit_s))
            rows.append(run(f"paper-{stem}-any-64-columns", p, small | {"columns": True}, args.time_limit_s,
                            ref=f"paper-{stem}-any-64"))
    Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
