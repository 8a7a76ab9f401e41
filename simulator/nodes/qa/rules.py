"""QA rules: each inspects a dataset and names every violation; the verdict maps them to an action and a status.

Every violation carries the action its rule is configured with (accept, quarantine, reject). The verdict's action
is the strictest one: reject if any violation rejects, else quarantine if any quarantines, else accept.

Statuses (PS3.4 B.2.3, C-STORE):

======  ==========================================================================================================
0x0000  Success: accepted unchanged, or quarantined (the instance is kept, held back from the PACS)
0xB000  Warning, coercion of data elements: accepted after morphing rules changed it
0xA900  Error, Data Set does not match SOP Class: a required attribute missing (``required-attributes``),
        Pixel Data length inconsistent with the image attributes (``pixel-data``), an IOD error from dciodvfy
        (``dciodvfy``)
0xC000  Error, cannot understand: a UID that breaks PS3.5 9.1 (``uid-syntax``)
0xC001  Error, cannot understand: a value longer than its VR allows, PS3.5 Table 6.2-1 (``vr-length``)
0xC002  Error, cannot understand: text not valid in its character set, PS3.5 6.1 (``charset``)
======  ==========================================================================================================

The 0xC0xx codes are within the 0xCxxx "Cannot understand" range PS3.4 B.2.3 leaves to the SCP. The Error
Comment (LO, at most 64 characters) names the attribute of the first deciding violation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from pydicom import config as pydicom_config
from pydicom.charset import decode_bytes
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag, Tag
from pydicom.valuerep import PersonName

from simulator.synth.charsets import fits
from simulator.synth.uids import is_valid_uid

SUCCESS = 0x0000
COERCED = 0xB000
MISSING = 0xA900
PIXEL_LENGTH = 0xA900
IOD_ERROR = 0xA900
INVALID = 0xC000
INVALID_UID = 0xC000
TOO_LONG = 0xC001
BAD_CHARSET = 0xC002


class Action(StrEnum):
    ACCEPT = "accept"
    QUARANTINE = "quarantine"
    REJECT = "reject"


@dataclass(frozen=True)
class Violation:
    rule: str
    keyword: str
    message: str
    status: int
    action: Action = Action.REJECT

    def comment(self) -> str:
        return f"QA: {self.message}"[:64]


@dataclass(frozen=True)
class Change:
    """One data element a morphing rule changed: ``before``/``after`` are None when absent."""

    rule: str
    keyword: str
    before: str | None
    after: str | None


class Rule(Protocol):
    @property
    def name(self) -> str: ...

    def check(self, ds: Dataset) -> list[Violation]: ...


def _tag(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})" if tag is not None else ""


def _label(tag: BaseTag) -> str:
    return keyword_for_tag(tag) or f"({tag.group:04X},{tag.element:04X})"


@dataclass(frozen=True)
class RequiredAttributes:
    """Attributes that must be present with a non-empty value."""

    keywords: Sequence[str]
    name: str = "required-attributes"
    action: Action = Action.REJECT

    def check(self, ds: Dataset) -> list[Violation]:
        out = []
        for keyword in self.keywords:
            value = ds.get(keyword)
            if value is None or str(value).strip() == "":
                out.append(Violation(self.name, keyword, f"{keyword} {_tag(keyword)} missing", MISSING, self.action))
        return out


def _uid_problem(text: str) -> str | None:
    if len(text) > 64:
        return "longer than 64 chars"
    if not is_valid_uid(text):
        return "is not a valid UID"
    return None


@dataclass(frozen=True)
class UidSyntax:
    """UIDs must follow PS3.5 9.1: digits and dots, no leading zeros, at most 64 characters."""

    keywords: Sequence[str]
    name: str = "uid-syntax"
    action: Action = Action.REJECT

    def check(self, ds: Dataset) -> list[Violation]:
        out = []
        for keyword in self.keywords:
            value = ds.get(keyword)
            if value is None or str(value) == "":
                continue
            problem = _uid_problem(str(value))
            if problem:
                out.append(Violation(self.name, keyword, f"{keyword} {problem}", INVALID_UID, self.action))
        return out


def _walk(ds: Dataset) -> Iterator[tuple[Dataset, DataElement | RawDataElement]]:
    """Every element of ``ds`` and its sequence items, with the dataset holding it; raw elements stay raw
    (sequences are converted to reach their items)."""
    for elem in ds.elements():
        yield ds, elem
        if elem.VR == "SQ" or (isinstance(elem, RawDataElement) and elem.VR is None
                               and _dictionary_vr(elem.tag) == "SQ"):
            for item in ds[elem.tag].value or ():
                yield from _walk(item)


def _dictionary_vr(tag: int) -> str | None:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return None


def _vr(elem: DataElement | RawDataElement) -> str | None:
    return elem.VR or _dictionary_vr(elem.tag)


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return list(value)
    return [value]


def _converted(ds: Dataset, elem: DataElement | RawDataElement) -> DataElement:
    return elem if isinstance(elem, DataElement) else ds[elem.tag]


class _Memo:
    """What a check found for an element still in its received (raw) form, keyed by everything that decides it:
    tag, VR, value bytes, byte order, VR encoding and character set. The instances of a series repeat most of
    their elements byte for byte, so a hit spares decoding the value (pydicom's conversion is most of a check's
    cost). Bounded: emptied when full (the per-instance UIDs never repeat)."""

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._found: dict[tuple[Any, ...], Any] = {}

    def get(self, key: tuple[Any, ...] | None, compute: Callable[..., Any], *args: Any) -> Any:
        """The outcome stored under ``key``, else ``compute(*args)`` (stored unless ``key`` is None)."""
        if key is None:
            return compute(*args)
        try:
            return self._found[key]
        except KeyError:
            pass
        value = compute(*args)
        if len(self._found) >= self.limit:
            self._found.clear()
        self._found[key] = value
        return value

    def clear(self) -> None:
        self._found.clear()


_MEMO = _Memo()


def _raw_key(kind: str, elem: DataElement | RawDataElement, *context: Any) -> tuple[Any, ...] | None:
    """The memo key of a raw element (None for a decoded one, whose value may have been changed in place)."""
    if not isinstance(elem, RawDataElement) or elem.value is None:
        return None
    return (kind, elem.tag, elem.VR, elem.value, elem.is_little_endian, elem.is_implicit_VR, *context)


def _encoding_key(ds: Dataset) -> tuple[str, ...]:
    """The character set pydicom decodes ``ds``'s raw text with (as ``Dataset.__getitem__`` picks it)."""
    encoding = ds.original_character_set or ds._character_set
    return (encoding,) if isinstance(encoding, str) else tuple(encoding)


