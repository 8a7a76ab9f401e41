"""Named defects: each does what its description says, and the QA rules notice it."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from pydicom.dataset import Dataset

from simulator.nodes.qa.rules import evaluate
from simulator.synth import DEFECTS, apply_defect, build_ct_study
from simulator.synth.uids import is_valid_uid

KEYWORDS = ("PatientID", "PatientName", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
            "SOPClassUID", "StudyDate", "Modality")


def _missing_patient_id(before: Dataset, after: Dataset) -> set[str]:
    assert "PatientID" in before
    assert "PatientID" not in after
    return {"PatientID"}


def _uid_too_long(before: Dataset, after: Dataset) -> set[str]:
    assert len(after.SOPInstanceUID) > 64
    assert after.SOPInstanceUID != before.SOPInstanceUID
    assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID  # file meta stays consistent
    return {"SOPInstanceUID"}


def _uid_invalid_chars(before: Dataset, after: Dataset) -> set[str]:
    value = str(after.SeriesInstanceUID)
    assert any(ch.isalpha() for ch in value)
    assert not is_valid_uid(value)
    assert len(value) <= 64  # only the characters are wrong
    return {"SeriesInstanceUID"}


CHECKS: dict[str, Callable[[Dataset, Dataset], set[str]]] = {
    "missing-patient-id": _missing_patient_id,
    "uid-too-long": _uid_too_long,
    "uid-invalid-chars": _uid_invalid_chars,
}


@pytest.fixture
def dataset() -> Dataset:
    return build_ct_study(2, instances=1, rows=8, columns=8).datasets[0]


def test_every_defect_has_a_check() -> None:
    assert set(DEFECTS) == set(CHECKS), "add a check here for each new defect"


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_defect_changes_what_it_describes_and_nothing_else(name: str, dataset: Dataset) -> None:
    before = copy.deepcopy(dataset)
    apply_defect(dataset, name)
    changed = CHECKS[name](before, dataset)
    for keyword in KEYWORDS:
        if keyword not in changed:
            assert dataset.get(keyword) == before.get(keyword), keyword
    assert bytes(dataset.PixelData) == bytes(before.PixelData)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_defect_that_qa_should_reject_is_rejected(name: str, dataset: Dataset) -> None:
    assert evaluate(dataset).accepted
    apply_defect(dataset, name)
    verdict = evaluate(dataset)
    if "QA rejects" in DEFECTS[name].expected:
        assert not verdict.accepted
        assert verdict.status >= 0xA000


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_defect_metadata_is_filled_in(name: str) -> None:
    defect = DEFECTS[name]
    assert defect.name == name
    assert defect.description.strip()
    assert defect.expected.strip()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_apply_defect_touches_only_the_given_dataset() -> None:
    study = build_ct_study(3, instances=2, rows=8, columns=8)
    apply_defect(study.datasets[0], "missing-patient-id")
    assert "PatientID" not in study.datasets[0]
    assert "PatientID" in study.datasets[1]


def test_unknown_defect_raises_key_error_listing_known(dataset: Dataset) -> None:
    with pytest.raises(KeyError) as info:
        apply_defect(dataset, "no-such-defect")
    text = str(info.value)
    assert "no-such-defect" in text
    for known in DEFECTS:
        assert known in text
