"""Storage Commitment Push Model (PS3.4 J): the SCU request, the receiver of results on new associations, and the
SCP adapter an archive plugs into its :class:`~simulator.net.scp.DicomServer`.

The SCU asks with N-ACTION (Request Storage Commitment, PS3.4 J.3.2); the SCP answers the N-ACTION at once and
later sends the Storage Commitment Result as an N-EVENT-REPORT (PS3.4 J.3.3), either on the same association or on
a new one that it opens to the requesting AE, proposing the SCP role (PS3.4 J.3.3.1.2 note 1, PS3.7 D.3.3.4).
Requests and results are matched by Transaction UID (0008,1195).

Journal kinds: ``N-ACTION`` and ``N-EVENT-REPORT``. As everywhere in the journal, ``role`` is ``SCU`` for the node
that sent the DIMSE request and ``SCP`` for the node that answered it; ``detail["service_role"]`` names the node's
storage commitment role (the SCP of storage commitment sends the N-EVENT-REPORT request).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from io import BytesIO
from typing import Any, Literal, get_args

from pydicom.dataset import Dataset
from pydicom.uid import UID, generate_uid
from pynetdicom import build_context, build_role, evt
from pynetdicom.dimse_primitives import N_EVENT_REPORT
from pynetdicom.dsutils import encode

from simulator.config import Endpoint
from simulator.errors import AssociationAborted, DimseFailure, NetworkError
from simulator.journal import Exchange, Journal
from simulator.net.contexts import NATIVE_SYNTAXES
from simulator.net.scp import DicomServer, ScpService
from simulator.net.scu import DicomClient
from simulator.net.status import (
    describe_failure_reason,
    describe_status,
    is_failure,
)

LOG = logging.getLogger(__name__)

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

Delivery = Literal["same", "new", "auto"]
DELIVERY_MODES: tuple[str, ...] = get_args(Delivery)
ReportDelivery = Literal["same-association", "new-association"]
Reference = tuple[str, str]  # (SOP Class UID, SOP Instance UID)
FailedReference = tuple[str, str, int]  # (SOP Class UID, SOP Instance UID, Failure Reason)
Resolver = Callable[[list[Reference]], list[tuple[str, str, int | None]]]

# How long an SCP of ours waits for the N-EVENT-REPORT response on the requesting association.
REPORT_RESPONSE_TIMEOUT = 30.0


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


class _ReceiverService:
    """Answers Storage Commitment results that an SCP sends on a new association (PS3.4 J.3.3.1.3)."""

    def __init__(self, receiver: CommitmentReceiver) -> None:
        self.receiver = receiver
        self.server: DicomServer | None = None

    def on_start(self, server: DicomServer) -> None:
        self.server = server

    def on_report(self, event: Any) -> tuple[int, None]:
        started = time.time()
        status, report, problem = _read_report(event, "new-association")
        stored = self.receiver.deliver(report) if report is not None else None
        server = self.server
        if server is not None:
            meaning = problem or ("result received" if stored is None or stored.matched
                                  else "result for a transaction nobody waits for (recorded)")
            _record(server.journal, node=server.node, local_ae=server.ae_title, role="SCP", service_role="SCU",
                    peer=_peer_of(event.assoc.requestor), kind="N-EVENT-REPORT", status=status,
                    meaning=f"{describe_status(status, 'N-EVENT-REPORT')}: {meaning}", started=started,
                    detail=_report_detail(stored, problem))
        # A result for an unknown transaction is still answered with success: the response only acknowledges the
        # notification, PS3.4 J.3.3.1.4 defines no status for it, and a failure would only make the SCP retry.
        return status, None


def commitment_receiver_service(receiver: CommitmentReceiver) -> ScpService:
    """The service a node's DicomServer needs to accept Storage Commitment results on new associations.

    The archive opens them proposing the SCP role for itself (PS3.4 J.3.3.1.2 note 1); we accept that role
    (SCU/SCP role selection, PS3.7 D.3.3.4). Each result goes to ``receiver``, which wakes the waiting
    :func:`request_commitment`. A peer that proposes no role selection is served too.
    """
    service = _ReceiverService(receiver)
    return ScpService(
        name="storage-commitment-results",
        contexts=((str(STORAGE_COMMITMENT_PUSH_MODEL), False, True),),
        handlers=((evt.EVT_N_EVENT_REPORT, service.on_report),),
        on_start=service.on_start,
    )


# -- "after the response is on the wire" ---------------------------------------------------------------------------


class _SentWatch:
    """Runs callbacks once a given DIMSE response has been written to the socket.

    pynetdicom's EVT_DIMSE_SENT fires before a message's P-DATA PDUs are even queued; EVT_PDU_SENT fires after each
    PDU is written. A response is out when the PDU carrying its last fragment (PS3.8 E.2 message control header:
    bit 1 = last fragment, bit 0 = command) has been sent. One watch per association, bound once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], Callable[[], None]] = {}
        self._armed: deque[tuple[int, bool, Callable[[], None]]] = deque()

    def expect(self, message_type: str, message_id: int, then: Callable[[], None]) -> None:
        with self._lock:
            self._pending[(message_type, message_id)] = then

    def on_dimse_sent(self, event: Any) -> None:
        message = event.message
        command = message.command_set
        key = (type(message).__name__, int(command.get("MessageIDBeingRespondedTo", -1)))
        with self._lock:
            then = self._pending.pop(key, None)
            if then is not None:
                has_data = int(command.get("CommandDataSetType", 0x0101)) != 0x0101
                self._armed.append((int(message.context_id), has_data, then))

    def on_pdu_sent(self, event: Any) -> None:
        if not self._armed:
            return
        ready: list[Callable[[], None]] = []
        with self._lock:
            for item in getattr(event.pdu, "presentation_data_value_items", ()):
                if not self._armed:
                    break
                context_id, has_data, then = self._armed[0]
                value = item.presentation_data_value
                if item.presentation_context_id != context_id or not value:
                    continue
                header = value[0]
                if header & 0x02 and bool(header & 0x01) != has_data:
                    self._armed.popleft()
                    ready.append(then)
        for then in ready:
            then()


