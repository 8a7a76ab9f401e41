"""compare_instances: what a workstation got back versus what the modality sent."""

from __future__ import annotations

import copy

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian, RLELossless

from simulator.nodes.workstation import KEY_ATTRIBUTES, compare_instances, identifier
from simulator.synth import build_ct_study


@pytest.fixture
def sent() -> list[Dataset]:
    return build_ct_study(12, series=1, instances=3, rows=8, columns=8).datasets


def _received(sent: list[Dataset]) -> dict[str, Dataset]:
    return {str(ds.SOPInstanceUID): copy.deepcopy(ds) for ds in sent}


def test_identical_gives_no_differences(sent: list[Dataset]) -> None:
    received = _received(sent)
    assert compare_instances(sent, received) == []
    assert compare_instances(sent, received, {uid: 1 for uid in received}) == []


def test_extra_received_instances_are_not_differences(sent: list[Dataset]) -> None:
    received = _received(sent)
    other = build_ct_study(13, instances=1, rows=8, columns=8).datasets[0]
    received[str(other.SOPInstanceUID)] = other
    assert compare_instances(sent, received) == []


def test_missing_instance(sent: list[Dataset]) -> None:
    received = _received(sent)
    missing = str(sent[1].SOPInstanceUID)
    del received[missing]
    assert compare_instances(sent, received) == [f"{missing}: not received"]


def test_nothing_received_names_every_instance(sent: list[Dataset]) -> None:
    problems = compare_instances(sent, {})
    assert problems == [f"{ds.SOPInstanceUID}: not received" for ds in sent]


def test_changed_patient_name(sent: list[Dataset]) -> None:
    received = _received(sent)
    uid = str(sent[0].SOPInstanceUID)
    received[uid].PatientName = "Changed^Name"
    problems = compare_instances(sent, received)
    assert len(problems) == 1
    assert problems[0].startswith(f"{uid}: PatientName sent ")
    assert str(sent[0].PatientName) in problems[0]
    assert "Changed^Name" in problems[0]


@pytest.mark.parametrize("keyword", KEY_ATTRIBUTES)
def test_every_key_attribute_is_compared(sent: list[Dataset], keyword: str) -> None:
    received = _received(sent)
    uid = str(sent[2].SOPInstanceUID)
    del received[uid][keyword]
    problems = compare_instances(sent, received)
    assert problems == [f"{uid}: {keyword} sent {sent[2].get(keyword)!r}, received None"]


def test_changed_pixel_byte(sent: list[Dataset]) -> None:
    received = _received(sent)
    uid = str(sent[0].SOPInstanceUID)
    pixels = bytearray(received[uid].PixelData)
    pixels[len(pixels) // 2] ^= 0x01
    received[uid].PixelData = bytes(pixels)
    assert compare_instances(sent, received) == [f"{uid}: Pixel Data differs (SHA-256 of the value)"]


def test_missing_pixel_data(sent: list[Dataset]) -> None:
    received = _received(sent)
    uid = str(sent[0].SOPInstanceUID)
    del received[uid].PixelData
    assert compare_instances(sent, received) == [f"{uid}: Pixel Data missing"]


def test_delivered_twice(sent: list[Dataset]) -> None:
    received = _received(sent)
    uid = str(sent[2].SOPInstanceUID)
    deliveries = {str(ds.SOPInstanceUID): 1 for ds in sent}
    deliveries[uid] = 2
    assert compare_instances(sent, received, deliveries) == [f"{uid}: received 2 times"]


def test_all_problems_are_listed(sent: list[Dataset]) -> None:
    received = _received(sent)
    first, second, third = (str(ds.SOPInstanceUID) for ds in sent)
    del received[first]
    received[second].PatientID = "OTHER"
    received[third].PixelData = bytes(len(received[third].PixelData))
    problems = compare_instances(sent, received, {second: 3, third: 1})
    assert problems[0] == f"{first}: not received"
    assert problems[1] == f"{second}: received 3 times"
    assert problems[2].startswith(f"{second}: PatientID sent ")
    assert problems[3] == f"{third}: Pixel Data differs (SHA-256 of the value)"
    assert len(problems) == 4


def test_other_uncompressed_syntax_compares_raw_bytes(sent: list[Dataset]) -> None:
    received = _received(sent)
    for ds in received.values():
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    assert compare_instances(sent, received) == []


def test_compressed_copy_is_compared_after_decoding(sent: list[Dataset]) -> None:
    pytest.importorskip("numpy")
    received = _received(sent)
    uid = str(sent[0].SOPInstanceUID)
    ds = received[uid]
    try:
        ds.compress(RLELossless)
    except Exception as exc:  # pragma: no cover - depends on the installed encoders
        pytest.skip(f"RLE encoder unavailable: {exc}")
    assert ds.file_meta.TransferSyntaxUID == RLELossless
    assert compare_instances(sent, received) == []  # same pixels, different encoding
    changed = copy.deepcopy(sent[0])
    array = changed.pixel_array.copy()
    array[0, 0] += 1
    changed.PixelData = array.tobytes()
    changed.compress(RLELossless)
    received[uid] = changed
    assert compare_instances(sent, received) == [f"{uid}: decoded pixels differ"]


def test_identifier_sets_level_and_return_keys() -> None:
    ds = identifier("study", {"PatientID": "P1", "StudyInstanceUID": None})
    assert ds.QueryRetrieveLevel == "STUDY"
    assert ds.PatientID == "P1"
    assert ds.StudyInstanceUID == ""
