"""Basic Text SR Storage (PS3.3 A.35.1): a radiology report (TID 2000) that references the images of its study.

A generated "SR" study is realistic: every series index yields one CT image series (built by
:mod:`simulator.synth.iods.ct`) and one report series (Modality SR). Report ``i`` covers image series ``0..i``; a
report after the first amends its predecessor (Predecessor Documents Sequence), as when a radiologist adds an
addendum after a further acquisition. ``instances`` is the number of images per image series; each report series
holds one report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import UID, BasicTextSRStorage

from simulator.synth import modules
from simulator.synth.context import Randomness, SeriesContext, StudyContext
from simulator.synth.iods import ct
from simulator.synth.spec import BuildOptions, ModalitySpec, SeriesProfile

REPORT_SERIES_NUMBER = 900
"""Report series are numbered 900, 901 ... so they sort after the image series, as many PACS show them."""
IMAGE_SPEC = ct.SPEC

Code = tuple[str, str, str]
"""(Code Value, Coding Scheme Designator, Code Meaning): PS3.3 Table 8.8-1 Code Sequence Macro."""

DIAGNOSTIC_IMAGING_REPORT: Code = ("18748-4", "LN", "Diagnostic Imaging Report")
LANGUAGE_OF_CONTENT: Code = ("121049", "DCM", "Language of Content Item and Descendants")
ENGLISH_US: Code = ("en-US", "RFC5646", "English, United States")
OBSERVER_TYPE: Code = ("121005", "DCM", "Observer Type")
PERSON: Code = ("121006", "DCM", "Person")
PERSON_OBSERVER_NAME: Code = ("121008", "DCM", "Person Observer Name")
# CID 7001 Diagnostic Imaging Report Headings and CID 7002 Diagnostic Imaging Report Elements.
CLINICAL_INFORMATION: Code = ("55752-0", "LN", "Clinical Information")
HISTORY: Code = ("11329-0", "LN", "History")
CURRENT_PROCEDURE: Code = ("55111-9", "LN", "Current Procedure Descriptions")
PROCEDURE_DESCRIPTION: Code = ("121065", "DCM", "Procedure Description")
FINDINGS: Code = ("59776-5", "LN", "Findings")
FINDING: Code = ("121071", "DCM", "Finding")
IMPRESSIONS: Code = ("19005-8", "LN", "Impressions")
IMPRESSION: Code = ("121073", "DCM", "Impression")
# CID 7003 Diagnostic Imaging Report Purposes of Reference.
BEST_ILLUSTRATION: Code = ("121080", "DCM", "Best illustration of finding")

RADIOLOGISTS = ("Okafor^Adaeze^^Dr", "Lindqvist^Henrik^^Dr", "Moreau^Claire^^Dr", "Tanaka^Hiroshi^^Dr",
                "Novak^Petra^^Dr")

_FINDINGS: dict[str, tuple[str, ...]] = {
    "ABDOMEN": (
        "The liver is normal in size and attenuation without focal lesion.",
        "A 9 mm simple cyst is seen in the right hepatic lobe, unchanged in character.",
        "The gallbladder, pancreas and spleen are unremarkable.",
        "Both kidneys enhance symmetrically; no hydronephrosis or renal calculus.",
        "No free fluid or free intraperitoneal gas.",
        "The bowel is of normal calibre; no wall thickening.",
        "No enlarged retroperitoneal or mesenteric lymph nodes.",
        "Mild degenerative change of the lumbar spine.",
    ),
    "CHEST": (
        "The lungs are clear without consolidation or pleural effusion.",
        "A 4 mm solid nodule is seen in the right upper lobe.",
        "The heart is normal in size; no pericardial effusion.",
        "No mediastinal or hilar lymphadenopathy.",
    ),
}
_IMPRESSIONS: dict[str, tuple[str, ...]] = {
    "ABDOMEN": ("No acute intra-abdominal abnormality.", "Incidental simple hepatic cyst; no follow-up required.",
                "No evidence of metastatic disease in the abdomen."),
    "CHEST": ("No acute cardiopulmonary abnormality.", "Small pulmonary nodule; follow-up CT in 12 months."),
}
_HISTORY = ("Abdominal pain, query cause.", "Staging of known colorectal carcinoma.",
            "Weight loss and anaemia.", "Follow-up of previously reported lesion.")
_GENERIC_FINDINGS = ("No acute abnormality is identified.", "Appearances are within normal limits for age.")


@dataclass(frozen=True)
class ReportText:
    """The narrative of one report: what the radiologist was asked, did, saw and concluded."""

    history: str
    procedure: str
    findings: tuple[str, ...]
    impression: str
    radiologist: str

    def lines(self) -> list[str]:
        """The report as plain text lines (for the PDF rendering)."""
        out = ["CLINICAL INFORMATION", self.history, "", "PROCEDURE", self.procedure, "", "FINDINGS"]
        out += list(self.findings)
        out += ["", "IMPRESSION", self.impression, "", f"Reported by: {self.radiologist.replace('^', ' ').strip()}"]
        return out


def report_text(body_part: str, procedure: str, rnd: Randomness) -> ReportText:
    """Plausible report sentences for ``body_part``; every choice comes from ``rnd.meta``."""
    pool = _FINDINGS.get(body_part, _GENERIC_FINDINGS)
    findings = tuple(rnd.meta.sample(pool, k=min(len(pool), rnd.meta.randint(2, 4))))
    impression = rnd.meta.choice(_IMPRESSIONS.get(body_part, _GENERIC_FINDINGS))
    return ReportText(history=rnd.meta.choice(_HISTORY), procedure=procedure, findings=findings,
                      impression=impression, radiologist=rnd.meta.choice(RADIOLOGISTS))


def code_item(code: Code) -> Dataset:
    """One item of a code sequence (PS3.3 Table 8.8-1 Code Sequence Macro)."""
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code
    return item


def _content(relationship: str, value_type: str, concept: Code | None) -> Dataset:
    """A content item (C.17.3 Document Content Macro, Document Relationship Macro)."""
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    if concept is not None:
        item.ConceptNameCodeSequence = [code_item(concept)]
    return item


def text_item(relationship: str, concept: Code, text: str, children: Sequence[Dataset] = ()) -> Dataset:
    item = _content(relationship, "TEXT", concept)
    item.TextValue = text
    if children:
        item.ContentSequence = list(children)
    return item


def code_value_item(relationship: str, concept: Code, value: Code) -> Dataset:
    item = _content(relationship, "CODE", concept)
    item.ConceptCodeSequence = [code_item(value)]
    return item


def pname_item(relationship: str, concept: Code, name: str) -> Dataset:
    item = _content(relationship, "PNAME", concept)
    item.PersonName = name
    return item


def image_item(relationship: str, image: Dataset, purpose: Code | None = None) -> Dataset:
    """An IMAGE content item (C.18.4 Image Reference Macro) pointing at ``image``."""
    item = _content(relationship, "IMAGE", purpose)
    ref = Dataset()
    ref.ReferencedSOPClassUID = UID(str(image.SOPClassUID))
    ref.ReferencedSOPInstanceUID = UID(str(image.SOPInstanceUID))
    item.ReferencedSOPSequence = [ref]
    return item


def container_item(relationship: str, concept: Code, children: Sequence[Dataset]) -> Dataset:
    item = _content(relationship, "CONTAINER", concept)
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = list(children)
    return item


def evidence_sequence(study_uid: str, images: Sequence[Dataset]) -> list[Dataset]:
    """Hierarchical SOP Instance Reference Macro (PS3.3 Table C.17-3): images grouped by series."""
    by_series: dict[str, list[Dataset]] = {}
    for image in images:
        by_series.setdefault(str(image.SeriesInstanceUID), []).append(image)
    study_item = Dataset()
    study_item.StudyInstanceUID = UID(study_uid)
    study_item.ReferencedSeriesSequence = []
    for series_uid, members in by_series.items():
        series_item = Dataset()
        series_item.SeriesInstanceUID = UID(series_uid)
        series_item.ReferencedSOPSequence = []
        for image in members:
            ref = Dataset()
            ref.ReferencedSOPClassUID = UID(str(image.SOPClassUID))
            ref.ReferencedSOPInstanceUID = UID(str(image.SOPInstanceUID))
            series_item.ReferencedSOPSequence.append(ref)
        study_item.ReferencedSeriesSequence.append(series_item)
    return [study_item]


def report_time(study: StudyContext, index: int, rnd: Randomness) -> dt.datetime:
    """When report ``index`` was signed: 40 min to 6 h after the study, amendments a day or more later."""
    start = dt.datetime.combine(study.study_date, study.study_time)
    delay = dt.timedelta(minutes=rnd.meta.randint(40, 360)) + dt.timedelta(days=index, hours=index * 2)
    return start + delay


def report_uid(series: SeriesContext) -> UID:
    """The report's SOP Instance UID; derived from the series UID so it never collides with image UIDs."""
    return UID(series.study.uid("sr-report", series.series_instance_uid))