_WATCHES: weakref.WeakKeyDictionary[Any, _SentWatch] = weakref.WeakKeyDictionary()
_WATCHES_LOCK = threading.Lock()


def _after_response_sent(assoc: Any, message_type: str, message_id: int, then: Callable[[], None]) -> None:
    """Call ``then`` (in pynetdicom's network thread: keep it short) once our response of ``message_type``
    (e.g. ``N_ACTION_RSP``) to request ``message_id`` has been sent on ``assoc``."""
    with _WATCHES_LOCK:
        watch = _WATCHES.get(assoc)
        if watch is None:
            watch = _SentWatch()
            assoc.bind(evt.EVT_DIMSE_SENT, watch.on_dimse_sent)
            assoc.bind(evt.EVT_PDU_SENT, watch.on_pdu_sent)
            _WATCHES[assoc] = watch
    watch.expect(message_type, message_id, then)


# -- SCU: the request ----------------------------------------------------------------------------------------------


def references_of(items: Iterable[Dataset | Reference]) -> list[Reference]:
    """(SOP Class UID, SOP Instance UID) for datasets or ready-made pairs, in order, each once (PS3.4 J.3.2.1.1.3)."""
    refs: dict[Reference, None] = {}
    for item in items:
        if isinstance(item, Dataset):
            ref = (str(item.SOPClassUID), str(item.SOPInstanceUID))
        else:
            cls, inst = item
            ref = (str(cls), str(inst))
        refs[ref] = None
    return list(refs)


def _action_information(transaction_uid: str, references: Sequence[Reference]) -> Dataset:
    ds = Dataset()
    ds.TransactionUID = transaction_uid
    items = []
    for cls, inst in references:
        item = Dataset()
        item.ReferencedSOPClassUID = cls
        item.ReferencedSOPInstanceUID = inst
        items.append(item)
    ds.ReferencedSOPSequence = items
    return ds


