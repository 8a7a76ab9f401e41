"""DCMTK command-line tools against ``radsim serve archive`` and ``radsim serve qa`` as real processes; no mocks.

Every process started here (radsim nodes, DCMTK ``storescp``) runs with ``TCP_NODELAY=1`` (the ~40 ms Nagle stall
per response, see DESIGN.md) and is stopped in fixture teardown: terminate, wait, then kill. Responses of ``findscu``
are extracted to files (``-X -od``) and read with pydicom rather than parsed from its log.
"""

from __future__ import annotations

import copy
import fnmatch
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from simulator.config import Endpoint
from simulator.net import DicomClient
from simulator.net.ports import free_port
from simulator.synth import build_ct_study
from simulator.synth.study import Study
from tests.conftest import require_binary, stop_process, wait_for_echo

pytestmark = pytest.mark.dcmtk

HOST = "127.0.0.1"
ARCHIVE_AET = "RADSIM_ARCH"
QA_AET = "RADSIM_QA"
DEST_AET = "DEST"
SCU_AET = "PYTEST"
_CONSOLE_SCRIPT = Path(sys.executable).with_name("radsim")  # the installed entry point, as users run it
RADSIM = [str(_CONSOLE_SCRIPT)] if _CONSOLE_SCRIPT.exists() else [sys.executable, "-m", "simulator.cli"]
READY_TIMEOUT_S = 20.0
ARRIVAL_TIMEOUT_S = 20.0
TOOL_TIMEOUT_S = 60.0


# -- processes ---------------------------------------------------------------------------------------------------


@dataclass
class Service:
    """A listening process we started, with the file its stdout and stderr go to."""

    name: str
    process: subprocess.Popen[bytes]
    endpoint: Endpoint
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


def _stop(service: Service) -> None:
    stop_process(service.process)


def _wait_ready(service: Service) -> None:
    wait_for_echo(service.endpoint, service.process, service.log_text, READY_TIMEOUT_S)


Spawn = Callable[[str, Sequence[str], Endpoint], Service]


@pytest.fixture
def spawn(tmp_path: Path, dcmtk_env: dict[str, str]) -> Iterator[Spawn]:
    """Start a listening process, wait until it answers C-ECHO; every one is stopped at teardown (newest first)."""
    started: list[Service] = []

    def _spawn(name: str, argv: Sequence[str], endpoint: Endpoint) -> Service:
        log = tmp_path / f"{name}.log"
        with open(log, "wb") as handle:
            proc = subprocess.Popen(list(argv), stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=dcmtk_env, cwd=tmp_path)
        service = Service(name, proc, endpoint, log)
        started.append(service)
        _wait_ready(service)
        return service

    try:
        yield _spawn
    finally:
        for service in reversed(started):
            _stop(service)


@pytest.fixture
def dest_port() -> int:
    """Port of the C-MOVE destination DEST, registered at the archive whether or not a test starts it."""
    return free_port()


@pytest.fixture
def archive(spawn: Spawn, tmp_path: Path, dest_port: int) -> Service:
    endpoint = Endpoint(ae_title=ARCHIVE_AET, host=HOST, port=free_port())
    return spawn("archive", [
        *RADSIM, "serve", "archive", "--aet", ARCHIVE_AET, "--host", HOST, "--port", str(endpoint.port),
        "--data", str(tmp_path / "archive-data"), "--peer", f"{DEST_AET}@{HOST}:{dest_port}",
    ], endpoint)


@pytest.fixture
def qa(spawn: Spawn, tmp_path: Path, archive: Service) -> Service:
    endpoint = Endpoint(ae_title=QA_AET, host=HOST, port=free_port())
    return spawn("qa", [
        *RADSIM, "serve", "qa", "--aet", QA_AET, "--host", HOST, "--port", str(endpoint.port),
        "--data", str(tmp_path / "qa-data"), "--forward", str(archive.endpoint),
    ], endpoint)


@pytest.fixture
def storescp(spawn: Spawn, tmp_path: Path, dest_port: int) -> tuple[Service, Path]:
    """DCMTK's storescp as the C-MOVE destination DEST; returns it and the folder it writes into."""
    binary = require_binary("storescp", "dcmtk")
    folder = tmp_path / "storescp-out"
    folder.mkdir()
    endpoint = Endpoint(ae_title=DEST_AET, host=HOST, port=dest_port)
    service = spawn("storescp", [binary, "-aet", DEST_AET, "--output-directory", str(folder), str(dest_port)],
                    endpoint)
    return service, folder


def dcmtk(tool: str, args: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = require_binary(tool, "dcmtk")
    return subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S,
                          check=False)


