"""Digital X-Ray For Presentation (PS3.3 A.26): chest PA and lateral, For Presentation conditions, geometry."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.uid import DigitalXRayImageStorageForPresentation

from simulator.synth.generate import generate_study
from simulator.synth.iods import dx
from simulator.synth.spec import BuildOptions
from simulator.synth.study import Study
from tests.unit.synth.helpers import part10_bytes

ROWS, COLUMNS = 64, 48
OPTIONS = BuildOptions(rows=ROWS, columns=COLUMNS, frames=3)



@pytest.fixture(scope="module")
def study() -> Study:
    return generate_study(dx.SPEC, 3, series=2, instances=3, options=OPTIONS)


def test_sop_class_modality_and_presentation_intent(study: Study) -> None:
    for ds in study:
        assert ds.SOPClassUID == DigitalXRayImageStorageForPresentation
        assert ds.file_meta.MediaStorageSOPClassUID == DigitalXRayImageStorageForPresentation
        assert ds.Modality == "DX"
        assert ds.PresentationIntentType == "FOR PRESENTATION"
        assert ds.PresentationLUTShape == "IDENTITY"
        assert ds.PhotometricInterpretation == "MONOCHROME2"
        assert "WindowCenter" in ds and "WindowWidth" in ds  # VOI LUT required For Presentation
        assert (ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType) == (1, 0, "US")
        assert ds.ImageLaterality == "U"
        assert ds.AcquisitionContextSequence == []


def test_views_alternate_with_matching_codes_and_orientation(study: Study) -> None:
    views = [ds.ViewPosition for ds in study]
    assert views == ["PA", "LL", "PA"] * 2
    for ds in study:
        item = ds.ViewCodeSequence[0]
        assert item.CodingSchemeDesignator == "SCT"
        assert item.CodeValue == {"PA": "399348003", "LL": "399173006"}[ds.ViewPosition]
        assert list(ds.PatientOrientation) == {"PA": ["L", "F"], "LL": ["P", "F"]}[ds.ViewPosition]
        region = ds.AnatomicRegionSequence[0]
        assert (region.CodeValue, region.CodingSchemeDesignator, region.CodeMeaning) == ("51185008", "SCT", "Chest")


def test_series_share_frame_of_reference_and_geometry(study: Study) -> None:
    assert len(study.series_instance_uids) == 2
    for uid in study.series_instance_uids:
        members = [ds for ds in study if ds.SeriesInstanceUID == uid]
        assert len({ds.FrameOfReferenceUID for ds in members}) == 1
        assert len({tuple(ds.ImagerPixelSpacing) for ds in members}) == 1
        assert [int(ds.InstanceNumber) for ds in members] == [1, 2, 3]
        assert [ds.ContentTime for ds in members] == sorted(ds.ContentTime for ds in members)
    assert len(set(study.sop_instance_uids)) == 6


def test_pixel_data_length_and_bits(study: Study) -> None:
    for ds in study:
        assert (ds.Rows, ds.Columns, ds.SamplesPerPixel) == (ROWS, COLUMNS, 1)
        assert "NumberOfFrames" not in ds  # single-frame IOD: the frames option does not apply
        assert len(ds.PixelData) == ROWS * COLUMNS * 2
        assert int(ds.pixel_array.max()) < 2 ** int(ds.BitsStored)


def test_pa_image_looks_like_a_chest() -> None:
    ds = generate_study(dx.SPEC, 1, instances=1, options=BuildOptions(rows=128, columns=128)).datasets[0]
    image = ds.pixel_array.astype(float)
    lung = image[50:60, 36:44].mean()
    spine = image[50:60, 62:66].mean()
    assert image[0, 0] < lung < spine  # air darkest, lungs darker than the mediastinum


def test_same_seed_identical_bytes(study: Study) -> None:
    again = generate_study(dx.SPEC, 3, series=2, instances=3, options=OPTIONS)
    assert [part10_bytes(ds) for ds in again] == [part10_bytes(ds) for ds in study]
    other = generate_study(dx.SPEC, 4, series=2, instances=3, options=OPTIONS)
    assert other.datasets[0].PixelData != study.datasets[0].PixelData


def test_realistic_defaults() -> None:
    assert (dx.SPEC.default_series, dx.SPEC.default_instances) == (1, 2)
    assert (dx.DEFAULT_ROWS, dx.DEFAULT_COLUMNS) == (3072, 2560)
    spacing = np.array(dx.FIELD_MM) / (dx.DEFAULT_ROWS, dx.DEFAULT_COLUMNS)
    assert np.allclose(spacing, 0.139, atol=0.002)
