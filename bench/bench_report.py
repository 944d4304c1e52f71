"""The report page's load time in headless Chromium (issue: a report people look at; target: a 300-point frontier
loads in under 2 s).

Plans paper case2-70b-100k with `--chips any --batches any` (377 points, about 15 s), writes its page with
``ragplan report``, and opens it 5 times, each in a fresh Debian Chromium (headless, through Selenium): the time
from the navigation's start to the page having drawn the frontier, the plan and its breakdown
(``window.ragplanReadyMs``).
Prints the times and the median; JSON in ``bench/results/report.json``; a screenshot beside it.

Usage: python bench/bench_report.py [--instance instances/paper/case2-70b-100k.yaml] [--out bench/results/report.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.cli import main as ragplan  # noqa: E402


def _browser():
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
        opts.add_argument(a)
    opts.binary_location = shutil.which("chromium")
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instance", default=str(ROOT / "instances" / "paper" / "case2-70b-100k.yaml"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "report.json"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ragplan-report-"))
    front, page = tmp / "frontier.json", tmp / "frontier.html"
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the frontier's table: not this benchmark's output
        ragplan(["pareto", args.instance, "--chips", "any", "--batches", "any", "--json", str(front), "--quiet"])
        plan_s = time.perf_counter() - t0
        ragplan(["report", str(front), "--out", str(page)])
    points = len(json.loads(front.read_text())["points"])
    loads, shot = [], Path(args.out).with_suffix(".png")
    for _ in range(5):  # each load in a fresh browser: nothing cached
        d = _browser()
        try:
            d.get(page.as_uri())
            while not d.execute_script("return window.ragplanReady === true"):
                time.sleep(0.01)
            loads.append(d.execute_script("return window.ragplanReadyMs") / 1e3)
            d.save_screenshot(str(shot))
        finally:
            d.quit()
    row = {"instance": Path(args.instance).stem, "points": points, "page_bytes": page.stat().st_size,
           "load_s": loads, "median_load_s": statistics.median(loads), "plan_s": plan_s, "screenshot": str(shot)}
    print(f"{row['instance']}: {points} points, page {row['page_bytes'] / 1e6:.2f} MB, loads "
          + ", ".join(f"{x:.3f}" for x in loads) + f" s (median {row['median_load_s']:.3f} s); screenshot {shot}")
    Path(args.out).write_text(json.dumps(row, indent=1) + "\n")


if __name__ == "__main__":
    main()
