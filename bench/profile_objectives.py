"""Where CP-SAT time goes: solves and seconds per objective (O1's first solve, O1's certifications, O2, O3, O4) and
the rest (tables, bounds, model building, verification by the evaluator).

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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner import build_space, load_instance  # noqa: E402
from planner.cpsat import sweep as sweep_mod  # noqa: E402
from planner.pareto import cpsat_frontier  # noqa: E402


def _kind(ask) -> str:
    if ask.objective == "P":  # a point's first slice asks nothing; later ones must beat the best; certifications
        return "O1 min P, no threshold" if ask.k_max is None else "O1 min P, strict threshold (beat or certify)"
    return {"TTFT": "O2 min TTFT", "TPOT": "O3 min TPOT, chips", "L": "O3/O4 min TPOT", "N": "O3/O4 min chips",
            "W": "O4 min weight", "W_TTFT": "O4 min weight, TTFT"}.get(ask.objective, str(ask.objective))


def main() -> None:
    points = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    path = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "instances" / "rago-oss" / "case4.yaml"
    inst = load_instance(path)
    space = build_space(inst.model_copy(update={"search": inst.search.model_copy(
        update={"chips": "any", "batches": "any", "chip_options": {}})}))
    stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    original = sweep_mod.SliceSweep._run

    def timed(self, sl, ask):
        t = time.perf_counter()
        try:
            return original(self, sl, ask)
        finally:
            s = stats[_kind(ask)]
            s[0] += 1
            s[1] += time.perf_counter() - t

    sweep_mod.SliceSweep._run = timed
    t0 = time.perf_counter()
    res = cpsat_frontier(space, max_points=points)
    total = time.perf_counter() - t0
    sweep_mod.SliceSweep._run = original
    solved = sum(v[1] for v in stats.values())
    rows = [{"part": k, "solves": int(v[0]), "seconds": v[1], "share": v[1] / total, "ms_per_solve": 1e3 * v[1] / v[0]}
            for k, v in sorted(stats.items())]
    rows.append({"part": "rest (tables, bounds, evaluator checks)", "solves": 0, "seconds": total - solved,
                 "share": (total - solved) / total, "ms_per_solve": 0.0})
    print(f"{space.instance.name} any/any: {len(res.points)} points, {res.solves} solves, {total:.2f} s")
    for r in rows:
        print(f"  {r['part']:45s} {r['solves']:6d} solves {r['seconds']:8.2f} s {r['share']:6.1%} "
              f"{r['ms_per_solve']:6.1f} ms/solve")
    out = ROOT / "bench" / "results" / f"profile_objectives-{space.instance.name}.json"
    out.write_text(json.dumps({"instance": space.instance.name, "points": len(res.points), "seconds": total,
                               "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
