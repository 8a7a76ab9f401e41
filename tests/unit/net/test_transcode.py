"""Transcoding to a syntax the peer accepted (PS3.5 10.1): pixels unchanged, the instance's identity unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from simulator.net.contexts import NATIVE_SYNTAXES, storage_contexts_for, storage_contexts_for_classes
from simulator.net.transcode import TranscodeFailed, transcode
from simulator.synth import build_ct_study
from simulator.synth.transfer import encode_study


@pytest.mark.parametrize("syntax", ["jpeg-ls-lossless", "j2k-lossless", "rle", "deflated-le", "explicit-le"])
@pytest.mark.parametrize("target", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_transcode_keeps_pixels_and_uids(syntax: str, target: str) -> None:
    (original,) = build_ct_study(5, series=1, instances=1, rows=32, columns=32).datasets
    (encoded,) = encode_study([original], syntax)
    out, record = transcode(encoded, target)
    assert str(out.file_meta.TransferSyntaxUID) == target
    assert str(out.SOPInstanceUID) == str(original.SOPInstanceUID)  # pydicom's decompress() would give a new one
    assert str(out.SOPClassUID) == str(original.SOPClassUID)
    assert np.array_equal(out.pixel_array, original.pixel_array)
    assert record.pixels_compared and record.source == str(encoded.file_meta.TransferSyntaxUID)
    assert str(encoded.file_meta.TransferSyntaxUID) != target or syntax == "explicit-le"
    assert "decoded pixels equal" in record.describe()


def test_transcode_reads_a_part10_file_and_leaves_the_caller_s_dataset_alone(tmp_path: Path) -> None:
    (original,) = build_ct_study(6, series=1, instances=1, rows=16, columns=16).datasets
    (encoded,) = encode_study([original], "jpeg-ls-lossless")
    path = tmp_path / "jls.dcm"
    encoded.save_as(path, enforce_file_format=True)
    out, _ = transcode(path, ImplicitVRLittleEndian)
    assert np.array_equal(out.pixel_array, original.pixel_array)
    before = encoded.file_meta.TransferSyntaxUID
    transcode(encoded, ExplicitVRLittleEndian)
    assert encoded.file_meta.TransferSyntaxUID == before  # a copy was transcoded


def test_undecodable_pixels_are_a_typed_error_naming_the_syntaxes() -> None:
    (original,) = build_ct_study(7, series=1, instances=1, rows=16, columns=16).datasets
    (encoded,) = encode_study([original], "jpeg-ls-lossless")
    encoded.PixelData = encoded.PixelData[:40] + b"\x00" * 16  # a broken codestream
    with pytest.raises(TranscodeFailed) as info:
        transcode(encoded, ExplicitVRLittleEndian)
    assert "JPEG-LS" in str(info.value) and "Explicit VR Little Endian" in str(info.value)


def test_big_endian_is_not_a_target() -> None:
    (original,) = build_ct_study(8, series=1, instances=1, rows=16, columns=16).datasets
    with pytest.raises(TranscodeFailed):
        transcode(original, "1.2.840.10008.1.2.2")


def test_contexts_propose_the_native_syntaxes_first_for_each_class() -> None:
    """A peer that accepts only the first context it sees for a SOP class (or judges each by whether it offers
    Implicit VR Little Endian, as CTN does) still accepts one every instance can travel in."""
    datasets = encode_study(build_ct_study(9, series=1, instances=2, rows=16, columns=16).datasets, "jpeg-ls-lossless")
    contexts = storage_contexts_for(datasets)
    assert [list(cx.transfer_syntax) for cx in contexts] == [list(NATIVE_SYNTAXES), ["1.2.840.10008.1.2.4.80"]]
    retrieve = storage_contexts_for_classes(["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"],
                                            ["1.2.840.10008.1.2.4.80", str(ExplicitVRLittleEndian)])
    first_per_class: dict[str, list[str]] = {}
    for cx in retrieve:
        first_per_class.setdefault(str(cx.abstract_syntax), list(cx.transfer_syntax))
    assert all(ImplicitVRLittleEndian in syntaxes for syntaxes in first_per_class.values())
