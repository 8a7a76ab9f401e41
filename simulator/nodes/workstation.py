"""A workstation: Query/Retrieve SCU (C-FIND, C-MOVE to its own Storage SCP, C-GET; IHE RAD-14/RAD-16), a DICOMweb
user agent (QIDO-RS, WADO-RS, STOW-RS; PS3.18) and a verifier that compares what came back with what was sent
(PS3.4 C.4)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence

from pydicom.dataset import Dataset

from simulator.config import Endpoint
from simulator.journal import Journal
from simulator.net import DicomClient, DicomServer, RetrieveOutcome, StoreReply, StoreRequest
from simulator.net.dicomweb import DicomWebClient, StowOutcome
from simulator.net.hierarchy import InstanceRef, study_instances
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


# QIDO-RS search levels (PS3.18 10.6.1) by the names C-FIND uses for them, and their own names.
QIDO_LEVELS: dict[str, str] = {"STUDY": "studies", "SERIES": "series", "IMAGE": "instances",
                               "INSTANCE": "instances", "STUDIES": "studies", "INSTANCES": "instances"}


class Workstation(ListeningNode):
    """Its storage SCP keeps every instance it receives (by SOP Instance UID), counting duplicates.

    ``dicomweb_url`` is the DICOMweb root used when a DICOMweb call passes ``None`` as its URL.
    """

    def __init__(self, ae_title: str, *, node: str, journal: Journal | None = None,
                 dicomweb_url: str | None = None, dicomweb_timeout: float = 60.0) -> None:
        self.ae_title = ae_title
        self.node = node
        self.journal = journal if journal is not None else Journal()
        self.dicomweb_url = dicomweb_url
        self.dicomweb_timeout = dicomweb_timeout
        self.client = DicomClient(ae_title, node=node, journal=self.journal)
        self._server = DicomServer(ae_title, node=node, journal=self.journal, store=self._on_store)
        self._lock = threading.Lock()
        self.received: dict[str, Dataset] = {}  # by the data set's own SOP Instance UID
        self.deliveries: Counter[str] = Counter()
        # C-STOREs whose command named another instance than the data set holds: command UID -> data set UID
        self.mismatched: dict[str, str] = {}

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self.deliveries.clear()
            self.mismatched.clear()

    def _on_store(self, request: StoreRequest) -> StoreReply:
        """Keep what arrived under the data set's own SOP Instance UID, and note when the C-STORE command's Affected
        SOP Instance (or Class) UID names another (PS3.7 9.1.1.1: they identify the same instance)."""
        ds = request.dataset()
        self._keep([ds], [(request.sop_instance_uid, request.sop_class_uid)])
        return StoreReply(0x0000)

    # -- queries and retrieves ---------------------------------------------------------------------------------

    def find(self, pacs: Endpoint, level: str, keys: Mapping[str, object], *, model: str = "study",
             relational: bool = False) -> list[Dataset]:
        """C-FIND at ``level``; ``relational`` proposes relational queries (PS3.4 C.4.1.2.2.2) and raises
        RelationalQueryRefused when the PACS answers only hierarchical ones."""
        return self.client.find(pacs, identifier(level, keys), model=model, relational=relational)

    def instances_of(self, pacs: Endpoint, study_instance_uid: str) -> list[InstanceRef]:
        """Every instance the PACS lists for a study: relationally when the PACS accepts it, else SERIES then
        IMAGE per series (PS3.4 C.4.1.2.2); see :func:`simulator.net.hierarchy.study_instances`."""
        return study_instances(self.client, pacs, study_instance_uid)

    def move(self, pacs: Endpoint, level: str, keys: Mapping[str, object], *, model: str = "study",
             destination_ae: str | None = None, cancel_after: int | None = None) -> RetrieveOutcome:
        """C-MOVE to this workstation's own storage SCP (or ``destination_ae``); ``cancel_after`` sends C-CANCEL
        after that many pending responses (PS3.7 9.3.2.3)."""
        return self.client.move(pacs, identifier(level, keys), destination_ae or self.ae_title, model=model,
                                cancel_after=cancel_after)

    def get(self, pacs: Endpoint, level: str, keys: Mapping[str, object], *, model: str = "study",
            cancel_after: int | None = None) -> RetrieveOutcome:
        """C-GET into ``received``; ``cancel_after`` sends C-CANCEL after that many pending responses."""
        outcome = self.client.get(pacs, identifier(level, keys), model=model, cancel_after=cancel_after)
        self._keep(outcome.received, outcome.commanded)
        return outcome

    def _keep(self, datasets: Sequence[Dataset], commanded: Sequence[tuple[str, str]] | None = None) -> None:
        """File ``datasets`` by their own SOP Instance UID; ``commanded`` holds, for each, the (Affected SOP Instance
        UID, Affected SOP Class UID) of the C-STORE that carried it, when there was one."""
        with self._lock:
            for index, ds in enumerate(datasets):
                uid = str(ds.get("SOPInstanceUID", "") or "")
                self.received[uid] = ds
                self.deliveries[uid] += 1
                if commanded is not None and index < len(commanded):
                    command_uid, command_class = commanded[index]
                    if command_uid != uid or command_class != str(ds.get("SOPClassUID", "") or ""):
                        self.mismatched[command_uid] = uid

    # -- DICOMweb (PS3.18) -------------------------------------------------------------------------------------

    def dicomweb(self, base_url: str | None = None) -> DicomWebClient:
        """A DICOMweb client for ``base_url`` (None: the workstation's own ``dicomweb_url``)."""
        url = base_url or self.dicomweb_url
        if not url:
            raise ValueError(f"{self.node} has no DICOMweb URL: pass one, or build the workstation with dicomweb_url")
        return DicomWebClient(url, node=self.node, journal=self.journal, timeout=self.dicomweb_timeout)

    def qido(self, base_url: str | None, level: str, filters: Mapping[str, str], *,
             fields: Sequence[str] = ()) -> list[Dataset]:
        """QIDO-RS search (PS3.18 10.6) at ``level`` (STUDY, SERIES or IMAGE/INSTANCE, as for C-FIND)."""
        try:
            resource = QIDO_LEVELS[level.upper()]
        except KeyError:
            raise ValueError(f"unknown QIDO-RS level '{level}' (use STUDY, SERIES or INSTANCE)") from None
        client = self.dicomweb(base_url)
        if resource == "studies":
            return client.search_studies(filters, fields=fields)
        if resource == "series":
            return client.search_series(filters, fields=fields)
        return client.search_instances(filters, fields=fields)

    def wado(self, base_url: str | None, study_uid: str, series_uid: str | None = None,
             instance_uids: Sequence[str] | None = None) -> list[Dataset]:
        """WADO-RS retrieve (PS3.18 10.4) of a study, a series, or some instances of a series, as stored; what
        arrives goes into ``received`` and ``deliveries`` as a C-GET's instances do."""
        client = self.dicomweb(base_url)
        if instance_uids is not None:
            if series_uid is None:
                raise ValueError("WADO-RS of single instances needs their series_uid")
            instances = [ds for uid in instance_uids for ds in client.retrieve_instance(study_uid, series_uid, uid)]
        elif series_uid is not None:
            instances = client.retrieve_series(study_uid, series_uid)
        else:
            instances = client.retrieve_study(study_uid)
        self._keep(instances)
        return instances

    def stow(self, base_url: str | None, datasets: Sequence[Dataset], *, study_uid: str | None = None) -> StowOutcome:
        """STOW-RS (PS3.18 10.5) of ``datasets`` in one request; the outcome says what was stored, per instance."""
        return self.dicomweb(base_url).store(datasets, study_uid=study_uid)

    # -- verification ------------------------------------------------------------------------------------------

    def compare(self, sent: Sequence[Dataset]) -> list[str]:
        """Every difference between ``sent`` and what this workstation holds for those SOP Instance UIDs."""
        with self._lock:
            received = dict(self.received)
            deliveries = Counter(self.deliveries)
            mismatched = dict(self.mismatched)
        return compare_instances(sent, received, deliveries, mismatched)


def compare_instances(sent: Sequence[Dataset], received: Mapping[str, Dataset],
                      deliveries: Mapping[str, int] | None = None,
                      mismatched: Mapping[str, str] | None = None) -> list[str]:
    """Differences in SOP Instance UIDs, key attributes and pixel data; empty when identical.

    ``received`` is keyed by each data set's own SOP Instance UID; ``mismatched`` maps the Affected SOP Instance UID
    of a C-STORE to the UID of the data set it carried, where they differ, so that a PACS that sends the wrong
    instance is reported as such rather than as an instance with other pixels."""
    problems: list[str] = []
    mismatched = mismatched or {}
    for ds in sent:
        uid = str(ds.SOPInstanceUID)
        got = received.get(uid)
        carried = mismatched.get(uid)
        if carried is not None and carried != uid:
            problems.append(f"{uid}: wrong instance: the C-STORE for it carried the data set of {carried or '(none)'}")
        if got is None:
            problems.append(f"{uid}: not received")
            continue
        commanded_as = [command for command, own in mismatched.items() if own == uid and command != uid]
        if commanded_as:
            problems.append(f"{uid}: arrived in a C-STORE whose command named {commanded_as[0]}")
        elif carried == uid:
            problems.append(f"{uid}: the C-STORE named another SOP Class UID than its data set holds")
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
