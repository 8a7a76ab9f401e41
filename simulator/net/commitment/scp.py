"""The Storage Commitment SCP adapter an archive plugs into its :class:`~simulator.net.scp.DicomServer`
(PS3.4 J.3.2.1.3, J.3.3.1.2): it answers the N-ACTION at once, asks the archive which references it holds, and
sends the result as an N-EVENT-REPORT (PS3.4 J.3.3.1.1) on the requesting association while the requester keeps it
open, or on a new association to the requesting AE that proposes the SCP role (PS3.4 J.3.3.1.2 notes 1 and 2).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Literal, get_args

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import build_context, build_role, evt
from pynetdicom.dimse_primitives import N_EVENT_REPORT
from pynetdicom.dsutils import encode

from simulator.config import Endpoint
from simulator.errors import NetworkError
from simulator.net.commitment.results import (
    DUPLICATE_TRANSACTION_UID,
    EVENT_ALL_COMMITTED,
    EVENT_FAILURES_EXIST,
    PROCESSING_FAILURE,
    REQUEST_STORAGE_COMMITMENT,
    STORAGE_COMMITMENT_PUSH_MODEL,
    STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE,
    Reference,
    _peer_of,
    _record,
    _references,
)
from simulator.net.commitment.wire import _after_response_sent
from simulator.net.contexts import NATIVE_SYNTAXES
from simulator.net.scp import DicomServer, ScpService
from simulator.net.scu import DicomClient
from simulator.net.status import describe_status, is_failure

LOG = logging.getLogger(__name__)

Delivery = Literal["same", "new", "auto"]
DELIVERY_MODES: tuple[str, ...] = get_args(Delivery)
Resolver = Callable[[list[Reference]], list[tuple[str, str, int | None]]]

# How long an SCP of ours waits for the N-EVENT-REPORT response on the requesting association.
REPORT_RESPONSE_TIMEOUT = 30.0


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
                status = self.client.status_of(rsp, peer, "N-EVENT-REPORT")
        except NetworkError as exc:
            LOG.warning("storage commitment: result of %s not delivered: %s", job.transaction_uid, exc)
            self.client.record("N-EVENT-REPORT", peer, None, f"not delivered: {exc}", started, detail=detail)
            return
        self.client.record("N-EVENT-REPORT", peer, status, describe_status(status, "N-EVENT-REPORT"), started,
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
