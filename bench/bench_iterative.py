"""Iterative retrieval (RAGO Case III): how the iterative batch stalls decode (IR4), on the shipped case3 instances.

For each instance, the frontier's most-QPS/chip plan is kept and its iterative batch b_it varied from 1 to its
decode batch D: the whole decode's latency (TPOT), decode's rate and the plan's QPS/chip, by the evaluator. Then the
frontier's own choice, and the frontier time by CP-SAT and enumeration (identical frontiers). Last, the stall model
against the simulator (D9): case3-8b and case3-70b at b_it = D/64 .. D, Poisson arrivals at 1.3x the predicted QPS,
simulated against predicted capacity.

Usage: python bench/bench_iterative.py [--out bench/results/iterative.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner import build_space, load_instance  # noqa: E402
from planner.evaluate import evaluate  # noqa: E402
from planner.exhaustive import exhaustive_frontier  # noqa: E402
from planner.pareto import cpsat_frontier  # noqa: E402
from planner.simulate import Arrivals, simulate  # noqa: E402

NAMES = ("case3-8b-r2", "case3-8b", "case3-8b-r8", "case3-70b-r2", "case3-70b", "case3-70b-r8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "iterative.json")
    args = ap.parse_args()
    rows = []
    for name in NAMES:
        space = build_space(load_instance(ROOT / "instances" / "paper" / f"{name}.yaml"))
        t0 = time.perf_counter()
        ex = exhaustive_frontier(space)
        t1 = time.perf_counter()
        cp = cpsat_frontier(space)
        t2 = time.perf_counter()
        same = [(p.metrics.ttft_ps, p.metrics.decode_ps, p.metrics.chips) for p in ex.points] == \
               [(p.metrics.ttft_ps, p.metrics.decode_ps, p.metrics.chips) for p in cp.points]
        best = ex.points[-1]
        d = best.plan.batch_per_stage["decode"]
        plain = evaluate(space, best.plan.model_copy(update={"iterative_batch": 1}))
        sweep = []
        b = 1
        while b <= d:
            m = evaluate(space, best.plan.model_copy(update={"iterative_batch": b}))
            sweep.append({"iterative_batch": b, "b_over_d": b / d, "tpot_s": m.tpot_s, "decode_qps": m.group_qps[-1],
                          "qps_per_chip": m.qps_per_chip, "bottleneck": list(m.bottleneck)})
            b *= 2
        rows.append({"instance": name, "retrievals_per_sequence": space.iterations + 1, "decode_batch": d,
                     "chosen_iterative_batch": best.plan.iterative_batch, "max_qps_per_chip": best.metrics.qps_per_chip,
                     "exhaustive_s": t1 - t0, "cpsat_s": t2 - t1, "identical": same, "points": len(ex.points),
                     "sweep": sweep, "tpot_b1_s": plain.tpot_s})
        print(f"{name}: {space.iterations + 1} retrievals; frontier {len(ex.points)} points, enumeration "
              f"{t1 - t0:.2f} s, CP-SAT {t2 - t1:.2f} s, identical {same}; max QPS/chip plan D = {d}, b_it = "
              f"{best.plan.iterative_batch}")
        for s in sweep:
            print(f"    b_it {s['iterative_batch']:5d} (b/D {s['b_over_d']:.3f}): TPOT {s['tpot_s'] * 1e3:8.3f} ms "
                  f"({s['tpot_s'] / plain.tpot_s:5.2f}x b_it = 1), decode {s['decode_qps']:9.4g} QPS, QPS/chip "
                  f"{s['qps_per_chip']:.4g}, bottleneck {'+'.join(s['bottleneck'])}")
    sims = []
    print("simulated (Poisson at 1.3x predicted, iterative batches on the shared servers) vs predicted QPS")
    for name in ("case3-8b", "case3-70b"):
        space = build_space(load_instance(ROOT / "instances" / "paper" / f"{name}.yaml"))
        best = exhaustive_frontier(space).points[-1]
        d = best.plan.batch_per_stage["decode"]
        for frac in (1 / 64, 1 / 8, 1 / 4, 1 / 2, 1):
            plan = best.plan.model_copy(update={"iterative_batch": max(1, int(d * frac))})
            m = evaluate(space, plan)
            r = simulate(space, plan, Arrivals("poisson", 1.3 * m.qps), seed=1,
                         duration_s=max(20_000 / m.qps, 200 * m.bottleneck_cycle_ps / 1e12))
            sims.append({"instance": name, "decode_batch": d, "iterative_batch": plan.iterative_batch,
                         "bottleneck": list(m.bottleneck), "predicted_qps": m.qps, "simulated_qps": r.achieved_qps})
            print(f"  {name:10s} D {d:5d} b_it {plan.iterative_batch:5d} bottleneck {'+'.join(m.bottleneck):10s} "
                  f"QPS {m.qps:9.4g} -> simulated {r.achieved_qps:9.4g} ({r.achieved_qps / m.qps - 1:+.2%})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"sweeps": rows, "simulated": sims}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
