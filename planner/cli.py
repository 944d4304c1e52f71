"""``ragplan`` command line. With ``planner.report`` the only place that prints, plots or exits.

Expected failures (``planner.errors.EXPECTED_ERRORS``: bad YAML, bad option values, unwritable outputs, missing
profile rows, empty space, infeasible SLO, out of time) print one line ``ragplan: error: ... To fix: ...`` and
exit 2; bugs keep their traceback. Output paths are checked before any solve, so a finished result is never lost
to a bad path; files are written before the table is printed, so a closed pipe (``| head``) loses nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from models.calibration import check, fit, load_calibration
from models.harness import MeasureSpec, measure
from models.measured import read_measured_csv, write_measured_csv
from models.retrieval_calibration import RetrievalSpec, calibrate_retrieval
from planner.calibrate import check_text, fit_text, retrieval_text
from planner.capacity import min_chips
from planner.errors import EXPECTED_ERRORS, InstanceError
from planner.evaluate import check_plan, evaluate
from planner.counting import count_assignments
from planner.exhaustive import exhaustive_frontier, exhaustive_min_chips
from planner.loader import load_instance
from planner.pareto import cpsat_frontier
from planner.plans import read_plan
from planner.report import (
    capacity_json,
    capacity_text,
    frontier_json,
    frontier_table,
    metrics_text,
    plot_frontier,
    stage_cost_table,
    validation_markdown,
    validation_text,
)
from planner.schema import Instance, clip
from planner.space import build_space
from planner.validate import validate

__all__ = ["main"]

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage too by default)
        self.exit(2, f"ragplan: error: {message}. To fix: see '{self.prog} --help'\n")


def _number(kind, low: float, what: str, strict: bool = True):
    """An argparse type: a finite ``kind`` number > low (>= low unless ``strict``), with a one-line error."""
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{clip(text)} is not {what}") from None
        if not math.isfinite(v) or v < low or (strict and v == low):
            raise argparse.ArgumentTypeError(f"{clip(text)} is not {what} {'>' if strict else '>='} {low:g}")
        if abs(v) > 1e15:
            raise argparse.ArgumentTypeError(f"{clip(text)} is beyond any plan (at most 1e15)")
        return v
    return parse


_SECONDS = _number(float, 0.0, "a number of seconds")
_RATE = _number(float, 0.0, "a rate (requests/s)")
_COUNT = _number(int, 0, "a whole number")
_SEED = _number(int, 0, "a whole number", strict=False)


class _Progress:
    """Progress lines on stderr, at most one a second, from the first second of a run."""

    def __init__(self, enabled: bool, every_s: float = 1.0):
        self.enabled, self.every_s = enabled, every_s
        self.t0 = self.last = time.perf_counter()

    def __call__(self, what: str) -> None:
        now = time.perf_counter()
        if self.enabled and now - self.last >= self.every_s:
            self.last = now
            print(f"[{now - self.t0:.1f} s] {what}", file=sys.stderr, flush=True)


def _with_accelerator(inst: Instance, name: str | None) -> Instance:
    """``--accelerator``: another catalog accelerator for an analytical cost source."""
    if not name:
        return inst
    if inst.cost.kind != "analytical":
        raise InstanceError(f"--accelerator {clip(name)} needs an analytical cost source; {inst.name} uses "
                            f"{inst.cost.kind}. To fix: drop --accelerator or use an instance with cost.kind: "
                            f"analytical")
    return inst.model_copy(update={"cost": inst.cost.model_copy(update={"accelerator": name})})


def _with_calibration(inst: Instance, value: str | None) -> Instance:
    """``--calibration``: default, none or a calibration JSON (relative to the working folder)."""
    if not value:
        return inst
    if inst.cost.kind != "analytical":
        raise InstanceError(f"--calibration {clip(value)} needs an analytical cost source; {inst.name} uses "
                            f"{inst.cost.kind} (measured profiles need no calibration). To fix: drop --calibration")
    if value not in ("default", "none"):
        load_calibration(value)  # a bad file fails here, with its own message
        value = str(Path(value).resolve())
    return inst.model_copy(update={"cost": inst.cost.model_copy(update={"calibration": value})})


def _with_overrides(inst: Instance, args: argparse.Namespace) -> Instance:
    inst = _with_calibration(_with_accelerator(inst, args.accelerator), args.calibration)
    search = {k: v for k, v in (("chips", args.chips), ("batches", args.batches), ("placement", args.placement))
              if v is not None}
    if args.chips == "any":
        search["chip_options"] = {}  # every count 1..max_chips_per_stage, whatever the instance lists
    slo = {k: v for k, v in (("ttft_max_s", args.ttft_max_s), ("tpot_max_s", args.tpot_max_s),
                             ("qps_min", args.qps_min)) if v is not None}
    return inst.model_copy(update={"search": inst.search.model_copy(update=search),
                                   "slo": inst.slo.model_copy(update=slo)})


def _output(path: str | None, option: str, suffixes: tuple[str, ...] = ()) -> Path | None:
    """Check an output path before any work: its folder can be created and the file written (a new file made
    for the check is removed again)."""
    if path is None:
        return None
    p = Path(path)
    if path.endswith(("/", os.sep)) or p.is_dir():
        raise InstanceError(f"{option} {clip(path)} is a folder. To fix: give a file name, e.g. {p / 'out'}"
                            f"{suffixes[0] if suffixes else '.json'}")
    if suffixes and p.suffix.lower() not in suffixes:
        raise InstanceError(f"{option} {clip(path)}: the plot format comes from the file name, and "
                            f"{clip(p.suffix or 'no suffix')} is not one of {', '.join(suffixes)}. To fix: name the "
                            f"file with one of them, e.g. {p.with_suffix(suffixes[0]).name}")
    existed = p.exists()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("a"):
            pass
    except OSError as exc:
        raise InstanceError(f"cannot write {option} {clip(path)}: {exc.strerror or exc}. To fix: choose a path in "
                            f"a folder you can write") from exc
    if not existed:
        p.unlink()
    return p


def _write(path: Path | None, save) -> list[str]:
    """``save(path)`` to a checked output path (if given); the line saying where it wrote."""
    if path is None:
        return []
    try:
        save(path)
    except OSError as exc:
        raise InstanceError(f"cannot write {clip(str(path))}: {exc.strerror or exc}. To fix: free space or choose "
                            f"another path") from exc
    return [f"wrote {path}"]


def _json(payload: dict):
    return lambda path: path.write_text(json.dumps(payload, indent=2) + "\n")


def _planned(args: argparse.Namespace, exhaustive, cpsat):
    """Build the (overridden) space and run the chosen solver on it."""
    space = build_space(_with_overrides(load_instance(args.instance), args))
    progress = _Progress(not args.quiet)
    if args.solver == "exhaustive":
        return exhaustive(space, progress=progress)
    return cpsat(space, workers=args.workers, time_limit_s=args.time_limit_s, seed=args.seed, progress=progress)


def _cmd_pareto(args: argparse.Namespace) -> int:
    out_json, out_plot = _output(args.json, "--json"), _output(args.plot, "--plot", PLOT_SUFFIXES)
    result = _planned(args, exhaustive_frontier, cpsat_frontier)
    lines = _write(out_json, _json(frontier_json(result))) + _write(out_plot, lambda p: plot_frontier(result, p))
    print("\n".join([frontier_table(result)] + lines))
    return 0


def _cmd_min_chips(args: argparse.Namespace) -> int:
    out_json = _output(args.json, "--json")
    result = _planned(args, exhaustive_min_chips, min_chips)
    lines = _write(out_json, _json(capacity_json(result)))
    print("\n".join([capacity_text(result)] + lines))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    space = build_space(_with_calibration(load_instance(args.instance), args.calibration))
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
    for s, opts in space.stage_chip_options.items():
        print(f"  {s:16s} chip options {_short(opts)}")
    for p in space.placements:
        print(f"  placement {' | '.join('+'.join(g) for g in p):60s} {count_assignments(space, p):.6g} chip "
              f"assignments in range")
    return 0


def _short(values) -> str:
    v = list(values)
    return str(v) if len(v) <= 12 else f"[{v[0]}, {v[1]}, ..., {v[-1]}] ({len(v)} values)"


def _cmd_costs(args: argparse.Namespace) -> int:
    inst = _with_calibration(_with_accelerator(load_instance(args.instance), args.accelerator), args.calibration)
    space = build_space(inst)
    if args.stage not in space.stages:
        raise InstanceError(f"stage {clip(args.stage)} is not in {inst.name} (stages {list(space.stages)}). To fix: "
                            f"pick one of those")
    print(stage_cost_table(space, args.stage, args.units, args.batches))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    out_json, out_md = _output(args.json, "--json"), _output(args.markdown, "--markdown")
    result = validate(args.profiles, args.instances, with_findings=not args.no_findings)
    lines = _write(out_json, _json(result)) + _write(out_md, lambda p: p.write_text(validation_markdown(result)))
    print("\n".join([validation_text(result)] + lines))
    return 0


def _calibration_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calibration", metavar="CAL.json", help="override cost.calibration (analytical cost sources): "
                   "a file from 'ragplan calibrate fit', 'none' (datasheet peaks) or 'default' (the calibration "
                   "shipped for the accelerator's family)")


def _cmd_calibrate_fit(args: argparse.Namespace) -> int:
    out = _output(args.out, "--out")
    rows = read_measured_csv(args.rows)
    cal = fit(rows, args.name or Path(args.rows).stem, str(args.rows))
    lines = _write(out, lambda p: p.write_text(cal.model_dump_json(indent=2) + "\n"))
    print("\n".join([fit_text(cal, rows)] + lines))
    return 0


def _cmd_calibrate_check(args: argparse.Namespace) -> int:
    out = _output(args.json, "--json")
    rows = read_measured_csv(args.rows)
    cal = load_calibration(args.calibration) if args.calibration else None
    report = check(rows, cal)
    lines = _write(out, _json(report))
    print("\n".join([check_text(report)] + lines))
    return 0


def _cmd_calibrate_measure(args: argparse.Namespace) -> int:
    out = _output(args.out, "--out")
    spec = MeasureSpec(model=args.model, phases=tuple(args.phase), batches=tuple(args.batches),
                       new_tokens=args.new_tokens, context_tokens=args.context_tokens, layers=args.layers,
                       precision=args.precision, device=args.device, warmup=args.warmup, repeats=args.repeats)
    rows = measure(spec, args.accelerator, progress=_Progress(not args.quiet, every_s=0.0))
    lines = _write(out, lambda p: write_measured_csv(rows, p))
    print("\n".join([check_text(check(rows, None))] + lines))
    return 0


def _cmd_calibrate_retrieval(args: argparse.Namespace) -> int:
    out = _output(args.json, "--json")
    base = RetrievalSpec(vectors=20_000, dim=16, code_bytes=8, nlist=256, clusters=64, batches=(1, 16, 64),
                         fractions=(0.004, 0.03, 0.1), min_time_s=0.01) if args.small else RetrievalSpec()
    given = {k: v for k, v in (("vectors", args.vectors), ("dim", args.dim), ("code_bytes", args.code_bytes),
                               ("nlist", args.nlist), ("k", args.k), ("seed", args.seed)) if v is not None}
    given |= {k: tuple(v) for k, v in (("batches", args.batches), ("fractions", args.fractions),
                                        ("threads", args.threads)) if v}
    report = calibrate_retrieval(RetrievalSpec(**{**base.__dict__, **given}),
                                 progress=_Progress(not args.quiet, every_s=0.0))
    lines = _write(out, _json(report))
    print("\n".join([retrieval_text(report)] + lines))
    return 0


def _calibrate_parser(sub) -> None:
    cal = sub.add_parser("calibrate", help="fit the roofline to measured latencies, check it, measure a GPU, "
                                           "calibrate retrieval on faiss")
    csub = cal.add_subparsers(dest="calibrate_command", required=True, parser_class=_Parser)
    f = csub.add_parser("fit", help="fit compute/memory efficiency and per-layer overheads to measured rows")
    f.add_argument("rows", help="measured rows CSV (docs/model.md, 'Measured rows')")
    f.add_argument("--out", metavar="CAL.json", help="write the calibration")
    f.add_argument("--name", help="the calibration's name (default: the CSV's file name)")
    f.set_defaults(func=_cmd_calibrate_fit)
    c = csub.add_parser("check", help="the roofline's error on measured rows, datasheet or calibrated")
    c.add_argument("rows", help="measured rows CSV")
    c.add_argument("--calibration", metavar="CAL.json", help="a calibration to apply (default: datasheet peaks)")
    c.add_argument("--json", metavar="OUT", help="write the report (median_abs_error, max_error_ratio, "
                                                 "rows_compared, groups, rows)")
    c.set_defaults(func=_cmd_calibrate_check)
    m = csub.add_parser("measure", help="time prefill and decode passes of a model on the local GPU (needs the "
                                        "[measure] extra: torch)")
    m.add_argument("--model", required=True, help="catalog model, e.g. llama3-8b (models/catalog.py)")
    m.add_argument("--out", required=True, metavar="ROWS.csv", help="write the measured rows")
    m.add_argument("--phase", nargs="+", choices=["prefill", "decode"], default=["prefill", "decode"])
    m.add_argument("--batches", type=_COUNT, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    m.add_argument("--new-tokens", type=_COUNT, help="prefill tokens per sequence (default 512; encoders 128)")
    m.add_argument("--context-tokens", type=_COUNT, default=640, help="decode: cached tokens per sequence")
    m.add_argument("--layers", type=_COUNT, help="run this many layers and scale to the model's (a model too "
                                                 "large for the GPU)")
    m.add_argument("--precision", choices=["bf16", "fp16"], default="bf16")
    m.add_argument("--device", default="auto", help="auto (CUDA if present), cuda, cuda:1, cpu")
    m.add_argument("--accelerator", help="catalog name of the device (default: detected from the CUDA device)")
    m.add_argument("--warmup", type=_COUNT, default=3)
    m.add_argument("--repeats", type=_COUNT, default=20)
    m.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    m.set_defaults(func=_cmd_calibrate_measure)
    r = csub.add_parser("retrieval", help="time faiss IVF-PQ on this machine, fit the scan model (V5-V6) and "
                                          "measure recall per scan fraction (V7); needs the [retrieval] extra")
    r.add_argument("--json", metavar="OUT", help="write the fit, the recall curve and every timed row")
    r.add_argument("--small", action="store_true", help="a 20k-vector index timed in seconds (CI, a smoke test)")
    r.add_argument("--vectors", type=_COUNT, help="database vectors (default 1,000,000)")
    r.add_argument("--dim", type=_COUNT, help="vector dimension (default 64)")
    r.add_argument("--code-bytes", type=_COUNT, help="PQ code bytes per vector (default 32)")
    r.add_argument("--nlist", type=_COUNT, help="inverted lists (default 2048)")
    r.add_argument("--fractions", type=_number(float, 0.0, "a scan fraction"), nargs="+",
                   help="scan fractions (default 0.001 0.003 0.01 0.03 0.1)")
    r.add_argument("--batches", type=_COUNT, nargs="+", help="query batch sizes (default 1 4 16 64 256)")
    r.add_argument("--threads", type=_COUNT, nargs="+", help="thread counts (default 1 and every core)")
    r.add_argument("--k", type=_COUNT, help="neighbours per query (default 10)")
    r.add_argument("--seed", type=_SEED, help="data seed (default 0)")
    r.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    r.set_defaults(func=_cmd_calibrate_retrieval)


def _planning_options(p: argparse.ArgumentParser, qps_help: str) -> None:
    p.add_argument("--solver", choices=["exhaustive", "cpsat"], default="cpsat",
                   help="cpsat (default): proven-optimal slice sweep, any space size; exhaustive: enumerate every "
                        "schedule (refuses spaces beyond 1e8 schedules)")
    p.add_argument("--chips", choices=["pow2", "any"], help="override search.chips")
    p.add_argument("--batches", choices=["pow2", "any"], help="override search.batches")
    p.add_argument("--placement", choices=["all", "disaggregated", "collocated"], help="override search.placement")
    p.add_argument("--accelerator", help="override cost.accelerator (analytical cost sources), e.g. XPU-A")
    _calibration_option(p)
    p.add_argument("--ttft-max-s", type=_SECONDS, help="override slo.ttft_max_s")
    p.add_argument("--tpot-max-s", type=_SECONDS, help="override slo.tpot_max_s")
    p.add_argument("--qps-min", type=_RATE, help=qps_help)
    p.add_argument("--workers", type=_COUNT, default=1, help="CP-SAT search workers (1 is fastest on slice models)")
    p.add_argument("--time-limit-s", type=_SECONDS, default=None,
                   help="time limit of the whole run (default: none); when it ends the run, the plans found are "
                        "returned, unproven ones with their gap")
    p.add_argument("--seed", type=_SEED, default=0, help="CP-SAT random seed")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ragplan", description="Plan placement, chips and batching of RAG serving pipelines.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    par = sub.add_parser("pareto", help="trace the TTFT vs QPS/chip Pareto frontier of an instance")
    par.add_argument("instance", help="instance YAML")
    _planning_options(par, "override slo.qps_min")
    par.add_argument("--json", metavar="OUT", help="write the frontier as JSON")
    par.add_argument("--plot", metavar="OUT.png", help="write a plot of the frontier (.png, .svg or .pdf)")
    par.set_defaults(func=_cmd_pareto)
    cap = sub.add_parser("min-chips", help="the fewest chips (and their plan) meeting a QPS target and the SLO")
    cap.add_argument("instance", help="instance YAML")
    _planning_options(cap, "the QPS target, requests/s (overrides slo.qps_min; required if the instance has none)")
    cap.add_argument("--json", metavar="OUT", help="write the plan as JSON")
    cap.set_defaults(func=_cmd_min_chips)
    ev = sub.add_parser("evaluate", help="metrics of one plan: a plan JSON, a frontier point, or a frontier or "
                                         "min-chips JSON of ragplan's own")
    ev.add_argument("instance")
    ev.add_argument("plan")
    _calibration_option(ev)
    ev.add_argument("--point", default=None, help="in a frontier JSON: a point's index (0-based), "
                                                  "max-qps-per-chip or min-ttft (default: the only point, if one)")
    ev.set_defaults(func=_cmd_evaluate)
    spc = sub.add_parser("space", help="show an instance's stages, placements and options")
    spc.add_argument("instance")
    spc.set_defaults(func=_cmd_space)
    cst = sub.add_parser("costs", help="a stage's latency/throughput table and which resource bounds each option")
    cst.add_argument("instance")
    cst.add_argument("--stage", required=True, help="stage kind, e.g. prefill, decode, retrieval")
    cst.add_argument("--units", type=_number(int, 0, "a whole number of chips or servers"), nargs="+",
                     help="chip (retrieval: server) counts; default: the options")
    cst.add_argument("--batches", type=_number(int, 0, "a whole batch size"), nargs="+",
                     help="batch sizes; default: powers of two to the limit")
    cst.add_argument("--accelerator", help="override cost.accelerator (analytical cost sources)")
    _calibration_option(cst)
    cst.set_defaults(func=_cmd_costs)
    val = sub.add_parser("validate", help="analytical models vs GenZ and RAGO profiles, and the paper's findings")
    val.add_argument("--json", metavar="OUT", help="write the full report as JSON")
    val.add_argument("--markdown", metavar="OUT.md", help="write the full report as Markdown (docs/validation.md)")
    val.add_argument("--profiles", type=Path, help="RAGO profile folder (default: instances/rago-oss/profiles)")
    val.add_argument("--instances", type=Path, help="paper instance folder (default: instances/paper)")
    val.add_argument("--no-findings", action="store_true", help="skip the planning runs behind the findings")
    val.set_defaults(func=_cmd_validate)
    _calibrate_parser(sub)
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
