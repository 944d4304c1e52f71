"""``ragplan`` command line. With ``planner.report`` the only place that prints, plots or exits.

Expected failures (``planner.errors.EXPECTED_ERRORS``: bad YAML, bad option values, unwritable outputs, missing
profile rows, empty space, infeasible SLO, out of time) print one line ``ragplan: error: ... To fix: ...`` and
exit 2; bugs keep their traceback. Output paths are checked before any solve, so a finished result is never lost
to a bad path; files are written before the table is printed, so a closed pipe (``| head``) loses nothing.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
from pathlib import Path

from planner.baseline import BASELINES, compare_frontiers, llm_extension
from planner.capacity import capacity
from planner.cli_calibrate import calibrate_parser
from planner.cli_design import design_options, design_parser, floors, quality_options
from planner.cli_sweep import sweep_parser
from planner.cli_simulate import p99_capacity, p99_frontier, p99_options, simulate_parser
from planner.cli_common import (
    COUNT,
    PLOT_SUFFIXES,
    RATE,
    SECONDS,
    SEED,
    Parser,
    Progress,
    calibration_option,
    json_writer,
    number,
    output,
    write,
)
from planner.counting import count_assignments
from planner.errors import EXPECTED_ERRORS, InstanceError
from planner.evaluate import check_plan, evaluate
from planner.exhaustive import exhaustive_frontier, exhaustive_min_chips
from planner.explain import explain
from planner.loader import load_instance
from planner.overrides import apply_overrides, with_accelerator, with_calibration
from planner.design import design_frontier
from planner.pareto import cpsat_frontier
from planner.plans import read_plan
from planner.purchase import purchase
from planner.report import (
    capacity_json,
    capacity_text,
    frontier_csv,
    frontier_json,
    frontier_table,
    metrics_text,
    plot_frontier,
    stage_cost_table,
    validation_markdown,
    validation_text,
)
from planner.report_priced import (
    explanation_text,
    plot_sweep,
    purchase_json,
    purchase_text,
    sweep_json,
    sweep_text,
)
from planner.report_html import report_html
from planner.report_compare import compare_json, compare_text, plot_compare
from planner.schema import OBJECTIVES, Instance, clip
from planner.space import build_space
from planner.validate import validate

__all__ = ["main"]

def _with_overrides(inst: Instance, args: argparse.Namespace) -> Instance:
    return apply_overrides(inst, accelerator=args.accelerator, prices=args.prices, calibration=args.calibration,
                           chips=args.chips, batches=args.batches, placement=args.placement, burst=args.burst,
                           ttft_max_s=args.ttft_max_s, tpot_max_s=args.tpot_max_s, qps_min=args.qps_min)


def _burst(text: str) -> int | str:
    """``--burst``: a power of two (requests) or 'search'."""
    if text == "search":
        return text
    return COUNT(text)


def _planned(args: argparse.Namespace, exhaustive, cpsat, space=None):
    """Build the (overridden) space (unless given) and run the chosen solver on it."""
    space = space or build_space(_with_overrides(load_instance(args.instance), args))
    progress = Progress(not args.quiet)
    if args.solver == "exhaustive" or (args.solver == "auto" and space.micro):
        return exhaustive(space, progress=progress)
    return cpsat(space, workers=args.workers, time_limit_s=args.time_limit_s, seed=args.seed, progress=progress)


def _cmd_pareto(args: argparse.Namespace) -> int:
    out_json, out_plot = output(args.json, "--json"), output(args.plot, "--plot", PLOT_SUFFIXES)
    out_csv = output(args.csv, "--csv", (".csv",))
    inst = _with_overrides(load_instance(args.instance), args)
    if inst.design is not None or args.quality_min is not None or args.floor:  # K5: the knobs are decisions
        result, p99 = design_frontier(inst, floors(args, inst), **design_options(args)), None
    else:
        space = build_space(inst)
        result = _planned(args, exhaustive_frontier, cpsat_frontier, space)
        p99 = p99_frontier(args, space, result.points)  # D8: re-checked by simulation
    payload = frontier_json(result) | {"slo": inst.slo.model_dump()} | ({"p99_check": p99[1]} if p99 else {})
    lines = (write(out_json, json_writer(payload)) + write(out_csv, lambda p: Path(p).write_text(frontier_csv(result)))
             + write(out_plot, lambda p: plot_frontier(result, p, inst.slo.ttft_max_s)))
    print("\n".join([frontier_table(result)] + ([p99[0]] if p99 else []) + lines))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    """R1: the HTML page of a result JSON (``planner.report_html``)."""
    src = Path(args.result)
    out = output(args.out or str(src.with_suffix(".html")), "--out", (".html",))
    try:
        payload = json.loads(src.read_text())
    except (OSError, ValueError) as exc:
        raise InstanceError(f"cannot read the result JSON {clip(str(src))}: {exc}. To fix: pass a file written by "
                            f"ragplan pareto/capacity --json") from None
    lines = write(out, lambda p: Path(p).write_text(report_html(payload)))
    print("\n".join(lines))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    """B1-B2: the frontier against the baseline's (micro-batched spaces are enumerated with ``--solver auto``)."""
    out_json, out_plot = output(args.json, "--json"), output(args.plot, "--plot", PLOT_SUFFIXES)
    inst = _with_overrides(load_instance(args.instance), args)
    base_inst, n = llm_extension(inst, args.baseline_chips)
    results = []
    for one in (inst, base_inst):
        results.append(_planned(args, exhaustive_frontier, cpsat_frontier, build_space(one)))
    ours, base = results
    c = compare_frontiers(ours, base)
    lines = (write(out_json, json_writer(compare_json(ours, base, c, args.baseline, 2 * n)))
             + write(out_plot, lambda p: plot_compare(ours, base, c, args.baseline, p)))
    print("\n".join([compare_text(ours, base, c, args.baseline, 2 * n)] + lines))
    return 0


