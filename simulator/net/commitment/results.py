"""Storage Commitment results as the requesting side sees them (PS3.4 J.3.3): the SOP Class with its well-known
SOP Instance, Action and Event Type IDs and Failure Reasons (PS3.4 J.3.4, J.3.5, Tables J.3-1 and J.3-2), the
report one N-EVENT-REPORT carries (PS3.4 J.3.3.1.1), what became of one request, the
:class:`CommitmentReceiver` that matches reports to waiting requests by Transaction UID (0008,1195), and the
reading of a received report (PS3.4 J.3.3.1.3) with the journal helpers the other modules share.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydicom.dataset import Dataset
from pydicom.uid import UID

from simulator.journal import Exchange, Journal
from simulator.net.status import describe_failure_reason

# PS3.4 J.3.4 / J.3.5: the SOP Class and its well-known SOP Instance.
STORAGE_COMMITMENT_PUSH_MODEL = UID("1.2.840.10008.1.20.1")
STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE = UID("1.2.840.10008.1.20.1.1")
REQUEST_STORAGE_COMMITMENT = 1  # Action Type ID (PS3.4 Table J.3-1)
EVENT_ALL_COMMITTED = 1  # Event Type ID: Storage Commitment Request Successful (PS3.4 Table J.3-2)
EVENT_FAILURES_EXIST = 2  # Event Type ID: Storage Commitment Request Complete - Failures Exist

# Failure Reason (0008,1197) values an SCP of ours uses (PS3.3 C.14.1.1).
PROCESSING_FAILURE = 0x0110
NO_SUCH_OBJECT_INSTANCE = 0x0112
CLASS_INSTANCE_CONFLICT = 0x0119
DUPLICATE_TRANSACTION_UID = 0x0131

ReportDelivery = Literal["same-association", "new-association"]
Reference = tuple[str, str]  # (SOP Class UID, SOP Instance UID)
FailedReference = tuple[str, str, int]  # (SOP Class UID, SOP Instance UID, Failure Reason)


@dataclass(frozen=True)
class CommitmentReport:
    """One Storage Commitment Result as received (PS3.4 J.3.3.1): who sent it, how, and what it says.

    ``matched`` is True when it answered a request someone was waiting for (first report of that transaction).
    """

    transaction_uid: str
    event_type: int
    committed: tuple[Reference, ...]
    failed: tuple[FailedReference, ...]
    delivery: ReportDelivery
    reporter_ae: str
    received_at: float
    retrieve_ae_title: str | None = None
    matched: bool = False


@dataclass(frozen=True)
class CommitmentResult:
    """What became of one Storage Commitment Request.

    ``delivery`` says where the result arrived (None: no result). ``timed_out`` means no result arrived while it
    could still arrive (a result, never an exception). ``note`` explains a timeout or a non-conformant result.
    """

    transaction_uid: str
    requested: list[Reference]
    committed: list[Reference] = field(default_factory=list)
    failed: list[FailedReference] = field(default_factory=list)
    delivery: ReportDelivery | None = None
    timed_out: bool = False
    event_type: int | None = None
    elapsed_s: float = 0.0
    note: str = ""

    @property
    def missing(self) -> list[Reference]:
        """Requested references the result names neither as committed nor as failed (violates PS3.4 J.3.3.1.2)."""
        named = set(self.committed) | {(cls, inst) for cls, inst, _ in self.failed}
        return [ref for ref in self.requested if ref not in named]

    @property
    def all_committed(self) -> bool:
        """The SCP took responsibility for every requested instance."""
        return (not self.timed_out and not self.failed and self.delivery is not None
                and set(self.requested) <= set(self.committed))

    def failure_reasons(self) -> dict[str, str]:
        """SOP Instance UID -> Failure Reason with its meaning, e.g. ``0x0112 (No such object instance)``."""
        return {inst: f"0x{reason:04X} ({describe_failure_reason(reason)})" for _, inst, reason in self.failed}


# -- receiving results ------------------------------------------------------------------------------------------


class CommitmentReceiver:
    """Collects Storage Commitment results and wakes whoever waits for their Transaction UID.

    Every report is kept (the last ``keep``), including those for transactions nobody waits for (late or
    unknown ones): ``reports()`` and ``unmatched()`` show them.
    """

    def __init__(self, keep: int = 1000) -> None:
        self._cond = threading.Condition()
        self._expected: dict[str, CommitmentReport | None] = {}
        self._reports: deque[CommitmentReport] = deque(maxlen=keep)

    def expect(self, transaction_uid: str) -> None:
        """Announce a request before sending it, so that an early result is matched."""
        with self._cond:
            self._expected.setdefault(transaction_uid, None)

    def forget(self, transaction_uid: str) -> None:
        """Stop waiting for ``transaction_uid``; a result that comes later is recorded as unmatched."""
        with self._cond:
            self._expected.pop(transaction_uid, None)

    def deliver(self, report: CommitmentReport) -> CommitmentReport:
        """Record ``report``; return it with ``matched`` set."""
        with self._cond:
            uid = report.transaction_uid
            matched = uid in self._expected and self._expected[uid] is None
            stored = replace(report, matched=matched)
            if matched:
                self._expected[uid] = stored
            self._reports.append(stored)
            self._cond.notify_all()
        return stored

    def wake(self) -> None:
        """Let waiters re-check their ``stop`` condition."""
        with self._cond:
            self._cond.notify_all()

    def wait(self, transaction_uid: str, timeout: float, *,
             stop: Callable[[], bool] | None = None) -> CommitmentReport | None:
        """The result for ``transaction_uid`` once it arrives; None after ``timeout`` seconds or once ``stop()``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = self._expected.get(transaction_uid)
                if got is not None:
                    return got
                if stop is not None and stop():
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def reports(self, transaction_uid: str | None = None) -> list[CommitmentReport]:
        with self._cond:
            return [r for r in self._reports if transaction_uid is None or r.transaction_uid == transaction_uid]

    def unmatched(self) -> list[CommitmentReport]:
        """Reports nobody was waiting for: unknown transactions, results after a timeout, duplicates."""
        with self._cond:
            return [r for r in self._reports if not r.matched]


