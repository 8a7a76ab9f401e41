"""Named defects for negative scenarios, each with what a conformant receiver should do.

Most defects break each instance on its own; ``same-uid-different-content`` needs two instances and applies to
a whole study. ``apply_defect`` takes either a dataset or a list of datasets (a study's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import MRImageStorage

from simulator.synth.lenient import deliberately_invalid

InstanceDefect = Callable[[Dataset], None]
StudyDefect = Callable[[Sequence[Dataset]], None]


@dataclass(frozen=True)
class Defect:
    """A deliberate violation. ``expected`` says what a conformant receiver does with it."""

    name: str
    description: str
    expected: str
    instance: InstanceDefect | None = None
    study: StudyDefect | None = None

    def apply(self, target: Dataset | Sequence[Dataset]) -> None:
        datasets = [target] if isinstance(target, Dataset) else list(target)
        if self.study is not None and len(datasets) < 2:
            raise ValueError(f"defect '{self.name}' needs a study of at least two instances")
        with deliberately_invalid():
            if self.study is not None:
                self.study(datasets)
                return
            assert self.instance is not None
            for ds in datasets:
                self.instance(ds)


def _drop(keyword: str) -> InstanceDefect:
    def apply(ds: Dataset) -> None:
        if keyword in ds:
            delattr(ds, keyword)

    return apply


def _replace(ds: Dataset, keyword: str, vr: str, value: object) -> None:
    """Set an invalid value: a new element, created while validation is off (the old one would validate)."""
    if keyword in ds:
        delattr(ds, keyword)
    tag = tag_for_keyword(keyword)
    assert tag is not None
    ds[tag] = DataElement(tag, vr, value)


def _long_uid(ds: Dataset) -> None:
    value = str(ds.SOPInstanceUID)[:20] + "." + "2" * 60
    _replace(ds, "SOPInstanceUID", "UI", value)
    if hasattr(ds, "file_meta"):
        _replace(ds.file_meta, "MediaStorageSOPInstanceUID", "UI", value)


def _bad_uid_chars(ds: Dataset) -> None:
    _replace(ds, "SeriesInstanceUID", "UI", "1.2.3.abc")


def _value_too_long(ds: Dataset) -> None:
    # Patient ID is LO: at most 64 characters (PS3.5 6.2).
    _replace(ds, "PatientID", "LO", (str(ds.get("PatientID", "")) + "-" + "X" * 80)[:80])


def _text_outside_charset(ds: Dataset) -> None:
    # The default repertoire (no Specific Character Set: ASCII only, PS3.5 6.1.2.2) with Latin-1 bytes in the name.
    if "SpecificCharacterSet" in ds:
        del ds.SpecificCharacterSet
    ds["PatientName"] = DataElement(0x00100010, "PN", "Müller^Jürgen".encode("latin-1"))


def _pixel_length(ds: Dataset) -> None:
    value = bytes(ds.PixelData)
    ds.PixelData = value[: max(0, len(value) - 64)]


def _wrong_sop_class(ds: Dataset) -> None:
    # CT content labelled MR Image Storage (PS3.4 B.2.3 status 0xA900 / warning 0xB007 territory).
    ds.SOPClassUID = MRImageStorage
    if hasattr(ds, "file_meta"):
        ds.file_meta.MediaStorageSOPClassUID = MRImageStorage


def _no_file_meta(ds: Dataset) -> None:
    if hasattr(ds, "file_meta"):
        del ds.file_meta


def _reuse_uid(datasets: Sequence[Dataset]) -> None:
    first, second = datasets[0], datasets[1]
    second.SOPInstanceUID = first.SOPInstanceUID
    if hasattr(second, "file_meta"):
        second.file_meta.MediaStorageSOPInstanceUID = first.SOPInstanceUID


DEFECTS: dict[str, Defect] = {
    d.name: d
    for d in (
        Defect("missing-patient-id", "Patient ID (0010,0020) removed",
               "reject with a failure status (e.g. 0xA900) or quarantine; never file it under an empty patient",
               instance=_drop("PatientID")),
        Defect("missing-type1", "Modality (0008,0060), Type 1 in General Series (PS3.3 C.7.3.1), removed",
               "a validating receiver rejects (0xA900) or stores with warning 0xB007; an archive must not invent one",
               instance=_drop("Modality")),
        Defect("uid-too-long", "SOP Instance UID longer than 64 characters (PS3.5 9.1)",
               "reject with a failure status (0xA900 or 0xC000); never truncate it silently",
               instance=_long_uid),
        Defect("uid-invalid-chars", "Series Instance UID with letters (PS3.5 9.1)",
               "reject with a failure status (0xA900 or 0xC000)", instance=_bad_uid_chars),
        Defect("value-too-long", "Patient ID of 80 characters; LO allows 64 (PS3.5 6.2)",
               "reject, or coerce with warning 0xB000 and say so; never truncate silently",
               instance=_value_too_long),
        Defect("text-invalid-charset",
               "no Specific Character Set (the default repertoire, ASCII) but Patient Name holds Latin-1 bytes",
               "reject or flag it; a receiver must not guess another character set silently",
               instance=_text_outside_charset),
        Defect("pixel-length-mismatch", "Pixel Data 64 bytes shorter than Rows x Columns x frames x bits",
               "reject with 0xA900 (or 0xC000); never store an image that cannot be displayed",
               instance=_pixel_length),
        Defect("same-uid-different-content",
               "the second instance reuses the first one's SOP Instance UID with different content",
               "keep the first, and reject or quarantine the second as a conflict; never overwrite silently",
               study=_reuse_uid),
        Defect("wrong-sop-class", "CT content labelled MR Image Storage",
               "reject with 0xA900 (Data Set does not match SOP Class) or store with warning 0xB007",
               instance=_wrong_sop_class),
        Defect("missing-file-meta", "files written without the File Meta Information header (PS3.10 7.1)",
               "a file reader rejects the file or reads it only with an explicit 'no meta' option; over the "
               "network the meta is never sent, so a C-STORE of the dataset itself is unaffected",
               instance=_no_file_meta),
    )
}


def apply_defect(target: Dataset | Sequence[Dataset], name: str) -> None:
    """Apply the named defect in place to one dataset or to a study's datasets.

    Unknown names raise KeyError listing the known ones.
    """
    try:
        defect = DEFECTS[name]
    except KeyError:
        raise KeyError(f"unknown defect '{name}' (known: {', '.join(sorted(DEFECTS))})") from None
    defect.apply(target)