class _SameAssociationResults:
    """The requester's handler for results sent on its own association (PS3.4 J.3.3.1.2 note 1)."""

    def __init__(self, client: DicomClient, inbox: CommitmentReceiver, accept: bool) -> None:
        self.client = client
        self.inbox = inbox
        self.accept = accept

    def on_report(self, event: Any) -> tuple[int, None]:
        started = time.time()
        status, report, problem = _read_report(event, "same-association")
        if not self.accept and report is not None:
            status, report = PROCESSING_FAILURE, None
            problem = "refused: the requester does not wait on this association (it releases it)"
        peer = _peer_of(event.assoc.acceptor)

        def _done() -> None:
            # Only now wake the requester: it releases the association, which must not overtake our response.
            stored = self.inbox.deliver(report) if report is not None else None
            meaning = problem or ("result received" if stored is None or stored.matched
                                  else "result for a transaction nobody waits for (recorded)")
            _record(self.client.journal, node=self.client.node, local_ae=self.client.ae_title, role="SCP",
                    service_role="SCU", peer=peer, kind="N-EVENT-REPORT", status=status,
                    meaning=f"{describe_status(status, 'N-EVENT-REPORT')}: {meaning}", started=started,
                    detail=_report_detail(stored, problem))

        _after_response_sent(event.assoc, "N_EVENT_REPORT_RSP", int(event.request.MessageID), _done)
        return status, None


def _result(uid: str, requested: list[Reference], report: CommitmentReport | None, started: float,
            why_none: str) -> CommitmentResult:
    elapsed = time.monotonic() - started
    if report is None:
        return CommitmentResult(uid, requested, timed_out=True, elapsed_s=elapsed, note=why_none)
    result = CommitmentResult(uid, requested, list(report.committed), list(report.failed), report.delivery,
                              event_type=report.event_type, elapsed_s=elapsed)
    problems = []
    if result.missing:
        problems.append(f"the result names {len(result.missing)} requested instance(s) neither committed nor failed")
    if (report.event_type == EVENT_ALL_COMMITTED) == bool(report.failed):
        problems.append(f"Event Type {report.event_type} does not fit {len(report.failed)} failed instance(s)")
    return replace(result, note="; ".join(problems)) if problems else result


