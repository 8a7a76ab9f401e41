"""The QA node over real sockets: accept and forward, reject with status and comment, survive a PACS outage
and its own restart without losing an acknowledged instance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from typer.testing import CliRunner, Result

from simulator.errors import HarnessError
from simulator.journal import Journal
from simulator.net import DicomClient
from simulator.net.ports import free_port
from simulator.nodes.archive import EmbeddedArchive
from simulator.nodes.qa import QANode
from simulator.nodes.qa.rules import Action, Violation
from simulator.synth import Study, apply_defect, build_ct_study
from tests.conftest import wait_for


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
        assert wait_for(lambda: qa.forwarder.last_error is not None, 10)
        assert qa.spool.count("PACS") == len(small_study)
        archive.start("127.0.0.1", port)
        assert wait_for(lambda: qa.spool.count("PACS") == 0, 60)
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


# -- ledger, idempotency, conflicts, operator commands, out of resources ------------------------------------------

def _archive_stores(journal: Journal, archive: EmbeddedArchive, uid: str) -> int:
    return sum(1 for e in journal.select(node=archive.node, kind="C-STORE", role="SCP")
               if e.detail.get("sop_instance_uid") == uid)


def _qa(*args: str) -> Result:
    from simulator.cli import app

    return CliRunner().invoke(app, ["qa", *args])


def test_identical_resend_is_idempotent(tmp_path: Path, journal: Journal, archive: EmbeddedArchive,
                                        small_study: Study) -> None:
    qa = QANode(tmp_path / "qa", journal=journal, forward_to=archive.endpoint)
    endpoint = qa.start()
    try:
        client = DicomClient("CT1", node="CT1")
        assert {o.status for o in client.store(endpoint, small_study.datasets)} == {0}
        assert qa.drain(timeout=30)
        again = client.store(endpoint, small_study.datasets)
        assert {o.status for o in again} == {0}
        assert qa.spool.count("PACS") == 0 and qa.drain(timeout=5)
    finally:
        qa.stop(timeout=10)
    uid = small_study.sop_instance_uids[0]
    assert _archive_stores(journal, archive, uid) == 1
    entry = qa.ledger.get(uid)
    assert entry is not None and entry.state == "forwarded" and entry.attempts == 1
    assert [e.event for e in qa.ledger.audit(uid)] == [
        "received", "verdict", "queued", "forward-attempt", "forwarded", "duplicate-ignored"]
    received = qa.ledger.audit(uid)[0].detail
    assert received["calling_ae"] == "CT1" and received["host"] == "127.0.0.1" and received["transfer_syntax"]


def test_conflict_is_quarantined_then_released_through_the_cli(tmp_path: Path, journal: Journal,
                                                               archive: EmbeddedArchive, small_study: Study) -> None:
    data = tmp_path / "qa"
    qa = QANode(data, journal=journal, forward_to=archive.endpoint)
    endpoint = qa.start()
    uid = small_study.sop_instance_uids[0]
    try:
        client = DicomClient("CT1", node="CT1")
        client.store(endpoint, small_study.datasets)
        assert qa.drain(timeout=30)
        changed = small_study.datasets[0].copy()
        changed.SeriesDescription = "reused SOP Instance UID"
        [outcome] = client.store(endpoint, [changed])
        assert outcome.status == 0x0000
        entry = qa.ledger.get(uid)
        assert entry is not None and entry.state == "quarantined"
        assert entry.reason == "conflict: different content under an existing SOP Instance UID"
        assert len(list((data / "quarantine").glob("*.dcm"))) == 1
        assert _archive_stores(journal, archive, uid) == 1

        listing = _qa("quarantine", "list", "--data", str(data), "--json")
        assert listing.exit_code == 0, listing.output
        assert [e["sop_instance_uid"] for e in json.loads(listing.stdout)] == [uid]

        unknown = _qa("quarantine", "release", "1.2.3.999", "--data", str(data))
        assert unknown.exit_code == 2
        assert "unknown SOP Instance UID 1.2.3.999" in unknown.output

        released = _qa("quarantine", "release", uid, "--data", str(data))
        assert released.exit_code == 0, released.output
        # The running node's forwarder finds it at its next poll, without being told.
        assert wait_for(lambda: _archive_stores(journal, archive, uid) == 2, 15)
        assert wait_for(lambda: (e := qa.ledger.get(uid)) is not None and e.state == "forwarded", 10)
    finally:
        qa.stop(timeout=10)
    events = [e.event for e in qa.ledger.audit(uid)]
    assert events[-7:] == ["received", "conflict", "quarantined", "released", "queued", "forward-attempt",
                           "forwarded"]
    trail = _qa("audit", uid, "--data", str(data))
    assert trail.exit_code == 0 and "conflict" in trail.stdout


def test_status_counts_with_the_node_stopped(tmp_path: Path, journal: Journal, archive: EmbeddedArchive) -> None:
    from simulator.config import Endpoint

    study = build_ct_study(6, series=1, instances=3, rows=16, columns=16)
    apply_defect(study.datasets[0], "missing-patient-id")
    data = tmp_path / "qa"
    nowhere = Endpoint(ae_title="RADSIM_PACS", host="127.0.0.1", port=free_port())
    qa = QANode(data, journal=journal, forward_to=nowhere)
    endpoint = qa.start()
    try:
        DicomClient("CT1", node="CT1").store(endpoint, study.datasets)
        assert wait_for(lambda: qa.ledger.last_forward_error() is not None, 10)
    finally:
        qa.stop(timeout=10)
    result = _qa("status", "--data", str(data), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["states"]["queued"] == 2 and report["states"]["rejected"] == 1
    assert report["queue_length"] == 2 and report["quarantine_files"] == 0
    assert report["last_forward_error"] is not None
    table = _qa("status", "--data", str(data))
    assert table.exit_code == 0 and "queued" in table.stdout
    missing = _qa("status", "--data", str(tmp_path / "nope"))
    assert missing.exit_code == 2 and "not a QA node's data folder" in missing.output


def test_disk_error_answers_out_of_resources(tmp_path: Path, journal: Journal, archive: EmbeddedArchive,
                                              small_study: Study) -> None:
    import errno
    from collections.abc import Sequence

    from simulator.nodes.qa import Spool, SpooledInstance

    class FullDisk(Spool):
        def put(self, destination: str, sop_instance_uid: str,
                part10: bytes | Sequence[bytes]) -> SpooledInstance:
            raise OSError(errno.ENOSPC, "No space left on device")

    data = tmp_path / "qa"
    qa = QANode(data, journal=journal, forward_to=archive.endpoint, spool=FullDisk(data))
    endpoint = qa.start()
    try:
        outcomes = DicomClient("CT1", node="CT1").store(endpoint, small_study.datasets[:1])
    finally:
        qa.stop(timeout=10)
    assert [(o.status, o.comment) for o in outcomes] == [(0xA700, "QA out of resources: No space left on device")]
    assert qa.ledger.get(small_study.sop_instance_uids[0]) is None  # nothing acknowledged, nothing recorded


class _QuarantineEverything:
    """A rule whose every finding quarantines (as an unmatched worklist rule would)."""

    name = "test-quarantine"

    def check(self, ds: Dataset) -> list[Violation]:
        return [Violation(self.name, "AccessionNumber", "no scheduled item for this accession", 0xC000,
                          Action.QUARANTINE)]


def test_quarantined_by_the_rules_then_released_reaches_the_archive(
        tmp_path: Path, journal: Journal, archive: EmbeddedArchive, small_study: Study) -> None:
    data = tmp_path / "qa"
    qa = QANode(data, journal=journal, forward_to=archive.endpoint,
                rules=[_QuarantineEverything()])
    endpoint = qa.start()
    try:
        outcomes = DicomClient("CT1", node="CT1").store(endpoint, small_study.datasets)
        assert {o.status for o in outcomes} == {0}
        assert qa.drain(timeout=5)
        assert archive.index.sop_instance_uids() == set()
        entries = qa.ledger.entries()
        assert {e.state for e in entries} == {"quarantined"}
        assert {e.reason for e in entries} == {"QA: no scheduled item for this accession"}
        verdict = qa.ledger.audit(small_study.sop_instance_uids[0])[1]
        assert verdict.event == "verdict" and verdict.detail["action"] == "quarantine"
        assert verdict.detail["rules"]["test-quarantine"]["violations"][0]["keyword"] == "AccessionNumber"
        first, *rest = small_study.sop_instance_uids
        assert _qa("quarantine", "reject", first, "--data", str(data)).exit_code == 0
        result = _qa("quarantine", "release", *rest, "--data", str(data))
        assert result.exit_code == 0, result.output
        assert wait_for(lambda: archive.index.sop_instance_uids() == set(rest), 15)
    finally:
        qa.stop(timeout=10)
    assert qa.ledger.counts()["forwarded"] == len(rest)
    rejected = qa.ledger.get(first)
    assert rejected is not None and rejected.state == "rejected" and rejected.reason == "rejected by operator"
    assert len(list((data / "rejected").glob("*.dcm"))) == 1
    # A resend of what the operator rejected stays rejected (acknowledged, not forwarded).
    qa2 = QANode(data, journal=journal, forward_to=archive.endpoint)
    endpoint = qa2.start()
    try:
        [again] = DicomClient("CT1", node="CT1").store(endpoint, small_study.datasets[:1])
        assert again.status == 0 and qa2.drain(timeout=5)
    finally:
        qa2.stop(timeout=10)
    assert first not in archive.index.sop_instance_uids()
    assert qa2.ledger.audit(first)[-1].event == "duplicate-ignored"


def test_coerced_instance_answers_warning_and_forwards_the_changed_data_set(
        tmp_path: Path, journal: Journal, archive: EmbeddedArchive, small_study: Study,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from simulator.nodes.qa import service
    from simulator.nodes.qa.rules import Change, Rule, Verdict

    def coerce(ds: Dataset, rules: object) -> Verdict:
        before = str(ds.PatientName)
        ds.PatientName = "WORKLIST^NAME"
        return Verdict((), (Change("worklist", "PatientName", before, "WORKLIST^NAME"),))

    monkeypatch.setattr(service, "evaluate", coerce)
    rules: tuple[Rule, ...] = ()
    qa = QANode(tmp_path / "qa", journal=journal, forward_to=archive.endpoint, rules=rules)
    endpoint = qa.start()
    try:
        outcomes = DicomClient("CT1", node="CT1").store(endpoint, small_study.datasets[:1])
        assert [(o.status, o.comment) for o in outcomes] == [(0xB000, "QA: coerced PatientName")]
        assert qa.drain(timeout=30)
    finally:
        qa.stop(timeout=10)
    uid = small_study.sop_instance_uids[0]
    stored = archive.index.get(uid)
    assert stored is not None
    from pydicom import dcmread

    held = dcmread(stored.path)
    assert str(held.PatientName) == "WORKLIST^NAME"
    assert held.PixelData == small_study.datasets[0].PixelData
    verdict = qa.ledger.audit(uid)[1].detail
    assert verdict["rules"]["worklist"]["changes"] == [
        {"rule": "worklist", "keyword": "PatientName", "before": str(small_study.datasets[0].PatientName),
         "after": "WORKLIST^NAME"}]


# -- kill and reopen (a crash, in process) -------------------------------------------------------------------------

def test_kill_leaves_the_batch_on_the_wire_queued_and_a_reopened_node_sends_it(
        tmp_path: Path, journal: Journal, archive: EmbeddedArchive, small_study: Study) -> None:
    import threading

    from simulator.net import DicomServer, StoreReply, StoreRequest

    got_first, release = threading.Event(), threading.Event()
    received: list[str] = []

    def slow_store(request: StoreRequest) -> StoreReply:
        received.append(request.sop_instance_uid)
        got_first.set()
        release.wait(30)
        return StoreReply(0x0000)

    slow = DicomServer("SLOW_PACS", node="SLOW", journal=journal, store=slow_store)
    slow_endpoint = slow.start()
    data = tmp_path / "qa"
    qa = QANode(data, journal=journal, forward_to=slow_endpoint)
    endpoint = qa.start()
    killer = threading.Thread(target=qa.kill, kwargs={"timeout": 30})
    try:
        assert {o.status for o in DicomClient("CT1", node="CT1").store(endpoint, small_study.datasets)} == {0}
        assert got_first.wait(30)  # the forwarder is in the middle of its batch
        killer.start()
        assert wait_for(lambda: qa.killed, 5)
        release.set()
        killer.join(30)
        assert not killer.is_alive()
    finally:
        release.set()
        slow.stop(timeout=10)
        qa.stop(timeout=10)
    # The destination answered every C-STORE, but the node "died" before it could record that: all still queued.
    assert sorted(received) == sorted(small_study.sop_instance_uids)
    assert qa.queue_length() == len(small_study)
    assert qa.ledger.counts()["queued"] == len(small_study)
    with pytest.raises(HarnessError, match="was killed"):
        qa.start()

    fresh = qa.reopened()
    assert archive.endpoint is not None
    fresh.set_destination(archive.endpoint)  # the restarted node forwards to the real archive
    fresh.start()
    try:
        assert fresh.drain(timeout=30)
    finally:
        fresh.stop(timeout=10)
    assert archive.index.sop_instance_uids() == set(small_study.sop_instance_uids)
    assert fresh.ledger.counts()["forwarded"] == len(small_study)


def test_reopened_node_keeps_its_rules_and_refuses_nothing_twice(tmp_path: Path, journal: Journal,
                                                                  archive: EmbeddedArchive,
                                                                  small_study: Study) -> None:
    data = tmp_path / "qa"
    first = QANode(data, ae_title="QA_X", journal=journal, forward_to=archive.endpoint,
                   rules=[_QuarantineEverything()], forward_associations=3)
    first.stop()
    second = first.reopened()
    assert (second.ae_title, second.forward_to, second.forwarder.associations) == ("QA_X", archive.endpoint, 3)
    endpoint = second.start()
    try:
        outcomes = DicomClient("CT1", node="CT1").store(endpoint, small_study.datasets[:1])
        assert [o.status for o in outcomes] == [0]
    finally:
        second.stop(timeout=10)
    entry = second.ledger.get(small_study.sop_instance_uids[0])
    assert entry is not None and entry.state == "quarantined"  # the same rule set as before the restart


def test_a_stream_is_forwarded_over_few_associations(tmp_path: Path, journal: Journal,
                                                     archive: EmbeddedArchive) -> None:
    study = build_ct_study(7, series=1, instances=30, rows=16, columns=16)
    qa = QANode(tmp_path / "qa", journal=journal, forward_to=archive.endpoint)
    qa.forwarder.linger_s, qa.forwarder.quiet_s = 5.0, 1.0  # generous, so a loaded machine cannot split the batch
    endpoint = qa.start()
    try:
        outcomes = DicomClient("CT1", node="CT1").store(endpoint, study.datasets)
        assert {o.status for o in outcomes} == {0}
        assert qa.drain(timeout=30)
    finally:
        qa.stop(timeout=10)
    assert archive.index.sop_instance_uids() == set(study.sop_instance_uids)
    opened = [e for e in journal.select(node=archive.node, kind="ASSOCIATION", role="SCP")
              if e.peer_ae == qa.ae_title and e.meaning == "established"]
    assert qa.forwarder.batches == 1 and len(opened) == qa.forwarder.associations  # one association per lane


def test_a_response_that_never_comes_ends_the_batch_and_it_is_sent_again(
        tmp_path: Path, journal: Journal, small_study: Study) -> None:
    import threading

    from simulator.net import DicomServer, StoreReply, StoreRequest

    first_call, release = threading.Event(), threading.Event()
    answered: list[str] = []

    def silent_once(request: StoreRequest) -> StoreReply:
        if not first_call.is_set():
            first_call.set()
            release.wait(30)  # no response until long after the forwarder gave up on it
        answered.append(request.sop_instance_uid)
        return StoreReply(0x0000)

    pacs = DicomServer("SILENT_PACS", node="SILENT", journal=journal, store=silent_once)
    pacs_endpoint = pacs.start()
    qa = QANode(tmp_path / "qa", journal=journal, forward_to=pacs_endpoint, forward_timeout_s=1.0,
                forward_associations=1)
    endpoint = qa.start()
    try:
        assert {o.status for o in DicomClient("CT1", node="CT1").store(endpoint, small_study.datasets)} == {0}
        assert wait_for(lambda: qa.ledger.last_forward_error() is not None, 10)  # gave up after ~1 s
        release.set()
        assert qa.drain(timeout=30)  # the batch went again, on a new association
    finally:
        release.set()
        qa.stop(timeout=10)
        pacs.stop(timeout=10)
    assert set(answered) >= set(small_study.sop_instance_uids)
    assert qa.ledger.counts()["forwarded"] == len(small_study)
    again = qa.reopened()
    try:
        assert again.forwarder.client.timeouts.dimse == 1.0  # a restart keeps the setting
    finally:
        again.ledger.close()
