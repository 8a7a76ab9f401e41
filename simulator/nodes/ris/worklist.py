"""Modality Worklist items and their matching (PS3.4 K.6.1, IHE RAD TF-2 4.5 "Query Modality Worklist").

:func:`worklist_item` builds the item a RIS returns for a scheduled procedure step, with every RAD-5 return key
(PS3.4 Table K.6-1) so that strict readers such as DCMTK's ``wlmscpfs`` accept it. :func:`match_worklist` answers
a C-FIND identifier against items with the matching rules of PS3.4 C.2.2.2:

- single value matching, case-sensitive except for PN; universal matching (zero length, or ``*``);
- wild card matching with ``*`` and ``?`` for AE, CS, LO, LT, PN, SH, ST, UC, UR and UT;
- list of UID matching; range matching of DA, TM and DT (``A-B``, ``-B``, ``A-``), each attribute on its own
  (combined date-time matching needs extended negotiation, C.2.2.2.5.4, which this SCP does not offer);
- sequence matching (C.2.2.2.6), e.g. on the Scheduled Procedure Step Sequence item: an item of the stored
  sequence matches when all its keys match, and only the matching items are returned; a key sequence with no
  item, or with an empty one, returns the whole sequence.

Person names (C.2.2.2.1.1, left to the SCP) match case-insensitively; a key without ``=`` matches the whole name or
any one of its component groups, so ``Yamada^Tarou``, ``山田*`` and ``やまだ^たろう`` all find
``Yamada^Tarou=山田^太郎=やまだ^たろう``; trailing empty components are ignored. Keys the items do not carry are
optional keys this SCP does not support (C.2.2.1.3): they are neither matched nor returned.
"""

from __future__ import annotations

import copy
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from simulator.net import ScpFailure
from simulator.nodes.ris.schedule import OrderedProcedure
from simulator.synth.procedure import ScheduledProcedure

#: Coding scheme of radsim's local procedure and protocol codes (PS3.16 8.2: "99" prefix for private schemes).
LOCAL_CODING_SCHEME = "99RADSIM"

_WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
_RANGE_VRS = frozenset({"DA", "TM", "DT"})
_IGNORED = frozenset({0x00080005, 0x00080052})  # Specific Character Set is never matched; Q/R Level is not MWL

#: C-FIND failure statuses (PS3.4 C.4.1.1.4): the identifier does not fit the model, or a value cannot be read.
IDENTIFIER_DOES_NOT_MATCH = 0xA900
UNABLE_TO_PROCESS = 0xC000


# -- the item ------------------------------------------------------------------------------------------------------


def local_code(prefix: str, meaning: str) -> Dataset:
    """A code in :data:`LOCAL_CODING_SCHEME` for ``meaning`` (Code Sequence Macro, PS3.3 8.8): the value is derived
    from the text, so the same procedure always has the same code."""
    code = Dataset()
    code.CodeValue = f"{prefix}-{zlib.crc32(meaning.encode('utf-8')) % 1_000_000:06d}"[:16]
    code.CodingSchemeDesignator = LOCAL_CODING_SCHEME
    code.CodeMeaning = meaning
    return code


def worklist_item(procedure: ScheduledProcedure) -> Dataset:
    """The Modality Worklist item for ``procedure`` with every RAD-5 return key (PS3.4 Table K.6-1; IHE RAD TF-2
    Table 4.5-3): patient, visit, imaging service request, requested procedure and one Scheduled Procedure Step
    Sequence item. Order details (physicians, step description, priority) come from an :class:`OrderedProcedure`;
    a plain :class:`ScheduledProcedure` gets the defaults."""
    order = OrderedProcedure.of(procedure)
    patient = order.patient
    step_description = order.step_description or order.requested_procedure_description

    sps = Dataset()
    sps.ScheduledStationAETitle = order.scheduled_station_ae_title
    sps.ScheduledProcedureStepStartDate = order.scheduled_date.strftime("%Y%m%d")
    sps.ScheduledProcedureStepStartTime = order.scheduled_time.strftime("%H%M%S")
    sps.Modality = order.modality
    sps.ScheduledPerformingPhysicianName = order.performing_physician
    sps.ScheduledProcedureStepDescription = step_description
    sps.ScheduledProtocolCodeSequence = [local_code(order.modality, step_description)]
    sps.ScheduledProcedureStepID = order.scheduled_procedure_step_id
    sps.ScheduledStationName = order.scheduled_station_name
    sps.ScheduledProcedureStepLocation = ""
    sps.PreMedication = ""
    sps.RequestedContrastAgent = ""
    sps.ScheduledProcedureStepStatus = "SCHEDULED"

    item = Dataset()
    if patient.specific_character_set:
        item.SpecificCharacterSet = patient.specific_character_set
    item.AccessionNumber = order.accession_number
    item.ReferringPhysicianName = order.referring_physician
    item.ReferencedStudySequence = []
    item.ReferencedPatientSequence = []
    item.PatientName = patient.name
    item.PatientID = patient.patient_id
    item.PatientBirthDate = patient.birth_date.strftime("%Y%m%d")
    item.PatientSex = patient.sex
    item.PatientWeight = None
    item.MedicalAlerts = None
    item.Allergies = None
    item.PregnancyStatus = 4 if patient.sex == "F" else None  # 4 = unknown (PS3.3 C.7.1.4)
    item.StudyInstanceUID = order.study_instance_uid
    item.RequestingPhysician = order.referring_physician
    item.RequestedProcedureDescription = order.requested_procedure_description
    item.RequestedProcedureCodeSequence = [local_code(order.modality, order.requested_procedure_description)]
    item.AdmissionID = ""
    item.SpecialNeeds = ""
    item.CurrentPatientLocation = ""
    item.PatientState = ""
    item.ScheduledProcedureStepSequence = [sps]
    item.RequestedProcedureID = order.requested_procedure_id
    item.RequestedProcedurePriority = order.priority
    item.PatientTransportArrangements = ""
    item.ConfidentialityConstraintOnPatientDataDescription = ""
    return item