def request_commitment(client: DicomClient, peer: Endpoint, references: Sequence[Reference], *,
                       transaction_uid: str | None = None, timeout: float, wait_on_association: bool = True,
                       receiver: CommitmentReceiver | None = None) -> CommitmentResult:
    """Ask ``peer`` to commit to storing ``references`` and wait up to ``timeout`` s for its result (PS3.4 J.3).

    Sends N-ACTION (Action Type 1, Transaction UID, Referenced SOP Sequence; PS3.4 J.3.2); a failure status raises
    :class:`DimseFailure`. The result (N-EVENT-REPORT, PS3.4 J.3.3) is taken from the same association when
    ``wait_on_association`` (kept open meanwhile) or from a new association accepted by ``receiver`` (a
    :func:`commitment_receiver_service` on our own AE), whichever comes first. With ``wait_on_association`` False
    the association is released right after the N-ACTION response, and a result still sent on it is refused.
    ``timeout`` counts from the N-ACTION response. No result in time is a result (``timed_out``, with a ``note``
    saying why), never an exception; without ``receiver`` and with ``wait_on_association`` False that is
    immediate.
    """
    requested = references_of(references)
    if not requested:
        raise ValueError("storage commitment needs at least one reference (PS3.4 Table J.3-1)")
    uid = transaction_uid or str(generate_uid())
    inbox = receiver if receiver is not None else CommitmentReceiver(keep=10)
    on_association = _SameAssociationResults(client, inbox, accept=wait_on_association)
    ended = threading.Event()

    def _ended(_event: Any) -> None:
        ended.set()
        inbox.wake()

    handlers = [(evt.EVT_N_EVENT_REPORT, on_association.on_report), (evt.EVT_ABORTED, _ended),
                (evt.EVT_CONN_CLOSE, _ended)]
    context = build_context(STORAGE_COMMITMENT_PUSH_MODEL, list(NATIVE_SYNTAXES))
    inbox.expect(uid)
    report: CommitmentReport | None = None
    why_none = ""
    try:
        with client.associate(peer, [context], purpose="storage commitment", handlers=handlers) as (assoc, _):
            started_wall = time.time()
            rsp, _reply = assoc.send_n_action(_action_information(uid, requested), REQUEST_STORAGE_COMMITMENT,
                                              STORAGE_COMMITMENT_PUSH_MODEL, STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE)
            if "Status" not in rsp:
                # Nothing before the DIMSE timeout ran out: the peer aborted or closed the connection.
                aborted = time.time() - started_wall < client.timeouts.dimse
                client._record("N-ACTION", peer, None, "aborted" if aborted else "no response", started_wall,
                               detail={"service_role": "SCU", "transaction_uid": uid})
                raise AssociationAborted(
                    peer.describe(), "N-ACTION (storage commitment request)",
                    f"some PACS (Orthanc among them) abort a storage commitment request from a calling AE title "
                    f"they do not know: register '{client.ae_title}' there with its host and port, which the PACS "
                    "also needs to send the result" if aborted else "no response before the DIMSE timeout",
                )
            status = int(rsp.Status)
            meaning = describe_status(status, "N-ACTION")
            client._record("N-ACTION", peer, status, meaning, started_wall,
                           detail={"service_role": "SCU", "transaction_uid": uid, "references": len(requested)})
            if is_failure(status):
                comment = str(rsp.ErrorComment) if "ErrorComment" in rsp else None
                raise DimseFailure("N-ACTION", status, meaning, peer=peer.describe(), comment=comment,
                                   detail=f"storage commitment request {uid} was not accepted")
            started = time.monotonic()
            if wait_on_association:
                report = inbox.wait(uid, timeout, stop=ended.is_set)
                if report is None and ended.is_set():
                    why_none = "the peer ended the association before sending a result"
        if report is None:
            remaining = timeout - (time.monotonic() - started)
            if receiver is not None and remaining > 0:
                report = inbox.wait(uid, remaining)
            elif receiver is None and not why_none:
                why_none = (f"no result on the association within {timeout:g}s, and nothing listens for one on a "
                            "new association" if wait_on_association else
                            "nothing can receive the result: the association was released and nothing listens for "
                            "one on a new association")
        if report is None and not why_none:
            where = "on the association or " if wait_on_association else ""
            why_none = f"no result {where}on a new association within {timeout:g}s"
    finally:
        inbox.forget(uid)
    return _result(uid, requested, report, started, why_none)


# -- SCP adapter ----------------------------------------------------------------------------------------------------


@dataclass
class _Job:
    """One accepted request whose result is still to be sent."""

    assoc: Any
    context_id: int
    transfer_syntax: UID
    caller: tuple[str, str, int]
    transaction_uid: str
    references: list[Reference]
    duplicate: bool


def _event_information(transaction_uid: str, outcome: list[tuple[str, str, int | None]],
                       retrieve_ae: str | None) -> tuple[int, Dataset]:
    ds = Dataset()
    ds.TransactionUID = transaction_uid
    if retrieve_ae:
        ds.RetrieveAETitle = retrieve_ae  # where the committed instances can be retrieved (PS3.4 J.3.3.1.1.1)
    committed, failed = [], []
    for cls, inst, reason in outcome:
        item = Dataset()
        item.ReferencedSOPClassUID = cls
        item.ReferencedSOPInstanceUID = inst
        if reason is None:
            committed.append(item)
        else:
            item.FailureReason = reason
            failed.append(item)
    if committed:
        ds.ReferencedSOPSequence = committed
    if failed:
        ds.FailedSOPSequence = failed
    return (EVENT_FAILURES_EXIST if failed else EVENT_ALL_COMMITTED), ds


def _association_ending(assoc: Any) -> str:
    """Why results can no longer go out on ``assoc`` ("" = they can)."""
    if not assoc.is_established or assoc.is_released or assoc.is_aborted or not assoc.dul.is_alive():
        return "the requester closed the association"
    if assoc.dul.peek_next_pdu() is not None:  # an A-RELEASE or A-ABORT the paused reactor has not handled yet
        return "the requester released the association"
    return ""