@dataclass(frozen=True)
class UidValues:
    """Every UI element present, at any depth, follows PS3.5 9.1 (syntax, at most 64 characters)."""

    name: str = "uid-syntax"
    action: Action = Action.REJECT

    def check(self, ds: Dataset) -> list[Violation]:
        out = []
        for holder, raw in _walk(ds):
            if _vr(raw) != "UI":
                continue
            problem = _MEMO.get(_raw_key("uid", raw), _uid_value_problem, holder, raw)
            if problem:
                label = _label(Tag(raw.tag))
                out.append(Violation(self.name, label, f"{label} {problem}", INVALID_UID, self.action))
        return out


def _uid_value_problem(holder: Dataset, raw: DataElement | RawDataElement) -> str | None:
    """The first problem among the values of a UI element."""
    for value in _values(_converted(holder, raw).value):
        text = str(value).rstrip("\0 ")
        problem = _uid_problem(text) if text else None
        if problem:
            return problem
    return None


# PS3.5 Table 6.2-1. Characters for the text VRs (SH, LO, PN per component group, ST, LT), bytes for the rest
# (their repertoire is the default one, one byte per character). UI is left to the UID rule.
MAX_LENGTHS: dict[str, int] = {
    "AE": 16, "AS": 4, "CS": 16, "DA": 8, "DS": 16, "DT": 26, "IS": 12, "LO": 64, "LT": 10240, "PN": 64,
    "SH": 16, "ST": 1024, "TM": 14,
}


@dataclass(frozen=True)
class VrLength:
    """Every string value, at any depth, is within its VR's maximum length (PS3.5 Table 6.2-1)."""

    name: str = "vr-length"
    action: Action = Action.REJECT
    max_lengths: tuple[tuple[str, int], ...] = tuple(MAX_LENGTHS.items())

    def check(self, ds: Dataset) -> list[Violation]:
        limits = dict(self.max_lengths)
        out = []
        encodings: dict[int, tuple[str, ...]] = {}
        for holder, raw in _walk(ds):
            vr = _vr(raw)
            if vr not in limits:
                continue
            limit = limits[vr]
            key = None
            if isinstance(raw, RawDataElement):
                encoding = encodings.get(id(holder))
                if encoding is None:
                    encoding = encodings[id(holder)] = _encoding_key(holder)
                key = _raw_key("lengths", raw, encoding)
            lengths: tuple[int, ...] = _MEMO.get(key, _value_lengths, holder, raw, vr)
            longest = next((n for n in lengths if n > limit), None)
            if longest is not None:
                label = _label(Tag(raw.tag))
                what = "a name group" if vr == "PN" else vr
                out.append(Violation(self.name, label, f"{label} {longest} chars, {what} allows {limit}",
                                     TOO_LONG, self.action))
        return out


