"""Text, JSON and plots of the priced answers: capacity explanations, cost vs QPS target sweeps, purchases."""

from __future__ import annotations

from pathlib import Path

from planner.explain import Explanation
from planner.purchase import Fleet, PurchaseResult
from planner.report import UNITS, accelerator_per_group, capacity_json, fixed_table, point_json
from planner.schema import CapacityResult, Metrics

__all__ = ["explanation_text", "plot_sweep", "purchase_json", "purchase_text", "sweep_json", "sweep_text"]


def explanation_text(e: Explanation) -> str:
    share = ", ".join(f"{s} {v:.0%}" for s, v in sorted(e.time_share.items(), key=lambda kv: -kv[1]))
    lines = [f"why: bottleneck {'+'.join(e.bottleneck)}; resource-time shares {share}"]
    lines += [f"  binds: {b}" for b in e.binds] + [f"  room:  {s}" for s in e.slack]
    unit = UNITS[e.objective]
    for m in e.marginals:
        after = ("still no plan" if m.objective_after is None else
                 f"{m.objective_after:,.6g} {unit} ({m.delta:+,.6g}{'' if m.proven else ', not proven'})")
        lines.append(f"  if {m.change}: {after}")
    return "\n".join(lines)


def _fleet_row(types: str, m: Metrics | None, proven: bool, why: str = "") -> list[str]:
    if m is None:
        return [types, "-", "-", "-", "-", "-", "-", why[:70]]
    mix = ", ".join(f"{n} {t}" for t, n in m.chips_per_type.items())
    return [types, f"{m.qps:,.6g}", f"{m.cost_usd_per_hour:,.2f}" if m.cost_usd_per_hour is not None else "-",
            f"{m.capex_usd:,.0f}" if m.capex_usd is not None else "-",
            f"{m.power_w / 1e3:,.4g}" if m.power_w is not None else "-", mix, str(m.retrieval_servers),
            "proven" if proven else "NOT proven"]


def sweep_text(results: list[CapacityResult]) -> str:
    head = ["QPS target", "QPS", "USD/h", "capex USD", "kW", "chips", "ret. servers", "optimality"]
    rows = [[f"{r.qps_min:,.6g}"] + _fleet_row("", r.point.metrics, r.point.proven_optimal)[1:] for r in results]
    obj = results[0].objective if results else "cost"
    return "\n".join([f"least {obj} per QPS target ({len(results)} targets)"] + fixed_table(head, rows))


def sweep_json(results: list[CapacityResult]) -> dict:
    return {"objective": results[0].objective if results else None, "points": [capacity_json(r) for r in results]}


def plot_sweep(results: list[CapacityResult], path: str | Path) -> None:
    """The objective's value per QPS target (a step line: the least weight never falls as the target rises)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    obj = results[0].objective
    key = {"cost": "cost_usd_per_hour", "capex": "capex_usd", "power": "power_w", "chips": "chips"}[obj]
    xs = [r.qps_min for r in results]
    ys = [getattr(r.point.metrics, key) for r in results]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.step(xs, ys, where="post", color="tab:blue", alpha=0.6)
    ax.scatter(xs, ys, color=["tab:blue" if r.point.proven_optimal else "tab:orange" for r in results], zorder=3)
    ax.set_xlabel("QPS target")
    ax.set_ylabel(f"least {obj} ({UNITS[obj]})")
    ax.set_title(f"{results[0].instance}: least {obj} per QPS target")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def purchase_text(r: PurchaseResult) -> str:
    what = f"${r.budget_usd:,.2f}/h of rent" if r.per_hour else f"${r.budget_usd:,.0f} of purchase"
    head = ["fleet", "QPS", "USD/h", "capex USD", "kW", "chips", "ret. servers", "optimality / why none"]
    rows = [_fleet_row("+".join(f.types), f.point.metrics if f.point else None, f.proven_optimal, f.why)
            for f in r.fleets]
    lines = [f"{r.instance}: the most QPS {what} buys under the SLO ({r.solve_seconds:.2f} s)"]
    lines += fixed_table(head, rows, left=1)
    single, mixed = r.best(False), r.best(True)
    if single is not None:
        lines.append(f"best single type: {single.types[0]}, {single.point.metrics.qps:,.6g} QPS")
    if mixed is not None and mixed.point is not None:
        gain = (mixed.point.metrics.qps / single.point.metrics.qps - 1) if single is not None else float("inf")
        groups = "; ".join(f"{'+'.join(g['group'])} on {g['chips']} x {g['accelerator']}"
                           for g in accelerator_per_group(mixed.point.plan))
        lines.append(f"best mixed fleet: {groups} ({gain:+.2%} QPS vs the best single type)")
    return "\n".join(lines)


def _fleet_json(f: Fleet) -> dict:
    return {"types": list(f.types), "proven_optimal": f.proven_optimal, "why": f.why, "solves": f.solves,
            "searches": f.searches, "plan": point_json(f.point) if f.point else None}


def purchase_json(r: PurchaseResult) -> dict:
    single, mixed = r.best(False), r.best(True)
    return {"instance": r.instance, "budget_usd": r.budget_usd, "per_hour": r.per_hour, "objective": r.objective,
            "solve_seconds": r.solve_seconds, "fleets": [_fleet_json(f) for f in r.fleets],
            "best_single": _fleet_json(single) if single else None,
            "best_mixed": _fleet_json(mixed) if mixed else None}
