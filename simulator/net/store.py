"""Sending instances with C-STORE (PS3.4 B): what each instance got, whatever happens to the others.

Accounting is per instance. An instance answered with a status has that outcome even when its association, or
another association of the same call, fails afterwards: :class:`StoreInterrupted` carries every outcome received
before the failure, so a caller resends only what was never answered (nothing acknowledged is sent twice).

Each instance travels in the transfer syntax it is stored in when the peer accepted that; otherwise it is
transcoded (:mod:`simulator.net.transcode`) to a native syntax the peer accepted for its SOP class, and the journal
says so. When the peer accepted no context the instance can travel in, the instance is not sent: its outcome has
no status (``status is None``) and says why. That refusal is permanent for this peer's configuration, unlike a
network error, so a queue can set the instance aside instead of retrying it forever.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info
from pydicom.uid import UID

from simulator.config import Endpoint
from simulator.errors import AssociationAborted, NetworkError, NoAcceptedContext
from simulator.net.contexts import storage_contexts_for
from simulator.net.status import describe_status, is_failure
from simulator.net.transcode import TARGETS, TranscodeFailed, transcode

if TYPE_CHECKING:
    from simulator.net.scu import DicomClient

# PS3.8 9.3.3.2, Table 9-18: the Result/Reason of a presentation context in the A-ASSOCIATE-AC.
CONTEXT_RESULTS = {1: "user rejection", 2: "no reason (provider rejection)",
                   3: "abstract syntax not supported (provider rejection)",
                   4: "transfer syntaxes not supported (provider rejection)"}


@dataclass(frozen=True)
class StoreOutcome:
    """The answer to one C-STORE request (PS3.4 B.2.3); ``status`` None: the instance was never sent, because the
    peer accepted no presentation context it could travel in (``meaning`` says what the peer accepted)."""

    sop_instance_uid: str
    status: int | None
    meaning: str
    comment: str | None
    duration_s: float
    bytes: int
    transcoded: str | None = None  # e.g. "JPEG-LS Lossless -> Explicit VR Little Endian, decoded pixels equal"
    # For an instance not sent: True when the peer accepted the association and other contexts but none this
    # instance can travel in (its configuration refuses this SOP class or syntax); False when it refused every
    # context of the association, which may pass (e.g. a limit on simultaneous store associations).
    permanent: bool = False

    @property
    def sent(self) -> bool:
        return self.status is not None

    @property
    def ok(self) -> bool:
        return self.status is not None and not is_failure(self.status)

    @property
    def status_text(self) -> str:
        return "not sent" if self.status is None else f"0x{self.status:04X}"


class StoreInterrupted(NetworkError):
    """Some instances got no answer: an association failed (or could not be opened). ``outcomes`` holds, in the
    order given, the outcome of every instance that was answered (or refused before sending) and None for the
    rest; ``errors`` the failure of each association that broke."""

    def __init__(self, outcomes: Sequence[StoreOutcome | None], errors: Sequence[NetworkError]) -> None:
        self.outcomes = list(outcomes)
        self.errors = list(errors)
        self.lanes_established = 0  # how many of the call's associations were established
        answered = sum(o is not None for o in self.outcomes)
        super().__init__(f"{self.errors[0]} ({answered} of {len(self.outcomes)} instances answered before it)")

    @property
    def unanswered(self) -> int:
        return sum(o is None for o in self.outcomes)


@dataclass
class Lane:
    """One association's share of a store call."""

    outcomes: list[StoreOutcome | None]
    error: NetworkError | None = None
    established: bool = False
    transcodes: list[str] = field(default_factory=list)


def header_of(item: Dataset | Path) -> Dataset:
    """What sending needs of an instance: SOP Class and Instance UID and transfer syntax. For a file only its File
    Meta Information is read (PS3.10 7.1), not the data set."""
    if isinstance(item, Dataset):
        return item
    meta = read_file_meta_info(item)
    header = Dataset()
    header.SOPClassUID = meta.get("MediaStorageSOPClassUID", "")
    header.SOPInstanceUID = meta.get("MediaStorageSOPInstanceUID", "")
    header.file_meta = meta
    return header


def _syntax_of(header: Dataset) -> str:
    meta = getattr(header, "file_meta", None)
    return str(getattr(meta, "TransferSyntaxUID", "") or "")


def accepted_syntaxes(assoc: Any, sop_class: str) -> list[str]:
    """The transfer syntaxes the peer accepted for ``sop_class`` on ``assoc``, one per accepted context."""
    return [str(cx.transfer_syntax[0]) for cx in assoc.accepted_contexts
            if str(cx.abstract_syntax) == sop_class and cx.as_scu is not False]


def _names(syntaxes: Sequence[str]) -> str:
    return ", ".join(UID(ts).name or ts for ts in dict.fromkeys(syntaxes))


