"""SCU operations with typed results: C-ECHO, C-STORE, C-FIND, C-MOVE and C-GET (PS3.4 A, B, C).

Every call opens its own association, records what happened in the journal, and raises a typed error when the
network operation itself fails. Per-instance C-STORE statuses are results (a QA node may legitimately refuse
an instance); a failed C-FIND, C-MOVE or C-GET raises :class:`DimseFailure`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, _config, evt
from pynetdicom.association import Association
from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation, SOPClassExtendedNegotiation
from pynetdicom.presentation import PresentationContext

from simulator.config import Endpoint
from simulator.errors import (
    AssociationAborted,
    AssociationRejected,
    DimseFailure,
    NoAcceptedContext,
    PeerUnreachable,
    RelationalQueryRefused,
)
from simulator.journal import Exchange, Journal
from simulator.net.contexts import (
    COMMON_STORAGE_SOP_CLASSES,
    FIND_MODELS,
    NATIVE_SYNTAXES,
    QUERY_MODELS,
    VERIFICATION,
)
from simulator.net.scp import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from simulator.net.status import CANCEL, PENDING, describe_status, is_failure
from simulator.net.store import CONTEXT_RESULTS, StoreInterrupted, StoreOutcome, store_lane


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for A-ASSOCIATE answers, DIMSE responses and any network activity."""

    acse: float = 10.0
    dimse: float = 120.0
    network: float = 120.0


@dataclass(frozen=True)
class PeerIdentity:
    """What a peer says of itself in its A-ASSOCIATE-AC (PS3.7 D.3.3.2, D.3.3.3; PS3.8 D.1)."""

    implementation_class_uid: str
    implementation_version_name: str
    max_pdu_length: int

    def describe(self) -> str:
        version = f" {self.implementation_version_name}" if self.implementation_version_name else ""
        return f"implementation {self.implementation_class_uid}{version}, max PDU {self.max_pdu_length}"


@dataclass
class RetrieveOutcome:
    """Final state of a C-MOVE or C-GET (PS3.4 C.4.2.3 / C.4.3.3): status and sub-operation counts."""

    operation: str
    status: int
    meaning: str
    completed: int = 0
    failed: int = 0
    warning: int = 0
    remaining: int = 0
    failed_sop_instance_uids: list[str] = field(default_factory=list)
    received: list[Dataset] = field(default_factory=list)
    # For each of ``received`` (C-GET): the Affected SOP Instance and Class UID of the C-STORE that carried it.
    commanded: list[tuple[str, str]] = field(default_factory=list)
    duration_s: float = 0.0
    cancel_sent: bool = False
    remaining_reported: bool = False  # the final response carried Number of Remaining Sub-operations

    @property
    def cancelled(self) -> bool:
        """The peer stopped because of our C-CANCEL (status 0xFE00)."""
        return self.status == CANCEL


# Files given to C-STORE are sent as they are on disk, without decoding and re-encoding (requires a context for
# the file's own transfer syntax, which storage_contexts_for proposes).
_config.STORE_SEND_CHUNKED_DATASET = True


def _any_uid(value: str) -> tuple[bool, str]:
    return (bool(value), "" if value else "must not be empty")


# radsim sends defective instances on purpose (e.g. a SOP Instance UID longer than 64 characters, PS3.5 9.1),
# and judging UIDs is the receiving node's job (the QA rules), so pynetdicom's own UID check is relaxed to
# "not empty" for the command sets radsim builds and reads.
_config.VALIDATORS["UI"] = _any_uid


