"""Query/Retrieve keys an SCP must support (PS3.4 C.6.1.1 and C.6.2.1, Tables C.6-1 to C.6-6 and C.6-5).

Keys marked U (unique) or R (required) must be returned with their values; every other key of the information
model is optional (O): an SCP may leave it out of an answer or return it empty (PS3.4 C.4.1.1.3.2), which means
"not supported", not "wrong". The counts of PS3.4 C.3.4 (Number of Study Related Instances ...) are optional too.
"""

from __future__ import annotations

# Unique and required keys per level, for both models (the Study Root model adds Patient's Name and ID at STUDY).
REQUIRED: dict[str, frozenset[str]] = {
    "PATIENT": frozenset({"PatientName", "PatientID"}),
    "STUDY": frozenset({"StudyDate", "StudyTime", "AccessionNumber", "StudyID", "StudyInstanceUID",
                        "PatientName", "PatientID"}),
    "SERIES": frozenset({"Modality", "SeriesNumber", "SeriesInstanceUID"}),
    "IMAGE": frozenset({"InstanceNumber", "SOPInstanceUID"}),
}
_ALWAYS = frozenset({"QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle"})


def is_optional_return_key(keyword: str, level: str) -> bool:
    """Whether an SCP may answer a C-FIND at ``level`` without a value for ``keyword`` (PS3.4 C.6)."""
    level = "IMAGE" if level.upper() == "INSTANCE" else level.upper()
    if keyword in _ALWAYS:
        return False
    # Unique keys of the levels above are returned too (PS3.4 C.4.1.2.1): they are required in the answer.
    levels = ["PATIENT", "STUDY", "SERIES", "IMAGE"]
    above = levels[: levels.index(level)] if level in levels else []
    unique = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID"}
    if keyword in {unique[lvl] for lvl in above}:
        return False
    return keyword not in REQUIRED.get(level, frozenset())