def choose(assoc: Any, sop_class: str, syntax: str) -> tuple[str, str]:
    """How to send an instance of ``sop_class`` stored in ``syntax`` on ``assoc``: ("send", syntax) as it is,
    ("transcode", target) to a native syntax the peer accepted for the class, or ("refuse", why)."""
    accepted = accepted_syntaxes(assoc, sop_class)
    if syntax in accepted:
        return "send", syntax
    for target in TARGETS:
        if str(target) in accepted:
            return "transcode", str(target)
    name = UID(sop_class).name or sop_class
    if accepted:
        return "refuse", f"the peer accepts {name} only in {_names(accepted)}, which radsim cannot re-encode to"
    reasons = sorted({CONTEXT_RESULTS.get(int(cx.result or 0), f"result {cx.result}")
                      for cx in assoc.rejected_contexts if str(cx.abstract_syntax) == sop_class})
    why = f" ({'; '.join(reasons)})" if reasons else ""
    return "refuse", f"the peer accepted no presentation context for {name}{why}"


def store_lane(client: DicomClient, peer: Endpoint, items: Sequence[Dataset | Path], *,
               allow_transcode: bool = True) -> Lane:
    """Send ``items`` over one association; never raises a network error (it is in ``Lane.error``)."""
    lane = Lane(outcomes=[None] * len(items))
    headers: list[Dataset | None] = []
    for index, item in enumerate(items):
        try:
            headers.append(header_of(item))
        except (OSError, ValueError, AttributeError, InvalidDicomError) as exc:  # an unreadable file never is
            headers.append(None)
            meaning = f"not sent: cannot read {item}: {exc}"
            client.record("C-STORE", peer, None, meaning, time.time(), detail={"refused": True})
            lane.outcomes[index] = StoreOutcome("", None, meaning, None, 0.0, 0, permanent=True)
    sendable = [h for h in headers if h is not None]
    if not sendable:
        return lane
    try:
        contexts = storage_contexts_for(sendable)
        with client.associate(peer, contexts, purpose="C-STORE") as (assoc, watch):
            lane.established = True
            for index, (item, header) in enumerate(zip(items, headers, strict=True)):
                if header is not None:
                    lane.outcomes[index] = _store_one(client, peer, assoc, watch, item, header, allow_transcode)
    except NoAcceptedContext as exc:
        if lane.established:
            lane.error = exc
        else:  # the A-ASSOCIATE-AC rejected every context: nothing of this lane can be sent now
            meaning = f"not sent: {exc}"
            for index, header in enumerate(headers):
                if header is None:
                    continue
                uid = str(header.get("SOPInstanceUID", ""))
                client.record("C-STORE", peer, None, meaning, time.time(),
                              detail={"sop_instance_uid": uid, "refused": True})
                lane.outcomes[index] = StoreOutcome(uid, None, meaning, None, 0.0, 0, permanent=exc.permanent)
    except NetworkError as exc:
        lane.error = exc
    return lane


def _store_one(client: DicomClient, peer: Endpoint, assoc: Any, watch: Any, item: Dataset | Path,
               header: Dataset, allow_transcode: bool) -> StoreOutcome:
    uid = str(header.SOPInstanceUID) if "SOPInstanceUID" in header else ""
    sop_class = str(header.get("SOPClassUID", ""))
    syntax = _syntax_of(header)
    started = time.time()
    how, value = choose(assoc, sop_class, syntax)
    note: str | None = None
    to_send: Dataset | Path = item
    if how == "transcode" and not allow_transcode:
        how, value = "refuse", (f"the peer accepts {UID(sop_class).name or sop_class} only in "
                                f"{_names(accepted_syntaxes(assoc, sop_class))}, not in {UID(syntax).name or syntax}, "
                                "and transcoding is off")
    if how == "transcode":
        try:
            to_send, record = transcode(item, value)
        except TranscodeFailed as exc:
            how, value = "refuse", str(exc)
        else:
            note = record.describe()
            client.record("TRANSCODE", peer, None, note, started,
                          detail={"sop_instance_uid": uid, "from": record.source, "to": record.target,
                                  "pixels_compared": record.pixels_compared})
    if how == "refuse":
        meaning = f"not sent: {value}"
        client.record("C-STORE", peer, None, meaning, started, detail={"sop_instance_uid": uid, "refused": True})
        return StoreOutcome(uid, None, meaning, None, 0.0, 0, permanent=True)
    before = watch.bytes_sent
    rsp = assoc.send_c_store(to_send)
    if not assoc.is_established and (rsp is None or "Status" not in rsp):
        raise AssociationAborted(peer.describe(), f"C-STORE of {uid}", "no response; the association ended")
    status = client.status_of(rsp, peer, f"C-STORE of {uid}")
    meaning = describe_status(status, "C-STORE")
    comment = str(rsp.ErrorComment) if "ErrorComment" in rsp else None
    nbytes = watch.bytes_sent - before
    client.record("C-STORE", peer, status, meaning, started, nbytes=nbytes,
                  detail={"sop_instance_uid": uid, **({"comment": comment} if comment else {}),
                          **({"transcoded": note} if note else {})})
    return StoreOutcome(uid, status, meaning, comment, time.time() - started, nbytes, note)
