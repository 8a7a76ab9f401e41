"""The RIS over real sockets: worklist queries with ``DicomClient.find(model="worklist")`` and MPPS with
``mpps_create`` / ``mpps_set``, every refusal with its status, both sides journalled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from simulator.config import Endpoint
from simulator.errors import DimseFailure, NetworkError
from simulator.journal import Journal
from simulator.net import (
    DicomClient,
    DicomServer,
    MppsReply,
    MppsRequest,
    ScpFailure,
    mpps_create,
    mpps_service,
    mpps_set,
)
from simulator.nodes.acquisition_messages import completed, discontinued, in_progress
from simulator.nodes.ris import RisNode, load_schedule, make_day
from simulator.synth.procedure import ScheduledProcedure

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "schedule.yaml"
PROCEDURES = load_schedule(EXAMPLE)
STARTED = dt.datetime(2026, 11, 26, 8, 3)


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def ris(journal: Journal) -> Iterator[RisNode]:
    node = RisNode("RADSIM_RIS", node="RIS", journal=journal, procedures=PROCEDURES)
    node.start()
    try:
        yield node
    finally:
        node.stop(timeout=10)


@pytest.fixture
def endpoint(ris: RisNode) -> Endpoint:
    assert ris.endpoint is not None
    return ris.endpoint


@pytest.fixture
def modality() -> DicomClient:
    return DicomClient("CT1", node="CT1", journal=Journal())


def worklist_query(station: str = "", **keys: str) -> Dataset:
    """What a modality asks (IHE RAD-5): its station's steps, with the keys it needs back."""
    ds = Dataset()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
                    "RequestedProcedureID", "StudyInstanceUID"):
        setattr(ds, keyword, keys.pop(keyword, ""))
    sps = Dataset()
    sps.ScheduledStationAETitle = station
    for keyword in ("Modality", "ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartTime",
                    "ScheduledProcedureStepID"):
        setattr(sps, keyword, keys.pop(keyword, ""))
    assert not keys, keys
    ds.ScheduledProcedureStepSequence = [sps]
    return ds


def procedure(accession: str) -> ScheduledProcedure:
    return next(p for p in PROCEDURES if p.accession_number == accession)


def test_each_station_gets_its_steps_with_names_in_their_character_sets(endpoint: Endpoint,
                                                                        modality: DicomClient) -> None:
    for station in sorted({p.scheduled_station_ae_title for p in PROCEDURES}):
        hits = modality.find(endpoint, worklist_query(station), model="worklist")
        expected = [p for p in PROCEDURES if p.scheduled_station_ae_title == station]
        assert [h.AccessionNumber for h in hits] == [p.accession_number for p in expected]
        for hit, step in zip(hits, expected, strict=True):
            assert str(hit.PatientName) == step.patient.name  # e.g. Yamada^Tarou=山田^太郎=やまだ^たろう
            assert hit.get("SpecificCharacterSet", "") == step.patient.specific_character_set
            assert hit.StudyInstanceUID == step.study_instance_uid
            (sps,) = hit.ScheduledProcedureStepSequence
            assert sps.ScheduledProcedureStepID == step.scheduled_procedure_step_id
            assert sps.Modality == step.modality


def test_date_time_ranges_and_name_wildcards_over_the_network(endpoint: Endpoint, modality: DicomClient) -> None:
    morning = modality.find(endpoint, worklist_query(ScheduledProcedureStepStartDate="20261126",
                                                     ScheduledProcedureStepStartTime="-0930"), model="worklist")
    assert [h.AccessionNumber for h in morning] == [p.accession_number for p in PROCEDURES
                                                    if p.scheduled_time <= dt.time(9, 30)]
    assert modality.find(endpoint, worklist_query(ScheduledProcedureStepStartDate="20261127-"),
                         model="worklist") == []
    identifier = worklist_query(PatientName="müller*")
    identifier.SpecificCharacterSet = "ISO_IR 100"  # the key itself is Latin-1 text
    hits = modality.find(endpoint, identifier, model="worklist")
    assert [h.AccessionNumber for h in hits] == ["ACC26110001", "ACC26110008"]
    identifier = worklist_query(PatientName="鈴木*")
    identifier.SpecificCharacterSet = "ISO_IR 192"  # the RIS answers in the item's ISO 2022 IR 87
    hits = modality.find(endpoint, identifier, model="worklist")
    assert [h.AccessionNumber for h in hits] == ["ACC26110011"]