def _references(sequence: Iterable[Dataset], *, failed: bool) -> list[Any]:
    out: list[Any] = []
    for item in sequence:
        ref = (str(item.get("ReferencedSOPClassUID", "")), str(item.get("ReferencedSOPInstanceUID", "")))
        out.append((*ref, int(item.get("FailureReason", PROCESSING_FAILURE))) if failed else ref)
    return out


def _read_report(event: Any, delivery: ReportDelivery) -> tuple[int, CommitmentReport | None, str]:
    """Parse an incoming Storage Commitment Result: (status to answer, report, problem) (PS3.4 J.3.3.1.1)."""
    event_type = event.event_type
    if event_type not in (EVENT_ALL_COMMITTED, EVENT_FAILURES_EXIST):
        return 0x0113, None, f"Event Type ID {event_type} is not a storage commitment result"
    try:
        info = event.event_information
        uid = str(info.get("TransactionUID", "")).strip()
        committed = _references(info.get("ReferencedSOPSequence", []), failed=False)
        failed = _references(info.get("FailedSOPSequence", []), failed=True)
        retrieve = str(info.get("RetrieveAETitle", "")).strip() or None
    except Exception as exc:  # undecodable Event Information
        return 0x0110, None, f"cannot decode the Event Information: {exc}"
    if not uid:
        return 0x0115, None, "the Event Information has no Transaction UID (0008,1195)"
    report = CommitmentReport(
        transaction_uid=uid, event_type=int(event_type), committed=tuple(committed), failed=tuple(failed),
        delivery=delivery, reporter_ae=str(event.assoc.requestor.ae_title if delivery == "new-association"
                                           else event.assoc.acceptor.ae_title).strip(),
        received_at=time.time(), retrieve_ae_title=retrieve,
    )
    return 0x0000, report, ""


def _record(journal: Journal, *, node: str, local_ae: str, role: str, service_role: str, peer: tuple[str, str, int],
            kind: str, status: int | None, meaning: str, started: float, detail: dict[str, Any]) -> None:
    journal.record(Exchange(
        node=node, kind=kind, role=role, local_ae=local_ae, peer_ae=peer[0], peer_host=peer[1], peer_port=peer[2],
        status=status, meaning=meaning, started=started, duration_s=time.time() - started,
        detail={"service_role": service_role, **detail},
    ))


def _report_detail(report: CommitmentReport | None, problem: str) -> dict[str, Any]:
    if report is None:
        return {"problem": problem}
    return {"transaction_uid": report.transaction_uid, "event_type": report.event_type,
            "committed": len(report.committed), "failed": len(report.failed), "delivery": report.delivery,
            "matched": report.matched}


def _peer_of(side: Any) -> tuple[str, str, int]:
    return str(side.ae_title).strip(), str(side.address), int(side.port)
