"""Human and machine views of results: the frontier table, the JSON payload and the PNG plot.

With ``planner.cli`` the only module that formats or draws; it never prints (the CLI does).
"""

from __future__ import annotations

from pathlib import Path

from planner.schema import FrontierResult, Metrics, Plan

__all__ = ["SHORT", "frontier_json", "frontier_table", "metrics_text", "plot_frontier"]

SHORT = {"encode": "enc", "rewrite_prefill": "rwp", "rewrite_decode": "rwd", "retrieval": "ret", "rerank": "rr",
         "prefill": "pf", "decode": "dec"}


def _placement(plan: Plan) -> str:
    return " | ".join("+".join(SHORT[s] for s in g) for g in plan.placement)


def _per_stage(values: dict[str, int]) -> str:
    return " ".join(f"{SHORT[s]}:{v}" for s, v in values.items())


def frontier_table(result: FrontierResult) -> str:
    """A fixed-width table of the frontier, one row per point, TTFT ascending."""
    head = ["#", "TTFT s", "TPOT ms", "QPS", "QPS/chip", "chips", "srv", "placement", "chips/stage", "batch/stage",
            "bottleneck", "opt"]
    rows = []
    for i, p in enumerate(result.points, 1):
        m, plan = p.metrics, p.plan
        opt = "yes" if p.proven_optimal else (f"gap {p.gap:.2%}" if p.gap is not None else "no")
        rows.append([str(i), f"{m.ttft_s:.4g}", f"{m.tpot_s * 1e3:.4g}", f"{m.qps:.4g}", f"{m.qps_per_chip:.4g}",
                     str(m.chips), str(m.retrieval_servers), _placement(plan), _per_stage(plan.chips_per_stage),
                     _per_stage(plan.batch_per_stage), "+".join(SHORT[s] for s in m.bottleneck), opt])
    widths = [max(len(r[c]) for r in [head] + rows) for c in range(len(head))]
    line = lambda r: "  ".join(v.rjust(w) if c < 7 else v.ljust(w) for c, (v, w) in enumerate(zip(r, widths)))  # noqa: E731
    stage_names = ", ".join(f"{v}={k}" for k, v in SHORT.items())
    title = (f"{result.instance}: {len(result.points)} Pareto points (TTFT lower, QPS/chip higher), solver "
             f"{result.solver}, {result.solve_seconds:.3g} s"
             + (f", {result.schedules_evaluated} schedules evaluated" if result.schedules_evaluated else ""))
    return "\n".join([title, line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
                     + [f"stages: {stage_names}"])


def frontier_json(result: FrontierResult) -> dict:
    """The JSON contract of ``ragplan pareto --json``."""
    return {
        "instance": result.instance,
        "solver": result.solver,
        "solve_seconds": result.solve_seconds,
        "schedules_evaluated": result.schedules_evaluated,
        "points": [
            {
                "ttft_s": p.metrics.ttft_s,
                "tpot_s": p.metrics.tpot_s,
                "qps": p.metrics.qps,
                "qps_per_chip": p.metrics.qps_per_chip,
                "chips": p.metrics.chips,
                "retrieval_servers": p.metrics.retrieval_servers,
                "proven_optimal": p.proven_optimal,
                "gap": p.gap,
                "placement": [list(g) for g in p.plan.placement],
                "chips_per_stage": dict(p.plan.chips_per_stage),
                "batch_per_stage": dict(p.plan.batch_per_stage),
                "bottleneck": list(p.metrics.bottleneck),
                "time_share": dict(p.metrics.time_share),
            }
            for p in result.points
        ],
    }


def metrics_text(m: Metrics) -> str:
    lines = [f"TTFT {m.ttft_s:.6g} s, TPOT {m.tpot_s * 1e3:.6g} ms, QPS {m.qps:.6g}, QPS/chip {m.qps_per_chip:.6g}, "
             f"{m.chips} chips, {m.retrieval_servers} retrieval servers, bottleneck {'+'.join(m.bottleneck)}"]
    lines += [f"  {s:16s} {q:12.6g} QPS" for s, q in m.stage_qps.items()]
    return "\n".join(lines)


def plot_frontier(result: FrontierResult, path: str | Path) -> None:
    """Write a PNG of the frontier (TTFT vs QPS/chip), one marker per point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [p.metrics.ttft_s for p in result.points]
    ys = [p.metrics.qps_per_chip for p in result.points]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.step(xs, ys, where="post", color="tab:blue", alpha=0.5)
    ax.scatter(xs, ys, color=["tab:blue" if p.proven_optimal else "tab:orange" for p in result.points], zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel("TTFT (s)")
    ax.set_ylabel("QPS per chip")
    ax.set_title(f"{result.instance}: Pareto frontier ({result.solver}, {len(xs)} points)")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
