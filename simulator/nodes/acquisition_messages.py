"""What a modality reads from a worklist item and writes into its MPPS messages (IHE RAD-5, RAD-6, RAD-7).

Pure data: a worklist item (PS3.4 K.6.1.2.2) becomes the :class:`ScheduledProcedure` the study is generated for,
and the MPPS N-CREATE / N-SET attribute lists follow PS3.4 Table F.7.2-1 (N-CREATE: status IN PROGRESS with the
Scheduled Step Attributes Sequence copied from the item; N-SET: COMPLETED with the Performed Series Sequence, or
DISCONTINUED with a reason from CID 9300).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pydicom.dataset import Dataset
from pydicom.valuerep import PersonName

from simulator.synth.patients import Patient
from simulator.synth.procedure import ScheduledProcedure

#: CID 9300 "Procedure Discontinuation Reasons" (PS3.16); codes a modality may give when it stops a step.
DISCONTINUATION_REASONS: dict[str, tuple[str, str, str]] = {
    "unspecified": ("110513", "DCM", "Discontinued for unspecified reason"),
    "wrong-worklist-entry": ("110514", "DCM", "Incorrect worklist entry selected"),
    "patient-refused": ("110515", "DCM", "Patient refused to continue procedure"),
    "equipment-failure": ("110501", "DCM", "Equipment failure"),
    "patient-condition": ("110526", "DCM", "Patient condition prevented continuing"),
}


def _date(value: object) -> dt.date:
    text = str(value or "").strip()
    try:
        return dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return dt.date(2026, 1, 1)


def _time(value: object) -> dt.time:
    text = str(value or "").strip().split(".")[0].ljust(6, "0")
    try:
        return dt.datetime.strptime(text[:6], "%H%M%S").time()
    except ValueError:
        return dt.time(8, 0)


def _components(group: str) -> list[str]:
    parts = group.split("^") if group else []
    return parts + [""] * (3 - len(parts))


def patient_of(item: Dataset) -> Patient:
    """The patient as the worklist item gives it (PS3.3 C.7.1.1), every Person Name group kept."""
    name = item.get("PatientName", "") or ""
    pn = name if isinstance(name, PersonName) else PersonName(str(name))
    alphabetic = _components(str(pn.alphabetic))
    ideographic = _components(str(pn.ideographic))
    phonetic = _components(str(pn.phonetic))
    charset: Any = item.get("SpecificCharacterSet", "")
    if isinstance(charset, Sequence) and not isinstance(charset, str):
        charset = list(charset) if len(charset) > 1 else (charset[0] if charset else "")
    return Patient(
        patient_id=str(item.get("PatientID", "")),
        family_name=alphabetic[0], given_name=alphabetic[1], middle_name=alphabetic[2],
        ideographic_family=ideographic[0], ideographic_given=ideographic[1],
        phonetic_family=phonetic[0], phonetic_given=phonetic[1],
        birth_date=_date(item.get("PatientBirthDate", "")),
        sex=str(item.get("PatientSex", "") or "O"),
        specific_character_set=charset if charset else "",
    )


def scheduled_step(item: Dataset) -> Dataset:
    """The (first) Scheduled Procedure Step Sequence item (PS3.3 C.4.10); an empty Dataset when absent."""
    steps = item.get("ScheduledProcedureStepSequence") or []
    return steps[0] if steps else Dataset()


def procedure_of(item: Dataset) -> ScheduledProcedure:
    """The :class:`ScheduledProcedure` a modality acquires for a worklist item."""
    sps = scheduled_step(item)
    return ScheduledProcedure(
        patient=patient_of(item),
        accession_number=str(item.get("AccessionNumber", "")),
        requested_procedure_id=str(item.get("RequestedProcedureID", "")),
        requested_procedure_description=str(item.get("RequestedProcedureDescription", "") or "Procedure"),
        scheduled_procedure_step_id=str(sps.get("ScheduledProcedureStepID", "")),
        study_instance_uid=str(item.get("StudyInstanceUID", "")),
        modality=str(sps.get("Modality", "") or "OT"),
        scheduled_station_ae_title=str(sps.get("ScheduledStationAETitle", "")),
        scheduled_station_name=str(sps.get("ScheduledStationName", "") or "STATION1"),
        scheduled_date=_date(sps.get("ScheduledProcedureStepStartDate", "")),
        scheduled_time=_time(sps.get("ScheduledProcedureStepStartTime", "")),
    )


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue = value
    code.CodingSchemeDesignator = scheme
    code.CodeMeaning = meaning
    return code


def in_progress(item: Dataset, *, performed_station_ae: str, performed_station_name: str, pps_id: str,
                started: dt.datetime, study_id: str = "") -> Dataset:
    """MPPS N-CREATE attributes (PS3.4 Table F.7.2-1; IHE RAD-6): status IN PROGRESS, the Scheduled Step
    Attributes Sequence and the patient copied from the worklist item, empty end date/time and series."""
    sps = scheduled_step(item)
    ds = Dataset()
    if "SpecificCharacterSet" in item:
        ds.SpecificCharacterSet = item.SpecificCharacterSet
    step = Dataset()
    step.StudyInstanceUID = item.get("StudyInstanceUID", "")
    step.ReferencedStudySequence = []
    step.AccessionNumber = item.get("AccessionNumber", "")
    step.RequestedProcedureID = item.get("RequestedProcedureID", "")
    step.RequestedProcedureDescription = item.get("RequestedProcedureDescription", "")
    step.ScheduledProcedureStepID = sps.get("ScheduledProcedureStepID", "")
    step.ScheduledProcedureStepDescription = sps.get("ScheduledProcedureStepDescription", "")
    step.ScheduledProtocolCodeSequence = list(sps.get("ScheduledProtocolCodeSequence", []) or [])
    ds.ScheduledStepAttributesSequence = [step]
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex"):
        setattr(ds, keyword, item.get(keyword, ""))
    ds.ReferencedPatientSequence = []
    ds.PerformedProcedureStepID = pps_id
    ds.PerformedStationAETitle = performed_station_ae
    ds.PerformedStationName = performed_station_name
    ds.PerformedLocation = ""
    ds.PerformedProcedureStepStartDate = started.strftime("%Y%m%d")
    ds.PerformedProcedureStepStartTime = started.strftime("%H%M%S")
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = item.get("RequestedProcedureDescription", "")
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = list(item.get("RequestedProcedureCodeSequence", []) or [])
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.Modality = sps.get("Modality", "")
    ds.StudyID = study_id
    ds.PerformedProtocolCodeSequence = []
    ds.PerformedSeriesSequence = []
    # Created empty so that a later N-SET may give a reason (an N-SET may only set what N-CREATE created,
    # PS3.4 Table F.7.2-1; IHE RAD TF-2 4.7.4.1.2).
    ds.PerformedProcedureStepDiscontinuationReasonCodeSequence = []
    return ds


def performed_series(instances: Sequence[Dataset], *, retrieve_ae: str = "") -> list[Dataset]:
    """Performed Series Sequence items (PS3.4 Table F.7.2-1): per series its UID, description, protocol and the
    references to its images (Referenced Image Sequence) or other objects (Referenced Non-Image Composite SOP
    Instance Sequence, e.g. SR and Encapsulated PDF)."""
    by_series: dict[str, list[Dataset]] = {}
    for ds in instances:
        by_series.setdefault(str(ds.SeriesInstanceUID), []).append(ds)
    items = []
    for uid, members in by_series.items():
        first = members[0]
        series = Dataset()
        series.PerformingPhysicianName = first.get("PerformingPhysicianName", "")
        series.ProtocolName = first.get("ProtocolName", "") or str(first.get("SeriesDescription", "")) or "default"
        series.OperatorsName = first.get("OperatorsName", "")
        series.SeriesInstanceUID = uid
        series.SeriesDescription = first.get("SeriesDescription", "")
        series.RetrieveAETitle = retrieve_ae
        images: list[Dataset] = []
        others: list[Dataset] = []
        for ds in members:
            ref = Dataset()
            ref.ReferencedSOPClassUID = ds.SOPClassUID
            ref.ReferencedSOPInstanceUID = ds.SOPInstanceUID
            (images if "PixelData" in ds else others).append(ref)
        series.ReferencedImageSequence = images
        series.ReferencedNonImageCompositeSOPInstanceSequence = others
        items.append(series)
    return items


def completed(instances: Sequence[Dataset], *, ended: dt.datetime, retrieve_ae: str = "") -> Dataset:
    """MPPS N-SET that completes the step (PS3.4 F.7.2.2; IHE RAD-7): status, end date/time and every
    performed series with its instance references."""
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate = ended.strftime("%Y%m%d")
    ds.PerformedProcedureStepEndTime = ended.strftime("%H%M%S")
    ds.PerformedSeriesSequence = performed_series(instances, retrieve_ae=retrieve_ae)
    return ds


def discontinued(instances: Sequence[Dataset], *, ended: dt.datetime, reason: str = "unspecified",
                 retrieve_ae: str = "") -> Dataset:
    """MPPS N-SET that discontinues the step (PS3.4 F.7.2.2; IHE RAD-7) with a CID 9300 reason, listing what was
    acquired before it stopped."""
    try:
        code = DISCONTINUATION_REASONS[reason]
    except KeyError:
        raise ValueError(f"unknown discontinuation reason '{reason}' "
                         f"(known: {', '.join(DISCONTINUATION_REASONS)})") from None
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "DISCONTINUED"
    ds.PerformedProcedureStepEndDate = ended.strftime("%Y%m%d")
    ds.PerformedProcedureStepEndTime = ended.strftime("%H%M%S")
    ds.PerformedProcedureStepDiscontinuationReasonCodeSequence = [_code(*code)]
    ds.PerformedSeriesSequence = performed_series(instances, retrieve_ae=retrieve_ae)
    return ds
