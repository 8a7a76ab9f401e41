"""Listing what a PACS holds of a study, over C-FIND, in the way every Query/Retrieve SCP must answer.

A baseline (hierarchical) C-FIND SCP needs a single value for each unique key above the query level (PS3.4
C.4.1.2.2.1, C.4.1.3.1.1): an IMAGE-level query with an empty Series Instance UID is relational, and a strict SCP
refuses it (PixelMed answers 0xA900). So the study is walked level by level, SERIES then IMAGE per series, unless
the peer accepted relational queries by extended negotiation (PS3.4 C.4.1.2.2.2), which takes one IMAGE query.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from simulator.config import Endpoint
from simulator.errors import RelationalQueryRefused
from simulator.net.scu import DicomClient


@dataclass(frozen=True)
class InstanceRef:
    """One instance as an IMAGE-level C-FIND answer names it."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str


def _query(level: str, **keys: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def study_instances(client: DicomClient, peer: Endpoint, study_instance_uid: str, *,
                    try_relational: bool = True) -> list[InstanceRef]:
    """Every instance ``peer`` lists for the study (Study Root model), without duplicates, in answer order.

    Raises the typed network errors of :meth:`DicomClient.find`; an empty list means the PACS answered that it
    holds nothing of the study.
    """
    key = (peer.ae_title, peer.host, peer.port, "study")
    if try_relational and key not in client.relational_refused:
        query = _query("IMAGE", StudyInstanceUID=study_instance_uid, SeriesInstanceUID="", SOPInstanceUID="",
                       SOPClassUID="")
        try:
            answers = client.find(peer, query, relational=True)
        except RelationalQueryRefused:
            client.relational_refused.add(key)  # this client asks that peer level by level from now on
        else:
            return _refs(answers, study_instance_uid, None)
    series = client.find(peer, _query("SERIES", StudyInstanceUID=study_instance_uid, SeriesInstanceUID=""))
    found: list[InstanceRef] = []
    for series_uid in dict.fromkeys(str(ds.get("SeriesInstanceUID", "")) for ds in series):
        if not series_uid:
            continue
        query = _query("IMAGE", StudyInstanceUID=study_instance_uid, SeriesInstanceUID=series_uid,
                       SOPInstanceUID="", SOPClassUID="")
        found.extend(_refs(client.find(peer, query), study_instance_uid, series_uid))
    return list(dict.fromkeys(found))


def study_instance_uids(client: DicomClient, peer: Endpoint, study_instance_uid: str) -> set[str]:
    """The SOP Instance UIDs of :func:`study_instances`."""
    return {ref.sop_instance_uid for ref in study_instances(client, peer, study_instance_uid)}


def _refs(answers: list[Dataset], study_uid: str, series_uid: str | None) -> list[InstanceRef]:
    refs = []
    for ds in answers:
        uid = str(ds.get("SOPInstanceUID", "") or "")
        if not uid:
            continue
        refs.append(InstanceRef(study_uid, series_uid or str(ds.get("SeriesInstanceUID", "") or ""), uid,
                                str(ds.get("SOPClassUID", "") or "")))
    return list(dict.fromkeys(refs))
