"""Tag morphing for site fix-ups: set, copy, delete, regex replace; each optionally conditioned on other values.

A morph changes the dataset in place and returns one :class:`~simulator.nodes.qa.rules.Change` per element it
actually changed (``before``/``after`` as strings, None when absent), so the audit shows what was coerced and the
verdict answers 0xB000. A condition ``when: {Keyword: regex}`` holds when every named element's value (``""``
when absent) matches its regular expression with ``re.search`` (anchor with ``^...$`` for a whole value).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from simulator.nodes.qa.rules import Change

_BINARY_INT = frozenset({"US", "SS", "UL", "SL", "UV", "SV"})
_BINARY_FLOAT = frozenset({"FL", "FD"})


def text_of(ds: Dataset, keyword: str) -> str | None:
    """The element's value as DICOM text (multiple values joined with a backslash), None when absent."""
    if keyword not in ds:
        return None
    value = ds[keyword].value
    if value is None:
        return ""
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(str(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def _typed(keyword: str, text: str) -> Any:
    tag = tag_for_keyword(keyword)
    assert tag is not None
    vr = dictionary_VR(tag)
    parts = text.split("\\")
    if vr in _BINARY_INT:
        numbers: list[Any] = [int(p) for p in parts]
    elif vr in _BINARY_FLOAT:
        numbers = [float(p) for p in parts]
    else:
        return parts if len(parts) > 1 else text
    return numbers if len(numbers) > 1 else numbers[0]


def put(ds: Dataset, keyword: str, text: str) -> None:
    """Set ``keyword`` from its text form, with the dictionary VR."""
    if keyword in ds:
        del ds[keyword]
    setattr(ds, keyword, _typed(keyword, text))


class Morph(Protocol):
    @property
    def name(self) -> str: ...

    def apply(self, ds: Dataset) -> list[Change]: ...


@dataclass(frozen=True)
class Condition:
    """Every keyword's value matches its pattern (``re.search``); an absent element reads as ``""``."""

    patterns: Mapping[str, str] = field(default_factory=dict)

    def holds(self, ds: Dataset) -> bool:
        return all(re.search(pattern, text_of(ds, keyword) or "") for keyword, pattern in self.patterns.items())


def _change(name: str, keyword: str, before: str | None, after: str | None) -> list[Change]:
    return [] if before == after else [Change(name, keyword, before, after)]


@dataclass(frozen=True)
class SetValue:
    keyword: str
    value: str
    when: Condition = Condition()
    name: str = "morph-set"

    def apply(self, ds: Dataset) -> list[Change]:
        if not self.when.holds(ds):
            return []
        before = text_of(ds, self.keyword)
        if before == self.value:
            return []
        put(ds, self.keyword, self.value)
        return _change(self.name, self.keyword, before, text_of(ds, self.keyword))


@dataclass(frozen=True)
class CopyValue:
    source: str
    target: str
    when: Condition = Condition()
    name: str = "morph-copy"

    def apply(self, ds: Dataset) -> list[Change]:
        if not self.when.holds(ds):
            return []
        value = text_of(ds, self.source)
        if value is None:
            return []
        before = text_of(ds, self.target)
        if before == value:
            return []
        put(ds, self.target, value)
        return _change(self.name, self.target, before, text_of(ds, self.target))


@dataclass(frozen=True)
class DeleteElement:
    keyword: str
    when: Condition = Condition()
    name: str = "morph-delete"

    def apply(self, ds: Dataset) -> list[Change]:
        if self.keyword not in ds or not self.when.holds(ds):
            return []
        before = text_of(ds, self.keyword)
        del ds[self.keyword]
        return [Change(self.name, self.keyword, before, None)]


@dataclass(frozen=True)
class RegexReplace:
    keyword: str
    pattern: str
    replacement: str
    when: Condition = Condition()
    name: str = "morph-replace"

    def apply(self, ds: Dataset) -> list[Change]:
        before = text_of(ds, self.keyword)
        if before is None or not self.when.holds(ds):
            return []
        after = re.sub(self.pattern, self.replacement, before)
        if after == before:
            return []
        put(ds, self.keyword, after)
        return _change(self.name, self.keyword, before, text_of(ds, self.keyword))


def apply_all(morphs: list[Morph] | tuple[Morph, ...], ds: Dataset) -> list[Change]:
    """Apply ``morphs`` in order; each sees the result of the ones before it."""
    changes: list[Change] = []
    for morph in morphs:
        changes.extend(morph.apply(ds))
    return changes
