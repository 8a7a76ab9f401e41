"""Presentation contexts (PS3.8 7.1.1.13): which SOP classes and transfer syntaxes our nodes propose and accept."""

from __future__ import annotations

from collections.abc import Iterable

from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, build_context
from pynetdicom.presentation import PresentationContext

# PS3.4 C.6 Query/Retrieve information models and A.4 Verification SOP Class.
PatientRootQueryRetrieveInformationModelFind = UID("1.2.840.10008.5.1.4.1.2.1.1")
PatientRootQueryRetrieveInformationModelMove = UID("1.2.840.10008.5.1.4.1.2.1.2")
PatientRootQueryRetrieveInformationModelGet = UID("1.2.840.10008.5.1.4.1.2.1.3")
StudyRootQueryRetrieveInformationModelFind = UID("1.2.840.10008.5.1.4.1.2.2.1")
StudyRootQueryRetrieveInformationModelMove = UID("1.2.840.10008.5.1.4.1.2.2.2")
StudyRootQueryRetrieveInformationModelGet = UID("1.2.840.10008.5.1.4.1.2.2.3")
Verification = UID("1.2.840.10008.1.1")

QUERY_MODELS: dict[str, dict[str, UID]] = {
    "patient": {
        "C-FIND": PatientRootQueryRetrieveInformationModelFind,
        "C-MOVE": PatientRootQueryRetrieveInformationModelMove,
        "C-GET": PatientRootQueryRetrieveInformationModelGet,
    },
    "study": {
        "C-FIND": StudyRootQueryRetrieveInformationModelFind,
        "C-MOVE": StudyRootQueryRetrieveInformationModelMove,
        "C-GET": StudyRootQueryRetrieveInformationModelGet,
    },
}

VERIFICATION = Verification
NATIVE_SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]

# SOP classes a workstation proposes for C-GET, where every storage context must be requested up front and the
# association has room for 128 contexts in all (PS3.8 9.3.2.2).
COMMON_STORAGE_SOP_CLASSES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray For Presentation
    "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography For Presentation
    "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image
    "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image
    "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic Image
    "1.2.840.10008.5.1.4.1.1.128",  # Positron Emission Tomography
    "1.2.840.10008.5.1.4.1.1.20",  # Nuclear Medicine
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State
)


def storage_contexts_for(datasets: Iterable[Dataset]) -> list[PresentationContext]:
    """One context per SOP class, proposing each dataset's own transfer syntax plus the native ones."""
    syntaxes: dict[str, dict[str, None]] = {}
    for ds in datasets:
        sop_class = str(ds.SOPClassUID)
        wanted = syntaxes.setdefault(sop_class, {})
        meta = getattr(ds, "file_meta", None)
        ts = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
        if ts:
            wanted[str(ts)] = None
    contexts = []
    for sop_class, wanted in syntaxes.items():
        for ts in NATIVE_SYNTAXES:
            wanted.setdefault(ts, None)
        contexts.append(build_context(sop_class, list(wanted)))
    if len(contexts) > 128:
        raise ValueError(f"{len(contexts)} SOP classes in one association; PS3.8 allows at most 128 contexts")
    return contexts


def storage_contexts_for_classes(sop_classes: Iterable[str], syntaxes: Iterable[str]) -> list[PresentationContext]:
    wanted = list(dict.fromkeys([*syntaxes, *NATIVE_SYNTAXES]))
    return [build_context(uid, wanted) for uid in dict.fromkeys(sop_classes)]


def all_storage_classes() -> list[str]:
    return [str(cx.abstract_syntax) for cx in AllStoragePresentationContexts]


ACCEPTED_SYNTAXES: list[str] = list(ALL_TRANSFER_SYNTAXES)
