"""Ultrasound Image and Ultrasound Multi-frame Image studies (PS3.3 A.6, A.7)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import UltrasoundImageStorage, UltrasoundMultiFrameImageStorage

from simulator.synth.generate import generate_study
from simulator.synth.iods import us
from simulator.synth.phantom_us import abdomen_us
from simulator.synth.spec import BuildOptions
from simulator.synth.study import Study
from tests.unit.synth.helpers import part10_bytes

ROWS, COLUMNS, FRAMES = 64, 80, 3
SMALL = BuildOptions(rows=ROWS, columns=COLUMNS, frames=FRAMES)



@pytest.fixture(scope="module")
def study() -> Study:
    return generate_study(us.SPEC, 11, series=3, instances=2, options=SMALL)


def _series(study: Study) -> list[list[Dataset]]:
    return [[ds for ds in study if ds.SeriesInstanceUID == uid] for uid in study.series_instance_uids]


def test_series_are_stills_cine_and_colour_doppler(study: Study) -> None:
    stills, cine, doppler = _series(study)
    assert {ds.SOPClassUID for ds in stills} == {UltrasoundImageStorage}
    assert {ds.SOPClassUID for ds in cine} == {UltrasoundMultiFrameImageStorage}
    assert {ds.SOPClassUID for ds in doppler} == {UltrasoundImageStorage}
    assert {ds.PhotometricInterpretation for ds in stills + cine} == {"MONOCHROME2"}
    assert {ds.PhotometricInterpretation for ds in doppler} == {"RGB"}
    assert all("NumberOfFrames" not in ds for ds in stills + doppler)
    assert [ds.ImageType[3] for ds in (stills[0], cine[0], doppler[0])] == ["0001", "0001", "0011"]
    for ds in study:
        assert ds.Modality == "US"
        assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
        assert ds.BodyPartExamined == "ABDOMEN"


def test_cine_honours_frames_and_points_at_frame_time(study: Study) -> None:
    for ds in _series(study)[1]:
        assert int(ds.NumberOfFrames) == FRAMES
        assert ds.FrameIncrementPointer == Tag("FrameTime")
        assert float(ds.FrameTime) == pytest.approx(33.3)
        assert int(ds.CineRate) == 30
        assert int(ds.StopTrim) == FRAMES


def test_pixel_data_length_matches_geometry(study: Study) -> None:
    for ds in study:
        assert (ds.Rows, ds.Columns) == (ROWS, COLUMNS)
        assert ds.BitsAllocated == ds.BitsStored == 8
        frames = int(ds.get("NumberOfFrames", 1))
        assert len(ds.PixelData) == ROWS * COLUMNS * frames * int(ds.SamplesPerPixel)


def test_region_calibration_covers_the_sector(study: Study) -> None:
    for ds in study:
        (region,) = ds.SequenceOfUltrasoundRegions
        assert 0 <= region.RegionLocationMinX0 < region.RegionLocationMaxX1 < COLUMNS
        assert 0 <= region.RegionLocationMinY0 < region.RegionLocationMaxY1 < ROWS
        assert region.PhysicalUnitsXDirection == region.PhysicalUnitsYDirection == 3  # cm
        assert region.PhysicalDeltaX == region.PhysicalDeltaY > 0
        depth_cm = (region.RegionLocationMaxY1 - region.ReferencePixelY0) * region.PhysicalDeltaY
        assert depth_cm == pytest.approx(float(ds.DepthOfScanField) / 10, abs=0.5)
        frame = ds.pixel_array if ds.SamplesPerPixel == 1 and "NumberOfFrames" not in ds else None
        if frame is not None:
            outside = np.ones(frame.shape, dtype=bool)
            outside[region.RegionLocationMinY0:region.RegionLocationMaxY1 + 1,
                    region.RegionLocationMinX0:region.RegionLocationMaxX1 + 1] = False
            assert not frame[outside].any(), "pixels outside the calibrated region"


def test_sector_shape_and_speckle() -> None:
    frames = abdomen_us(240, 320, 1, np.random.default_rng(0)).frames[0]
    assert frames[0, 0] == frames[0, -1] == frames[-1, 0] == 0  # outside the fan
    assert frames[5, 160] == 0 or frames[5, 160] < 60  # apex is narrow
    tissue = frames[150:170, 140:180].astype(float)
    assert tissue.mean() > 40
    assert tissue.std() > 10, "speckle, not a flat fill"


def test_cine_frames_move_slightly(study: Study) -> None:
    ds = _series(study)[1][0]
    frames = ds.pixel_array.astype(float)
    assert frames.shape == (FRAMES, ROWS, COLUMNS)
    assert not np.array_equal(frames[0], frames[1])
    assert np.corrcoef(frames[0].ravel(), frames[1].ravel())[0, 1] > 0.5  # same anatomy, small motion


def test_colour_doppler_has_colour(study: Study) -> None:
    ds = _series(study)[2][0]
    rgb = ds.pixel_array.astype(int)
    assert rgb.shape == (ROWS, COLUMNS, 3)
    assert ds.UltrasoundColorDataPresent == 1
    assert (np.abs(rgb[..., 0] - rgb[..., 2]) > 50).any()


def test_one_frame_of_reference_and_distinct_instances(study: Study) -> None:
    assert len({ds.FrameOfReferenceUID for ds in study}) == 1
    assert len(set(study.sop_instance_uids)) == len(study) == 6
    for members in _series(study):
        assert [int(ds.InstanceNumber) for ds in members] == [1, 2]
        assert members[0].PixelData != members[1].PixelData
        assert members[0].ContentTime < members[1].ContentTime


def test_same_seed_gives_identical_bytes(study: Study) -> None:
    again = generate_study(us.SPEC, 11, series=3, instances=2, options=SMALL)
    assert [part10_bytes(ds) for ds in again] == [part10_bytes(ds) for ds in study]
    other = generate_study(us.SPEC, 12, series=1, instances=1, options=SMALL)
    assert other.datasets[0].PixelData != study.datasets[0].PixelData


def test_multiframe_spec_is_all_cine() -> None:
    study = generate_study(us.SPEC_MULTIFRAME, 2, series=2, instances=1, options=SMALL)
    assert us.SPEC_MULTIFRAME.code == "US-MF"
    assert {ds.SOPClassUID for ds in study} == {UltrasoundMultiFrameImageStorage}
    assert {int(ds.NumberOfFrames) for ds in study} == {FRAMES}


def test_realistic_defaults() -> None:
    assert us.SPEC.default_series >= 3 and us.SPEC.default_instances > 1
    study = generate_study(us.SPEC, 1, series=2, instances=1)
    still, clip = study.datasets
    assert (still.Rows, still.Columns) == (480, 640)
    assert int(clip.NumberOfFrames) == 30
    assert len(clip.PixelData) == 480 * 640 * 30


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools' dciodvfy is not installed")
def test_dciodvfy_reports_no_errors(study: Study, tmp_path: Path) -> None:
    for path in study.write(tmp_path):
        result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
        problems = [line for line in (result.stdout + result.stderr).splitlines()
                    if line.startswith(("Error", "Warning"))]
        assert problems == [], (path, problems)
