"""Which calibration form do the measured rows demand? (docs/model.md, C1-C5.)

Fits three nested forms of the roofline to the shipped H100 rows with the same routine as ``ragplan calibrate
fit`` (``models.calibration.fit``) and reports, per form, the in-sample error and each model's error when the
form is fitted on the other models' rows only. Prints a table, writes bench/results/calibration_forms.json.

    python bench/calibration_forms.py [--rows CSV]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from models.calibration import check, fit
from models.measured import read_measured_csv

ROOT = Path(__file__).resolve().parents[1]
FORMS = {"eta_c, eta_m": {"overheads": False}, "+ one tau for every layer": {"tie_overheads": True},
         "+ tau per layer type (C1)": {}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=Path, default=ROOT / "instances" / "measured" / "h100-bf16.csv")
    args = ap.parse_args()
    rows = read_measured_csv(args.rows)
    models = sorted({r.model for r in rows})
    out = []
    for name, kw in FORMS.items():
        cal = fit(rows, name, str(args.rows), **kw)
        held = {}
        for m in models:
            rep = check([r for r in rows if r.model == m], fit([r for r in rows if r.model != m], name, "", **kw))
            held[m] = {"median_abs_error": rep["median_abs_error"], "max_error_ratio": rep["max_error_ratio"]}
        out.append({"form": name, "parameters": {k: getattr(cal, k) for k in (
            "compute_efficiency", "memory_efficiency", "decoder_layer_overhead_s", "encoder_layer_overhead_s")},
            "median_abs_error": cal.median_abs_error, "max_error_ratio": cal.max_error_ratio, "held_out": held})
    print(f"{'form':28s} {'median':>7s} {'worst':>6s}  " + "  ".join(f"{m + ' held out':>26s}" for m in models))
    for f in out:
        print(f"{f['form']:28s} {f['median_abs_error']:7.1%} {f['max_error_ratio']:5.2f}x  " + "  ".join(
            f"{f['held_out'][m]['median_abs_error']:>17.1%} / {f['held_out'][m]['max_error_ratio']:5.2f}x"
            for m in models))
    dest = ROOT / "bench" / "results" / "calibration_forms.json"
    dest.write_text(json.dumps({"rows": str(args.rows), "forms": out}, indent=2) + "\n")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
