"""A modality's whole scheduled acquisition (IHE Scheduled Workflow): RAD-5 worklist query, RAD-6 MPPS IN
PROGRESS, acquisition, RAD-8 storage, RAD-7 MPPS COMPLETED or DISCONTINUED.

Storage commitment (RAD-10) is a separate call (:meth:`Modality.commit`): a modality that stores through a QA
router asks for commitment once the archive can hold the images.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydicom.dataset import Dataset

from simulator.config import Endpoint
from simulator.errors import ConformanceFailure
from simulator.net import StoreOutcome
from simulator.net.mpps import mpps_create, mpps_set
from simulator.nodes.acquisition_messages import completed, discontinued, in_progress, procedure_of
from simulator.nodes.modality import Modality
from simulator.synth import Study, apply_defect
from simulator.synth.procedure import generate_for_procedure
from simulator.synth.spec import BuildOptions
from simulator.synth.uids import derive_uid

#: The return keys a modality asks for in its worklist query (IHE RAD TF-2 4.5.4.1.2, PS3.4 K.6.1.2.2).
RETURN_KEYS: tuple[str, ...] = (
    "SpecificCharacterSet", "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
    "ReferringPhysicianName", "RequestedProcedureID", "RequestedProcedureDescription", "StudyInstanceUID",
    "RequestedProcedureCodeSequence",
)
STEP_RETURN_KEYS: tuple[str, ...] = (
    "ScheduledStationAETitle", "ScheduledStationName", "ScheduledProcedureStepStartDate",
    "ScheduledProcedureStepStartTime", "Modality", "ScheduledPerformingPhysicianName",
    "ScheduledProcedureStepDescription", "ScheduledProcedureStepID", "ScheduledProtocolCodeSequence",
)

Outcome = Literal["completed", "discontinued"]


def _with_keys(keywords: tuple[str, ...], matching: Mapping[str, str | None]) -> Dataset:
    """Every keyword as an empty return key (PS3.4 C.2.2.1.3), then the given matching values."""
    ds = Dataset()
    for keyword in keywords:
        setattr(ds, keyword, [] if keyword.endswith("Sequence") else "")
    for keyword, value in matching.items():
        if value:
            setattr(ds, keyword, value)
    return ds


def worklist_query(*, station_ae: str | None = None, modality: str | None = None, date: str | None = None,
                   patient_id: str | None = None, patient_name: str | None = None,
                   accession_number: str | None = None) -> Dataset:
    """A Modality Worklist C-FIND identifier (PS3.4 K.6.1.2.1): the given matching keys, every RAD-5 return key
    empty. ``date`` may be a range (``20261126-20261127``)."""
    ds = _with_keys(RETURN_KEYS, {"PatientID": patient_id, "PatientName": patient_name,
                                  "AccessionNumber": accession_number})
    # The modality reads Unicode: it declares UTF-8 (PS3.4 C.4.1.1.3.1, Specific Character Set in the identifier)
    # so that an SCP which converts its answers can keep every Person Name group.
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ScheduledProcedureStepSequence = [_with_keys(STEP_RETURN_KEYS, {
        "ScheduledStationAETitle": station_ae, "Modality": modality, "ScheduledProcedureStepStartDate": date})]
    return ds


@dataclass
class Acquisition:
    """Everything one acquisition sent and received, for assertions and reports."""

    modality_ae: str
    worklist_item: Dataset
    study: Study
    mpps_sop_instance_uid: str
    mpps_create: Dataset
    mpps_final: Dataset | None = None
    mpps_statuses: list[tuple[str, int]] = field(default_factory=list)
    store_outcomes: list[StoreOutcome] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)
    outcome: Outcome = "completed"
    performed: list[Dataset] = field(default_factory=list)

    @property
    def stored_sop_instance_uids(self) -> list[str]:
        """Instances the destination acknowledged with a non-failure status."""
        return [o.sop_instance_uid for o in self.store_outcomes if o.ok]

    def summary(self) -> dict[str, Any]:
        return {
            "modality": self.modality_ae, "accession_number": str(self.worklist_item.get("AccessionNumber", "")),
            "study_instance_uid": self.study.study_instance_uid, "mpps": self.mpps_sop_instance_uid,
            "outcome": self.outcome, "instances": len(self.study), "stored": len(self.stored_sop_instance_uids),
            "withheld": len(self.withheld), "mpps_statuses": [f"{op} 0x{s:04X}" for op, s in self.mpps_statuses],
        }


def choose_item(items: list[Dataset], accession_number: str | None) -> Dataset:
    """The worklist item to perform: the one with ``accession_number``, else the first (a technologist's pick)."""
    if not items:
        raise ConformanceFailure(["the worklist returned no item for this modality's query"])
    if accession_number is None:
        return items[0]
    for item in items:
        if str(item.get("AccessionNumber", "")) == accession_number:
            return item
    seen = ", ".join(str(i.get("AccessionNumber", "")) for i in items)
    raise ConformanceFailure([f"no worklist item with Accession Number {accession_number!r} (returned: {seen})"])


def acquire(modality: Modality, *, worklist: Endpoint, mpps: Endpoint | None, store_to: Endpoint,
            query: Mapping[str, str | None] | None = None, accession_number: str | None = None, seed: int = 0,
            series: int | None = None, instances: int | None = None, options: BuildOptions | None = None,
            outcome: Outcome = "completed", reason: str = "unspecified", acquired_before_stop: int = 0,
            withhold: int = 0, defect: str | None = None, retrieve_ae: str = "",
            typed: Mapping[str, str] | None = None, now: dt.datetime | None = None) -> Acquisition:
    """Query the worklist, start the step (N-CREATE IN PROGRESS), generate and C-STORE the study, end the step
    (N-SET COMPLETED with every performed series, or DISCONTINUED with ``reason`` after
    ``acquired_before_stop`` instances). ``withhold`` instances are generated and listed in the MPPS but never
    sent (a lost image, for commitment to find). ``typed`` values replace the worklist's in every instance (a
    technologist's typing over the order; the MPPS keeps the worklist's). With ``mpps`` None no MPPS is sent."""
    keys = dict(query or {})
    keys.setdefault("station_ae", modality.ae_title)
    items = modality.client.find(worklist, worklist_query(**keys, accession_number=accession_number),
                                 model="worklist")
    item = choose_item(items, accession_number)
    started = now or dt.datetime.now()
    procedure = procedure_of(item)
    pps_uid = derive_uid("mpps", modality.ae_title, procedure.accession_number, procedure.study_instance_uid, seed)
    create = in_progress(item, performed_station_ae=modality.ae_title,
                         performed_station_name=procedure.scheduled_station_name,
                         pps_id="PPS" + pps_uid.replace(".", "")[-12:], started=started)
    study = generate_for_procedure(procedure, seed, series=series, instances=instances, options=options)
    if defect:
        apply_defect(study.datasets, defect)
    for ds in study.datasets:
        for keyword, value in (typed or {}).items():
            setattr(ds, keyword, value)
    record = Acquisition(modality.ae_title, item, study, pps_uid, create)
    if mpps is not None:
        response = mpps_create(modality.client, mpps, pps_uid, create)
        record.mpps_statuses.append(("N-CREATE", response.status))
    performed = study.datasets
    if outcome == "discontinued":
        performed = performed[:acquired_before_stop]
        record.outcome = "discontinued"
    record.performed = list(performed)
    to_send = performed[:len(performed) - withhold] if withhold else performed
    record.withheld = [str(ds.SOPInstanceUID) for ds in performed[len(to_send):]]
    if to_send:
        record.store_outcomes = modality.store(to_send, store_to)
    ended = started + dt.timedelta(minutes=5) if now else dt.datetime.now()
    final = (completed(performed, ended=ended, retrieve_ae=retrieve_ae) if outcome == "completed"
             else discontinued(performed, ended=ended, reason=reason, retrieve_ae=retrieve_ae))
    record.mpps_final = final
    if mpps is not None:
        response = mpps_set(modality.client, mpps, pps_uid, final)
        record.mpps_statuses.append(("N-SET", response.status))
    return record