# -- matching (PS3.4 C.2.2.2) -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    """One key of the identifier, compiled: ``kind`` is universal, single, wildcard, uids, range or sequence."""

    tag: BaseTag
    keyword: str
    vr: str
    kind: str
    text: str = ""
    pattern: re.Pattern[str] | None = None
    uids: frozenset[str] = frozenset()
    low: object = None
    high: object = None
    items: tuple[_Key, ...] | None = None  # sequence keys; None: the whole sequence (universal)
    whole_name: bool = False  # a PN key with "=" is matched against the whole name only


def match_worklist(items: Iterable[Dataset], identifier: Dataset) -> Iterator[Dataset]:
    """The responses for a Modality Worklist C-FIND ``identifier`` (PS3.4 K.6.1.2, C.2.2.2): for every item that
    matches every key, a dataset with the requested keys only, in the item's Specific Character Set.

    The identifier is checked at once: a structure this SCP cannot match (a key sequence with several items, a
    sequence key for a non-sequence attribute) raises :class:`ScpFailure` 0xA900, an unreadable date or time
    0xC000, each with a comment naming the attribute.
    """
    keys = _compile(identifier)
    return (_response(item, keys) for item in items if _matches(item, keys))


def _compile(identifier: Dataset) -> tuple[_Key, ...]:
    keys = []
    for elem in identifier:
        if elem.tag.group == 0x0000 or elem.tag.is_private or int(elem.tag) in _IGNORED:
            continue
        keys.append(_compile_key(elem))
    return tuple(keys)


def _compile_key(elem: DataElement) -> _Key:
    keyword = elem.keyword or str(elem.tag)
    vr = str(elem.VR)
    if vr == "SQ":
        value = list(elem.value or [])
        if len(value) > 1:
            raise ScpFailure(IDENTIFIER_DOES_NOT_MATCH, f"{keyword}: send one item, not {len(value)}"[:64])
        sub = _compile(value[0]) if value else ()
        return _Key(elem.tag, keyword, vr, "sequence", items=sub or None)
    text = _text(elem.value)
    if text == "" or text == "*":
        return _Key(elem.tag, keyword, vr, "universal")
    if vr == "UI":
        return _Key(elem.tag, keyword, vr, "uids", uids=frozenset(u.strip() for u in text.split("\\") if u.strip()))
    if vr in _RANGE_VRS:
        try:
            if "-" in text:
                first, _, last = text.partition("-")
                low = _moment(vr, first, end=False) if first.strip() else None
                high = _moment(vr, last, end=True) if last.strip() else None
                return _Key(elem.tag, keyword, vr, "range", low=low, high=high)
            return _Key(elem.tag, keyword, vr, "range", low=_moment(vr, text, end=False),
                        high=_moment(vr, text, end=True))
        except ValueError as exc:
            raise ScpFailure(UNABLE_TO_PROCESS, f"{keyword}: {exc}"[:64]) from None
    if vr == "PN":
        text = _pn_normal(text)
    whole_name = vr == "PN" and "=" in text
    if vr in _WILDCARD_VRS and ("*" in text or "?" in text):
        return _Key(elem.tag, keyword, vr, "wildcard", pattern=_wildcard(text, ignore_case=vr == "PN"),
                    whole_name=whole_name)
    return _Key(elem.tag, keyword, vr, "single", text=text, whole_name=whole_name)


def _strings(value: object) -> list[str]:
    """Each value as text, surrounding spaces dropped (insignificant in the string VRs, PS3.5 6.2)."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [str(v).strip() for v in value]
    return [str(value).strip()]


def _text(value: object) -> str:
    """A key's value as it was sent: several values joined by backslash."""
    return "\\".join(_strings(value))


