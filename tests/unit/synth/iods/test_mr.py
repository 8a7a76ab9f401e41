"""MR Image Storage (PS3.3 A.4): structure, geometry, contrast and determinism of synthetic brain MR."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import MRImageStorage

from simulator.synth.generate import generate_study
from simulator.synth.iods.mr import SAGITTAL, SPEC
from simulator.synth.spec import BuildOptions
from simulator.synth.study import Study
from tests.unit.synth.helpers import part10_bytes

OPTIONS = BuildOptions(rows=64, columns=48)



@pytest.fixture(scope="module")
def study() -> Study:
    return generate_study(SPEC, 3, series=5, instances=3, options=OPTIONS)


def _series(study: Study) -> list[list[Dataset]]:
    return [[ds for ds in study if ds.SeriesInstanceUID == uid] for uid in study.series_instance_uids]


def test_sop_class_modality_and_counts(study: Study) -> None:
    assert len(study) == 15
    for ds in study:
        assert ds.SOPClassUID == MRImageStorage == ds.file_meta.MediaStorageSOPClassUID
        assert ds.Modality == "MR"
        assert ds.BodyPartExamined == "HEAD"
        assert ds.ImagedNucleus == "1H"
        assert float(ds.MagneticFieldStrength) == 1.5


def test_pixel_data_length(study: Study) -> None:
    for ds in study:
        assert (ds.Rows, ds.Columns, ds.BitsAllocated, ds.SamplesPerPixel) == (64, 48, 16, 1)
        assert len(ds.PixelData) == 64 * 48 * 2
        assert int(ds.pixel_array.max()) < 2 ** int(ds.BitsStored)


def test_each_series_shares_geometry_and_frame_of_reference(study: Study) -> None:
    assert len({ds.FrameOfReferenceUID for ds in study}) == 1
    for members in _series(study):
        assert len({tuple(ds.ImageOrientationPatient) for ds in members}) == 1
        assert len({tuple(ds.PixelSpacing) for ds in members}) == 1
        normal = np.cross([float(v) for v in members[0].ImageOrientationPatient[:3]],
                          [float(v) for v in members[0].ImageOrientationPatient[3:]])
        along = [float(np.dot([float(v) for v in ds.ImagePositionPatient], normal)) for ds in members]
        assert np.allclose(np.diff(along), float(members[0].SpacingBetweenSlices))


def test_first_series_is_sagittal_and_the_rest_axial(study: Study) -> None:
    series = _series(study)
    assert [float(v) for v in series[0][0].ImageOrientationPatient] == list(SAGITTAL)
    for members in series[1:]:
        assert [float(v) for v in members[0].ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]


def test_acquisition_parameters_follow_the_sequence(study: Study) -> None:
    t1, t2, flair = (members[0] for members in _series(study)[:3])
    assert float(t1.RepetitionTime) < 1000 and float(t2.RepetitionTime) > 2000
    assert float(t2.EchoTime) > float(t1.EchoTime)
    assert "IR" in flair.ScanningSequence and float(flair.InversionTime) > 0
    assert "InversionTime" not in t1
    assert int(t2.EchoTrainLength) > 1
    post = _series(study)[4][0]
    assert post.ContrastBolusAgent and "ContrastBolusAgent" not in t1


def _csf_to_tissue(ds: Dataset) -> float:
    image = ds.pixel_array.astype(float)
    rows, columns = image.shape
    # Lateral ventricles (CSF) lie just beside the midline of an axial slice through the brain centre.
    centre = image[rows // 2 - 2: rows // 2 + 2, columns // 2 - 2: columns // 2 + 2]
    brain = image[rows // 2 - 8: rows // 2 + 8, columns // 4: columns // 4 + 4]
    return float(np.median(centre) / max(np.median(brain), 1.0))


def test_series_show_the_same_anatomy_with_different_contrast() -> None:
    study = generate_study(SPEC, 3, series=3, instances=1, options=BuildOptions(rows=96, columns=96))
    _sagittal, t2, flair = study.datasets
    # Background (air) is dark in every series; the head is bright.
    for ds in study:
        image = ds.pixel_array.astype(float)
        assert image[:4, :4].mean() < 0.1 * image.max()
        assert image.std() > 0.05 * image.max()
    assert _csf_to_tissue(t2) > _csf_to_tissue(flair)


def test_same_seed_same_bytes_and_different_seed_different_pixels(study: Study) -> None:
    again = generate_study(SPEC, 3, series=5, instances=3, options=OPTIONS)
    for first, second in zip(study, again, strict=True):
        assert part10_bytes(first) == part10_bytes(second)
    other = generate_study(SPEC, 4, series=1, instances=1, options=OPTIONS)
    assert other.datasets[0].PixelData != study.datasets[0].PixelData


def test_times_follow_the_study_and_each_other(study: Study) -> None:
    starts = [members[0].SeriesTime for members in _series(study)]
    assert starts == sorted(starts)
    for ds in study:
        assert ds.SeriesDate == ds.StudyDate
        assert ds.StudyTime <= ds.SeriesTime <= ds.AcquisitionTime <= ds.ContentTime


def test_realistic_defaults() -> None:
    assert SPEC.default_series >= 4 and SPEC.default_instances >= 20
    ds = generate_study(SPEC, 1, series=1, instances=1).datasets[0]
    assert (ds.Rows, ds.Columns) == (256, 256)
    assert ds.PatientWeight and ds.PatientSize
