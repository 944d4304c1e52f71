"""``ragplan calibrate``: fit the roofline to measured rows, check it, measure rows, calibrate retrieval.

The commands' work lives in ``models.calibration`` (C1-C5), ``models.harness`` (measuring) and
``models.retrieval_calibration`` (V5-V7); this module turns their results into tables and JSON.
"""

from __future__ import annotations

from models.calibration import Calibration
from models.measured import MeasuredRow, predict_s
from models.roofline import Efficiency
from planner.report import fixed_table

__all__ = ["check_text", "fit_text", "retrieval_text"]


def _param(name: str, value: float) -> str:
    return f"{value * 1e6:.4g} us" if name.endswith("_s") else f"{value:.4g}"


def fit_text(cal: Calibration, rows: list[MeasuredRow]) -> str:
    """The fitted parameters with their standard errors, then every row before (datasheet) and after."""
    lines = [f"calibration {cal.name}: fitted on {cal.rows} measured {'/'.join(cal.fitted_on)} rows of {cal.source} "
             f"(rules C1-C5, docs/model.md)"]
    params = []
    for name in ("compute_efficiency", "memory_efficiency", "decoder_layer_overhead_s", "encoder_layer_overhead_s"):
        se = cal.standard_errors.get(name)
        note = "tied to the other layer type (no rows of its own)" if name in cal.tied else (
            f"+/- {_param(name, se)}" if se is not None else "")
        params.append([name, _param(name, getattr(cal, name)), note])
    lines += fixed_table(["parameter", "value", "standard error"], params, left=3)
    before, after = predict_s(rows, Efficiency()), predict_s(rows, cal.efficiency())
    body = [[r.accelerator, r.model, r.phase, str(r.batch), str(r.new_tokens), str(r.context_tokens),
             f"{r.seconds * 1e3:.4g}", f"{b * 1e3:.4g}", f"{b / r.seconds - 1:+.1%}", f"{a * 1e3:.4g}",
             f"{a / r.seconds - 1:+.1%}"] for r, b, a in zip(rows, before, after)]
    lines += [""] + fixed_table(["accelerator", "model", "phase", "batch", "new", "context", "measured ms",
                                 "datasheet ms", "error", "calibrated ms", "error"], body, left=3)
    lines.append(f"median |error| {cal.datasheet_median_abs_error:.1%} (datasheet) -> {cal.median_abs_error:.1%} "
                 f"(calibrated); largest ratio {cal.datasheet_max_error_ratio:.2f}x -> {cal.max_error_ratio:.2f}x")
    return "\n".join(lines)


def check_text(report: dict) -> str:
    """``models.calibration.check``'s report: per group (accelerator, model, phase) and overall errors, then the rows."""
    lines = [f"{report['rows_compared']} measured rows vs the roofline, {report['calibration_summary']}"]
    lines += fixed_table(["group", "rows", "median |error|", "largest ratio"],
                         [[g["group"], str(g["rows"]), f"{g['median_abs_error']:.1%}", f"{g['max_error_ratio']:.2f}x"]
                          for g in report["groups"]], left=1)
    body = [[r["accelerator"], r["model"], r["phase"], str(r["batch"]), str(r["context_tokens"]),
             f"{r['seconds'] * 1e3:.4g}", f"{r['predicted_s'] * 1e3:.4g}", f"{r['error']:+.1%}",
             "" if r["in_family"] else "outside the calibration's family"] for r in report["rows"]]
    lines += [""] + fixed_table(["accelerator", "model", "phase", "batch", "context", "measured ms", "predicted ms",
                                 "error", "note"], body, left=3)
    lines.append(f"median |error| {report['median_abs_error']:.1%}, largest ratio {report['max_error_ratio']:.2f}x "
                 f"over {report['rows_compared']} rows")
    return "\n".join(lines)


def retrieval_text(report: dict) -> str:
    """``models.retrieval_calibration``'s report: fitted V5-V6 parameters, recall per scan fraction (V7), and the
    model's error per (scan fraction, batch) at the most threads."""
    f, spec = report["fitted"], report["spec"]
    k = spec["k"]
    lines = [f"{report['engine']} on {report['cores']} cores: {spec['vectors']} x {spec['dim']}-d vectors, "
             f"{spec['code_bytes']} B PQ codes, {spec['nlist']} lists (rules V5-V7, docs/model.md)",
             f"  t_call {f['call_overhead_s'] * 1e6:.3g} us per search call, t_0 {f['query_overhead_s'] * 1e6:.3g} us "
             f"per query, r_core {f['scan_bytes_per_s_per_core'] / 1e9:.3g} GB/s per core "
             f"(scan_bytes_per_s_per_core), eta_p {f['parallel_efficiency']:.3g} (threads {report['threads']})", ""]
    lines += fixed_table(["scan fraction", "nprobe", f"recall@{k}", "bytes/query"],
                         [[f"{r['scan_fraction']:.4g}", str(r["nprobe"]), f"{r[f'recall_at_{k}']:.3f}",
                           f"{r['scan_bytes_per_query']:.4g}"] for r in report["recall"]])
    top = max(report["threads"])
    body = [[f"{r['scan_fraction']:.4g}", str(r["threads"]), str(r["batch"]), f"{r['measured_s'] * 1e3:.4g}",
             f"{r['predicted_s'] * 1e3:.4g}", f"{r['error']:+.1%}"] for r in report["rows"] if r["threads"] == top]
    lines += [""] + fixed_table(["scan fraction", "threads", "batch", "measured ms", "modelled ms", "error"], body)
    lines.append(f"median |error| {report['median_abs_error']:.1%} over {report['rows_compared']} timed rows "
                 f"(every thread count), largest ratio {report['max_error_ratio']:.2f}x")
    return "\n".join(lines)
