"""Computed Radiography (PS3.3 A.2): one chest view per plate series, CR Series and CR Image attributes."""

from __future__ import annotations

import pytest
from pydicom.uid import ComputedRadiographyImageStorage

from simulator.synth.generate import generate_study
from simulator.synth.iods import cr
from simulator.synth.spec import BuildOptions
from simulator.synth.study import Study
from tests.unit.synth.helpers import part10_bytes

ROWS, COLUMNS = 64, 48
OPTIONS = BuildOptions(rows=ROWS, columns=COLUMNS, frames=3)



@pytest.fixture(scope="module")
def study() -> Study:
    return generate_study(cr.SPEC, 11, series=2, instances=2, options=OPTIONS)


def test_sop_class_and_modality(study: Study) -> None:
    for ds in study:
        assert ds.SOPClassUID == ds.file_meta.MediaStorageSOPClassUID == ComputedRadiographyImageStorage
        assert ds.Modality == "CR"
        assert ds.BodyPartExamined == "CHEST"
        assert ds.PhotometricInterpretation in ("MONOCHROME1", "MONOCHROME2")
        assert "FrameOfReferenceUID" not in ds  # not part of the CR IOD


def test_one_view_per_series(study: Study) -> None:
    by_series = {uid: [ds for ds in study if ds.SeriesInstanceUID == uid] for uid in study.series_instance_uids}
    views = [{ds.ViewPosition for ds in members} for members in by_series.values()]
    assert views == [{"PA"}, {"LL"}]
    for members in by_series.values():
        assert len({tuple(ds.ImagerPixelSpacing) for ds in members}) == 1
        assert len({ds.SeriesDescription for ds in members}) == 1
        assert members[0].PixelData != members[1].PixelData  # repeat exposure, own noise


def test_pixel_data_length_and_bits(study: Study) -> None:
    for ds in study:
        assert (ds.Rows, ds.Columns, ds.BitsStored, ds.BitsAllocated) == (ROWS, COLUMNS, 10, 16)
        assert len(ds.PixelData) == ROWS * COLUMNS * 2
        assert int(ds.pixel_array.max()) < 1024


def test_same_seed_identical_bytes(study: Study) -> None:
    again = generate_study(cr.SPEC, 11, series=2, instances=2, options=OPTIONS)
    assert [part10_bytes(ds) for ds in again] == [part10_bytes(ds) for ds in study]


def test_default_size_is_a_35_by_43_plate() -> None:
    ds = generate_study(cr.SPEC, 2, series=1, instances=1).datasets[0]
    assert (ds.Rows, ds.Columns) == (cr.DEFAULT_ROWS, cr.DEFAULT_COLUMNS) == (2140, 1760)
    assert [round(float(v), 2) for v in ds.ImagerPixelSpacing] == [0.2, 0.2]
    assert (cr.SPEC.default_series, cr.SPEC.default_instances) == (2, 1)
    image = ds.pixel_array
    assert image[5, 5] < image[cr.DEFAULT_ROWS // 2, cr.DEFAULT_COLUMNS // 2]  # air dark, body bright
