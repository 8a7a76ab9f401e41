"""The QA node's durable queue: an accepted instance is on disk (fsynced) before it is acknowledged.

Layout: ``<data>/queue/<destination>/<sequence>-<sop uid>.dcm``. A file leaves the queue only after the
destination acknowledged it; on restart, what is still queued is sent again. Instances waiting for an operator
are in ``<data>/quarantine/``, those an operator rejected in ``<data>/rejected/`` (kept, never deleted), those the
destination refused in ``<data>/failed/``; those folders name files ``<sop uid>-<digest prefix>.dcm``.

Each file's File Meta Information carries the SHA-256 of the data set bytes as received (Private Information,
(0002,0102), under ``DIGEST_CREATOR``), so that after a crash a file can be matched to what the sender sent.
"""

from __future__ import annotations

import itertools
import os
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_file_meta_info
from pydicom.filewriter import write_file_meta_info

from simulator.nodes.durable import fsync_dir, uid_file_stem, write_durably
from simulator.synth.uids import derive_uid

DIGEST_CREATOR = derive_uid("radsim", "qa-received-digest")

QUARANTINE = "quarantine"
REJECTED = "rejected"
FAILED = "failed"


def part10_head(meta: FileMetaDataset, digest: str | None = None) -> bytes:
    """Preamble, "DICM" and File Meta Information (PS3.10 7.1), with the received digest when given."""
    if digest is not None:
        meta.PrivateInformationCreatorUID = DIGEST_CREATOR
        meta.PrivateInformation = digest.encode("ascii")
    head = DicomBytesIO()
    head.is_little_endian = True
    head.is_implicit_VR = False
    head.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(head, meta, enforce_standard=True)
    return bytes(head.getvalue())