def test_an_identifier_the_ris_cannot_match_fails_with_status_and_comment(endpoint: Endpoint,
                                                                         modality: DicomClient,
                                                                         journal: Journal) -> None:
    identifier = worklist_query()
    identifier.ScheduledProcedureStepSequence.append(Dataset())
    with pytest.raises(DimseFailure) as info:
        modality.find(endpoint, identifier, model="worklist")
    assert info.value.status == 0xA900
    # the Error Comment travels in the status (command) set of the failure response (PS3.7 C.4.1.1.3)
    assert info.value.comment is not None and "one item" in info.value.comment
    with pytest.warns(UserWarning, match="Invalid value for VR DA"):
        bad_date = worklist_query(ScheduledProcedureStepStartDate="26/11/2026")
    with pytest.raises(DimseFailure) as info:
        modality.find(endpoint, bad_date, model="worklist")
    assert 0xC000 <= info.value.status <= 0xCFFF
    assert info.value.comment is not None and "not a date" in info.value.comment
    statuses = [e.status for e in modality.journal.select(kind="C-FIND")]
    assert statuses == [0xA900, 0xC000]
    # the RIS journals its failed answers too
    assert [e.status for e in journal.select(kind="C-FIND", role="SCP")] == [0xA900, 0xC000]


def test_steps_scheduled_or_cancelled_while_running_show_up_at_once(ris: RisNode, endpoint: Endpoint,
                                                                    modality: DicomClient) -> None:
    (extra,) = make_day(99, 1, stations={"CT": ("CT7", "CT ROOM 7")})
    assert modality.find(endpoint, worklist_query("CT7"), model="worklist") == []
    ris.schedule(extra)
    (hit,) = modality.find(endpoint, worklist_query("CT7"), model="worklist")
    assert hit.AccessionNumber == extra.accession_number
    with pytest.raises(ValueError, match="already scheduled"):
        ris.schedule(extra)
    assert ris.unschedule(extra) and not ris.unschedule(extra)
    assert modality.find(endpoint, worklist_query("CT7"), model="worklist") == []
    assert len(ris.items()) == len(ris.procedures) == len(PROCEDURES)


def test_mpps_in_progress_then_completed(ris: RisNode, endpoint: Endpoint, modality: DicomClient,
                                         journal: Journal) -> None:
    (item,) = modality.find(endpoint, worklist_query("CT1", AccessionNumber="ACC26110001"), model="worklist")
    # the modality needs the whole item for its N-CREATE; ask for everything
    (full,) = [i for i in ris.items() if i.AccessionNumber == item.AccessionNumber]
    uid = "1.2.826.0.1.3680043.10.543.1"
    created = mpps_create(modality, endpoint, uid, in_progress(full, performed_station_ae="CT1",
                                                               performed_station_name="CT ROOM 1", pps_id="PPS-1",
                                                               started=STARTED))
    assert (created.operation, created.status, created.warning) == ("N-CREATE", 0x0000, False)
    done = mpps_set(modality, endpoint, uid, completed([], ended=STARTED + dt.timedelta(minutes=12)))
    assert done.status == 0x0000 and done.meaning == "Success"
    record = ris.mpps.get(uid)
    assert record is not None and record.status == "COMPLETED" and record.created_by == "CT1"
    assert record.steps[0].accession_number == "ACC26110001"
    assert str(record.attributes.PatientName) == "Müller^Jürgen"
    scp = [(e.kind, e.status, e.detail.get("pps_status")) for e in journal.select(node="RIS")
           if e.kind.startswith("N-")]
    assert scp == [("N-CREATE", 0, "IN PROGRESS"), ("N-SET", 0, "COMPLETED")]
    scu = [(e.kind, e.role, e.status, e.detail["sop_instance_uid"]) for e in modality.journal
           if e.kind.startswith("N-")]
    assert scu == [("N-CREATE", "SCU", 0, uid), ("N-SET", "SCU", 0, uid)]


def test_every_refusal_reaches_the_modality_with_its_status(ris: RisNode, endpoint: Endpoint,
                                                            modality: DicomClient, journal: Journal) -> None:
    item = ris.items()[0]
    attributes = in_progress(item, performed_station_ae="CT1", performed_station_name="CT ROOM 1", pps_id="PPS-2",
                             started=STARTED)
    uid = "1.2.826.0.1.3680043.10.543.2"

    def failure(call: object, *args: object) -> DimseFailure:
        with pytest.raises(DimseFailure) as info:
            call(modality, endpoint, *args)  # type: ignore[operator]
        return info.value

    wrong_state = in_progress(item, performed_station_ae="CT1", performed_station_name="CT ROOM 1", pps_id="PPS-2",
                              started=STARTED)
    wrong_state.PerformedProcedureStepStatus = "COMPLETED"
    assert failure(mpps_create, uid, wrong_state).status == 0x0106
    unknown = failure(mpps_set, uid, completed([], ended=STARTED))
    assert (unknown.status, unknown.meaning) == (0x0112, "No such SOP Instance")
    mpps_create(modality, endpoint, uid, attributes)
    duplicate = failure(mpps_create, uid, attributes)
    assert (duplicate.operation, duplicate.status) == ("N-CREATE", 0x0111)
    not_allowed = Dataset()
    not_allowed.PatientID = "SOMEONE-ELSE"
    forbidden = failure(mpps_set, uid, not_allowed)
    assert forbidden.status == 0x0105 and "PatientID" in (forbidden.comment or "")
    mpps_set(modality, endpoint, uid, discontinued([], ended=STARTED, reason="patient-refused"))
    finished = failure(mpps_set, uid, completed([], ended=STARTED))
    assert (finished.status, finished.meaning) == (0x0110, "Processing failure")
    assert finished.comment == "Performed Procedure Step Object may no longer be updated"
    assert "Error ID 0xA710" in str(finished)
    scp = [(e.kind, e.status) for e in journal.select(node="RIS") if e.kind.startswith("N-")]
    assert scp == [("N-CREATE", 0x0106), ("N-SET", 0x0112), ("N-CREATE", 0x0000), ("N-CREATE", 0x0111),
                   ("N-SET", 0x0105), ("N-SET", 0x0000), ("N-SET", 0x0110)]
    assert journal.select(node="RIS", kind="N-SET")[-1].detail["error_id"] == "0xA710"
    assert [m.status for m in ris.mpps.messages(uid)] == [0x0106, 0x0112, 0x0000, 0x0111, 0x0105, 0x0000, 0x0110]
    record = ris.mpps.get(uid)
    assert record is not None and record.status == "DISCONTINUED" and record.attributes.PatientID != "SOMEONE-ELSE"


