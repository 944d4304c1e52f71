"""``ragplan sweep SPEC.yaml --backend local|ray [--address ADDR] [--out DIR]`` (``planner.scenarios``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from planner.cli_common import COUNT, Progress
from planner.scenarios import load_spec, plot_summary, run_sweep

__all__ = ["sweep_parser"]


def _cmd_sweep(args: argparse.Namespace) -> int:
    spec, base = load_spec(args.spec)
    out = Path(args.out or Path(args.spec).with_suffix("").name + "-sweep")
    t0 = time.perf_counter()
    rows, solved = run_sweep(spec, base, out, backend=args.backend, address=args.address, workers=args.workers,
                             progress=Progress(not args.quiet))
    plot_summary(rows, out / "summary.png")
    failed = [r for r in rows if r["status"] == "error"]
    print(f"{spec.name}: {len(rows)} scenarios, {solved} solved now ({len(rows) - solved} done before), "
          f"{len(failed)} failed, {time.perf_counter() - t0:.3g} s on {args.backend}")
    for r in failed[:10]:
        print(f"  failed {r['id']} {r['instance']}: {r['error'][:160]}", file=sys.stderr)
    print(f"wrote {out / 'summary.csv'}, {out / 'summary.png'} and {out / 'scenarios'}/<id>.json")
    return 0


def sweep_parser(sub) -> None:
    s = sub.add_parser("sweep", help="a grid of scenarios (instances x overrides) solved in parallel, locally or on "
                                     "Ray; resumable")
    s.add_argument("spec", help="sweep spec YAML (docs/cli.md)")
    s.add_argument("--backend", choices=["local", "ray"], default="local")
    s.add_argument("--address", default=None, help="Ray: a cluster's address (default: a local Ray instance)")
    s.add_argument("--workers", type=COUNT, default=None, help="local: processes (default: the cores)")
    s.add_argument("--out", metavar="DIR", help="results folder (default: SPEC-sweep); finished scenarios in it "
                                                "are not solved again")
    s.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    s.set_defaults(func=_cmd_sweep)
