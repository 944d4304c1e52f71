"""Benchmark of the CP-SAT planner (issue: CP-SAT planner). Prints tables and writes JSON.

1. rago-oss case1/2/4 on the power-of-two space: CP-SAT frontier vs exhaustive (same points? time ratio).
2. The same cases on the ``any`` space (every chip count 1..64 per stage, every batch 1..1024): time, points,
   all proven?, max QPS/chip and min TTFT against the power-of-two optimum.
3. Solve time as the chip budget grows (case4 without its chip lists, and paper case1-1b whose analytical retrieval
   has a bucket per server count; per-stage max = total max = budget).

Usage: python bench/bench_cpsat.py [--out bench/results/cpsat.json] [--skip-any] [--budgets 128 512 2048 8192]
Times are wall-clock seconds on this machine; compare ratios measured in one run, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner import build_space, exhaustive_frontier, load_instance  # noqa: E402
from planner.pareto import cpsat_frontier  # noqa: E402
from planner.schema import IntRange  # noqa: E402

CASES = ["case1", "case2", "case4"]


def _instance(case: str, **search):
    inst = load_instance(ROOT / "instances" / "rago-oss" / f"{case}.yaml")
    return inst.model_copy(update={"search": inst.search.model_copy(update=search)})


def _key(points):
    """Exact: TTFT and whole decode (ps) and chips of every point (F2 fixes these; QPS/chip may differ < 1e-9)."""
    return [(p.metrics.ttft_ps, p.metrics.decode_ps, p.metrics.chips) for p in points]


def _timed(fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t


def pow2_rows(workers: int) -> list[dict]:
    rows = []
    for case in CASES:
        space = build_space(_instance(case))
        ex, t_ex = _timed(exhaustive_frontier, space)
        cp, t_cp = _timed(cpsat_frontier, space, workers=workers)
        rows.append({"case": case, "points": len(cp.points), "identical": _key(ex.points) == _key(cp.points),
                     "exhaustive_s": t_ex, "cpsat_s": t_cp, "cpsat_over_exhaustive": t_cp / t_ex,
                     "cpsat_solves": cp.solves, "schedules_enumerated": ex.schedules_evaluated,
                     "all_proven": all(p.proven_optimal for p in cp.points),
                     "max_qps_per_chip": max(p.metrics.qps_per_chip for p in cp.points),
                     "min_ttft_s": min(p.metrics.ttft_s for p in cp.points)})
    return rows


def any_rows(pow2: list[dict], workers: int) -> list[dict]:
    rows = []
    for case, base in zip(CASES, pow2):
        space = build_space(_instance(case, chips="any", batches="any", chip_options={}))
        cp, t = _timed(cpsat_frontier, space, workers=workers)
        best = max(cp.points, key=lambda p: p.metrics.qps_per_chip)
        rows.append({"case": case, "points": len(cp.points), "cpsat_s": t, "cpsat_solves": cp.solves,
                     "all_proven": all(p.proven_optimal for p in cp.points),
                     "max_qps_per_chip": best.metrics.qps_per_chip,
                     "gain_max_qps_per_chip": best.metrics.qps_per_chip / base["max_qps_per_chip"] - 1,
                     "min_ttft_s": min(p.metrics.ttft_s for p in cp.points),
                     "min_ttft_change": min(p.metrics.ttft_s for p in cp.points) / base["min_ttft_s"] - 1,
                     "best_plan": {"chips": best.plan.chips_per_stage, "batch": best.plan.batch_per_stage}})
    return rows


def budget_rows(budgets: list[int], workers: int, path: Path | None = None) -> list[dict]:
    """Per-stage max = total max = budget, on rago-oss case4 (or the instance at ``path``)."""
    rows = []
    for budget in budgets:
        base = load_instance(path) if path else _instance("case4")
        inst = base.model_copy(update={"search": base.search.model_copy(update=dict(
            chip_options={}, max_chips_per_stage=budget,
            total_chips=IntRange(min=min(base.search.total_chips.min, budget), max=budget)))})
        space = build_space(inst)
        cp, t = _timed(cpsat_frontier, space, workers=workers)
        rows.append({"budget_chips": budget, "points": len(cp.points), "cpsat_s": t, "cpsat_solves": cp.solves,
                     "all_proven": all(p.proven_optimal for p in cp.points),
                     "max_qps_per_chip": max(p.metrics.qps_per_chip for p in cp.points)})
    return rows


def _print(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    if not rows:
        return
    cols = [c for c in rows[0] if c != "best_plan"]
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    widths = [max(len(c), *(len(fmt(r[c])) for r in rows)) for c in cols]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(fmt(r[c]).rjust(w) for c, w in zip(cols, widths)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "cpsat.json"))
    ap.add_argument("--skip-any", action="store_true")
    ap.add_argument("--budgets", type=int, nargs="*", default=[128, 512, 2048, 8192])
    ap.add_argument("--paper-budgets", type=int, nargs="*", default=[512, 1024, 2048],
                    help="budgets for paper case1-1b (analytical retrieval: a bucket per server count)")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    result = {"pow2": pow2_rows(args.workers)}
    _print("power-of-two spaces: CP-SAT vs exhaustive", result["pow2"])
    if not args.skip_any:
        result["any"] = any_rows(result["pow2"], args.workers)
        _print("any spaces (chips 1..64 per stage, batches 1..1024): CP-SAT", result["any"])
    result["budgets"] = budget_rows(args.budgets, args.workers)
    _print("chip budget scaling (case4, power-of-two chips and batches)", result["budgets"])
    result["paper_budgets"] = budget_rows(args.paper_budgets, args.workers,
                                          ROOT / "instances" / "paper" / "case1-1b.yaml")
    _print("chip budget scaling (paper case1-1b, power-of-two, analytical retrieval)", result["paper_budgets"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
