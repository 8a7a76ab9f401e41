"""DICOMweb against a real Orthanc with its DICOMweb plugin (Debian ``orthanc-dicomweb``): STOW-RS, QIDO-RS at
every level, WADO-RS back to identical instances, and the failures (PS3.18 10.4-10.6)."""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterator

import pytest

from simulator.errors import DicomWebFailure
from simulator.journal import Journal
from simulator.net.ports import free_port
from simulator.nodes.workstation import Workstation
from simulator.pacs.orthanc import OrthancBackend
from simulator.synth import Study, generate_study
from tests.conftest import require, running_orthanc

pytestmark = pytest.mark.orthanc


@pytest.fixture(scope="module")
def journal() -> Journal:
    return Journal()


@pytest.fixture(scope="module")
def backend(journal: Journal) -> Iterator[OrthancBackend]:
    with running_orthanc([], journal) as pacs:
        require(pacs.dicomweb_url is not None,
                "Orthanc's DICOMweb plugin is not installed: install the Debian package 'orthanc-dicomweb'")
        yield pacs


@pytest.fixture(scope="module")
def url(backend: OrthancBackend) -> str:
    assert backend.dicomweb_url is not None
    return backend.dicomweb_url


@pytest.fixture
def ws(url: str, journal: Journal) -> Workstation:
    """Only the DICOMweb side is used: its storage SCP is never started."""
    return Workstation("WS1", node="WS1", journal=journal, dicomweb_url=url)


@pytest.fixture(scope="module")
def study(backend: OrthancBackend) -> Study:
    """A small CT study, on an Orthanc that holds nothing else."""
    backend.wipe()
    return generate_study("CT", 31, series=1, instances=3)


@pytest.fixture(scope="module")
def stowed(url: str, journal: Journal, study: Study) -> Study:
    """The study, stored with STOW-RS (again, when the first test already did: Orthanc keeps one copy)."""
    outcome = Workstation("WS1", node="WS1", journal=journal).stow(url, study.datasets)
    assert outcome.ok, outcome
    return study


def test_stow_stores_every_instance_and_says_so_per_instance(backend: OrthancBackend, url: str, study: Study,
                                                             journal: Journal) -> None:
    ws = Workstation("WS1", node="WS1", journal=journal)  # built without a URL: it takes one per call
    outcome = ws.stow(url, study.datasets)
    assert (outcome.http_status, outcome.ok, outcome.unreported) == (200, True, ())
    assert [(i.sop_instance_uid, i.status) for i in outcome.instances] == [
        (uid, 0x0000) for uid in study.sop_instance_uids]
    # Retrieve URLs are built from our Host header, which must carry the port (RFC 9110 7.2).
    assert all(i.retrieve_url == f"{url}/studies/{study.study_instance_uid}/series/"
               f"{study.datasets[0].SeriesInstanceUID}/instances/{i.sop_instance_uid}" for i in outcome.instances)
    assert outcome.http_status_conforms
    assert backend.sop_instance_uids(study.study_instance_uid) == set(study.sop_instance_uids)
    entry = journal.select(node="WS1", kind="STOW-RS")[-1]
    assert (entry.status, entry.detail["http_status"], entry.detail["method"]) == (0x0000, 200, "POST")
    assert entry.detail["stored"] == 3 and entry.detail["bytes_sent"] > 3 * 64 * 64
    assert entry.bytes == entry.detail["bytes_sent"] + entry.detail["bytes_received"]


