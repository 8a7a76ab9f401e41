"""The embedded archive over real sockets: storage, query levels, C-MOVE and C-GET with their counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.config import Endpoint
from simulator.errors import DimseFailure
from simulator.journal import Journal
from simulator.net import DicomClient
from simulator.nodes.archive import ArchiveIndex, EmbeddedArchive
from simulator.nodes.workstation import Workstation, identifier
from simulator.synth import Study


@pytest.fixture
def stored(archive_endpoint: Endpoint, small_study: Study) -> Study:
    outcomes = DicomClient("CT1", node="CT1").store(archive_endpoint, small_study.datasets)
    assert all(o.status == 0 for o in outcomes)
    return small_study


def test_acknowledged_instances_are_on_disk_and_survive_a_restart(tmp_path: Path, journal: Journal,
                                                                   small_study: Study) -> None:
    data = tmp_path / "arc"
    archive = EmbeddedArchive(data, journal=journal)
    endpoint = archive.start()
    try:
        DicomClient("CT1", node="CT1").store(endpoint, small_study.datasets)
    finally:
        archive.stop(timeout=10)
    reopened = ArchiveIndex(data)
    try:
        assert reopened.sop_instance_uids(small_study.study_instance_uid) == set(small_study.sop_instance_uids)
        held = reopened.get(small_study.sop_instance_uids[0])
        assert held is not None and held.path.is_file()
    finally:
        reopened.close()


def test_duplicate_store_is_idempotent(archive: EmbeddedArchive, archive_endpoint: Endpoint, stored: Study) -> None:
    again = DicomClient("CT1", node="CT1").store(archive_endpoint, stored.datasets[:1])
    assert (again[0].status, again[0].comment) == (0, None)  # no Error Comment with Success (PS3.7 C.4)
    assert len(archive.index.sop_instance_uids()) == len(stored)
    last = archive.journal.select(kind="C-STORE", role="SCP")[-1]
    assert "duplicate" in last.detail["comment"]


@pytest.mark.parametrize(("model", "level", "keys", "expected"), [
    ("patient", "PATIENT", {"PatientID": "{pid}"}, 1),
    ("patient", "STUDY", {"PatientID": "{pid}", "StudyInstanceUID": ""}, 1),
    ("study", "STUDY", {"StudyInstanceUID": "{study}"}, 1),
    ("study", "SERIES", {"StudyInstanceUID": "{study}", "SeriesInstanceUID": ""}, 2),
    ("study", "IMAGE", {"StudyInstanceUID": "{study}", "SeriesInstanceUID": "{series}", "SOPInstanceUID": ""}, 3),
    ("study", "STUDY", {"PatientID": "NOBODY"}, 0),
])
def test_find_at_every_level(workstation: Workstation, archive_endpoint: Endpoint, stored: Study, model: str,
                             level: str, keys: dict[str, str], expected: int) -> None:
    filled = {k: v.format(pid=stored.patient_id, study=stored.study_instance_uid,
                          series=stored.series_instance_uids[0]) for k, v in keys.items()}
    matches = workstation.find(archive_endpoint, level, filled, model=model)
    assert len(matches) == expected
    assert all(str(m.QueryRetrieveLevel) == level for m in matches)


@pytest.mark.parametrize(("model", "level", "keys"), [
    ("study", "IMAGE", {"StudyInstanceUID": "{study}", "SOPInstanceUID": ""}),
    ("study", "IMAGE", {"StudyInstanceUID": "{study}", "SeriesInstanceUID": "", "SOPInstanceUID": ""}),
    ("study", "SERIES", {"StudyInstanceUID": "*", "SeriesInstanceUID": ""}),
    ("patient", "STUDY", {"StudyInstanceUID": "{study}"}),
])
def test_a_relational_query_needs_relational_negotiation(workstation: Workstation, archive_endpoint: Endpoint,
                                                         stored: Study, model: str, level: str,
                                                         keys: dict[str, str]) -> None:
    """PS3.4 C.4.1.2.2.1: without relational queries negotiated, every unique key above the level needs one value;
    with them (C.4.1.2.2.2) the archive answers the same identifier."""
    filled = {k: v.format(study=stored.study_instance_uid) for k, v in keys.items()}
    with pytest.raises(DimseFailure) as info:
        workstation.find(archive_endpoint, level, filled, model=model)
    assert info.value.status == 0xA900
    assert "relational" in (info.value.comment or "")
    matches = workstation.find(archive_endpoint, level, filled, model=model, relational=True)
    assert len(matches) == {"IMAGE": 6, "SERIES": 2, "STUDY": 1}[level]


def test_an_archive_without_relational_queries_says_so_at_negotiation(tmp_path: Path, journal: Journal,
                                                                     small_study: Study) -> None:
    from simulator.errors import RelationalQueryRefused

    archive = EmbeddedArchive(tmp_path / "strict", journal=journal, relational=False)
    endpoint = archive.start()
    try:
        DicomClient("CT1", node="CT1").store(endpoint, small_study.datasets)
        ws = Workstation("WS1", node="WS1", journal=journal)
        with pytest.raises(RelationalQueryRefused):
            ws.find(endpoint, "IMAGE", {"StudyInstanceUID": small_study.study_instance_uid, "SOPInstanceUID": ""},
                    relational=True)
        assert not [e for e in journal.select(kind="C-FIND", role="SCP")]  # the query was never sent
    finally:
        archive.stop(timeout=10)


def test_study_counts_are_returned(workstation: Workstation, archive_endpoint: Endpoint, stored: Study) -> None:
    (match,) = workstation.find(archive_endpoint, "STUDY", {
        "StudyInstanceUID": stored.study_instance_uid, "NumberOfStudyRelatedInstances": "",
        "NumberOfStudyRelatedSeries": "", "ModalitiesInStudy": "", "PatientName": "",
    })
    assert int(match.NumberOfStudyRelatedInstances) == 6
    assert int(match.NumberOfStudyRelatedSeries) == 2
    assert match.ModalitiesInStudy == "CT"
    assert str(match.PatientName) == str(stored.datasets[0].PatientName)


def test_patient_level_is_refused_in_study_root(workstation: Workstation, archive_endpoint: Endpoint) -> None:
    with pytest.raises(DimseFailure) as info:
        workstation.find(archive_endpoint, "PATIENT", {"PatientID": "X"}, model="study")
    assert info.value.status == 0xA900


def test_move_delivers_every_instance_once_with_counts(workstation: Workstation, archive_endpoint: Endpoint,
                                                       stored: Study) -> None:
    outcome = workstation.move(archive_endpoint, "STUDY", {"StudyInstanceUID": stored.study_instance_uid})
    assert (outcome.status, outcome.completed, outcome.failed, outcome.warning) == (0, 6, 0, 0)
    assert workstation.compare(stored.datasets) == []


def test_move_of_one_series(workstation: Workstation, archive_endpoint: Endpoint, stored: Study) -> None:
    series = stored.series_instance_uids[1]
    outcome = workstation.move(archive_endpoint, "SERIES",
                               {"StudyInstanceUID": stored.study_instance_uid, "SeriesInstanceUID": series})
    assert outcome.completed == 3
    assert {str(ds.SeriesInstanceUID) for ds in workstation.received.values()} == {series}


def test_move_to_unknown_destination_is_0xA801_and_says_what_to_register(archive_endpoint: Endpoint,
                                                                          stored: Study) -> None:
    client = DicomClient("WS1", node="WS1")
    with pytest.raises(DimseFailure) as info:
        client.move(archive_endpoint, identifier("STUDY", {"StudyInstanceUID": stored.study_instance_uid}), "GHOST")
    assert info.value.status == 0xA801
    assert "GHOST" in str(info.value) and "register" in str(info.value)


def test_get_returns_identical_instances(workstation: Workstation, archive_endpoint: Endpoint, stored: Study) -> None:
    outcome = workstation.get(archive_endpoint, "STUDY", {"StudyInstanceUID": stored.study_instance_uid})
    assert (outcome.status, outcome.completed, len(outcome.received)) == (0, 6, 6)
    assert workstation.compare(stored.datasets) == []


def test_retrieve_of_unknown_study_completes_nothing(workstation: Workstation, archive_endpoint: Endpoint) -> None:
    outcome = workstation.get(archive_endpoint, "STUDY", {"StudyInstanceUID": "1.2.3.4"})
    assert (outcome.status, outcome.completed, outcome.failed) == (0, 0, 0)


def test_files_are_stored_exactly_as_sent(tmp_path: Path, archive: EmbeddedArchive, archive_endpoint: Endpoint,
                                          small_study: Study) -> None:
    """The archive keeps the received bytes (no transfer syntax conversion) behind a fresh File Meta header."""
    from pydicom.filereader import read_preamble

    paths = small_study.write(tmp_path / "sent")
    outcomes = DicomClient("CT1", node="CT1").store(archive_endpoint, paths)
    assert {o.status for o in outcomes} == {0}
    for path in paths:
        sent = path.read_bytes()
        held = archive.index.get(path.stem)
        assert held is not None
        assert held.transfer_syntax == "1.2.840.10008.1.2.1"  # Explicit VR Little Endian, as sent
        stored = held.path.read_bytes()
        assert _dataset_bytes(stored) == _dataset_bytes(sent)
        with held.path.open("rb") as handle:
            read_preamble(handle, force=False)  # raises unless there is a 128-byte preamble and 'DICM'


def _dataset_bytes(part10: bytes) -> bytes:
    """The bytes after the File Meta Information group (PS3.10 7.1)."""
    import struct

    offset = 132
    group_length = struct.unpack("<I", part10[offset + 8:offset + 12])[0]
    return part10[offset + 12 + group_length:]


def test_a_c_get_whose_sub_operations_all_fail_ends_with_one_final_response(archive: EmbeddedArchive,
                                                                           archive_endpoint: Endpoint,
                                                                           stored: Study, journal: Journal) -> None:
    """The requester offers no storage context for CT (PS3.4 C.4.3.2: each sub-operation then fails): the final
    response is 0xA702 with the Failed SOP Instance UID List as its Identifier (PS3.4 C.4.3.1.3.1), and the
    association is released normally afterwards: nothing follows the final response but that identifier.
    (DCMTK's getscu 3.6.7 does not read that identifier and reports the release as failed, against DCMTK's own
    dcmqrscp too.)"""
    client = DicomClient("WS1", node="WS1", journal=journal)
    with pytest.raises(DimseFailure) as info:
        client.get(archive_endpoint, identifier("STUDY", {"StudyInstanceUID": stored.study_instance_uid}),
                   sop_classes=["1.2.840.10008.5.1.4.1.1.4"])  # MR Image Storage only
    assert info.value.status == 0xA702
    (final,) = journal.select(node="WS1", kind="C-GET", role="SCU")
    assert (final.detail["failed"], final.detail["completed"]) == (len(stored), 0)
    scp_side = [e.meaning for e in journal.select(node=archive.node, kind="ASSOCIATION")]
    assert "aborted" not in scp_side
    # The archive still serves the next request on a new association.
    assert client.get(archive_endpoint, identifier("STUDY", {"StudyInstanceUID": stored.study_instance_uid})
                      ).completed == len(stored)
