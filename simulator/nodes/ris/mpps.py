"""The RIS's book of Modality Performed Procedure Steps: the state machine of PS3.4 F.7 and every message.

States (PS3.4 F.1.5): an instance is created IN PROGRESS and may go to COMPLETED or DISCONTINUED, after which it
may no longer be updated. What is refused, and with which status:

============================================  ======  =============================================================
N-CREATE of a SOP Instance UID already known  0x0111  Duplicate SOP Instance (PS3.7 10.1.5.1.6)
N-CREATE without a required attribute         0x0120  Missing attribute: Req. Type 1 in N-CREATE (Table F.7.2-1)
N-CREATE with a required attribute empty      0x0121  Missing attribute value (same attributes)
N-CREATE with a status other than IN PROGRESS 0x0106  Invalid attribute value (PS3.4 F.7.2.1.3)
N-SET of an unknown SOP Instance UID          0x0112  No such SOP Instance (PS3.7 10.1.3.1.6)
N-SET once COMPLETED or DISCONTINUED          0x0110  Processing failure, Error Comment "Performed Procedure Step
                                                      Object may no longer be updated", Error ID A710
                                                      (PS3.4 F.7.2.2.3, Table F.7.2-2)
N-SET of an attribute "Not allowed" in N-SET  0x0105  No such attribute, with the Attribute Identifier List
                                                      (Table F.7.2-1)
N-SET of a status outside the three states    0x0106  Invalid attribute value
============================================  ======  =============================================================

What an SCU gets wrong without it being refused is kept as a *violation* of the record: a Type 2 attribute left out
of the N-CREATE, an N-SET of an attribute the N-CREATE did not create (Table F.7.2-1 note 5), a step COMPLETED or
DISCONTINUED without end date, end time or performed series (final state, note 2).
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from simulator.net import MppsFailure, describe_status
from simulator.net.mpps import (
    COMPLETED,
    DISCONTINUED,
    IN_PROGRESS,
    MAY_NO_LONGER_BE_UPDATED,
    MAY_NO_LONGER_BE_UPDATED_ERROR_ID,
    N_CREATE,
    N_SET,
    PPS_STATUSES,
)

#: Req. Type 1 in N-CREATE (PS3.4 Table F.7.2-1); each Scheduled Step Attributes item also needs a Study Instance UID.
N_CREATE_TYPE1 = (
    "ScheduledStepAttributesSequence", "PerformedProcedureStepID", "PerformedStationAETitle",
    "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime", "PerformedProcedureStepStatus", "Modality",
)
#: Req. Type 2 in N-CREATE: to be sent, possibly empty.
N_CREATE_TYPE2 = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "ReferencedPatientSequence", "PerformedStationName",
    "PerformedLocation", "PerformedProcedureStepDescription", "PerformedProcedureTypeDescription",
    "ProcedureCodeSequence", "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime", "StudyID",
    "PerformedProtocolCodeSequence", "PerformedSeriesSequence",
)
#: "Not allowed" in N-SET (PS3.4 Table F.7.2-1).
N_SET_NOT_ALLOWED = (
    "ScheduledStepAttributesSequence", "PatientName", "PatientID", "IssuerOfPatientID",
    "IssuerOfPatientIDQualifiersSequence", "OtherPatientIDsSequence", "PatientBirthDate", "PatientSex",
    "ReferencedPatientSequence", "AdmissionID", "IssuerOfAdmissionIDSequence", "ServiceEpisodeID",
    "IssuerOfServiceEpisodeIDSequence", "ServiceEpisodeDescription", "PerformedProcedureStepID",
    "PerformedStationAETitle", "PerformedStationName", "PerformedLocation", "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime", "Modality", "StudyID",
)
#: Required with a value once COMPLETED or DISCONTINUED (Table F.7.2-1 "Final State" column, note 2).
FINAL_STATE_TYPE1 = ("PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime", "PerformedSeriesSequence")

_SPECIFIC_CHARACTER_SET = 0x00080005


def _json(ds: Dataset) -> dict[str, Any]:
    """``ds`` in the DICOM JSON model (PS3.18 F.2); never raises (a value that cannot be encoded is noted)."""
    try:
        return dict(ds.to_json_dict(bulk_data_threshold=4096))
    except Exception as exc:  # a malformed value from the network must not lose the record
        return {"error": f"cannot render the attributes: {exc}"}


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class MppsMessage:
    """One N-CREATE or N-SET as received and answered."""

    at: float
    caller_ae: str
    operation: str
    sop_instance_uid: str
    status: int
    comment: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)  # the attributes sent, DICOM JSON model

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at), "caller_ae": self.caller_ae, "operation": self.operation,
            "sop_instance_uid": self.sop_instance_uid, "status": f"0x{self.status:04X}",
            "meaning": describe_status(self.status, self.operation), "comment": self.comment,
            "attributes": self.attributes,
        }


@dataclass(frozen=True)
class StepReference:
    """A scheduled procedure step an MPPS names in its Scheduled Step Attributes Sequence (Table F.7.2-1)."""

    study_instance_uid: str
    accession_number: str
    requested_procedure_id: str
    scheduled_procedure_step_id: str


@dataclass(frozen=True)
class MppsRecord:
    """A snapshot of one MPPS instance: its state, current attributes, messages and violations."""

    sop_instance_uid: str
    status: str
    created_by: str
    created_at: float
    updated_at: float
    attributes: Dataset = field(repr=False)
    messages: tuple[MppsMessage, ...] = ()
    violations: tuple[str, ...] = ()

    @property
    def steps(self) -> list[StepReference]:
        return [StepReference(str(item.get("StudyInstanceUID", "")), str(item.get("AccessionNumber", "")),
                              str(item.get("RequestedProcedureID", "")), str(item.get("ScheduledProcedureStepID", "")))
                for item in self.attributes.get("ScheduledStepAttributesSequence", [])]

    def as_dict(self) -> dict[str, Any]:
        return {
            "sop_instance_uid": self.sop_instance_uid, "status": self.status, "created_by": self.created_by,
            "created_at": _iso(self.created_at), "updated_at": _iso(self.updated_at),
            "steps": [step.__dict__ for step in self.steps], "violations": list(self.violations),
            "attributes": _json(self.attributes), "messages": [m.as_dict() for m in self.messages],
        }


@dataclass
class _Instance:
    uid: str
    created_by: str
    created_at: float
    updated_at: float
    attributes: Dataset
    violations: list[str]

    @property
    def status(self) -> str:
        return str(self.attributes.get("PerformedProcedureStepStatus", ""))


class MppsBook:
    """Every MPPS instance the RIS knows and every N-CREATE / N-SET it received, accepted or refused.

    Thread-safe: SCP handlers call :meth:`create` and :meth:`set` from pynetdicom's threads. Refusals raise
    :class:`~simulator.net.MppsFailure` with the status the table in this module's docstring gives.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._instances: dict[str, _Instance] = {}
        self._messages: list[MppsMessage] = []
        self._retired: list[MppsRecord] = []  # instances of earlier scenarios, kept for the report

    # -- the two operations --------------------------------------------------------------------------------

    def create(self, caller_ae: str, sop_instance_uid: str, attributes: Dataset) -> str:
        """N-CREATE (PS3.4 F.7.2.1.3); returns the SOP Instance UID (one is assigned when ``sop_instance_uid`` is
        empty, PS3.7 10.1.5.1.3)."""
        uid = sop_instance_uid or str(generate_uid(prefix=None))  # 2.25 + a random UUID (PS3.5 B.2)
        with self._lock:
            now = time.time()
            try:
                _decode(attributes)
                if uid in self._instances:
                    raise MppsFailure(0x0111, f"MPPS {uid} already exists")
                violations = _check_create(attributes)
            except MppsFailure as exc:
                self._log(now, caller_ae, N_CREATE, uid, exc.status, exc.comment, attributes)
                raise
            self._instances[uid] = _Instance(uid, caller_ae, now, now, copy.deepcopy(attributes), violations)
            self._log(now, caller_ae, N_CREATE, uid, 0x0000, "", attributes)
        return uid

    def set(self, caller_ae: str, sop_instance_uid: str, modifications: Dataset) -> None:
        """N-SET (PS3.4 F.7.2.2.3): apply ``modifications`` to an IN PROGRESS instance."""
        with self._lock:
            now = time.time()
            instance = self._instances.get(sop_instance_uid)
            try:
                if instance is None:
                    _decode(modifications)
                    raise MppsFailure(0x0112, f"no MPPS {sop_instance_uid}")
                if _SPECIFIC_CHARACTER_SET not in modifications and _SPECIFIC_CHARACTER_SET in instance.attributes:
                    # PS3.4 F.7.2.2.1: N-SET values are in the character set of the N-CREATE
                    modifications.SpecificCharacterSet = instance.attributes.SpecificCharacterSet
                _decode(modifications)
                if instance.status != IN_PROGRESS:
                    raise MppsFailure(0x0110, MAY_NO_LONGER_BE_UPDATED, error_id=MAY_NO_LONGER_BE_UPDATED_ERROR_ID)
                _check_set(modifications)
            except MppsFailure as exc:
                self._log(now, caller_ae, N_SET, sop_instance_uid, exc.status, exc.comment, modifications)
                raise
            _apply(instance, modifications)
            instance.updated_at = now
            self._log(now, caller_ae, N_SET, sop_instance_uid, 0x0000, "", modifications)

    def _log(self, at: float, caller_ae: str, operation: str, uid: str, status: int, comment: str,
             attributes: Dataset) -> None:
        self._messages.append(MppsMessage(at, caller_ae, operation, uid, status, comment, _json(attributes)))

    # -- queries -------------------------------------------------------------------------------------------------

    def get(self, sop_instance_uid: str) -> MppsRecord | None:
        """The record of one instance, or None when it was never created."""
        with self._lock:
            instance = self._instances.get(sop_instance_uid)
            return None if instance is None else self._snapshot(instance)

    def records(self) -> list[MppsRecord]:
        """Every instance, in order of creation."""
        with self._lock:
            return [self._snapshot(instance) for instance in self._instances.values()]

    def messages(self, sop_instance_uid: str | None = None) -> list[MppsMessage]:
        """Every message received (refused ones too), in order; only those for one UID when given."""
        with self._lock:
            return [m for m in self._messages if sop_instance_uid is None or m.sop_instance_uid == sop_instance_uid]

    def for_accession(self, accession_number: str) -> list[MppsRecord]:
        """The instances whose Scheduled Step Attributes name ``accession_number``."""
        return [r for r in self.records() if any(s.accession_number == accession_number for s in r.steps)]

    def retire(self) -> int:
        """Forget every instance for what follows (between scenarios: the same order may be performed again with
        the same MPPS SOP Instance UID), keeping them and their messages for :meth:`to_dict`. Returns how many."""
        with self._lock:
            retired = [self._snapshot(instance) for instance in self._instances.values()]
            self._retired.extend(retired)
            self._instances.clear()
            self._messages = [m for m in self._messages if m.sop_instance_uid not in {r.sop_instance_uid
                                                                                       for r in retired}]
        return len(retired)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a JSON report: every instance with its messages (retired ones first), and every message
        in order."""
        with self._lock:
            retired = list(self._retired)
        messages = sorted([m for r in retired for m in r.messages] + self.messages(), key=lambda m: m.at)
        return {"instances": [r.as_dict() for r in [*retired, *self.records()]],
                "messages": [m.as_dict() for m in messages]}

    def __len__(self) -> int:
        with self._lock:
            return len(self._instances)

    def _snapshot(self, instance: _Instance) -> MppsRecord:
        return MppsRecord(
            instance.uid, instance.status, instance.created_by, instance.created_at, instance.updated_at,
            copy.deepcopy(instance.attributes),
            tuple(m for m in self._messages if m.sop_instance_uid == instance.uid), tuple(instance.violations),
        )


# -- the rules -------------------------------------------------------------------------------------------------


def _decode(ds: Dataset) -> None:
    """Read every value once, so that text is decoded with the character set in force now (values arrive raw)."""
    try:
        for _ in ds.iterall():
            pass
    except Exception as exc:
        raise MppsFailure(0x0106, f"cannot decode the attributes: {exc}"[:64]) from None


def _is_empty(ds: Dataset, keyword: str) -> bool:
    value = ds[keyword].value
    return value is None or value == "" or (isinstance(value, Sequence) and not isinstance(value, str)
                                            and len(value) == 0)


def _check_create(ds: Dataset) -> list[str]:
    """The N-CREATE checks of PS3.4 F.7.2.1.3 and Table F.7.2-1; returns the violations that are not refused."""
    missing = [k for k in N_CREATE_TYPE1 if k not in ds]
    items = ds.get("ScheduledStepAttributesSequence") or []
    if items and any("StudyInstanceUID" not in item for item in items):
        missing.append("ScheduledStepAttributesSequence>StudyInstanceUID")
    if missing:
        raise MppsFailure(0x0120, f"missing {', '.join(missing)}")
    empty = [k for k in N_CREATE_TYPE1 if _is_empty(ds, k)]
    if any(_is_empty(item, "StudyInstanceUID") for item in items):
        empty.append("ScheduledStepAttributesSequence>StudyInstanceUID")
    if empty:
        raise MppsFailure(0x0121, f"no value in {', '.join(empty)}")
    status = str(ds.PerformedProcedureStepStatus).strip()
    if status != IN_PROGRESS:
        raise MppsFailure(0x0106, f"Performed Procedure Step Status is '{status}', not IN PROGRESS")
    absent = [k for k in N_CREATE_TYPE2 if k not in ds]
    return [f"N-CREATE left out Type 2 attributes: {', '.join(absent)} (PS3.4 Table F.7.2-1)"] if absent else []


def _check_set(ds: Dataset) -> None:
    """The N-SET checks of PS3.4 F.7.2.2.3 and Table F.7.2-1 for an IN PROGRESS instance."""
    forbidden = [k for k in N_SET_NOT_ALLOWED if k in ds]
    if forbidden:
        raise MppsFailure(0x0105, f"not allowed in N-SET: {', '.join(forbidden)}"[:64],
                          attribute_tags=tuple(int(tag_for_keyword(k) or 0) for k in forbidden))
    if "PerformedProcedureStepStatus" in ds:
        status = str(ds.PerformedProcedureStepStatus or "").strip()
        if status not in PPS_STATUSES:
            raise MppsFailure(0x0106, f"Performed Procedure Step Status '{status}' is not one of "
                                      f"{', '.join(PPS_STATUSES)}"[:64])


def _apply(instance: _Instance, ds: Dataset) -> None:
    """Replace the attributes ``ds`` carries (a sequence as a whole, PS3.4 F.7.2.2.2) and note violations."""
    stored = instance.attributes
    not_created = [keyword_for_tag(elem.tag) or str(elem.tag) for elem in ds
                   if elem.tag != _SPECIFIC_CHARACTER_SET and elem.tag not in stored]
    if not_created:
        instance.violations.append(f"N-SET of attributes the N-CREATE did not create: {', '.join(not_created)} "
                                   "(PS3.4 Table F.7.2-1 note 5)")
    charset = ds.get("SpecificCharacterSet")
    if charset is not None and charset != stored.get("SpecificCharacterSet"):
        stored.SpecificCharacterSet = "ISO_IR 192"  # values are kept decoded; F.7.2.2.3: combine the character sets
    for elem in ds:
        if elem.tag != _SPECIFIC_CHARACTER_SET:
            stored[elem.tag] = copy.deepcopy(elem)
    if instance.status in (COMPLETED, DISCONTINUED):
        lacking = [k for k in FINAL_STATE_TYPE1 if k not in stored or _is_empty(stored, k)]
        if lacking:
            instance.violations.append(f"{instance.status} without {', '.join(lacking)} (PS3.4 Table F.7.2-1 final "
                                       "state)")
