"""``ragplan calibrate fit/check`` and calibrations in planning (cost.calibration, --calibration; C4)."""

import json
import shutil

import pytest
import yaml

from models.calibration import SHIPPED, load_calibration
from planner.cli import main
from planner.loader import load_instance
from planner.space import build_space
from tests.conftest import INSTANCES, ROOT, write_yaml

ROWS = ROOT / "instances" / "measured" / "h100-bf16.csv"
GOOD = ROOT / "tests" / "data" / "good-analytical.yaml"


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _instance(tmp_path, **cost) -> str:
    data = yaml.safe_load(GOOD.read_text())
    data["cost"].update(cost)
    return str(write_yaml(tmp_path / "inst.yaml", data))


def _decode_s(path: str, *overrides: str) -> float:
    """Latency of the decode stage on 1 chip, batch 1, as planned."""
    from planner.cli import _parser, _with_overrides  # the options exactly as the planning commands read them

    args = _parser().parse_args(["pareto", path, *overrides])
    space = build_space(_with_overrides(load_instance(path), args))
    return float(space.cost("decode").latency_s(1, 1))


def test_fit_then_check_round_trip(tmp_path, capsys):
    cal_path, report_path = tmp_path / "out" / "cal.json", tmp_path / "check.json"
    code, out, _ = _run(capsys, "calibrate", "fit", ROWS, "--out", cal_path)
    assert code == 0 and "compute_efficiency" in out and "decoder_layer_overhead_s" in out and f"wrote {cal_path}" in out
    assert "median |error| 36.1% (datasheet) -> 2.5% (calibrated)" in out
    cal = load_calibration(cal_path)
    assert cal.name == "h100-bf16" and cal.rows == 37 and cal.vendor == "nvidia"
    code, out, _ = _run(capsys, "calibrate", "check", ROWS, "--calibration", cal_path, "--json", report_path)
    assert code == 0 and "H100 llama2-70b decode" in out
    report = json.loads(report_path.read_text())
    assert report["rows_compared"] == 37 and len(report["rows"]) == 37
    assert report["median_abs_error"] == pytest.approx(cal.median_abs_error, rel=1e-12)
    assert report["max_error_ratio"] == pytest.approx(cal.max_error_ratio, rel=1e-12)
    code, out, _ = _run(capsys, "calibrate", "check", ROWS)
    assert code == 0 and "datasheet peaks" in out and "median |error| 36.1%" in out


@pytest.mark.parametrize("argv, fragment", [
    (["calibrate", "fit", "missing.csv"], "cannot read measured rows missing.csv"),
    (["calibrate", "check", str(ROWS), "--calibration", "missing.json"], "cannot read calibration missing.json"),
    (["calibrate", "check", str(ROWS), "--calibration", str(ROWS)], "cannot read calibration"),
    (["calibrate", "fit", str(ROWS), "--out", "/proc/x/cal.json"], "cannot write --out"),
    (["calibrate"], "required: calibrate_command"),
])
def test_calibrate_errors_are_one_line(capsys, argv, fragment):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    _, err = capsys.readouterr()
    assert code == 2 and fragment in err and err.count("\n") == 1 and "To fix" in err and "Traceback" not in err


def test_nvidia_accelerators_plan_with_the_shipped_calibration_by_default(tmp_path):
    h100 = _instance(tmp_path, accelerator="H100")
    shipped = load_calibration(SHIPPED["nvidia"])
    calibrated, datasheet = _decode_s(h100), _decode_s(h100, "--calibration", "none")
    assert calibrated > 1.2 * datasheet  # measured H100s are slower than their datasheet
    assert _decode_s(h100, "--calibration", str(SHIPPED["nvidia"])) == calibrated
    assert _decode_s(h100, "--calibration", "default") == calibrated
    space = build_space(load_instance(h100))
    assert shipped.summary in space.cost("prefill").description
    xpu = _instance(tmp_path, accelerator="XPU-C")  # the paper's XPUs keep the paper's idealised assumptions
    assert "RAGO paper's idealised XPU" in build_space(load_instance(xpu)).cost("prefill").description
    assert _decode_s(xpu) == _decode_s(xpu, "--calibration", "none")
    assert _decode_s(xpu, "--accelerator", "H200") > 1.2 * _decode_s(xpu, "--accelerator", "H200", "--calibration",
                                                                      "none")


def test_instance_calibration_path_is_relative_to_the_instance(tmp_path, capsys):
    (tmp_path / "cals").mkdir()
    shutil.copy(SHIPPED["nvidia"], tmp_path / "cals" / "mine.json")
    inst = _instance(tmp_path, accelerator="XPU-C", calibration="cals/mine.json")
    assert "calibrated on 37 measured H100 rows" in build_space(load_instance(inst)).cost("decode").description
    code, out, _ = _run(capsys, "costs", inst, "--stage", "decode", "--units", "1", "--batches", "1")
    assert code == 0 and "calibrated on 37 measured H100 rows" in out


def test_typed_efficiencies_and_a_calibration_conflict(tmp_path, capsys):
    inst = _instance(tmp_path, accelerator="H100", efficiency={"compute": 0.5})
    code, _, err = _run(capsys, "pareto", inst, "--quiet")
    assert code == 2 and "efficiency ['compute'] typed in" in err and "calibration: none" in err
    code, _, err = _run(capsys, "costs", inst, "--stage", "decode", "--calibration", "none", "--units", "1")
    assert code == 0
    xpu = _instance(tmp_path, accelerator="XPU-C", efficiency={"compute": 0.5})  # nothing calibrated: no conflict
    assert build_space(load_instance(xpu))


def test_calibration_option_needs_an_analytical_source(capsys):
    code, _, err = _run(capsys, "pareto", INSTANCES / "rago-oss" / "case4.yaml", "--calibration", "none")
    assert code == 2 and "needs an analytical cost source" in err