def _value_lengths(holder: Dataset, raw: DataElement | RawDataElement, vr: str) -> tuple[int, ...]:
    """The length in characters of each value (of its longest component group for PN)."""
    lengths = []
    for value in _values(_converted(holder, raw).value):
        parts = str(value).split("=") if vr == "PN" else [str(value)]
        lengths.append(max(len(part) for part in parts))
    return tuple(lengths)


_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "PN", "UC", "UT"})
_DEFAULT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"})


@contextmanager
def _strict_decoding() -> Iterator[None]:
    previous = pydicom_config.settings.reading_validation_mode
    pydicom_config.settings.reading_validation_mode = pydicom_config.RAISE
    try:
        yield
    finally:
        pydicom_config.settings.reading_validation_mode = previous


def _charset_of(ds: Dataset, inherited: list[str]) -> list[str]:
    elem = ds.get("SpecificCharacterSet")
    if elem is None:
        return inherited
    return [str(term).strip() for term in _values(elem)]


def _encodings(terms: list[str]) -> list[str]:
    from pydicom.charset import convert_encodings

    return list(convert_encodings(terms or [""]))


@dataclass(frozen=True)
class CharsetValid:
    """Text fits the repertoire of the Specific Character Set that applies to it (PS3.5 6.1).

    Raw bytes (elements not yet decoded) are decoded strictly in the declared character set; a decoded value must
    fit the repertoire (so Latin-1 bytes under the default repertoire fail even though pydicom decodes them
    leniently as ISO 8859-1), and a U+FFFD left by a lenient decode counts as undecodable bytes.
    """

    name: str = "charset"
    action: Action = Action.REJECT

    def check(self, ds: Dataset) -> list[Violation]:
        return self._check(ds, [])

    def _check(self, ds: Dataset, inherited: list[str]) -> list[Violation]:
        terms = _charset_of(ds, inherited)
        out: list[Violation] = []
        try:
            fits("", terms)
        except ValueError as exc:
            return [Violation(self.name, "SpecificCharacterSet", str(exc), BAD_CHARSET, self.action)]
        for elem in ds.elements():
            vr = _vr(elem)
            if vr == "SQ":
                for item in ds[elem.tag].value or ():
                    out.extend(self._check(item, terms))
                continue
            if vr in _TEXT_VRS:
                applies, person_name = terms, vr == "PN"
            elif vr in _DEFAULT_VRS:
                applies, person_name = [], False
            else:
                continue
            problem = _MEMO.get(_raw_key("charset", elem, tuple(applies), person_name), self._text_problem, elem,
                                applies, person_name)
            if problem:
                label = _label(Tag(elem.tag))
                out.append(Violation(self.name, label, f"{label} {problem}", BAD_CHARSET, self.action))
        return out

    def _text_problem(self, elem: DataElement | RawDataElement, terms: list[str], person_name: bool) -> str | None:
        charset = "\\".join(terms) or "default repertoire"
        raw = elem.value if isinstance(elem, RawDataElement) else None
        if isinstance(elem, DataElement):
            values = _values(elem.value)
            originals = [v.original_string for v in values if isinstance(v, PersonName)]
            raw_parts = [o for o in originals if isinstance(o, bytes)]
            if isinstance(elem.value, bytes):
                raw_parts.append(elem.value)
            if raw_parts:
                raw = b"\\".join(raw_parts)
        texts: list[str]
        if isinstance(raw, bytes):
            delimiters = {0x5E, 0x3D} if person_name else {0x5C}
            try:
                with _strict_decoding():
                    decoded = decode_bytes(raw, _encodings(terms), delimiters)
            except (UnicodeError, LookupError, ValueError):
                return f"bytes not valid in {charset}"[:40]
            texts = [decoded]
        else:
            assert isinstance(elem, DataElement)
            texts = [str(v) for v in _values(elem.value)]
        for text in texts:
            if "\ufffd" in text:
                return f"bytes not valid in {charset}"[:40]
            if not fits(text.rstrip("\0"), terms):
                return f"text outside {charset}"[:40]
        return None


