"""The QA forwarder accounts per instance (what the PACS acknowledged is never sent again) and sets aside what the
PACS will never accept without holding the queue. (A PACS that refuses a second simultaneous association is
dcmqrscp --no-parallel-store: tests/e2e/pacs/test_dcmqrscp.py.)"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from simulator.config import Endpoint
from simulator.journal import Journal
from simulator.net import DicomClient, DicomServer, StoreReply, StoreRequest
from simulator.nodes.archive import EmbeddedArchive
from simulator.nodes.qa import QANode
from simulator.nodes.qa.ledger import State
from simulator.nodes.qa.service import retry, status
from simulator.synth import Study, build_ct_study
from tests.conftest import listening, wait_for


class StallingPacs:
    """A storage SCP that counts every C-STORE it gets and, the first time it sees ``stall_uid``, answers only after
    ``stall_s`` (longer than the sender waits): that sender's association fails mid-batch."""

    def __init__(self, journal: Journal, stall_uid: str, stall_s: float) -> None:
        self.received: Counter[str] = Counter()
        self.stall_uid = stall_uid
        self.stall_s = stall_s
        self._stalled = threading.Event()
        self._lock = threading.Lock()
        self.server = DicomServer("STALL_PACS", node="PACS", journal=journal, store=self._on_store)

    def _on_store(self, request: StoreRequest) -> StoreReply:
        with self._lock:
            self.received[request.sop_instance_uid] += 1
        if request.sop_instance_uid == self.stall_uid and not self._stalled.is_set():
            self._stalled.set()
            threading.Event().wait(self.stall_s)  # a slow peer on purpose, not a readiness wait
        return StoreReply(0x0000)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Endpoint:
        return self.server.start(host, port)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.stop(timeout)


@pytest.fixture
def study() -> Study:
    return build_ct_study(301, series=1, instances=12, rows=16, columns=16)


def test_instances_acknowledged_before_a_lane_fails_are_not_sent_again(tmp_path: Path, journal: Journal,
                                                                      study: Study) -> None:
    """Regression: with two forwarding associations, one failing lane made the whole batch a network error and
    every instance answered 0x0000 on the other lane was sent again."""
    uids = study.sop_instance_uids
    stall = uids[2]  # on lane 0 (the batch is dealt 0, 2, 4 ... / 1, 3, 5 ...)
    with listening(StallingPacs(journal, stall, stall_s=2.5)) as pacs:
        qa = QANode(tmp_path / "qa", journal=journal, forward_to=pacs.server.endpoint, forward_associations=2,
                    forward_timeout_s=1.0)
        with listening(qa):
            outcomes = DicomClient("CT1", node="CT1").store(qa.endpoint, study.datasets)  # type: ignore[arg-type]
            assert {o.status for o in outcomes} == {0}
            assert wait_for(lambda: qa.ledger.counts()["forwarded"] == len(uids), 30), qa.forwarder.last_error
            entries = {uid: qa.ledger.get(uid) for uid in uids}
    assert set(pacs.received) == set(uids)
    answered_first_time = [uid for index, uid in enumerate(uids) if index % 2 == 1 or index < 2]
    assert all(pacs.received[uid] == 1 for uid in answered_first_time), pacs.received
    assert pacs.received[stall] == 2  # it got no response, so it was sent again
    assert all(entry is not None and entry.state is State.FORWARDED for entry in entries.values())
    assert all(entries[uid].attempts == 1 for uid in answered_first_time)  # type: ignore[union-attr]


