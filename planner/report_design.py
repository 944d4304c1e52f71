"""Text and JSON of ``ragplan design`` (K6-K7): per quality level its frontier's best point and what each knob
costs, then the three-way (quality, TTFT, QPS/chip) Pareto set."""

from __future__ import annotations

from planner.design import DesignResult
from planner.report import knob_text, point_json

__all__ = ["design_json", "design_text"]


def _fmt(x: float | None, spec: str = ".4g") -> str:
    return "-" if x is None else format(x, spec)


def design_text(r: DesignResult) -> str:
    bound = f"TTFT <= {r.ttft_max_s:.4g} s" if r.ttft_max_s is not None else "no TTFT bound"
    out = [f"{r.instance}: design over {r.metric} levels, solver {r.solver}, {r.solve_seconds:.3g} s"
           + (f", {r.solves} CP-SAT solves" if r.solves else "")
           + (f"; {len(r.variants_left_out)} knob combinations left out (floors, or no space)"
              if r.variants_left_out else "")]
    for lv in r.levels:
        best = lv.frontier[-1] if lv.frontier else None
        out.append("")
        out.append(f"{r.metric} >= {lv.quality_min:.4g}: {len(lv.variants)} combinations, {len(lv.frontier)} "
                   f"frontier points; best under {bound}: "
                   + (f"QPS/chip {best.metrics.qps_per_chip:.4g} at TTFT {best.metrics.ttft_s:.4g} s with "
                      f"{knob_text(best.knobs)}" if best else "no plan"))
        top = best.metrics.qps_per_chip if best else None
        rows = [f"  {c.knob}={c.value:.4g}" if isinstance(c.value, float) else f"  {c.knob}={c.value}"
                for c in lv.knob_costs]
        width = max(len(x) for x in rows) if rows else 0
        for text, c in zip(rows, lv.knob_costs):
            loss = (f"  ({c.qps_per_chip / top - 1:+.1%} vs best)" if top and c.qps_per_chip is not None else "")
            out.append(f"{text.ljust(width)}  QPS/chip {_fmt(c.qps_per_chip)}  TTFT {_fmt(c.ttft_s)} s{loss}"
                       + ("" if c.proven else "  (not proven)"))
    if not r.complete:
        out.append("")
        out.append("INCOMPLETE: the time limit cut some levels short (their points may not be proven; raise "
                   "--time-limit-s)")
    out.append("")
    out.append(f"three-way Pareto set ({r.metric} higher, TTFT lower, QPS/chip higher): {len(r.three_way)} points")
    for li, pi in r.three_way:
        p = r.levels[li].frontier[pi]
        out.append(f"  {r.metric} {p.quality[r.metric]:.4g}  TTFT {p.metrics.ttft_s:.4g} s  QPS/chip "
                   f"{p.metrics.qps_per_chip:.4g}  {knob_text(p.knobs)}")
    return "\n".join(out)


def design_json(r: DesignResult) -> dict:
    """The JSON contract of ``ragplan design --json``."""
    return {"schema": "ragplan.design/1", "instance": r.instance, "metric": r.metric, "solver": r.solver,
            "solve_seconds": r.solve_seconds,
            "solves": r.solves, "complete": r.complete, "ttft_max_s": r.ttft_max_s, "variants_left_out": dict(r.variants_left_out),
            "levels": [{"quality_min": lv.quality_min, "variants": list(lv.variants),
                        "frontier": [point_json(p) for p in lv.frontier],
                        "knob_costs": [c.model_dump() for c in lv.knob_costs]} for lv in r.levels],
            "three_way": [{"level": li, "point": pi} for li, pi in r.three_way]}