def _sweep_targets(text: str) -> list[float]:
    """``--sweep-qps A:B:N``: N targets evenly from A to B."""
    try:
        a, b, n = text.split(":")
        lo, hi, count = float(a), float(b), int(n)
    except ValueError as exc:
        raise InstanceError(f"--sweep-qps {clip(text)} is not A:B:N (e.g. 100:1000:10). To fix: give two rates and a "
                            f"count") from exc
    if not (0 < lo <= hi and 1 <= count <= 1000 and math.isfinite(hi)):
        raise InstanceError(f"--sweep-qps {clip(text)}: need 0 < A <= B and 1 <= N <= 1000. To fix: correct them")
    return [lo] if count == 1 else [lo + (hi - lo) * i / (count - 1) for i in range(count)]


def _cmd_capacity(args: argparse.Namespace) -> int:
    out_json = output(args.json, "--json")
    out_plot = output(args.plot, "--plot", PLOT_SUFFIXES)
    objective = args.objective
    if out_plot is not None and not args.sweep_qps:
        raise InstanceError("--plot draws a --sweep-qps run. To fix: add --sweep-qps A:B:N or drop --plot")
    if args.sweep_qps:
        targets = _sweep_targets(args.sweep_qps)
        space = build_space(_with_overrides(load_instance(args.instance), args))
        results = [capacity(space, slo=space.instance.slo.model_copy(update={"qps_min": q}), objective=objective,
                            workers=args.workers, time_limit_s=args.time_limit_s, seed=args.seed,
                            progress=Progress(not args.quiet)) for q in targets]
        lines = write(out_json, json_writer(sweep_json(results))) + write(out_plot, lambda p: plot_sweep(results, p))
        print("\n".join([sweep_text(results)] + lines))
        return 0

    def exhaustive(space, progress, slo=None):
        return exhaustive_min_chips(space, slo, progress=progress, objective=objective)

    def cpsat(space, slo=None, **kw):
        return capacity(space, slo=slo, objective=objective, **kw)
    space = build_space(_with_overrides(load_instance(args.instance), args))
    result = _planned(args, exhaustive, cpsat, space)

    def at(qps: float, ttft: float | None):  # D8: the least-weight plan for a target, a tighter TTFT bound
        old = space.instance.slo.ttft_max_s
        slo = space.instance.slo.model_copy(update={"qps_min": qps, "ttft_max_s": ttft if old is None or ttft is None
                                                    else min(old, ttft)})
        return _planned(args, functools.partial(exhaustive, slo=slo), functools.partial(cpsat, slo=slo), space)
    p99 = p99_capacity(args, space, at)
    if p99:
        result = p99[2]
    why = explain(space, result, marginals=args.marginals) if args.explain else None
    payload = capacity_json(result) | ({"explanation": why.to_json()} if why else {}) | (
        {"p99_check": p99[1]} if p99 else {})
    lines = write(out_json, json_writer(payload))
    print("\n".join([capacity_text(result)] + ([explanation_text(why)] if why else []) + ([p99[0]] if p99 else [])
                     + lines))
    return 0


