"""``ragplan calibrate fit|check|measure|retrieval``: calibration against measured rows (docs/model.md, C1-C5,
V5-V7)."""

from __future__ import annotations

import argparse
from pathlib import Path

from models.calibration import check, fit, load_calibration
from models.harness import MeasureSpec, measure
from models.measured import read_measured_csv, write_measured_csv
from models.retrieval_calibration import RetrievalSpec, calibrate_retrieval
from planner.calibrate import check_text, fit_text, retrieval_text
from planner.cli_common import (
    COUNT,
    SEED,
    Parser,
    Progress,
    json_writer,
    number,
    output,
    write,
)

__all__ = ["calibrate_parser"]


def _cmd_calibrate_fit(args: argparse.Namespace) -> int:
    out = output(args.out, "--out")
    rows = read_measured_csv(args.rows)
    cal = fit(rows, args.name or Path(args.rows).stem, str(args.rows))
    lines = write(out, lambda p: p.write_text(cal.model_dump_json(indent=2) + "\n"))
    print("\n".join([fit_text(cal, rows)] + lines))
    return 0


def _cmd_calibrate_check(args: argparse.Namespace) -> int:
    out = output(args.json, "--json")
    rows = read_measured_csv(args.rows)
    cal = load_calibration(args.calibration) if args.calibration else None
    report = check(rows, cal)
    lines = write(out, json_writer(report))
    print("\n".join([check_text(report)] + lines))
    return 0


def _cmd_calibrate_measure(args: argparse.Namespace) -> int:
    out = output(args.out, "--out")
    spec = MeasureSpec(model=args.model, phases=tuple(args.phase), batches=tuple(args.batches),
                       new_tokens=args.new_tokens, context_tokens=args.context_tokens, layers=args.layers,
                       precision=args.precision, device=args.device, warmup=args.warmup, repeats=args.repeats)
    rows = measure(spec, args.accelerator, progress=Progress(not args.quiet, every_s=0.0))
    lines = write(out, lambda p: write_measured_csv(rows, p))
    print("\n".join([check_text(check(rows, None))] + lines))
    return 0


def _cmd_calibrate_retrieval(args: argparse.Namespace) -> int:
    out = output(args.json, "--json")
    base = RetrievalSpec(vectors=20_000, dim=16, code_bytes=8, nlist=256, clusters=64, batches=(1, 16, 64),
                         fractions=(0.004, 0.03, 0.1), min_time_s=0.01) if args.small else RetrievalSpec()
    given = {k: v for k, v in (("vectors", args.vectors), ("dim", args.dim), ("code_bytes", args.code_bytes),
                               ("nlist", args.nlist), ("k", args.k), ("seed", args.seed)) if v is not None}
    given |= {k: tuple(v) for k, v in (("batches", args.batches), ("fractions", args.fractions),
                                        ("threads", args.threads)) if v}
    report = calibrate_retrieval(RetrievalSpec(**{**base.__dict__, **given}),
                                 progress=Progress(not args.quiet, every_s=0.0))
    lines = write(out, json_writer(report))
    print("\n".join([retrieval_text(report)] + lines))
    return 0


def calibrate_parser(sub) -> None:
    cal = sub.add_parser("calibrate", help="fit the roofline to measured latencies, check it, measure a GPU, "
                                           "calibrate retrieval on faiss")
    csub = cal.add_subparsers(dest="calibrate_command", required=True, parser_class=Parser)
    f = csub.add_parser("fit", help="fit compute/memory efficiency and per-layer overheads to measured rows")
    f.add_argument("rows", help="measured rows CSV (docs/model.md, 'Measured rows')")
    f.add_argument("--out", metavar="CAL.json", help="write the calibration")
    f.add_argument("--name", help="the calibration's name (default: the CSV's file name)")
    f.set_defaults(func=_cmd_calibrate_fit)
    c = csub.add_parser("check", help="the roofline's error on measured rows, datasheet or calibrated")
    c.add_argument("rows", help="measured rows CSV")
    c.add_argument("--calibration", metavar="CAL.json", help="a calibration to apply (default: datasheet peaks)")
    c.add_argument("--json", metavar="OUT", help="write the report (median_abs_error, max_error_ratio, "
                                                 "rows_compared, groups, rows)")
    c.set_defaults(func=_cmd_calibrate_check)
    m = csub.add_parser("measure", help="time prefill and decode passes of a model on the local GPU (needs the "
                                        "[measure] extra: torch)")
    m.add_argument("--model", required=True, help="catalog model, e.g. llama3-8b (models/catalog.py)")
    m.add_argument("--out", required=True, metavar="ROWS.csv", help="write the measured rows")
    m.add_argument("--phase", nargs="+", choices=["prefill", "decode"], default=["prefill", "decode"])
    m.add_argument("--batches", type=COUNT, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    m.add_argument("--new-tokens", type=COUNT, help="prefill tokens per sequence (default 512; encoders 128)")
    m.add_argument("--context-tokens", type=COUNT, default=640, help="decode: cached tokens per sequence")
    m.add_argument("--layers", type=COUNT, help="run this many layers and scale to the model's (a model too "
                                                 "large for the GPU)")
    m.add_argument("--precision", choices=["bf16", "fp16"], default="bf16")
    m.add_argument("--device", default="auto", help="auto (CUDA if present), cuda, cuda:1, cpu")
    m.add_argument("--accelerator", help="catalog name of the device (default: detected from the CUDA device)")
    m.add_argument("--warmup", type=COUNT, default=3)
    m.add_argument("--repeats", type=COUNT, default=20)
    m.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    m.set_defaults(func=_cmd_calibrate_measure)
    r = csub.add_parser("retrieval", help="time faiss IVF-PQ on this machine, fit the scan model (V5-V6) and "
                                          "measure recall per scan fraction (V7); needs the [retrieval] extra")
    r.add_argument("--json", metavar="OUT", help="write the fit, the recall curve and every timed row")
    r.add_argument("--small", action="store_true", help="a 20k-vector index timed in seconds (CI, a smoke test)")
    r.add_argument("--vectors", type=COUNT, help="database vectors (default 1,000,000)")
    r.add_argument("--dim", type=COUNT, help="vector dimension (default 64)")
    r.add_argument("--code-bytes", type=COUNT, help="PQ code bytes per vector (default 32)")
    r.add_argument("--nlist", type=COUNT, help="inverted lists (default 2048)")
    r.add_argument("--fractions", type=number(float, 0.0, "a scan fraction"), nargs="+",
                   help="scan fractions (default 0.001 0.003 0.01 0.03 0.1)")
    r.add_argument("--batches", type=COUNT, nargs="+", help="query batch sizes (default 1 4 16 64 256)")
    r.add_argument("--threads", type=COUNT, nargs="+", help="thread counts (default 1 and every core)")
    r.add_argument("--k", type=COUNT, help="neighbours per query (default 10)")
    r.add_argument("--seed", type=SEED, help="data seed (default 0)")
    r.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    r.set_defaults(func=_cmd_calibrate_retrieval)
