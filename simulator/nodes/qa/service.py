"""The QA node: Storage SCP that checks each instance, spools accepted ones and forwards them.

Durability first: an instance is answered only after its file is fsynced (queue or quarantine) and its ledger row
committed (``ledger.py``). The file is written before the row, so a crash in between leaves a file without a row,
which the restart reconciliation queues; never a row without its file.

Decisions per C-STORE (the SOP Instance UID is the identity, the SHA-256 of the received data set the content):

- UID known with the same digest → idempotent: answer 0x0000, do not queue again, audit ``duplicate-ignored``.
  (A row rejected by the rules is not a duplicate: that instance was never acknowledged, so it is judged again;
  nor is one forwarded to a destination that was emptied since, state ``wiped``.)
- UID known with a different digest → the new copy is quarantined as a conflict and answered 0x0000: the sender
  did nothing wrong it could fix by resending, and refusing would make a modality retry forever; the operator
  decides (release → it is forwarded and replaces the PACS copy; reject → kept in ``rejected/``).
- otherwise the rules decide: reject → the verdict's failure status and Error Comment; quarantine → 0x0000 and a
  copy in ``quarantine/``; accept → queued and 0x0000, or the verdict's warning (0xB000, coercion of data
  elements) when the rules changed the data set, in which case the changed data set is what is forwarded.
- a disk or database error while persisting → 0xA700 (Refused: Out of Resources, PS3.4 B.2.3) with an Error
  Comment; nothing was acknowledged, so the sender retries.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import dcmwrite
from pydicom.tag import Tag

from simulator.config import Endpoint
from simulator.errors import ConfigError, HarnessError
from simulator.journal import Journal
from simulator.net import DicomClient, DicomServer, StoreReply, StoreRequest
from simulator.net.scp import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from simulator.net.scu import Timeouts
from simulator.nodes.listening import ListeningNode
from simulator.nodes.qa.forwarder import Forwarder
from simulator.nodes.qa.ledger import CONFLICT, FILENAME, AuditEvent, Entry, Ledger, Receipt, State
from simulator.nodes.qa.reconcile import WorklistLookup
from simulator.nodes.qa.rules import Rule, evaluate
from simulator.nodes.qa.ruleset import RuleSet
from simulator.nodes.qa.spool import (
    FAILED,
    QUARANTINE,
    REJECTED,
    Spool,
    file_facts,
    part10_head,
    part10_head_for,
)

LOG = logging.getLogger(__name__)

DESTINATION = "PACS"
# Two forwarding associations keep the destination busy while one waits for a response: through the embedded
# archive the queue was empty 0.45 s after the last acknowledgement instead of ~1 s with one (bench/README.md).
FORWARD_ASSOCIATIONS = 2
# A C-STORE response the destination has not sent within this many seconds ends the batch as a network error; the
# batch is sent again after the backoff (the destination keeps one copy per SOP Instance UID). pynetdicom's SCU
# waits 120 s by default, and a response lost on the way (seen about once in 70 runs of 200 slices) would hold the
# whole queue that long.
FORWARD_RESPONSE_TIMEOUT_S = 30.0
OUT_OF_RESOURCES = 0xA700
PARKED_SHOWN = 20  # refused instances 'radsim qa status' lists
_PIXEL_DATA = Tag(0x7FE0, 0x0010)
_STRIPES = 64


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_value(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _json_value(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return str(value)


def verdict_detail(verdict: Any, rules: Sequence[Rule], action: str, changes: Sequence[Any]) -> dict[str, Any]:
    """Each rule's violations and changes (before/after), for the audit trail."""
    per_rule: dict[str, dict[str, list[Any]]] = {r.name: {"violations": [], "changes": []} for r in rules}
    for v in verdict.violations:
        per_rule.setdefault(v.rule, {"violations": [], "changes": []})["violations"].append(
            {"keyword": v.keyword, "message": v.message, "status": f"0x{v.status:04X}"})
    for change in changes:
        rule = str(getattr(change, "rule", "") or "unnamed")
        per_rule.setdefault(rule, {"violations": [], "changes": []})["changes"].append(_json_value(change))
    return {"action": str(action), "status": f"0x{verdict.status:04X}", "comment": verdict.comment,
            "rules": per_rule}


