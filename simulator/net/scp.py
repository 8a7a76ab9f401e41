"""SCP scaffolding: a listening AE that hands plain requests to a node and journals every exchange.

Nodes never see pynetdicom events. They implement whichever of ``store``, ``find``, ``move`` and ``get``
they serve; this module negotiates, times, translates statuses and records.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import dcmread, read_dataset
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID
from pynetdicom import AE, evt
from pynetdicom.transport import ThreadedAssociationServer

from simulator.config import Endpoint
from simulator.errors import PortInUse
from simulator.journal import Exchange, Journal
from simulator.net.contexts import (
    ACCEPTED_SYNTAXES,
    FIND_MODELS,
    MODALITY_WORKLIST_FIND,
    QUERY_MODELS,
    VERIFICATION,
    all_storage_classes,
    storage_contexts_for_classes,
)
from simulator.net.status import CANCEL, PENDING, describe_status, is_failure, is_warning
from simulator.net.store import choose
from simulator.net.transcode import TranscodeFailed, transcode
from simulator.net.transport import capped_handler
from simulator.synth.uids import derive_uid

LOG = logging.getLogger(__name__)

# How radsim names itself in associations and in the files it writes (PS3.7 D.3.3.2, PS3.10 7.1).
IMPLEMENTATION_CLASS_UID = derive_uid("radsim", "implementation-class")
IMPLEMENTATION_VERSION_NAME = "RADSIM_0_1"

# Our SCPs advertise this maximum PDU length (PS3.8 D.1); peers must not send larger P-DATA PDUs.
DEFAULT_MAX_PDU = 262_144
# A PDU longer than max(4 x the announced maximum, this) closes the connection (see net/transport.py).
MIN_PDU_CAP = 1 << 20


@dataclass(frozen=True)
class Caller:
    """The requesting AE as seen on the association."""

    ae_title: str
    host: str
    port: int


class ScpFailure(Exception):
    """Raised by a node's handler to answer with a failure status and an Error Comment (PS3.7 C.4)."""

    def __init__(self, status: int, comment: str = "") -> None:
        super().__init__(comment or f"status 0x{status:04X}")
        self.status = status
        self.comment = comment


@dataclass
class StoreRequest:
    """An incoming C-STORE (PS3.4 B.2.2).

    ``dataset()`` (alias ``header()``) parses the received bytes once; ``part10_chunks()`` is
    the instance as a DICOM file (PS3.10 7.1): a File Meta Information header followed by the received bytes,
    which are kept exactly as they arrived.
    """

    caller: Caller
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    receiver_ae: str
    _event: Any = field(repr=False)
    _dataset: Dataset | None = field(default=None, repr=False)
    _raw: bytes | None = field(default=None, repr=False)

    def raw(self) -> bytes:
        """The data set bytes as received, in ``transfer_syntax``."""
        if self._raw is None:
            self._raw = bytes(self._event.request.DataSet.getvalue())
        return self._raw

    def file_meta(self) -> FileMetaDataset:
        """File Meta Information for the received instance (PS3.10 7.1)."""
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = UID(self.sop_class_uid)
        meta.MediaStorageSOPInstanceUID = UID(self.sop_instance_uid)
        meta.TransferSyntaxUID = UID(self.transfer_syntax)
        meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
        meta.SourceApplicationEntityTitle = self.caller.ae_title
        return meta

    def dataset(self) -> Dataset:
        """The received dataset with its file meta, parsed once on first use.

        Element values stay raw until read, so this is cheap: Pixel Data is one copy of its bytes, never
        decompressed (measured: 0.35 ms for a 512 KB CT slice).
        """
        if self._dataset is None:
            syntax = UID(self.transfer_syntax)
            if syntax.is_deflated:
                ds = self._event.dataset  # pynetdicom inflates it
            else:
                ds = read_dataset(BytesIO(self.raw()), syntax.is_implicit_VR,
                                  syntax.is_little_endian)
            ds.file_meta = self.file_meta()
            self._dataset = ds
        return self._dataset

    def header(self) -> Dataset:
        """What checks and indexing read; the same object as :meth:`dataset` (Pixel Data included, so its
        length can be checked)."""
        return self.dataset()

    def part10_chunks(self) -> list[bytes]:
        """The instance as a DICOM file (PS3.10 7.1) in two pieces, [preamble + File Meta, received bytes], to
        write in turn without joining them."""
        head = DicomBytesIO()
        head.is_little_endian = True
        head.is_implicit_VR = False
        head.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(head, self.file_meta(), enforce_standard=True)
        return [head.getvalue(), self.raw()]