class _CommitmentScp:
    def __init__(self, resolve: Resolver, delivery: Delivery | Callable[[], str],
                 peer_for: Callable[[str], Endpoint | None], client: DicomClient,
                 report_timeout: float) -> None:
        if not callable(delivery) and delivery not in DELIVERY_MODES:
            raise ValueError(f"delivery must be one of {', '.join(DELIVERY_MODES)}, not {delivery!r}")
        self.resolve = resolve
        self.delivery = delivery
        self.peer_for = peer_for
        self.client = client
        self.report_timeout = report_timeout
        self.server: DicomServer | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._message_id = 0

    def on_start(self, server: DicomServer) -> None:
        self.server = server

    def _mode(self) -> str:
        mode = self.delivery() if callable(self.delivery) else self.delivery
        if mode not in DELIVERY_MODES:
            LOG.warning("storage commitment delivery %r is not one of %s; using 'auto'", mode, DELIVERY_MODES)
            return "auto"
        return mode

    def _next_message_id(self) -> int:
        with self._lock:
            self._message_id = self._message_id % 65535 + 1
            return self._message_id

    def _journal(self, **kwargs: Any) -> None:
        server = self.server
        journal = server.journal if server is not None else self.client.journal
        node = server.node if server is not None else self.client.node
        local_ae = server.ae_title if server is not None else self.client.ae_title
        _record(journal, node=node, local_ae=local_ae, **kwargs)

    # -- N-ACTION (PS3.4 J.3.2.1.3) --------------------------------------------------------------------------

    def on_action(self, event: Any) -> tuple[int, None]:
        started = time.time()
        caller = _peer_of(event.assoc.requestor)
        status, job, problem = self._accept(event, caller)
        detail: dict[str, Any] = {"problem": problem} if problem else {}
        if job is not None:
            detail = {"transaction_uid": job.transaction_uid, "references": len(job.references)}
            if job.duplicate:
                detail["duplicate_transaction"] = True
        self._journal(role="SCP", service_role="SCP", peer=caller, kind="N-ACTION", status=status,
                      meaning=describe_status(status, "N-ACTION") + (f": {problem}" if problem else ""),
                      started=started, detail=detail)
        if job is not None:
            # The result must not overtake our N-ACTION response: start once the response is on the wire.
            _after_response_sent(event.assoc, "N_ACTION_RSP", int(event.request.MessageID),
                                 lambda: threading.Thread(target=self._report, args=(job,), daemon=True,
                                                          name="commitment-report").start())
        return status, None

    def _accept(self, event: Any, caller: tuple[str, str, int]) -> tuple[int, _Job | None, str]:
        request = event.request
        if str(request.RequestedSOPInstanceUID) != STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE:
            return 0x0112, None, (f"Requested SOP Instance UID {request.RequestedSOPInstanceUID} is not the "
                                  f"well-known {STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE} (PS3.4 J.3.5)")
        if event.action_type != REQUEST_STORAGE_COMMITMENT:
            return 0x0123, None, f"Action Type ID {event.action_type} is not 1 (Request Storage Commitment)"
        try:
            info = event.action_information
            uid = str(info.get("TransactionUID", "")).strip()
            refs = _references(info.get("ReferencedSOPSequence", []), failed=False)
        except Exception as exc:
            return PROCESSING_FAILURE, None, f"cannot decode the Action Information: {exc}"
        if not uid:
            return 0x0115, None, "no Transaction UID (0008,1195)"
        if not refs or any(not cls or not inst for cls, inst in refs):
            return 0x0115, None, "the Referenced SOP Sequence is empty or an item lacks a UID"
        with self._lock:
            duplicate = uid in self._seen
            self._seen[uid] = None
            while len(self._seen) > 10_000:
                self._seen.popitem(last=False)
        context = event.context
        return 0x0000, _Job(event.assoc, int(context.context_id), UID(str(context.transfer_syntax)), caller, uid,
                            refs, duplicate), ""

    # -- N-EVENT-REPORT (PS3.4 J.3.3.1.2) ------------------------------------------------------------------

    def _outcome(self, job: _Job) -> list[tuple[str, str, int | None]]:
        if job.duplicate:
            return [(cls, inst, DUPLICATE_TRANSACTION_UID) for cls, inst in job.references]
        try:
            answered = {(cls, inst): reason for cls, inst, reason in self.resolve(list(job.references))}
        except Exception:
            LOG.exception("storage commitment: checking transaction %s failed", job.transaction_uid)
            answered = {}
        return [(cls, inst, answered.get((cls, inst), PROCESSING_FAILURE)) for cls, inst in job.references]

    def _report(self, job: _Job) -> None:
        try:
            retrieve_ae = self.server.ae_title if self.server is not None else None
            event_type, info = _event_information(job.transaction_uid, self._outcome(job), retrieve_ae)
            mode = self._mode()
            fallback = ""
            if mode in ("same", "auto"):
                status, fallback = self._report_on_same(job, event_type, info)
                if status is not None and not is_failure(status):
                    return
                if status is not None:
                    fallback = f"the requester refused the result on its association with status 0x{status:04X}"
            self._report_on_new(job, event_type, info, fallback)
        except Exception:
            LOG.exception("storage commitment: reporting transaction %s failed", job.transaction_uid)

    def _report_on_same(self, job: _Job, event_type: int, info: Dataset) -> tuple[int | None, str]:
        """Send the result on the requesting association: (the requester's status, "") or (None, why not)."""
        started = time.time()
        status, why = _send_on_open_association(job.assoc, job.context_id, job.transfer_syntax, info, event_type,
                                                self._next_message_id(), self.report_timeout)
        if status is not None:
            self._journal(role="SCU", service_role="SCP", peer=job.caller, kind="N-EVENT-REPORT", status=status,
                          meaning=describe_status(status, "N-EVENT-REPORT"), started=started,
                          detail={"transaction_uid": job.transaction_uid, "event_type": event_type,
                                  "delivery": "same-association"})
        return status, why

    def _report_on_new(self, job: _Job, event_type: int, info: Dataset, fallback: str) -> None:
        started = time.time()
        detail: dict[str, Any] = {"service_role": "SCP", "transaction_uid": job.transaction_uid,
                                  "event_type": event_type, "delivery": "new-association"}
        if fallback:
            detail["fallback"] = fallback
        peer = self.peer_for(job.caller[0])
        if peer is None:
            LOG.warning("storage commitment: cannot send the result of %s: '%s' is not a known peer",
                        job.transaction_uid, job.caller[0])
            self._journal(role="SCU", service_role="SCP", peer=job.caller, kind="N-EVENT-REPORT", status=None,
                          meaning=f"not delivered: the requesting AE '{job.caller[0]}' is not registered here "
                                  "(host and port unknown)", started=started, detail=detail)
            return
        context = build_context(STORAGE_COMMITMENT_PUSH_MODEL, list(NATIVE_SYNTAXES))
        role = build_role(STORAGE_COMMITMENT_PUSH_MODEL, scp_role=True)  # PS3.4 J.3.3.1.2 note 1
        try:
            with self.client.associate(peer, [context], purpose="storage commitment result", roles=[role]) as (
                    assoc, _):
                rsp, _reply = assoc.send_n_event_report(info, event_type, STORAGE_COMMITMENT_PUSH_MODEL,
                                                        STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE)
                status = self.client._status_of(rsp, peer, "N-EVENT-REPORT")
        except NetworkError as exc:
            LOG.warning("storage commitment: result of %s not delivered: %s", job.transaction_uid, exc)
            self.client._record("N-EVENT-REPORT", peer, None, f"not delivered: {exc}", started, detail=detail)
            return
        self.client._record("N-EVENT-REPORT", peer, status, describe_status(status, "N-EVENT-REPORT"), started,
                            detail=detail)


