"""Text, JSON and plot of ``ragplan compare``: a frontier against the RAGO paper's baseline (B1-B2)."""

from __future__ import annotations

from pathlib import Path

from planner.baseline import Comparison
from planner.report import fixed_table, frontier_json
from planner.schema import FrontierResult

__all__ = ["compare_json", "compare_text", "plot_compare"]


def compare_text(ours: FrontierResult, base: FrontierResult, c: Comparison, baseline: str, chips: int) -> str:
    """The two frontiers' best QPS/chip and least TTFT, and the speedups."""
    rows = [[label, f"{float(r) * 1e12:.4g}", f"{t / 1e12:.4g}", str(len(res.points)), res.solver,
             "yes" if all(p.proven_optimal for p in res.points) and res.complete else "no"]
            for label, res, r, t in (("ragplan", ours, c.max_ratio, c.min_ttft_ps),
                                     (baseline, base, c.baseline_max_ratio, c.baseline_min_ttft_ps))]
    head = ["frontier", "max QPS/chip", "min TTFT s", "points", "solver", "proven"]
    return "\n".join([f"{ours.instance} against the {baseline} baseline (every pre-decode stage with the prefix on "
                      f"{chips // 2} chips, decode on {chips // 2}; {chips} chips)"]
                     + fixed_table(head, rows, left=1)
                     + [f"speedup in max QPS/chip: {c.speedup_max_qps_per_chip:.3g}x; min TTFT reduction: "
                        f"{c.min_ttft_reduction:.1%}"])


def compare_json(ours: FrontierResult, base: FrontierResult, c: Comparison, baseline: str, chips: int) -> dict:
    return {
        "instance": ours.instance,
        "baseline": baseline,
        "baseline_chips": chips,
        "speedup_max_qps_per_chip": c.speedup_max_qps_per_chip,
        "min_ttft_reduction": c.min_ttft_reduction,
        "max_qps_per_chip": float(c.max_ratio) * 1e12,
        "baseline_max_qps_per_chip": float(c.baseline_max_ratio) * 1e12,
        "min_ttft_s": c.min_ttft_ps / 1e12,
        "baseline_min_ttft_s": c.baseline_min_ttft_ps / 1e12,
        "frontier": frontier_json(ours),
        "baseline_frontier": frontier_json(base),
    }


def plot_compare(ours: FrontierResult, base: FrontierResult, c: Comparison, baseline: str, path: str | Path) -> None:
    """Both frontiers, TTFT (log) vs QPS/chip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for res, label, color in ((ours, "ragplan", "tab:blue"), (base, baseline, "tab:red")):
        xs = [p.metrics.ttft_s for p in res.points]
        ys = [p.metrics.qps_per_chip for p in res.points]
        ax.step(xs, ys, where="post", color=color, alpha=0.5)
        ax.scatter(xs, ys, color=color, zorder=3, label=f"{label} ({len(xs)} points)")
    ax.set_xscale("log")
    ax.set_xlabel("TTFT (s)")
    ax.set_ylabel("QPS per chip")
    ax.set_title(f"{ours.instance}: {c.speedup_max_qps_per_chip:.2f}x max QPS/chip over {baseline}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
