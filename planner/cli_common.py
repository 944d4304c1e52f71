"""What every ``ragplan`` command shares: the one-line-error parser, number types, progress lines, and checked
output paths (checked before any work, written before anything is printed)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from planner.errors import InstanceError
from planner.schema import clip

__all__ = ["COUNT", "PLOT_SUFFIXES", "RATE", "SECONDS", "SEED", "Parser", "Progress", "calibration_option",
           "json_writer", "number", "output", "write"]

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage too by default)
        self.exit(2, f"ragplan: error: {message}. To fix: see '{self.prog} --help'\n")


def number(kind, low: float, what: str, strict: bool = True):
    """An argparse type: a finite ``kind`` number > low (>= low unless ``strict``), with a one-line error."""
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{clip(text)} is not {what}") from None
        if not math.isfinite(v) or v < low or (strict and v == low):
            raise argparse.ArgumentTypeError(f"{clip(text)} is not {what} {'>' if strict else '>='} {low:g}")
        if abs(v) > 1e15:
            raise argparse.ArgumentTypeError(f"{clip(text)} is beyond any plan (at most 1e15)")
        return v
    return parse


SECONDS = number(float, 0.0, "a number of seconds")
RATE = number(float, 0.0, "a rate (requests/s)")
COUNT = number(int, 0, "a whole number")
SEED = number(int, 0, "a whole number", strict=False)


class Progress:
    """Progress lines on stderr, at most one a second, from the first second of a run."""

    def __init__(self, enabled: bool, every_s: float = 1.0):
        self.enabled, self.every_s = enabled, every_s
        self.t0 = self.last = time.perf_counter()

    def __call__(self, what: str) -> None:
        now = time.perf_counter()
        if self.enabled and now - self.last >= self.every_s:
            self.last = now
            print(f"[{now - self.t0:.1f} s] {what}", file=sys.stderr, flush=True)


def calibration_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calibration", metavar="CAL.json", help="override cost.calibration (analytical cost sources): "
                   "a file from 'ragplan calibrate fit', 'none' (datasheet peaks) or 'default' (the calibration "
                   "shipped for the accelerator's family)")


def output(path: str | None, option: str, suffixes: tuple[str, ...] = ()) -> Path | None:
    """Check an output path before any work: its folder can be created and the file written (a new file made
    for the check is removed again)."""
    if path is None:
        return None
    p = Path(path)
    if path.endswith(("/", os.sep)) or p.is_dir():
        raise InstanceError(f"{option} {clip(path)} is a folder. To fix: give a file name, e.g. {p / 'out'}"
                            f"{suffixes[0] if suffixes else '.json'}")
    if suffixes and p.suffix.lower() not in suffixes:
        raise InstanceError(f"{option} {clip(path)}: the format comes from the file name, and "
                            f"{clip(p.suffix or 'no suffix')} is not one of {', '.join(suffixes)}. To fix: name the "
                            f"file with one of them, e.g. {p.with_suffix(suffixes[0]).name}")
    existed = p.exists()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("a"):
            pass
    except OSError as exc:
        raise InstanceError(f"cannot write {option} {clip(path)}: {exc.strerror or exc}. To fix: choose a path in "
                            f"a folder you can write") from exc
    if not existed:
        p.unlink()
    return p


def write(path: Path | None, save) -> list[str]:
    """``save(path)`` to a checked output path (if given); the line saying where it wrote."""
    if path is None:
        return []
    try:
        save(path)
    except OSError as exc:
        raise InstanceError(f"cannot write {clip(str(path))}: {exc.strerror or exc}. To fix: free space or choose "
                            f"another path") from exc
    return [f"wrote {path}"]


def json_writer(payload: dict):
    return lambda path: path.write_text(json.dumps(payload, indent=2) + "\n")