# Explicit VR Little Endian encoding of File Meta Information elements (PS3.10 7.1, PS3.5 7.1.2).
_LONG_VRS = frozenset({b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN"})
_META_VERSION = b"\x00\x01"


def _meta_element(element: int, vr: bytes, value: bytes, pad: bytes) -> bytes:
    if len(value) % 2:
        value += pad
    if vr in _LONG_VRS:
        return struct.pack("<HH2s2xI", 0x0002, element, vr, len(value)) + value
    return struct.pack("<HH2sH", 0x0002, element, vr, len(value)) + value


def _text(value: str) -> bytes:
    return value.encode("latin-1", "replace")


def part10_head_for(*, sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str,
                    implementation_class_uid: str, implementation_version_name: str, source_ae: str,
                    digest: str | None = None) -> bytes:
    """What :func:`part10_head` writes for a File Meta Information made of these values, byte for byte, without
    building a pydicom FileMetaDataset (the C-STORE path writes one per instance)."""
    body = b"".join([
        _meta_element(0x0001, b"OB", _META_VERSION, b"\0"),
        _meta_element(0x0002, b"UI", _text(sop_class_uid), b"\0"),
        _meta_element(0x0003, b"UI", _text(sop_instance_uid), b"\0"),
        _meta_element(0x0010, b"UI", _text(transfer_syntax), b"\0"),
        _meta_element(0x0012, b"UI", _text(implementation_class_uid), b"\0"),
        _meta_element(0x0013, b"SH", _text(implementation_version_name), b" "),
        _meta_element(0x0016, b"AE", _text(source_ae), b" "),
        *([] if digest is None else [
            _meta_element(0x0100, b"UI", _text(DIGEST_CREATOR), b"\0"),
            _meta_element(0x0102, b"OB", digest.encode("ascii"), b"\0"),
        ]),
    ])
    return b"\x00" * 128 + b"DICM" + _meta_element(0x0000, b"UL", struct.pack("<I", len(body)), b"") + body


@dataclass(frozen=True)
class FileFacts:
    """What a spooled file's meta says: its SOP Instance UID and the digest of the bytes as received."""

    sop_instance_uid: str
    digest: str


def file_facts(path: Path) -> FileFacts:
    meta = read_file_meta_info(path)
    digest = ""
    if str(meta.get("PrivateInformationCreatorUID", "")) == DIGEST_CREATOR:
        digest = bytes(meta.PrivateInformation).decode("ascii", "replace").rstrip("\x00 ")
    return FileFacts(str(meta.get("MediaStorageSOPInstanceUID", "")), digest)


@dataclass(frozen=True)
class SpooledInstance:
    path: Path
    sop_instance_uid: str


class Spool:
    """Per-destination folders of Part 10 files, ordered by a sequence number in the name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._counter = itertools.count(time.time_ns())
        self._folders: dict[str, Path] = {}

    def _folder(self, destination: str) -> Path:
        folder = self._folders.get(destination)
        if folder is None or not folder.is_dir():
            folder = self.root / "queue" / destination
            folder.mkdir(parents=True, exist_ok=True)
            self._folders[destination] = folder
        return folder

    def put(self, destination: str, sop_instance_uid: str, part10: bytes | Sequence[bytes]) -> SpooledInstance:
        folder = self._folder(destination)
        with self._lock:
            sequence = next(self._counter)
        final = folder / f"{sequence:020d}-{uid_file_stem(sop_instance_uid)}.dcm"
        write_durably(final, part10)
        return SpooledInstance(final, sop_instance_uid)

    def pending(self, destination: str, limit: int | None = None) -> list[SpooledInstance]:
        folder = self._folder(destination)
        names = sorted(p.name for p in folder.iterdir() if p.suffix == ".dcm" and not p.name.startswith("."))
        if limit is not None:
            names = names[:limit]
        return [SpooledInstance(folder / n, n.split("-", 1)[1][:-4]) for n in names]

    def done(self, item: SpooledInstance) -> None:
        item.path.unlink(missing_ok=True)

    def park(self, item: SpooledInstance, reason: str) -> Path:
        """Move an instance the destination refused to ``failed/`` with a note; it is kept, not dropped."""
        failed = self.root / FAILED
        failed.mkdir(parents=True, exist_ok=True)
        target = failed / item.path.name
        os.replace(item.path, target)
        target.with_suffix(".txt").write_text(reason + "\n", encoding="utf-8")
        fsync_dir(failed)
        return target

    def parked_path(self, sop_instance_uid: str) -> Path | None:
        """The file of an instance :meth:`park` set aside, None when there is none."""
        folder = self.root / FAILED
        if not folder.is_dir():
            return None
        stem = uid_file_stem(sop_instance_uid)
        found = sorted(folder.glob(f"*-{stem}.dcm"))
        return found[-1] if found else None

    def held_path(self, folder: str, sop_instance_uid: str, digest: str) -> Path:
        return self.root / folder / f"{uid_file_stem(sop_instance_uid)}-{digest[:16]}.dcm"

    def hold(self, folder: str, sop_instance_uid: str, digest: str, part10: bytes | Sequence[bytes]) -> Path:
        """Write an instance durably to ``folder`` (e.g. ``quarantine``) instead of the queue."""
        target = self.held_path(folder, sop_instance_uid, digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_durably(target, part10)
        return target

    def requeue(self, path: Path, destination: str, sop_instance_uid: str) -> SpooledInstance:
        """Move a held file (e.g. released from quarantine) to the end of ``destination``'s queue, durably."""
        folder = self._folder(destination)
        with self._lock:
            sequence = next(self._counter)
        final = folder / f"{sequence:020d}-{uid_file_stem(sop_instance_uid)}.dcm"
        os.replace(path, final)
        fsync_dir(folder)
        fsync_dir(path.parent)
        return SpooledInstance(final, sop_instance_uid)

    def move(self, path: Path, folder: str) -> Path:
        """Move a held file to another folder (e.g. ``rejected``), durably; it is kept, not deleted."""
        target_dir = self.root / folder
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / path.name
        os.replace(path, target)
        fsync_dir(target_dir)
        fsync_dir(path.parent)
        return target

    def count(self, destination: str) -> int:
        return len(self.pending(destination))

    def remove_leftovers(self) -> list[Path]:
        """Delete the hidden temporary files a crash left in the queue folders, half written or never renamed
        into place (never acknowledged). Call before the node accepts anything."""
        queue = self.root / "queue"
        found = list(queue.glob("*/.*.tmp")) if queue.is_dir() else []
        for path in found:
            path.unlink(missing_ok=True)
        return found