def _cmd_purchase(args: argparse.Namespace) -> int:
    out_json = output(args.json, "--json")
    inst = _with_overrides(load_instance(args.instance), args)
    result = purchase(inst, args.budget_usd, per_hour=args.per_hour, time_limit_s=args.time_limit_s,
                      progress=Progress(not args.quiet))
    lines = write(out_json, json_writer(purchase_json(result)))
    print("\n".join([purchase_text(result)] + lines))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    space = build_space(with_calibration(load_instance(args.instance), args.calibration))
    plan = read_plan(args.plan, args.point)
    m = evaluate(space, plan)
    why = check_plan(space, plan)
    print(metrics_text(m))
    print("plan is inside the search space" if not why else "plan is outside the search space: " + "; ".join(why))
    return 0


def _cmd_space(args: argparse.Namespace) -> int:
    space = build_space(load_instance(args.instance))
    print(f"{space.instance.name}: stages {' -> '.join(space.stages)}")
    print(f"total chips [{space.min_chips}, {space.max_chips}], request batches {_short(space.batch_options)}")
    if space.micro:
        fixed = space.instance.search.burst_requests
        print(f"micro-batching (MB1-MB5): burst {fixed if fixed else 'searched, the largest stage batch'}, "
              f"{len(space.burst_columns())} batch schedules; stage batches "
              + ", ".join(f"{s} {_short(space.stage_batch_options(s))}" for s in space.pre_decode))
    for s, opts in space.stage_chip_options.items():
        extra = sorted(set(space.collocated_options.get(s, ())) - set(opts))
        print(f"  {s:16s} chip options {_short(opts)}" + (f" (and {_short(extra)} in collocated placements)"
                                                          if extra else ""))
    for p in space.placements:
        print(f"  placement {' | '.join('+'.join(g) for g in p):60s} {count_assignments(space, p):.6g} chip "
              f"assignments in range")
    return 0


def _short(values) -> str:
    v = list(values)
    return str(v) if len(v) <= 12 else f"[{v[0]}, {v[1]}, ..., {v[-1]}] ({len(v)} values)"


def _cmd_costs(args: argparse.Namespace) -> int:
    inst = with_calibration(with_accelerator(load_instance(args.instance), args.accelerator), args.calibration)
    space = build_space(inst)
    if args.stage not in space.stages:
        raise InstanceError(f"stage {clip(args.stage)} is not in {inst.name} (stages {list(space.stages)}). To fix: "
                            f"pick one of those")
    print(stage_cost_table(space, args.stage, args.units, args.batches))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    out_json, out_md = output(args.json, "--json"), output(args.markdown, "--markdown")
    result = validate(args.profiles, args.instances, with_findings=not args.no_findings)
    lines = write(out_json, json_writer(result)) + write(out_md, lambda p: p.write_text(validation_markdown(result)))
    print("\n".join([validation_text(result)] + lines))
    return 0


