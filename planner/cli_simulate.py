"""``ragplan simulate``: a plan under arriving requests, by discrete-event simulation (docs/model.md, D1-D6)."""

from __future__ import annotations

import argparse
from pathlib import Path

from planner.cli_common import COUNT, RATE, SECONDS, SEED, Progress, calibration_option, json_writer, output, write
from planner.errors import InfeasibleError, InstanceError
from planner.loader import load_instance
from planner.plans import read_plan
from planner.percentile import HEADROOM, TTFT_SHARES, no_plan_meets, walk
from planner.report_sim import p99_json, p99_text, sim_json, sim_text
from planner.schema import clip
from planner.simulate import Arrivals, simulate
from planner.space import build_space

__all__ = ["p99_capacity", "p99_frontier", "p99_options", "simulate_parser"]


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


def p99_options(p: argparse.ArgumentParser) -> None:
    """``--ttft-p99-slo S --rate R``: re-check by simulation (D7-D8)."""
    p.add_argument("--ttft-p99-slo", type=SECONDS, help="a p99 TTFT bound (s) checked by simulation at --rate "
                                                       "(capacity: at the QPS target); the plan reported is the "
                                                       "nearest one that meets it (simulated, not proven)")
    p.add_argument("--rate", type=RATE, help="arrival rate (requests/s) of the p99 check (default: --qps)")
    p.add_argument("--sim-requests", type=COUNT, default=20_000, help="requests per p99 simulation (default 20000)")


def _p99_rate(args: argparse.Namespace, fallback: float | None) -> float:
    rate = args.rate if args.rate is not None else fallback
    if rate is None:
        raise InstanceError("--ttft-p99-slo needs the arrival rate it holds at. To fix: give --rate R (requests/s)")
    return rate


def p99_frontier(args: argparse.Namespace, space, points) -> tuple[str, dict] | None:
    """D8 on a frontier: its points that can serve the rate, most QPS/chip first."""
    if args.ttft_p99_slo is None:
        return None
    rate = _p99_rate(args, None)
    order = sorted(range(len(points)), key=lambda i: -points[i].metrics.qps_per_chip)
    cands = [(f"#{i + 1} (index {i})", lambda p=points[i]: p) for i in order if points[i].metrics.qps >= rate]
    if not cands:
        raise InstanceError(f"no frontier point serves {rate:g} requests/s (the most is "
                            f"{max(p.metrics.qps for p in points):.5g}). To fix: lower --rate or allow more chips")
    chosen, tried = walk(space, cands, args.ttft_p99_slo, rate, args.sim_requests, args.seed, Progress(not args.quiet))
    return (p99_text(chosen, tried, args.ttft_p99_slo, rate, args.seed),
            p99_json(chosen, tried, args.ttft_p99_slo, rate, args.seed))


def p99_capacity(args: argparse.Namespace, space, solve) -> tuple[str, dict, object] | None:
    """D8 on capacity: the least-weight plan for the target, then under tighter analytical TTFT bounds, then with
    headroom; ``solve(qps, ttft_max_s)`` a CapacityResult. Returns the text, the JSON and the chosen result."""
    if args.ttft_p99_slo is None:
        return None
    rate = _p99_rate(args, args.qps_min)
    results: dict[str, object] = {}

    def at(label: str, qps: float, ttft: float | None = None):
        def make():
            try:
                results[label] = solve(qps, ttft)
            except InfeasibleError:
                return None  # more than the space serves
            return results[label].point
        return label, make
    bound = args.ttft_p99_slo
    cands = ([at(f"least weight for {rate:g}/s", rate)]
             + [at(f"TTFT <= {f:g} x the p99 bound", rate, f * bound) for f in TTFT_SHARES]
             + [at(f"headroom +{h:.0%} ({rate * (1 + h):.5g}/s)", rate * (1 + h)) for h in HEADROOM])
    chosen, tried = walk(space, cands, args.ttft_p99_slo, rate, args.sim_requests, args.seed, Progress(not args.quiet))
    if chosen is None:
        raise no_plan_meets(args.ttft_p99_slo, rate, tried)
    return (p99_text(chosen, tried, args.ttft_p99_slo, rate, args.seed),
            p99_json(chosen, tried, args.ttft_p99_slo, rate, args.seed), results[chosen.label])
