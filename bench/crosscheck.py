"""The longer randomized cross-check of CP-SAT against enumeration (the CI test runs a fixed, derandomized set).

Draws random pipelines from ``tests.strategies.random_instances`` (budgets up to 10^9 chips, non-round latencies)
and runs ``tests.crosscheck.check_space`` on each: frontiers without SLO and with TTFT / QPS / TPOT bounds set
exactly at achievable values, and min-chips at achievable QPS floors. Hypothesis searches at random (seeded by
``--seed`` if given) and, on a disagreement, shrinks it and prints the example to pin with ``@example``.

With ``--priced``: priced multi-type pipelines (``tests.strategies.priced_instances``: random catalog subsets,
prices, per-type budgets, retrieval servers as hosts or a decision) through ``check_priced_space`` (frontier and
O4 under every objective) and ``check_purchase`` (O5 at three budgets).

With ``--micro``: micro-batched pipelines (fixed or searched bursts, some with collocated-only chip options:
MB1-MB5, C14-C15) through ``check_space``. With ``--iterative``: iterative retrieval (C16-C17); with ``--by-batch``:
iterative retrieval where the pre-decode accelerator stages form one group (the by-batch sweep, IR5-IR8).

Usage: python bench/crosscheck.py [--pipelines 2000] [--seed S] [--priced | --micro | --iterative | --by-batch]
       [--out OUT.json]
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
from tests.crosscheck import check_priced_space, check_purchase, check_space, priced_space_of, space_of  # noqa: E402
from tests.strategies import priced_instances, random_instances  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipelines", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--priced", action="store_true", help="priced multi-type pipelines (O4 objectives, O5)")
    ap.add_argument("--micro", action="store_true", help="micro-batched pipelines (MB1-MB5, C14-C15)")
    ap.add_argument("--iterative", action="store_true", help="iterative retrieval (IR1-IR4, C16-C17)")
    ap.add_argument("--by-batch", action="store_true", help="one-group iterative retrieval (IR5-IR8)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    args.iterative |= args.by_batch
    name = ("crosscheck-priced.json" if args.priced else "crosscheck-micro.json" if args.micro else
            "crosscheck-by-batch.json" if args.by_batch else "crosscheck-iterative.json" if args.iterative else
            "crosscheck.json")
    args.out = args.out or ROOT / "bench" / "results" / name
    stats = {"pipelines": 0, "spaces": 0, "empty": 0, "comparisons": 0}
    t0 = time.perf_counter()

    @settings(max_examples=args.pipelines, derandomize=False, database=None, deadline=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(priced_instances() if args.priced else random_instances(budgets=not (args.micro or args.iterative),
                                                                   micro=args.micro, iterative=args.iterative,
                                                                   one_group=args.by_batch))
    def run(data):
        stats["pipelines"] += 1
        try:
            space = priced_space_of(data) if args.priced else space_of(data)
        except (EmptySpaceError, InstanceError):  # a draw may list no usable chip count
            stats["empty"] += 1
            return
        stats["spaces"] += 1
        stats["comparisons"] += (check_priced_space(space) + check_purchase(space)) if args.priced else \
            check_space(space)
        if stats["pipelines"] % 100 == 0:
            print(f"{stats['pipelines']} pipelines, {stats['comparisons']} comparisons, all equal "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)

    if args.seed is not None:
        run = seed(args.seed)(run)
    run()
    stats["seconds"] = round(time.perf_counter() - t0, 1)
    stats["seed"] = args.seed
    stats["priced"], stats["micro"], stats["iterative"] = args.priced, args.micro, args.iterative
    stats["by_batch"] = args.by_batch
    print(f"CP-SAT = enumeration on all {stats['pipelines']} random pipelines ({stats['spaces']} non-empty spaces, "
          f"{stats['comparisons']} frontier/min-chips comparisons) in {stats['seconds']} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(stats, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
