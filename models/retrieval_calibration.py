"""Calibrate the scan model (V1-V4) on a real vector-search engine: faiss IVF-PQ on this machine (V5-V7).

``ragplan calibrate retrieval`` builds an IVF-PQ index (faiss-cpu, the ``[retrieval]`` extra) over synthetic
clustered vectors, times searches over scan fractions, batch sizes and thread counts, measures recall@k against
exact search, and fits (``docs/model.md``):

- V5 fixed costs: one query on one core takes t_q = t_0 + M_q / r_core, where M_q = phi N beta are the PQ-code
  bytes it scans (phi = nprobe / nlist, M_q measured from the lists the queries probe) and t_0 covers what does not
  scale with the scan (the coarse quantizer over nlist centroids, look-up tables, the top-k heap); a search call
  adds t_call once per batch (dispatch, thread start, result merge);
- V6 a batch of Q queries on C threads: t_call + w t_q, with w = max(ceil(Q / C), Q / C_eff) waves of queries and
  C_eff = 1 + (C - 1) eta_p the effective parallelism: eta_p < 1 where threads contend for cores or memory
  bandwidth (V2's u W in other words; on a 2-vCPU machine whose vCPUs share a core, eta_p ~ 0.25);
- V7 recall@k of the index per scan fraction, against exact (flat) search: the curve a quality-aware planner
  reads to choose phi.

(t_call, t_0, r_core, eta_p) minimise the squared log error over every timed row (trust-region least squares).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from models.measured import CalibrationError

__all__ = ["RetrievalSpec", "calibrate_retrieval", "predict_scan_s"]

@dataclass(frozen=True)
class RetrievalSpec:
    """The index to build and the grid to time."""

    vectors: int = 1_000_000
    dim: int = 64
    code_bytes: int = 32  # PQ sub-quantizers of 8 bits: beta
    nlist: int = 2048
    clusters: int = 256
    fractions: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1)
    batches: tuple[int, ...] = (1, 4, 16, 64, 256)
    threads: tuple[int, ...] = ()  # default: 1 and every core
    k: int = 10
    min_time_s: float = 0.2  # time each point for at least this long (and >= 3 calls)
    seed: int = 0


def _faiss():
    try:
        import faiss
    except ImportError:
        raise CalibrationError("retrieval calibration needs faiss, which is not installed. To fix: pip install "
                               "'ragplan[retrieval]' (faiss-cpu)") from None
    return faiss


def predict_scan_s(queries: np.ndarray, threads: np.ndarray, scan_bytes: np.ndarray, call_s: float, query_s: float,
                   rate_bytes_per_s: float, parallel_efficiency: float) -> np.ndarray:
    """V5-V6: seconds of a batch of ``queries`` on ``threads`` cores, each query scanning ``scan_bytes``."""
    per_query = query_s + scan_bytes / rate_bytes_per_s
    waves = np.maximum(np.ceil(queries / threads), queries / (1 + (threads - 1) * parallel_efficiency))
    return call_s + waves * per_query


def _data(spec: RetrievalSpec, rng: np.random.Generator, n: int) -> np.ndarray:
    centres = rng.standard_normal((spec.clusters, spec.dim)).astype(np.float32) * 4
    return centres[rng.integers(0, spec.clusters, n)] + rng.standard_normal((n, spec.dim)).astype(np.float32)


def _timed(fn: Callable[[int], object], min_time_s: float) -> float:
    """Median seconds of ``fn(i)`` over calls i = 0, 1, ... (>= 3 calls and ``min_time_s``), after one warm-up."""
    fn(0)
    times: list[float] = []
    while len(times) < 3 or sum(times) < min_time_s:
        t0 = time.perf_counter()
        fn(len(times) + 1)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def calibrate_retrieval(spec: RetrievalSpec, progress: Callable[[str], None] = lambda _: None) -> dict:
    """Build, time, fit (V5-V6) and measure recall (V7); the result as a JSON-ready dict."""
    faiss = _faiss()
    from scipy.optimize import least_squares

    cores = os.cpu_count() or 1
    threads = spec.threads or tuple(sorted({1, cores}))
    if spec.dim % spec.code_bytes:
        raise CalibrationError(f"dim {spec.dim} is not a multiple of code_bytes {spec.code_bytes} (PQ splits the "
                               f"vector into code_bytes parts). To fix: pick code_bytes dividing dim")
    if spec.vectors < 39 * spec.nlist:
        raise CalibrationError(f"{spec.vectors} vectors cannot train {spec.nlist} lists (faiss wants >= 39 per "
                               f"list). To fix: raise --vectors to >= {39 * spec.nlist} or lower --nlist")
    rng = np.random.default_rng(spec.seed)
    t_build = time.perf_counter()
    xb = _data(spec, rng, spec.vectors)
    pool = _data(spec, rng, max(4096, 4 * max(spec.batches)))  # each timed call takes fresh queries: no list
    xq = pool[:max(spec.batches)]  # stays cached from the call before (the recall queries: the first ones)
    index = faiss.IndexIVFPQ(faiss.IndexFlatL2(spec.dim), spec.dim, spec.nlist, spec.code_bytes, 8)
    index.train(xb[rng.choice(spec.vectors, min(spec.vectors, 64 * spec.nlist), replace=False)])
    index.add(xb)
    progress(f"built IVF-PQ: {spec.vectors} x {spec.dim}-d vectors, {spec.code_bytes} B codes, {spec.nlist} lists "
             f"in {time.perf_counter() - t_build:.1f} s")
    exact = faiss.IndexFlatL2(spec.dim)
    exact.add(xb)
    _, truth = exact.search(xq, spec.k)
    sizes = np.array([index.invlists.list_size(i) for i in range(spec.nlist)])
    rows, recall = [], []
    for phi in spec.fractions:
        nprobe = max(1, round(phi * spec.nlist))
        index.nprobe = nprobe
        faiss.omp_set_num_threads(cores)
        _, found = index.search(xq, spec.k)
        hits = np.mean([len(set(a) & set(b)) / spec.k for a, b in zip(found, truth)])
        # bytes a query scans: its probed lists' codes (the mean over queries of the lists it chose)
        _, lists = index.quantizer.search(xq, nprobe)
        scan_bytes = float(np.mean(sizes[lists].sum(axis=1))) * spec.code_bytes
        recall.append({"scan_fraction": nprobe / spec.nlist, "nprobe": nprobe, f"recall_at_{spec.k}": float(hits),
                       "scan_bytes_per_query": scan_bytes})
        for c in threads:
            faiss.omp_set_num_threads(c)
            for b in spec.batches:
                calls = len(pool) // b
                sec = _timed(lambda i: index.search(pool[(i % calls) * b:(i % calls + 1) * b], spec.k),
                             spec.min_time_s)
                rows.append({"scan_fraction": nprobe / spec.nlist, "nprobe": nprobe, "threads": c, "batch": b,
                             "scan_bytes_per_query": scan_bytes, "measured_s": sec})
        progress(f"scan fraction {nprobe / spec.nlist:.4g}: recall@{spec.k} {hits:.3f}, {len(threads)} thread "
                 f"counts x {len(spec.batches)} batches timed")
    faiss.omp_set_num_threads(cores)
    q, c, m, y = (np.array([r[k] for r in rows], dtype=float) for k in ("batch", "threads", "scan_bytes_per_query",
                                                                         "measured_s"))

    def residual(theta: np.ndarray) -> np.ndarray:
        return np.log(predict_scan_s(q, c, m, theta[0] * 1e-6, theta[1] * 1e-6, theta[2] * 1e9, theta[3]) / y)

    fit = least_squares(residual, np.array([5.0, 5.0, 5.0, 0.8]), bounds=([0, 0, 1e-3, 0], [1e6, 1e6, 1e4, 1]),
                        method="trf", xtol=1e-12, ftol=1e-12)
    call_s, query_s, rate, eta = fit.x[0] * 1e-6, fit.x[1] * 1e-6, fit.x[2] * 1e9, float(fit.x[3])
    pred = predict_scan_s(q, c, m, call_s, query_s, rate, eta)
    for r, p in zip(rows, pred):
        r.update(predicted_s=float(p), error=float(p / r["measured_s"] - 1))
    ratio = pred / y
    full = c == max(threads)
    return {
        "engine": f"faiss {faiss.__version__} IndexIVFPQ", "spec": asdict(spec), "cores": cores,
        "threads": list(threads),
        "fitted": {"call_overhead_s": call_s, "query_overhead_s": query_s, "scan_bytes_per_s_per_core": rate,
                   "parallel_efficiency": eta},
        "thread_scaling": _scaling(rows, threads),
        "median_abs_error": float(np.median(np.abs(ratio - 1))),
        "max_error_ratio": float(np.max(np.maximum(ratio, 1 / ratio))),
        "median_abs_error_all_threads": float(np.median(np.abs(ratio[full] - 1))),
        "rows_compared": len(rows),
        "recall": recall,
        "rows": rows,
    }


def _scaling(rows: list[dict], threads: tuple[int, ...]) -> list[dict]:
    """Measured throughput of each thread count over one thread's, per scan fraction, at the largest batch."""
    top = max(r["batch"] for r in rows)
    one = {r["scan_fraction"]: r["measured_s"] for r in rows if r["threads"] == 1 and r["batch"] == top}
    return [{"threads": r["threads"], "scan_fraction": r["scan_fraction"], "batch": top,
             "speedup": one[r["scan_fraction"]] / r["measured_s"]}
            for r in rows if r["batch"] == top and r["scan_fraction"] in one]
