"""The requesting side of Storage Commitment (PS3.4 J.3.2.1.2): :func:`request_commitment` sends the N-ACTION
Request Storage Commitment (PS3.4 J.3.2) with a Transaction UID and the Referenced SOP Sequence
(PS3.4 J.3.2.1.1), then waits for the result (PS3.4 J.3.3) on the same association or, through a
:class:`~simulator.net.commitment.results.CommitmentReceiver`, on a new one (PS3.4 J.3.3.1.3), and tells what
became of the request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import build_context, evt

from simulator.config import Endpoint
from simulator.errors import AssociationAborted, DimseFailure
from simulator.net.commitment.results import (
    EVENT_ALL_COMMITTED,
    PROCESSING_FAILURE,
    REQUEST_STORAGE_COMMITMENT,
    STORAGE_COMMITMENT_PUSH_MODEL,
    STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE,
    CommitmentReceiver,
    CommitmentReport,
    CommitmentResult,
    Reference,
    _peer_of,
    _read_report,
    _record,
    _report_detail,
)
from simulator.net.commitment.wire import _after_response_sent
from simulator.net.contexts import NATIVE_SYNTAXES
from simulator.net.scu import DicomClient
from simulator.net.status import describe_status, is_failure


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
                client.record("N-ACTION", peer, None, "aborted" if aborted else "no response", started_wall,
                               detail={"service_role": "SCU", "transaction_uid": uid})
                raise AssociationAborted(
                    peer.describe(), "N-ACTION (storage commitment request)",
                    f"some PACS (Orthanc among them) abort a storage commitment request from a calling AE title "
                    f"they do not know: register '{client.ae_title}' there with its host and port, which the PACS "
                    "also needs to send the result" if aborted else "no response before the DIMSE timeout",
                )
            status = int(rsp.Status)
            meaning = describe_status(status, "N-ACTION")
            client.record("N-ACTION", peer, status, meaning, started_wall,
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