_NATIVE_SYNTAXES = frozenset({
    "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
})


@dataclass(frozen=True)
class PixelDataLength:
    """Native Pixel Data holds Rows x Columns x Samples x Frames x Bits Allocated / 8 bytes (one pad byte allowed).

    Checked only when Pixel Data is present and native: the transfer syntax is the one given, else the file
    meta's, else native is assumed unless the value is encapsulated (undefined length).
    """

    name: str = "pixel-data"
    action: Action = Action.REJECT

    def check(self, ds: Dataset, transfer_syntax: str | None = None) -> list[Violation]:
        if "PixelData" not in ds:
            return []
        syntax = transfer_syntax
        meta = getattr(ds, "file_meta", None)
        if syntax is None and meta is not None:
            syntax = meta.get("TransferSyntaxUID")
        if syntax is not None and str(syntax) not in _NATIVE_SYNTAXES:
            return []
        elem = ds["PixelData"]
        if elem.is_undefined_length:
            return []
        try:
            rows, columns = int(ds.Rows), int(ds.Columns)
            bits = int(ds.BitsAllocated)
            samples = int(ds.get("SamplesPerPixel", 1) or 1)
            frames = int(ds.get("NumberOfFrames", 1) or 1)
        except (AttributeError, TypeError, ValueError):
            return [Violation(self.name, "PixelData", "Pixel Data without Rows/Columns/Bits Allocated",
                              PIXEL_LENGTH, self.action)]
        expected = (rows * columns * samples * frames * bits + 7) // 8
        actual = len(elem.value or b"")
        if actual == expected or (expected % 2 == 1 and actual == expected + 1):
            return []
        return [Violation(self.name, "PixelData", f"PixelData {actual} bytes, expected {expected}",
                          PIXEL_LENGTH, self.action)]


_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")

DEFAULT_RULES: tuple[Rule, ...] = (
    RequiredAttributes(keywords=("PatientID", *_UIDS)),
    UidSyntax(keywords=_UIDS),
)


def _coercion_comment(changes: Sequence[Change]) -> str:
    keywords: list[str] = []
    for change in changes:
        if change.keyword not in keywords:
            keywords.append(change.keyword)
    text = "QA: coerced "
    for index, keyword in enumerate(keywords):
        piece = (", " if index else "") + keyword
        if len(text) + len(piece) > 64 - (5 if index < len(keywords) - 1 else 0):
            return text + ", ..." if len(text) + 5 <= 64 else text[:64]
        text += piece
    return text


@dataclass(frozen=True)
class Verdict:
    """The strictest action among the violations decides; every violation and change is kept for the audit."""

    violations: tuple[Violation, ...]
    changes: tuple[Change, ...] = ()

    @property
    def action(self) -> Action:
        actions = {v.action for v in self.violations}
        if Action.REJECT in actions:
            return Action.REJECT
        if Action.QUARANTINE in actions:
            return Action.QUARANTINE
        return Action.ACCEPT

    @property
    def accepted(self) -> bool:
        return self.action is Action.ACCEPT

    def _deciding(self) -> Violation | None:
        action = self.action
        return next((v for v in self.violations if v.action is action), None) if action != Action.ACCEPT else None

    @property
    def status(self) -> int:
        action = self.action
        if action is Action.REJECT:
            deciding = self._deciding()
            assert deciding is not None
            return deciding.status
        if action is Action.ACCEPT and self.changes:
            return COERCED
        return SUCCESS

    @property
    def comment(self) -> str | None:
        deciding = self._deciding()
        if deciding is not None:
            return deciding.comment()
        if self.changes:
            return _coercion_comment(self.changes)
        return None


def evaluate(ds: Dataset, rules: Sequence[Rule] = DEFAULT_RULES) -> Verdict:
    violations: list[Violation] = []
    for rule in rules:
        violations.extend(rule.check(ds))
    return Verdict(tuple(violations))


__all__ = [
    "BAD_CHARSET", "COERCED", "DEFAULT_RULES", "INVALID", "INVALID_UID", "IOD_ERROR", "MAX_LENGTHS", "MISSING",
    "PIXEL_LENGTH", "SUCCESS", "TOO_LONG", "Action", "Change", "CharsetValid", "PixelDataLength",
    "RequiredAttributes", "Rule", "UidSyntax", "UidValues", "Verdict", "Violation", "VrLength", "evaluate",
]