def sr_document_series(ds: Dataset, series: SeriesContext, when: dt.datetime) -> None:
    """SR Document Series (PS3.3 C.17.1)."""
    ds.Modality = "SR"
    ds.SeriesInstanceUID = UID(series.series_instance_uid)
    ds.SeriesNumber = series.series_number
    ds.SeriesDate = modules.da(when.date())
    ds.SeriesTime = modules.tm(when.time())
    ds.SeriesDescription = series.series_description
    ds.ReferencedPerformedProcedureStepSequence = []


def _referenced_request(study: StudyContext) -> Dataset:
    """One item of the Referenced Request Sequence (PS3.3 Table C.17-2, SR Document General)."""
    item = Dataset()
    item.StudyInstanceUID = UID(study.study_instance_uid)
    item.ReferencedStudySequence = []
    item.AccessionNumber = study.accession_number
    item.PlacerOrderNumberImagingServiceRequest = ""
    item.FillerOrderNumberImagingServiceRequest = study.accession_number
    item.RequestedProcedureID = study.requested_procedure_id or study.accession_number
    item.RequestedProcedureDescription = study.study_description
    item.RequestedProcedureCodeSequence = []
    return item


def build_report(images: list[Dataset], series: SeriesContext, rnd: Randomness, *,
                 predecessor: Dataset | None = None, when: dt.datetime | None = None) -> Dataset:
    """A Basic Text SR (PS3.3 A.35.1) diagnostic imaging report (TID 2000) on ``images``.

    Modules: Patient, General Study, Patient Study, SR Document Series (C.17.1), General Equipment,
    SR Document General (C.17.2), SR Document Content (C.17.3), SOP Common. ``images`` must be non-empty and of
    ``series.study``; up to three key images are referenced from the findings (INFERRED FROM) and every image is
    listed in the Current Requested Procedure Evidence Sequence. ``predecessor`` (an earlier report) makes this
    report an amendment of it.
    """
    if not images:
        raise ValueError("a report needs at least one image to reference")
    study = series.study
    when = when or report_time(study, 0, rnd)
    body_part = str(images[0].get("BodyPartExamined", series.body_part))
    text = report_text(body_part, study.study_description, rnd)
    sop_uid = report_uid(series)

    ds = modules.new_instance(BasicTextSRStorage, sop_uid)
    modules.sop_common(ds, study, BasicTextSRStorage, sop_uid, 1)
    ds.InstanceCreationDate = modules.da(when.date())
    ds.InstanceCreationTime = modules.tm(when.time())
    modules.patient(ds, study)
    modules.general_study(ds, study)
    sr_document_series(ds, series, when)
    modules.general_equipment(ds, study, "Synthetic Reporting")

    # SR Document General (C.17.2)
    ds.ContentDate = modules.da(when.date())
    ds.ContentTime = modules.tm(when.time())
    ds.PreliminaryFlag = "FINAL"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "VERIFIED"
    observer = Dataset()
    observer.VerifyingObserverName = text.radiologist
    observer.VerifyingObserverIdentificationCodeSequence = []
    observer.VerifyingOrganization = study.institution
    observer.VerificationDateTime = when.strftime("%Y%m%d%H%M%S")
    ds.VerifyingObserverSequence = [observer]
    ds.ReferencedRequestSequence = [_referenced_request(study)]
    # Type 2, left empty: a RIS's procedure codes are local (99...) and dciodvfy warns on every local scheme.
    ds.PerformedProcedureCodeSequence = []
    ds.CurrentRequestedProcedureEvidenceSequence = evidence_sequence(study.study_instance_uid, images)
    if predecessor is not None:
        ds.PredecessorDocumentsSequence = evidence_sequence(study.study_instance_uid, [predecessor])

    # SR Document Content (C.17.3), TID 2000 Basic Diagnostic Imaging Report
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [code_item(DIAGNOSTIC_IMAGING_REPORT)]
    ds.ContinuityOfContent = "SEPARATE"
    template = Dataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = "2000"
    ds.ContentTemplateSequence = [template]
    key_images = _key_images(images, rnd)
    finding_items = [
        text_item("CONTAINS", FINDING, sentence,
                  [image_item("INFERRED FROM", key_images[n], BEST_ILLUSTRATION)] if n < len(key_images) else [])
        for n, sentence in enumerate(text.findings)
    ]
    ds.ContentSequence = [
        code_value_item("HAS CONCEPT MOD", LANGUAGE_OF_CONTENT, ENGLISH_US),
        code_value_item("HAS OBS CONTEXT", OBSERVER_TYPE, PERSON),
        pname_item("HAS OBS CONTEXT", PERSON_OBSERVER_NAME, text.radiologist),
        container_item("CONTAINS", CLINICAL_INFORMATION, [text_item("CONTAINS", HISTORY, text.history)]),
        container_item("CONTAINS", CURRENT_PROCEDURE,
                       [text_item("CONTAINS", PROCEDURE_DESCRIPTION, text.procedure)]),
        container_item("CONTAINS", FINDINGS, finding_items),
        container_item("CONTAINS", IMPRESSIONS, [text_item("CONTAINS", IMPRESSION, text.impression)]),
    ]
    return ds


