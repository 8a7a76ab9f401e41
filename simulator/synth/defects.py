"""Named defects for negative scenarios, each with what a conformant receiver should do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydicom.dataset import Dataset


@dataclass(frozen=True)
class Defect:
    name: str
    description: str
    expected: str
    apply: Callable[[Dataset], None]


def _drop_patient_id(ds: Dataset) -> None:
    if "PatientID" in ds:
        del ds.PatientID


def _long_uid(ds: Dataset) -> None:
    ds.SOPInstanceUID = "1." + "2" * 70
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def _bad_uid_chars(ds: Dataset) -> None:
    ds.SeriesInstanceUID = "1.2.3.abc"


DEFECTS: dict[str, Defect] = {
    d.name: d
    for d in (
        Defect("missing-patient-id", "Patient ID (0010,0020) removed",
               "QA rejects with a failure status; the archive never receives it", _drop_patient_id),
        Defect("uid-too-long", "SOP Instance UID longer than 64 characters (PS3.5 9.1)",
               "QA rejects with a failure status", _long_uid),
        Defect("uid-invalid-chars", "Series Instance UID with letters (PS3.5 9.1)",
               "QA rejects with a failure status", _bad_uid_chars),
    )
}


def apply_defect(ds: Dataset, name: str) -> None:
    """Apply the named defect in place; unknown names raise KeyError listing the known ones."""
    try:
        defect = DEFECTS[name]
    except KeyError:
        raise KeyError(f"unknown defect '{name}' (known: {', '.join(sorted(DEFECTS))})") from None
    defect.apply(ds)