@pytest.mark.parametrize(("level", "keys", "expected"), [
    ("STUDY", {"PatientID": "{PatientID}"}, 1),
    ("STUDY", {"StudyInstanceUID": "{StudyInstanceUID}"}, 1),
    ("STUDY", {"PatientID": "{PatientID}", "ModalitiesInStudy": "CT"}, 1),
    ("STUDY", {"PatientID": "{PatientID}", "ModalitiesInStudy": "MR"}, 0),
    ("STUDY", {"PatientID": "NOBODY-AT-ALL"}, 0),
    ("SERIES", {"StudyInstanceUID": "{StudyInstanceUID}"}, 1),
    ("SERIES", {"StudyInstanceUID": "{StudyInstanceUID}", "Modality": "CT"}, 1),
    ("INSTANCE", {"StudyInstanceUID": "{StudyInstanceUID}"}, 3),
    ("IMAGE", {"PatientID": "{PatientID}"}, 3),
])
def test_qido_at_every_level_with_filters(ws: Workstation, url: str, stowed: Study, journal: Journal, level: str,
                                          keys: dict[str, str], expected: int) -> None:
    first = stowed.datasets[0]
    filters = {k: v.format(PatientID=first.PatientID, StudyInstanceUID=first.StudyInstanceUID)
               for k, v in keys.items()}
    matches = ws.qido(None, level, filters)
    assert len(matches) == expected
    for match in matches:
        assert match.StudyInstanceUID == first.StudyInstanceUID
        if "PatientID" in filters:  # a matching key is returned (PS3.18 10.6.3.3)
            assert match.PatientID == first.PatientID
        assert match.RetrieveURL.startswith(url + "/studies/")
    if level == "SERIES" and matches:
        assert matches[0].SeriesInstanceUID == first.SeriesInstanceUID and matches[0].Modality == "CT"
    if level in ("INSTANCE", "IMAGE"):
        assert {str(m.SOPInstanceUID) for m in matches} == set(stowed.sop_instance_uids)
    entry = journal.select(node="WS1", kind="QIDO-RS")[-1]
    assert (entry.status, entry.detail["http_status"], entry.detail["matches"]) == (0x0000, 200, expected)


def test_qido_returns_requested_fields(ws: Workstation, stowed: Study) -> None:
    first = stowed.datasets[0]
    [match] = ws.qido(None, "STUDY", {"StudyInstanceUID": str(first.StudyInstanceUID)},
                      fields=["NumberOfStudyRelatedInstances"])
    assert int(match.NumberOfStudyRelatedInstances) == 3


@pytest.mark.parametrize("scope", ["study", "series", "instances"])
def test_wado_gives_back_identical_instances(ws: Workstation, stowed: Study, scope: str) -> None:
    first = stowed.datasets[0]
    study_uid, series_uid = str(first.StudyInstanceUID), str(first.SeriesInstanceUID)
    if scope == "study":
        got = ws.wado(None, study_uid)
    elif scope == "series":
        got = ws.wado(None, study_uid, series_uid)
    else:
        got = ws.wado(None, study_uid, series_uid, stowed.sop_instance_uids)
    assert sorted(str(ds.SOPInstanceUID) for ds in got) == sorted(stowed.sop_instance_uids)
    assert ws.compare(stowed.datasets) == []  # attributes, pixel data, each delivered once
    assert all(ws.deliveries[uid] == 1 for uid in stowed.sop_instance_uids)
    ws.wado(None, study_uid, series_uid, stowed.sop_instance_uids[:1])
    assert ws.compare(stowed.datasets[:1]) == [f"{stowed.sop_instance_uids[0]}: received 2 times"]


def test_unknown_study_is_a_404_failure(ws: Workstation, stowed: Study, url: str, journal: Journal) -> None:
    with pytest.raises(DicomWebFailure) as caught:
        ws.wado(None, "1.2.826.0.1.3680043.99.1")
    error = caught.value
    assert (error.status, error.method) == (404, "GET")
    assert error.url == f"{url}/studies/1.2.826.0.1.3680043.99.1"
    assert "HTTP 404 Not Found" in str(error) and "inexistent" in error.body  # Orthanc's own explanation
    entry = journal.select(node="WS1", kind="WADO-RS")[-1]
    assert (entry.status, entry.detail["http_status"]) == (None, 404)