class _AssociationWatch:
    """Collects facts pynetdicom only reports through events: bytes sent, rejection reason, connection."""

    def __init__(self) -> None:
        self.bytes_sent = 0
        self.connected = False
        self.accepted = False  # an A-ASSOCIATE-AC arrived
        self.reject_reason: str | None = None

    def handlers(self) -> list[tuple[Any, Callable[..., None]]]:
        return [
            (evt.EVT_DATA_SENT, self._on_data),
            (evt.EVT_CONN_OPEN, self._on_open),
            (evt.EVT_ACSE_RECV, self._on_acse),
        ]

    def _on_data(self, event: Any) -> None:
        self.bytes_sent += len(event.data)

    def _on_open(self, event: Any) -> None:
        self.connected = True
        # Without TCP_NODELAY each small PDU waits for the peer's delayed ACK (~40 ms on loopback).
        sock = getattr(getattr(event.assoc.dul, "socket", None), "socket", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _on_acse(self, event: Any) -> None:
        primitive = event.primitive
        result = getattr(primitive, "result", None)
        if result in (0x01, 0x02):
            self.reject_reason = f"{primitive.result_str}, {primitive.source_str}: {primitive.reason_str}"
        elif result == 0x00:
            self.accepted = True


# PS3.4 C.3.4, Table C.3-1: byte 1 of the Service Class Application Information of C-FIND extended negotiation,
# 1 = relational queries supported.
RELATIONAL_QUERIES = b"\x01"


class DicomClient:
    """An SCU application entity belonging to node ``node``."""

    def __init__(self, ae_title: str, *, node: str, journal: Journal | None = None,
                 timeouts: Timeouts | None = None, max_pdu: int = 0) -> None:
        self.ae_title = ae_title
        self.node = node
        self.journal = journal if journal is not None else Journal()
        self.timeouts = timeouts or Timeouts()
        self.max_pdu = max_pdu
        # Peers (AE title, host, port, model) that did not accept relational queries (see net/hierarchy.py).
        self.relational_refused: set[tuple[str, str, int, str]] = set()

    # -- associations -------------------------------------------------------------------------------------

    def _new_ae(self) -> AE:
        ae = AE(ae_title=self.ae_title)
        ae.implementation_class_uid = IMPLEMENTATION_CLASS_UID
        ae.implementation_version_name = IMPLEMENTATION_VERSION_NAME
        ae.acse_timeout = self.timeouts.acse
        ae.dimse_timeout = self.timeouts.dimse
        ae.network_timeout = self.timeouts.network
        ae.maximum_pdu_size = self.max_pdu
        return ae

    @contextmanager
    def associate(self, peer: Endpoint, contexts: Sequence[PresentationContext], *, purpose: str,
                  roles: Sequence[Any] = (),
                  handlers: Sequence[tuple[Any, Callable[..., Any]]] = ()) -> Iterator[
                      tuple[Association, _AssociationWatch]]:
        """Open an association for ``purpose``; raise a typed error if it cannot be established. ``roles`` are
        extended negotiation items (SCP/SCU role selection, SOP class extended negotiation; PS3.7 D.3.3)."""
        ae = self._new_ae()
        watch = _AssociationWatch()
        started = time.time()
        assoc = ae.associate(
            peer.host, peer.port, contexts=list(contexts), ae_title=peer.ae_title,
            ext_neg=list(roles) or None, evt_handlers=[*watch.handlers(), *handlers],
        )
        if not assoc.is_established:
            self.record("ASSOCIATION", peer, None, "not established", started, detail={"purpose": purpose})
            assoc.kill() if hasattr(assoc, "kill") else None
            desc = peer.describe()
            if watch.reject_reason:
                raise AssociationRejected(desc, self.ae_title, watch.reject_reason)
            rejected = list(getattr(assoc, "rejected_contexts", []) or [])
            if watch.accepted and rejected:  # A-ASSOCIATE-AC with every context rejected (PS3.8 9.3.3.2)
                raise NoAcceptedContext(desc, f"{purpose} ({_context_results(rejected)})",
                                        results=[int(cx.result or 0) for cx in rejected])
            if not watch.connected:
                raise PeerUnreachable(desc, f"TCP connect for {purpose}", "connection refused or timed out")
            if assoc.is_aborted:
                raise PeerUnreachable(
                    desc, f"A-ASSOCIATE for {purpose}",
                    "the peer aborted the association request or accepted none of the proposed contexts",
                )
            raise PeerUnreachable(desc, f"A-ASSOCIATE for {purpose}", "no answer within the ACSE timeout")
        try:
            yield assoc, watch
        finally:
            if assoc.is_established:
                assoc.release()
            else:
                assoc.abort()

    def record(self, kind: str, peer: Endpoint, status: int | None, meaning: str, started: float,
                *, nbytes: int = 0, detail: dict[str, Any] | None = None) -> None:
        self.journal.record(Exchange(
            node=self.node, kind=kind, role="SCU", local_ae=self.ae_title, peer_ae=peer.ae_title,
            peer_host=peer.host, peer_port=peer.port, status=status, meaning=meaning, started=started,
            duration_s=time.time() - started, bytes=nbytes, detail=detail or {},
        ))

    @staticmethod
    def status_of(rsp: Dataset | None, peer: Endpoint, operation: str) -> int:
        if rsp is None or "Status" not in rsp:
            raise AssociationAborted(peer.describe(), operation, "no response before the DIMSE timeout")
        return int(rsp.Status)

    # -- C-ECHO (PS3.7 9.1.5) ---------------------------------------------------------------------------------

    def echo(self, peer: Endpoint) -> float:
        """Verify the peer answers C-ECHO; return the round-trip time in seconds."""
        with self.associate(peer, [_context(VERIFICATION)], purpose="C-ECHO") as (assoc, _):
            started = time.time()
            rsp = assoc.send_c_echo()
            status = self.status_of(rsp, peer, "C-ECHO")
            meaning = describe_status(status, "C-ECHO")
            self.record("C-ECHO", peer, status, meaning, started)
            if status != 0:
                raise DimseFailure("C-ECHO", status, meaning, peer=peer.describe())
            return time.time() - started

    def identify(self, peer: Endpoint) -> PeerIdentity:
        """C-ECHO ``peer`` and return what its A-ASSOCIATE-AC says of it: implementation class UID, version name
        and maximum PDU length."""
        with self.associate(peer, [_context(VERIFICATION)], purpose="C-ECHO") as (assoc, _):
            started = time.time()
            rsp = assoc.send_c_echo()
            status = self.status_of(rsp, peer, "C-ECHO")
            acceptor = assoc.acceptor
            identity = PeerIdentity(str(acceptor.implementation_class_uid or ""),
                                    str(acceptor.implementation_version_name or "").strip(),
                                    int(acceptor.maximum_length or 0))
            meaning = describe_status(status, "C-ECHO")
            self.record("C-ECHO", peer, status, meaning, started,
                         detail={"implementation_class_uid": identity.implementation_class_uid,
                                 "implementation_version_name": identity.implementation_version_name,
                                 "max_pdu_length": identity.max_pdu_length})
            if status != 0:
                raise DimseFailure("C-ECHO", status, meaning, peer=peer.describe())
            return identity

    # -- C-STORE (PS3.4 B) ---------------------------------------------------------------------------------------

    def store(self, peer: Endpoint, datasets: Sequence[Dataset | Path], *, associations: int = 1,
              transcode: bool = True) -> list[StoreOutcome]:
        """Send every dataset (or Part 10 file, sent without decoding); return one outcome each, in order.

        ``associations`` > 1 spreads the datasets over parallel associations (the lever for throughput). An
        instance whose stored syntax the peer refused goes in a native syntax it accepted (``transcode``), or
        not at all (an outcome with ``status`` None, see :mod:`simulator.net.store`). When an association fails,
        :class:`StoreInterrupted` carries the outcome of every instance answered before it.
        """
        if not datasets:
            return []
        items = list(datasets)
        lanes = max(1, min(associations, len(items)))
        if lanes == 1:
            results = [store_lane(self, peer, items, allow_transcode=transcode)]
        else:
            chunks = [items[i::lanes] for i in range(lanes)]
            with ThreadPoolExecutor(max_workers=lanes) as pool:
                results = list(pool.map(lambda chunk: store_lane(self, peer, chunk, allow_transcode=transcode),
                                        chunks))
        ordered: list[StoreOutcome | None] = [None] * len(items)
        for lane, result in enumerate(results):
            for offset, outcome in enumerate(result.outcomes):
                ordered[lane + offset * lanes] = outcome
        errors = [r.error for r in results if r.error is not None]
        if errors and len(errors) == 1 and all(o is None for o in ordered):
            raise errors[0]  # nothing was answered: the error itself says it all (PeerUnreachable, ...)
        if errors:
            interrupted = StoreInterrupted(ordered, errors)
            interrupted.lanes_established = sum(r.established for r in results)
            raise interrupted
        return [o for o in ordered if o is not None]

    # -- C-FIND (PS3.4 C.4.1) ----------------------------------------------------------------------------------

    def find(self, peer: Endpoint, identifier: Dataset, *, model: str = "study",
             relational: bool = False) -> list[Dataset]:
        """Return every match; raise DimseFailure on a failure status (never an empty list on failure).

        ``model`` is ``study``, ``patient`` (PS3.4 C.6) or ``worklist`` (Modality Worklist, PS3.4 K.6.1).
        ``relational`` proposes relational queries by extended negotiation (PS3.4 C.4.1.2.2.2, C.3.4); when the
        peer does not accept them the query is not sent and :class:`RelationalQueryRefused` is raised, since a
        baseline SCP only answers hierarchical queries (PS3.4 C.4.1.2.2.1).
        """
        try:
            sop_class = FIND_MODELS[model]
        except KeyError:
            raise ValueError(f"unknown C-FIND model '{model}' (use 'patient', 'study' or 'worklist')") from None
        roles: list[Any] = []
        if relational:
            item = SOPClassExtendedNegotiation()
            item.sop_class_uid = sop_class
            item.service_class_application_information = RELATIONAL_QUERIES
            roles.append(item)
        with self.associate(peer, [_context(sop_class)], purpose="C-FIND", roles=roles) as (assoc, _):
            if relational:
                accepted = assoc.acceptor.sop_class_extended.get(sop_class, b"")
                if accepted[:1] != RELATIONAL_QUERIES:
                    raise RelationalQueryRefused(peer.describe(), model)
            started = time.time()
            matches: list[Dataset] = []
            status: int | None = None
            comment: str | None = None
            for rsp, ident in assoc.send_c_find(identifier, sop_class):
                status = self.status_of(rsp, peer, "C-FIND")
                if "ErrorComment" in rsp:
                    comment = str(rsp.ErrorComment)
                if status in (PENDING, 0xFF01):
                    if ident is not None:
                        matches.append(ident)
                    continue
                break
            if status is None:
                raise AssociationAborted(peer.describe(), "C-FIND", "no response")
            meaning = describe_status(status, "C-FIND")
            level = str(identifier.get("QueryRetrieveLevel", ""))
            self.record("C-FIND", peer, status, meaning, started,
                         detail={"level": level, "model": model, "matches": len(matches)})
            if is_failure(status):
                raise DimseFailure("C-FIND", status, meaning, peer=peer.describe(), comment=comment)
            return matches

    # -- C-MOVE (PS3.4 C.4.2) ----------------------------------------------------------------------------------

    def move(self, peer: Endpoint, identifier: Dataset, destination_ae: str, *, model: str = "study",
             cancel_after: int | None = None) -> RetrieveOutcome:
        """Ask ``peer`` to C-STORE the matches to ``destination_ae``; raise DimseFailure on failure status.

        ``cancel_after`` sends C-CANCEL after that many pending responses (PS3.7 9.3.2.3): a peer that honours
        it ends with status 0xFE00 and its sub-operation counts (PS3.4 C.4.2.3), a result, not an error.
        """
        sop_class = _model_uid(model, "C-MOVE")
        _check_cancel_after(cancel_after)
        with self.associate(peer, [_context(sop_class)], purpose="C-MOVE") as (assoc, _):
            started = time.time()
            try:
                outcome = self._collect_retrieve(
                    "C-MOVE", peer, assoc.send_c_move(identifier, destination_ae, sop_class, msg_id=_RETRIEVE_MSG_ID),
                    assoc, sop_class, cancel_after,
                )
            except AssociationAborted as exc:
                self.record("C-MOVE", peer, None, "aborted", started, detail={"destination": destination_ae})
                raise AssociationAborted(
                    peer.describe(), f"C-MOVE to '{destination_ae}'",
                    f"some PACS (Orthanc among them) abort instead of answering 0xA801 when the move destination "
                    f"is unknown: check that '{destination_ae}' is registered there with its host and port "
                    f"({exc.operation})",
                ) from None
            outcome.duration_s = time.time() - started
            self._record_retrieve(outcome, peer, started, {"destination": destination_ae, "model": model})
        self._raise_retrieve_failure(outcome, peer, destination_ae)
        return outcome

    # -- C-GET (PS3.4 C.4.3) -----------------------------------------------------------------------------------

    def get(self, peer: Endpoint, identifier: Dataset, *, model: str = "study",
            sop_classes: Sequence[str] = COMMON_STORAGE_SOP_CLASSES,
            on_instance: Callable[[Dataset], int] | None = None,
            cancel_after: int | None = None, storage_syntaxes: Sequence[str] | None = None) -> RetrieveOutcome:
        """Retrieve the matches over this association; ``outcome.received`` holds what arrived.

        ``storage_syntaxes`` are the transfer syntaxes offered for the C-STORE sub-operations (default: the native
        and lossless compressed ones), e.g. Implicit VR Little Endian only, to play a strict requester.
        ``on_instance`` may answer each C-STORE sub-operation with a status (default success). ``cancel_after``
        sends C-CANCEL after that many pending responses (PS3.7 9.3.3.3): the result then has status 0xFE00 and
        the peer's sub-operation counts, and ``received`` holds what arrived before the peer stopped.
        """
        sop_class = _model_uid(model, "C-GET")
        _check_cancel_after(cancel_after)
        contexts = [_context(sop_class)]
        roles = []
        for uid in sop_classes:
            contexts.append(_context(uid, list(storage_syntaxes or [*NATIVE_SYNTAXES, *_COMPRESSED_FOR_GET])))
            role = SCP_SCU_RoleSelectionNegotiation()
            role.sop_class_uid = uid
            role.scu_role = False
            role.scp_role = True
            roles.append(role)
        received: list[Dataset] = []
        commanded: list[tuple[str, str]] = []
        lock = threading.Lock()

        def _on_store(event: Any) -> int:
            ds = event.dataset
            ds.file_meta = event.file_meta
            status = on_instance(ds) if on_instance else 0x0000
            with lock:
                received.append(ds)
                commanded.append((str(event.request.AffectedSOPInstanceUID),
                                  str(event.request.AffectedSOPClassUID)))
            return status

        with self.associate(peer, contexts, purpose="C-GET", roles=roles,
                            handlers=[(evt.EVT_C_STORE, _on_store)]) as (assoc, _):
            started = time.time()
            outcome = self._collect_retrieve(
                "C-GET", peer, assoc.send_c_get(identifier, sop_class, msg_id=_RETRIEVE_MSG_ID), assoc, sop_class,
                cancel_after,
            )
            outcome.duration_s = time.time() - started
            outcome.received = received
            outcome.commanded = commanded
            self._record_retrieve(outcome, peer, started, {"model": model, "received": len(received)})
        self._raise_retrieve_failure(outcome, peer, None)
        return outcome

    # -- shared retrieve handling ------------------------------------------------------------------------------

    def _collect_retrieve(self, operation: str, peer: Endpoint, responses: Iterator[tuple[Dataset, Dataset | None]],
                          assoc: Association, sop_class: str, cancel_after: int | None) -> RetrieveOutcome:
        """Fold the responses into one outcome; the last response's counts are final (PS3.4 C.4.2.3, C.4.3.3).

        With ``cancel_after`` = n, C-CANCEL goes out after the n-th pending response, identifying the request
        by its Message ID (PS3.7 9.3.2.3); a peer that sends no pending responses never sees it.
        """
        outcome = RetrieveOutcome(operation, status=-1, meaning="")
        pendings = 0
        for rsp, ident in responses:
            status = self.status_of(rsp, peer, operation)
            outcome.status = status
            outcome.completed = int(rsp.get("NumberOfCompletedSuboperations", outcome.completed) or 0)
            outcome.failed = int(rsp.get("NumberOfFailedSuboperations", outcome.failed) or 0)
            outcome.warning = int(rsp.get("NumberOfWarningSuboperations", outcome.warning) or 0)
            outcome.remaining = int(rsp.get("NumberOfRemainingSuboperations", 0) or 0)
            outcome.remaining_reported = "NumberOfRemainingSuboperations" in rsp
            if status in (PENDING, 0xFF01):
                pendings += 1
                if cancel_after is not None and pendings == cancel_after:
                    assoc.send_c_cancel(_RETRIEVE_MSG_ID, query_model=sop_class)
                    outcome.cancel_sent = True
                continue
            if ident is not None and "FailedSOPInstanceUIDList" in ident:
                value = ident.FailedSOPInstanceUIDList
                values = value if isinstance(value, list) else [value]
                outcome.failed_sop_instance_uids = [str(v) for v in values if v]
        if outcome.status == -1:
            raise AssociationAborted(peer.describe(), operation, "no response")
        outcome.meaning = describe_status(outcome.status, operation)
        return outcome

    def _record_retrieve(self, outcome: RetrieveOutcome, peer: Endpoint, started: float,
                         detail: dict[str, Any]) -> None:
        self.record(outcome.operation, peer, outcome.status, outcome.meaning, started, detail={
            **detail, "completed": outcome.completed, "failed": outcome.failed, "warning": outcome.warning,
            "remaining": outcome.remaining, **({"cancel_sent": True} if outcome.cancel_sent else {}),
        })

    @staticmethod
    def _raise_retrieve_failure(outcome: RetrieveOutcome, peer: Endpoint, destination: str | None) -> None:
        if not is_failure(outcome.status):
            return
        detail = (f"completed {outcome.completed}, failed {outcome.failed}, warning {outcome.warning}, "
                  f"remaining {outcome.remaining}")
        if outcome.status == 0xA801 and destination:
            detail = (f"the PACS does not know move destination '{destination}' or cannot connect to it; "
                      f"register that AE (title, host, port) at the PACS; {detail}")
        elif destination and outcome.completed == 0:
            detail += (f"; if '{destination}' is not registered at the PACS as a move destination (AE title, host, "
                       "port), register it: some PACS (Orthanc among them) answer that with a generic failure")
        raise DimseFailure(outcome.operation, outcome.status, outcome.meaning, peer=peer.describe(), detail=detail)


# Message ID of the C-MOVE/C-GET request on its own association; C-CANCEL names it (PS3.7 9.3.2.3).
_RETRIEVE_MSG_ID = 1

_COMPRESSED_FOR_GET = (
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.5",  # RLE Lossless
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
)


def _check_cancel_after(cancel_after: int | None) -> None:
    # The request goes out with the first response awaited, so C-CANCEL can only follow a pending response.
    if cancel_after is not None and cancel_after < 1:
        raise ValueError(f"cancel_after must be at least 1 (pending responses before C-CANCEL), not {cancel_after}")


def _context_results(rejected: Sequence[PresentationContext]) -> str:
    """Each rejected context's SOP class and reason, e.g. 'CT Image Storage: abstract syntax not supported'."""
    parts = dict.fromkeys(
        f"{UID(str(cx.abstract_syntax)).name or cx.abstract_syntax}: "
        f"{CONTEXT_RESULTS.get(int(cx.result or 0), f'result {cx.result}')}" for cx in rejected)
    return "; ".join(parts)


def _context(abstract_syntax: str, syntaxes: Sequence[str] = NATIVE_SYNTAXES) -> PresentationContext:
    from pynetdicom import build_context

    return build_context(abstract_syntax, list(syntaxes))


def _model_uid(model: str, operation: str) -> str:
    try:
        return QUERY_MODELS[model][operation]
    except KeyError:
        raise ValueError(f"unknown query model '{model}' (use 'patient' or 'study')") from None