def test_an_instance_the_pacs_never_accepts_is_parked_and_the_rest_go_on(tmp_path: Path, journal: Journal,
                                                                         study: Study) -> None:
    """Regression: "accepted no presentation context" was retried every 30 s for ever, and every later study
    waited behind it. A SOP class the PACS does not support is refused permanently: parked with its reason, and
    'radsim qa retry' queues it again once the PACS takes it."""
    from simulator.synth import generate_study

    mr = generate_study("MR", 303, series=1, instances=2)
    mr_only = EmbeddedArchive(tmp_path / "mr-only", journal=journal,
                              storage_classes=["1.2.840.10008.5.1.4.1.1.4"])  # MR Image Storage, no CT
    with listening(mr_only):
        qa = QANode(tmp_path / "qa", journal=journal, forward_to=mr_only.endpoint)
        with listening(qa):
            client = DicomClient("CT1", node="CT1")
            assert {o.status for o in client.store(qa.endpoint, study.datasets)} == {0}  # type: ignore[arg-type]
            assert {o.status for o in client.store(qa.endpoint, mr.datasets)} == {0}  # type: ignore[arg-type]
            # The ledger hears after the file moved (see Forwarder): wait for the ledger, not the queue.
            assert wait_for(lambda: qa.ledger.counts()["failed"] == len(study)
                            and qa.ledger.counts()["forwarded"] == len(mr), 20), qa.forwarder.last_error
            entry = qa.ledger.get(study.sop_instance_uids[0])
            trail = [event.event for event in qa.ledger.audit(study.sop_instance_uids[0])]
        held = mr_only.index.sop_instance_uids()
    assert held == set(mr.sop_instance_uids)  # the MR study was not held up behind the CT one
    assert entry is not None and entry.state is State.FAILED and entry.last_status is None
    assert "no presentation context for CT Image Storage" in entry.reason
    assert "abstract syntax not supported" in entry.reason
    assert "parked" in trail
    report = status(tmp_path / "qa")
    assert report["states"]["failed"] == len(study) and report["parked_total"] == len(study)
    assert {row["reason"] for row in report["parked"]} == {entry.reason}

    archive = EmbeddedArchive(tmp_path / "any", journal=journal)
    with listening(archive):
        qa = QANode(tmp_path / "qa", journal=journal, forward_to=archive.endpoint)
        with listening(qa):
            assert len(retry(tmp_path / "qa", every=True)) == len(study)
            qa.forwarder.notify()
            assert wait_for(lambda: qa.ledger.counts()["forwarded"] == len(study) + len(mr), 20)
        assert archive.index.sop_instance_uids() == set(study.sop_instance_uids)


def test_an_unreadable_file_in_the_queue_is_parked_not_fatal(tmp_path: Path, journal: Journal,
                                                             archive: EmbeddedArchive, study: Study) -> None:
    """A queued file that cannot be read (a disk fault) is set aside with the reason; the forwarder lives on."""
    qa = QANode(tmp_path / "qa", journal=journal, forward_to=archive.endpoint)
    broken = qa.spool.put("PACS", "1.2.3.4.5", b"not a DICOM file at all")
    with listening(qa):
        assert {o.status for o in DicomClient("CT1", node="CT1").store(qa.endpoint, study.datasets)} == {0}  # type: ignore[arg-type]
        assert wait_for(lambda: len(archive.index.sop_instance_uids()) == len(study), 20), qa.forwarder.last_error
        assert wait_for(lambda: not broken.path.exists() and qa.forwarder.parked == 1, 10)


class BusyPacs:
    """Answers 0xA700 (Refused: Out of Resources) the first ``times`` C-STOREs of ``busy_uid``, then success."""

    def __init__(self, journal: Journal, busy_uid: str, times: int) -> None:
        self.busy_uid = busy_uid
        self.left = times
        self.stored: Counter[str] = Counter()
        self.server = DicomServer("BUSY_PACS", node="PACS", journal=journal, store=self._on_store)

    def _on_store(self, request: StoreRequest) -> StoreReply:
        if request.sop_instance_uid == self.busy_uid and self.left > 0:
            self.left -= 1
            return StoreReply(0xA700, "busy")
        self.stored[request.sop_instance_uid] += 1
        return StoreReply(0x0000)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Endpoint:
        return self.server.start(host, port)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.stop(timeout)


@pytest.mark.parametrize(("times", "parked"), [(2, False), (9, True)])
def test_out_of_resources_is_retried_then_set_aside(tmp_path: Path, journal: Journal, study: Study, times: int,
                                                   parked: bool) -> None:
    """0xA7xx means "not now" (PS3.4 B.2.3): the instance stays queued and is sent again; after five such answers
    in a row it is set aside like any refusal. The other instances go on meanwhile."""
    busy = study.sop_instance_uids[3]
    with listening(BusyPacs(journal, busy, times)) as pacs:
        qa = QANode(tmp_path / "qa", journal=journal, forward_to=pacs.server.endpoint)
        qa.forwarder.max_backoff_s = 0.5
        with listening(qa):
            assert {o.status for o in DicomClient("CT1", node="CT1").store(qa.endpoint, study.datasets)} == {0}  # type: ignore[arg-type]
            final = "failed" if parked else "forwarded"
            assert wait_for(lambda: str(getattr(qa.ledger.get(busy), "state", "")) == final, 30)
            entry = qa.ledger.get(busy)
    assert set(pacs.stored) == set(study.sop_instance_uids) - ({busy} if parked else set())
    assert all(count == 1 for count in pacs.stored.values())
    assert entry is not None and entry.attempts == (5 if parked else times + 1)
