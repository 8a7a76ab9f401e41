"""A workstation: Query/Retrieve SCU (C-FIND, C-MOVE to its own Storage SCP, C-GET) and a verifier that compares
what came back with what was sent (PS3.4 C.4)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence

from pydicom.dataset import Dataset

from simulator.config import Endpoint
from simulator.journal import Journal
from simulator.net import DicomClient, DicomServer, RetrieveOutcome, StoreReply, StoreRequest
from simulator.nodes.listening import ListeningNode
from simulator.synth.study import pixel_digest

# Attributes whose values must survive storage and retrieval unchanged.
KEY_ATTRIBUTES: tuple[str, ...] = (
    "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientID", "PatientName", "PatientBirthDate",
    "PatientSex", "AccessionNumber", "StudyDate", "Modality", "SeriesNumber", "InstanceNumber", "Rows",
    "Columns", "BitsAllocated", "PhotometricInterpretation",
)


def identifier(level: str, keys: Mapping[str, object]) -> Dataset:
    """A C-FIND/C-MOVE/C-GET identifier: QueryRetrieveLevel plus the given keys (empty = return key)."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level.upper()
    for keyword, value in keys.items():
        setattr(ds, keyword, "" if value is None else value)
    return ds


class Workstation(ListeningNode):
    """Its storage SCP keeps every instance it receives (by SOP Instance UID), counting duplicates."""

    def __init__(self, ae_title: str, *, node: str, journal: Journal | None = None) -> None:
        self.ae_title = ae_title
        self.node = node
        self.journal = journal if journal is not None else Journal()
        self.client = DicomClient(ae_title, node=node, journal=self.journal)
        self._server = DicomServer(ae_title, node=node, journal=self.journal, store=self._on_store)
        self._lock = threading.Lock()
        self.received: dict[str, Dataset] = {}
        self.deliveries: Counter[str] = Counter()

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self.deliveries.clear()

    def _on_store(self, request: StoreRequest) -> StoreReply:
        ds = request.dataset()
        with self._lock:
            self.received[request.sop_instance_uid] = ds
            self.deliveries[request.sop_instance_uid] += 1
        return StoreReply(0x0000)

    # -- queries and retrieves ---------------------------------------------------------------------------------

    def find(self, pacs: Endpoint, level: str, keys: Mapping[str, object], *, model: str = "study") -> list[Dataset]:
        return self.client.find(pacs, identifier(level, keys), model=model)

    def move(self, pacs: Endpoint, level: str, keys: Mapping[str, object], *, model: str = "study",
             destination_ae: str | None = None) -> RetrieveOutcome:
        """C-MOVE to this workstation's own storage SCP (or ``destination_ae``)."""
        return self.client.move(pacs, identifier(level, keys), destination_ae or self.ae_title, model=model)

    def get(self, pacs: Endpoint, level: str, keys: Mapping[str, object], *, model: str = "study") -> RetrieveOutcome:
        outcome = self.client.get(pacs, identifier(level, keys), model=model)
        with self._lock:
            for ds in outcome.received:
                uid = str(ds.SOPInstanceUID)
                self.received[uid] = ds
                self.deliveries[uid] += 1
        return outcome

    # -- verification ------------------------------------------------------------------------------------------

    def compare(self, sent: Sequence[Dataset]) -> list[str]:
        """Every difference between ``sent`` and what this workstation holds for those SOP Instance UIDs."""
        with self._lock:
            received = dict(self.received)
            deliveries = Counter(self.deliveries)
        return compare_instances(sent, received, deliveries)


def compare_instances(sent: Sequence[Dataset], received: Mapping[str, Dataset],
                      deliveries: Mapping[str, int] | None = None) -> list[str]:
    """Differences in SOP Instance UIDs, key attributes and pixel data; empty when identical."""
    problems: list[str] = []
    for ds in sent:
        uid = str(ds.SOPInstanceUID)
        got = received.get(uid)
        if got is None:
            problems.append(f"{uid}: not received")
            continue
        if deliveries is not None and deliveries.get(uid, 0) > 1:
            problems.append(f"{uid}: received {deliveries[uid]} times")
        for keyword in KEY_ATTRIBUTES:
            want, have = ds.get(keyword), got.get(keyword)
            if str(want if want is not None else "") != str(have if have is not None else ""):
                problems.append(f"{uid}: {keyword} sent {want!r}, received {have!r}")
        problems.extend(_pixel_difference(uid, ds, got))
    return problems


def _pixel_difference(uid: str, sent: Dataset, got: Dataset) -> list[str]:
    if "PixelData" not in sent:
        return []
    if "PixelData" not in got:
        return [f"{uid}: Pixel Data missing"]
    same_syntax = str(sent.file_meta.TransferSyntaxUID) == str(getattr(got.file_meta, "TransferSyntaxUID", ""))
    if same_syntax or (not sent.file_meta.TransferSyntaxUID.is_compressed and not _compressed(got)):
        if pixel_digest(sent) != pixel_digest(got):
            return [f"{uid}: Pixel Data differs (SHA-256 of the value)"]
        return []
    try:
        import numpy as np

        if not np.array_equal(sent.pixel_array, got.pixel_array):
            return [f"{uid}: decoded pixels differ"]
    except Exception as exc:  # a codec that is not installed: say so rather than pass silently
        return [f"{uid}: cannot compare pixels ({exc})"]
    return []


def _compressed(ds: Dataset) -> bool:
    syntax = getattr(ds.file_meta, "TransferSyntaxUID", None)
    return bool(syntax is not None and syntax.is_compressed)