class QANode(ListeningNode):
    """Accepts C-STORE, answers rejected instances with a failure status and Error Comment (PS3.4 B.2.3),
    and forwards accepted ones to ``forward_to`` (settable after start, e.g. once the PACS is up)."""

    def __init__(self, data_dir: Path, *, ae_title: str = "RADSIM_QA", node: str = "QA",
                 journal: Journal | None = None, forward_to: Endpoint | None = None,
                 rules: RuleSet | Sequence[Rule] | None = None, forward_associations: int = FORWARD_ASSOCIATIONS,
                 spool: Spool | None = None, worklist: WorklistLookup | None = None,
                 forward_timeout_s: float = FORWARD_RESPONSE_TIMEOUT_S) -> None:
        self.ae_title = ae_title
        self.node = node
        self.journal = journal if journal is not None else Journal()
        # A RuleSet (the shipped default, or one loaded from YAML) or, for tests, a plain sequence of checks.
        if rules is None:
            rules = RuleSet.default()
        self.ruleset: RuleSet | None = rules if isinstance(rules, RuleSet) else None
        self.rules: tuple[Rule, ...] = rules.checks if isinstance(rules, RuleSet) else tuple(rules)
        self.worklist: WorklistLookup | None = None
        self.set_worklist(worklist)
        self.forward_to = forward_to
        self.data_dir = data_dir
        self.spool = spool if spool is not None else Spool(data_dir)
        self.ledger = Ledger(data_dir)
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]
        self._running = False
        self._dead = threading.Event()  # set by kill(): nothing more is persisted or acknowledged
        self._in_flight = 0
        self._in_flight_done = threading.Condition()
        self.spool.remove_leftovers()
        self.reconcile()
        self.forwarder = Forwarder(
            self.spool, DESTINATION, lambda: self.forward_to,
            DicomClient(ae_title, node=node, journal=self.journal,
                        timeouts=Timeouts(dimse=forward_timeout_s, network=forward_timeout_s)),
            associations=forward_associations,
            ledger=self.ledger,
        )
        self._server = DicomServer(ae_title, node=node, journal=self.journal, store=self._on_store)

    def set_worklist(self, lookup: WorklistLookup | None) -> None:
        """Reconcile demographics against this worklist from now on (None: stop), with the rule set's
        ``worklist`` settings; see :mod:`simulator.nodes.qa.reconcile`."""
        if self.ruleset is None:
            if lookup is not None:
                raise ValueError("worklist reconciliation needs a RuleSet, not a plain list of checks")
            return
        self.worklist = lookup
        self.ruleset = self.ruleset.with_worklist(lookup)

    def reconcile(self) -> tuple[list[str], list[str]]:
        """Make the ledger agree with the queue folder (after a crash): see ``Ledger.reconcile``."""
        queued: dict[str, Receipt] = {}
        for item in self.spool.pending(DESTINATION):
            try:
                facts = file_facts(item.path)
            except (OSError, ValueError) as exc:  # unreadable meta: keep it queued under its file name
                LOG.warning("cannot read the meta of %s: %s", item.path, exc)
                queued[item.sop_instance_uid] = Receipt(item.sop_instance_uid, "")
                continue
            queued[facts.sop_instance_uid or item.sop_instance_uid] = Receipt(
                facts.sop_instance_uid or item.sop_instance_uid, facts.digest)
        marked, added = self.ledger.reconcile(queued)
        if marked or added:
            LOG.info("ledger reconciled with the queue: %d marked forwarded, %d queued", len(marked), len(added))
        return marked, added

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Endpoint:
        if self._dead.is_set():
            raise HarnessError(f"QA node {self.node} was killed; start a fresh one on its data folder (reopened())")
        endpoint = super().start(host, port)
        self.forwarder.start()
        self._running = True
        return endpoint

    @property
    def running(self) -> bool:
        """Started and not stopped (nor killed) since."""
        return self._running

    @property
    def killed(self) -> bool:
        """:meth:`kill` was called: this node persists and acknowledges nothing more."""
        return self._dead.is_set()

    def set_destination(self, endpoint: Endpoint) -> None:
        self.forward_to = endpoint
        self.forwarder.notify()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening, then let the forwarder finish (and record) the batch it is sending."""
        super().stop(timeout)
        self.forwarder.stop(timeout)
        self._running = False

    def kill(self, timeout: float = 30.0) -> None:
        """Stop as abruptly as a killed process, but in process: open associations are aborted, C-STOREs being
        handled are not acknowledged, and what the forwarder is sending is not recorded (those instances stay
        queued and are sent again after a restart; a PACS keeps one copy per SOP Instance UID).

        When this returns nothing of this node touches the data folder any more, so a fresh node
        (:meth:`reopened`) can take it over. The batch on the wire is let finish first (up to ``timeout``):
        ``DicomClient.store`` gives no way to cut an association from outside.
        """
        self._dead.set()
        self.forwarder.kill()
        super().stop(timeout)
        deadline = time.monotonic() + timeout
        with self._in_flight_done:
            self._in_flight_done.wait_for(lambda: self._in_flight == 0, max(0.0, deadline - time.monotonic()))
        self.forwarder.join(max(0.0, deadline - time.monotonic()))
        self._running = False

    def reopened(self, *, journal: Journal | None = None) -> QANode:
        """A new node on the same data folder with the same AE title, rules (as they are now), worklist, spool and
        forwarding settings, as a restarted process would be (not started; the ledger is reconciled with the
        queue)."""
        rules: RuleSet | Sequence[Rule] = self.ruleset if self.ruleset is not None else self.rules
        return QANode(self.data_dir, ae_title=self.ae_title, node=self.node,
                      journal=journal if journal is not None else self.journal, forward_to=self.forward_to,
                      rules=rules, forward_associations=self.forwarder.associations,
                      forward_timeout_s=self.forwarder.client.timeouts.dimse,
                      spool=type(self.spool)(self.spool.root), worklist=self.worklist)

    def queue_length(self) -> int:
        """Instances accepted and not yet acknowledged by the destination (files in the queue folder)."""
        return self.spool.count(DESTINATION)

    def drain(self, timeout: float) -> bool:
        """Wait until everything accepted so far has left the queue."""
        return self.forwarder.drain(timeout)

    # -- C-STORE -------------------------------------------------------------------------------------------

    def _on_store(self, request: StoreRequest) -> StoreReply:
        with self._in_flight_done:
            self._in_flight += 1
        try:
            return self._on_store_counted(request)
        finally:
            with self._in_flight_done:
                self._in_flight -= 1
                self._in_flight_done.notify_all()

    def _on_store_counted(self, request: StoreRequest) -> StoreReply:
        raw = request.raw()
        digest = digest_of(raw)
        uid = request.sop_instance_uid
        received = {"calling_ae": request.caller.ae_title, "host": request.caller.host,
                    "port": request.caller.port, "transfer_syntax": request.transfer_syntax,
                    "sop_class_uid": request.sop_class_uid, "bytes": len(raw), "digest": digest}
        with self._stripes[hash(uid) % _STRIPES]:
            try:
                if self._dead.is_set():
                    raise OSError(errno.ESHUTDOWN, "the QA node is stopping")
                return self._decide(request, raw, digest, received)
            except (OSError, sqlite3.OperationalError) as exc:
                LOG.error("cannot persist %s: %s", uid, exc)
                what = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                return StoreReply(OUT_OF_RESOURCES, f"QA out of resources: {what}"[:64])

    @staticmethod
    def _head(request: StoreRequest, digest: str) -> bytes:
        """Preamble and File Meta Information of the received instance (what ``request.file_meta()`` holds)."""
        return part10_head_for(sop_class_uid=request.sop_class_uid, sop_instance_uid=request.sop_instance_uid,
                               transfer_syntax=request.transfer_syntax,
                               implementation_class_uid=IMPLEMENTATION_CLASS_UID,
                               implementation_version_name=IMPLEMENTATION_VERSION_NAME,
                               source_ae=request.caller.ae_title, digest=digest)

    def _decide(self, request: StoreRequest, raw: bytes, digest: str, received: Mapping[str, Any]) -> StoreReply:
        uid = request.sop_instance_uid
        known = self.ledger.get(uid)
        if known is not None and known.state is State.WIPED:
            known = None  # the destination no longer has it: this is a new delivery
        if known is not None and (known.state is not State.REJECTED or known.operator_rejected):
            if known.digest in (digest, ""):
                self.ledger.note(uid, "duplicate-ignored", {**received, "state": str(known.state)})
                return StoreReply(0x0000)
            header = request.header()
            receipt = Receipt(uid, digest, str(header.get("StudyInstanceUID", "")), str(header.get("PatientID", "")))
            self.spool.hold(QUARANTINE, uid, digest, [self._head(request, digest), raw])
            self.ledger.record(receipt, State.QUARANTINED, [
                ("received", received),
                ("conflict", {"previous_digest": known.digest, "previous_state": str(known.state),
                              "digest": digest}),
                ("quarantined", {"reason": CONFLICT}),
            ], reason=CONFLICT)
            return StoreReply(0x0000)

        header = request.header()
        if self.ruleset is not None:
            verdict = self.ruleset.evaluate(header, transfer_syntax=request.transfer_syntax)
        else:
            verdict = evaluate(header, self.rules)
        action = str(getattr(verdict, "action", "accept" if verdict.accepted else "reject"))
        changes: Sequence[Any] = tuple(getattr(verdict, "changes", ()) or ())
        receipt = Receipt(uid, digest, str(header.get("StudyInstanceUID", "")), str(header.get("PatientID", "")))
        events: list[tuple[str, Mapping[str, Any]]] = [
            ("received", received), ("verdict", verdict_detail(verdict, self.rules, action, changes))]

        if action == "reject":
            self.ledger.record(receipt, State.REJECTED, events, reason=verdict.comment or "rejected by the rules",
                               status=verdict.status)
            return StoreReply(verdict.status, verdict.comment)

        part10 = self._changed_part10(request, header, digest) if changes else [self._head(request, digest), raw]
        if action == "quarantine":
            reason = verdict.comment or "quarantined by the rules"
            self.spool.hold(QUARANTINE, uid, digest, part10)
            self.ledger.record(receipt, State.QUARANTINED, [*events, ("quarantined", {"reason": reason})],
                               reason=reason)
            return StoreReply(0x0000)

        item = self.spool.put(DESTINATION, uid, part10)
        self.ledger.record(receipt, State.QUEUED, [*events, ("queued", {"file": item.path.name})])
        self.forwarder.notify()
        if changes:
            return StoreReply(verdict.status if verdict.status else 0xB000, verdict.comment)
        return StoreReply(0x0000)

    @staticmethod
    def _changed_part10(request: StoreRequest, header: Dataset, digest: str) -> bytes:
        """The data set as the rules changed it, as Part 10 bytes (pixels as received)."""
        full = request.dataset()
        if full is not header:  # the rules ran on the header: carry their changes over to the whole data set
            for elem in list(full):
                if elem.tag < _PIXEL_DATA and elem.tag not in header:
                    del full[elem.tag]
            for elem in header:
                full[elem.tag] = elem
        full.file_meta = request.file_meta()
        part10_head(full.file_meta, digest)  # sets the digest in the meta
        buffer = DicomBytesIO()
        dcmwrite(buffer, full, enforce_file_format=True)
        return bytes(buffer.getvalue())


# -- operator commands (``radsim qa``): work on a data folder whether a node runs on it or not -------------------


def open_ledger(data_dir: Path) -> Ledger:
    """The ledger of an existing QA data folder; ConfigError when there is none."""
    if not (data_dir / FILENAME).is_file():
        raise ConfigError(f"{data_dir} is not a QA node's data folder (no {FILENAME}); give the --data of "
                          "'radsim serve qa'")
    return Ledger(data_dir)


def _entries_in(ledger: Ledger, uids: Sequence[str], state: State, *, what: str, hint: str) -> list[Entry]:
    """The ledger rows of ``uids``, each checked to be in ``state``; ConfigError naming the first that is not."""
    if not uids:
        raise ConfigError(f"name at least one SOP Instance UID ({hint})")
    found = []
    for uid in uids:
        entry = ledger.get(uid)
        if entry is None:
            raise ConfigError(f"unknown SOP Instance UID {uid}: the QA node never received it")
        if entry.state is not state:
            raise ConfigError(f"{uid} {what} (it is {entry.state})")
        found.append(entry)
    return found


def _quarantined(ledger: Ledger, spool: Spool, uids: Sequence[str]) -> list[tuple[Entry, Path]]:
    found = []
    for entry in _entries_in(ledger, uids, State.QUARANTINED, what="is not quarantined",
                             hint="see 'radsim qa quarantine list'"):
        uid = entry.sop_instance_uid
        path = spool.held_path(QUARANTINE, uid, entry.digest)
        if not path.is_file():
            raise ConfigError(f"{uid} is quarantined but its file {path} is missing")
        found.append((entry, path))
    return found


def release(data_dir: Path, uids: Sequence[str], *, by: str = "operator") -> list[Entry]:
    """Move quarantined instances to the forwarding queue (a running node picks them up at its next poll).

    Every UID is checked before anything moves: one unknown UID changes nothing.
    """
    ledger = open_ledger(data_dir)
    try:
        spool = Spool(data_dir)
        out = []
        for entry, path in _quarantined(ledger, spool, uids):
            item = spool.requeue(path, DESTINATION, entry.sop_instance_uid)
            ledger.release(entry.sop_instance_uid, {"by": by, "previous_reason": entry.reason,
                                                    "file": item.path.name})
            out.append(entry)
        return out
    finally:
        ledger.close()


def reject(data_dir: Path, uids: Sequence[str], *, by: str = "operator") -> list[Entry]:
    """Move quarantined instances to ``rejected/`` (kept, not deleted); they are never forwarded."""
    ledger = open_ledger(data_dir)
    try:
        spool = Spool(data_dir)
        out = []
        for entry, path in _quarantined(ledger, spool, uids):
            target = spool.move(path, REJECTED)
            ledger.operator_reject(entry.sop_instance_uid, {"by": by, "previous_reason": entry.reason,
                                                            "file": str(target.relative_to(data_dir))})
            out.append(entry)
        return out
    finally:
        ledger.close()


def status(data_dir: Path) -> dict[str, Any]:
    """Counts per state, queue length, quarantine count and the last forwarding error (None when the last
    attempt succeeded)."""
    ledger = open_ledger(data_dir)
    try:
        spool = Spool(data_dir)
        quarantine = data_dir / QUARANTINE
        error = ledger.last_forward_error()
        parked = sorted(ledger.entries(State.FAILED), key=lambda e: e.updated_at, reverse=True)
        return {
            "data": str(data_dir),
            "states": ledger.counts(),
            "queue_length": spool.count(DESTINATION),
            "quarantine_files": len(list(quarantine.glob("*.dcm"))) if quarantine.is_dir() else 0,
            "last_forward_error": None if error is None else {"at": error.at, "uid": error.sop_instance_uid,
                                                              "error": error.detail.get("error")},
            # Refused by the destination (a failure status, or no presentation context it could travel in): set
            # aside in failed/, newest first; 'radsim qa retry' queues them again.
            "parked": [{"uid": e.sop_instance_uid, "at": e.updated_at, "reason": e.reason,
                        "status": None if e.last_status is None else f"0x{e.last_status:04X}"}
                       for e in parked[:PARKED_SHOWN]],
            "parked_total": len(parked),
        }
    finally:
        ledger.close()


def retry(data_dir: Path, uids: Sequence[str] = (), *, every: bool = False, by: str = "operator") -> list[Entry]:
    """Queue instances the destination refused (state ``failed``, files in ``failed/``) to be forwarded again, e.g.
    after the PACS was configured to accept their SOP class or transfer syntax. ``every``: all of them. Every UID
    is checked before anything moves."""
    ledger = open_ledger(data_dir)
    try:
        spool = Spool(data_dir)
        entries = ledger.entries(State.FAILED) if every else _entries_in(
            ledger, uids, State.FAILED, what="was not refused by the destination", hint="or --all; see 'radsim qa "
                                                                                     "status'")
        found = [(entry, spool.parked_path(entry.sop_instance_uid)) for entry in entries]
        missing = [entry.sop_instance_uid for entry, path in found if path is None]
        if missing:
            raise ConfigError(f"{missing[0]} is failed but its file is missing from {data_dir / FAILED}")
        for entry, path in found:
            assert path is not None
            item = spool.requeue(path, DESTINATION, entry.sop_instance_uid)
            path.with_suffix(".txt").unlink(missing_ok=True)
            ledger.retry(entry.sop_instance_uid, {"by": by, "previous_reason": entry.reason, "file": item.path.name})
        return [entry for entry, _ in found]
    finally:
        ledger.close()


def quarantine_list(data_dir: Path) -> list[Entry]:
    ledger = open_ledger(data_dir)
    try:
        return ledger.entries(State.QUARANTINED)
    finally:
        ledger.close()


def audit_trail(data_dir: Path, uid: str) -> tuple[Entry, list[AuditEvent]]:
    ledger = open_ledger(data_dir)
    try:
        entry = ledger.get(uid)
        if entry is None:
            raise ConfigError(f"unknown SOP Instance UID {uid}: the QA node never received it")
        return entry, ledger.audit(uid)
    finally:
        ledger.close()
