"""Load scenario files; every mistake is reported with the file, the line and the field."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pydantic

from simulator.errors import ConfigError
from simulator.scenario.model import Scenario, Step
from simulator.scenario.steps import REGISTRY
from simulator.yamlfile import LocPath, describe_validation_error, line_for, read_mapping

SCENARIO_SUFFIXES = (".yaml", ".yml")


def load_scenario(path: Path) -> Scenario:
    """Read and validate one scenario file."""
    source = str(path)
    data, lines = read_mapping(path, "a scenario mapping with 'name' and 'steps'", "scenario file")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ConfigError("'steps' must be a non-empty list", source=source,
                          line=line_for(lines, ("steps",)) or 1, field="steps")
    steps = [_step(item, index, source, lines) for index, item in enumerate(raw_steps)]
    try:
        return Scenario.model_validate({**data, "steps": steps, "source": source})
    except pydantic.ValidationError as exc:
        raise describe_validation_error(exc, source, lines) from None


def _step(item: Any, index: int, source: str, lines: dict[LocPath, int]) -> Step:
    loc: LocPath = ("steps", index)
    line = line_for(lines, loc)
    if not isinstance(item, dict) or len(item) != 1:
        raise ConfigError("each step is a mapping with exactly one key, the step kind (e.g. '- store: {...}')",
                          source=source, line=line, field=f"steps.{index}")
    kind, args = next(iter(item.items()))
    spec = REGISTRY.get(str(kind))
    if spec is None:
        raise ConfigError(f"unknown step '{kind}' (known: {', '.join(sorted(REGISTRY))})", source=source,
                          line=line, field=f"steps.{index}")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ConfigError(f"the arguments of '{kind}' must be a mapping", source=source, line=line,
                          field=f"steps.{index}.{kind}")
    try:
        parsed = spec.args.model_validate(args)
    except pydantic.ValidationError as exc:
        raise describe_validation_error(exc, source, lines, prefix=(*loc, kind)) from None
    return Step(kind=str(kind), args=parsed, line=line)


def discover(paths: Iterable[Path]) -> list[Path]:
    """Scenario files named by ``paths`` (files, or folders searched recursively), sorted; missing paths raise."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in SCENARIO_SUFFIXES and p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigError(f"no such scenario file or folder: {path}")
    return found
