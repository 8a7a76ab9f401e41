"""Steps of the scheduled workflow (IHE Radiology Scheduled Workflow): schedule orders, query the worklist
(RAD-5), acquire with MPPS (RAD-6/7) and storage (RAD-8), storage commitment (RAD-10), DICOMweb retrieval (RAD-16
over WADO-RS), and the identity check across the whole chain.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydicom.dataset import Dataset

from simulator.config import PACS_NODE
from simulator.errors import ConfigError, ConformanceFailure, NotSupported
from simulator.net import CommitmentResult, describe_status
from simulator.net.mpps import mpps_set
from simulator.nodes.acquisition import Acquisition, acquire, worklist_query
from simulator.nodes.ris import load_schedule, make_day
from simulator.nodes.ris.schedule import StepEntry
from simulator.nodes.ris.worklist import worklist_item
from simulator.pacs.base import Capability
from simulator.scenario.identity import IdentityCheck, from_find_answer, from_instance, from_mpps, from_worklist_item
from simulator.scenario.model import Seconds, StepArgs
from simulator.scenario.steps import Expectation, RunContext, _default_target, _first, _meets, step
from simulator.synth.procedure import ScheduledProcedure
from simulator.synth.spec import BuildOptions
from simulator.synth.uids import derive_uid

# -- schedule --------------------------------------------------------------------------------------------------


class DayArgs(StepArgs):
    seed: int = 0
    count: int = Field(default=12, ge=1, le=500)
    date: dt.date = dt.date(2026, 11, 26)


class ScheduleArgs(StepArgs):
    file: str | None = None
    date: dt.date | None = None
    steps: list[StepEntry] = Field(default_factory=list)
    day: DayArgs | None = None
    as_: str | None = Field(default=None, alias="as")

    @model_validator(mode="after")
    def _one_source(self) -> ScheduleArgs:
        given = [name for name, value in (("file", self.file), ("steps", self.steps), ("day", self.day)) if value]
        if len(given) != 1:
            raise ValueError(f"give exactly one of file, steps or day (got {', '.join(given) or 'none'})")
        if self.steps and self.date is None and any(s.start_date is None for s in self.steps):
            raise ValueError("steps without start_date need 'date'")
        return self


def _procedures(args: ScheduleArgs) -> list[ScheduledProcedure]:
    if args.file:
        return load_schedule(Path(args.file))
    if args.day:
        return list(make_day(args.day.seed, args.day.count, date=args.day.date))
    return [entry.procedure(args.date) for entry in args.steps]


@step("schedule", ScheduleArgs, "Put scheduled procedure steps on the worklist (a schedule file, inline steps or a "
                                "generated day) and on the RIS")
def run_schedule(ctx: RunContext, args: ScheduleArgs) -> str:
    procedures = _procedures(args)
    where = ctx.department.schedule(procedures)
    if args.as_:
        ctx.variables[args.as_] = procedures
    return f"{len(procedures)} step(s) scheduled at {where}"


# -- worklist query (RAD-5) ------------------------------------------------------------------------------------


class WorklistArgs(StepArgs):
    from_: str = Field(alias="from")
    as_: str = Field(alias="as")
    station_ae: str | None = None
    modality: str | None = None
    date: str | None = None
    patient_id: str | None = None
    patient_name: str | None = None
    accession_number: str | None = None


@step("worklist", WorklistArgs, "Modality Worklist C-FIND from a modality (station, modality, date range, patient, "
                                "accession); name the items")
def run_worklist(ctx: RunContext, args: WorklistArgs) -> str:
    modality = ctx.department.modality(args.from_)
    endpoint = ctx.department.worklist_endpoint()
    query = worklist_query(station_ae=args.station_ae, modality=args.modality, date=args.date,
                           patient_id=args.patient_id, patient_name=args.patient_name,
                           accession_number=args.accession_number)
    items = modality.client.find(endpoint, query, model="worklist")
    ctx.variables[args.as_] = items
    source = ctx.department.worklist_source()
    return f"{args.as_}: {len(items)} worklist item(s) from the {source} ({endpoint})"


# -- acquisition (RAD-5, 6, 8, 7) ------------------------------------------------------------------------------


class AcquireArgs(StepArgs):
    from_: str = Field(alias="from")
    as_: str = Field(alias="as", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    accession_number: str | None = None
    date: str | None = None
    to: str | None = None
    mpps: bool = True
    seed: int = 0
    series: int | None = Field(default=None, ge=1, le=100)
    instances: int | None = Field(default=None, ge=1, le=5000)
    rows: int | None = Field(default=None, ge=8, le=8192)
    columns: int | None = Field(default=None, ge=8, le=8192)
    outcome: Literal["completed", "discontinued"] = "completed"
    reason: str = "unspecified"
    acquired_before_stop: int = Field(default=0, ge=0)
    withhold: int = Field(default=0, ge=0)
    # Values the technologist typed over the worklist's (e.g. a misspelt name): set on every instance, not in MPPS.
    typed: dict[str, str] = Field(default_factory=dict)
    expect: Expectation | int = "success"


@step("acquire", AcquireArgs, "A modality performs a worklist item: MPPS IN PROGRESS, generate, C-STORE, MPPS "
                              "COMPLETED or DISCONTINUED")
def run_acquire(ctx: RunContext, args: AcquireArgs) -> str:
    dept = ctx.department
    modality = dept.modality(args.from_)
    target = args.to or _default_target(ctx, args.from_)
    record = acquire(
        modality, worklist=dept.worklist_endpoint(), mpps=dept.mpps_endpoint() if args.mpps else None,
        store_to=dept.endpoint(target), query={"date": args.date}, accession_number=args.accession_number,
        seed=args.seed, series=args.series, instances=args.instances,
        options=BuildOptions(rows=args.rows, columns=args.columns), outcome=args.outcome, reason=args.reason,
        acquired_before_stop=args.acquired_before_stop, withhold=args.withhold,
        retrieve_ae=dept.pacs.endpoint.ae_title, typed=args.typed,
    )
    ctx.variables[args.as_] = record
    wrong = [o for o in record.store_outcomes if not _meets(o.status, args.expect)]
    if wrong:
        raise ConformanceFailure([f"C-STORE of {o.sop_instance_uid} to {target}: expected {args.expect}, got "
                                  f"{o.status_text} ({o.meaning})" + (f" '{o.comment}'" if o.comment else "")
                                  for o in wrong])
    mpps = ", ".join(f"{op} 0x{status:04X}" for op, status in record.mpps_statuses) or "no MPPS"
    extra = f", {len(record.withheld)} withheld" if record.withheld else ""
    return (f"{args.as_}: accession {record.worklist_item.get('AccessionNumber', '')}, "
            f"{len(record.store_outcomes)} of {len(record.performed)} instance(s) stored to {target}{extra}; "
            f"{mpps}; {record.outcome}")


def _acquisition(ctx: RunContext, name: str) -> Acquisition:
    value = ctx.variables.get(name)
    if not isinstance(value, Acquisition):
        raise ConfigError(f"'{name}' is not an acquisition (use an 'acquire' step with as: {name})")
    return value


# -- MPPS (RAD-6/7) --------------------------------------------------------------------------------------------


class MppsStateArgs(StepArgs):
    acquisition: str
    state: Literal["IN PROGRESS", "COMPLETED", "DISCONTINUED"]


@step("expect_mpps", MppsStateArgs, "The RIS holds the acquisition's MPPS in a state, with every performed "
                                    "instance referenced")
def run_expect_mpps(ctx: RunContext, args: MppsStateArgs) -> str:
    record = _acquisition(ctx, args.acquisition)
    ris = ctx.department.ris
    if ris is None:
        raise ConfigError("the department has no RIS node")
    mpps = ris.mpps.get(record.mpps_sop_instance_uid)
    if mpps is None:
        raise ConformanceFailure([f"{ris.node} has no MPPS instance {record.mpps_sop_instance_uid}"])
    problems = []
    if mpps.status != args.state:
        problems.append(f"MPPS {mpps.sop_instance_uid}: status {mpps.status!r}, expected {args.state!r}")
    referenced = set(_mpps_references(mpps.attributes))
    performed = {str(ds.SOPInstanceUID) for ds in record.performed}
    if args.state != "IN PROGRESS" and referenced != performed:
        problems.append(f"MPPS references {len(referenced)} instance(s), the modality performed {len(performed)}")
    problems.extend(f"{ris.node} recorded: {v}" for v in mpps.violations)
    if problems:
        raise ConformanceFailure(problems)
    return f"MPPS {args.state} at {ris.node} with {len(referenced)} referenced instance(s)"


class MppsSetArgs(StepArgs):
    from_: str = Field(alias="from")
    sop_instance_uid: str | None = None
    acquisition: str | None = None
    status: Literal["IN PROGRESS", "COMPLETED", "DISCONTINUED"] = "COMPLETED"
    expect: int = 0


@step("mpps_set", MppsSetArgs, "Send an MPPS N-SET (to an acquisition's MPPS or any SOP Instance UID) and check the "
                               "status the RIS answers (PS3.4 F.7.2.2)")
def run_mpps_set(ctx: RunContext, args: MppsSetArgs) -> str:
    from simulator.errors import DimseFailure

    if (args.sop_instance_uid is None) == (args.acquisition is None):
        raise ConfigError("mpps_set needs exactly one of 'sop_instance_uid' or 'acquisition'")
    uid = args.sop_instance_uid or _acquisition(ctx, str(args.acquisition)).mpps_sop_instance_uid
    modality = ctx.department.modality(args.from_)
    change = Dataset()
    change.PerformedProcedureStepStatus = args.status
    try:
        status = mpps_set(modality.client, ctx.department.mpps_endpoint(), uid, change).status
        comment = ""
    except DimseFailure as exc:
        status, comment = exc.status, exc.comment or ""
    if status != args.expect:
        raise ConformanceFailure([f"N-SET of {uid}: expected 0x{args.expect:04X} "
                                  f"({describe_status(args.expect, 'N-SET')}), got 0x{status:04X} "
                                  f"({describe_status(status, 'N-SET')})" + (f" '{comment}'" if comment else "")])
    return f"N-SET of {uid}: 0x{status:04X} ({describe_status(status, 'N-SET')})" + (
        f" '{comment}'" if comment else "")


# -- storage commitment (RAD-10) -------------------------------------------------------------------------------


class CommitArgs(StepArgs):
    study: str
    from_: str = Field(alias="from")
    to: str = PACS_NODE
    delivery: Literal["same", "new", "auto"] | None = None
    release_association: bool = False
    unknown: int = Field(default=0, ge=0, le=100)
    timeout: Seconds = 30.0
    expect_failed: int = Field(default=0, ge=0)
    expect_delivery: Literal["same-association", "new-association", "none"] | None = None
    as_: str | None = Field(default=None, alias="as")


@step("commit", CommitArgs, "Storage Commitment: N-ACTION for a study's instances, wait for the N-EVENT-REPORT on "
                            "the same or a new association; check what was committed")
def run_commit(ctx: RunContext, args: CommitArgs) -> str:
    dept = ctx.department
    if args.to == PACS_NODE and Capability.STORAGE_COMMITMENT not in dept.pacs.capabilities:
        raise NotSupported(f"{dept.pacs.name} offers no storage commitment")
    study = ctx.study(args.study)
    modality = dept.modality(args.from_)
    if args.delivery:
        dept.pacs.set_commitment_delivery(args.delivery)
    references: list[tuple[str, str]] = [(str(ds.SOPClassUID), str(ds.SOPInstanceUID)) for ds in study.datasets]
    references += [(references[0][0] if references else "1.2.840.10008.5.1.4.1.1.7",
                    derive_uid("never-stored", study.study_instance_uid, index)) for index in range(args.unknown)]
    result = modality.commit(dept.endpoint(args.to), references, timeout=args.timeout,
                             wait_on_association=not args.release_association)
    if args.as_:
        ctx.variables[args.as_] = result
    return _check_commitment(result, args, len(references))


def _check_commitment(result: CommitmentResult, args: CommitArgs, requested: int) -> str:
    problems = []
    delivery = result.delivery or "none"
    if result.timed_out:
        problems.append(f"no commitment result within {args.timeout:.0f}s: not committed ({result.note})")
    elif len(result.failed) != args.expect_failed or len(result.committed) != requested - args.expect_failed:
        shown = ", ".join(f"{uid}: {why}" for uid, why in list(result.failure_reasons().items())[:3])
        problems.append(f"{len(result.committed)} committed and {len(result.failed)} failed of {requested}; "
                        f"expected {args.expect_failed} failed" + (f" ({shown})" if shown else ""))
    if result.missing:
        problems.append(f"the result names {len(result.missing)} requested instance(s) neither committed nor failed")
    if args.expect_delivery and delivery != args.expect_delivery:
        problems.append(f"result arrived on {delivery}, expected {args.expect_delivery}")
    if problems:
        raise ConformanceFailure(problems)
    reasons = sorted(set(result.failure_reasons().values()))
    failed = f", {len(result.failed)} failed ({', '.join(reasons)})" if result.failed else ""
    return (f"{len(result.committed)} of {requested} committed{failed}; result on {delivery} after "
            f"{result.elapsed_s:.2f}s")


# -- DICOMweb retrieval (WADO-RS) ------------------------------------------------------------------------------


class WadoArgs(StepArgs):
    study: str
    from_: str | None = Field(default=None, alias="from")


@step("wado", WadoArgs, "WADO-RS retrieve of a study from the PACS's DICOMweb service into a workstation")
def run_wado(ctx: RunContext, args: WadoArgs) -> str:
    dept = ctx.department
    url = dept.pacs.dicomweb_url
    if Capability.DICOMWEB not in dept.pacs.capabilities or not url:
        raise NotSupported(f"{dept.pacs.name} offers no DICOMweb")
    study = ctx.study(args.study)
    ws = dept.workstation(args.from_ or _first(dept.workstations, "workstation"))
    got = ws.wado(str(url), study.study_instance_uid)
    if len(got) != len(study):
        raise ConformanceFailure([f"WADO-RS returned {len(got)} instance(s), the study has {len(study)}"])
    return f"WADO-RS: {len(got)} instance(s) into {ws.node}"


# -- identity across the chain ---------------------------------------------------------------------------------


class IdentityArgs(StepArgs):
    acquisition: str
    commitment: str | None = None
    from_: str | None = Field(default=None, alias="from")


@step("expect_identity", IdentityArgs, "Patient, accession, study, requested procedure and step IDs agree between "
                                       "worklist, MPPS, stored instances, C-FIND answers and commitment result")
def run_expect_identity(ctx: RunContext, args: IdentityArgs) -> str:
    dept = ctx.department
    record = _acquisition(ctx, args.acquisition)
    check = IdentityCheck(from_worklist_item(record.worklist_item))
    accession = str(record.worklist_item.get("AccessionNumber", ""))
    if dept.ris is not None:
        for procedure in dept.ris.procedures:
            if procedure.accession_number == accession:
                check.add(f"order at {dept.ris.node}", from_worklist_item(worklist_item(procedure)))
    check.add("MPPS N-CREATE sent", from_mpps(record.mpps_create))
    if dept.ris is not None and (mpps := dept.ris.mpps.get(record.mpps_sop_instance_uid)) is not None:
        check.add(f"MPPS at {dept.ris.node}", from_mpps(mpps.attributes))
    ws = dept.workstation(args.from_ or _first(dept.workstations, "workstation"))
    uid = record.study.study_instance_uid
    studies = ws.find(dept.pacs.endpoint, "STUDY", {"StudyInstanceUID": uid, "PatientID": None,
                                                    "PatientName": None, "AccessionNumber": None})
    if len(studies) != 1:
        raise ConformanceFailure([f"C-FIND STUDY for {uid} returned {len(studies)} match(es), expected 1"])
    check.add("C-FIND STUDY answer", from_find_answer(studies[0]))
    images = ws.instances_of(dept.pacs.endpoint, uid)
    ws.clear()
    outcome = ws.get(dept.pacs.endpoint, "STUDY", {"StudyInstanceUID": uid})
    for ds in outcome.received:
        check.add(f"stored instance {ds.SOPInstanceUID}", from_instance(ds))
    check.add_instances("instances the modality stored", record.stored_sop_instance_uids)
    check.add_instances("C-FIND IMAGE answers", [ref.sop_instance_uid for ref in images])
    check.add_instances("instances retrieved by C-GET", [str(ds.SOPInstanceUID) for ds in outcome.received])
    if record.mpps_final is not None:
        check.add_instances("MPPS N-SET references", _mpps_references(record.mpps_final))
    if args.commitment:
        result = ctx.variables.get(args.commitment)
        if not isinstance(result, CommitmentResult):
            raise ConfigError(f"'{args.commitment}' is not a commitment result (use 'commit' with as:)")
        check.add_instances("storage commitment result", [inst for _, inst in result.committed])
    problems = check.disagreements()
    if problems:
        raise ConformanceFailure(problems)
    return (f"{len(check.reference)} identifiers agree across worklist, MPPS, {len(outcome.received)} stored "
            f"instance(s), C-FIND" + (" and commitment" if args.commitment else ""))


def _mpps_references(final: Dataset) -> list[str]:
    """The SOP Instance UIDs an MPPS names in its Performed Series Sequence (PS3.4 Table F.7.2-1)."""
    return [str(ref.ReferencedSOPInstanceUID) for series in final.get("PerformedSeriesSequence", [])
            for key in ("ReferencedImageSequence", "ReferencedNonImageCompositeSOPInstanceSequence")
            for ref in series.get(key, [])]


# -- QA reconciliation against the worklist ---------------------------------------------------------------------


class ReconcileArgs(StepArgs):
    at: str = "QA"
    enabled: bool = True
    unmatched: Literal["accept", "quarantine", "reject"] | None = None
    unavailable: Literal["accept", "quarantine", "reject"] | None = None


@step("reconcile", ReconcileArgs, "Make a QA node reconcile demographics against the department's worklist "
                                  "(unmatched: accept | quarantine | reject), or stop")
def run_reconcile(ctx: RunContext, args: ReconcileArgs) -> str:
    dept = ctx.department
    qa = dept.qa(args.at)
    if not args.enabled:
        qa.set_worklist(None)
        return f"{args.at} no longer reconciles against the worklist"
    dept.reconcile_at(args.at, unmatched=args.unmatched, unavailable=args.unavailable)
    settings = qa.ruleset.worklist if qa.ruleset is not None else None
    shown = f"unmatched: {settings.unmatched}, unavailable: {settings.unavailable}" if settings else ""
    return f"{args.at} reconciles against the worklist at {dept.worklist_endpoint()} ({shown})"