@dataclass(frozen=True)
class StoreReply:
    status: int = 0x0000
    comment: str | None = None


@dataclass(frozen=True)
class FindRequest:
    """An incoming C-FIND (PS3.4 C.4.1.1): ``model`` is ``patient``, ``study`` or ``worklist`` (PS3.4 K).

    ``relational``: the requester asked for relational queries by extended negotiation and we accepted
    (PS3.4 C.4.1.2.2.2); otherwise only hierarchical queries are valid (C.4.1.2.2.1)."""

    caller: Caller
    model: str
    identifier: Dataset
    is_cancelled: Callable[[], bool]
    relational: bool = False

    @property
    def level(self) -> str:
        return str(self.identifier.get("QueryRetrieveLevel", ""))


@dataclass(frozen=True)
class RetrieveRequest:
    """An incoming C-MOVE or C-GET (PS3.4 C.4.2.1 / C.4.3.1); ``destination_ae`` is empty for C-GET."""

    caller: Caller
    model: str
    identifier: Dataset
    destination_ae: str
    is_cancelled: Callable[[], bool]
    relational: bool = False


@dataclass
class RetrievePlan:
    """What to send for a retrieve: the destination (C-MOVE only; None = unknown AE) and instance loaders.

    Each item is a path to a Part 10 file or a callable returning a Dataset; loading is lazy.
    """

    destination: Endpoint | None
    instances: Sequence[Any]
    sop_classes: Sequence[str] = ()
    transfer_syntaxes: Sequence[str] = ()


@dataclass(frozen=True)
class ScpService:
    """An extra DIMSE service a node offers on its AE beyond storage and query/retrieve (MPPS, storage
    commitment ...): the abstract syntaxes it accepts, with the roles it takes (PS3.7 D.3.3.4), and the
    pynetdicom event handlers that serve it. Built only inside ``simulator.net`` (see ``net/mpps.py``,
    ``net/commitment/``); nodes pass it through without looking inside.
    """

    name: str
    contexts: tuple[tuple[str, bool, bool], ...]  # (abstract syntax, accept SCU role, accept SCP role)
    handlers: tuple[tuple[Any, Callable[..., Any]], ...]
    on_start: Callable[[DicomServer], None] | None = None


StoreHandler = Callable[[StoreRequest], StoreReply]
FindHandler = Callable[[FindRequest], Iterable[Dataset]]
RetrieveHandler = Callable[[RetrieveRequest], RetrievePlan]


def _length(stream: BytesIO) -> int:
    """Bytes in a BytesIO, without copying them."""
    with stream.getbuffer() as view:
        return view.nbytes


def _caller(event: Any) -> Caller:
    req = event.assoc.requestor
    return Caller(str(req.ae_title).strip(), str(req.address), int(req.port))


def _load(item: Any) -> Dataset:
    if callable(item):
        return item()  # type: ignore[no-any-return]
    ds = dcmread(item)
    return ds


