"""Reading an instance YAML: size and alias-expansion guards, UTF-8, YAML syntax, then the strict schema
(``planner.schema``); every problem becomes one ``InstanceError`` line that names the field, the value and the fix.
Relative profile folders resolve against the instance file's folder."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from planner.errors import InstanceError
from planner.prices import PriceFile
from planner.schema import MAX_YAML_NODES, Instance, ProfileCostSource, SearchSpace, clip

__all__ = ["load_instance", "load_prices", "with_search"]


def _format_validation(path: Path, err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"] if not str(x).startswith(("function-after", "tagged-union")))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = f"unknown field {loc.rsplit('.', 1)[-1]!r}. To fix: remove it or correct its spelling"
        elif "To fix" not in msg:
            msg = f"{msg} (got {clip(e.get('input'))}). To fix: correct this value (see docs/instances.md)"
        parts.append(f"{loc}: {msg}" if loc else msg)
    more = f" (and {len(parts) - 3} more)" if len(parts) > 3 else ""
    return f"{path}: invalid instance: " + "; ".join(parts[:3]) + more


def _expanded_nodes(node, memo: dict, limit: int) -> int:
    """How many nodes a composed YAML node stands for once its aliases are copied (stops past ``limit``)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a recursive alias counts once (safe_load refuses it later anyway)
    total = 1
    children = node.value if isinstance(node.value, list) else []
    for child in children:
        for part in (child if isinstance(child, tuple) else (child,)):
            total += _expanded_nodes(part, memo, limit)
            if total > limit:
                break
        if total > limit:
            break
    memo[key] = total
    return total


def _read_yaml(path: Path, what: str, keys: str) -> dict:
    """A YAML mapping from ``path``, guarded: size, UTF-8, alias expansion, nesting, syntax (one-line errors)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InstanceError(f"cannot read {what} {path}: {exc.strerror}. To fix: check the path") from exc
    if len(raw) > 10_000_000:
        raise InstanceError(f"{path} is {len(raw) / 1e6:.3g} MB, far larger than any {what}. To fix: check the "
                            f"file name")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InstanceError(f"{path} is not UTF-8 text (byte {exc.start}: {clip(raw[exc.start:exc.start + 4])}). "
                            f"To fix: give a YAML file") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and _expanded_nodes(node, {}, MAX_YAML_NODES) > MAX_YAML_NODES:
            raise InstanceError(f"{path}: the YAML expands to more than {MAX_YAML_NODES} nodes through its anchors "
                                f"and aliases. To fix: write the instance without nested aliases")
        data = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        if isinstance(exc, RecursionError):
            raise InstanceError(f"{path}: the YAML nests too deeply. To fix: write a flat instance") from exc
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise InstanceError(f"{path}: malformed YAML{at}: {getattr(exc, 'problem', None) or clip(str(exc))}. To fix: "
                            f"correct the YAML syntax") from exc
    if not isinstance(data, dict):
        raise InstanceError(f"{path}: the {what} must be a YAML mapping, got {type(data).__name__}. To fix: start "
                            f"with keys {keys}")
    return data


def _resolved(path: Path, name: str | None) -> str | None:
    return name if name is None or Path(name).is_absolute() else str((path.parent / name).resolve())


def load_prices(path: str | Path) -> PriceFile:
    """Read and validate a price YAML (``schema.PriceFile``)."""
    path = Path(path)
    data = _read_yaml(path, "price file", "accelerators, cpu_servers")
    try:
        return PriceFile.model_validate(data)
    except ValidationError as exc:
        raise InstanceError(_format_validation(path, exc).replace("invalid instance", "invalid price file")) from exc


def load_instance(path: str | Path) -> Instance:
    """Read and validate an instance YAML; relative profile folders, calibration and price files resolve against
    the file's folder."""
    path = Path(path)
    data = _read_yaml(path, "instance", "name, pipeline, cost, search")
    try:
        inst = Instance.model_validate(data)
    except ValidationError as exc:
        raise InstanceError(_format_validation(path, exc)) from exc
    cost = inst.cost
    update = {"prices": _resolved(path, cost.prices)}
    if isinstance(cost, ProfileCostSource):
        update["profiles_dir"] = _resolved(path, cost.profiles_dir)
    elif cost.calibration not in ("default", "none"):
        update["calibration"] = _resolved(path, cost.calibration)
    return inst.model_copy(update={"cost": cost.model_copy(update=update)})


def with_search(inst: Instance, update: dict, source: str = "command line") -> Instance:
    """``inst`` with ``search`` fields replaced, validated like the YAML (an ``InstanceError`` naming the field and
    the fix, not a silently inconsistent space)."""
    try:
        search = SearchSpace.model_validate(inst.search.model_dump() | update)
    except ValidationError as exc:
        raise InstanceError(_format_validation(Path(source), exc).replace("invalid instance", "invalid options")) \
            from exc
    return inst.model_copy(update={"search": search})
