"""NM Image Storage (PS3.3 A.5): multi-frame vectors, detectors, phases, whole-body attributes, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import NuclearMedicineImageStorage

from simulator.synth.generate import generate_study
from simulator.synth.iods.nm import SPEC
from simulator.synth.spec import BuildOptions
from simulator.synth.study import Study
from tests.unit.synth.helpers import part10_bytes

OPTIONS = BuildOptions(rows=64, columns=64, frames=3)



@pytest.fixture(scope="module")
def study() -> Study:
    return generate_study(SPEC, 5, series=4, instances=2, options=OPTIONS)


def _by_kind(study: Study) -> dict[str, Dataset]:
    return {ds.ImageType[2]: ds for ds in study}


def test_sop_class_modality_and_image_types(study: Study) -> None:
    assert len(study) == 8
    for ds in study:
        assert ds.SOPClassUID == NuclearMedicineImageStorage
        assert ds.Modality == "NM"
        assert ds.ImageType[3] == "EMISSION"
        assert "FrameOfReferenceUID" not in ds  # planar images
    assert set(_by_kind(study)) == {"DYNAMIC", "STATIC", "WHOLE BODY"}


def test_pixel_data_length_matches_frames(study: Study) -> None:
    for ds in study:
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 16, 15)
        assert len(ds.PixelData) == ds.Rows * ds.Columns * ds.NumberOfFrames * 2
        assert ds.pixel_array.shape == (ds.NumberOfFrames, 64, 64)
        assert int(ds.CountsAccumulated) == int(ds.pixel_array.sum())


def test_frame_vectors_match_the_frame_increment_pointer(study: Study) -> None:
    for ds in study:
        frames = ds.NumberOfFrames
        pointers = [Tag(t) for t in ds.FrameIncrementPointer]
        for tag in pointers:
            assert len(ds[tag].value) == frames, ds[tag].keyword
        assert len(ds.DetectorInformationSequence) == ds.NumberOfDetectors
        assert max(ds.DetectorVector) == ds.NumberOfDetectors
        assert len(ds.EnergyWindowInformationSequence) == ds.NumberOfEnergyWindows == 1


def test_dynamic_uses_frames_option_and_a_phase(study: Study) -> None:
    dynamic = _by_kind(study)["DYNAMIC"]
    assert dynamic.NumberOfFrames == 3
    assert list(dynamic.TimeSliceVector) == [1, 2, 3]
    assert dynamic.PhaseInformationSequence[0].NumberOfFramesInPhase == 3
    assert "ActualFrameDuration" not in dynamic


def test_static_and_whole_body_have_anterior_and_posterior_views(study: Study) -> None:
    for kind in ("STATIC", "WHOLE BODY"):
        ds = _by_kind(study)[kind]
        assert ds.NumberOfFrames == 2
        views = [item.ViewCodeSequence[0].CodeMeaning for item in ds.DetectorInformationSequence]
        assert views == ["Anterior projection", "Posterior projection"]
        assert int(ds.ActualFrameDuration) > 0
    whole_body = _by_kind(study)["WHOLE BODY"]
    assert float(whole_body.ScanVelocity) > 0 and int(whole_body.ScanLength) > 1500


def test_whole_body_default_matrix_and_hot_skeleton() -> None:
    study = generate_study(SPEC, 5, series=3, instances=1)
    whole_body = study.datasets[2]
    assert (whole_body.Rows, whole_body.Columns) == (1024, 256)
    anterior = whole_body.pixel_array[0].astype(float)
    assert anterior[:20].mean() < 1, "nothing above the head"
    assert anterior.max() > 20 * max(anterior.mean(), 1e-3), "bone and hot spots stand out"
    assert study.datasets[0].NumberOfFrames == 30


def test_times_in_acquisition_order(study: Study) -> None:
    first = [ds for ds in study if ds.InstanceNumber == 1]
    assert [ds.SeriesTime for ds in first] == sorted(ds.SeriesTime for ds in first)
    for ds in study:
        assert ds.StudyTime <= ds.SeriesTime <= ds.AcquisitionTime <= ds.ContentTime
        item = ds.RadiopharmaceuticalInformationSequence[0]
        assert item.RadiopharmaceuticalStartTime >= ds.StudyTime


def test_same_seed_same_bytes(study: Study) -> None:
    again = generate_study(SPEC, 5, series=4, instances=2, options=OPTIONS)
    for first, second in zip(study, again, strict=True):
        assert part10_bytes(first) == part10_bytes(second)
    other = generate_study(SPEC, 6, series=1, instances=1, options=OPTIONS)
    assert not np.array_equal(other.datasets[0].pixel_array, study.datasets[0].pixel_array)
