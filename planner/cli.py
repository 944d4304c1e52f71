"""``ragplan`` command line. With ``planner.report`` the only place that prints, plots or exits.

Expected failures (``planner.errors.EXPECTED_ERRORS``: bad YAML, missing profile rows, empty space,
infeasible SLO) print one line ``ragplan: error: ...`` and exit 2; bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import math
import json
import sys
import time
from pathlib import Path

from planner.capacity import min_chips
from planner.errors import EXPECTED_ERRORS, InstanceError
from planner.evaluate import check_plan, evaluate
from planner.exhaustive import exhaustive_frontier
from planner.pareto import cpsat_frontier
from planner.report import (capacity_json, capacity_text, frontier_json, frontier_table, metrics_text,
                            plot_frontier, stage_cost_table, validation_markdown, validation_text)
from planner.schema import Instance, Plan, load_instance
from planner.space import build_space
from planner.validate import validate

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage too by default)
        self.exit(2, f"ragplan: error: {message}. To fix: see 'ragplan {self.prog.split()[-1]} --help'\n")


class _Progress:
    """Progress lines on stderr, only once a run has lasted ``after_s``."""

    def __init__(self, enabled: bool, after_s: float = 1.0):
        self.enabled, self.after_s, self.t0 = enabled, after_s, time.perf_counter()

    def __call__(self, done: int, total: int, what: str) -> None:
        if self.enabled and time.perf_counter() - self.t0 >= self.after_s:
            print(f"[{done}/{total}] {what}", file=sys.stderr, flush=True)


def _with_accelerator(inst: Instance, name: str | None) -> Instance:
    """``--accelerator``: another catalog accelerator for an analytical cost source."""
    if not name:
        return inst
    if inst.cost.kind != "analytical":
        raise InstanceError(f"--accelerator {name} needs an analytical cost source; {inst.name} uses "
                            f"{inst.cost.kind}. To fix: drop --accelerator or use an instance with cost.kind: "
                            f"analytical")
    return inst.model_copy(update={"cost": inst.cost.model_copy(update={"accelerator": name})})


def _with_overrides(inst: Instance, args: argparse.Namespace) -> Instance:
    inst = _with_accelerator(inst, args.accelerator)
    search = {k: v for k, v in (("chips", args.chips), ("batches", args.batches), ("placement", args.placement))
              if v is not None}
    if args.chips == "any":
        search["chip_options"] = {}  # every count 1..max_chips_per_stage, whatever the instance lists
    slo = {k: v for k, v in (("ttft_max_s", args.ttft_max_s), ("tpot_max_s", args.tpot_max_s),
                             ("qps_min", args.qps_min)) if v is not None}
    try:
        return Instance.model_validate(inst.model_dump() | {
            "search": inst.search.model_dump() | search, "slo": inst.slo.model_dump() | slo})
    except ValueError as exc:
        raise InstanceError(f"invalid command-line override: {exc}. To fix: correct the option value") from exc


def _write(out: str | None, save) -> None:
    """``save(path)`` to an output option's path (if given), creating its folder; says where it wrote."""
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        save(path)
        print(f"wrote {out}")


def _cmd_pareto(args: argparse.Namespace) -> int:
    inst = _with_overrides(load_instance(args.instance), args)
    space = build_space(inst)
    progress = _Progress(not args.quiet)
    if args.solver == "exhaustive":
        result = exhaustive_frontier(space, progress=progress)
    else:
        result = cpsat_frontier(space, workers=args.workers, time_limit_s=args.time_limit_s, seed=args.seed,
                                progress=progress)
    print(frontier_table(result))
    _write(args.json, lambda path: path.write_text(json.dumps(frontier_json(result), indent=2) + "\n"))
    _write(args.plot, lambda path: plot_frontier(result, path))
    return 0


def _cmd_min_chips(args: argparse.Namespace) -> int:
    space = build_space(_with_overrides(load_instance(args.instance), args))
    result = min_chips(space, workers=args.workers, time_limit_s=args.time_limit_s, seed=args.seed)
    print(capacity_text(result))
    _write(args.json, lambda path: path.write_text(json.dumps(capacity_json(result), indent=2) + "\n"))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    space = build_space(load_instance(args.instance))
    try:
        plan = Plan.model_validate_json(Path(args.plan).read_text())
    except OSError as exc:
        raise InstanceError(f"cannot read plan {args.plan}: {exc.strerror}. To fix: check the path") from exc
    except ValueError as exc:
        raise InstanceError(f"{args.plan}: invalid plan: {exc.errors()[0]['msg'] if hasattr(exc, 'errors') else exc}."
                            f" To fix: give placement, chips_per_stage, batch_per_stage, retrieval_servers") from exc
    print(metrics_text(evaluate(space, plan)))
    why = check_plan(space, plan)
    print("plan is inside the search space" if not why else "plan is outside the search space: " + "; ".join(why))
    return 0


