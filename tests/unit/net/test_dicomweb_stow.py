"""STOW-RS response parsing (PS3.18 10.5.3) and the DICOMweb error text; no sockets."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset

from simulator.errors import ConfigError, DicomWebFailure, NetworkError
from simulator.net.dicomweb import DicomWebClient, StowOutcome, _part10_view, parse_stow_response, stow_reason
from simulator.synth import generate_study

CT = "1.2.840.10008.5.1.4.1.1.2"


def _item(uid: str, **extra: Any) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = CT
    item.ReferencedSOPInstanceUID = uid
    for keyword, value in extra.items():
        setattr(item, keyword, value)
    return item


def _module(referenced: list[Dataset], failed: list[Dataset] | None = None) -> Dataset:
    ds = Dataset()
    ds.RetrieveURL = "http://pacs/dicom-web/studies/1.2.3"
    ds.ReferencedSOPSequence = referenced
    if failed is not None:
        ds.FailedSOPSequence = failed
    return ds


def test_all_referenced_is_ok_and_200_conforms() -> None:
    module = _module([_item("1.2.3.1", RetrieveURL="http://pacs/i/1"), _item("1.2.3.2")])
    outcome = parse_stow_response(module, ["1.2.3.1", "1.2.3.2"], http_status=200, reason="OK")
    assert outcome.ok and not outcome.failed and not outcome.unreported
    assert [i.sop_instance_uid for i in outcome.stored] == ["1.2.3.1", "1.2.3.2"]
    assert [(i.status, i.meaning) for i in outcome.instances] == [(0, "Success"), (0, "Success")]
    assert outcome.instances[0].retrieve_url == "http://pacs/i/1"
    assert outcome.instances[1].retrieve_url is None
    assert outcome.retrieve_url == "http://pacs/dicom-web/studies/1.2.3"
    assert outcome.http_status_conforms


def test_failure_and_warning_reasons_become_statuses_with_meanings() -> None:
    module = _module([_item("1.2.3.1", WarningReason=0xB000)],
                     [_item("1.2.3.2", FailureReason=0xA900), _item("1.2.3.3", FailureReason=0xC122)])
    outcome = parse_stow_response(module, ["1.2.3.1", "1.2.3.2", "1.2.3.3"], http_status=202)
    assert not outcome.ok
    assert [i.sop_instance_uid for i in outcome.stored] == ["1.2.3.1"]
    assert [i.sop_instance_uid for i in outcome.warnings] == ["1.2.3.1"]
    assert {i.sop_instance_uid: i.status for i in outcome.failed} == {"1.2.3.2": 0xA900, "1.2.3.3": 0xC122}
    first = outcome.status_of("1.2.3.1")
    assert first is not None and first.meaning == "Coercion of Data Elements"
    third = outcome.status_of("1.2.3.3")
    assert third is not None and third.meaning == "Referenced Transfer Syntax not supported"
    assert outcome.status_of("9.9") is None
    assert outcome.http_status_conforms  # 202: some stored, others failed (PS3.18 Table 10.5.3-1)


def test_failed_item_without_reason_is_a_processing_failure() -> None:
    outcome = parse_stow_response(_module([], [_item("1.2.3.1")]), ["1.2.3.1"], http_status=409)
    assert outcome.failed[0].status == 0x0110
    assert outcome.failed[0].meaning == stow_reason(0x0110)
    assert outcome.expected_http_statuses == (400, 409)
    assert outcome.http_status_conforms


def test_instances_the_response_does_not_name_are_unreported() -> None:
    outcome = parse_stow_response(_module([_item("1.2.3.1")]), ["1.2.3.1", "1.2.3.2"], http_status=200)
    assert outcome.unreported == ("1.2.3.2",)
    assert not outcome.ok
    assert outcome.expected_http_statuses == (202,)
    assert not outcome.http_status_conforms


def test_empty_response_reports_every_sent_instance_as_unreported() -> None:
    outcome = parse_stow_response(Dataset(), ["1.2.3.1"], http_status=200)
    assert outcome.instances == () and outcome.unreported == ("1.2.3.1",)
    assert outcome.retrieve_url is None
    assert not outcome.ok


def test_partial_store_answered_409_does_not_conform() -> None:
    # What Orthanc 1.10.1 with DICOMweb 1.7 answers when one of two instances is refused.
    module = _module([_item("1.2.3.1")], [_item("1.2.3.2", FailureReason=0x0110)])
    outcome = parse_stow_response(module, ["1.2.3.1", "1.2.3.2"], http_status=409, reason="Conflict")
    assert outcome.expected_http_statuses == (202,)
    assert not outcome.http_status_conforms


def test_warnings_only_allow_200_or_202() -> None:
    outcome = StowOutcome(200, "OK", parse_stow_response(
        _module([_item("1.2.3.1", WarningReason=0xB006)]), ["1.2.3.1"], http_status=200).instances)
    assert outcome.ok and outcome.expected_http_statuses == (200, 202)


def test_failure_message_names_method_url_status_and_body() -> None:
    body = '{\n  "Message" : "Accessing an inexistent item",\n  "HttpStatus" : 404\n}' + " x" * 400
    error = DicomWebFailure("GET", "http://127.0.0.1:1/dicom-web/studies/1.2", 404, "Not Found", body=body,
                            hint="check the UIDs")
    text = str(error)
    assert text.startswith("DICOMweb GET http://127.0.0.1:1/dicom-web/studies/1.2 answered HTTP 404 Not Found: {")
    assert '"Message" : "Accessing an inexistent item"' in text  # whitespace collapsed
    assert text.endswith("; check the UIDs")
    assert len(error.body) == 300
    assert (error.method, error.status, error.reason) == ("GET", 404, "Not Found")
    assert isinstance(error, NetworkError)


def test_unreachable_message_names_the_url() -> None:
    error = DicomWebFailure("POST", "http://127.0.0.1:9/dicom-web/studies", None, "connection refused")
    assert error.status is None
    assert str(error).startswith("cannot reach the DICOMweb service at http://127.0.0.1:9/dicom-web/studies: "
                                 "POST failed (connection refused)")


@pytest.mark.parametrize("url", ["ftp://host/dicom-web", "127.0.0.1:8042/dicom-web", "http:///dicom-web", ""])
def test_a_url_that_is_not_http_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="not an http:// or https:// URL"):
        DicomWebClient(url, node="WS1")


def test_store_refuses_datasets_without_file_meta() -> None:
    ds = Dataset()
    ds.SOPInstanceUID = "1.2.3.4"
    with pytest.raises(ValueError, match=r"1\.2\.3\.4 has no File Meta Information"):
        DicomWebClient("http://127.0.0.1:9/dicom-web", node="WS1").store([ds])
    with pytest.raises(ValueError, match="at least one"):
        DicomWebClient("http://127.0.0.1:9/dicom-web", node="WS1").store([])


def test_parts_are_ps310_files_and_the_caller_dataset_is_untouched() -> None:
    ds = generate_study("CT", 3, series=1, instances=1).datasets[0]
    buffer = BytesIO()
    pydicom.dcmwrite(buffer, _part10_view(ds))  # as dicomweb-client writes each STOW-RS part
    data = buffer.getvalue()
    assert data[128:132] == b"DICM"  # PS3.10 7.1: preamble and prefix
    assert pydicom.dcmread(BytesIO(data)).SOPInstanceUID == ds.SOPInstanceUID
    assert getattr(ds, "preamble", None) is None