def _send_on_open_association(assoc: Any, context_id: int, transfer_syntax: UID, info: Dataset, event_type: int,
                              message_id: int, timeout: float) -> tuple[int | None, str]:
    """N-EVENT-REPORT on an association we accepted; (response status, "") or (None, why it was not answered).

    pynetdicom's ``send_n_event_report`` would wait the whole DIMSE timeout and then abort when the requester
    releases meanwhile (PS3.4 J.3.2.1.2 allows that at any time after the N-ACTION response). So this pauses the
    association's reactor as pynetdicom's own send methods do, and while waiting for the response watches for a
    pending A-RELEASE or A-ABORT, leaving it to the reactor once resumed.
    """
    why = _association_ending(assoc)
    if why:
        return None, why
    request = N_EVENT_REPORT()
    request.MessageID = message_id
    request.AffectedSOPClassUID = STORAGE_COMMITMENT_PUSH_MODEL
    request.AffectedSOPInstanceUID = STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE
    request.EventTypeID = event_type
    encoded = encode(info, transfer_syntax.is_implicit_VR, transfer_syntax.is_little_endian,
                     transfer_syntax.is_deflated)
    if encoded is None:
        return None, "the result could not be encoded in the association's transfer syntax"
    request.EventInformation = BytesIO(encoded)
    deadline = time.monotonic() + timeout
    others: list[Any] = []
    timed_out = False
    assoc._reactor_checkpoint.clear()
    try:
        while not assoc._is_paused:
            if time.monotonic() > deadline or not assoc.is_established:
                return None, "the association's reactor did not pause"
            time.sleep(0.0005)
        why = _association_ending(assoc)
        if why:
            return None, why
        assoc.dimse.send_msg(request, context_id)
        while time.monotonic() < deadline:
            try:
                item = assoc.dimse.msg_queue.get(timeout=0.005)
            except queue.Empty:
                why = _association_ending(assoc)
                if why:
                    return None, why + " before answering the result"
                continue
            _cx, message = item
            if (type(message).__name__ == "N_EVENT_REPORT"
                    and getattr(message, "MessageIDBeingRespondedTo", None) == message_id):
                status = getattr(message, "Status", None)
                return (int(status) if status is not None else PROCESSING_FAILURE), ""
            others.append(item)  # a new request from the requester: the reactor serves it after us
        timed_out = True
        return None, f"no response to the result within {timeout:g}s"
    finally:
        for item in others:
            assoc.dimse.msg_queue.put(item)
        assoc._reactor_checkpoint.set()
        if timed_out:
            with contextlib.suppress(Exception):
                assoc.abort()


