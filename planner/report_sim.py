"""Text and JSON of ``ragplan simulate`` (docs/model.md, "Simulation", D1-D6)."""

from __future__ import annotations

from planner.percentile import P99Check
from planner.report import fixed_table
from planner.simulate import SimResult

__all__ = ["p99_json", "p99_text", "sim_json", "sim_text"]


def sim_text(r: SimResult, arrivals: str) -> str:
    err_q = r.achieved_qps / min(r.offered_qps, r.predicted_max_qps) - 1
    err_t = r.ttft_s["mean"] / r.predicted_ttft_s - 1
    lines = [f"simulated {r.requests} requests ({arrivals}, {r.duration_s:.4g} s of arrivals, seed {r.seed}, "
             f"batch timeout {r.timeout_s:.4g} s) in {r.wall_s:.3g} s",
             f"QPS: offered {r.offered_qps:.5g}, achieved {r.achieved_qps:.5g}, predicted capacity "
             f"{r.predicted_max_qps:.5g} (achieved vs min(offered, capacity): {err_q:+.2%})"
             + ("  SATURATED: the load exceeds what the plan serves" if r.saturated else ""),
             f"TTFT s: mean {r.ttft_s['mean']:.4g}  p50 {r.ttft_s['p50']:.4g}  p90 {r.ttft_s['p90']:.4g}  p99 "
             f"{r.ttft_s['p99']:.4g}  (predicted for one full batch {r.predicted_ttft_s:.4g}: mean {err_t:+.1%})",
             f"TPOT s: mean {r.tpot_s['mean']:.4g}  p99 {r.tpot_s['p99']:.4g};  end-to-end s: mean "
             f"{r.e2e_s['mean']:.4g}  p99 {r.e2e_s['p99']:.4g}",
             "group                                  utilisation  queue mean  queue max"]
    lines += [f"{g:38s} {r.utilisation[g]:11.1%} {r.queue_mean[g]:11.3g} {r.queue_max[g]:10d}" for g in r.utilisation]
    return "\n".join(lines)


def sim_json(r: SimResult) -> dict:
    return {"requests": r.requests, "duration_s": r.duration_s, "seed": r.seed, "timeout_s": r.timeout_s,
            "offered_qps": r.offered_qps, "achieved_qps": r.achieved_qps, "predicted_max_qps": r.predicted_max_qps,
            "predicted_ttft_s": r.predicted_ttft_s, "saturated": r.saturated, "served": r.served,
            **{f"ttft_{k}_s": v for k, v in r.ttft_s.items()}, **{f"tpot_{k}_s": v for k, v in r.tpot_s.items()},
            **{f"e2e_{k}_s": v for k, v in r.e2e_s.items()}, "utilisation": r.utilisation,
            "queue_mean": r.queue_mean, "queue_max": r.queue_max, "wall_s": r.wall_s}


def p99_text(chosen: P99Check | None, tried: list[P99Check], bound_s: float, rate: float, seed: int) -> str:
    """D7-D8: every plan simulated, and the one chosen (simulated, not proven)."""
    rows = [[c.label, f"{c.point.metrics.ttft_s:.4g}", f"{c.point.metrics.qps_per_chip:.4g}",
             f"{c.point.metrics.qps:.5g}", f"{c.p99_s:.4g}", f"[{c.interval_s[0]:.4g}, {c.interval_s[1]:.4g}]",
             "yes" if c.meets else "no (saturated)" if c.sim.saturated else "no"] for c in tried]
    head = ["plan", "TTFT s", "QPS/chip", "capacity QPS", "sim p99 TTFT s", "95% CI", "meets"]
    return "\n".join([f"p99 TTFT <= {bound_s:g} s at {rate:g} requests/s, by simulation (Poisson, seed {seed}; 95% "
                      f"CI by batch means):"] + fixed_table(head, rows, left=1)
                     + [f"chosen (simulated): {chosen.label}" if chosen else "no plan tried meets the bound"])


def p99_json(chosen: P99Check | None, tried: list[P99Check], bound_s: float, rate: float, seed: int) -> dict:
    return {"ttft_p99_slo_s": bound_s, "rate_qps": rate, "seed": seed, "method": "simulated",
            "chosen": chosen.label if chosen else None,
            "tried": [{"label": c.label, "predicted_ttft_s": c.point.metrics.ttft_s,
                       "qps_per_chip": c.point.metrics.qps_per_chip, "capacity_qps": c.point.metrics.qps,
                       "chips": c.point.metrics.chips, "ttft_p99_s": c.p99_s, "ttft_p99_ci_s": list(c.interval_s),
                       "saturated": c.sim.saturated, "meets": c.meets} for c in tried]}
