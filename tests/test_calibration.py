"""Calibration of the roofline (models.measured, models.calibration; docs/model.md C1-C5, R10)."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.calibration import SHIPPED, Calibration, check, fit, load_calibration, shipped_calibration
from models.catalog import accelerator, transformer
from models.measured import CalibrationError, MeasuredRow, predict_s, read_measured_csv, write_measured_csv
from models.roofline import Efficiency, Pass, Precision, pass_latency

ROOT = Path(__file__).resolve().parents[1]
H100_ROWS = ROOT / "instances" / "measured" / "h100-bf16.csv"
HEADER = "accelerator,model,phase,batch,new_tokens,context_tokens,precision,seconds,layers_measured,layers_total\n"


def _rows(eff: Efficiency, accel: str = "H100", models=("llama2-7b", "encoder-120m")) -> list[MeasuredRow]:
    """Rows whose seconds are the roofline's own prediction under ``eff`` (a fit must recover ``eff``)."""
    shapes = []
    for m in models:
        dec = transformer(m).decoder
        shapes += [("prefill", b, 128 if not dec else 512, 128 if not dec else 512) for b in (1, 4, 16, 64)]
        if dec:
            shapes += [("decode", b, 1, 640) for b in (1, 8, 64, 256)]
    rows = [MeasuredRow(accelerator=accel, model=m, phase=ph, batch=b, new_tokens=s, context_tokens=c,
                        precision="bf16", seconds=1.0)
            for m in models for ph, b, s, c in shapes if (ph == "prefill" or transformer(m).decoder)]
    pred = predict_s(rows, eff)
    return [r.model_copy(update={"seconds": float(p)}) for r, p in zip(rows, pred)]


def test_shipped_rows_read_and_round_trip(tmp_path):
    rows = read_measured_csv(H100_ROWS)
    assert len(rows) == 37 and {r.model for r in rows} == {"llama2-7b", "llama2-70b", "encoder-120m"}
    write_measured_csv(rows, tmp_path / "again.csv")
    assert read_measured_csv(tmp_path / "again.csv") == rows


@pytest.mark.parametrize("line, fragment", [
    ("H100,llama2-7b,prefill,x,512,512,bf16,0.01,,", "line 2: batch 'x'"),
    ("H100,llama2-7b,prefill,0,512,512,bf16,0.01,,", "line 2: batch '0'"),
    ("H100,llama2-7b,train,1,512,512,bf16,0.01,,", "line 2: phase 'train'"),
    ("H100,llama2-7b,decode,1,4,640,bf16,0.01,,", "new_tokens 4"),
    ("H100,llama2-7b,prefill,1,512,256,bf16,0.01,,", "context_tokens 256 < new_tokens 512"),
    ("H100,llama2-7b,prefill,1,512,512,bf16,nan,,", "line 2: seconds 'nan'"),
    ("H100,llama2-7b,prefill,1,512,512,bf16,-1,,", "line 2: seconds '-1.0'"),
    ("H100,llama2-7b,prefill,1,512,512,fp4,0.01,,", "precision 'fp4'"),
    ("H100,llama2-7b,prefill,1,512,512,bf16,0.01,8,", "come together"),
    ("H100,llama2-7b,prefill,1,512,512,bf16,0.01,9,8", "layers_measured 9 > layers_total 8"),
    ("H100,llama2-7b,prefill,1,512,512,bf16", "10 columns expected"),
])
def test_bad_cells_name_line_and_value(tmp_path, line, fragment):
    f = tmp_path / "rows.csv"
    f.write_text(HEADER + line + "\n")
    with pytest.raises(CalibrationError, match="To fix") as e:
        read_measured_csv(f)
    assert fragment in str(e.value)


def test_bad_files(tmp_path):
    f = tmp_path / "rows.csv"
    f.write_text("accelerator,model,seconds\nH100,x,1\n")
    with pytest.raises(CalibrationError, match=r"lack \['phase'"):
        read_measured_csv(f)
    f.write_text(HEADER)
    with pytest.raises(CalibrationError, match="has no rows"):
        read_measured_csv(f)
    with pytest.raises(CalibrationError, match="cannot read measured rows"):
        read_measured_csv(tmp_path / "missing.csv")
    f.write_text(HEADER + "H100,llama9-1b,prefill,1,512,512,bf16,0.01,,\n")
    with pytest.raises(CalibrationError, match="unknown model 'llama9-1b'"):
        predict_s(read_measured_csv(f), Efficiency())
    f.write_text(HEADER + "H100,llama2-7b,prefill,1,512,512,bf16,0.01,8,80\n")
    with pytest.raises(CalibrationError, match="llama2-7b has 32 layers"):
        predict_s(read_measured_csv(f), Efficiency())