def test_url_without_the_dicomweb_root_is_a_404_not_an_empty_result(ws: Workstation, backend: OrthancBackend,
                                                                    stowed: Study) -> None:
    with pytest.raises(DicomWebFailure, match=r"GET .*/nothere/studies\?PatientID=.* answered HTTP 404") as caught:
        ws.qido(backend.http_url + "/nothere", "STUDY", {"PatientID": str(stowed.datasets[0].PatientID)})
    assert caught.value.status == 404
    assert "service root" in str(caught.value)


def test_nothing_listening_names_the_url(ws: Workstation, journal: Journal) -> None:
    dead = f"http://127.0.0.1:{free_port()}/dicom-web"
    with pytest.raises(DicomWebFailure, match=rf"cannot reach the DICOMweb service at {dead}/studies") as caught:
        ws.qido(dead, "STUDY", {"PatientID": "X"})
    assert caught.value.status is None and "connection refused" in str(caught.value)
    entry = journal.select(node="WS1", kind="QIDO-RS")[-1]
    assert (entry.status, entry.meaning, entry.detail["http_status"]) == (None, "no HTTP answer", None)


def test_stow_refusals_are_per_instance_results(ws: Workstation, backend: OrthancBackend, stowed: Study) -> None:
    first = stowed.datasets[0]
    no_study = copy.deepcopy(stowed.datasets[1])
    no_study.SOPInstanceUID = "1.2.826.0.1.3680043.99.2"
    del no_study.StudyInstanceUID
    refused = ws.stow(None, [no_study])
    # PS3.18 Table 10.5.3-1: none stored -> 400 or 409; Orthanc answers 400 with Failure Reason 0xC000.
    assert refused.http_status in (400, 409) and refused.http_status_conforms
    assert [(i.sop_instance_uid, i.stored) for i in refused.instances] == [("1.2.826.0.1.3680043.99.2", False)]
    assert refused.failed[0].status == 0xC000 and refused.failed[0].meaning == "Cannot Understand"

    other_study = copy.deepcopy(stowed.datasets[2])
    other_study.SOPInstanceUID = "1.2.826.0.1.3680043.99.3"
    other_study.StudyInstanceUID = "1.2.826.0.1.3680043.99.4"
    mixed = ws.stow(None, [other_study, first], study_uid=str(first.StudyInstanceUID))
    assert [i.sop_instance_uid for i in mixed.stored] == [str(first.SOPInstanceUID)]
    assert [i.sop_instance_uid for i in mixed.failed] == ["1.2.826.0.1.3680043.99.3"]
    assert mixed.expected_http_statuses == (202,)
    # Orthanc 1.10.1 / DICOMweb 1.7 answers 409 here although one instance was stored (the table says 202).
    assert mixed.http_status in (202, 409)
    assert "1.2.826.0.1.3680043.99.3" not in backend.sop_instance_uids()


def test_orthanc_rest_root_instead_of_dicomweb_root_is_caught(ws: Workstation, backend: OrthancBackend,
                                                              stowed: Study) -> None:
    # Orthanc's own REST API answers GET /studies with 200 and a list of its internal IDs, whatever the filter.
    with pytest.raises(DicomWebFailure, match=r"answered HTTP 200 OK.*not DICOM JSON.*'/dicom-web'") as caught:
        ws.qido(backend.http_url, "STUDY", {"PatientID": "NOBODY-AT-ALL"})
    assert caught.value.status == 200
    with pytest.raises(DicomWebFailure, match="HTTP 405") as refused:
        ws.stow(backend.http_url, stowed.datasets[:1])
    assert (refused.value.status, refused.value.method) == (405, "POST")


def test_a_server_that_never_answers_times_out(journal: Journal) -> None:
    with socket.socket() as silent:  # the kernel accepts the connection; nobody ever reads or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/dicom-web"
        ws = Workstation("WS1", node="WS1", journal=journal, dicomweb_url=url, dicomweb_timeout=0.5)
        with pytest.raises(DicomWebFailure, match=r"no answer within 0\.5s") as caught:
            ws.qido(None, "STUDY", {})
    assert caught.value.status is None and caught.value.url == url + "/studies"
