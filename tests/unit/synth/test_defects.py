"""Named defects: each does what its description says, touches nothing else, and the QA rules see the ones
they check."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import MRImageStorage

from simulator.nodes.qa.rules import evaluate
from simulator.synth import DEFECTS, apply_defect, build_ct_study
from simulator.synth.uids import is_valid_uid

KEYWORDS = ("PatientID", "PatientName", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
            "SOPClassUID", "StudyDate", "Modality", "SpecificCharacterSet", "PixelData")

Check = Callable[[Sequence[Dataset], Sequence[Dataset]], set[str]]


def _missing(keyword: str) -> Check:
    def check(before: Sequence[Dataset], after: Sequence[Dataset]) -> set[str]:
        assert all(keyword in ds for ds in before)
        assert all(keyword not in ds for ds in after)
        return {keyword}

    return check


def _uid_too_long(before: Sequence[Dataset], after: Sequence[Dataset]) -> set[str]:
    for ds in after:
        assert len(str(ds.SOPInstanceUID)) > 64
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID  # file meta stays consistent
    return {"SOPInstanceUID"}


def _uid_invalid_chars(before: Sequence[Dataset], after: Sequence[Dataset]) -> set[str]:
    for ds in after:
        value = str(ds.SeriesInstanceUID)
        assert any(ch.isalpha() for ch in value) and not is_valid_uid(value) and len(value) <= 64
    return {"SeriesInstanceUID"}


def _value_too_long(before: Sequence[Dataset], after: Sequence[Dataset]) -> set[str]:
    assert all(len(str(ds.PatientID)) > 64 for ds in after)
    return {"PatientID"}


def _text_invalid(before: Sequence[Dataset], after: Sequence[Dataset]) -> set[str]:
    from io import BytesIO

    for ds in after:
        assert "SpecificCharacterSet" not in ds
        buffer = BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        assert "Müller".encode("latin-1") in buffer.getvalue()  # bytes outside ASCII, the declared repertoire
    return {"PatientName", "SpecificCharacterSet"}


def _pixel_length(before: Sequence[Dataset], after: Sequence[Dataset]) -> set[str]:
    for ds in after:
        assert len(ds.PixelData) < ds.Rows * ds.Columns * ds.BitsAllocated // 8
    return {"PixelData"}


def _same_uid(before: Sequence[Dataset], after: Sequence[Dataset]) -> set[str]:
    assert after[1].SOPInstanceUID == after[0].SOPInstanceUID == before[0].SOPInstanceUID
    assert bytes(after[1].PixelData) != bytes(after[0].PixelData)  # different content under one UID
    return {"SOPInstanceUID"}


def _wrong_class(before: Sequence[Dataset], after: Sequence[Dataset]) -> set[str]:
    assert all(ds.SOPClassUID == MRImageStorage == ds.file_meta.MediaStorageSOPClassUID for ds in after)
    return {"SOPClassUID"}


def _no_meta(before: Sequence[Dataset], after: Sequence[Dataset]) -> set[str]:
    assert all(getattr(ds, "file_meta", None) is None for ds in after)
    return set()


CHECKS: dict[str, Check] = {
    "missing-patient-id": _missing("PatientID"),
    "missing-type1": _missing("Modality"),
    "uid-too-long": _uid_too_long,
    "uid-invalid-chars": _uid_invalid_chars,
    "value-too-long": _value_too_long,
    "text-invalid-charset": _text_invalid,
    "pixel-length-mismatch": _pixel_length,
    "same-uid-different-content": _same_uid,
    "wrong-sop-class": _wrong_class,
    "missing-file-meta": _no_meta,
}

# What today's QA rules (required attributes and UID syntax) refuse; the fuller rule set comes with the QA issue.
QA_REJECTS = {"missing-patient-id", "uid-too-long", "uid-invalid-chars"}


@pytest.fixture
def datasets() -> list[Dataset]:
    return build_ct_study(2, instances=2, rows=8, columns=8).datasets


def test_every_defect_has_a_check() -> None:
    assert set(DEFECTS) == set(CHECKS), "add a check here for each new defect"


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_defect_changes_what_it_describes_and_nothing_else(name: str, datasets: list[Dataset]) -> None:
    before = copy.deepcopy(datasets)
    apply_defect(datasets, name)
    changed = CHECKS[name](before, datasets)
    for old, new in zip(before, datasets, strict=True):
        for keyword in KEYWORDS:
            if keyword not in changed:
                assert new.get(keyword) == old.get(keyword), keyword


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_qa_rules_see_the_defects_they_check(name: str, datasets: list[Dataset]) -> None:
    assert all(evaluate(ds).accepted for ds in datasets)
    apply_defect(datasets, name)
    verdicts = [evaluate(ds) for ds in datasets]
    if name in QA_REJECTS:
        assert all(not v.accepted and v.status >= 0xA000 for v in verdicts)


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_defective_studies_can_be_written(name: str, datasets: list[Dataset], tmp_path: Path) -> None:
    from simulator.synth.study import Study

    apply_defect(datasets, name)
    paths = Study(datasets).write(tmp_path)
    assert len(paths) == len(set(paths)) == 2  # a reused UID still gives two files
    has_meta = [path.read_bytes()[128:132] == b"DICM" for path in paths]
    assert has_meta == [name != "missing-file-meta"] * 2


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_defect_metadata_is_filled_in(name: str) -> None:
    defect = DEFECTS[name]
    assert defect.name == name and defect.description.strip() and defect.expected.strip()


def test_a_study_defect_needs_two_instances() -> None:
    single = build_ct_study(3, instances=1, rows=8, columns=8).datasets[0]
    with pytest.raises(ValueError, match="at least two"):
        apply_defect(single, "same-uid-different-content")


def test_apply_defect_touches_only_the_given_dataset() -> None:
    study = build_ct_study(3, instances=2, rows=8, columns=8)
    apply_defect(study.datasets[0], "missing-patient-id")
    assert "PatientID" not in study.datasets[0]
    assert "PatientID" in study.datasets[1]


def test_unknown_defect_raises_key_error_listing_known(datasets: list[Dataset]) -> None:
    with pytest.raises(KeyError) as info:
        apply_defect(datasets, "no-such-defect")
    assert "no-such-defect" in str(info.value)
    assert all(known in str(info.value) for known in DEFECTS)
