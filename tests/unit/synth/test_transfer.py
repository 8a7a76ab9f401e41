"""Transfer syntaxes: lossless ones give back identical pixels, lossy ones close pixels and PS3.3 C.7.6.1.1.5
labels, and pixel formats a syntax cannot carry are refused with a reason."""

from __future__ import annotations

import copy
import io

import numpy as np
import numpy.typing as npt
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragments

from simulator.synth import build_ct_study
from simulator.synth import transfer as transfer_module
from simulator.synth.transfer import TRANSFER_SYNTAXES, CodecUnavailable, UnsupportedPixelFormat, encode
from tests.conftest import require_binary
from tests.unit.synth.helpers import part10_bytes

LOSSLESS = sorted(name for name, spec in TRANSFER_SYNTAXES.items() if spec.lossless)
LOSSY = sorted(name for name, spec in TRANSFER_SYNTAXES.items() if not spec.lossless)



def _round_trip(ds: Dataset) -> Dataset:
    return dcmread(io.BytesIO(part10_bytes(ds)))


def _ct() -> Dataset:
    return build_ct_study(1, instances=2, rows=64, columns=64).datasets[1]


def _gray8(frames: int = 1) -> Dataset:
    """An 8-bit MONOCHROME2 image windowed from the CT pixels (frames shifted so they differ)."""
    ds = _ct()
    hu = ds.pixel_array.astype(np.int32) - 1024
    gray = np.clip((hu + 160) * 255 / 400, 0, 255).astype(np.uint8)
    stack = np.stack([np.roll(gray, 3 * i, axis=1) for i in range(frames)])
    for keyword in ("RescaleIntercept", "RescaleSlope", "RescaleType", "WindowCenter", "WindowWidth"):
        delattr(ds, keyword)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = stack.tobytes()
    return ds


def _rgb8() -> Dataset:
    ds = _gray8()
    gray = ds.pixel_array
    rgb = np.stack([gray, (gray * 0.8).astype(np.uint8), np.flipud(gray)], axis=-1)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.PixelData = np.ascontiguousarray(rgb).tobytes()
    return ds


SOURCES = {"ct16": _ct, "gray8": _gray8, "gray8x3": lambda: _gray8(3), "rgb8": _rgb8}


@pytest.fixture(scope="module")
def sources() -> dict[str, Dataset]:
    return {key: make() for key, make in SOURCES.items()}


def _need_tools(name: str) -> None:
    needs = TRANSFER_SYNTAXES[name].needs
    if needs:
        require_binary(needs, "dcmtk")


def _psnr(a: npt.NDArray[np.generic], b: npt.NDArray[np.generic], peak: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)


def test_the_table_knows_the_cli_names_and_uids() -> None:
    expected = {
        "implicit-le": "1.2.840.10008.1.2", "explicit-le": "1.2.840.10008.1.2.1",
        "deflated-le": "1.2.840.10008.1.2.1.99", "explicit-be": "1.2.840.10008.1.2.2",
        "rle": "1.2.840.10008.1.2.5", "jpeg-baseline": "1.2.840.10008.1.2.4.50",
        "jpeg-lossless-sv1": "1.2.840.10008.1.2.4.70", "jpeg-ls-lossless": "1.2.840.10008.1.2.4.80",
        "j2k-lossless": "1.2.840.10008.1.2.4.90", "j2k": "1.2.840.10008.1.2.4.91",
    }
    assert {name: str(TRANSFER_SYNTAXES[name].uid) for name in expected} == expected
    for name, spec in TRANSFER_SYNTAXES.items():
        assert spec.lossless == (spec.method is None), name
        assert spec.uid.is_compressed == spec.encapsulated, name


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("name", LOSSLESS)
def test_lossless_syntaxes_give_back_identical_pixels(name: str, source: str, sources: dict[str, Dataset]) -> None:
    ds = sources[source]
    spec = TRANSFER_SYNTAXES[name]
    if not spec.supports(ds):
        pytest.skip(f"{name} does not carry {source} (checked by the refusal tests)")
    _need_tools(name)
    before = part10_bytes(ds)
    back = _round_trip(encode(ds, name))
    assert back.file_meta.TransferSyntaxUID == spec.uid
    assert np.array_equal(back.pixel_array, ds.pixel_array)
    assert back.PhotometricInterpretation == ds.PhotometricInterpretation
    assert back.SOPInstanceUID == ds.SOPInstanceUID
    assert "LossyImageCompression" not in back
    assert part10_bytes(ds) == before  # the input is left as it was


@pytest.mark.parametrize("name", ["implicit-le", "explicit-le", "deflated-le", "explicit-be", "rle",
                                  "jpeg-ls-lossless", "j2k-lossless", "jpeg-lossless-sv1"])
def test_the_16_bit_ct_is_supported_losslessly(name: str, sources: dict[str, Dataset]) -> None:
    assert TRANSFER_SYNTAXES[name].supports(sources["ct16"])


def test_big_endian_files_hold_big_endian_pixel_words(sources: dict[str, Dataset]) -> None:
    ds = sources["ct16"]
    raw = part10_bytes(encode(ds, "explicit-be"))
    first = int(ds.pixel_array[0, 0])
    little = bytes(ds.PixelData)
    assert raw[-len(little):][:2] == first.to_bytes(2, "big")
    assert raw[-len(little):] == np.frombuffer(little, "<u2").astype(">u2").tobytes()


def test_deflated_files_are_smaller(sources: dict[str, Dataset]) -> None:
    ds = sources["ct16"]
    assert len(part10_bytes(encode(ds, "deflated-le"))) < 0.75 * len(part10_bytes(ds))