def _planning_options(p: argparse.ArgumentParser, qps_help: str) -> None:
    p.add_argument("--solver", choices=["exhaustive", "cpsat", "auto"], default="cpsat",
                   help="cpsat (default): proven-optimal slice sweep, any space size; exhaustive: enumerate every "
                        "schedule (refuses spaces beyond 1e8 schedules); auto: exhaustive for micro-batched "
                        "spaces, else cpsat")
    p.add_argument("--chips", choices=["pow2", "any"], help="override search.chips")
    p.add_argument("--batches", choices=["pow2", "any"], help="override search.batches")
    p.add_argument("--placement", choices=["all", "disaggregated", "collocated", "llm-extension"],
                   help="override search.placement")
    p.add_argument("--burst", type=_burst, metavar="R|search",
                   help="micro-batch a burst of R requests across the pre-decode stages (each its own batch; "
                        "'search': R is searched, the largest batch); sets search.micro_batching")
    p.add_argument("--accelerator", help="override cost.accelerator (analytical cost sources), e.g. XPU-A, or a "
                                         "comma-separated list of types the planner chooses from per group")
    p.add_argument("--prices", metavar="PRICES.yaml", help="price file overriding the catalog's estimated prices")
    calibration_option(p)
    p.add_argument("--ttft-max-s", "--ttft-slo", dest="ttft_max_s", type=SECONDS, help="override slo.ttft_max_s")
    p.add_argument("--tpot-max-s", "--tpot-slo", dest="tpot_max_s", type=SECONDS, help="override slo.tpot_max_s")
    p.add_argument("--qps-min", "--qps", dest="qps_min", type=RATE, help=qps_help)
    p.add_argument("--workers", type=COUNT, default=1, help="CP-SAT search workers (1 is fastest on slice models)")
    p.add_argument("--time-limit-s", type=SECONDS, default=None,
                   help="time limit of the whole run (default: none); when it ends the run, the plans found are "
                        "returned, unproven ones with their gap")
    p.add_argument("--seed", type=SEED, default=0, help="CP-SAT random seed")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    quality_options(p)
    p99_options(p)


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="ragplan", description="Plan placement, chips and batching of RAG serving pipelines.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    par = sub.add_parser("pareto", help="trace the TTFT vs QPS/chip Pareto frontier of an instance")
    par.add_argument("instance", help="instance YAML")
    _planning_options(par, "override slo.qps_min")
    par.add_argument("--json", metavar="OUT", help="write the frontier as JSON (docs/schema/frontier-v1.json)")
    par.add_argument("--csv", metavar="OUT.csv", help="write the frontier as CSV, one row per point")
    par.add_argument("--plot", metavar="OUT.png", help="write a plot of the frontier (.png, .svg or .pdf)")
    par.set_defaults(func=_cmd_pareto)
    for name in ("capacity", "min-chips"):
        cap = sub.add_parser(name, help="the cheapest deployment (and its plan) meeting a QPS target and the SLO" if
                             name == "capacity" else "the fewest chips meeting a QPS target (capacity --objective "
                                                      "chips)")
        cap.add_argument("instance", help="instance YAML")
        _planning_options(cap, "the QPS target, requests/s (overrides slo.qps_min; required if the instance has "
                               "none)")
        if name == "capacity":
            cap.add_argument("--objective", choices=list(OBJECTIVES), default="cost",
                             help="what to minimise: cost (rent, USD/h; default), capex (purchase, USD), power (W) "
                                  "or chips")
            cap.add_argument("--no-explain", dest="explain", action="store_false",
                             help="skip the explanation (bottleneck, binding limits, marginal values)")
            cap.add_argument("--no-marginals", dest="marginals", action="store_false",
                             help="explain without re-solving for the marginal values")
            cap.add_argument("--sweep-qps", metavar="A:B:N", help="least objective for N QPS targets from A to B "
                                                                  "(a table; --json and --plot write it)")
            cap.add_argument("--plot", metavar="OUT.png", help="with --sweep-qps: plot the objective per target")
        else:
            cap.set_defaults(objective="chips", explain=False, marginals=False, sweep_qps=None, plot=None)
        cap.add_argument("--json", metavar="OUT", help="write the answer and its plan as JSON")
        cap.set_defaults(func=_cmd_capacity)
    cmp = sub.add_parser("compare", help="the frontier against the RAGO paper's baseline (LLM-system extension)")
    cmp.add_argument("instance", help="instance YAML")
    _planning_options(cmp, "override slo.qps_min")
    cmp.set_defaults(solver="auto")
    cmp.add_argument("--baseline", choices=list(BASELINES), default="llm-extension",
                     help="llm-extension: every pre-decode stage collocated with the prefix, prefix chips = decode "
                          "chips, total fixed, batching searched")
    cmp.add_argument("--baseline-chips", type=COUNT, help="the baseline's total chips (half prefix, half decode; "
                                                          "default: the most both offer within total_chips.max)")
    cmp.add_argument("--json", metavar="OUT", help="write both frontiers and the speedups as JSON")
    cmp.add_argument("--plot", metavar="OUT.png", help="plot both frontiers (.png, .svg or .pdf)")
    cmp.set_defaults(func=_cmd_compare)
    pur = sub.add_parser("purchase", help="the most QPS a budget buys under the SLO, per accelerator type and mixed")
    pur.add_argument("instance", help="instance YAML (its offered types: cost.accelerator, or --accelerator)")
    pur.add_argument("--budget-usd", type=number(float, 0.0, "an amount of USD"), required=True, help="the budget: purchase USD (or USD/h with "
                                                                     "--per-hour)")
    pur.add_argument("--per-hour", action="store_true", help="the budget is rent per hour (on-demand prices)")
    _planning_options(pur, "ignored: the search sets the QPS target")
    pur.add_argument("--json", metavar="OUT", help="write every fleet's answer as JSON")
    pur.set_defaults(func=_cmd_purchase)
    ev = sub.add_parser("evaluate", help="metrics of one plan: a plan JSON, a frontier point, or a frontier or "
                                         "min-chips JSON of ragplan's own")
    ev.add_argument("instance")
    ev.add_argument("plan")
    calibration_option(ev)
    ev.add_argument("--point", default=None, help="in a frontier JSON: a point's index (0-based), "
                                                  "max-qps-per-chip or min-ttft (default: the only point, if one)")
    ev.set_defaults(func=_cmd_evaluate)
    spc = sub.add_parser("space", help="show an instance's stages, placements and options")
    spc.add_argument("instance")
    spc.set_defaults(func=_cmd_space)
    cst = sub.add_parser("costs", help="a stage's latency/throughput table and which resource bounds each option")
    cst.add_argument("instance")
    cst.add_argument("--stage", required=True, help="stage kind, e.g. prefill, decode, retrieval")
    cst.add_argument("--units", type=number(int, 0, "a whole number of chips or servers"), nargs="+",
                     help="chip (retrieval: server) counts; default: the options")
    cst.add_argument("--batches", type=number(int, 0, "a whole batch size"), nargs="+",
                     help="batch sizes; default: powers of two to the limit")
    cst.add_argument("--accelerator", help="override cost.accelerator (analytical cost sources)")
    calibration_option(cst)
    cst.set_defaults(func=_cmd_costs)
    val = sub.add_parser("validate", help="analytical models vs GenZ and RAGO profiles, and the paper's findings")
    val.add_argument("--json", metavar="OUT", help="write the full report as JSON")
    val.add_argument("--markdown", metavar="OUT.md", help="write the full report as Markdown (docs/validation.md)")
    val.add_argument("--profiles", type=Path, help="RAGO profile folder (default: instances/rago-oss/profiles)")
    val.add_argument("--instances", type=Path, help="paper instance folder (default: instances/paper)")
    val.add_argument("--no-findings", action="store_true", help="skip the planning runs behind the findings")
    val.set_defaults(func=_cmd_validate)
    calibrate_parser(sub)
    simulate_parser(sub)
    design_parser(sub, _planning_options, _with_overrides)
    sweep_parser(sub)
    rep = sub.add_parser("report", help="one self-contained HTML page of a result JSON (pareto, capacity, "
                                        "capacity --sweep-qps): the frontier, the plan, what bounds it")
    rep.add_argument("result", help="a JSON written by ragplan pareto/capacity --json")
    rep.add_argument("--out", metavar="OUT.html", help="the page (default: the result's name with .html)")
    rep.set_defaults(func=_cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except EXPECTED_ERRORS as exc:
        print(f"ragplan: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader (| head) closed stdout: nothing of ours failed
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
