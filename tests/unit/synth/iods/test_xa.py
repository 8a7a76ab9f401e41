"""X-Ray Angiographic Image studies (PS3.3 A.14)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pydicom.tag import Tag
from pydicom.uid import XRayAngiographicImageStorage

from simulator.synth.generate import generate_study
from simulator.synth.iods import xa
from simulator.synth.phantom_us import angiogram_frames
from simulator.synth.spec import BuildOptions
from simulator.synth.study import Study
from tests.unit.synth.helpers import part10_bytes

ROWS, COLUMNS, FRAMES = 64, 72, 3
SMALL = BuildOptions(rows=ROWS, columns=COLUMNS, frames=FRAMES)



@pytest.fixture(scope="module")
def study() -> Study:
    return generate_study(xa.SPEC, 4, series=2, instances=2, options=SMALL)


def test_sop_class_modality_and_multiframe(study: Study) -> None:
    for ds in study:
        assert ds.SOPClassUID == ds.file_meta.MediaStorageSOPClassUID == XRayAngiographicImageStorage
        assert ds.Modality == "XA"
        assert int(ds.NumberOfFrames) == FRAMES
        assert ds.FrameIncrementPointer == Tag("FrameTime")
        assert float(ds.FrameTime) == pytest.approx(1000 / xa.FRAME_RATE, abs=0.01)
        assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "SINGLE PLANE"]
        assert ds.PixelIntensityRelationship == "LIN"
        assert ds.PositionerMotion == "STATIC"
        assert ds.ContrastBolusAgentSequence[0].CodingSchemeDesignator == "SCT"
        assert "FrameOfReferenceUID" not in ds  # not part of the XA IOD


def test_pixel_data_length_and_bit_depth(study: Study) -> None:
    for ds in study:
        assert (ds.Rows, ds.Columns) == (ROWS, COLUMNS)
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 10, 9)
        assert len(ds.PixelData) == ROWS * COLUMNS * FRAMES * 2
        assert int(ds.pixel_array.max()) < 1024


def test_each_series_is_one_projection(study: Study) -> None:
    angles = []
    for uid in study.series_instance_uids:
        members = [ds for ds in study if ds.SeriesInstanceUID == uid]
        assert len({(ds.PositionerPrimaryAngle, ds.PositionerSecondaryAngle) for ds in members}) == 1
        expected = xa.PROJECTIONS[members[0].SeriesDescription]
        assert (float(members[0].PositionerPrimaryAngle), float(members[0].PositionerSecondaryAngle)) == expected
        angles.append(expected)
        assert [int(ds.InstanceNumber) for ds in members] == [1, 2]
    assert len(set(angles)) == 2


def test_contrast_fills_then_washes_out() -> None:
    frames = angiogram_frames(128, 128, 9, np.random.default_rng(3)).astype(float)
    field = frames[0] > 0
    assert not field[0, 0] and field[64, 64]  # round intensifier field
    darkness = [float(np.percentile(frame[field], 1)) for frame in frames]
    assert darkness[4] < darkness[0] - 30, "vessels opacify mid-run"
    assert darkness[-1] > darkness[4], "contrast washes out"


def test_same_seed_gives_identical_bytes(study: Study) -> None:
    again = generate_study(xa.SPEC, 4, series=2, instances=2, options=SMALL)
    assert [part10_bytes(ds) for ds in again] == [part10_bytes(ds) for ds in study]
    other = generate_study(xa.SPEC, 5, series=1, instances=1, options=SMALL)
    assert other.datasets[0].PixelData != study.datasets[0].PixelData


def test_realistic_defaults() -> None:
    assert xa.SPEC.default_series >= 3
    ds = generate_study(xa.SPEC, 1, series=1, instances=1).datasets[0]
    assert (ds.Rows, ds.Columns, int(ds.NumberOfFrames)) == (512, 512, 30)
    assert len(ds.PixelData) == 512 * 512 * 30 * 2


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools' dciodvfy is not installed")
def test_dciodvfy_reports_no_errors(study: Study, tmp_path: Path) -> None:
    for path in study.write(tmp_path):
        result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
        problems = [line for line in (result.stdout + result.stderr).splitlines()
                    if line.startswith(("Error", "Warning"))]
        assert problems == [], (path, problems)
