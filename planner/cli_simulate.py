"""``ragplan simulate``: a plan under arriving requests, by discrete-event simulation (docs/model.md, D1-D6)."""

from __future__ import annotations

import argparse
from pathlib import Path

from planner.cli_common import COUNT, RATE, SECONDS, SEED, Progress, calibration_option, json_writer, output, write
from planner.errors import InstanceError
from planner.loader import load_instance
from planner.plans import read_plan
from planner.report_sim import sim_json, sim_text
from planner.schema import clip
from planner.simulate import Arrivals, simulate
from planner.space import build_space

__all__ = ["simulate_parser"]


def _trace(path: str) -> tuple[float, ...]:
    """Arrival timestamps (s), one per line (blank lines and '#' comments skipped)."""
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InstanceError(f"cannot read trace {clip(path)}: {exc}. To fix: give a text file of timestamps") from exc
    out = []
    for n, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            out.append(float(text))
        except ValueError:
            raise InstanceError(f"trace {clip(path)} line {n}: {clip(text)} is not a time in seconds. To fix: one "
                                f"number per line") from None
    if not out:
        raise InstanceError(f"trace {clip(path)} holds no timestamp. To fix: one arrival time (s) per line")
    return tuple(sorted(out))


def _cmd_simulate(args: argparse.Namespace) -> int:
    out = output(args.json, "--json")
    inst = load_instance(args.instance)
    if args.calibration:
        inst = inst.model_copy(update={"cost": inst.cost.model_copy(update={"calibration": args.calibration})})
    space = build_space(inst)
    plan = read_plan(args.plan, args.point)
    if args.trace:
        arr, what = Arrivals("trace", times_s=_trace(args.trace)), f"trace {args.trace}"
    elif args.rate is None:
        raise InstanceError("simulate needs an arrival rate. To fix: give --rate R (requests/s) or --trace FILE")
    elif args.arrivals == "bursts":
        arr, what = Arrivals("bursts", args.rate, args.burst_size), f"bursts of {args.burst_size} at {args.rate:g}/s"
    else:
        arr, what = Arrivals("poisson", args.rate), f"Poisson at {args.rate:g}/s"
    res = simulate(space, plan, arr, args.duration, seed=args.seed, timeout_s=args.timeout_s,
                   progress=Progress(not args.quiet))
    lines = write(out, json_writer(sim_json(res)))
    print("\n".join([sim_text(res, what)] + lines))
    return 0


def simulate_parser(sub) -> None:
    p = sub.add_parser("simulate", help="run a plan under arriving requests (discrete-event): achieved QPS, "
                                        "TTFT/TPOT percentiles, utilisation and queues")
    p.add_argument("instance", help="instance YAML")
    p.add_argument("--plan", required=True, help="a plan JSON, or a frontier/min-chips JSON of ragplan's own")
    p.add_argument("--point", default=None, help="in a frontier JSON: a point's index (0-based), max-qps-per-chip "
                                                 "or min-ttft")
    p.add_argument("--rate", type=RATE, help="offered load, requests/s")
    p.add_argument("--duration", type=SECONDS, required=True, help="seconds of arrivals (the run drains up to as "
                                                                   "long again)")
    p.add_argument("--arrivals", choices=["poisson", "bursts"], default="poisson",
                   help="Poisson arrivals, or bursts of --burst-size requests at once (Poisson bursts)")
    p.add_argument("--burst-size", type=COUNT, default=1, help="requests per burst (--arrivals bursts)")
    p.add_argument("--trace", metavar="FILE", help="arrival timestamps (s), one per line, instead of --rate")
    p.add_argument("--timeout-s", type=SECONDS, default=None, help="how long a stage waits to fill its batch "
                                                                   "(default: the plan's bottleneck cycle)")
    p.add_argument("--seed", type=SEED, default=0, help="random seed of the arrivals")
    calibration_option(p)
    p.add_argument("--json", metavar="OUT", help="write the measurements as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_cmd_simulate)
