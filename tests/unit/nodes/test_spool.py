"""The QA node's durable queue: order, completion, parking and resuming after a restart."""

from __future__ import annotations

import io
import threading
import warnings
from pathlib import Path

import pytest
from pydicom import dcmread

from simulator.nodes.qa.spool import Spool
from simulator.synth import build_ct_study


@pytest.fixture(scope="module")
def part10_files() -> list[tuple[str, bytes]]:
    out = []
    for ds in build_ct_study(9, instances=5, rows=8, columns=8):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append((str(ds.SOPInstanceUID), buffer.getvalue()))
    return out


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".")]


def test_pending_is_fifo(tmp_path: Path, part10_files: list[tuple[str, bytes]]) -> None:
    spool = Spool(tmp_path)
    # Put in an order that is not the UIDs' sort order, so sorting by UID could not pass.
    order = [part10_files[i] for i in (3, 0, 4, 1, 2)]
    for uid, data in order:
        spool.put("PACS", uid, data)
    assert [item.sop_instance_uid for item in spool.pending("PACS")] == [uid for uid, _ in order]
    assert [item.sop_instance_uid for item in spool.pending("PACS", limit=2)] == [order[0][0], order[1][0]]
    assert spool.count("PACS") == 5


def test_files_are_complete_after_put(tmp_path: Path, part10_files: list[tuple[str, bytes]]) -> None:
    spool = Spool(tmp_path)
    uid, data = part10_files[0]
    item = spool.put("PACS", uid, data)
    assert item.path.read_bytes() == data
    assert item.path.parent == tmp_path / "queue" / "PACS"
    assert dcmread(item.path).SOPInstanceUID == uid
    assert _leftovers(tmp_path) == []


def test_destinations_are_separate(tmp_path: Path, part10_files: list[tuple[str, bytes]]) -> None:
    spool = Spool(tmp_path)
    spool.put("PACS", *part10_files[0])
    spool.put("WS1", *part10_files[1])
    assert [i.sop_instance_uid for i in spool.pending("PACS")] == [part10_files[0][0]]
    assert [i.sop_instance_uid for i in spool.pending("WS1")] == [part10_files[1][0]]
    assert spool.pending("EMPTY") == []


def test_done_removes_only_that_item(tmp_path: Path, part10_files: list[tuple[str, bytes]]) -> None:
    spool = Spool(tmp_path)
    items = [spool.put("PACS", uid, data) for uid, data in part10_files[:3]]
    spool.done(items[1])
    assert not items[1].path.exists()
    assert [i.sop_instance_uid for i in spool.pending("PACS")] == [part10_files[0][0], part10_files[2][0]]
    spool.done(items[1])  # idempotent: a second acknowledgement is harmless


def test_park_moves_to_failed_with_reason(tmp_path: Path, part10_files: list[tuple[str, bytes]]) -> None:
    spool = Spool(tmp_path)
    uid, data = part10_files[0]
    item = spool.put("PACS", uid, data)
    target = spool.park(item, "PACS answered 0xA900: Data Set Does Not Match SOP Class")
    assert spool.pending("PACS") == []
    assert not item.path.exists()
    assert target.parent == tmp_path / "failed"
    assert target.read_bytes() == data  # kept, not dropped
    note = target.with_suffix(".txt")
    assert note.read_text(encoding="utf-8") == "PACS answered 0xA900: Data Set Does Not Match SOP Class\n"


def test_new_spool_on_same_folder_resumes(tmp_path: Path, part10_files: list[tuple[str, bytes]]) -> None:
    first = Spool(tmp_path)
    for uid, data in part10_files[:3]:
        first.put("PACS", uid, data)
    first.done(first.pending("PACS")[0])
    restarted = Spool(tmp_path)
    pending = restarted.pending("PACS")
    assert [i.sop_instance_uid for i in pending] == [part10_files[1][0], part10_files[2][0]]
    assert all(dcmread(i.path).SOPInstanceUID == i.sop_instance_uid for i in pending)
    # What the restarted spool accepts goes behind what was already queued.
    restarted.put("PACS", *part10_files[3])
    assert restarted.pending("PACS")[-1].sop_instance_uid == part10_files[3][0]


def test_uid_with_path_characters_stays_in_the_queue_folder(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    item = spool.put("PACS", "../../escape/1.2", b"data")
    assert item.path.parent == tmp_path / "queue" / "PACS"
    assert item.path.read_bytes() == b"data"
    assert spool.count("PACS") == 1


def test_concurrent_puts_are_all_queued_once(tmp_path: Path, part10_files: list[tuple[str, bytes]]) -> None:
    spool = Spool(tmp_path)
    uid, data = part10_files[0]

    def worker(n: int) -> None:
        for i in range(25):
            spool.put("PACS", f"{uid}.{n}.{i}", data)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    pending = spool.pending("PACS")
    assert len(pending) == 200
    assert len({i.sop_instance_uid for i in pending}) == 200
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(("sop_instance_uid", "transfer_syntax", "ae", "digest"), [
    ("1.2.3.4", "1.2.840.10008.1.2.1", "CT1", "ab" * 32),  # even lengths
    ("1.2.3.45", "1.2.840.10008.1.2", "MODALITY_7", None),  # odd UID, no digest
    ("1.2.3." + "9" * 70, "1.2.840.10008.1.2.4.50", "A", "0" * 64),  # a UID too long, as a defect sends it
    ("1.2.3.abc", "1.2.840.10008.1.2.4.90", "ABCDEFGHIJKLMNOP", "f" * 64),  # invalid characters, 16-char AE
])
def test_hand_encoded_file_meta_is_what_pydicom_writes(sop_instance_uid: str, transfer_syntax: str, ae: str,
                                                       digest: str | None) -> None:
    from simulator.net.scp import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, Caller, StoreRequest
    from simulator.nodes.qa.spool import part10_head, part10_head_for

    request = StoreRequest(caller=Caller(ae, "127.0.0.1", 104), sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                           sop_instance_uid=sop_instance_uid, transfer_syntax=transfer_syntax, receiver_ae="QA",
                           _event=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the defective UIDs it writes all the same
        expected = part10_head(request.file_meta(), digest)
    fast = part10_head_for(sop_class_uid=request.sop_class_uid, sop_instance_uid=sop_instance_uid,
                           transfer_syntax=transfer_syntax, implementation_class_uid=IMPLEMENTATION_CLASS_UID,
                           implementation_version_name=IMPLEMENTATION_VERSION_NAME, source_ae=ae, digest=digest)
    assert fast == expected


def test_leftovers_of_a_crash_are_removed_and_nothing_else(tmp_path: Path,
                                                           part10_files: list[tuple[str, bytes]]) -> None:
    spool = Spool(tmp_path)
    uid, data = part10_files[0]
    item = spool.put("PACS", uid, data)
    half_written = item.path.parent / f".{item.path.name}.4242-1.tmp"
    half_written.write_bytes(data[:100])
    assert spool.remove_leftovers() == [half_written]
    assert not half_written.exists()
    assert [i.path for i in spool.pending("PACS")] == [item.path]
