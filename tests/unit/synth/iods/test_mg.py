"""Digital Mammography For Presentation (PS3.3 A.27): hanging order, laterality, view codes, breast phantom."""

from __future__ import annotations

import pytest
from pydicom.uid import DigitalMammographyXRayImageStorageForPresentation as MG_STORAGE

from simulator.synth.generate import generate_study
from simulator.synth.iods import mg
from simulator.synth.spec import BuildOptions
from simulator.synth.study import Study
from tests.unit.synth.helpers import part10_bytes

ROWS, COLUMNS = 64, 48
OPTIONS = BuildOptions(rows=ROWS, columns=COLUMNS, frames=3)



@pytest.fixture(scope="module")
def study() -> Study:
    return generate_study(mg.SPEC, 8, options=OPTIONS)


def test_default_screening_exam_hangs_four_views(study: Study) -> None:
    assert len(study) == 4 and len(study.series_instance_uids) == 1
    views = [(ds.ImageLaterality, ds.ViewCodeSequence[0].CodeMeaning) for ds in study]
    assert views == [("R", "cranio-caudal"), ("L", "cranio-caudal"),
                     ("R", "medio-lateral oblique"), ("L", "medio-lateral oblique")]


def test_sop_class_and_mammography_image_module(study: Study) -> None:
    for ds in study:
        assert ds.SOPClassUID == ds.file_meta.MediaStorageSOPClassUID == MG_STORAGE
        assert ds.Modality == "MG"
        assert ds.PresentationIntentType == "FOR PRESENTATION"
        assert (ds.PositionerType, ds.OrganExposed, ds.BodyPartExamined) == ("MAMMOGRAPHIC", "BREAST", "BREAST")
        view = ds.ViewCodeSequence[0]
        assert view.CodingSchemeDesignator == "SCT"
        assert view.CodeValue in ("399162004", "399368009")
        assert view.ViewModifierCodeSequence == []
        region = ds.AnatomicRegionSequence[0]
        assert (region.CodeValue, region.CodingSchemeDesignator) == ("76752008", "SCT")
        assert "Laterality" not in ds  # a bilateral series: laterality is per image


def test_orientation_and_chest_wall_side_follow_laterality(study: Study) -> None:
    for ds in study:
        row_direction = ds.PatientOrientation[0]
        assert row_direction == ("P" if ds.ImageLaterality == "R" else "A")
        image = ds.pixel_array.astype(float)
        left, right = image[:, :4].mean(), image[:, -4:].mean()
        chest_wall_left = left > right
        assert chest_wall_left == (ds.ImageLaterality == "L")


def test_pixel_data_length(study: Study) -> None:
    for ds in study:
        assert (ds.Rows, ds.Columns, ds.BitsStored) == (ROWS, COLUMNS, 12)
        assert len(ds.PixelData) == ROWS * COLUMNS * 2


def test_one_view_per_series_when_asked() -> None:
    split = generate_study(mg.SPEC, 8, series=4, instances=1, options=OPTIONS)
    assert len(split.series_instance_uids) == 4
    assert [ds.ImageLaterality for ds in split] == ["R", "L", "R", "L"]


def test_same_seed_identical_bytes(study: Study) -> None:
    again = generate_study(mg.SPEC, 8, options=OPTIONS)
    assert [part10_bytes(ds) for ds in again] == [part10_bytes(ds) for ds in study]


def test_realistic_defaults() -> None:
    assert (mg.DEFAULT_ROWS, mg.DEFAULT_COLUMNS) == (4096, 3328)
    assert mg.SPEC.default_instances == 4
    assert round(mg.FIELD_MM[0] / mg.DEFAULT_ROWS, 3) == 0.07
