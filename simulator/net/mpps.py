"""Modality Performed Procedure Step (PS3.4 F.7, SOP Class 1.2.840.10008.3.1.2.3.3): N-CREATE and N-SET.

The SCU side is two calls, :func:`mpps_create` (IHE RAD-6) and :func:`mpps_set` (RAD-7), each on its own
association, journalled like every other DIMSE call, raising :class:`~simulator.errors.DimseFailure` on a failure
status. The SCP side is :func:`mpps_service`, an :class:`~simulator.net.scp.ScpService` a node passes to its
:class:`~simulator.net.scp.DicomServer`: it turns ``EVT_N_CREATE`` / ``EVT_N_SET`` into :class:`MppsRequest`
objects and the node's :class:`MppsReply` (or a raised :class:`ScpFailure`) back into a response.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import build_context, evt

from simulator.config import Endpoint
from simulator.errors import DimseFailure, NoAcceptedContext
from simulator.net.contexts import NATIVE_SYNTAXES
from simulator.net.scp import Caller, DicomServer, ScpFailure, ScpService
from simulator.net.scu import DicomClient
from simulator.net.status import describe_status, is_failure, is_warning

LOG = logging.getLogger(__name__)

#: PS3.4 F.7.3.
MODALITY_PERFORMED_PROCEDURE_STEP = UID("1.2.840.10008.3.1.2.3.3")

#: Performed Procedure Step Status (0040,0252) values (PS3.4 F.1.5, Table F.1-3).
IN_PROGRESS = "IN PROGRESS"
COMPLETED = "COMPLETED"
DISCONTINUED = "DISCONTINUED"
PPS_STATUSES = (IN_PROGRESS, COMPLETED, DISCONTINUED)

#: The Error Comment and Error ID an SCP returns with 0x0110 to an N-SET of a finished step (PS3.4 Table F.7.2-2).
MAY_NO_LONGER_BE_UPDATED = "Performed Procedure Step Object may no longer be updated"
MAY_NO_LONGER_BE_UPDATED_ERROR_ID = 0xA710

N_CREATE = "N-CREATE"
N_SET = "N-SET"


# -- SCU ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MppsResponse:
    """The answer to one N-CREATE or N-SET (PS3.7 10.1.5.1.6, 10.1.3.1.6); only success and warnings come back
    as a response, failures raise :class:`~simulator.errors.DimseFailure`."""

    operation: str
    sop_instance_uid: str
    status: int
    meaning: str
    comment: str | None = None
    error_id: int | None = None
    attributes: Dataset | None = field(default=None, repr=False)  # the Attribute List the SCP returned, if any
    duration_s: float = 0.0

    @property
    def warning(self) -> bool:
        return is_warning(self.status)


def mpps_create(client: DicomClient, peer: Endpoint, sop_instance_uid: str, attributes: Dataset) -> MppsResponse:
    """Create the MPPS instance ``sop_instance_uid`` at ``peer`` with N-CREATE (PS3.4 F.7.2.1; IHE RAD-6).

    ``attributes`` is the Attribute List (PS3.4 Table F.7.2-1), normally with Performed Procedure Step Status
    "IN PROGRESS". Raises :class:`~simulator.errors.DimseFailure` on a failure status.
    """
    return _send(client, peer, N_CREATE, sop_instance_uid, attributes)


def mpps_set(client: DicomClient, peer: Endpoint, sop_instance_uid: str, modifications: Dataset) -> MppsResponse:
    """Update the MPPS instance ``sop_instance_uid`` at ``peer`` with N-SET (PS3.4 F.7.2.2; IHE RAD-7).

    Raises :class:`~simulator.errors.DimseFailure` on a failure status, e.g. 0x0110 with Error ID A710 once the
    step is COMPLETED or DISCONTINUED (PS3.4 Table F.7.2-2).
    """
    return _send(client, peer, N_SET, sop_instance_uid, modifications)


def _send(client: DicomClient, peer: Endpoint, operation: str, uid: str, dataset: Dataset) -> MppsResponse:
    if not uid:
        raise ValueError(f"{operation} needs the SOP Instance UID of the Modality Performed Procedure Step")
    if operation == N_SET and len(dataset) == 0:
        # The Modification List is mandatory (PS3.7 10.1.3.1.3); pynetdicom would announce a data set it never
        # sends for an empty one, and the peer would wait for it until the DIMSE timeout.
        raise ValueError("N-SET needs at least one attribute to modify")
    payload: Dataset | None = dataset if len(dataset) else None  # an empty Attribute List is left out
    context = build_context(MODALITY_PERFORMED_PROCEDURE_STEP, list(NATIVE_SYNTAXES))
    with client.associate(peer, [context], purpose=operation) as (assoc, watch):
        started = time.time()
        before = watch.bytes_sent
        try:
            if operation == N_CREATE:
                rsp, attributes = assoc.send_n_create(payload, MODALITY_PERFORMED_PROCEDURE_STEP, uid)
            else:
                rsp, attributes = assoc.send_n_set(dataset, MODALITY_PERFORMED_PROCEDURE_STEP, uid)
        except ValueError as exc:  # no accepted presentation context for the MPPS SOP Class
            raise NoAcceptedContext(peer.describe(), f"Modality Performed Procedure Step: {exc}") from None
        status = client.status_of(rsp, peer, f"{operation} of {uid}")
        meaning = describe_status(status, operation)
        comment = str(rsp.ErrorComment) if rsp.get("ErrorComment") else None
        error_id = int(rsp.ErrorID) if rsp.get("ErrorID") is not None else None
        detail: dict[str, Any] = {"sop_instance_uid": uid}
        pps_status = dataset.get("PerformedProcedureStepStatus")
        if pps_status:
            detail["pps_status"] = str(pps_status)
        if comment:
            detail["comment"] = comment
        if error_id is not None:
            detail["error_id"] = f"0x{error_id:04X}"
        client.record(operation, peer, status, meaning, started, nbytes=watch.bytes_sent - before, detail=detail)
        duration = time.time() - started
    if is_failure(status):
        raise DimseFailure(operation, status, meaning, peer=peer.describe(), comment=comment,
                           detail=f"Error ID 0x{error_id:04X}" if error_id is not None else "")
    return MppsResponse(operation, uid, status, meaning, comment, error_id, attributes, duration)


# -- SCP ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MppsRequest:
    """An incoming N-CREATE or N-SET of a Modality Performed Procedure Step (PS3.4 F.7.2.1.3, F.7.2.2.3).

    ``dataset`` is the Attribute List (N-CREATE) or Modification List (N-SET) as received; its values are decoded
    when read. ``sop_instance_uid`` is empty when an N-CREATE leaves the UID to the SCP (PS3.7 10.1.5.1.3).
    """

    caller: Caller
    operation: str
    sop_instance_uid: str
    dataset: Dataset
    receiver_ae: str


@dataclass(frozen=True)
class MppsReply:
    """What the node answers: success or a warning status, the attributes to return, and (N-CREATE without a
    UID in the request) the SOP Instance UID it assigned."""

    status: int = 0x0000
    attributes: Dataset | None = None
    sop_instance_uid: str = ""
    comment: str | None = None


class MppsFailure(ScpFailure):
    """A refusal with, beyond status and Error Comment (PS3.7 C.4), an Error ID (0000,0903) such as A710 (PS3.4
    Table F.7.2-2) and, for N-SET, the Attribute Identifier List (0000,1005) of the offending attributes."""

    def __init__(self, status: int, comment: str = "", *, error_id: int | None = None,
                 attribute_tags: tuple[int, ...] = ()) -> None:
        super().__init__(status, comment)
        self.error_id = error_id
        self.attribute_tags = attribute_tags


MppsHandler = Callable[[MppsRequest], MppsReply]


class _Bound:
    """The server a service was started on, for journalling (set by :attr:`ScpService.on_start`)."""

    server: DicomServer | None = None


def mpps_service(on_create: MppsHandler, on_set: MppsHandler) -> ScpService:
    """The MPPS SCP (PS3.4 F.7) for a :class:`~simulator.net.scp.DicomServer` (``services=[...]``).

    Each handler gets an :class:`MppsRequest` and returns an :class:`MppsReply`; raising :class:`ScpFailure` (or
    :class:`MppsFailure`) refuses with that status and Error Comment. A handler that crashes is answered with
    0x0110 (processing failure). Every request is journalled with kind ``N-CREATE`` / ``N-SET``.
    """
    bound = _Bound()

    def on_start(server: DicomServer) -> None:
        bound.server = server

    def handle_create(event: Any) -> tuple[Dataset, Dataset | None]:
        return _handle(bound, event, N_CREATE, on_create)

    def handle_set(event: Any) -> tuple[Dataset, Dataset | None]:
        return _handle(bound, event, N_SET, on_set)

    return ScpService(
        name="mpps",
        contexts=((str(MODALITY_PERFORMED_PROCEDURE_STEP), False, False),),
        handlers=((evt.EVT_N_CREATE, handle_create), (evt.EVT_N_SET, handle_set)),
        on_start=on_start,
    )


def _handle(bound: _Bound, event: Any, operation: str, handler: MppsHandler) -> tuple[Dataset, Dataset | None]:
    started = time.time()
    request = event.request
    if operation == N_CREATE:
        sop_class = str(request.AffectedSOPClassUID or "")
        uid = str(request.AffectedSOPInstanceUID or "")
        payload = request.AttributeList
    else:
        sop_class = str(request.RequestedSOPClassUID or "")
        uid = str(request.RequestedSOPInstanceUID or "")
        payload = request.ModificationList
    server = bound.server
    receiver = server.ae_title if server is not None else ""
    reply = MppsReply()
    failure: ScpFailure | None = None
    dataset = Dataset()
    try:
        if sop_class != MODALITY_PERFORMED_PROCEDURE_STEP:
            raise ScpFailure(0x0118, f"{operation} of SOP Class {sop_class} is not served here")
        if payload is not None:
            dataset = event.attribute_list if operation == N_CREATE else event.modification_list
        caller = event.assoc.requestor
        reply = handler(MppsRequest(Caller(str(caller.ae_title).strip(), str(caller.address), int(caller.port)),
                                    operation, uid, dataset, receiver))
    except ScpFailure as exc:
        failure = exc
    except Exception as exc:  # a bug in a node must still produce a DICOM answer, never a hang
        LOG.exception("%s handler failed", operation)
        failure = ScpFailure(0x0110, f"internal error in {server.node if server else 'the SCP'}: {exc}"[:64])

    rsp = Dataset()
    attributes: Dataset | None = None
    detail: dict[str, Any] = {"sop_instance_uid": uid or reply.sop_instance_uid}
    with contextlib.suppress(Exception):  # a value that cannot be decoded must not stop the answer
        pps_status = dataset.get("PerformedProcedureStepStatus")
        if pps_status:
            detail["pps_status"] = str(pps_status)
    if failure is not None:
        rsp.Status = failure.status
        if failure.comment:
            rsp.ErrorComment = failure.comment[:64]  # LO (PS3.7 C.4)
            detail["comment"] = failure.comment
        if isinstance(failure, MppsFailure):
            if failure.error_id is not None:
                rsp.ErrorID = failure.error_id
                detail["error_id"] = f"0x{failure.error_id:04X}"
            if failure.attribute_tags and operation == N_SET:
                rsp.AttributeIdentifierList = list(failure.attribute_tags)
    else:
        rsp.Status = reply.status
        if reply.comment and is_warning(reply.status):
            rsp.ErrorComment = reply.comment[:64]
            detail["comment"] = reply.comment
        attributes = Dataset() if reply.attributes is None else reply.attributes
        if operation == N_CREATE and not uid and reply.sop_instance_uid:
            attributes.AffectedSOPInstanceUID = reply.sop_instance_uid  # PS3.7 10.1.5.1.4; pynetdicom moves it
    if server is not None:
        nbytes = payload.getbuffer().nbytes if payload is not None else 0
        server._record(event, operation, int(rsp.Status), started, nbytes=nbytes, detail=detail)
    return rsp, attributes
