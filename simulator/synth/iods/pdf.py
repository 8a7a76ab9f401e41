"""Encapsulated PDF Storage (PS3.3 A.45.1): a radiology report as a hand-built one-page PDF 1.4.

A generated "DOC" study holds one document series per series index (Modality DOC); ``instances`` is the number of
documents in it: the radiology report first, then the scanned request and consent forms a RIS attaches.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from pydicom.dataset import Dataset
from pydicom.uid import UID, EncapsulatedPDFStorage

from simulator.synth import modules
from simulator.synth.context import Randomness, SeriesContext, StudyContext
from simulator.synth.iods import sr
from simulator.synth.spec import BuildOptions, ModalitySpec, SeriesProfile

MIME_TYPE = "application/pdf"
PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN, LEADING, FONT_SIZE = 56, 14, 10
WRAP = 92  # characters per line at 10 pt Helvetica within the margins

DOCUMENT_KINDS: tuple[tuple[str, sr.Code | None], ...] = (
    ("Radiology Report", sr.DIAGNOSTIC_IMAGING_REPORT),
    ("Imaging Request", None),
    ("Contrast Consent Form", None),
)
"""Document Title and Concept Name (Type 2: empty when no standard code fits) of document 0, 1, 2 ..."""


def _escape(text: str) -> bytes:
    """A PDF literal string body (ISO 32000-1 7.3.4.2) in WinAnsiEncoding; unmappable characters become '?'."""
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _wrap(line: str, width: int = WRAP) -> list[str]:
    out: list[str] = []
    current = ""
    for word in line.split():
        if current and len(current) + 1 + len(word) > width:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    out.append(current)
    return out


def make_pdf(title: str, lines: Sequence[str], *, created: dt.datetime, author: str = "radsim") -> bytes:
    """A valid single-page PDF 1.4 (ISO 32000-1 7.5: header, body, cross-reference table, trailer).

    Text is set in the standard Type 1 font Helvetica; the xref offsets point at each ``N 0 obj``. Deterministic:
    the creation date comes from ``created`` and the file ID from the content.
    """
    body_lines = [wrapped for line in lines for wrapped in (_wrap(line) if line else [""])]
    max_lines = (PAGE_HEIGHT - 2 * MARGIN) // LEADING - 2
    body_lines = body_lines[:max_lines]
    text = [b"BT", b"/F2 14 Tf", f"{MARGIN} {PAGE_HEIGHT - MARGIN} Td".encode(), b"(" + _escape(title) + b") Tj",
            f"/F1 {FONT_SIZE} Tf".encode(), f"{LEADING} TL".encode(), b"T*"]
    for line in body_lines:
        text.append(b"T* (" + _escape(line) + b") Tj")
    text.append(b"ET")
    stream = b"\n".join(text) + b"\n"
    stamp = created.strftime("D:%Y%m%d%H%M%S")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
         "/Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> /Contents 4 0 R >>").encode(),
        f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Title (" + _escape(title) + b") /Author (" + _escape(author) + b") /Producer (radsim) "
        + f"/CreationDate ({stamp}) /ModDate ({stamp}) >>".encode(),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode() + b"0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    file_id = hashlib.md5(bytes(out), usedforsecurity=False).hexdigest().upper()  # ISO 32000-1 14.4
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 7 0 R /ID [<{file_id}> <{file_id}>] >>\n"
            f"startxref\n{xref_at}\n%%EOF\n").encode()
    return bytes(out)


def encapsulated_document_series(ds: Dataset, series: SeriesContext) -> None:
    """Encapsulated Document Series (PS3.3 C.24.1)."""
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = UID(series.series_instance_uid)
    ds.SeriesNumber = series.series_number
    ds.SeriesDescription = series.series_description


def sc_equipment(ds: Dataset, model: str) -> None:
    """SC Equipment (PS3.3 C.8.6.1): a document produced on a workstation."""
    ds.ConversionType = "WSD"
    ds.SecondaryCaptureDeviceManufacturer = modules.MANUFACTURER
    ds.SecondaryCaptureDeviceManufacturerModelName = model
    ds.SecondaryCaptureDeviceSoftwareVersions = "0.1"


def document_time(study: StudyContext, rnd: Randomness) -> dt.datetime:
    """When the document was produced: 40 min to 6 h after the study started."""
    return dt.datetime.combine(study.study_date, study.study_time) + dt.timedelta(minutes=rnd.meta.randint(40, 360))


def build_pdf_document(series: SeriesContext, rnd: Randomness, text: str | Sequence[str], *,
                       title: str = "Radiology Report", concept: sr.Code | None = sr.DIAGNOSTIC_IMAGING_REPORT,
                       instance_index: int = 0, when: dt.datetime | None = None) -> Dataset:
    """An Encapsulated PDF instance (PS3.3 A.45.1) holding ``text`` (a string or lines) as a one-page PDF.

    Modules: Patient, General Study, Patient Study, Encapsulated Document Series (C.24.1), General Equipment,
    SC Equipment (C.8.6.1), Encapsulated Document (C.24.2), SOP Common. The page shows the patient's name and ID,
    so Burned In Annotation is YES.
    """
    study = series.study
    when = when or document_time(study, rnd)
    patient = study.patient
    header = [f"Patient: {patient.family_name}, {patient.given_name}  |  ID: {patient.patient_id}  |  "
              f"Born: {patient.birth_date.isoformat()}",
              f"Accession: {study.accession_number}  |  Study: {study.study_description}  |  "
              f"Date: {study.study_date.isoformat()}",
              f"{study.institution}", ""]
    lines = text.splitlines() if isinstance(text, str) else list(text)
    document = make_pdf(title, header + lines, created=when)

    sop_uid = UID(series.instance_uid(instance_index))
    ds = modules.new_instance(EncapsulatedPDFStorage, sop_uid)
    modules.sop_common(ds, study, EncapsulatedPDFStorage, sop_uid, instance_index + 1)
    ds.InstanceCreationDate = modules.da(when.date())
    ds.InstanceCreationTime = modules.tm(when.time())
    modules.patient(ds, study)
    modules.general_study(ds, study)
    encapsulated_document_series(ds, series)
    modules.general_equipment(ds, study, "Synthetic Reporting")
    sc_equipment(ds, "Synthetic Reporting")
    # Encapsulated Document (C.24.2)
    ds.ContentDate = modules.da(when.date())
    ds.ContentTime = modules.tm(when.time())
    ds.AcquisitionDateTime = when.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"
    ds.RecognizableVisualFeatures = "NO"
    ds.DocumentTitle = title
    ds.ConceptNameCodeSequence = [sr.code_item(concept)] if concept else []
    ds.VerificationFlag = "VERIFIED"
    ds.MIMETypeOfEncapsulatedDocument = MIME_TYPE
    ds.EncapsulatedDocumentLength = len(document)
    ds.EncapsulatedDocument = document + b"\0" * (len(document) % 2)
    return ds


def _document_lines(kind: int, series: SeriesContext, rnd: Randomness) -> list[str]:
    study = series.study
    report = sr.report_text(series.body_part, study.study_description, rnd)
    if kind == 0:
        return report.lines()
    if kind == 1:
        return ["Requested examination: " + study.study_description, "Clinical question: " + report.history,
                f"Referring physician: {study.referring_physician.replace('^', ' ')}", "Priority: routine"]
    return ["The patient was informed about the intravenous iodinated contrast medium, its benefits and risks.",
            "No previous reaction to contrast medium. Renal function checked.", "",
            "Signed by the patient and the radiographer."]


def build_series(series: SeriesContext, count: int, rnd: Randomness, options: BuildOptions) -> list[Dataset]:
    """``count`` PDF documents in one DOC series: the report first, then request and consent forms."""
    start = document_time(series.study, rnd)
    out = []
    for index in range(count):
        title, concept = DOCUMENT_KINDS[index % len(DOCUMENT_KINDS)]
        lines = _document_lines(index % len(DOCUMENT_KINDS), series, rnd)
        out.append(build_pdf_document(series, rnd, lines, title=title, concept=concept, instance_index=index,
                                      when=start + dt.timedelta(minutes=index)))
    return out


SPEC = ModalitySpec(
    code="DOC",
    name="Encapsulated PDF",
    sop_class_uid=EncapsulatedPDFStorage,
    modality="DOC",
    study_description="CT Abdomen",
    profiles=(
        SeriesProfile("Radiology Report PDF", "ABDOMEN", "Report"),
        SeriesProfile("Scanned Documents", "ABDOMEN", "Documents"),
    ),
    build_series=build_series,
    default_series=1,
    default_instances=1,
    has_pixels=False,
    shares_frame_of_reference=False,
)