def _wildcard(text: str, *, ignore_case: bool) -> re.Pattern[str]:
    """C.2.2.2.4: ``*`` is any run of characters (also none), ``?`` any one character."""
    pattern = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in text)
    return re.compile(pattern, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _moment(vr: str, text: str, *, end: bool) -> str | float:
    """A DA/DT value as a string that sorts in time order, a TM value as seconds since midnight; the end of a
    range is the last moment its precision covers (``-0900`` includes 09:00:59)."""
    text = text.strip()
    if vr == "DA":
        digits = text.replace(".", "") if re.fullmatch(r"\d{4}\.\d{2}\.\d{2}", text) else text  # ACR-NEMA form
        if not re.fullmatch(r"\d{8}", digits):
            raise ValueError(f"'{text}' is not a date (YYYYMMDD)")
        return digits
    if vr == "TM":
        whole, _, fraction = text.replace(":", "").partition(".")
        if not re.fullmatch(r"\d{2}|\d{4}|\d{6}", whole) or (fraction and not fraction.isdigit()):
            raise ValueError(f"'{text}' is not a time (HH, HHMM, HHMMSS[.F])")
        parts = [int(whole[i:i + 2]) for i in range(0, len(whole), 2)]
        if parts[0] > 23 or any(p > 59 for p in parts[1:]):
            raise ValueError(f"'{text}' is not a time of day")
        seconds = parts[0] * 3600 + (parts[1] * 60 if len(parts) > 1 else 0) + (parts[2] if len(parts) > 2 else 0)
        if fraction:
            return seconds + float("0." + fraction) + (10 ** -len(fraction) - 1e-9 if end else 0)
        span = {1: 3600, 2: 60, 3: 1}[len(parts)]
        return seconds + (span - 1e-6 if end else 0)
    digits = re.sub(r"[+-]\d{4}$", "", text)  # DT: a UTC offset is not taken into account
    if not re.fullmatch(r"\d{4,14}|\d{14}\.\d{1,6}", digits):
        raise ValueError(f"'{text}' is not a date-time (YYYYMMDDHHMMSS[.F])")
    whole, _, fraction = digits.partition(".")
    fill = "9" if end else "0"
    return whole.ljust(14, fill if not fraction else "0") + "." + fraction.ljust(6, fill)


def _pn_normal(text: str) -> str:
    """A Person Name without trailing empty components and groups (``Doe^John^^`` = ``Doe^John``)."""
    groups = [group.rstrip("^ ") for group in text.split("=")]
    while len(groups) > 1 and not groups[-1]:
        groups.pop()
    return "=".join(groups)


def _value_matches(key: _Key, stored: str) -> bool:
    if key.kind == "uids":
        return stored in key.uids
    if key.kind == "range":
        if not stored:
            return False
        try:
            low = _moment(key.vr, stored, end=False)
            high = _moment(key.vr, stored, end=True)
        except ValueError:
            return False
        return (key.low is None or high >= key.low) and (key.high is None or low <= key.high)  # type: ignore[operator]
    if key.vr == "PN":
        name = _pn_normal(stored)
        candidates = [name] if key.whole_name else [name, *(group for group in name.split("=") if group)]
        if key.kind == "wildcard":
            assert key.pattern is not None
            return any(key.pattern.fullmatch(candidate) for candidate in candidates)
        return any(candidate.casefold() == key.text.casefold() for candidate in candidates)
    if key.kind == "wildcard":
        assert key.pattern is not None
        return key.pattern.fullmatch(stored) is not None
    return stored == key.text


def _key_matches(item: Dataset, key: _Key) -> bool:
    if key.tag not in item:
        return True  # an optional key this SCP does not support is not matched (C.2.2.1.3)
    elem = item[key.tag]
    if key.kind == "sequence":
        if elem.VR != "SQ":
            raise ScpFailure(IDENTIFIER_DOES_NOT_MATCH, f"{key.keyword} is not a sequence"[:64])
        return key.items is None or any(_matches(sub, key.items) for sub in elem.value)
    if elem.VR == "SQ":
        raise ScpFailure(IDENTIFIER_DOES_NOT_MATCH, f"{key.keyword} is a sequence: send one item"[:64])
    if key.kind == "universal":
        return True
    return any(_value_matches(key, value) for value in _strings(elem.value) or [""])  # C.2.2.3: any value may match


def _matches(item: Dataset, keys: tuple[_Key, ...]) -> bool:
    return all(_key_matches(item, key) for key in keys)


def _response(item: Dataset, keys: tuple[_Key, ...]) -> Dataset:
    rsp = Dataset()
    if "SpecificCharacterSet" in item:
        rsp.SpecificCharacterSet = item.SpecificCharacterSet
    _project(item, keys, rsp)
    return rsp


def _project(item: Dataset, keys: tuple[_Key, ...], into: Dataset) -> None:
    """Copy the requested attributes of ``item`` into ``into``; sequences keep only their matching items, each
    with only the requested attributes (C.2.2.2.6)."""
    for key in keys:
        if key.tag not in item:
            continue
        elem = item[key.tag]
        if key.kind != "sequence" or key.items is None:
            into.add(copy.deepcopy(elem))
            continue
        matched = []
        for sub in elem.value:
            if _matches(sub, key.items):
                projected = Dataset()
                _project(sub, key.items, projected)
                matched.append(projected)
        into.add(DataElement(key.tag, "SQ", matched))
