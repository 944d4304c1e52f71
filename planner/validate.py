"""Validation of the analytical models against the RAGO artifact and the RAGO paper (``docs/validation.md``).

Three checks, all computed, none typed in:

1. Roofline vs GenZ: every H100 row of the RAGO inference profiles (GenZ simulations of Llama-2 7B/70B prefill
   and decode, and the 120M encoder) against ``models.roofline`` on the catalog's H100 with the paper's int8
   setup. Memory capacity is not enforced here (GenZ keeps rows our HBM model would split into waves); the
   latency of the one-pass configuration is compared. Error = ours / GenZ - 1.
2. Scan model vs the RAGO retrieval profile: ``models.scan`` with the paper's IVF-PQ parameters (64B vectors,
   96 B, 0.1 %, 3 levels, fanout 4K) for ``large_64b``, and brute force over 768-d fp16 vectors for the small
   databases.
4. Against real hardware: the measured H100 rows (``instances/measured``) under the datasheet roofline and under
   the shipped calibration (C1-C5), per model and phase, and each model predicted by a calibration fitted on the
   other models' rows only; and the scan model vs faiss on a real machine (V5-V7), read from the stored
   ``ragplan calibrate retrieval`` run (``bench/results/retrieval-calibration.json``, which names its machine).
3. The paper's qualitative findings, re-derived from the frontiers of ``instances/paper`` (power-of-two spaces,
   solved exactly by enumeration, which the test-suite proves equal to CP-SAT's frontier there).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from models import read_inference_csv, read_retrieval_csv
from models.analytical import StageWork
from models.calibration import check, fit, shipped_calibration
from models.catalog import accelerator, cpu_server, transformer
from models.measured import read_measured_csv
from models.roofline import Efficiency, Precision, pass_latency
from models.scan import Database, ScanCost
from planner.evaluate import stage_latencies
from planner.exhaustive import exhaustive_frontier
from planner.loader import load_instance
from planner.schema import FrontierPoint
from planner.space import build_space

__all__ = ["GENZ_MODELS", "findings", "genz_rows", "hardware", "retrieval_rows", "validate"]

REPO = Path(__file__).resolve().parents[1]
#: RAGO profile model names -> catalog names.
GENZ_MODELS = {"llama2_70b": "llama2-70b", "llama2_7b": "llama2-7b", "sbert_120M": "encoder-120m"}
#: RAGO retrieval databases -> the paper's description of them.
RAGO_DATABASES = {
    "large_64b": Database("large_64b", 64e9, 96, "ivf_pq", 0.001, 3, 4096),
    "small_100k": Database("small_100k", 1e5, 768 * 2, "brute_force"),
    "small_10k": Database("small_10k", 1e4, 768 * 2, "brute_force"),
}
_NO_CAPACITY_LIMIT = Efficiency(hbm_usable=1e6)  # compare latency only; capacity is checked elsewhere


def genz_rows(profiles_dir: Path, files: tuple[str, ...] = ("main_llm_perf.csv", "rewriter_perf.csv",
                                                             "encoder_perf.csv", "reranker_perf.csv")) -> list[dict]:
    """Check 1: one record per distinct H100 profile row: GenZ ms, ours ms, error."""
    hw = accelerator("H100")
    seen, out = set(), []
    for name in files:
        cols = read_inference_csv(Path(profiles_dir) / name)
        for i in np.flatnonzero(cols["hardware.name"] == "H100_GPU"):
            row = tuple(cols[c][i].item() if hasattr(cols[c][i], "item") else cols[c][i] for c in (
                "model.name", "model.stage", "model.dec_steps", "model.seq_len_inference_prefill",
                "hardware.num_chips", "batch_size", "time_ms"))
            if row in seen or row[0] not in GENZ_MODELS:
                continue
            seen.add(row)
            mname, stage, steps, seq, chips, batch, ms = row
            model = transformer(GENZ_MODELS[mname])
            ps = StageWork(stage, seq, decode_tokens=steps if stage == "decode" else None).step(model)
            lat, _ = pass_latency(model, hw, Precision(), _NO_CAPACITY_LIMIT, chips, np.array([float(batch)]), ps,
                                  waves=False)
            ours = float(lat[0]) * 1e3
            out.append({"file": name, "model": mname, "stage": stage, "seq_len": seq, "dec_steps": steps,
                        "chips": chips, "batch": batch, "genz_ms": ms, "ours_ms": ours, "error": ours / ms - 1})
    return out


def retrieval_rows(profiles_dir: Path, files: tuple[str, ...] = ("retrieval_perf.csv",
                                                                  "retrieval_perf_small_10k.csv")) -> list[dict]:
    """Check 2: one record per distinct retrieval profile row."""
    host = cpu_server("epyc-milan-96c")
    seen, out = set(), []
    for name in files:
        cols = read_retrieval_csv(Path(profiles_dir) / name)
        for i in range(len(cols["time_ms"])):
            db, servers, batch, ms = (str(cols["db.name"][i]), int(cols["hardware.num_servers"][i]),
                                      int(cols["batch_size"][i]), float(cols["time_ms"][i]))
            if (db, servers, batch) in seen or db not in RAGO_DATABASES:
                continue
            seen.add((db, servers, batch))
            cost = ScanCost(RAGO_DATABASES[db], host)
            ours = float(cost.latency_s(servers, batch)) * 1e3
            out.append({"database": db, "servers": servers, "batch": batch, "rago_ms": ms, "ours_ms": ours,
                        "error": ours / ms - 1, "bound": cost.bound(servers, batch)})
    return out


@functools.cache
def _frontier(path: Path) -> tuple[object, tuple[FrontierPoint, ...]]:
    """Space and exact frontier of one instance (several findings read the same instance: solved once)."""
    space = build_space(load_instance(path))
    return space, exhaustive_frontier(space).points


def _best(points: tuple[FrontierPoint, ...]) -> FrontierPoint:
    return max(points, key=lambda p: p.metrics.qps_per_chip)


def _fastest(points: tuple[FrontierPoint, ...]) -> FrontierPoint:
    return min(points, key=lambda p: p.metrics.ttft_s)


def findings(instances_dir: Path) -> list[dict]:
    """Check 3: the paper's findings, each with the paper's statement, our numbers and whether it holds."""
    d = Path(instances_dir)
    out = []
    # Case I: retrieval bounds 8B, QPS/chip roughly halves as query vectors double; 70B is inference-bound longer.
    for size in ("8b", "70b"):
        rows = []
        for q in (1, 2, 4, 8):
            _, pts = _frontier(d / (f"case1-{size}.yaml" if q == 1 else f"case1-{size}-q{q}.yaml"))
            b = _best(pts)
            rows.append({"queries": q, "max_qps_per_chip": b.metrics.qps_per_chip,
                         "bottleneck": list(b.metrics.bottleneck),
                         "retrieval_time_share": b.metrics.time_share["retrieval"]})
        ratios = [rows[i]["max_qps_per_chip"] / rows[i + 1]["max_qps_per_chip"] for i in range(3)]
        if size == "8b":
            holds = all(r["bottleneck"] == ["retrieval"] for r in rows) and all(1.6 <= x <= 2.4 for x in ratios)
            criterion = "retrieval is the bottleneck at every query count and each doubling divides QPS/chip by 1.6-2.4"
            claim = "Case I 8B: retrieval is the main bottleneck; QPS/chip roughly halves as queries per retrieval double"
            ours = (f"bottleneck retrieval at 1/2/4/8 queries: {[r['bottleneck'] for r in rows]}; QPS/chip "
                    f"{[round(r['max_qps_per_chip'], 3) for r in rows]} (ratios {[round(x, 2) for x in ratios]})")
        else:
            inference = [r["queries"] for r in rows if r["bottleneck"] != ["retrieval"]]
            holds = inference == [1, 2, 4]
            criterion = "the bottleneck is an inference stage at 1, 2 and 4 queries and retrieval at 8"
            claim = "Case I 70B: inference, not retrieval, bounds QPS up to 4 queries per retrieval"
            ours = (f"inference-bound at {inference} queries; bottlenecks {[r['bottleneck'] for r in rows]}; "
                    f"QPS/chip {[round(r['max_qps_per_chip'], 3) for r in rows]}")
        out.append({"id": f"case1-{size}", "claim": claim, "criterion": criterion, "ours": ours, "holds": holds,
                    "data": rows})
    # Case II: encoding, not retrieval, becomes the bottleneck as context grows; retrieval 0.01-0.4 % of latency.
    rows = []
    for ctx in ("100k", "1m", "10m"):
        space, pts = _frontier(d / f"case2-70b-{ctx}.yaml")
        b = _best(pts)
        lat = stage_latencies(space, b.plan)
        rows.append({"context": ctx, "encode_time_share": b.metrics.time_share["encode"],
                     "retrieval_latency_share": lat["retrieval"] / (b.metrics.ttft_ps + b.metrics.decode_ps),
                     "max_qps_per_chip": b.metrics.qps_per_chip, "ttft_s": b.metrics.ttft_s})
    shares = [r["encode_time_share"] for r in rows]
    ret = [r["retrieval_latency_share"] for r in rows]
    out.append({"id": "case2-70b", "claim": "Case II: database encoding, not retrieval, dominates as context grows; "
                "retrieval is 0.01%-0.4% of end-to-end latency",
                "ours": f"encode time share {[f'{s:.1%}' for s in shares]} at 100K/1M/10M tokens; retrieval "
                        f"{[f'{r:.3%}' for r in ret]} of end-to-end latency (max-QPS/chip plans)",
                "criterion": "encode's time share grows with context and exceeds 50% at 10M; retrieval < 1% of "
                             "end-to-end latency",
                "holds": shares == sorted(shares) and shares[-1] > 0.5 and max(ret) < 0.01, "data": rows})
    # Case II Table 4 (70B, 1M): RAGO max QPS/chip 1.08 at TTFT 2.47 s; min TTFT 0.03 s.
    _, pts = _frontier(d / "case2-70b-1m.yaml")
    b, f = _best(pts), _fastest(pts)
    out.append({"id": "case2-70b-1m-table4", "claim": "Case II 70B 1M (Table 4): max QPS/chip 1.08 at TTFT 2.47 s; "
                "min TTFT 0.03 s", "ours": f"max QPS/chip {b.metrics.qps_per_chip:.3g} at TTFT {b.metrics.ttft_s:.3g} s;"
                f" min TTFT {f.metrics.ttft_s:.3g} s", "criterion": "none (numbers side by side)", "holds": None,
                "data": {"max_qps_per_chip": b.metrics.qps_per_chip, "ttft_at_max_s": b.metrics.ttft_s,
                         "min_ttft_s": f.metrics.ttft_s}})
    # Case IV: the rewriter multiplies TTFT; the reranker is negligible.
    _, p4 = _frontier(d / "case4-70b.yaml")
    _, p1 = _frontier(d / "case1-70b.yaml")
    t4, t1 = _fastest(p4).metrics.ttft_s, _fastest(p1).metrics.ttft_s
    b4 = _best(p4)
    share = b4.metrics.time_share
    out.append({"id": "case4-70b", "claim": "Case IV: the reranker is negligible; the rewriter raises TTFT substantially",
                "ours": f"min TTFT {t4:.3g} s with rewriter+reranker vs {t1:.3g} s without ({t4 / t1:.2f}x); reranker "
                        f"time share {share['rerank']:.2%}, rewriter {share['rewrite_prefill'] + share['rewrite_decode']:.2%}"
                        f" at max QPS/chip",
                "criterion": "min TTFT at least 1.5x Case I's; reranker time share < 5%",
                "holds": t4 / t1 >= 1.5 and share["rerank"] < 0.05,
                "data": {"min_ttft_s": t4, "min_ttft_without_s": t1, "rerank_share": share["rerank"]}})
    # RAG 8B vs LLM-only 70B.
    _, r8 = _frontier(d / "case1-8b.yaml")
    _, l70 = _frontier(d / "llm-only-70b.yaml")
    ratio = _best(r8).metrics.qps_per_chip / _best(l70).metrics.qps_per_chip
    out.append({"id": "rag8b-vs-llm70b", "claim": "RAG with 8B reaches 1.5x the QPS/chip of LLM-only 70B",
                "ours": f"{_best(r8).metrics.qps_per_chip:.3g} vs {_best(l70).metrics.qps_per_chip:.3g} QPS/chip "
                        f"({ratio:.2f}x)", "criterion": "RAG 8B's max QPS/chip above LLM-only 70B's (direction only)",
                "holds": ratio > 1.0, "data": {"ratio": ratio}})
    return out


def hardware(measured_csv: Path | None = None, retrieval_json: Path | None = None) -> dict:
    """Check 4: datasheet vs calibrated error on measured rows, leave-one-model-out, and faiss vs V5-V6."""
    path = Path(measured_csv or REPO / "instances" / "measured" / "h100-bf16.csv")
    rows = read_measured_csv(path)
    cal = shipped_calibration("nvidia")
    before, after = check(rows, None), check(rows, cal)
    groups = [{"group": b["group"], "rows": b["rows"], "datasheet_median_abs_error": b["median_abs_error"],
               "datasheet_max_error_ratio": b["max_error_ratio"], "calibrated_median_abs_error": a["median_abs_error"],
               "calibrated_max_error_ratio": a["max_error_ratio"]} for b, a in zip(before["groups"], after["groups"])]
    held_out = []
    for model in sorted({r.model for r in rows}):
        rest = [r for r in rows if r.model != model]
        mine = [r for r in rows if r.model == model]
        rep = check(mine, fit(rest, f"without {model}", str(path)))
        held_out.append({"model": model, "rows": len(mine), "median_abs_error": rep["median_abs_error"],
                         "max_error_ratio": rep["max_error_ratio"]})
    out = {"measured_rows": str(path.relative_to(REPO) if path.is_relative_to(REPO) else path),
           "calibration": cal.summary, "parameters": {k: getattr(cal, k) for k in (
               "compute_efficiency", "memory_efficiency", "decoder_layer_overhead_s", "encoder_layer_overhead_s")},
           "datasheet": {k: before[k] for k in ("rows_compared", "median_abs_error", "max_error_ratio")},
           "calibrated": {k: after[k] for k in ("rows_compared", "median_abs_error", "max_error_ratio")},
           "groups": groups, "leave_one_model_out": held_out, "retrieval": None}
    rpath = Path(retrieval_json or REPO / "bench" / "results" / "retrieval-calibration.json")
    if rpath.exists():
        rep = json.loads(rpath.read_text())
        top = max(rep["threads"])
        out["retrieval"] = {k: rep[k] for k in ("engine", "cores", "threads", "fitted", "median_abs_error",
                                                "max_error_ratio", "rows_compared", "recall")} | {
            "file": str(rpath.relative_to(REPO) if rpath.is_relative_to(REPO) else rpath), "spec": rep["spec"],
            "rows": [r for r in rep["rows"] if r["threads"] == top]}
    return out


def _summary(rows: list[dict]) -> dict:
    err = np.array([r["error"] for r in rows])
    ratio = np.maximum(1 + err, 1 / (1 + err))
    return {"rows": len(rows), "median_abs_error": float(np.median(np.abs(err))), "max_error_ratio": float(ratio.max())}


def validate(profiles_dir: Path | None = None, instances_dir: Path | None = None,
             with_findings: bool = True) -> dict:
    """All three checks as one JSON-ready payload."""
    profiles_dir = Path(profiles_dir or REPO / "instances" / "rago-oss" / "profiles")
    instances_dir = Path(instances_dir or REPO / "instances" / "paper")
    genz = genz_rows(profiles_dir)
    groups = {}
    for r in genz:
        groups.setdefault(f"{r['model']} {r['stage']} {r['seq_len']}", []).append(r)
    ret = retrieval_rows(profiles_dir)
    host = cpu_server("epyc-milan-96c")
    scan_bound = {}  # per database: bytes per query per server implied by RAGO's per-core-bound rows, vs ours
    for r in ret:
        if r["bound"] == "per-core scan" and r["batch"] == 1:
            scan_bound[f"{r['database']} on {r['servers']} servers"] = {
                "rago_implied_bytes": r["rago_ms"] / 1e3 * host.scan_bytes_per_s_per_core,
                "ours_bytes": RAGO_DATABASES[r["database"]].bytes_per_query(r["servers"])}
    total = _summary(genz)
    return {
        "genz_median_abs_error": total["median_abs_error"],
        "genz_max_error_ratio": total["max_error_ratio"],
        "genz_rows_compared": total["rows"],
        "genz_by_stage": {s: _summary([r for r in genz if r["stage"] == s]) for s in ("prefill", "decode")},
        "genz_by_group": {k: _summary(v) for k, v in groups.items()},
        "genz_rows": genz,
        "retrieval": _summary(ret) | {"by_database": {db: _summary([r for r in ret if r["database"] == db])
                                                     for db in sorted({r["database"] for r in ret})},
                                     "bytes_per_query": scan_bound},
        "retrieval_rows": ret,
        "hardware": hardware(),
        "findings": findings(instances_dir) if with_findings else [],
    }
