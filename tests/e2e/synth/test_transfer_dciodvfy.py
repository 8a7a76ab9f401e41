"""Every transfer syntax writes instances that dciodvfy accepts with zero errors (PS3.5 A; PS3.3 C.7.6.1.1.5)."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import SecondaryCaptureImageStorage

from simulator.synth import build_ct_study
from simulator.synth.generate import generate_study
from simulator.synth.registry import MODALITIES
from simulator.synth.spec import BuildOptions
from simulator.synth.transfer import TRANSFER_SYNTAXES, encode
from simulator.synth.uids import derive_uid
from tests.conftest import require_binary
from tests.e2e.synth.test_dciodvfy import dciodvfy_errors

pytestmark = pytest.mark.dcmtk

_CT_ONLY = ("KVP", "RescaleIntercept", "RescaleSlope", "RescaleType", "WindowCenter", "WindowWidth",
            "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness", "SliceLocation",
            "FrameOfReferenceUID", "PositionReferenceIndicator", "PatientPosition")


def _secondary_capture(ct: Dataset) -> Dataset:
    """An 8-bit Secondary Capture (PS3.3 A.8.1) of a CT slice: for syntaxes that cannot carry 16-bit pixels."""
    ds = copy.deepcopy(ct)
    hu = ds.pixel_array.astype(np.int32) + int(ds.RescaleIntercept)
    gray = np.clip((hu + 160) * 255 / 400, 0, 255).astype(np.uint8)
    for keyword in _CT_ONLY:
        if keyword in ds:
            delattr(ds, keyword)
    uid = derive_uid("test-sc", ct.SOPInstanceUID)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.SeriesInstanceUID = derive_uid("test-sc-series", ct.SeriesInstanceUID)
    ds.Modality = "OT"
    ds.ConversionType = "WSD"  # SC Equipment (C.8.6.1)
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = gray.tobytes()
    return ds


def _instance_for(name: str, ct: Dataset) -> Dataset:
    """The CT slice when the syntax carries it; else an instance of a registered modality it carries; else an SC."""
    spec = TRANSFER_SYNTAXES[name]
    if spec.supports(ct):
        return ct
    for code in sorted(MODALITIES):
        study = generate_study(code, 3, series=1, instances=1, options=BuildOptions(rows=64, columns=64, frames=2))
        found = next((ds for ds in study if "PixelData" in ds and spec.supports(ds)), None)
        if found is not None:
            return found
    return _secondary_capture(ct)


@pytest.fixture(scope="module")
def ct() -> Dataset:
    return build_ct_study(1, instances=2, rows=64, columns=64).datasets[0]


def test_the_secondary_capture_fallback_itself_passes(ct: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "sc.dcm"
    _secondary_capture(ct).save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []


@pytest.mark.parametrize("name", sorted(TRANSFER_SYNTAXES))
def test_each_syntax_passes_dciodvfy(name: str, ct: Dataset, tmp_path: Path) -> None:
    if TRANSFER_SYNTAXES[name].needs:
        require_binary(str(TRANSFER_SYNTAXES[name].needs), "dcmtk")
    encoded = encode(_instance_for(name, ct), name)
    path = tmp_path / f"{name}.dcm"
    encoded.save_as(path, enforce_file_format=True)
    if name == "deflated-le":
        # dicom3tools cannot read deflated files (even DCMTK's); DCMTK inflates ours, dciodvfy checks the result.
        inflated = tmp_path / "inflated.dcm"
        subprocess.run([require_binary("dcmconv", "dcmtk"), "+te", str(path), str(inflated)], check=True,
                       capture_output=True, timeout=60)
        path = inflated
    assert dciodvfy_errors(path) == []


def test_a_derived_lossy_copy_passes_dciodvfy(ct: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "derived.dcm"
    encode(ct, "j2k", derived=True).save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []


@pytest.mark.parametrize("code", sorted(MODALITIES))
@pytest.mark.parametrize("name", sorted(TRANSFER_SYNTAXES))
def test_every_modality_in_every_syntax_it_supports(code: str, name: str, tmp_path: Path) -> None:
    """The matrix of the issue: each SOP class in each transfer syntax that can carry its pixels has zero
    dciodvfy errors; a syntax that cannot carry them is refused with a reason, never written wrongly."""
    from simulator.synth.transfer import UnsupportedPixelFormat, encode_study

    spec = TRANSFER_SYNTAXES[name]
    if spec.needs:
        require_binary(str(spec.needs), "dcmtk")
    study = generate_study(code, 5, series=1, instances=1, options=BuildOptions(rows=32, columns=32, frames=2))
    images = [ds for ds in study if "PixelData" in ds]
    if spec.encapsulated and not all(spec.supports(ds) for ds in images):
        with pytest.raises(UnsupportedPixelFormat, match=name):
            encode_study(study.datasets, name)
        return
    study.datasets = encode_study(study.datasets, name)
    for path in study.write(tmp_path):
        checked = path
        if name == "deflated-le":
            checked = path.with_suffix(".inflated")
            subprocess.run([require_binary("dcmconv", "dcmtk"), "+te", str(path), str(checked)], check=True,
                           capture_output=True, timeout=60)
        assert dciodvfy_errors(checked) == [], (code, name, path.name)