def output_of(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit code {result.returncode}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"


# -- data and assertions -------------------------------------------------------------------------------------------


def make_study(seed: int, tmp_path: Path) -> tuple[Study, Path]:
    study = build_ct_study(seed, series=2, instances=3, rows=64, columns=64)
    folder = tmp_path / f"study-{seed}"
    study.write(folder)
    return study, folder


def store(endpoint: Endpoint, *studies: Study) -> None:
    datasets = [ds for study in studies for ds in study.datasets]
    outcomes = DicomClient(SCU_AET, node="test").store(endpoint, datasets)
    assert [o.status for o in outcomes] == [0x0000] * len(datasets), [o.comment for o in outcomes]


def image_level_uids(endpoint: Endpoint, study: Study) -> set[str]:
    """SOP Instance UIDs the archive lists for ``study`` (hierarchical IMAGE-level C-FIND, one per series)."""
    client = DicomClient(SCU_AET, node="test")
    found: set[str] = set()
    for series_uid in study.series_instance_uids:
        query = Dataset()
        query.QueryRetrieveLevel = "IMAGE"
        query.StudyInstanceUID = study.study_instance_uid
        query.SeriesInstanceUID = series_uid
        query.SOPInstanceUID = ""
        found.update(str(ds.SOPInstanceUID) for ds in client.find(endpoint, query, model="study"))
    return found


def wait_for_instances(endpoint: Endpoint, study: Study, expected: set[str], what: str) -> set[str]:
    """Poll the archive until it lists at least ``expected`` for ``study``; return what it listed."""
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
    found: set[str] = set()
    while time.monotonic() < deadline:
        found = image_level_uids(endpoint, study)
        if found >= expected:
            return found
        time.sleep(0.1)
    pytest.fail(f"{what}: after {ARRIVAL_TIMEOUT_S:.0f}s the archive lists {len(found & expected)} of "
                f"{len(expected)} instances; missing {sorted(expected - found)}")


def read_folder(folder: Path) -> dict[str, Dataset]:
    """Every DICOM file under ``folder`` by SOP Instance UID (a duplicate UID fails the test)."""
    by_uid: dict[str, Dataset] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        ds = dcmread(path)
        uid = str(ds.SOPInstanceUID)
        assert uid not in by_uid, f"{uid} received twice ({path.name})"
        by_uid[uid] = ds
    return by_uid


def extracted_responses(folder: Path) -> list[Dataset]:
    """findscu's ``-X`` output (rsp0001.dcm ...), in response order."""
    return [dcmread(path) for path in sorted(folder.glob("rsp*.dcm"))]


# -- 1. storescu -> QA node -> archive -----------------------------------------------------------------------------


def test_storescu_study_passes_the_qa_node_into_the_archive(
        qa: Service, archive: Service, tmp_path: Path, dcmtk_env: dict[str, str]) -> None:
    study, folder = make_study(11, tmp_path)
    expected = set(study.sop_instance_uids)
    assert len(expected) == 6 and len(study.series_instance_uids) == 2

    result = dcmtk("storescu", ["-aec", QA_AET, "-aet", "STORESCU", "+sd", "+r", HOST, str(qa.endpoint.port),
                                str(folder)], dcmtk_env)
    assert result.returncode == 0, output_of(result)

    found = wait_for_instances(archive.endpoint, study, expected, "storescu -> QA -> archive")
    assert found == expected


@pytest.mark.parametrize(("defect", "status_name"), [
    ("no-patient-id", "DataSetDoesNotMatchSOPClass"),  # 0xA900
    ("invalid-series-uid", "CannotUnderstand"),  # 0xC000
])
def test_storescu_defective_instance_is_refused_and_never_forwarded(
        defect: str, status_name: str, qa: Service, archive: Service, tmp_path: Path,
        dcmtk_env: dict[str, str]) -> None:
    study = build_ct_study(12, series=1, instances=2, rows=32, columns=32)
    good, bad = study.datasets[0], copy.deepcopy(study.datasets[1])
    bad_path, good_path = tmp_path / "bad.dcm", tmp_path / "good.dcm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid UID we write on purpose
        if defect == "no-patient-id":
            del bad.PatientID
        else:
            bad.SeriesInstanceUID = "1.2.03.4"  # leading zero in a component: invalid (PS3.5 9.1)
        bad.save_as(bad_path, enforce_file_format=True)
    good.save_as(good_path, enforce_file_format=True)

    refused = dcmtk("storescu", ["-v", "-aec", QA_AET, "-aet", "STORESCU", HOST, str(qa.endpoint.port),
                                 str(bad_path)], dcmtk_env)
    assert refused.returncode != 0, output_of(refused)
    assert status_name in refused.stdout + refused.stderr, output_of(refused)

    # A valid instance sent afterwards goes through the same FIFO forwarder; once it is in the archive, anything
    # the QA node had queued before it has been forwarded too, so the refused one's absence is meaningful.
    accepted = dcmtk("storescu", ["-aec", QA_AET, "-aet", "STORESCU", HOST, str(qa.endpoint.port), str(good_path)],
                     dcmtk_env)
    assert accepted.returncode == 0, output_of(accepted)
    client = DicomClient(SCU_AET, node="test")
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
    listed: set[str] = set()
    while str(good.SOPInstanceUID) not in listed:
        assert time.monotonic() < deadline, f"the valid instance never reached the archive (listed: {listed})"
        # A list of series UIDs above IMAGE level is a relational query (PS3.4 C.4.1.2.2.2).
        query = Dataset()
        query.QueryRetrieveLevel = "IMAGE"
        query.StudyInstanceUID = study.study_instance_uid
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the list may hold the invalid UID
            query.SeriesInstanceUID = "\\".join(sorted({str(good.SeriesInstanceUID), str(bad.SeriesInstanceUID)}))
        query.SOPInstanceUID = ""
        listed = {str(ds.SOPInstanceUID) for ds in client.find(archive.endpoint, query, relational=True)}
        time.sleep(0.05)
    assert listed == {str(good.SOPInstanceUID)}


# -- 2. findscu against the archive ---------------------------------------------------------------------------------


@pytest.fixture
def two_patients(archive: Service) -> tuple[Study, Study]:
    """Two studies of two different patients stored in the archive with our SCU."""
    first = build_ct_study(21, series=2, instances=3, rows=32, columns=32)
    second = build_ct_study(22, series=1, instances=2, rows=32, columns=32)
    assert first.patient_id != second.patient_id
    assert str(first.datasets[0].PatientName) != str(second.datasets[0].PatientName)
    store(archive.endpoint, first, second)
    return first, second


def test_findscu_study_root_study_level(archive: Service, two_patients: tuple[Study, Study], tmp_path: Path,
                                        dcmtk_env: dict[str, str]) -> None:
    study, _ = two_patients
    out = tmp_path / "find-study"
    out.mkdir()
    result = dcmtk("findscu", [
        "-S", "-aec", ARCHIVE_AET, "-aet", "FINDSCU", "-X", "-od", str(out),
        "-k", "QueryRetrieveLevel=STUDY", "-k", f"PatientID={study.patient_id}", "-k", "StudyInstanceUID",
        "-k", "NumberOfStudyRelatedInstances", "-k", "NumberOfStudyRelatedSeries",
        HOST, str(archive.endpoint.port)], dcmtk_env)
    assert result.returncode == 0, output_of(result)
    responses = extracted_responses(out)
    assert len(responses) == 1, output_of(result)
    (match,) = responses
    assert match.StudyInstanceUID == study.study_instance_uid
    assert match.PatientID == study.patient_id
    assert match.QueryRetrieveLevel == "STUDY"
    assert int(match.NumberOfStudyRelatedInstances) == len(study)
    assert int(match.NumberOfStudyRelatedSeries) == len(study.series_instance_uids)


def test_findscu_responses_name_the_archive_as_retrieve_ae_title(
        archive: Service, two_patients: tuple[Study, Study], tmp_path: Path, dcmtk_env: dict[str, str]) -> None:
    study, _ = two_patients
    out = tmp_path / "find-retrieve-aet"
    out.mkdir()
    result = dcmtk("findscu", [
        "-S", "-aec", ARCHIVE_AET, "-aet", "FINDSCU", "-X", "-od", str(out),
        "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study.study_instance_uid}",
        "-k", "RetrieveAETitle", HOST, str(archive.endpoint.port)], dcmtk_env)
    assert result.returncode == 0, output_of(result)
    responses = extracted_responses(out)
    assert len(responses) == 1, output_of(result)
    assert responses[0].get("RetrieveAETitle") == ARCHIVE_AET


def test_findscu_patient_root_patient_and_study_levels(archive: Service, two_patients: tuple[Study, Study],
                                                       tmp_path: Path, dcmtk_env: dict[str, str]) -> None:
    _, study = two_patients
    for level in ("PATIENT", "STUDY"):
        out = tmp_path / f"find-patient-root-{level}"
        out.mkdir()
        keys = ["-k", f"QueryRetrieveLevel={level}", "-k", f"PatientID={study.patient_id}", "-k", "PatientName"]
        if level == "STUDY":
            keys += ["-k", "StudyInstanceUID"]
        result = dcmtk("findscu", ["-P", "-aec", ARCHIVE_AET, "-aet", "FINDSCU", "-X", "-od", str(out), *keys,
                                   HOST, str(archive.endpoint.port)], dcmtk_env)
        assert result.returncode == 0, output_of(result)
        responses = extracted_responses(out)
        assert len(responses) == 1, f"{level}: {output_of(result)}"
        (match,) = responses
        assert match.PatientID == study.patient_id
        assert str(match.PatientName) == str(study.datasets[0].PatientName)
        if level == "STUDY":
            assert match.StudyInstanceUID == study.study_instance_uid


def test_findscu_wildcard_patient_name(archive: Service, two_patients: tuple[Study, Study], tmp_path: Path,
                                       dcmtk_env: dict[str, str]) -> None:
    names = {study.patient_id: str(study.datasets[0].PatientName) for study in two_patients}
    target = str(two_patients[0].datasets[0].PatientName)
    pattern = target.split("^")[0][:3] + "*"  # e.g. "Ste*": a prefix of the family name
    expected = {pid for pid, name in names.items() if fnmatch.fnmatchcase(name, pattern)}
    assert two_patients[0].patient_id in expected

    out = tmp_path / "find-wildcard"
    out.mkdir()
    result = dcmtk("findscu", [
        "-P", "-aec", ARCHIVE_AET, "-aet", "FINDSCU", "-X", "-od", str(out),
        "-k", "QueryRetrieveLevel=PATIENT", "-k", f"PatientName={pattern}", "-k", "PatientID",
        HOST, str(archive.endpoint.port)], dcmtk_env)
    assert result.returncode == 0, output_of(result)
    responses = extracted_responses(out)
    assert {str(ds.PatientID) for ds in responses} == expected
    assert len(responses) == len(expected)
    for ds in responses:
        assert fnmatch.fnmatchcase(str(ds.PatientName), pattern)


# -- 3. movescu -> archive -> storescp ------------------------------------------------------------------------------


def test_movescu_study_lands_in_storescp(archive: Service, storescp: tuple[Service, Path],
                                         two_patients: tuple[Study, Study], dcmtk_env: dict[str, str]) -> None:
    study, other = two_patients
    _, folder = storescp
    result = dcmtk("movescu", [
        "-S", "-aec", ARCHIVE_AET, "-aet", "MOVESCU", "-aem", DEST_AET,
        "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study.study_instance_uid}",
        HOST, str(archive.endpoint.port)], dcmtk_env)
    assert result.returncode == 0, output_of(result)
    # storescp writes each file before it answers the C-STORE, and the final C-MOVE response follows the last one.
    received = read_folder(folder)
    assert set(received) == set(study.sop_instance_uids)
    assert not set(received) & set(other.sop_instance_uids)


def test_movescu_to_unknown_destination_fails(archive: Service, two_patients: tuple[Study, Study],
                                              dcmtk_env: dict[str, str]) -> None:
    study, _ = two_patients
    result = dcmtk("movescu", [
        "-v", "-S", "-aec", ARCHIVE_AET, "-aet", "MOVESCU", "-aem", "NOBODY",
        "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study.study_instance_uid}",
        HOST, str(archive.endpoint.port)], dcmtk_env)
    assert result.returncode != 0, output_of(result)
    assert "MoveDestinationUnknown" in result.stdout + result.stderr, output_of(result)  # status 0xA801


# -- 4. getscu against the archive --------------------------------------------------------------------------------


def test_getscu_retrieves_byte_identical_pixel_data(archive: Service, two_patients: tuple[Study, Study],
                                                    tmp_path: Path, dcmtk_env: dict[str, str]) -> None:
    study, other = two_patients
    out = tmp_path / "getscu-out"
    out.mkdir()
    result = dcmtk("getscu", [
        "-S", "-aec", ARCHIVE_AET, "-aet", "GETSCU", "-od", str(out),
        "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study.study_instance_uid}",
        HOST, str(archive.endpoint.port)], dcmtk_env)
    assert result.returncode == 0, output_of(result)
    received = read_folder(out)
    assert set(received) == set(study.sop_instance_uids)
    assert not set(received) & set(other.sop_instance_uids)
    for sent in study.datasets:
        got = received[str(sent.SOPInstanceUID)]
        assert (got.Rows, got.Columns, got.BitsAllocated) == (sent.Rows, sent.Columns, sent.BitsAllocated)
        assert bytes(got.PixelData) == bytes(sent.PixelData), f"pixel data of {sent.SOPInstanceUID} differs"
