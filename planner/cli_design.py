"""``ragplan design`` and the quality options of the planning commands (K4-K7)."""

from __future__ import annotations

import argparse
import functools

from planner.cli_common import Progress, json_writer, output, write
from planner.design import design_levels
from planner.errors import InstanceError
from planner.knobs import parse_floor
from planner.loader import load_instance
from planner.report_design import design_json, design_text
from planner.schema import Instance

__all__ = ["design_options", "design_parser", "floors", "quality_options"]


def quality_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quality-min", type=float, default=None, metavar="Q",
                   help="K4: the design's quality metric (design.quality_metric) >= Q")
    p.add_argument("--floor", action="append", default=[], metavar="METRIC>=V",
                   help="K4: a floor on one quality metric, e.g. recall>=0.9 (repeatable)")


def floors(args: argparse.Namespace, inst: Instance) -> dict[str, float]:
    """The command line's quality floors (over the design's own ``floors``)."""
    out = dict(parse_floor(f) for f in args.floor)
    if args.quality_min is not None:
        if inst.design is None:
            raise InstanceError(f"--quality-min {args.quality_min} needs a design section in {inst.name} (its knobs "
                                f"and quality tables). To fix: add one (docs/model.md, Self-design) or drop the "
                                f"option")
        out[inst.design.metric] = args.quality_min
    if getattr(args, "ttft_p99_slo", None) is not None:
        raise InstanceError("--ttft-p99-slo is not checked over a design's knob combinations. To fix: plan one "
                            "combination (an instance without a design section) for a p99 check")
    return out


def design_options(args: argparse.Namespace) -> dict:
    if args.solver == "auto":
        raise InstanceError("--solver auto is not offered for designs. To fix: use --solver cpsat or exhaustive")
    return {"solver": args.solver, "workers": args.workers, "time_limit_s": args.time_limit_s, "seed": args.seed,
            "progress": Progress(not args.quiet)}


def _cmd_design(args: argparse.Namespace, overrides) -> int:
    out_json = output(args.json, "--json")
    inst = overrides(load_instance(args.instance), args)
    result = design_levels(inst, floors(args, inst), **design_options(args))
    lines = write(out_json, json_writer(design_json(result)))
    print("\n".join([design_text(result)] + lines))
    return 0


def design_parser(sub, planning_options, overrides) -> None:
    d = sub.add_parser("design", help="the three-way frontier (quality, TTFT, QPS/chip) over a design's knobs, and "
                                      "what each knob costs per quality level")
    d.add_argument("instance", help="instance YAML with a design section")
    planning_options(d, "override slo.qps_min")
    d.add_argument("--json", metavar="OUT", help="write every level's frontier and knob costs as JSON")
    d.set_defaults(func=functools.partial(_cmd_design, overrides=overrides))
