"""QA rules: each inspects a dataset and names every violation; the verdict maps them to a DICOM status.

Statuses (PS3.4 B.2.3): a missing required attribute is 0xA900 (Data Set does not match SOP Class); an invalid
value is 0xC000 (Cannot understand). The Error Comment (LO, 64 chars) names the first violation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from simulator.synth.uids import is_valid_uid

MISSING = 0xA900
INVALID = 0xC000


@dataclass(frozen=True)
class Violation:
    rule: str
    keyword: str
    message: str
    status: int

    def comment(self) -> str:
        return f"QA: {self.message}"[:64]


class Rule(Protocol):
    @property
    def name(self) -> str: ...

    def check(self, ds: Dataset) -> list[Violation]: ...


def _tag(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})" if tag is not None else ""


@dataclass(frozen=True)
class RequiredAttributes:
    """Attributes that must be present with a non-empty value."""

    keywords: Sequence[str]
    name: str = "required-attributes"

    def check(self, ds: Dataset) -> list[Violation]:
        out = []
        for keyword in self.keywords:
            value = ds.get(keyword)
            if value is None or str(value).strip() == "":
                out.append(Violation(self.name, keyword, f"{keyword} {_tag(keyword)} missing", MISSING))
        return out


@dataclass(frozen=True)
class UidSyntax:
    """UIDs must follow PS3.5 9.1: digits and dots, no leading zeros, at most 64 characters."""

    keywords: Sequence[str]
    name: str = "uid-syntax"

    def check(self, ds: Dataset) -> list[Violation]:
        out = []
        for keyword in self.keywords:
            value = ds.get(keyword)
            if value is None or str(value) == "":
                continue
            text = str(value)
            if len(text) > 64:
                out.append(Violation(self.name, keyword, f"{keyword} longer than 64 chars", INVALID))
            elif not is_valid_uid(text):
                out.append(Violation(self.name, keyword, f"{keyword} is not a valid UID", INVALID))
        return out


_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")

DEFAULT_RULES: tuple[Rule, ...] = (
    RequiredAttributes(keywords=("PatientID", *_UIDS)),
    UidSyntax(keywords=_UIDS),
)


@dataclass(frozen=True)
class Verdict:
    """Accept (status 0) or reject with the first violation's status; every violation is kept for the audit."""

    violations: tuple[Violation, ...]

    @property
    def accepted(self) -> bool:
        return not self.violations

    @property
    def status(self) -> int:
        return 0x0000 if self.accepted else self.violations[0].status

    @property
    def comment(self) -> str | None:
        return None if self.accepted else self.violations[0].comment()


def evaluate(ds: Dataset, rules: Sequence[Rule] = DEFAULT_RULES) -> Verdict:
    violations: list[Violation] = []
    for rule in rules:
        violations.extend(rule.check(ds))
    return Verdict(tuple(violations))
