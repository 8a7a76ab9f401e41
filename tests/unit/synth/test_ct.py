"""Synthetic CT studies: determinism, geometry, UIDs and pixel values."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from simulator.synth import build_ct_study
from simulator.synth.iods.ct import RESCALE_INTERCEPT
from simulator.synth.patients import make_patient
from simulator.synth.study import Study
from simulator.synth.uids import is_valid_uid
from tests.unit.synth.helpers import part10_bytes

ROWS, COLUMNS = 64, 48  # not square: catches rows/columns swapped



@pytest.fixture(scope="module")
def study() -> Study:
    return build_ct_study(5, series=3, instances=4, rows=ROWS, columns=COLUMNS)



def test_same_seed_gives_identical_bytes(study: Study) -> None:
    again = build_ct_study(5, series=3, instances=4, rows=ROWS, columns=COLUMNS)
    assert len(again) == len(study) == 12
    for first, second in zip(study, again, strict=True):
        assert part10_bytes(first) == part10_bytes(second)


def _without_uids(ds: Dataset) -> Dataset:
    clone = copy.deepcopy(ds)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        setattr(clone, keyword, "1.2.3")
    clone.file_meta.MediaStorageSOPInstanceUID = "1.2.3"
    return clone


def test_same_seed_gives_identical_bytes_apart_from_uids(study: Study) -> None:
    again = build_ct_study(5, series=3, instances=4, rows=ROWS, columns=COLUMNS)
    for first, second in zip(study, again, strict=True):
        assert part10_bytes(_without_uids(first)) == part10_bytes(_without_uids(second))


def test_different_seed_gives_different_content() -> None:
    first = build_ct_study(1, instances=1, rows=16, columns=16).datasets[0]
    second = build_ct_study(2, instances=1, rows=16, columns=16).datasets[0]
    assert part10_bytes(_without_uids(first)) != part10_bytes(_without_uids(second))
    assert first.PixelData != second.PixelData


def test_different_seed_gives_different_uids(study: Study) -> None:
    other = build_ct_study(6, series=3, instances=4, rows=ROWS, columns=COLUMNS)
    assert other.study_instance_uid != study.study_instance_uid
    assert not set(other.series_instance_uids) & set(study.series_instance_uids)
    assert not set(other.sop_instance_uids) & set(study.sop_instance_uids)
    assert other.datasets[0].FrameOfReferenceUID != study.datasets[0].FrameOfReferenceUID


def test_written_files_read_back_equal(study: Study) -> None:
    ds = study.datasets[5]
    back = dcmread(io.BytesIO(part10_bytes(ds)))
    assert back.SOPInstanceUID == ds.SOPInstanceUID
    assert back.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert back.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert bytes(back.PixelData) == bytes(ds.PixelData)


def test_counts_and_series_structure(study: Study) -> None:
    assert len(study.series_instance_uids) == 3
    for index, series_uid in enumerate(study.series_instance_uids):
        members = [ds for ds in study if ds.SeriesInstanceUID == series_uid]
        assert len(members) == 4
        assert {int(ds.SeriesNumber) for ds in members} == {index + 1}
        assert [int(ds.InstanceNumber) for ds in members] == [1, 2, 3, 4]
    assert len(set(study.sop_instance_uids)) == 12


def test_one_study_one_patient_one_frame_of_reference(study: Study) -> None:
    assert {ds.StudyInstanceUID for ds in study} == {study.study_instance_uid}
    assert len({ds.FrameOfReferenceUID for ds in study}) == 1
    assert len({(ds.PatientID, str(ds.PatientName), ds.StudyDate, ds.AccessionNumber) for ds in study}) == 1
    assert study.datasets[0].FrameOfReferenceUID not in {study.study_instance_uid, *study.series_instance_uids}


def test_slice_positions_step_by_spacing_within_a_series(study: Study) -> None:
    for series_uid in study.series_instance_uids:
        members = [ds for ds in study if ds.SeriesInstanceUID == series_uid]
        spacing = float(members[0].SliceThickness)
        z = [float(ds.ImagePositionPatient[2]) for ds in members]
        steps = np.diff(z)
        assert np.allclose(np.abs(steps), spacing), (series_uid, z, spacing)
        assert len(set(np.sign(steps))) == 1  # monotonic along the body axis
        corner = [float(v) for v in members[0].ImagePositionPatient[:2]]
        for ds in members:
            assert [float(v) for v in ds.ImagePositionPatient[:2]] == corner
            assert float(ds.SliceLocation) == pytest.approx(float(ds.ImagePositionPatient[2]))
            assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]


def test_all_uids_are_valid_and_short(study: Study) -> None:
    for ds in study:
        for uid in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.FrameOfReferenceUID,
                    ds.SOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID, ds.file_meta.TransferSyntaxUID):
            assert len(uid) <= 64
            assert is_valid_uid(str(uid)), uid


def test_pixel_data_length_matches_geometry(study: Study) -> None:
    for ds in study:
        assert (ds.Rows, ds.Columns) == (ROWS, COLUMNS)
        assert ds.BitsAllocated == 16
        assert len(ds.PixelData) == ROWS * COLUMNS * 2
    assert study.total_bytes == 12 * ROWS * COLUMNS * 2


def test_pixel_array_decodes_with_declared_shape(study: Study) -> None:
    array = study.datasets[0].pixel_array
    assert array.shape == (ROWS, COLUMNS)
    assert int(array.max()) < 2 ** int(study.datasets[0].BitsStored)


def _hu(ds: Dataset) -> np.ndarray:
    stored = np.frombuffer(bytes(ds.PixelData), dtype="<u2").reshape(ds.Rows, ds.Columns).astype(np.float64)
    return stored * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def test_hounsfield_units_are_plausible(study: Study) -> None:
    assert float(study.datasets[0].RescaleIntercept) == RESCALE_INTERCEPT
    for ds in study:
        hu = _hu(ds)
        for corner in (hu[0, 0], hu[0, -1], hu[-1, 0], hu[-1, -1]):
            assert -1024 <= corner <= -980, "air outside the body"
        assert hu.max() > 300, "some bone"
        centre = hu[ROWS // 2, COLUMNS // 4]
        assert -200 < centre < 200, "soft tissue inside the body"
        assert hu.min() >= -1024 and hu.max() <= 3071


def test_slices_differ_within_a_series(study: Study) -> None:
    first, second = study.datasets[0], study.datasets[1]
    assert first.PixelData != second.PixelData


def test_patient_argument_is_used() -> None:
    patient = make_patient(99)
    study = build_ct_study(1, instances=1, rows=16, columns=16, patient=patient)
    ds = study.datasets[0]
    assert ds.PatientID == patient.patient_id
    assert str(ds.PatientName) == patient.dicom_name
    assert ds.PatientBirthDate == patient.birth_date.strftime("%Y%m%d")


def test_make_patient_is_deterministic() -> None:
    assert make_patient(3) == make_patient(3)
    assert make_patient(3) != make_patient(4)


@pytest.mark.parametrize(("series", "instances"), [(0, 1), (1, 0), (-1, 3)])
def test_series_and_instances_must_be_positive(series: int, instances: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        build_ct_study(1, series=series, instances=instances, rows=8, columns=8)
