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

# PS3.4 K.6.1.2: Modality Worklist Information Model - FIND (a C-FIND model with no MOVE/GET counterpart).
MODALITY_WORKLIST_FIND = UID("1.2.840.10008.5.1.4.31")
FIND_MODELS: dict[str, UID] = {
    **{name: uids["C-FIND"] for name, uids in QUERY_MODELS.items()},
    "worklist": MODALITY_WORKLIST_FIND,
}
NATIVE_SYNTAXES: list[str | UID] = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]

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
    """Contexts for sending ``datasets``: per SOP class, first one context proposing the native syntaxes (Explicit,
    then Implicit VR Little Endian: the one every SCP accepts, PS3.5 10.1), then one context for each other
    transfer syntax the datasets are encoded in, so the acceptor cannot answer it with a syntax of its own choice
    (PS3.8 9.3.2.2: one transfer syntax is accepted per context). A peer that accepts only the first context it
    sees for a SOP class thus still accepts one an instance can travel in, after transcoding if need be."""
    syntaxes: dict[str, dict[str, None]] = {}
    for ds in datasets:
        sop_class = str(ds.SOPClassUID)
        wanted = syntaxes.setdefault(sop_class, {})
        meta = getattr(ds, "file_meta", None)
        ts = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
        if ts:
            wanted[str(ts)] = None
    contexts: list[PresentationContext] = []
    for sop_class, wanted in syntaxes.items():
        contexts.append(build_context(sop_class, list(NATIVE_SYNTAXES)))
        contexts.extend(build_context(sop_class, [ts]) for ts in wanted)
    if len(contexts) > 128:
        raise ValueError(f"{len(contexts)} presentation contexts in one association; PS3.8 allows at most 128")
    return contexts


def storage_contexts_for_classes(sop_classes: Iterable[str], syntaxes: Iterable[str]) -> list[PresentationContext]:
    """Contexts for sending stored instances of ``sop_classes`` encoded in ``syntaxes``: per class the native
    syntaxes first (a peer that accepts only the first context of a SOP class accepts one that can carry every
    instance, transcoded if need be), then one context per (class, other syntax), so the acceptor cannot answer a
    compressed syntax with its own preference; one context per class with every syntax when that would exceed 128
    (PS3.8 9.3.2.2)."""
    classes = list(dict.fromkeys(sop_classes))
    encoded = [ts for ts in dict.fromkeys(syntaxes) if ts not in NATIVE_SYNTAXES]
    if len(classes) * (len(encoded) + 1) <= 128:
        contexts = []
        for uid in classes:
            contexts.append(build_context(uid, list(NATIVE_SYNTAXES)))
            contexts.extend(build_context(uid, [ts]) for ts in encoded)
        return contexts
    wanted = list(dict.fromkeys([*NATIVE_SYNTAXES, *encoded]))
    return [build_context(uid, wanted) for uid in classes]


def all_storage_classes() -> list[str]:
    return [str(cx.abstract_syntax) for cx in AllStoragePresentationContexts]


# What our SCPs accept, in order of preference: when a context proposes several, the first listed here that
# was proposed wins (pynetdicom negotiates in the acceptor's order). Explicit VR first keeps VRs intact; the
# compressed syntaxes let instances arrive exactly as they were encoded; Implicit VR, the default syntax every
# SCP must accept (PS3.5 10.1), comes last. A short list also keeps association setup cheap: pynetdicom copies
# every supported context for every association.
ACCEPTED_SYNTAXES: list[str] = [
    ExplicitVRLittleEndian,
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.5",  # RLE Lossless
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51",  # JPEG Extended (Process 2 & 4)
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless (Process 14)
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.201",  # High-Throughput JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.203",  # High-Throughput JPEG 2000
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired; still seen)
    ImplicitVRLittleEndian,
]
assert set(ACCEPTED_SYNTAXES) <= set(ALL_TRANSFER_SYNTAXES)