def test_several_modalities_report_at_the_same_time(ris: RisNode, endpoint: Endpoint) -> None:
    items = ris.items()[:6]

    def acquire(index: int) -> str:
        client = DicomClient(f"MOD{index}", node=f"MOD{index}")
        uid = f"1.2.826.0.1.3680043.10.543.{100 + index}"
        mpps_create(client, endpoint, uid, in_progress(items[index], performed_station_ae=f"MOD{index}",
                                                       performed_station_name="ROOM", pps_id=f"P{index}",
                                                       started=STARTED))
        mpps_set(client, endpoint, uid, completed([], ended=STARTED))
        return uid

    with ThreadPoolExecutor(max_workers=6) as pool:
        uids = list(pool.map(acquire, range(6)))
    assert sorted(r.sop_instance_uid for r in ris.mpps.records()) == sorted(uids)
    assert all(r.status == "COMPLETED" for r in ris.mpps.records())
    assert len(ris.mpps.messages()) == 12


def test_mpps_service_answers_warnings_and_handler_crashes(journal: Journal, modality: DicomClient) -> None:
    seen: list[MppsRequest] = []

    def on_create(request: MppsRequest) -> MppsReply:
        seen.append(request)
        return MppsReply(status=0x0001, comment="optional attributes ignored")

    def on_set(request: MppsRequest) -> MppsReply:
        if request.dataset.get("PerformedProcedureStepStatus") == "COMPLETED":
            raise ScpFailure(0x0110, "refused by the test")
        raise RuntimeError("a bug in the node")

    server = DicomServer("MPPS_SCP", node="SCP", journal=journal, services=[mpps_service(on_create, on_set)])
    peer = server.start()
    try:
        attributes = Dataset()
        attributes.PerformedProcedureStepStatus = "IN PROGRESS"
        warned = mpps_create(modality, peer, "1.2.3.4.5", attributes)
        assert warned.warning and warned.status == 0x0001 and warned.comment == "optional attributes ignored"
        (request,) = seen
        assert (request.operation, request.sop_instance_uid, request.caller.ae_title) == ("N-CREATE", "1.2.3.4.5",
                                                                                          "CT1")
        assert request.receiver_ae == "MPPS_SCP" and request.dataset.PerformedProcedureStepStatus == "IN PROGRESS"
        with pytest.raises(DimseFailure) as info:
            mpps_set(modality, peer, "1.2.3.4.5", completed([], ended=STARTED))
        assert (info.value.status, info.value.comment) == (0x0110, "refused by the test")
        still = Dataset()
        still.PerformedProcedureStepStatus = "IN PROGRESS"
        with pytest.raises(DimseFailure) as info:
            mpps_set(modality, peer, "1.2.3.4.5", still)
        assert info.value.status == 0x0110 and "internal error in SCP" in (info.value.comment or "")
        with pytest.raises(ValueError, match="at least one attribute"):  # PS3.7: the Modification List is mandatory
            mpps_set(modality, peer, "1.2.3.4.5", Dataset())
    finally:
        server.stop(timeout=10)
    assert [e.status for e in journal.select(node="SCP") if e.kind.startswith("N-")] == [0x0001, 0x0110, 0x0110]


def test_a_peer_without_mpps_is_a_typed_error(journal: Journal, modality: DicomClient) -> None:
    server = DicomServer("NO_MPPS", node="NO_MPPS", journal=journal, worklist=lambda request: iter(()))
    peer = server.start()
    try:
        with pytest.raises(NetworkError) as info:
            mpps_create(modality, peer, "1.2.3.4.6", Dataset())
        assert "NO_MPPS" in str(info.value)
    finally:
        server.stop(timeout=10)
    with pytest.raises(ValueError, match="SOP Instance UID"):
        mpps_create(modality, peer, "", Dataset())
