"""The archive's storage: Part 10 files on disk and an SQLite index of the query keys (PS3.4 C.6).

A file is fsynced and renamed into place, and its index row committed, before the C-STORE is acknowledged.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.filereader import dcmread

from simulator.nodes.durable import DurableDatabase, uid_file_stem, write_durably

# Query keys the index holds, per level: DICOM keyword -> (column, VR). PS3.4 C.6.1.1 / C.6.2.1.
LEVEL_KEYS: dict[str, dict[str, tuple[str, str]]] = {
    "PATIENT": {
        "PatientID": ("patient_id", "LO"),
        "PatientName": ("patient_name", "PN"),
        "PatientBirthDate": ("patient_birth_date", "DA"),
        "PatientSex": ("patient_sex", "CS"),
    },
    "STUDY": {
        "StudyInstanceUID": ("study_instance_uid", "UI"),
        "StudyDate": ("study_date", "DA"),
        "StudyTime": ("study_time", "TM"),
        "AccessionNumber": ("accession_number", "SH"),
        "StudyID": ("study_id", "SH"),
        "StudyDescription": ("study_description", "LO"),
        "ReferringPhysicianName": ("referring_physician_name", "PN"),
    },
    "SERIES": {
        "SeriesInstanceUID": ("series_instance_uid", "UI"),
        "Modality": ("modality", "CS"),
        "SeriesNumber": ("series_number", "IS"),
        "SeriesDescription": ("series_description", "LO"),
        "BodyPartExamined": ("body_part_examined", "CS"),
    },
    "IMAGE": {
        "SOPInstanceUID": ("sop_instance_uid", "UI"),
        "SOPClassUID": ("sop_class_uid", "UI"),
        "InstanceNumber": ("instance_number", "IS"),
    },
}
LEVELS: tuple[str, ...] = ("PATIENT", "STUDY", "SERIES", "IMAGE")
UNIQUE_KEY = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID",
              "IMAGE": "SOPInstanceUID"}

_COLUMNS = [col for keys in LEVEL_KEYS.values() for col, _ in keys.values()]
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS instances (
    {", ".join(f"{c} TEXT NOT NULL DEFAULT ''" for c in _COLUMNS if c != "sop_instance_uid")},
    sop_instance_uid TEXT PRIMARY KEY,
    transfer_syntax TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    digest TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS by_study ON instances (study_instance_uid);
CREATE INDEX IF NOT EXISTS by_series ON instances (series_instance_uid);
CREATE INDEX IF NOT EXISTS by_patient ON instances (patient_id);
"""


@dataclass(frozen=True)
class StoredInstance:
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax: str
    path: Path
    digest: str


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def _casefold(value: str | None) -> str | None:
    return value.casefold() if isinstance(value, str) else value


class ArchiveIndex:
    """Files under ``root/files`` and their index in ``root/index.sqlite`` (WAL, synchronous=FULL)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = root / "files"
        self.files.mkdir(parents=True, exist_ok=True)
        # SQLite's lower() folds ASCII only; person names are matched with Python's full case folding.
        self._store = DurableDatabase(root / "index.sqlite", _SCHEMA, functions={"casefold": _casefold})
        self._lock = self._store.lock
        self._db = self._store.db
        self._transaction = self._store.transaction

    def close(self) -> None:
        self._store.close()

    # -- writing ------------------------------------------------------------------------------------------------

    def add(self, part10: bytes | Sequence[bytes], transfer_syntax: str,
            dataset: Dataset | None = None) -> tuple[StoredInstance, bool]:
        """Store a Part 10 file durably; return it and whether it was new (False = identical copy already held).

        A different instance under an existing SOP Instance UID keeps the first one (like Orthanc's default).
        """
        chunks = [part10] if isinstance(part10, bytes) else list(part10)
        ds = dataset if dataset is not None else dcmread(BytesIO(b"".join(chunks)), stop_before_pixels=True)
        hasher = hashlib.sha256()
        for chunk in chunks:
            hasher.update(chunk)
        digest = hasher.hexdigest()
        uid = _text(ds, "SOPInstanceUID")
        existing = self.get(uid)
        if existing is not None:
            return existing, False
        study, series = (uid_file_stem(_text(ds, k)) for k in ("StudyInstanceUID", "SeriesInstanceUID"))
        folder = self.files / study / series
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{uid_file_stem(uid)}.dcm"
        write_durably(final, chunks)
        values: dict[str, object] = {
            col: _text(ds, kw) for keys in LEVEL_KEYS.values() for kw, (col, _) in keys.items()
        }
        values.update(transfer_syntax=transfer_syntax, path=str(final.relative_to(self.root)),
                      size=sum(len(c) for c in chunks), digest=digest, received_at=time.time())
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self._transaction() as db:
            db.execute(f"INSERT OR IGNORE INTO instances ({columns}) VALUES ({marks})", list(values.values()))
        stored = StoredInstance(uid, str(values["sop_class_uid"]), transfer_syntax, final, digest)
        return stored, True

    def wipe(self) -> None:
        with self._transaction() as db:
            rows = db.execute("SELECT path FROM instances").fetchall()
            db.execute("DELETE FROM instances")
        for (path,) in rows:
            (self.root / path).unlink(missing_ok=True)

    # -- reading ------------------------------------------------------------------------------------------------

    def get(self, sop_instance_uid: str) -> StoredInstance | None:
        with self._lock:
            row = self._db.execute(
                "SELECT sop_instance_uid, sop_class_uid, transfer_syntax, path, digest FROM instances "
                "WHERE sop_instance_uid = ?", (sop_instance_uid,)).fetchone()
        return None if row is None else StoredInstance(row[0], row[1], row[2], self.root / row[3], row[4])

    def sop_instance_uids(self, study_instance_uid: str | None = None) -> set[str]:
        with self._lock:
            if study_instance_uid is None:
                rows = self._db.execute("SELECT sop_instance_uid FROM instances").fetchall()
            else:
                rows = self._db.execute("SELECT sop_instance_uid FROM instances WHERE study_instance_uid = ?",
                                        (study_instance_uid,)).fetchall()
        return {r[0] for r in rows}

    def query(self, sql: str, params: Sequence[object]) -> list[sqlite3.Row]:
        with self._lock:
            self._db.row_factory = sqlite3.Row
            try:
                return list(self._db.execute(sql, list(params)).fetchall())
            finally:
                self._db.row_factory = None

    def instances_where(self, where: str, params: Iterable[object]) -> list[StoredInstance]:
        rows = self.query(
            "SELECT sop_instance_uid, sop_class_uid, transfer_syntax, path, digest FROM instances "
            f"WHERE {where} ORDER BY study_instance_uid, series_instance_uid, CAST(instance_number AS INTEGER)",
            list(params))
        return [StoredInstance(r[0], r[1], r[2], self.root / r[3], r[4]) for r in rows]
