"""Benchmark of priced planning (issue: priced resources). Prints tables and writes JSON.

1. ``capacity`` on every shipped paper instance (objectives chips and cost) at half the highest QPS its space can
   reach (U1's QPS bound; a quarter if half is infeasible): wall time, CP-SAT solves, proven.
2. ``purchase`` over the 3-type catalog of the worked example (instances/priced/rag-70b-hyperscale.yaml): wall
   time, the QPS of each fleet, proven.
3. Mixed vs single-type fleets on the worked example: the least cost, purchase and power per QPS target, with and
   without a per-type budget (B200 supply capped), pow2 and ``any`` chip counts; where the mixed catalog is
   strictly cheaper than the best single type (it can never be dearer: a superset).

Usage: python bench/priced.py [--out bench/results/priced.json] [--skip-any]
Times are wall-clock seconds on this machine; compare ratios measured in one run, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner import build_space, load_instance
from planner.capacity import capacity
from planner.costs import offer_types
from planner.cpsat import Clock, SliceSweep, SolverSettings
from planner.errors import InfeasibleError
from planner.evaluate import plan_weight
from planner.purchase import purchase
from planner.report import fixed_table
from planner.schema import Slo

EXAMPLE = ROOT / "instances" / "priced" / "rag-70b-hyperscale.yaml"


def paper_capacity() -> list[dict]:
    rows = []
    for path in sorted((ROOT / "instances" / "paper").glob("*.yaml")):
        space = build_space(load_instance(path))
        top = float(max(SliceSweep(space, Slo(), SolverSettings(), Clock(None)).qps_ub)) * 1e12
        for objective in ("chips", "cost"):
            for frac in (0.5, 0.25, 0.1):
                t0 = time.perf_counter()
                try:
                    r = capacity(space, slo=Slo(qps_min=top * frac), objective=objective)
                except InfeasibleError:
                    continue
                rows.append({"instance": path.stem, "objective": objective, "qps_target": top * frac,
                             "seconds": time.perf_counter() - t0, "solves": r.solves,
                             "proven": r.point.proven_optimal, "chips": r.point.metrics.chips,
                             "cost_usd_per_hour": r.point.metrics.cost_usd_per_hour})
                break
    return rows


def purchases() -> list[dict]:
    inst = load_instance(EXAMPLE)
    out = []
    for budget, per_hour in ((2_000_000, False), (5_000_000, False), (700, True)):
        t0 = time.perf_counter()
        r = purchase(inst, budget, per_hour=per_hour)
        out.append({"budget_usd": budget, "per_hour": per_hour, "seconds": time.perf_counter() - t0,
                    "fleets": [{"types": list(f.types), "qps": f.point.metrics.qps if f.point else None,
                                "proven": f.proven_optimal, "searches": f.searches} for f in r.fleets]})
    return out


def mixed_vs_single(chips_modes: list[str]) -> list[dict]:
    base = load_instance(EXAMPLE)
    out = []
    for chips in chips_modes:
        for budget in (None, 64):
            search = {"chips": chips} | ({"max_chips_per_type": {"B200": budget}} if budget else {})
            inst = base.model_copy(update={"search": base.search.model_copy(update=search)})
            spaces = {t: build_space(offer_types(inst, [t])) for t in ("H100", "H200", "B200")}
            spaces["mixed"] = build_space(inst)
            for q in (250.0, 500.0, 1000.0, 1400.0):
                for objective in ("cost", "capex", "power"):
                    t0 = time.perf_counter()
                    best = {}
                    for name, space in spaces.items():
                        try:
                            r = capacity(space, slo=space.instance.slo.model_copy(update={"qps_min": q}),
                                         objective=objective)
                            best[name] = (plan_weight(space, r.point.plan, objective) / space.scale(objective),
                                          r.point.proven_optimal, dict(r.point.metrics.chips_per_type))
                        except InfeasibleError:
                            best[name] = (None, True, {})
                    singles = [(v[0], k) for k, v in best.items() if k != "mixed" and v[0] is not None]
                    single = min(singles, default=(None, None))
                    mixed = best["mixed"][0]
                    out.append({"chips": chips, "b200_budget": budget, "qps": q, "objective": objective,
                                "best_single": single[1], "single_value": single[0], "mixed_value": mixed,
                                "mixed_types": best["mixed"][2], "proven": all(v[1] for v in best.values()),
                                "strictly_cheaper": mixed is not None and (single[0] is None or mixed < single[0]),
                                "never_dearer": mixed is None and single[0] is None or (
                                    mixed is not None and (single[0] is None or mixed <= single[0] * (1 + 1e-12))),
                                "seconds": time.perf_counter() - t0})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "priced.json"))
    ap.add_argument("--skip-any", action="store_true")
    args = ap.parse_args()
    cap = paper_capacity()
    print(f"1. capacity on the {len({r['instance'] for r in cap})} paper instances")
    print("\n".join(fixed_table(["instance", "objective", "QPS target", "s", "solves", "proven", "chips"],
                                [[r["instance"], r["objective"], f"{r['qps_target']:.4g}", f"{r['seconds']:.2f}",
                                  str(r["solves"]), "yes" if r["proven"] else "NO", str(r["chips"])] for r in cap],
                                left=2)))
    print(f"   slowest {max(r['seconds'] for r in cap):.2f} s; all proven: {all(r['proven'] for r in cap)}")
    pur = purchases()
    print("2. purchase over H100/H200/B200 (worked example)")
    for p in pur:
        fleets = ", ".join(f"{'+'.join(f['types'])} {f['qps']:.5g}" for f in p["fleets"] if f["qps"])
        print(f"   budget {p['budget_usd']:,}{'/h' if p['per_hour'] else ''}: {p['seconds']:.1f} s; {fleets}")
    mix = mixed_vs_single(["pow2"] if args.skip_any else ["pow2", "any"])
    print("3. mixed vs best single type (worked example)")
    print("\n".join(fixed_table(["chips", "B200 cap", "QPS", "objective", "best single", "single", "mixed",
                                 "mixed types", "strictly cheaper"],
                                [[m["chips"], str(m["b200_budget"] or "-"), f"{m['qps']:g}", m["objective"],
                                  str(m["best_single"]), f"{m['single_value']:,.6g}" if m["single_value"] else "-",
                                  f"{m['mixed_value']:,.6g}" if m["mixed_value"] else "-",
                                  ", ".join(f"{n} {t}" for t, n in m["mixed_types"].items()),
                                  "yes" if m["strictly_cheaper"] else ""] for m in mix], left=5)))
    print(f"   mixed never dearer: {all(m['never_dearer'] for m in mix)}; strictly cheaper in "
          f"{sum(m['strictly_cheaper'] for m in mix)} of {len(mix)} cases; all proven: {all(m['proven'] for m in mix)}")
    Path(args.out).write_text(json.dumps({"paper_capacity": cap, "purchase": pur, "mixed_vs_single": mix},
                                         indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
