"""``ragplan report`` (R1 of docs/cli.md): the page is self-contained, and in a real headless browser (Debian's
Chromium through Selenium) it loads without console errors, draws every frontier point and the selected plan,
selects a clicked point, and gives a screenshot."""

import json
import shutil
import time

import pytest

from planner import InstanceError
from planner.cli import main
from planner.report_html import report_html, result_kind
from tests.conftest import INSTANCES


@pytest.fixture(scope="module")
def frontier(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "f.json"
    assert main(["pareto", str(INSTANCES / "rago-oss" / "case4.yaml"), "--ttft-slo", "0.2", "--json", str(out),
                 "--quiet"]) == 0
    return out


def test_kinds_and_refusals(frontier):
    payload = json.loads(frontier.read_text())
    assert result_kind(payload) == "frontier" and payload["slo"]["ttft_max_s"] == 0.2
    assert result_kind({"plan": {}, "qps_min": 1.0}) == "capacity"
    assert result_kind({"objective": "cost", "points": [{"plan": {}}]}) == "sweep"
    for bad in ({"a": 1}, [1, 2]):
        with pytest.raises(InstanceError, match="To fix"):
            result_kind(bad)


def test_page_is_self_contained(frontier):
    payload = json.loads(frontier.read_text())
    page = report_html(payload)
    assert "<script src" not in page and "<link" not in page  # plotly.js and the data inside the page
    assert page.count("ttft_ps") == len(payload["points"]) > 5 and "Plotly.newPlot" in page


def test_cli_writes_the_page(frontier, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(frontier), "--out", str(out)]) == 0
    assert out.stat().st_size > 1_000_000 and f"wrote {out}" in capsys.readouterr().out
    assert main(["report", str(frontier), "--out", str(tmp_path / "r.png")]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["report", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("To fix" in e for e in err)


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "Debian's chromium and chromium-driver are needed (.ci/run installs them)"
    opts = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
        opts.add_argument(a)
    opts.binary_location = chromium
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=opts)


def test_page_in_headless_chromium(frontier, tmp_path):
    page = tmp_path / "r.html"
    payload = json.loads(frontier.read_text())
    page.write_text(report_html(payload))
    d = _browser()
    try:
        d.get(page.as_uri())
        t0 = time.time()
        while not d.execute_script("return window.ragplanReady === true"):
            assert time.time() - t0 < 30, "the page never finished drawing"
            time.sleep(0.05)
        n = len(payload["points"])
        assert d.execute_script("return document.querySelectorAll('#frontier .scatterlayer .point').length") == n
        assert d.find_element("id", "which").text == f"#{n}"  # the best QPS/chip, the last point
        assert d.execute_script("return document.querySelectorAll('#plan rect').length") == \
            len(payload["points"][-1]["placement"])
        assert "TTFT SLO" in d.find_element("id", "frontier").text
        first = d.find_elements("css selector", "#frontier .scatterlayer .point")[0]
        from selenium.webdriver import ActionChains

        ActionChains(d).move_to_element(first).click().perform()
        t0 = time.time()
        while d.find_element("id", "which").text != "#1":
            assert time.time() - t0 < 10, "clicking point 1 did not select it"
            time.sleep(0.05)
        shot = tmp_path / "report.png"
        d.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
        errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        d.quit()


def test_capacity_page_carries_its_explanation(tmp_path):
    out = tmp_path / "c.json"
    assert main(["capacity", str(INSTANCES / "priced" / "rag-70b-hyperscale.yaml"), "--qps", "500", "--json",
                 str(out), "--quiet"]) == 0
    payload = json.loads(out.read_text())
    page = report_html(payload)
    assert result_kind(payload) == "capacity" and '"binds": ["QPS' in page and '"marginals": [' in page
