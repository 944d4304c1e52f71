"""The longer randomized cross-check of CP-SAT against enumeration (the CI test runs a fixed, derandomized set).

Draws random pipelines from ``tests.strategies.random_instances`` (budgets up to 10^9 chips, non-round latencies)
and runs ``tests.crosscheck.check_space`` on each: frontiers without SLO and with TTFT / QPS / TPOT bounds set
exactly at achievable values, and min-chips at achievable QPS floors. Hypothesis searches at random (seeded by
``--seed`` if given) and, on a disagreement, shrinks it and prints the example to pin with ``@example``.

Usage: python bench/crosscheck.py [--pipelines 2000] [--seed S] [--out bench/results/crosscheck.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from planner import EmptySpaceError, InstanceError  # noqa: E402
from tests.crosscheck import check_space, space_of  # noqa: E402
from tests.strategies import random_instances  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipelines", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "crosscheck.json")
    args = ap.parse_args()
    stats = {"pipelines": 0, "spaces": 0, "empty": 0, "comparisons": 0}
    t0 = time.perf_counter()

    @settings(max_examples=args.pipelines, derandomize=False, database=None, deadline=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(random_instances(budgets=True))
    def run(data):
        stats["pipelines"] += 1
        try:
            space = space_of(data)
        except (EmptySpaceError, InstanceError):  # a draw may list no usable chip count
            stats["empty"] += 1
            return
        stats["spaces"] += 1
        stats["comparisons"] += check_space(space)
        if stats["pipelines"] % 100 == 0:
            print(f"{stats['pipelines']} pipelines, {stats['comparisons']} comparisons, all equal "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)

    if args.seed is not None:
        run = seed(args.seed)(run)
    run()
    stats["seconds"] = round(time.perf_counter() - t0, 1)
    stats["seed"] = args.seed
    print(f"CP-SAT = enumeration on all {stats['pipelines']} random pipelines ({stats['spaces']} non-empty spaces, "
          f"{stats['comparisons']} frontier/min-chips comparisons) in {stats['seconds']} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(stats, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
