"""``ragplan calibrate measure`` (models.harness) on the CPU build of torch with small shapes: the rows are
valid, scaled from the layers run, and round-trip through fit and check.

The measured fixture runs narrowed copies of the catalog models (same layers, heads and names; hidden 256,
vocabulary 4,096): a CPU without native bf16 (AVX2 only) runs bf16 GEMMs ~50x slower than fp32, and the full
widths took 150 s and passed the 60 s sanity bound per row there. The mechanics under test (phases, caches, layer
scaling, the LM head timed apart) do not depend on the widths."""

import pytest

import models.harness
from models.calibration import check, fit
from models.catalog import transformer
from models.harness import MeasureSpec, detect_accelerator, measure
from models.measured import CalibrationError, read_measured_csv
from planner.cli import main

torch = pytest.importorskip("torch")  # the [measure] extra; .ci/run installs the CPU build

ENCODER = MeasureSpec(model="encoder-120m", phases=("prefill", "decode"), batches=(1, 2, 4), new_tokens=16,
                      layers=2, device="cpu", warmup=1, repeats=3)
DECODER = MeasureSpec(model="llama3-1b", phases=("prefill", "decode"), batches=(1, 2), new_tokens=8,
                      context_tokens=32, layers=1, device="cpu", warmup=1, repeats=3)


def _narrow(name: str):
    m = transformer(name)
    return m.model_copy(update={"hidden": 256, "ffn": 512, "vocab": 4096, "heads": 4, "kv_heads": 4 * m.kv_heads
                                // m.heads})


@pytest.fixture(scope="module")
def rows():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(models.harness, "transformer", _narrow)
        return measure(ENCODER, "H100") + measure(DECODER, "H100")


def test_rows_are_valid_and_record_the_scaling(rows):
    enc, dec = rows[:3], rows[3:]
    assert [(r.phase, r.batch) for r in enc] == [("prefill", 1), ("prefill", 2), ("prefill", 4)]  # no encoder decode
    assert [(r.phase, r.batch, r.new_tokens, r.context_tokens) for r in dec] == [
        ("prefill", 1, 8, 8), ("prefill", 2, 8, 8), ("decode", 1, 1, 32), ("decode", 2, 1, 32)]
    assert all(r.layers_measured == 2 and r.layers_total == 12 for r in enc)
    assert all(r.layers_measured == 1 and r.layers_total == 16 and r.accelerator == "H100" for r in dec)
    assert all(0 < r.seconds < 60 for r in rows)


def test_rows_round_trip_through_fit_and_check(rows, tmp_path, capsys):
    from models.measured import write_measured_csv

    path = tmp_path / "rows.csv"
    write_measured_csv(rows, path)
    assert read_measured_csv(path) == rows
    cal = fit(rows, "cpu", str(path))
    report = check(rows, cal)
    assert report["rows_compared"] == 7
    assert report["median_abs_error"] == pytest.approx(cal.median_abs_error, rel=1e-12)
    assert main(["calibrate", "fit", str(path), "--out", str(tmp_path / "cal.json")]) == 0
    assert main(["calibrate", "check", str(path), "--calibration", str(tmp_path / "cal.json")]) == 0
    assert "7 measured rows" in capsys.readouterr().out


def test_measure_command_writes_rows(tmp_path, capsys):
    out = tmp_path / "m.csv"
    code = main(["calibrate", "measure", "--model", "encoder-120m", "--layers", "1", "--batches", "1",
                 "--new-tokens", "8", "--device", "cpu", "--accelerator", "H200", "--repeats", "2", "--out", str(out),
                 "--quiet"])
    assert code == 0 and f"wrote {out}" in capsys.readouterr().out
    [row] = read_measured_csv(out)
    assert row.accelerator == "H200" and row.layers_measured == 1 and row.layers_total == 12


def test_refusals(capsys):
    with pytest.raises(CalibrationError, match="pass --accelerator"):
        measure(ENCODER)
    with pytest.raises(CalibrationError, match="--layers 13 is outside 1..12"):
        measure(MeasureSpec(model="encoder-120m", layers=13, device="cpu"), "H100")
    with pytest.raises(CalibrationError, match="unknown accelerator 'A100'"):
        measure(ENCODER, "A100")
    code = main(["calibrate", "measure", "--model", "nope", "--device", "cpu", "--accelerator", "H100", "--out",
                 "x.csv"])
    assert code == 2 and "unknown model 'nope'" in capsys.readouterr().err


def test_detect_accelerator():
    assert detect_accelerator("NVIDIA H100 80GB HBM3") == "H100"
    assert detect_accelerator("NVIDIA H200") == "H200"
    with pytest.raises(CalibrationError, match="pass --accelerator"):
        detect_accelerator("NVIDIA A100-SXM4-80GB")
