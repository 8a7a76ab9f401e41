"""The embedded archive node: Storage SCP, Query/Retrieve SCP (FIND, MOVE, GET) and Storage Commitment SCP
(PS3.4 J) over :class:`ArchiveIndex`."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from pydicom.dataset import Dataset

from simulator.config import Endpoint
from simulator.journal import Journal
from simulator.net import (
    DicomClient,
    DicomServer,
    FindRequest,
    RetrievePlan,
    RetrieveRequest,
    ScpFailure,
    StoreReply,
    StoreRequest,
    commitment_scp_service,
)
from simulator.net.commitment import (
    CLASS_INSTANCE_CONFLICT,
    DELIVERY_MODES,
    NO_SUCH_OBJECT_INSTANCE,
    Delivery,
)
from simulator.nodes.archive.index import ArchiveIndex
from simulator.nodes.archive.query import compile_match, response_select
from simulator.nodes.listening import ListeningNode

LOG = logging.getLogger(__name__)


class EmbeddedArchive(ListeningNode):
    """radsim's own PACS. ``peers`` maps AE titles to endpoints: the C-MOVE destinations (PS3.4 C.4.2.1.4) and
    where storage commitment results go when they are sent on a new association (PS3.4 J.3.3.1.2).

    ``commitment_delivery`` (also settable while running) is how results are sent: ``same`` association,
    ``new`` association, or ``auto`` (the same one while the requester keeps it open, else a new one).

    ``relational`` False refuses relational queries and retrieves in extended negotiation, so that only
    hierarchical ones are answered (PS3.4 C.4.1.2.2.1), as a strict baseline SCP does. ``storage_classes`` and
    ``storage_syntaxes`` narrow what C-STORE accepts (default: everything), to play a PACS that does not.
    """

    def __init__(self, data_dir: Path, *, ae_title: str = "RADSIM_PACS", journal: Journal | None = None,
                 node: str = "PACS", peers: Mapping[str, Endpoint] | None = None,
                 commitment_delivery: Delivery = "auto", relational: bool = True,
                 storage_classes: Sequence[str] | None = None, storage_syntaxes: Sequence[str] | None = None) -> None:
        self.ae_title = ae_title
        self.node = node
        self.journal = journal if journal is not None else Journal()
        self.index = ArchiveIndex(data_dir)
        self.peers: dict[str, Endpoint] = dict(peers or {})
        self.commitment_delivery = commitment_delivery
        commitment = commitment_scp_service(
            self._resolve_commitment, delivery=lambda: self.commitment_delivery, peer_for=lambda ae: self.peers.get(ae),
            client=DicomClient(ae_title, node=node, journal=self.journal),  # our own AE title (PS3.4 J.3.3.1.2)
        )
        self._server = DicomServer(ae_title, node=node, journal=self.journal, store=self._on_store,
                                   find=self._on_find, move=self._on_move, get=self._on_get,
                                   services=[commitment], relational=relational,
                                   storage_classes=storage_classes, storage_syntaxes=storage_syntaxes)

    @property
    def commitment_delivery(self) -> Delivery:
        return self._commitment_delivery

    @commitment_delivery.setter
    def commitment_delivery(self, mode: Delivery) -> None:
        if mode not in DELIVERY_MODES:
            raise ValueError(f"commitment_delivery must be one of {', '.join(DELIVERY_MODES)}, not {mode!r}")
        self._commitment_delivery = mode

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self.index.close()

    def add_peer(self, endpoint: Endpoint) -> None:
        self.peers[endpoint.ae_title] = endpoint

    # -- C-STORE (PS3.4 B.2.2) -------------------------------------------------------------------------------

    def _on_store(self, request: StoreRequest) -> StoreReply:
        ds = request.header()
        for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
            if not str(ds.get(keyword, "")).strip():
                raise ScpFailure(0xA900, f"{keyword} is missing; cannot index the instance")
        try:
            _, is_new = self.index.add(request.part10_chunks(), request.transfer_syntax, ds)
        except OSError as exc:
            LOG.error("%s: cannot store %s: %s", self.node, request.sop_instance_uid, exc)
            raise ScpFailure(0xA700, f"out of resources: {exc.strerror or exc}") from None
        return StoreReply(0x0000, None if is_new else "duplicate SOP Instance UID; first copy kept")

    # -- Storage Commitment (PS3.4 J.3.3.1.2) -----------------------------------------------------------------

    def _resolve_commitment(self, references: list[tuple[str, str]]) -> list[tuple[str, str, int | None]]:
        """Committed (None) when the index holds the instance under the same SOP Class; else the Failure Reason
        (PS3.3 C.14.1.1): 0x0112 not held, 0x0119 held under another SOP Class. An instance is indexed only after
        its file is fsynced, so what the index holds is safe to commit to."""
        outcome: list[tuple[str, str, int | None]] = []
        for sop_class, sop_instance in references:
            held = self.index.get(sop_instance)
            if held is None:
                outcome.append((sop_class, sop_instance, NO_SUCH_OBJECT_INSTANCE))
            elif held.sop_class_uid != sop_class:
                outcome.append((sop_class, sop_instance, CLASS_INSTANCE_CONFLICT))
            else:
                outcome.append((sop_class, sop_instance, None))
        return outcome

    # -- C-FIND (PS3.4 C.4.1.2) ------------------------------------------------------------------------------

    def _on_find(self, request: FindRequest) -> Iterator[Dataset]:
        query = compile_match(request.identifier, request.model, relational=request.relational)
        requested = [elem.keyword for elem in request.identifier if elem.keyword]
        select, keywords = response_select(query.level, requested)
        rows = self.index.query(
            f"SELECT {select} FROM instances WHERE {query.where} GROUP BY {query.group_column} "
            f"ORDER BY MIN(received_at)", query.params)
        for row in rows:
            if request.is_cancelled():
                return
            yield self._response(request.identifier, query.level, keywords, row)

    def _response(self, identifier: Dataset, level: str, keywords: list[str], row: object) -> Dataset:
        ds = Dataset()
        ds.QueryRetrieveLevel = level
        for elem in identifier:
            if elem.keyword in ("QueryRetrieveLevel", "SpecificCharacterSet") or not elem.keyword:
                continue
            setattr(ds, elem.keyword, "" if elem.VR != "SQ" else [])
        non_ascii = False
        for keyword in keywords:
            value = row[keyword]  # type: ignore[index]
            text = "" if value is None else str(value)
            if keyword == "ModalitiesInStudy":
                ds.ModalitiesInStudy = [m for m in text.split(",") if m]
                continue
            non_ascii = non_ascii or not text.isascii()
            setattr(ds, keyword, text.split("\\") if "\\" in text else text)
        if non_ascii:
            ds.SpecificCharacterSet = "ISO_IR 192"
        ds.RetrieveAETitle = self.ae_title  # where to C-MOVE/C-GET the match from (PS3.4 C.4.1.1.3.2)
        return ds

    # -- C-MOVE / C-GET (PS3.4 C.4.2.2, C.4.3.2) --------------------------------------------------------------

    def _plan(self, request: RetrieveRequest, destination: Endpoint | None) -> RetrievePlan:
        query = compile_match(request.identifier, request.model, relational=request.relational)
        instances = self.index.instances_where(query.where, query.params)
        return RetrievePlan(
            destination=destination,
            instances=[inst.path for inst in instances],
            sop_classes=sorted({inst.sop_class_uid for inst in instances}),
            transfer_syntaxes=sorted({inst.transfer_syntax for inst in instances}),
        )

    def _on_move(self, request: RetrieveRequest) -> RetrievePlan:
        destination = self.peers.get(request.destination_ae)
        if destination is None:
            LOG.warning("%s: C-MOVE to unknown destination '%s' (known: %s)", self.node,
                        request.destination_ae, ", ".join(sorted(self.peers)) or "none")
            return RetrievePlan(destination=None, instances=[])
        return self._plan(request, destination)

    def _on_get(self, request: RetrieveRequest) -> RetrievePlan:
        return self._plan(request, None)