def test_prediction_is_the_planners_roofline_with_the_overhead_per_layer():
    """R10: each layer adds tau once per pass; the prediction is pass_latency on one chip."""
    row = MeasuredRow(accelerator="H100", model="llama2-7b", phase="decode", batch=8, new_tokens=1,
                      context_tokens=640, precision="bf16", seconds=1.0)
    base = Efficiency(hbm_usable=1e9)
    lat, _ = pass_latency(transformer("llama2-7b"), accelerator("H100"), Precision(2, 2, 2, "bf16"), base, 1,
                          np.array([8.0]), Pass(1, 640.0, 640, True), waves=False)
    assert predict_s([row], Efficiency())[0] == pytest.approx(float(lat[0]), rel=1e-12)
    tau = dataclasses.replace(Efficiency(), decoder_layer_overhead_s=1e-4, encoder_layer_overhead_s=5.0)
    assert predict_s([row], tau)[0] == pytest.approx(float(lat[0]) + 32 * 1e-4, rel=1e-12)


@settings(max_examples=10)  # each example is a full fit (~0.3 s)
@given(ec=st.floats(0.2, 1.0), em=st.floats(0.2, 1.0), td=st.floats(0.0, 2e-4), te=st.floats(0.0, 2e-4))
def test_fit_recovers_the_parameters_that_made_the_rows(ec, em, td, te):
    truth = Efficiency(compute=ec, memory=em, decoder_layer_overhead_s=td, encoder_layer_overhead_s=te)
    cal = fit(_rows(truth), "synthetic", "test")
    got = cal.efficiency()
    assert cal.max_error_ratio < 1 + 1e-6
    assert got.compute == pytest.approx(ec, rel=1e-4) and got.memory == pytest.approx(em, rel=1e-4)
    assert got.decoder_layer_overhead_s == pytest.approx(td, abs=1e-9)
    assert got.encoder_layer_overhead_s == pytest.approx(te, abs=1e-9)


def test_overhead_without_rows_of_its_layer_type_is_tied_and_said_so():
    truth = Efficiency(compute=0.5, memory=0.8, decoder_layer_overhead_s=5e-5)
    cal = fit(_rows(truth, models=("llama2-7b",)), "decoders", "test")
    assert cal.tied == ["encoder_layer_overhead_s"]
    assert cal.encoder_layer_overhead_s == cal.decoder_layer_overhead_s == pytest.approx(5e-5, abs=1e-9)


def test_fit_refusals():
    rows = _rows(Efficiency())
    with pytest.raises(CalibrationError, match="cannot fit 3 parameters"):
        fit(rows[:3], "few", "test")
    mixed = rows[:6] + [r.model_copy(update={"accelerator": "TPU-v5e"}) for r in rows[6:]]
    with pytest.raises(CalibrationError, match=r"mix accelerator families \['google', 'nvidia'\]"):
        fit(mixed, "mixed", "test")


def test_shipped_calibration_is_the_fit_of_the_shipped_rows_and_meets_the_targets():
    rows = read_measured_csv(H100_ROWS)
    shipped = shipped_calibration("nvidia")
    again = fit(rows, shipped.name, shipped.source)
    for k in ("compute_efficiency", "memory_efficiency", "decoder_layer_overhead_s", "encoder_layer_overhead_s"):
        assert getattr(again, k) == pytest.approx(getattr(shipped, k), rel=1e-6), k
    assert (ROOT / shipped.source).resolve() == H100_ROWS.resolve()
    report = check(rows, shipped)
    assert report["median_abs_error"] <= 0.10 and report["max_error_ratio"] <= 1.5  # the targets
    datasheet = check(rows, None)
    assert datasheet["median_abs_error"] > 0.3 and datasheet["max_error_ratio"] > 5  # what calibration fixes


def test_calibration_carries_over_to_another_accelerator_of_its_family():
    """C4: the efficiencies scale the other chip's datasheet; rows of another family are flagged, not refused."""
    cal = shipped_calibration("nvidia")
    h100 = MeasuredRow(accelerator="H100", model="llama2-7b", phase="decode", batch=1, new_tokens=1,
                       context_tokens=640, precision="bf16", seconds=1.0)
    h200 = h100.model_copy(update={"accelerator": "H200"})
    tpu = h100.model_copy(update={"accelerator": "TPU-v5p"})
    report = check([h100, h200, tpu], cal)
    assert [r["in_family"] for r in report["rows"]] == [True, True, False]
    t100, t200, _ = (r["predicted_s"] for r in report["rows"])
    overhead = 32 * cal.decoder_layer_overhead_s
    assert (t200 - overhead) == pytest.approx((t100 - overhead) * 3350 / 4800, rel=1e-9)  # memory-bound decode
    assert set(report) >= {"median_abs_error", "max_error_ratio", "rows_compared", "rows"}
    assert shipped_calibration("google") is None and set(SHIPPED) == {"nvidia"}


def test_load_calibration_errors(tmp_path):
    f = tmp_path / "cal.json"
    f.write_text("{not json")
    with pytest.raises(CalibrationError, match="cannot read calibration"):
        load_calibration(f)
    good = json.loads(SHIPPED["nvidia"].read_text())
    f.write_text(json.dumps({**good, "compute_efficiency": 1.5}))
    with pytest.raises(CalibrationError, match="compute_efficiency"):
        load_calibration(f)
    f.write_text(json.dumps({**good, "extra": 1}))
    with pytest.raises(CalibrationError, match="extra"):
        load_calibration(f)
    f.write_text(json.dumps(good))
    assert isinstance(load_calibration(f), Calibration)
