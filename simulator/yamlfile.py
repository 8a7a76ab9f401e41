"""Load a YAML file into a pydantic model, reporting errors with file, line and field.

PyYAML's composed node tree keeps each value's start mark; pydantic reports a location tuple. Joining the two
lets every validation error name the line a person has to edit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pydantic
import yaml

from simulator.errors import ConfigError

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


def check_regex(value: str) -> str:
    """A field validator: ``value`` must compile as a Python regular expression."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


RegexText = Annotated[str, pydantic.AfterValidator(check_regex)]

LocPath = tuple[str | int, ...]


def _walk(node: yaml.Node, path: LocPath, lines: dict[LocPath, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines)
            # Keep the key's own line for the field, the value's lines for what is inside it.
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines)


def read_yaml(text: str, source: str) -> tuple[Any, dict[LocPath, int]]:
    """Parse ``text``; return the plain data and a map from location path to 1-based line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"invalid YAML: {problem}", source=source, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", source=source) from None
    lines: dict[LocPath, int] = {}
    if root is not None:
        _walk(root, (), lines)
    return data, lines


def line_for(lines: dict[LocPath, int], loc: LocPath) -> int | None:
    """The line of the deepest known prefix of ``loc``."""
    for end in range(len(loc), -1, -1):
        found = lines.get(tuple(loc[:end]))
        if found is not None:
            return found
    return None


def describe_validation_error(exc: pydantic.ValidationError, source: str, lines: dict[LocPath, int],
                              prefix: LocPath = ()) -> ConfigError:
    """Turn the first pydantic error into a ConfigError naming file, line and field (others are appended)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    raw_loc = tuple(first["loc"])
    message = str(first["msg"])
    if first["type"] == "union_tag_invalid":  # a discriminated union (e.g. pacs.backend) given an unknown tag
        ctx = first.get("ctx", {})
        raw_loc = (*raw_loc, str(ctx.get("discriminator", "")).strip("'"))
        expected = str(ctx.get("expected_tags", "")).replace("'", "")
        message = f"unknown value '{ctx.get('tag')}' (choose one of: {expected})"
    loc = _field_path(prefix, raw_loc, lines, missing=first["type"] == "missing")
    field = ".".join(str(p) for p in loc) or None
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return ConfigError(message, source=source, line=line_for(lines, loc), field=field)


def _field_path(prefix: LocPath, loc: LocPath, lines: dict[LocPath, int], *, missing: bool) -> LocPath:
    """The part of pydantic's location that names fields in the file.

    pydantic inserts union member tags (``int``, ``literal['a','b']``, model names) into locations; a part is
    kept when the file has it at that path, or when it is the absent field a "missing" error names.
    """
    path: LocPath = prefix
    for index, part in enumerate(loc):
        candidate = (*path, part)
        if candidate in lines or (missing and index == len(loc) - 1):
            path = candidate
    return path


def read_mapping(path: Path, what: str = "a mapping", kind: str = "file") -> tuple[dict[str, Any], dict[LocPath, int]]:
    """Read a YAML file whose top level must be a mapping; return it with its line map."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{kind} not found", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read file: {exc}", source=source) from None
    data, lines = read_yaml(text, source)
    if not isinstance(data, dict):
        raise ConfigError(f"expected {what} at the top level", source=source, line=1)
    return data, lines


def load_model(path: Path, model: type[ModelT]) -> ModelT:
    """Read ``path`` and validate it as ``model``; every failure is a ConfigError with file and line."""
    source = str(path)
    data, lines = read_mapping(path)
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise describe_validation_error(exc, source, lines) from None