def commitment_scp_service(resolve: Resolver, *, delivery: Delivery | Callable[[], str],
                           peer_for: Callable[[str], Endpoint | None], client: DicomClient,
                           report_timeout: float = REPORT_RESPONSE_TIMEOUT) -> ScpService:
    """Storage Commitment Push Model SCP for a node's DicomServer (PS3.4 J.3.2.1.3, J.3.3.1.2).

    Answers N-ACTION with success (or a failure status for a malformed request), then, once that response is on
    the wire, calls ``resolve`` with the references and sends the result: per reference ``None`` = committed,
    else its Failure Reason (PS3.3 C.14.1.1: 0x0112 no such object instance, 0x0119 class/instance conflict,
    0x0110 processing failure, which is also what every reference gets when ``resolve`` raises). A reused
    Transaction UID gets 0x0131 for every reference.

    ``delivery`` (or a callable returning it, read for each result): ``same`` on the requesting association;
    ``new`` on a new association to ``peer_for(calling AE)``, opened by ``client`` (which must carry our own AE
    title, PS3.4 J.3.3.1.2 note 2) proposing the SCP role; ``auto`` the same association while the requester
    keeps it open, else a new one. ``same`` also falls back to a new association when the requester has released
    the association or refuses the result on it (a requester that does not wait there, PS3.4 J.3.2.1.2), so
    ``same`` and ``auto`` differ only in intent: whether the same association is the configured or the
    opportunistic choice. The journal marks every fallback with its reason (``detail["fallback"]``).
    """
    scp = _CommitmentScp(resolve, delivery, peer_for, client, report_timeout)
    return ScpService(
        name="storage-commitment",
        contexts=((str(STORAGE_COMMITMENT_PUSH_MODEL), False, False),),
        handlers=((evt.EVT_N_ACTION, scp.on_action),),
        on_start=scp.on_start,
    )
