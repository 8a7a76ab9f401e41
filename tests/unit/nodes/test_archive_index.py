"""The archive's storage: files plus an SQLite index, durable across restarts, safe against odd UIDs."""

from __future__ import annotations

import copy
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from simulator.nodes.archive.index import ArchiveIndex
from simulator.synth import build_ct_study

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns on the defective UIDs we write

TS = str(ExplicitVRLittleEndian)


def _part10(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _with_uid(ds: Dataset, uid: str) -> Dataset:
    clone = copy.deepcopy(ds)
    clone.SOPInstanceUID = uid
    clone.file_meta.MediaStorageSOPInstanceUID = uid
    return clone


@pytest.fixture
def index(tmp_path: Path) -> Iterator[ArchiveIndex]:
    idx = ArchiveIndex(tmp_path / "archive")
    yield idx
    idx.close()


@pytest.fixture(scope="module")
def studies() -> list[list[Dataset]]:
    return [build_ct_study(seed, series=2, instances=2, rows=8, columns=8).datasets for seed in (31, 32)]


def _dcm_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.dcm"))


def test_add_stores_file_and_row(index: ArchiveIndex, studies: list[list[Dataset]]) -> None:
    ds = studies[0][0]
    data = _part10(ds)
    stored, is_new = index.add(data, TS)
    assert is_new
    assert stored.sop_instance_uid == ds.SOPInstanceUID
    assert stored.sop_class_uid == ds.SOPClassUID
    assert stored.transfer_syntax == TS
    assert stored.digest == hashlib.sha256(data).hexdigest()
    assert stored.path.read_bytes() == data
    assert stored.path.is_relative_to(index.files)
    assert index.get(ds.SOPInstanceUID) == stored
    rows = index.query("SELECT patient_id, patient_name, study_date, modality, size FROM instances", [])
    assert [tuple(r) for r in rows] == [(ds.PatientID, str(ds.PatientName), ds.StudyDate, "CT", len(data))]
    assert _dcm_files(index.root) == [stored.path]
    assert not [p for p in index.root.rglob("*") if ".tmp" in p.name]


def test_identical_re_add_is_not_new(index: ArchiveIndex, studies: list[list[Dataset]]) -> None:
    data = _part10(studies[0][0])
    first, _ = index.add(data, TS)
    again, is_new = index.add(data, TS)
    assert not is_new
    assert again == first
    assert len(index.sop_instance_uids()) == 1
    assert len(_dcm_files(index.root)) == 1


def test_different_instance_under_existing_uid_keeps_the_first(index: ArchiveIndex,
                                                               studies: list[list[Dataset]]) -> None:
    original = studies[0][0]
    changed = copy.deepcopy(original)
    changed.PatientID = "SOMEONE_ELSE"
    first, _ = index.add(_part10(original), TS)
    second, is_new = index.add(_part10(changed), TS)
    assert not is_new
    assert second.digest == first.digest
    assert dcmread(first.path).PatientID == original.PatientID


def test_sop_instance_uids_filters_by_study(index: ArchiveIndex, studies: list[list[Dataset]]) -> None:
    for study in studies:
        for ds in study:
            index.add(_part10(ds), TS)
    first, second = studies
    assert index.sop_instance_uids(first[0].StudyInstanceUID) == {ds.SOPInstanceUID for ds in first}
    assert index.sop_instance_uids(second[0].StudyInstanceUID) == {ds.SOPInstanceUID for ds in second}
    assert index.sop_instance_uids() == {ds.SOPInstanceUID for study in studies for ds in study}
    assert index.sop_instance_uids("1.2.3.4") == set()


def test_instances_where_orders_by_series_and_instance_number(index: ArchiveIndex,
                                                              studies: list[list[Dataset]]) -> None:
    study = studies[0]
    for ds in reversed(study):
        index.add(_part10(ds), TS)
    found = index.instances_where("study_instance_uid = ?", [study[0].StudyInstanceUID])
    by_series: dict[str, list[int]] = {}
    for inst in found:
        ds = dcmread(inst.path, stop_before_pixels=True)
        by_series.setdefault(ds.SeriesInstanceUID, []).append(int(ds.InstanceNumber))
    assert all(numbers == sorted(numbers) for numbers in by_series.values())
    assert len(found) == len(study)


def test_wipe_empties_files_and_rows(index: ArchiveIndex, studies: list[list[Dataset]]) -> None:
    for ds in studies[0]:
        index.add(_part10(ds), TS)
    assert len(_dcm_files(index.root)) == 4
    index.wipe()
    assert index.sop_instance_uids() == set()
    assert index.get(studies[0][0].SOPInstanceUID) is None
    assert _dcm_files(index.root) == []
    # Still usable after a wipe.
    _, is_new = index.add(_part10(studies[0][0]), TS)
    assert is_new


def test_rows_survive_a_restart(tmp_path: Path, studies: list[list[Dataset]]) -> None:
    root = tmp_path / "archive"
    first = ArchiveIndex(root)
    stored = [first.add(_part10(ds), TS)[0] for ds in studies[1]]
    first.close()
    reopened = ArchiveIndex(root)
    try:
        assert reopened.sop_instance_uids() == {s.sop_instance_uid for s in stored}
        for s in stored:
            again = reopened.get(s.sop_instance_uid)
            assert again == s
            assert hashlib.sha256(again.path.read_bytes()).hexdigest() == s.digest
        _, is_new = reopened.add(_part10(studies[1][0]), TS)
        assert not is_new
    finally:
        reopened.close()


@pytest.mark.parametrize("uid", ["../x", "../../../../etc/passwd", "/abs/path", "..", "a\\b", "1.2/../../3"])
def test_uid_with_path_characters_cannot_escape(index: ArchiveIndex, studies: list[list[Dataset]], uid: str) -> None:
    ds = _with_uid(studies[0][0], uid)
    ds.SeriesInstanceUID = "../../series"
    ds.StudyInstanceUID = "/.."
    stored, is_new = index.add(_part10(ds), TS, ds)
    assert is_new
    assert stored.path.resolve().is_relative_to(index.files.resolve())
    assert stored.path.read_bytes() == _part10(ds)
    assert index.get(uid) == stored
    assert [p.resolve() for p in _dcm_files(index.root.parent)] == [stored.path.resolve()]


@pytest.mark.parametrize(("first_uid", "second_uid"), [
    ("1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.1."),
    ("1.2.826.0.1.3680043.8.498.1_9", "1.2.826.0.1.3680043.8.498.1/9"),
])
def test_distinct_uids_never_share_a_file(index: ArchiveIndex, studies: list[list[Dataset]], first_uid: str,
                                          second_uid: str) -> None:
    first_ds = _with_uid(studies[0][0], first_uid)
    second_ds = _with_uid(studies[0][1], second_uid)  # same study and series, different pixels
    first, first_new = index.add(_part10(first_ds), TS, first_ds)
    second, second_new = index.add(_part10(second_ds), TS, second_ds)
    assert first_new and second_new
    assert first.path != second.path
    assert hashlib.sha256(first.path.read_bytes()).hexdigest() == first.digest
