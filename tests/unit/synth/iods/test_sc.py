"""Secondary Capture (PS3.3 A.8.1): RGB screen captures and grayscale derived key images."""

from __future__ import annotations

import pytest
from pydicom.uid import SecondaryCaptureImageStorage

from simulator.synth.generate import generate_study
from simulator.synth.iods import sc
from simulator.synth.spec import BuildOptions
from simulator.synth.study import Study
from tests.unit.synth.helpers import part10_bytes

ROWS, COLUMNS = 64, 48
OPTIONS = BuildOptions(rows=ROWS, columns=COLUMNS, frames=3)



@pytest.fixture(scope="module")
def study() -> Study:
    return generate_study(sc.SPEC, 5, series=2, instances=2, options=OPTIONS)


def test_sop_class_modality_and_sc_equipment(study: Study) -> None:
    for ds in study:
        assert ds.SOPClassUID == ds.file_meta.MediaStorageSOPClassUID == SecondaryCaptureImageStorage
        assert ds.Modality == "OT"
        assert ds.ConversionType == "WSD"
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
        assert ds.DateOfSecondaryCapture == ds.ContentDate


def test_rgb_then_grayscale_series(study: Study) -> None:
    first, second = (
        [ds for ds in study if ds.SeriesInstanceUID == uid] for uid in study.series_instance_uids
    )
    for ds in first:
        assert (ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration) == (3, "RGB", 0)
        assert ds.BurnedInAnnotation == "YES"
        assert len(ds.PixelData) == ROWS * COLUMNS * 3
        assert ds.pixel_array.shape == (ROWS, COLUMNS, 3)
    for ds in second:
        assert (ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.BitsAllocated) == (1, "MONOCHROME2", 8)
        assert ds.BurnedInAnnotation == "NO"
        assert len(ds.PixelData) == ROWS * COLUMNS


def test_same_seed_identical_bytes(study: Study) -> None:
    again = generate_study(sc.SPEC, 5, series=2, instances=2, options=OPTIONS)
    assert [part10_bytes(ds) for ds in again] == [part10_bytes(ds) for ds in study]


def test_default_screen_capture_size_and_colour() -> None:
    ds = generate_study(sc.SPEC, 1, series=1, instances=1).datasets[0]
    assert (ds.Rows, ds.Columns) == (sc.SCREEN_ROWS, sc.SCREEN_COLUMNS) == (1024, 1280)
    pixels = ds.pixel_array
    assert (pixels[..., 0] != pixels[..., 2]).any()  # real colour, not grey replicated
    assert (sc.SPEC.default_series, sc.SPEC.default_instances) == (2, 1)