def _key_images(images: Sequence[Dataset], rnd: Randomness) -> list[Dataset]:
    """Up to three distinct images, in acquisition order."""
    picks = sorted(rnd.meta.sample(range(len(images)), k=min(3, len(images))))
    return [images[i] for i in picks]


def image_series_context(study: StudyContext, index: int) -> SeriesContext:
    """The CT image series ``index`` of an SR study; all image series share one Frame of Reference."""
    profile = IMAGE_SPEC.profile(index)
    return SeriesContext(
        study=study,
        index=index,
        modality=IMAGE_SPEC.modality,
        series_instance_uid=study.uid("sr-study-images", index),
        series_number=index + 1,
        series_description=profile.description,
        body_part=profile.body_part,
        protocol_name=profile.protocol,
        frame_of_reference_uid=study.uid("frame-of-reference"),
        laterality=profile.laterality,
    )


def _image_stub(series: SeriesContext, instance_index: int) -> Dataset:
    """The identity of an image built by an earlier call (its UIDs follow from the study), without pixels."""
    stub = Dataset()
    stub.SOPClassUID = UID(IMAGE_SPEC.sop_class_uid)
    stub.SOPInstanceUID = UID(series.instance_uid(instance_index))
    stub.SeriesInstanceUID = UID(series.series_instance_uid)
    stub.BodyPartExamined = series.body_part
    return stub


