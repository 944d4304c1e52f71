"""Where CP-SAT time goes: solves and seconds per objective (O1 min N C, O2, O3, U3 feasibility), and the rest
(cost matrices, tables, bounds, verification by the evaluator).

Usage: python bench/profile_objectives.py [POINTS] [INSTANCE]  (default: the whole frontier of rago-oss case4,
`any` space)
Prints a table and writes bench/results/profile_objectives.json. Shares, not absolute times, are the result.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from planner import build_space, load_instance
from planner.cpsat import solve as solve_mod
from planner.pareto import cpsat_frontier
from planner.schema import Instance

ROOT = Path(__file__).resolve().parents[1]
OBJECTIVES = {"max_ratio": "O1 min P = N C", "min_ttft": "O2 min TTFT", "min_tpot": "O3 min TPOT",
              "beats": "U3 feasibility"}


def main() -> None:
    points = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    path = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "instances" / "rago-oss" / "case4.yaml"
    data = load_instance(path).model_dump()
    data["search"] |= {"chips": "any", "batches": "any", "chip_options": {}}
    space = build_space(Instance.model_validate(data))
    stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    current = ["other"]
    cls = solve_mod.RagSolver
    originals = {name: getattr(cls, name) for name in OBJECTIVES} | {"_solve": cls._solve}

    def tagged(name):
        def run(self, *a, **k):
            prev, current[0] = current[0], name
            try:
                return originals[name](self, *a, **k)
            finally:
                current[0] = prev
        return run

    def timed(self):
        t = time.perf_counter()
        out = originals["_solve"](self)
        stats[current[0]][0] += 1
        stats[current[0]][1] += time.perf_counter() - t
        return out

    for name in OBJECTIVES:
        setattr(cls, name, tagged(name))
    cls._solve = timed
    try:
        t0 = time.perf_counter()
        res = cpsat_frontier(space, max_points=points)
        total = time.perf_counter() - t0
    finally:
        for name, fn in originals.items():
            setattr(cls, name, fn)
    rows = [{"objective": OBJECTIVES.get(k, k), "solves": int(n), "seconds": s, "share": s / total,
             "ms_per_solve": 1e3 * s / n} for k, (n, s) in stats.items()]
    rest = total - sum(s for _, s in stats.values())
    rows.append({"objective": "rest (no solve)", "solves": 0, "seconds": rest, "share": rest / total,
                 "ms_per_solve": 0.0})
    print(f"{space.instance.name} (any space), {len(res.points)} points, {total:.1f} s, {res.solves} solves")
    print(f"{'objective':16s} {'solves':>6s} {'seconds':>8s} {'share':>6s} {'ms/solve':>9s}")
    for r in rows:
        print(f"{r['objective']:16s} {r['solves']:6d} {r['seconds']:8.2f} {r['share']:6.1%} {r['ms_per_solve']:9.1f}")
    out = ROOT / "bench" / "results" / "profile_objectives.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"instance": space.instance.name, "points": len(res.points), "seconds": total,
                               "solves": res.solves, "objectives": rows}, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
