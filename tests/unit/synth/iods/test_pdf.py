"""Encapsulated PDF studies: a valid hand-built PDF inside a complete Encapsulated PDF IOD."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import EncapsulatedPDFStorage

from simulator.synth.context import Randomness, SeriesContext, make_study_context
from simulator.synth.generate import generate_study
from simulator.synth.iods import pdf
from simulator.synth.patients import make_patient
from simulator.synth.study import Study
from tests.unit.synth.helpers import part10_bytes


def _document(ds: Dataset) -> bytes:
    return bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)]


def assert_valid_pdf(document: bytes) -> None:
    """Header, trailer, and a cross-reference table whose every offset points at its ``N 0 obj``."""
    assert document.startswith(b"%PDF-1.4\n")
    assert document.endswith(b"%%EOF\n")
    startxref = int(re.findall(rb"startxref\n(\d+)\n%%EOF", document)[-1])
    assert document[startxref:].startswith(b"xref\n")
    header = re.match(rb"xref\n0 (\d+)\n", document[startxref:])
    assert header is not None
    size = int(header.group(1))
    table = document[startxref + header.end():]
    entries = [table[i * 20:(i + 1) * 20] for i in range(size)]
    assert entries[0] == b"0000000000 65535 f \n"
    for number, entry in enumerate(entries[1:], start=1):
        assert len(entry) == 20 and entry.endswith(b" n \n"), entry
        offset = int(entry[:10])
        assert document[offset:].startswith(f"{number} 0 obj\n".encode()), (number, offset)
    trailer = table[size * 20:]
    assert trailer.startswith(b"trailer\n")
    assert f"/Size {size}".encode() in trailer and b"/Root 1 0 R" in trailer
    stream = re.search(rb"<< /Length (\d+) >>\nstream\n", document)
    assert stream is not None
    end = stream.end() + int(stream.group(1))
    assert document[end:].startswith(b"endstream")


@pytest.fixture(scope="module")
def study() -> Study:
    return generate_study(pdf.SPEC, 8, series=2, instances=3)


def test_structure(study: Study) -> None:
    assert len(study) == 6
    assert len(study.series_instance_uids) == 2
    for ds in study:
        assert ds.SOPClassUID == EncapsulatedPDFStorage == ds.file_meta.MediaStorageSOPClassUID
        assert ds.Modality == "DOC"
        assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
        assert ds.BurnedInAnnotation == "YES"
        assert ds.ConversionType == "WSD"
        assert "PixelData" not in ds and "FrameOfReferenceUID" not in ds
        assert ds.DocumentTitle
        assert ds.ContentDate >= ds.StudyDate
    titles = [ds.DocumentTitle for ds in study][:3]
    assert titles == ["Radiology Report", "Imaging Request", "Contrast Consent Form"]
    report = study.datasets[0]
    assert report.ConceptNameCodeSequence[0].CodeValue == "18748-4"
    assert [int(ds.InstanceNumber) for ds in study][:3] == [1, 2, 3]
    assert len(set(study.sop_instance_uids)) == 6


def test_encapsulated_document_is_even_and_a_valid_pdf(study: Study) -> None:
    for ds in study:
        value = bytes(ds.EncapsulatedDocument)
        assert len(value) % 2 == 0
        document = _document(ds)
        assert len(value) - len(document) in (0, 1)
        assert value[len(document):] in (b"", b"\0")
        assert_valid_pdf(document)


def test_report_pdf_shows_patient_and_findings(study: Study) -> None:
    ds = study.datasets[0]
    document = _document(ds)
    assert ds.PatientID.encode() in document
    assert b"(FINDINGS) Tj" in document and b"(IMPRESSION) Tj" in document
    assert ds.AccessionNumber.encode() in document


def test_text_is_escaped_and_odd_lengths_are_padded() -> None:
    context = make_study_context(2, make_patient(2), description="CT Abdomen")
    series = SeriesContext(study=context, index=0, modality="DOC", series_instance_uid=context.uid("s"),
                           series_number=1, series_description="Report", body_part="ABDOMEN",
                           protocol_name="Report", frame_of_reference_uid=context.uid("f"))
    for extra in ("", "x"):
        ds = pdf.build_pdf_document(series, Randomness(2, "doc"), f"Back\\slash (paren) café {extra}")
        document = _document(ds)
        assert_valid_pdf(document)
        assert b"Back\\\\slash \\(paren\\) caf\xe9" in document
        assert len(bytes(ds.EncapsulatedDocument)) % 2 == 0


def test_long_text_is_wrapped_and_clipped_to_one_page() -> None:
    lines = ["word " * 400] + [f"line {n}" for n in range(200)]
    document = pdf.make_pdf("T", lines, created=dt.datetime(2025, 1, 2, 3, 4, 5))
    assert_valid_pdf(document)
    assert document.count(b"/Type /Page ") == 1
    assert max(len(m) for m in re.findall(rb"\((.*?)\) Tj", document)) <= pdf.WRAP
    assert b"(D:20250102030405)" in document


def test_same_seed_gives_identical_bytes(study: Study) -> None:
    again = generate_study(pdf.SPEC, 8, series=2, instances=3)
    assert [part10_bytes(ds) for ds in again] == [part10_bytes(ds) for ds in study]
    other = generate_study(pdf.SPEC, 9, series=2, instances=3)
    assert _document(other.datasets[0]) != _document(study.datasets[0])


def test_reads_back(study: Study) -> None:
    back = dcmread(io.BytesIO(part10_bytes(study.datasets[0])))
    assert _document(back) == _document(study.datasets[0])
    assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"


def test_defaults() -> None:
    assert pdf.SPEC.code == "DOC" and pdf.SPEC.modality == "DOC"
    assert pdf.SPEC.sop_class_uid == EncapsulatedPDFStorage
    assert len(generate_study(pdf.SPEC, 1)) == 1