def build_series(series: SeriesContext, count: int, rnd: Randomness, options: BuildOptions) -> list[Dataset]:
    """Image series ``series.index`` (``count`` CT images) and the report on every image series so far."""
    study = series.study
    images_ctx = image_series_context(study, series.index)
    images = IMAGE_SPEC.build_series(images_ctx, count, Randomness(rnd.seed, f"SR-images-{series.index}"), options)
    earlier = [_image_stub(image_series_context(study, j), k) for j in range(series.index) for k in range(count)]
    report_ctx = dataclasses.replace(series, series_number=REPORT_SERIES_NUMBER + series.index)
    predecessor = _predecessor(series)
    report = build_report(earlier + images, report_ctx, rnd, predecessor=predecessor,
                          when=report_time(study, series.index, rnd))
    return [*images, report]


def _predecessor(series: SeriesContext) -> Dataset | None:
    """The previous report of this study, when the generator's series UIDs follow their usual derivation."""
    study = series.study
    if series.index == 0 or series.series_instance_uid != study.uid("series", series.index):
        return None
    previous = dataclasses.replace(series, index=series.index - 1,
                                   series_instance_uid=study.uid("series", series.index - 1))
    stub = Dataset()
    stub.SOPClassUID = UID(BasicTextSRStorage)
    stub.SOPInstanceUID = report_uid(previous)
    stub.SeriesInstanceUID = UID(previous.series_instance_uid)
    return stub


SPEC = ModalitySpec(
    code="SR",
    name="Basic Text SR",
    sop_class_uid=BasicTextSRStorage,
    modality="SR",
    study_description=IMAGE_SPEC.study_description,
    profiles=(
        SeriesProfile("Radiology Report", "ABDOMEN", "Report"),
        SeriesProfile("Radiology Report Addendum", "ABDOMEN", "Report"),
    ),
    build_series=build_series,
    default_series=1,
    default_instances=16,
    has_pixels=False,
    shares_frame_of_reference=False,
)
