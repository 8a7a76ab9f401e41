"""The QA node over real sockets: accept and forward, reject with status and comment, survive a PACS outage
and its own restart without losing an acknowledged instance."""

from __future__ import annotations

import time
from pathlib import Path

from simulator.journal import Journal
from simulator.net import DicomClient
from simulator.net.ports import free_port
from simulator.nodes.archive import EmbeddedArchive
from simulator.nodes.qa import QANode
from simulator.synth import Study, apply_defect, build_ct_study


def _wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return bool(predicate())  # type: ignore[operator]


def test_accepted_instances_reach_the_pacs(tmp_path: Path, journal: Journal, archive: EmbeddedArchive,
                                           small_study: Study) -> None:
    qa = QANode(tmp_path / "qa", journal=journal, forward_to=archive.endpoint)
    endpoint = qa.start()
    try:
        outcomes = DicomClient("CT1", node="CT1").store(endpoint, small_study.datasets)
        assert {o.status for o in outcomes} == {0}
        assert qa.drain(timeout=30)
    finally:
        qa.stop(timeout=10)
    assert archive.index.sop_instance_uids(small_study.study_instance_uid) == set(small_study.sop_instance_uids)


def test_rejected_instance_gets_status_and_comment_and_is_not_forwarded(tmp_path: Path, journal: Journal,
                                                                         archive: EmbeddedArchive) -> None:
    study = build_ct_study(5, series=1, instances=2, rows=16, columns=16)
    apply_defect(study.datasets[0], "missing-patient-id")
    apply_defect(study.datasets[1], "uid-invalid-chars")
    qa = QANode(tmp_path / "qa", journal=journal, forward_to=archive.endpoint)
    endpoint = qa.start()
    try:
        outcomes = DicomClient("CT1", node="CT1").store(endpoint, study.datasets)
        assert qa.drain(timeout=10)
    finally:
        qa.stop(timeout=10)
    assert [(o.status, o.comment) for o in outcomes] == [
        (0xA900, "QA: PatientID (0010,0020) missing"),
        (0xC000, "QA: SeriesInstanceUID is not a valid UID"),
    ]
    assert archive.index.sop_instance_uids() == set()


def test_pacs_down_then_up_everything_arrives(tmp_path: Path, journal: Journal, small_study: Study) -> None:
    port = free_port()
    archive = EmbeddedArchive(tmp_path / "arc", journal=journal)
    from simulator.config import Endpoint

    qa = QANode(tmp_path / "qa", journal=journal,
                forward_to=Endpoint(ae_title="RADSIM_PACS", host="127.0.0.1", port=port))
    endpoint = qa.start()
    try:
        outcomes = DicomClient("CT1", node="CT1").store(endpoint, small_study.datasets)
        assert {o.status for o in outcomes} == {0}  # acknowledged while the PACS is down: it is spooled
        assert _wait_for(lambda: qa.forwarder.last_error is not None, 10)
        assert qa.spool.count("PACS") == len(small_study)
        archive.start("127.0.0.1", port)
        assert _wait_for(lambda: qa.spool.count("PACS") == 0, 60)
    finally:
        qa.stop(timeout=10)
        archive.stop(timeout=10)
    reopened = EmbeddedArchive(tmp_path / "arc")
    try:
        assert reopened.index.sop_instance_uids() == set(small_study.sop_instance_uids)
    finally:
        reopened.stop()


def test_restart_resumes_the_queue(tmp_path: Path, journal: Journal, archive: EmbeddedArchive,
                                   small_study: Study) -> None:
    from simulator.config import Endpoint

    nowhere = Endpoint(ae_title="RADSIM_PACS", host="127.0.0.1", port=free_port())
    first = QANode(tmp_path / "qa", journal=journal, forward_to=nowhere)
    endpoint = first.start()
    try:
        DicomClient("CT1", node="CT1").store(endpoint, small_study.datasets)
    finally:
        first.stop(timeout=10)
    second = QANode(tmp_path / "qa", journal=journal, forward_to=archive.endpoint)
    second.start()
    try:
        assert second.drain(timeout=30)
    finally:
        second.stop(timeout=10)
    assert archive.index.sop_instance_uids() == set(small_study.sop_instance_uids)
