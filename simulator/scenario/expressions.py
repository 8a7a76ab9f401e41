"""Placeholders and paths in scenario values: ``"{ct.PatientID}"``, ``hits.count``, ``hits[0].StudyDate``.

A path starts at a variable (a generated study, a find result, a retrieve outcome) and walks attributes, DICOM
keywords and list indexes. ``count`` is the length of a list or study.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydicom.dataset import Dataset

from simulator.errors import HarnessError
from simulator.synth.study import Study

_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.\[\]]*)\}")


class ExpressionError(HarnessError):
    """A path names something the scenario does not have."""


class MissingAttribute(ExpressionError):
    """A path names a DICOM attribute a data set does not hold (or holds empty)."""

    def __init__(self, message: str, *, keyword: str, dataset: Dataset) -> None:
        super().__init__(message)
        self.keyword = keyword
        self.dataset = dataset


class Answers(list[Dataset]):
    """The matches of a C-FIND, with the level they answer (so a missing optional key can be told apart from a
    mistake in the scenario)."""

    def __init__(self, matches: list[Dataset], *, level: str, model: str) -> None:
        super().__init__(matches)
        self.level = level
        self.model = model


def evaluate(path: str, variables: Mapping[str, Any]) -> Any:
    """The value ``path`` designates; ExpressionError naming the missing part otherwise."""
    text = path.strip()
    if not _PATH.fullmatch(text):
        raise ExpressionError(f"'{path}' is not a path: it must start with a variable name, then .Attribute or [0] "
                              "parts")
    tokens = list(_TOKEN.finditer(text))
    name = tokens[0].group(1)
    if name not in variables:
        known = ", ".join(sorted(variables)) or "none yet"
        raise ExpressionError(f"'{path}': no variable '{name}' (defined so far: {known})")
    value = variables[name]
    walked = name
    for token in tokens[1:]:
        attr, index = token.group(1), token.group(2)
        if index is not None:
            value = _index(value, int(index), walked)
            walked += f"[{index}]"
        else:
            value = _attribute(value, attr, walked)
            walked += f".{attr}"
    return value


def _index(value: Any, index: int, walked: str) -> Any:
    items = value.datasets if isinstance(value, Study) else value
    if not isinstance(items, list | tuple):
        raise ExpressionError(f"'{walked}' is not a list")
    if index >= len(items):
        raise ExpressionError(f"'{walked}[{index}]': only {len(items)} item(s)")
    return items[index]


def _attribute(value: Any, attr: str, walked: str) -> Any:
    if attr == "count" and isinstance(value, list | tuple | Study):
        return len(value)
    if isinstance(value, Study):
        if not value.datasets:
            raise ExpressionError(f"'{walked}' is an empty study")
        value = value.datasets[0]
    if isinstance(value, Dataset):
        if attr not in value:
            raise MissingAttribute(f"'{walked}' has no attribute {attr}", keyword=attr, dataset=value)
        element = value[attr].value
        return element
    if isinstance(value, Mapping):
        if attr not in value:
            raise ExpressionError(f"'{walked}' has no key {attr}")
        return value[attr]
    if hasattr(value, attr):
        return getattr(value, attr)
    if isinstance(getattr(value, "study", None), Study):  # an acquisition reads like the study it produced
        return _attribute(value.study, attr, walked)
    raise ExpressionError(f"'{walked}' has no attribute {attr}")


def substitute(value: Any, variables: Mapping[str, Any]) -> Any:
    """Replace ``{path}`` placeholders in strings (recursively in lists and mappings).

    A string that is exactly one placeholder keeps the value's type.
    """
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole:
            return plain(evaluate(whole.group(1), variables))
        return _PLACEHOLDER.sub(lambda m: str(plain(evaluate(m.group(1), variables))), value)
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    return value


def plain(value: Any) -> Any:
    """DICOM values as plain Python: PersonName and UID to str, MultiValue to list, IS/DS to numbers."""
    type_name = type(value).__name__
    if type_name in ("PersonName", "UID"):
        return str(value)
    if type_name == "MultiValue":
        return [plain(v) for v in value]
    if type_name == "IS":
        return int(value)
    if type_name in ("DSfloat", "DSdecimal"):
        return float(value)
    return value


def matches(actual: Any, expected: Any) -> bool:
    """Equality that forgives DICOM's string encodings: ``"40" == 40``, ``PersonName == str``."""
    actual = plain(actual)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    if isinstance(expected, int | float) and isinstance(actual, str):
        try:
            return float(actual) == float(expected)
        except ValueError:
            return False
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(matches(a, e) for a, e in zip(actual, expected, strict=True))
    if isinstance(expected, str) and not isinstance(actual, str) and actual is not None:
        return str(actual) == expected
    return bool(actual == expected)
