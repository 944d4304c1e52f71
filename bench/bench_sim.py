"""The simulator against the analytical model (issue: iterative retrieval and a discrete-event simulator).

For every shipped instance, the frontier's most-QPS/chip plan and its least-TTFT plan:
- capacity: Poisson arrivals at 1.3x the predicted QPS (about 20,000 requests): the achieved QPS against the
  evaluator's (D5, D6), and whether the plan collocates stages;
- unloaded TTFT: bursts of the plan's batch (or burst), far apart: the simulated mean TTFT against the analytical;
- speed: 1,000,000 requests at 0.9x capacity on two plans (a large-batch and a batch-1 plan), requests per
  second of wall time.

Usage: python bench/bench_sim.py [--instances NAME ...] [--skip-speed] [--out bench/results/sim.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner import build_space, load_instance  # noqa: E402
from planner.exhaustive import count_schedules, exhaustive_frontier  # noqa: E402
from planner.pareto import cpsat_frontier  # noqa: E402
from planner.schema import Slo  # noqa: E402
from planner.simulate import Arrivals, simulate  # noqa: E402


def _frontier(space):
    small = count_schedules(space, 2e7) <= 2e7
    return exhaustive_frontier(space, Slo()) if small else cpsat_frontier(space, slo=Slo())


def _row(space, name: str, which: str, p) -> dict:
    m, plan = p.metrics, p.plan
    cycle = max(m.bottleneck_cycle_ps / 1e12, m.bottleneck_batch / m.qps)
    cap = simulate(space, plan, Arrivals("poisson", 1.3 * m.qps), duration_s=max(20_000 / m.qps, 200 * cycle), seed=1)
    r = plan.burst_requests or plan.batch_per_stage[space.pre_decode[0]]
    gap = 3 * m.ttft_s + 10 * m.bottleneck_cycle_ps / 1e12
    low = simulate(space, plan, Arrivals("trace", times_s=tuple(np.repeat(np.arange(30) * gap, r).tolist())),
                   duration_s=30 * gap)
    return {"instance": name, "plan": which, "collocated": any(len(g) > 1 for g in plan.placement),
            "micro": plan.burst_requests is not None, "predicted_qps": m.qps, "simulated_qps": cap.achieved_qps,
            "qps_error": cap.achieved_qps / m.qps - 1, "predicted_ttft_s": m.ttft_s,
            "simulated_ttft_s": low.ttft_s["mean"], "ttft_error": low.ttft_s["mean"] / m.ttft_s - 1,
            "saturated": cap.saturated}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", nargs="*", default=None)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sim.json")
    args = ap.parse_args()
    names = args.instances or sorted(str(p.relative_to(ROOT / "instances"))[:-5]
                                     for p in (ROOT / "instances").glob("*/*.yaml"))
    rows, speed = [], []
    print("capacity (1.3x predicted QPS, Poisson) and unloaded TTFT (bursts far apart), simulated vs analytical")
    for name in names:
        space = build_space(load_instance(ROOT / "instances" / f"{name}.yaml"))
        pts = _frontier(space).points
        for which, p in (("max QPS/chip", pts[-1]), ("min TTFT", pts[0])):
            row = _row(space, name, which, p)
            rows.append(row)
            print(f"  {name:30s} {which:12s} {'collocated' if row['collocated'] else 'disaggregated':13s} QPS "
                  f"{row['predicted_qps']:9.4g} -> {row['simulated_qps']:9.4g} ({row['qps_error']:+.2%})  TTFT "
                  f"{row['predicted_ttft_s']:.4g} -> {row['simulated_ttft_s']:.4g} s ({row['ttft_error']:+.1e})")
    if not args.skip_speed:
        space = build_space(load_instance(ROOT / "instances" / "rago-oss" / "case4.yaml"))
        pts = exhaustive_frontier(space).points
        for which, p in (("max QPS/chip (batch 64)", pts[-1]), ("min TTFT (batch 1)", pts[0])):
            rate = 0.9 * p.metrics.qps
            t0 = time.perf_counter()
            r = simulate(space, p.plan, Arrivals("poisson", rate), duration_s=1e6 / rate, seed=1)
            wall = time.perf_counter() - t0
            speed.append({"plan": which, "requests": r.requests, "seconds": wall, "requests_per_s": r.requests / wall,
                          "batch_ops": r.events})
            print(f"speed: rago-oss case4, {which}: {r.requests} requests in {wall:.1f} s "
                  f"({r.requests / wall:,.0f} requests/s, {r.events:,} batch steps)")
    dis = [abs(r["qps_error"]) for r in rows if not r["collocated"]]
    col = [abs(r["qps_error"]) for r in rows if r["collocated"]]
    print(f"largest |QPS error|: disaggregated {max(dis, default=0):.2%}, collocated {max(col, default=0):.2%}; "
          f"largest |TTFT error| {max(abs(r['ttft_error']) for r in rows):.1e}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "speed": speed}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
