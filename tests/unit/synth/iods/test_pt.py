"""PET Image Storage (PS3.3 A.21): PET Series/Isotope/Image attributes, BQML rescale, hot spots, determinism."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import PositronEmissionTomographyImageStorage

from simulator.synth.generate import generate_study
from simulator.synth.iods.pt import F18_HALF_LIFE_S, SLICE_MM, SPEC
from simulator.synth.spec import BuildOptions
from simulator.synth.study import Study
from tests.unit.synth.helpers import part10_bytes

OPTIONS = BuildOptions(rows=64, columns=64)



@pytest.fixture(scope="module")
def study() -> Study:
    return generate_study(SPEC, 11, series=2, instances=5, options=OPTIONS)


def _series(study: Study) -> list[list[Dataset]]:
    return [[ds for ds in study if ds.SeriesInstanceUID == uid] for uid in study.series_instance_uids]


def _bqml(ds: Dataset) -> np.ndarray:
    return ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def test_sop_class_and_required_pet_attributes(study: Study) -> None:
    for ds in study:
        assert ds.SOPClassUID == PositronEmissionTomographyImageStorage
        assert ds.Modality == "PT"
        assert ds.Units == "BQML"
        assert ds.DecayCorrection == "START"
        assert list(ds.SeriesType) == ["WHOLE BODY", "IMAGE"]
        assert ds.NumberOfSlices == 5
        assert float(ds.RescaleIntercept) == 0
        assert "PatientPosition" not in ds  # excluded by Patient Orientation Code Sequence
        item = ds.RadiopharmaceuticalInformationSequence[0]
        assert item.RadionuclideCodeSequence[0].CodeValue == "77004003"
        assert float(item.RadionuclideHalfLife) == F18_HALF_LIFE_S
        assert ds.PatientOrientationCodeSequence[0].PatientOrientationModifierCodeSequence[0].CodeMeaning == "supine"


def test_attenuation_correction_only_in_the_first_series(study: Study) -> None:
    ac, nac = (members[0] for members in _series(study))
    assert "ATTN" in ac.CorrectedImage and "ATTN" not in nac.CorrectedImage
    assert ac.SeriesTime == nac.SeriesTime  # two reconstructions of one acquisition


def test_geometry_shared_within_and_across_series(study: Study) -> None:
    assert len({ds.FrameOfReferenceUID for ds in study}) == 1
    for members in _series(study):
        z = [float(ds.ImagePositionPatient[2]) for ds in members]
        assert np.allclose(np.diff(z), -SLICE_MM)
        assert [ds.ImageIndex for ds in members] == [1, 2, 3, 4, 5]
    first, second = _series(study)
    assert [ds.ImagePositionPatient for ds in first] == [ds.ImagePositionPatient for ds in second]


def test_pixel_data_length_and_rescale(study: Study) -> None:
    for ds in study:
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 16, 15)
        assert len(ds.PixelData) == 64 * 64 * 2
        assert float(ds.RescaleSlope) > 0


def test_activity_is_plausible_with_a_hot_spot(study: Study) -> None:
    ac = _series(study)[0]
    middle = _bqml(ac[2])
    weight_g = float(ac[0].PatientWeight) * 1000
    item = ac[0].RadiopharmaceuticalInformationSequence[0]
    injected = dt.datetime.strptime(item.RadiopharmaceuticalStartDateTime, "%Y%m%d%H%M%S")
    start = dt.datetime.strptime(ac[0].SeriesDate + ac[0].SeriesTime, "%Y%m%d%H%M%S")
    decayed = float(item.RadionuclideTotalDose) * math.exp(-math.log(2) * (start - injected).total_seconds()
                                                           / F18_HALF_LIFE_S)
    suv = middle * weight_g / decayed
    assert suv[:3, :3].max() < 0.2, "air outside the body"
    assert 0.3 < float(np.median(suv[suv > 0.3])) < 4.0, "background tissue"
    assert suv.max() > 5.0, "a lesion"


def test_same_seed_same_bytes(study: Study) -> None:
    again = generate_study(SPEC, 11, series=2, instances=5, options=OPTIONS)
    for first, second in zip(study, again, strict=True):
        assert part10_bytes(first) == part10_bytes(second)


def test_realistic_defaults() -> None:
    assert SPEC.default_series == 2 and SPEC.default_instances >= 200
    ds = generate_study(SPEC, 1, series=1, instances=1).datasets[0]
    assert (ds.Rows, ds.Columns) == (192, 192)