@pytest.mark.parametrize("source", ["ct16", "gray8", "gray8x3", "rgb8"])
@pytest.mark.parametrize("name", LOSSY)
def test_lossy_syntaxes_are_close_and_labelled(name: str, source: str, sources: dict[str, Dataset]) -> None:
    ds = sources[source]
    spec = TRANSFER_SYNTAXES[name]
    if not spec.supports(ds):
        pytest.skip(f"{name} does not carry {source}")
    _need_tools(name)
    encoded = encode(ds, name)
    back = _round_trip(encoded)
    assert back.file_meta.TransferSyntaxUID == spec.uid
    original = ds.pixel_array
    decoded = back.pixel_array  # pydicom 3 converts YBR_FULL_422 back to RGB
    # "Close": 64x64 phantoms with sharp edges are hard to compress; full-size slices score higher.
    assert _psnr(original, decoded, 2.0 ** int(ds.BitsStored) - 1) > 25
    assert back.LossyImageCompression == "01"
    assert back.LossyImageCompressionMethod == spec.method
    ratio = float(back.LossyImageCompressionRatio)
    fragments = sum(len(f) for f in list(generate_fragments(encoded.PixelData))[1:])  # after the offset table
    assert ratio == pytest.approx(len(ds.PixelData) / fragments, rel=0.01)
    assert ratio > 1.5
    # Acquired compressed (C.7.6.1.1.5): ORIGINAL image, same instance.
    assert back.ImageType[0] == "ORIGINAL"
    assert back.SOPInstanceUID == ds.SOPInstanceUID


def test_a_lossy_copy_can_be_labelled_derived(sources: dict[str, Dataset]) -> None:
    ds = sources["ct16"]
    first = encode(ds, "j2k", derived=True)
    assert first.ImageType[0] == "DERIVED"
    assert first.SOPInstanceUID != ds.SOPInstanceUID
    assert first.file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID
    assert "ratio" in first.DerivationDescription
    assert part10_bytes(first) == part10_bytes(encode(ds, "j2k", derived=True))


def test_a_second_lossy_step_appends_ratio_and_method(sources: dict[str, Dataset]) -> None:
    ds = copy.deepcopy(sources["gray8"])
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = "5"
    ds.LossyImageCompressionMethod = "ISO_14495_1"
    out = encode(ds, "jpeg-baseline")
    assert list(out.LossyImageCompressionMethod) == ["ISO_14495_1", "ISO_10918_1"]
    assert len(out.LossyImageCompressionRatio) == 2


def test_rgb_baseline_becomes_ybr_full_422(sources: dict[str, Dataset]) -> None:
    out = encode(sources["rgb8"], "jpeg-baseline")
    assert out.PhotometricInterpretation == "YBR_FULL_422"
    assert out.PlanarConfiguration == 0


def test_multi_frame_images_get_one_fragment_per_frame(sources: dict[str, Dataset]) -> None:
    for name in ("rle", "jpeg-ls-lossless", "j2k-lossless", "jpeg-baseline"):
        out = encode(sources["gray8x3"], name)
        assert len(list(generate_fragments(out.PixelData))) == 1 + 3, name  # offset table + one per frame


@pytest.mark.parametrize("name", sorted(TRANSFER_SYNTAXES))
def test_encoding_is_deterministic(name: str, sources: dict[str, Dataset]) -> None:
    ds = next((s for s in sources.values() if TRANSFER_SYNTAXES[name].supports(s)), None)
    assert ds is not None
    _need_tools(name)
    assert part10_bytes(encode(ds, name)) == part10_bytes(encode(ds, name))


@pytest.mark.parametrize(("name", "source", "reason"), [
    ("jpeg-baseline", "ct16", "Bits Allocated 16"),
    ("jpeg-extended", "rgb8", "Samples per Pixel 3"),
    ("jpeg-extended", "gray8x3", None),  # supported: a control for the row above
])
def test_unsupported_pixel_formats_are_refused_with_a_reason(name: str, source: str, reason: str | None,
                                                            sources: dict[str, Dataset]) -> None:
    if reason is None:
        assert TRANSFER_SYNTAXES[name].supports(sources[source])
        return
    with pytest.raises(UnsupportedPixelFormat, match=f"'{name}'.*{reason}") as raised:
        encode(sources[source], name)
    assert isinstance(raised.value, ValueError)


def test_signed_pixels_are_refused_by_baseline(sources: dict[str, Dataset]) -> None:
    ds = copy.deepcopy(sources["gray8"])
    ds.PixelRepresentation = 1
    with pytest.raises(UnsupportedPixelFormat, match="signed"):
        encode(ds, "jpeg-baseline")


def test_compressed_input_is_refused(sources: dict[str, Dataset]) -> None:
    rle = encode(sources["ct16"], "rle")
    with pytest.raises(UnsupportedPixelFormat, match="native little endian"):
        encode(rle, "j2k-lossless")


def test_unknown_names_list_the_known_ones(sources: dict[str, Dataset]) -> None:
    with pytest.raises(KeyError, match="jpeg-ls-lossless"):
        encode(sources["ct16"], "jpeg-xl")


def test_missing_dcmcjpeg_is_a_clear_error(sources: dict[str, Dataset], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transfer_module.shutil, "which", lambda _name: None)
    with pytest.raises(CodecUnavailable, match=r"jpeg-lossless-sv1.*dcmcjpeg.*dcmtk"):
        encode(sources["ct16"], "jpeg-lossless-sv1")
