"""The fast Part 10 writer writes exactly the bytes pydicom's ``save_as`` writes, for everything radsim generates;
CT slices built from a series template share no element with each other."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from simulator.synth import DEFECTS, apply_defect, build_ct_study
from simulator.synth.charsets import CHARSETS
from simulator.synth.fastwrite import EncodedCache, write_part10
from simulator.synth.generate import generate_study
from simulator.synth.lenient import deliberately_invalid
from simulator.synth.registry import MODALITIES
from simulator.synth.spec import BuildOptions
from simulator.synth.study import Study
from simulator.synth.transfer import (
    TRANSFER_SYNTAXES,
    CodecUnavailable,
    UnsupportedPixelFormat,
    encode_study,
    transfer_syntax,
)

SMALL = BuildOptions(rows=32, columns=32, frames=2)


def _small(code: str, charset: str | None = None) -> Study:
    return generate_study(code, 11, series=2, instances=2, options=SMALL, charset=charset)


def _reference(ds: Dataset) -> bytes:
    """What pydicom itself writes (as Study.write did before the fast writer)."""
    buffer = io.BytesIO()
    with deliberately_invalid():
        if getattr(ds, "file_meta", None) is None:
            ds.save_as(buffer, enforce_file_format=False, implicit_vr=False, little_endian=True)
        else:
            ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _assert_identical(make: Callable[[], Study], tmp_path: Path) -> None:
    """Two identical studies (generation is deterministic): one written by Study.write, one by save_as."""
    written, expected = make(), make()
    paths = written.write(tmp_path)
    assert len(paths) == len(expected.datasets) == len(set(paths))
    for path, ds in zip(paths, expected.datasets, strict=True):
        assert path.read_bytes() == _reference(ds), f"{path.name} differs from save_as"


@pytest.mark.parametrize("code", sorted(MODALITIES))
def test_every_modality_is_written_as_save_as_writes_it(code: str, tmp_path: Path) -> None:
    _assert_identical(lambda: _small(code), tmp_path)


@pytest.mark.parametrize("charset", sorted(CHARSETS))
def test_every_charset_is_written_as_save_as_writes_it(charset: str, tmp_path: Path) -> None:
    _assert_identical(lambda: _small("CT", charset), tmp_path)


@pytest.mark.parametrize("code", ["CT", "US", "SR"])
@pytest.mark.parametrize("syntax", sorted(TRANSFER_SYNTAXES))
def test_every_transfer_syntax_is_written_as_save_as_writes_it(code: str, syntax: str, tmp_path: Path) -> None:
    sample = _small(code).datasets
    if "PixelData" in sample[0] and not transfer_syntax(syntax).supports(sample[0]):
        pytest.skip(f"{syntax} cannot carry {code} pixels")
    try:
        encode_study(sample, syntax)
    except (CodecUnavailable, UnsupportedPixelFormat) as exc:
        pytest.skip(str(exc))
    _assert_identical(lambda: Study(encode_study(_small(code).datasets, syntax)), tmp_path)


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_every_defect_is_written_as_save_as_writes_it(defect: str, tmp_path: Path) -> None:
    def make() -> Study:
        study = _small("CT")
        apply_defect(study.datasets, defect)
        return study

    _assert_identical(make, tmp_path)


def test_full_size_ct_series_is_identical_and_hits_the_cache(tmp_path: Path) -> None:
    study, expected = build_ct_study(3, instances=5, rows=128, columns=96), build_ct_study(3, instances=5, rows=128,
                                                                                          columns=96)
    cache = EncodedCache()
    for index, (ds, reference) in enumerate(zip(study.datasets, expected.datasets, strict=True)):
        path = tmp_path / f"{index}.dcm"
        write_part10(ds, path, cache)
        assert path.read_bytes() == _reference(reference)
    assert cache.hits > 4 * 40  # the slices after the first re-encode only what differs
    assert cache.misses < 70 + 4 * 15


def _single(**values: object) -> Dataset:
    ds = build_ct_study(1, instances=1, rows=8, columns=8).datasets[0]
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def test_values_equal_but_encoded_differently_are_not_confused(tmp_path: Path) -> None:
    # "1.0" == "1" as numbers, -0.0 == 0.0 as floats, 1 == 1.0: each must be encoded as itself.
    cache = EncodedCache()
    variants = [_single(SliceThickness="1.0"), _single(SliceThickness="1"), _single(SliceThickness="1.00"),
                _single(SeriesNumber="01"), _single(SeriesNumber="1")]
    first = _single()
    first.add(DataElement(0x00181318, "DS", "0"))  # dB/dt, a DS
    first.add(DataElement(0x00189087, "FD", 0.0))  # Diffusion b-value, an FD
    second = _single()
    second.add(DataElement(0x00181318, "DS", "0"))
    second.add(DataElement(0x00189087, "FD", -0.0))
    for index, ds in enumerate([*variants, first, second]):
        expected = _reference(ds)
        path = tmp_path / f"{index}.dcm"
        write_part10(ds, path, cache)
        assert path.read_bytes() == expected


def test_a_changed_value_after_a_write_is_written_anew(tmp_path: Path) -> None:
    cache = EncodedCache()
    ds = _single()
    write_part10(ds, tmp_path / "a.dcm", cache)
    ds.PatientID = "CHANGED"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    write_part10(ds, tmp_path / "b.dcm", cache)
    assert (tmp_path / "b.dcm").read_bytes() == _reference(ds)
    assert b"CHANGED" in (tmp_path / "b.dcm").read_bytes()


def test_charset_is_part_of_the_key(tmp_path: Path) -> None:
    cache = EncodedCache()
    latin = _single(SpecificCharacterSet="ISO_IR 100", InstitutionName="Hôpital")
    utf8 = _single(SpecificCharacterSet="ISO_IR 192", InstitutionName="Hôpital")
    for name, ds in (("latin", latin), ("utf8", utf8)):
        write_part10(ds, tmp_path / f"{name}.dcm", cache)
        assert (tmp_path / f"{name}.dcm").read_bytes() == _reference(ds)
    assert "Hôpital".encode("latin-1") in (tmp_path / "latin.dcm").read_bytes()
    assert "Hôpital".encode() in (tmp_path / "utf8.dcm").read_bytes()


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_both_native_vr_modes_take_the_fast_path(syntax: str, tmp_path: Path) -> None:
    cache = EncodedCache()
    for index in range(2):
        ds = _single()
        ds.file_meta.TransferSyntaxUID = syntax
        write_part10(ds, tmp_path / f"{index}.dcm", cache)
        assert (tmp_path / f"{index}.dcm").read_bytes() == _reference(ds)
    assert cache.hits > 0


def test_odd_length_pixel_data_is_padded_like_pydicom(tmp_path: Path) -> None:
    ds = _single()
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.Rows, ds.Columns = 7, 7
    ds.PixelData = bytes(range(49))
    expected = _reference(ds)
    write_part10(ds, tmp_path / "odd.dcm", EncodedCache())
    assert (tmp_path / "odd.dcm").read_bytes() == expected


def test_ct_slices_share_no_element() -> None:
    study = build_ct_study(4, instances=3, rows=16, columns=16)
    first, second = study.datasets[0], study.datasets[1]
    before = _reference(second)
    first.PatientID = "SOMEONE-ELSE"
    first.ImageType[0] = "DERIVED"
    first.ImageOrientationPatient[0] = "0"
    first.PixelSpacing.append("1")
    first.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    first.file_meta.ImplementationVersionName = "OTHER"
    assert second.PatientID != "SOMEONE-ELSE"
    assert list(second.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert second.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert _reference(second) == before
    for keyword in first.dir():
        if keyword != "PixelData":
            assert first[keyword] is not second[keyword], keyword
    for elem in first.file_meta:
        assert elem is not second.file_meta[elem.tag]