class DicomServer:
    """A listening application entity for node ``node`` (PS3.8 7.1: it rejects a wrong called AE title)."""

    def __init__(self, ae_title: str, *, node: str, journal: Journal, store: StoreHandler | None = None,
                 find: FindHandler | None = None, move: RetrieveHandler | None = None,
                 get: RetrieveHandler | None = None, worklist: FindHandler | None = None,
                 services: Sequence[ScpService] = (), max_pdu: int = DEFAULT_MAX_PDU,
                 require_called_ae: bool = True, relational: bool = True,
                 storage_classes: Sequence[str] | None = None,
                 storage_syntaxes: Sequence[str] | None = None) -> None:
        self.ae_title = ae_title
        self.node = node
        self.journal = journal
        self._store = store
        self._find = find
        self._move = move
        self._get = get
        self._worklist = worklist
        self.relational = relational  # accept relational queries and retrieves when proposed (PS3.4 C.3.4)
        # What C-STORE accepts (default: every storage SOP class, every syntax in ACCEPTED_SYNTAXES); narrower sets
        # make a strict peer, e.g. Implicit VR Little Endian only, the one syntax every SCP must take (PS3.5 10.1).
        self.storage_classes = list(storage_classes) if storage_classes is not None else all_storage_classes()
        self.storage_syntaxes = list(storage_syntaxes) if storage_syntaxes is not None else list(ACCEPTED_SYNTAXES)
        self.services = tuple(services)
        self._server: ThreadedAssociationServer | None = None
        self._lock = threading.Lock()
        self.endpoint: Endpoint | None = None
        self.ae = AE(ae_title=ae_title)
        self.ae.implementation_class_uid = IMPLEMENTATION_CLASS_UID
        self.ae.implementation_version_name = IMPLEMENTATION_VERSION_NAME
        self.ae.maximum_pdu_size = max_pdu
        self.ae.require_called_aet = require_called_ae
        self.ae.acse_timeout = 30
        self.ae.dimse_timeout = 120
        self.ae.network_timeout = 120
        self.ae.maximum_associations = 64
        self._configure_contexts()

    def _configure_contexts(self) -> None:
        ae = self.ae
        ae.add_supported_context(VERIFICATION, ACCEPTED_SYNTAXES)
        if self._store is not None:
            for uid in self.storage_classes:
                ae.add_supported_context(uid, self.storage_syntaxes)
        for operation, handler in (("C-FIND", self._find), ("C-MOVE", self._move), ("C-GET", self._get)):
            if handler is None:
                continue
            for model in QUERY_MODELS.values():
                ae.add_supported_context(model[operation], ACCEPTED_SYNTAXES)
        if self._worklist is not None:
            ae.add_supported_context(MODALITY_WORKLIST_FIND, ACCEPTED_SYNTAXES)
        for service in self.services:
            for uid, scu_role, scp_role in service.contexts:
                if scu_role or scp_role:
                    ae.add_supported_context(uid, ACCEPTED_SYNTAXES, scu_role=scu_role, scp_role=scp_role)
                else:
                    ae.add_supported_context(uid, ACCEPTED_SYNTAXES)
        if self._get is not None:
            # C-GET sends C-STORE sub-operations on the same association: accept the SCU role for storage
            # (PS3.4 C.4.3, PS3.7 D.3.3.4 role selection), for what this node stores.
            for uid in self.storage_classes:
                ae.add_supported_context(uid, self.storage_syntaxes, scu_role=True, scp_role=True)

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Endpoint:
        """Listen on ``host:port`` (0 = a free port) in background threads; return the bound endpoint."""
        handlers: list[Any] = [
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_ESTABLISHED, self._on_established),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_ABORTED, self._on_aborted),
        ]
        if self._store is not None:
            handlers.append((evt.EVT_C_STORE, self._on_store))
        if self._find is not None or self._worklist is not None:
            handlers.append((evt.EVT_C_FIND, self._on_find))
        if self._move is not None:
            handlers.append((evt.EVT_C_MOVE, self._on_move))
        if self._get is not None:
            handlers.append((evt.EVT_C_GET, self._on_get))
        if self.relational and (self._find is not None or self._move is not None or self._get is not None):
            handlers.append((evt.EVT_SOP_EXTENDED, self._on_sop_extended))
        for service in self.services:
            handlers.extend(service.handlers)
        try:
            server = self.ae.make_server(
                (host, port), evt_handlers=handlers, server_class=ThreadedAssociationServer,
                request_handler=capped_handler(max(4 * self.ae.maximum_pdu_size, MIN_PDU_CAP)),
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(f"{self.node} ({self.ae_title})", host, port) from None
            raise
        self.ae._servers.append(server)  # as AE.start_server does; server.shutdown() removes it again
        threading.Thread(target=server.serve_forever, daemon=True, name=f"scp-{self.node}").start()
        self._server = server
        bound_port = int(server.server_address[1])
        self.endpoint = Endpoint(ae_title=self.ae_title, host=host, port=bound_port)
        for service in self.services:
            if service.on_start is not None:
                service.on_start(self)
        return self.endpoint

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening and end open associations; returns within ``timeout`` seconds."""
        server, self._server = self._server, None
        if server is None:
            return
        done = threading.Event()

        def _shutdown() -> None:
            try:
                server.shutdown()
                server.server_close()
            finally:
                done.set()

        threading.Thread(target=_shutdown, daemon=True, name=f"stop-{self.node}").start()
        if not done.wait(timeout):
            LOG.warning("%s did not stop within %.0fs", self.node, timeout)
        for assoc in list(getattr(server, "active_associations", [])):
            assoc.abort()

    def __enter__(self) -> DicomServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- journal ------------------------------------------------------------------------------------------------

    def _record(self, event: Any, kind: str, status: int | None, started: float, *, nbytes: int = 0,
                detail: dict[str, Any] | None = None, meaning: str | None = None) -> None:
        caller = _caller(event)
        self.journal.record(Exchange(
            node=self.node, kind=kind, role="SCP", local_ae=self.ae_title, peer_ae=caller.ae_title,
            peer_host=caller.host, peer_port=caller.port, status=status,
            meaning=meaning if meaning is not None else (describe_status(status, kind) if status is not None else ""),
            started=started, duration_s=time.time() - started, bytes=nbytes, detail=detail or {},
        ))

    def _on_established(self, event: Any) -> None:
        self._record(event, "ASSOCIATION", None, time.time(), meaning="established")

    def _on_rejected(self, event: Any) -> None:
        self._record(event, "ASSOCIATION", None, time.time(), meaning="rejected")

    def _on_aborted(self, event: Any) -> None:
        self._record(event, "ASSOCIATION", None, time.time(), meaning="aborted")

    # -- extended negotiation (PS3.7 D.3.3.5) -------------------------------------------------------------------

    def _on_sop_extended(self, event: Any) -> dict[str, bytes]:
        """Accept relational queries and retrieves for the Query/Retrieve models we serve (PS3.4 C.3.4, C.4.2.2.2):
        answer byte 1 of each proposed item as proposed for them, nothing for other SOP classes."""
        served = {str(uids[op]) for uids in QUERY_MODELS.values()
                  for op, handler in (("C-FIND", self._find), ("C-MOVE", self._move), ("C-GET", self._get))
                  if handler is not None}
        accepted: dict[str, bytes] = {}
        for uid, info in (event.app_info or {}).items():
            if str(uid) in served and info:
                accepted[str(uid)] = bytes(info[:1])
        return accepted

    # -- DIMSE handlers -----------------------------------------------------------------------------------------

    def _on_echo(self, event: Any) -> int:
        self._record(event, "C-ECHO", 0x0000, time.time())
        return 0x0000

    def _on_store(self, event: Any) -> Dataset:
        started = time.time()
        assert self._store is not None
        request = StoreRequest(
            caller=_caller(event),
            sop_class_uid=str(event.request.AffectedSOPClassUID),
            sop_instance_uid=str(event.request.AffectedSOPInstanceUID),
            transfer_syntax=str(event.context.transfer_syntax),
            receiver_ae=self.ae_title,
            _event=event,
        )
        try:
            reply = self._store(request)
        except ScpFailure as exc:
            reply = StoreReply(exc.status, exc.comment or None)
        except Exception as exc:  # a bug in a node must still produce a DICOM answer, never a hang
            LOG.exception("%s: C-STORE handler failed", self.node)
            reply = StoreReply(0xC001, f"internal error in {self.node}: {exc}"[:64])
        rsp = Dataset()
        rsp.Status = reply.status
        if reply.comment and (is_failure(reply.status) or is_warning(reply.status)):
            rsp.ErrorComment = reply.comment[:64]  # LO; only with failure/warning statuses (PS3.7 C.4)
        self._record(event, "C-STORE", reply.status, started, nbytes=_length(event.request.DataSet),
                     detail={"sop_instance_uid": request.sop_instance_uid,
                             **({"comment": reply.comment} if reply.comment else {})})
        return rsp

    def _on_find(self, event: Any) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        started = time.time()
        model = _find_model_of(event.request.AffectedSOPClassUID)
        handler = self._worklist if model == "worklist" else self._find
        request = FindRequest(_caller(event), model, event.identifier, lambda: bool(event.is_cancelled),
                              relational=_relational(event))
        count = 0
        detail = {"level": request.level, "model": model}
        last: tuple[int, Dataset | None] | None = None  # a final non-success answer, sent after journalling
        try:
            if handler is None:  # a model we did not offer cannot be negotiated; kept for safety
                raise ScpFailure(0xA900 if model == "unknown" else 0xC000, f"{model} C-FIND is not served here")
            for match in handler(request):
                if event.is_cancelled:
                    last = (CANCEL, None)
                    break
                count += 1
                yield PENDING, match
        except ScpFailure as exc:
            last = (exc.status, _status_with_comment(exc.status, exc.comment))
        except Exception as exc:
            LOG.exception("%s: C-FIND handler failed", self.node)
            last = (0xC001, _status_with_comment(0xC001, f"internal error in {self.node}: {exc}"))
        # pynetdicom does not resume the handler after a final answer: journal first, then answer. The Error
        # Comment travels in the status (command) set, where PS3.7 C.4.1.1.3 puts it.
        self._record(event, "C-FIND", last[0] if last else 0x0000, started, detail={**detail, "matches": count})
        if last is not None:
            yield last[0] if last[1] is None else last[1], None

    def _on_move(self, event: Any) -> Iterator[Any]:
        assert self._move is not None
        yield from self._retrieve(event, "C-MOVE", self._move, str(event.move_destination).strip())

    def _on_get(self, event: Any) -> Iterator[Any]:
        assert self._get is not None
        yield from self._retrieve(event, "C-GET", self._get, "")

    def _retrieve(self, event: Any, operation: str, handler: RetrieveHandler, destination_ae: str) -> Iterator[Any]:
        started = time.time()
        model = _model_of(event.request.AffectedSOPClassUID, operation)
        request = RetrieveRequest(_caller(event), model, event.identifier, destination_ae,
                                  lambda: bool(event.is_cancelled), relational=_relational(event))
        detail: dict[str, Any] = {"model": model, "destination": destination_ae}
        try:
            plan = handler(request)
        except ScpFailure as exc:
            # pynetdicom lets a retrieve handler fail before its first yield only by raising; it then answers
            # with a 0xC5xx "unable to process" failure (PS3.4 C.4.2.1.5), which is what a bad identifier gets.
            self._record(event, operation, exc.status, started, detail={**detail, "comment": exc.comment})
            raise RuntimeError(exc.comment or f"{operation} refused") from None
        if operation == "C-MOVE":
            if plan.destination is None:
                self._record(event, operation, 0xA801, started, detail=detail)
                yield None, None  # PS3.4 C.4.2.1.4: Move Destination unknown -> 0xA801
                return
            classes = plan.sop_classes or all_storage_classes()[:120]
            contexts = storage_contexts_for_classes(classes, plan.transfer_syntaxes)

            def opened(event_open: Any) -> None:
                # pynetdicom opens the C-STORE sub-association itself; without TCP_NODELAY each sub-operation
                # waits for the destination's delayed ACK (about 40 ms on loopback).
                sub_association.append(event_open.assoc)
                sock = getattr(getattr(event_open.assoc.dul, "socket", None), "socket", None)
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            sub_association: list[Any] = []
            yield plan.destination.host, plan.destination.port, {
                "contexts": contexts, "evt_handlers": [(evt.EVT_CONN_OPEN, opened)],
            }
        yield len(plan.instances)
        for sent, item in enumerate(plan.instances):
            if event.is_cancelled:
                self._record(event, operation, CANCEL, started, detail={**detail, "sent": sent})
                yield CANCEL, None
                return
            try:
                ds = _load(item)
            except Exception as exc:
                LOG.warning("%s: cannot load %s for %s: %s", self.node, item, operation, exc)
                yield 0xA702, None
                return
            # The C-STORE sub-operations go over the sub-association (C-MOVE) or this one (C-GET, PS3.4 C.4.3.2).
            store_assoc = event.assoc if operation == "C-GET" else (sub_association[0] if sub_association else None)
            yield PENDING, self._fit(event, store_assoc, ds)
        self._record(event, operation, 0x0000, started, detail={**detail, "sub_operations": len(plan.instances)})

    def _fit(self, event: Any, assoc: Any, ds: Dataset) -> Dataset:
        """``ds`` in a transfer syntax the store association accepted for its SOP class: as stored when it was
        accepted, else transcoded to a native one it accepted (journalled, decoded pixels compared). When none fits,
        ``ds`` as it is: the sub-operation then fails, as PS3.4 C.4.2.2 and C.4.3.2 say it must."""
        if assoc is None or "SOPClassUID" not in ds:
            return ds
        syntax = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
        how, target = choose(assoc, str(ds.SOPClassUID), syntax)
        if how != "transcode":
            return ds
        started = time.time()
        try:
            out, record = transcode(ds, target)
        except TranscodeFailed as exc:
            LOG.warning("%s: %s", self.node, exc)
            return ds
        self._record(event, "TRANSCODE", None, started, meaning=record.describe(),
                     detail={"sop_instance_uid": record.sop_instance_uid, "from": record.source, "to": record.target,
                             "pixels_compared": record.pixels_compared})
        return out


def _relational(event: Any) -> bool:
    """Whether relational queries/retrieves were negotiated for the request's SOP class on this association."""
    accepted = event.assoc.acceptor.sop_class_extended.get(str(event.request.AffectedSOPClassUID), b"")
    return bytes(accepted[:1]) == b"\x01"


def _model_of(sop_class: object, operation: str) -> str:
    for name, uids in QUERY_MODELS.items():
        if uids[operation] == str(sop_class):
            return name
    return "unknown"


def _find_model_of(sop_class: object) -> str:
    for name, uid in FIND_MODELS.items():
        if uid == str(sop_class):
            return name
    return "unknown"


def _status_with_comment(status: int, comment: str) -> Dataset | None:
    """A status dataset carrying an Error Comment (LO, 64 characters at most), or None without a comment."""
    if not comment:
        return None
    ds = Dataset()
    ds.Status = status
    ds.ErrorComment = comment[:64]
    return ds
