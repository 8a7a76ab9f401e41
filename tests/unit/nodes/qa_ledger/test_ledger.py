"""The QA ledger: states, transitions, the audit trail, and agreeing with the queue folder after a restart."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
from pydicom.dataset import FileMetaDataset

from simulator.errors import ConfigError
from simulator.nodes.qa import QANode
from simulator.nodes.qa.ledger import CONFLICT, OPERATOR_REJECTED, Ledger, Receipt, State
from simulator.nodes.qa.service import DESTINATION, digest_of, open_ledger, quarantine_list, reject, release, status
from simulator.nodes.qa.spool import QUARANTINE, Spool, file_facts, part10_head
from simulator.synth import build_ct_study


def _receipt(uid: str = "1.2.3.1", digest: str = "d1") -> Receipt:
    return Receipt(uid, digest, study_instance_uid="1.2.3", patient_id="PAT1")


def _events(ledger: Ledger, uid: str) -> list[str]:
    return [e.event for e in ledger.audit(uid)]


def test_wal_and_full_sync(tmp_path: Path) -> None:
    Ledger(tmp_path).close()
    db = sqlite3.connect(tmp_path / "ledger.sqlite")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()
    ledger = Ledger(tmp_path)
    with ledger._lock:
        assert ledger._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_record_then_forwarded(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.record(_receipt(), State.QUEUED, [("received", {"calling_ae": "CT1"}), ("verdict", {"action": "accept"}),
                                             ("queued", {})])
    entry = ledger.get("1.2.3.1")
    assert entry is not None and entry.state is State.QUEUED and entry.digest == "d1"
    assert entry.patient_id == "PAT1" and entry.attempts == 0
    ledger.forwarded([("1.2.3.1", 0x0000, "Success")], "PACS@127.0.0.1:104")
    entry = ledger.get("1.2.3.1")
    assert entry is not None and entry.state is State.FORWARDED and entry.attempts == 1 and entry.last_status == 0
    assert _events(ledger, "1.2.3.1") == ["received", "verdict", "queued", "forward-attempt", "forwarded"]
    assert ledger.audit("1.2.3.1")[0].detail == {"calling_ae": "CT1"}
    assert ledger.counts()["forwarded"] == 1 and ledger.counts()["queued"] == 0
    assert set(ledger.counts()) == {str(s) for s in State}


def test_network_errors_keep_it_queued_and_are_the_last_error(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.record(_receipt(), State.QUEUED, [])
    ledger.attempt_failed(["1.2.3.1"], "connection refused", "PACS")
    ledger.attempt_failed(["1.2.3.1"], "connection refused", "PACS")
    entry = ledger.get("1.2.3.1")
    assert entry is not None and entry.state is State.QUEUED and entry.attempts == 2
    error = ledger.last_forward_error()
    assert error is not None and error.detail["error"] == "connection refused"
    ledger.forwarded([("1.2.3.1", 0xB000, "Warning")], "PACS")
    assert ledger.last_forward_error() is None  # a later attempt succeeded
    entry = ledger.get("1.2.3.1")
    assert entry is not None and entry.attempts == 3 and entry.last_status == 0xB000


def test_refused_by_destination_is_failed(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.record(_receipt(), State.QUEUED, [])
    ledger.failed("1.2.3.1", 0xA700, "PACS answered 0xA700", "PACS")
    entry = ledger.get("1.2.3.1")
    assert entry is not None and entry.state is State.FAILED and entry.last_status == 0xA700
    assert entry.reason == "PACS answered 0xA700"


def test_forwarding_does_not_override_a_quarantine(tmp_path: Path) -> None:
    """The original was still queued when a conflicting copy was quarantined under the same UID."""
    ledger = Ledger(tmp_path)
    ledger.record(_receipt(), State.QUEUED, [])
    ledger.record(_receipt(digest="d2"), State.QUARANTINED, [("conflict", {})], reason=CONFLICT)
    ledger.forwarded([("1.2.3.1", 0, "Success")], "PACS")
    entry = ledger.get("1.2.3.1")
    assert entry is not None and entry.state is State.QUARANTINED and entry.attempts == 1


def test_release_and_operator_reject(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.record(_receipt("1.1"), State.QUARANTINED, [], reason="no worklist match")
    ledger.record(_receipt("1.2"), State.QUARANTINED, [], reason="no worklist match")
    ledger.release("1.1", {"by": "test"})
    ledger.operator_reject("1.2", {"by": "test"})
    one, two = ledger.get("1.1"), ledger.get("1.2")
    assert one is not None and one.state is State.QUEUED and one.reason == ""
    assert two is not None and two.state is State.REJECTED and two.operator_rejected
    assert two.reason == OPERATOR_REJECTED
    assert _events(ledger, "1.1") == ["released", "queued"]
    assert _events(ledger, "1.2") == ["rejected-by-operator"]


def test_rows_survive_reopening(tmp_path: Path) -> None:
    first = Ledger(tmp_path)
    first.record(_receipt(), State.QUEUED, [("received", {})])
    first.close()
    again = Ledger(tmp_path)
    assert again.get("1.2.3.1") is not None and _events(again, "1.2.3.1") == ["received"]


def test_reconcile(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.record(_receipt("1.1"), State.QUEUED, [])     # file gone: it was forwarded
    ledger.record(_receipt("1.2"), State.QUEUED, [])     # file present: still queued
    ledger.record(_receipt("1.3"), State.QUARANTINED, [])  # not the queue's business
    marked, added = ledger.reconcile({"1.2": _receipt("1.2"), "1.4": Receipt("1.4", "d4")})
    assert marked == ["1.1"] and added == ["1.4"]
    states = {e.sop_instance_uid: e.state for e in ledger.entries()}
    assert states == {"1.1": State.FORWARDED, "1.2": State.QUEUED, "1.3": State.QUARANTINED, "1.4": State.QUEUED}
    entry = ledger.get("1.4")
    assert entry is not None and entry.digest == "d4"
    assert ledger.reconcile({"1.2": _receipt("1.2"), "1.4": Receipt("1.4", "d4")}) == ([], [])


def _part10(ds_index: int = 0) -> tuple[str, bytes, str]:
    """(uid, Part 10 bytes with the digest in the meta, digest of the data set bytes)."""
    ds = build_ct_study(3, instances=2, rows=8, columns=8).datasets[ds_index]
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    meta = FileMetaDataset(ds.file_meta)
    body = data[len(part10_head(FileMetaDataset(ds.file_meta))):]
    digest = digest_of(body)
    return str(ds.SOPInstanceUID), part10_head(meta, digest) + body, digest


def test_digest_travels_in_the_file_meta(tmp_path: Path) -> None:
    uid, data, digest = _part10()
    item = Spool(tmp_path).put(DESTINATION, uid, data)
    facts = file_facts(item.path)
    assert facts.sop_instance_uid == uid and facts.digest == digest


def test_node_restart_agrees_with_the_queue(tmp_path: Path) -> None:
    """Crash windows on both sides: a queued row whose file left, a file whose row was never committed."""
    spool = Spool(tmp_path)
    uid, data, digest = _part10(0)
    spool.put(DESTINATION, uid, data)  # the process died before the ledger row was committed
    ledger = Ledger(tmp_path)
    ledger.record(_receipt("9.9.9"), State.QUEUED, [])  # the forwarder unlinked it, then died
    ledger.close()
    node = QANode(tmp_path)  # not started: reconciliation runs on construction
    try:
        entry, gone = node.ledger.get(uid), node.ledger.get("9.9.9")
        assert entry is not None and entry.state is State.QUEUED and entry.digest == digest
        assert gone is not None and gone.state is State.FORWARDED
    finally:
        node.ledger.close()


def test_operator_functions(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a QA node's data folder"):
        open_ledger(tmp_path / "nothing")
    spool = Spool(tmp_path)
    ledger = Ledger(tmp_path)
    uid, data, digest = _part10(0)
    other, data2, digest2 = _part10(1)
    for u, d, g in ((uid, data, digest), (other, data2, digest2)):
        spool.hold(QUARANTINE, u, g, d)
        ledger.record(Receipt(u, g), State.QUARANTINED, [("quarantined", {})], reason="unmatched")
    ledger.close()
    assert [e.sop_instance_uid for e in quarantine_list(tmp_path)] == [uid, other]
    with pytest.raises(ConfigError, match=r"unknown SOP Instance UID 1\.2\.999"):
        release(tmp_path, [uid, "1.2.999"])
    assert spool.count(DESTINATION) == 0  # nothing moved: every UID is checked first
    release(tmp_path, [uid])
    reject(tmp_path, [other])
    assert spool.count(DESTINATION) == 1
    assert (tmp_path / "rejected" / spool.held_path(QUARANTINE, other, digest2).name).is_file()
    with pytest.raises(ConfigError, match="is not quarantined"):
        release(tmp_path, [uid])
    report = status(tmp_path)
    assert report["states"]["queued"] == 1 and report["states"]["rejected"] == 1
    assert report["queue_length"] == 1 and report["quarantine_files"] == 0
    assert report["last_forward_error"] is None
