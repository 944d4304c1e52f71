"""Reading a plan from JSON: a bare plan, a frontier point, a whole frontier (``ragplan pareto --json``) with a
point chosen, or a capacity answer (``ragplan capacity --json``), so ragplan's own output is always valid input.
Every failure is one ``InstanceError`` that names the field and the fix."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from planner.errors import InstanceError
from planner.schema import Plan, clip

__all__ = ["PLAN_KEYS", "read_plan"]

#: The keys of a plan; a frontier point carries them beside its metrics.
PLAN_KEYS = ("placement", "chips_per_stage", "batch_per_stage", "retrieval_servers", "accelerator_per_stage",
             "retrieval_server", "burst_requests", "iterative_batch")


def _choose(path: str, points: list, point: str | None) -> dict:
    if not points:
        raise InstanceError(f"{path}: the frontier has no points. To fix: give a frontier with points")
    if point is None:
        if len(points) == 1:
            return points[0]
        raise InstanceError(f"{path} is a frontier of {len(points)} points. To fix: choose one with --point INDEX "
                            f"(0..{len(points) - 1}), --point max-qps-per-chip or --point min-ttft")
    try:
        if point in ("max-qps-per-chip", "min-ttft"):
            key = "qps_per_chip" if point == "max-qps-per-chip" else "ttft_s"
            pick = max if point == "max-qps-per-chip" else min
            return pick(points, key=lambda p: p[key])
        i = int(point)
    except (ValueError, TypeError, KeyError) as exc:
        raise InstanceError(f"--point {clip(point)} is not a point index, max-qps-per-chip or min-ttft (or the "
                            f"frontier lacks {exc}). To fix: give one of those") from exc
    if not -len(points) <= i < len(points):
        raise InstanceError(f"--point {i} is outside the frontier's {len(points)} points. To fix: give an index in "
                            f"0..{len(points) - 1}")
    return points[i]


def read_plan(path: str | Path, point: str | None = None) -> Plan:
    """The plan in ``path`` (see the module docstring); ``point`` picks one from a frontier."""
    path = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise InstanceError(f"cannot read plan {clip(path)}: {exc.strerror}. To fix: check the path") from exc
    except UnicodeDecodeError as exc:
        raise InstanceError(f"plan {clip(path)} is not UTF-8 text. To fix: give a plan JSON file") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InstanceError(f"plan {clip(path)} is not JSON ({clip(str(exc), 60)}). To fix: give a plan JSON, e.g. "
                            f"one written by ragplan pareto --json") from exc
    if isinstance(data, dict) and isinstance(data.get("points"), list):
        data = _choose(path, data["points"], point)
    elif point is not None:
        raise InstanceError(f"--point applies to a frontier JSON, and {clip(path)} holds none. To fix: drop --point")
    elif isinstance(data, dict) and isinstance(data.get("plan"), dict):
        data = data["plan"]
    if not isinstance(data, dict):
        raise InstanceError(f"plan {clip(path)} holds a {type(data).__name__}, not a plan object. To fix: give "
                            f"{{{', '.join(PLAN_KEYS)}}}")
    missing = [k for k in PLAN_KEYS[:3] if k not in data]
    if missing:
        raise InstanceError(f"plan {clip(path)} lacks {missing} (has {clip(sorted(data))}). To fix: give "
                            f"{', '.join(PLAN_KEYS)}")
    try:
        return Plan.model_validate_json(json.dumps({k: data[k] for k in PLAN_KEYS if k in data}))
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(str(x) for x in e["loc"])
        raise InstanceError(f"plan {clip(path)}: {where}: {e['msg']} (got {clip(e.get('input'))}). To fix: correct "
                            f"that field") from exc
