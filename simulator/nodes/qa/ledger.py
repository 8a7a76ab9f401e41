"""The QA node's ledger: one row per SOP Instance UID (its state) and an append-only audit trail.

SQLite in WAL mode with ``synchronous=FULL`` in ``<data>/ledger.sqlite``: every method commits before it returns,
so whatever the node acknowledges is recorded on disk first. One connection per process, guarded by a lock; the
``radsim qa`` commands open their own connection to the same file (WAL lets them read and write while a node runs).

States (``State``): ``queued`` (in ``queue/``, waiting for the destination), ``forwarded`` (the destination
answered success or warning), ``quarantined`` (in ``quarantine/``, waiting for an operator), ``rejected`` (refused
by the rules, never acknowledged; or rejected by an operator, then kept in ``rejected/``), ``failed`` (refused by
the destination, parked in ``failed/``), ``released`` (an operator released it; recorded in the trail, the row
moves on to ``queued`` in the same transaction), ``wiped`` (it was forwarded, then the destination was emptied:
sent again, it is judged and forwarded as new).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from simulator.nodes.durable import DurableDatabase

FILENAME = "ledger.sqlite"

OPERATOR_REJECTED = "rejected by operator"
CONFLICT = "conflict: different content under an existing SOP Instance UID"


class State(StrEnum):
    QUEUED = "queued"
    FORWARDED = "forwarded"
    QUARANTINED = "quarantined"
    REJECTED = "rejected"
    FAILED = "failed"
    RELEASED = "released"
    WIPED = "wiped"  # was forwarded; the destination has been emptied since (a scenario reset)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    sop_instance_uid TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    state TEXT NOT NULL,
    study_instance_uid TEXT NOT NULL DEFAULT '',
    patient_id TEXT NOT NULL DEFAULT '',
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS by_state ON instances (state);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sop_instance_uid TEXT NOT NULL,
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    detail_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_by_uid ON audit (sop_instance_uid, id);
CREATE INDEX IF NOT EXISTS audit_by_event ON audit (event, id);
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Entry:
    sop_instance_uid: str
    digest: str
    state: State
    study_instance_uid: str
    patient_id: str
    received_at: str
    updated_at: str
    attempts: int
    last_status: int | None
    reason: str

    @property
    def operator_rejected(self) -> bool:
        return self.state is State.REJECTED and self.reason == OPERATOR_REJECTED

    def as_dict(self) -> dict[str, Any]:
        return {"sop_instance_uid": self.sop_instance_uid, "digest": self.digest, "state": str(self.state),
                "study_instance_uid": self.study_instance_uid, "patient_id": self.patient_id,
                "received_at": self.received_at, "updated_at": self.updated_at, "attempts": self.attempts,
                "last_status": self.last_status, "reason": self.reason}


@dataclass(frozen=True)
class AuditEvent:
    id: int
    sop_instance_uid: str
    at: str
    event: str
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "sop_instance_uid": self.sop_instance_uid, "at": self.at, "event": self.event,
                "detail": self.detail}


@dataclass(frozen=True)
class Receipt:
    """What the node knows of an instance when it decides: the row to write and the events that explain it."""

    sop_instance_uid: str
    digest: str
    study_instance_uid: str = ""
    patient_id: str = ""


_COLUMNS = ("sop_instance_uid, digest, state, study_instance_uid, patient_id, received_at, updated_at, attempts, "
            "last_status, reason")


def _entry(row: Sequence[Any]) -> Entry:
    return Entry(row[0], row[1], State(row[2]), row[3], row[4], row[5], row[6], int(row[7]),
                 None if row[8] is None else int(row[8]), row[9])


class Ledger:
    """States and audit trail of every instance the QA node has seen."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / FILENAME
        self._store = DurableDatabase(self.path, _SCHEMA)
        self._lock = self._store.lock
        self._db = self._store.db
        self._tx = self._store.transaction

    def close(self) -> None:
        self._store.close()

    @staticmethod
    def _audit(db: sqlite3.Connection, uid: str, event: str, detail: Mapping[str, Any], at: str) -> None:
        db.execute("INSERT INTO audit (sop_instance_uid, at, event, detail_json) VALUES (?, ?, ?, ?)",
                   (uid, at, event, json.dumps(dict(detail), default=str, sort_keys=True)))

    # -- reading -------------------------------------------------------------------------------------------

    def get(self, uid: str) -> Entry | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM instances WHERE sop_instance_uid = ?",
                                   (uid,)).fetchone()
        return None if row is None else _entry(row)

    def entries(self, state: State | None = None) -> list[Entry]:
        with self._lock:
            if state is None:
                rows = self._db.execute(f"SELECT {_COLUMNS} FROM instances ORDER BY received_at").fetchall()
            else:
                rows = self._db.execute(f"SELECT {_COLUMNS} FROM instances WHERE state = ? ORDER BY updated_at",
                                        (str(state),)).fetchall()
        return [_entry(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Instances per state; every state is present (zero when none)."""
        out = {str(s): 0 for s in State}
        with self._lock:
            for state, count in self._db.execute("SELECT state, COUNT(*) FROM instances GROUP BY state"):
                out[state] = int(count)
        return out

    def audit(self, uid: str) -> list[AuditEvent]:
        with self._lock:
            rows = self._db.execute("SELECT id, sop_instance_uid, at, event, detail_json FROM audit "
                                    "WHERE sop_instance_uid = ? ORDER BY id", (uid,)).fetchall()
        return [AuditEvent(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def events(self, event: str | None = None) -> list[AuditEvent]:
        with self._lock:
            if event is None:
                rows = self._db.execute("SELECT id, sop_instance_uid, at, event, detail_json FROM audit "
                                        "ORDER BY id").fetchall()
            else:
                rows = self._db.execute("SELECT id, sop_instance_uid, at, event, detail_json FROM audit "
                                        "WHERE event = ? ORDER BY id", (event,)).fetchall()
        return [AuditEvent(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def last_forward_error(self) -> AuditEvent | None:
        """The latest forward attempt that ended in a network error, unless a later attempt succeeded."""
        with self._lock:
            row = self._db.execute("SELECT id, sop_instance_uid, at, event, detail_json FROM audit "
                                   "WHERE event = 'forward-attempt' ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        event = AuditEvent(row[0], row[1], row[2], row[3], json.loads(row[4]))
        return event if "error" in event.detail else None

    # -- receiving -----------------------------------------------------------------------------------------

    def record(self, receipt: Receipt, state: State, events: Iterable[tuple[str, Mapping[str, Any]]], *,
               reason: str = "", status: int | None = None) -> None:
        """Write (or overwrite) the row of a received instance and its events, in one transaction."""
        at = now()
        with self._tx() as db:
            db.execute(
                "INSERT INTO instances (sop_instance_uid, digest, state, study_instance_uid, patient_id, "
                "received_at, updated_at, attempts, last_status, reason) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?) "
                "ON CONFLICT (sop_instance_uid) DO UPDATE SET digest = excluded.digest, state = excluded.state, "
                "study_instance_uid = excluded.study_instance_uid, patient_id = excluded.patient_id, "
                "updated_at = excluded.updated_at, last_status = excluded.last_status, reason = excluded.reason",
                (receipt.sop_instance_uid, receipt.digest, str(state), receipt.study_instance_uid,
                 receipt.patient_id, at, at, status, reason))
            for event, detail in events:
                self._audit(db, receipt.sop_instance_uid, event, detail, at)

    def note(self, uid: str, event: str, detail: Mapping[str, Any]) -> None:
        """An audit event that changes no state (e.g. duplicate-ignored)."""
        with self._tx() as db:
            self._audit(db, uid, event, detail, now())

    # -- forwarding ----------------------------------------------------------------------------------------

    def forwarded(self, outcomes: Sequence[tuple[str, int, str]], destination: str) -> None:
        """``(uid, status, meaning)`` the destination answered with success or warning.

        The row becomes ``forwarded`` unless an operator decision overtook it meanwhile (e.g. a conflicting copy
        was quarantined under the same UID while the original was queued): then only attempts and status change.
        """
        at = now()
        with self._tx() as db:
            for uid, status, meaning in outcomes:
                db.execute("UPDATE instances SET attempts = attempts + 1, last_status = ?, updated_at = ?, "
                           "state = CASE WHEN state IN ('queued', 'released') THEN 'forwarded' ELSE state END "
                           "WHERE sop_instance_uid = ?", (status, at, uid))
                detail = {"destination": destination, "status": f"0x{status:04X}", "meaning": meaning}
                self._audit(db, uid, "forward-attempt", detail, at)
                self._audit(db, uid, "forwarded", detail, at)

    def failed(self, uid: str, status: int | None, reason: str, destination: str) -> None:
        """The destination refused the instance (a failure status, or ``status`` None: no presentation context it
        could travel in); it was parked in ``failed/``."""
        at = now()
        shown = "not sent" if status is None else f"0x{status:04X}"
        with self._tx() as db:
            db.execute("UPDATE instances SET attempts = attempts + 1, last_status = ?, updated_at = ?, "
                       "state = 'failed', reason = ? WHERE sop_instance_uid = ?", (status, at, reason, uid))
            self._audit(db, uid, "forward-attempt",
                        {"destination": destination, "status": shown, "reason": reason}, at)
            self._audit(db, uid, "parked", {"destination": destination, "reason": reason}, at)

    def attempt_failed(self, uids: Sequence[str], error: str, destination: str) -> None:
        """A network error: the instances stay queued; the attempt is counted and audited."""
        at = now()
        with self._tx() as db:
            for uid in uids:
                db.execute("UPDATE instances SET attempts = attempts + 1, updated_at = ? WHERE sop_instance_uid = ?",
                           (at, uid))
                self._audit(db, uid, "forward-attempt", {"destination": destination, "error": error}, at)

    def destination_wiped(self, destination: str) -> int:
        """The destination was emptied (between scenarios): what it acknowledged is no longer there, so a resend of
        those instances must be forwarded again, not ignored as a duplicate. Returns how many rows changed."""
        at = now()
        with self._tx() as db:
            uids = [row[0] for row in db.execute("SELECT sop_instance_uid FROM instances WHERE state = 'forwarded'")]
            db.execute("UPDATE instances SET state = 'wiped', updated_at = ? WHERE state = 'forwarded'", (at,))
            for uid in uids:
                self._audit(db, uid, "destination-wiped", {"destination": destination}, at)
        return len(uids)

    # -- operator decisions --------------------------------------------------------------------------------

    def release(self, uid: str, detail: Mapping[str, Any]) -> None:
        at = now()
        with self._tx() as db:
            db.execute("UPDATE instances SET state = 'queued', reason = '', updated_at = ? "
                       "WHERE sop_instance_uid = ?", (at, uid))
            self._audit(db, uid, "released", detail, at)
            self._audit(db, uid, "queued", detail, at)

    def retry(self, uid: str, detail: Mapping[str, Any]) -> None:
        """An instance the destination refused is queued again (an operator asked for it)."""
        at = now()
        with self._tx() as db:
            db.execute("UPDATE instances SET state = 'queued', reason = '', updated_at = ? WHERE sop_instance_uid = ?",
                       (at, uid))
            self._audit(db, uid, "retried", detail, at)
            self._audit(db, uid, "queued", detail, at)

    def operator_reject(self, uid: str, detail: Mapping[str, Any]) -> None:
        at = now()
        with self._tx() as db:
            db.execute("UPDATE instances SET state = 'rejected', reason = ?, updated_at = ? "
                       "WHERE sop_instance_uid = ?", (OPERATOR_REJECTED, at, uid))
            self._audit(db, uid, "rejected-by-operator", detail, at)

    # -- restart -------------------------------------------------------------------------------------------

    def reconcile(self, queued: Mapping[str, Receipt]) -> tuple[list[str], list[str]]:
        """Make the ledger agree with the files in the queue after a restart (``queued``: UID → what the file says).

        A queued row whose file is gone was forwarded (the file leaves the queue only after the destination
        acknowledged it; the process died before the ledger heard). A file without a row (the process died between
        writing the file and committing the row — the sender was not acknowledged) is queued. Returns the UIDs
        marked forwarded and the UIDs added.
        """
        at = now()
        marked: list[str] = []
        added: list[str] = []
        with self._tx() as db:
            rows = db.execute("SELECT sop_instance_uid, state FROM instances WHERE state IN ('queued', 'released') "
                              "OR sop_instance_uid IN (SELECT value FROM json_each(?))",
                              (json.dumps(list(queued)),)).fetchall()
            known = {uid: state for uid, state in rows}
            for uid, state in known.items():
                if uid not in queued and state in ("queued", "released"):
                    db.execute("UPDATE instances SET state = 'forwarded', updated_at = ? WHERE sop_instance_uid = ?",
                               (at, uid))
                    self._audit(db, uid, "forwarded", {"recovered": "file left the queue before a restart"}, at)
                    marked.append(uid)
            for uid, receipt in queued.items():
                if uid in known:
                    continue
                db.execute("INSERT INTO instances (sop_instance_uid, digest, state, study_instance_uid, patient_id, "
                           "received_at, updated_at) VALUES (?, ?, 'queued', ?, ?, ?, ?)",
                           (uid, receipt.digest, receipt.study_instance_uid, receipt.patient_id, at, at))
                self._audit(db, uid, "queued", {"recovered": "file in the queue without a ledger row"}, at)
                added.append(uid)
        return marked, added