def _cmd_space(args: argparse.Namespace) -> int:
    space = build_space(load_instance(args.instance))
    print(f"{space.instance.name}: stages {' -> '.join(space.stages)}")
    print(f"total chips [{space.min_chips}, {space.max_chips}], request batches {list(space.batch_options)}")
    for s, opts in space.stage_chip_options.items():
        print(f"  {s:16s} chip options {list(opts)}")
    for p in space.placements:
        sizes = [len(space.group_chip_options(g)) or 1 for g in p]
        print(f"  placement {' | '.join('+'.join(g) for g in p):60s} {len(space.chip_assignments(p))} chip "
              f"assignments in range (of {math.prod(sizes)})")
    return 0


def _cmd_costs(args: argparse.Namespace) -> int:
    inst = _with_accelerator(load_instance(args.instance), args.accelerator)
    space = build_space(inst)
    if args.stage not in space.stages:
        raise InstanceError(f"stage {args.stage!r} is not in {inst.name} (stages {list(space.stages)}). To fix: "
                            f"pick one of those")
    print(stage_cost_table(space, args.stage, args.units, args.batches))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    result = validate(args.profiles, args.instances, with_findings=not args.no_findings)
    print(validation_text(result))
    _write(args.json, lambda path: path.write_text(json.dumps(result, indent=2) + "\n"))
    _write(args.markdown, lambda path: path.write_text(validation_markdown(result)))
    return 0


def _planning_options(p: argparse.ArgumentParser, qps_help: str) -> None:
    p.add_argument("--chips", choices=["pow2", "any"], help="override search.chips")
    p.add_argument("--batches", choices=["pow2", "any"], help="override search.batches")
    p.add_argument("--placement", choices=["all", "disaggregated", "collocated"], help="override search.placement")
    p.add_argument("--accelerator", help="override cost.accelerator (analytical cost sources), e.g. XPU-A")
    p.add_argument("--ttft-max-s", type=float, help="override slo.ttft_max_s")
    p.add_argument("--tpot-max-s", type=float, help="override slo.tpot_max_s")
    p.add_argument("--qps-min", type=float, help=qps_help)
    p.add_argument("--workers", type=int, default=1, help="CP-SAT search workers (1 is fastest on slice models)")
    p.add_argument("--time-limit-s", type=float, default=60.0, help="CP-SAT time limit per solve")
    p.add_argument("--seed", type=int, default=0, help="CP-SAT random seed")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ragplan", description="Plan placement, chips and batching of RAG serving pipelines.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    par = sub.add_parser("pareto", help="trace the TTFT vs QPS/chip Pareto frontier of an instance")
    par.add_argument("instance", help="instance YAML")
    par.add_argument("--solver", choices=["exhaustive", "cpsat"], default="cpsat",
                     help="cpsat (default): proven-optimal sweep, any space size; exhaustive: enumerate every schedule")
    _planning_options(par, "override slo.qps_min")
    par.add_argument("--json", metavar="OUT", help="write the frontier as JSON")
    par.add_argument("--plot", metavar="OUT.png", help="write a PNG of the frontier")
    par.set_defaults(func=_cmd_pareto)
    cap = sub.add_parser("min-chips", help="the fewest chips (and their plan) meeting a QPS target and the SLO")
    cap.add_argument("instance", help="instance YAML")
    _planning_options(cap, "the QPS target, requests/s (overrides slo.qps_min; required if the instance has none)")
    cap.add_argument("--json", metavar="OUT", help="write the plan as JSON")
    cap.set_defaults(func=_cmd_min_chips)
    ev = sub.add_parser("evaluate", help="metrics of one plan (JSON: placement, chips_per_stage, batch_per_stage, "
                                         "retrieval_servers)")
    ev.add_argument("instance")
    ev.add_argument("plan")
    ev.set_defaults(func=_cmd_evaluate)
    spc = sub.add_parser("space", help="show an instance's stages, placements and options")
    spc.add_argument("instance")
    spc.set_defaults(func=_cmd_space)
    cst = sub.add_parser("costs", help="a stage's latency/throughput table and which resource bounds each option")
    cst.add_argument("instance")
    cst.add_argument("--stage", required=True, help="stage kind, e.g. prefill, decode, retrieval")
    cst.add_argument("--units", type=int, nargs="+", help="chip (retrieval: server) counts; default: the options")
    cst.add_argument("--batches", type=int, nargs="+", help="batch sizes; default: powers of two to the limit")
    cst.add_argument("--accelerator", help="override cost.accelerator (analytical cost sources)")
    cst.set_defaults(func=_cmd_costs)
    val = sub.add_parser("validate", help="analytical models vs GenZ and RAGO profiles, and the paper's findings")
    val.add_argument("--json", metavar="OUT", help="write the full report as JSON")
    val.add_argument("--markdown", metavar="OUT.md", help="write the full report as Markdown (docs/validation.md)")
    val.add_argument("--profiles", type=Path, help="RAGO profile folder (default: instances/rago-oss/profiles)")
    val.add_argument("--instances", type=Path, help="paper instance folder (default: instances/paper)")
    val.add_argument("--no-findings", action="store_true", help="skip the planning runs behind the findings")
    val.set_defaults(func=_cmd_validate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except EXPECTED_ERRORS as exc:
        print(f"ragplan: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
