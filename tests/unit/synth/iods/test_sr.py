"""Basic Text SR studies: a report tree that references images which exist in the same study."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import BasicTextSRStorage, CTImageStorage

from simulator.synth.context import Randomness, make_study_context
from simulator.synth.generate import generate_study
from simulator.synth.iods import ct, sr
from simulator.synth.patients import make_patient
from simulator.synth.spec import BuildOptions
from simulator.synth.study import Study
from tests.unit.synth.helpers import part10_bytes

SMALL = BuildOptions(rows=64, columns=48)



def _walk(items: list[Dataset], depth: int = 1) -> Iterator[tuple[int, Dataset]]:
    for item in items:
        yield depth, item
        yield from _walk(list(item.get("ContentSequence", [])), depth + 1)


def _reports(study: Study) -> list[Dataset]:
    return [ds for ds in study if ds.Modality == "SR"]


def _images(study: Study) -> list[Dataset]:
    return [ds for ds in study if ds.Modality != "SR"]


@pytest.fixture(scope="module")
def study() -> Study:
    return generate_study(sr.SPEC, 11, series=2, instances=3, options=SMALL)


def test_study_holds_image_series_and_report_series(study: Study) -> None:
    assert len(_images(study)) == 6
    assert len(_reports(study)) == 2
    assert len(study.series_instance_uids) == 4
    assert {ds.StudyInstanceUID for ds in study} == {study.study_instance_uid}
    for ds in _images(study):
        assert ds.SOPClassUID == CTImageStorage and ds.Modality == "CT"
    for ds in _reports(study):
        assert ds.SOPClassUID == BasicTextSRStorage
        assert ds.file_meta.MediaStorageSOPClassUID == BasicTextSRStorage
    numbers = [int(ds.SeriesNumber) for ds in study]
    assert sorted({int(ds.SeriesNumber) for ds in _images(study)}) == [1, 2]
    assert sorted({int(ds.SeriesNumber) for ds in _reports(study)}) == [900, 901]
    assert len(set(numbers)) == 4
    assert len(set(study.sop_instance_uids)) == len(study)


def test_images_share_one_frame_of_reference(study: Study) -> None:
    assert len({ds.FrameOfReferenceUID for ds in _images(study)}) == 1
    assert all("FrameOfReferenceUID" not in ds for ds in _reports(study))


def test_every_referenced_instance_exists_in_the_study(study: Study) -> None:
    by_uid = {str(ds.SOPInstanceUID): ds for ds in study}
    for report in _reports(study):
        refs: list[tuple[str, str]] = []
        for _, item in _walk(list(report.ContentSequence)):
            for ref in item.get("ReferencedSOPSequence", []):
                refs.append((str(ref.ReferencedSOPClassUID), str(ref.ReferencedSOPInstanceUID)))
        evidence = report.CurrentRequestedProcedureEvidenceSequence
        assert [str(e.StudyInstanceUID) for e in evidence] == [study.study_instance_uid]
        for series_item in evidence[0].ReferencedSeriesSequence:
            for ref in series_item.ReferencedSOPSequence:
                target = by_uid[str(ref.ReferencedSOPInstanceUID)]
                assert str(target.SeriesInstanceUID) == str(series_item.SeriesInstanceUID)
                refs.append((str(ref.ReferencedSOPClassUID), str(ref.ReferencedSOPInstanceUID)))
        for item in report.get("PredecessorDocumentsSequence", []):
            for series_item in item.ReferencedSeriesSequence:
                for ref in series_item.ReferencedSOPSequence:
                    refs.append((str(ref.ReferencedSOPClassUID), str(ref.ReferencedSOPInstanceUID)))
        assert refs
        for sop_class, sop_instance in refs:
            assert sop_instance in by_uid, sop_instance
            assert str(by_uid[sop_instance].SOPClassUID) == sop_class


def test_reports_cover_image_series_so_far_and_amend_their_predecessor(study: Study) -> None:
    first, second = _reports(study)
    image_series = list(dict.fromkeys(str(ds.SeriesInstanceUID) for ds in _images(study)))

    def evidence(report: Dataset) -> list[Dataset]:
        return list(report.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence)

    def covered(report: Dataset) -> list[str]:
        return [str(s.SeriesInstanceUID) for s in evidence(report)]

    assert covered(first) == image_series[:1]
    assert covered(second) == image_series
    assert sum(len(s.ReferencedSOPSequence) for s in evidence(second)) == 6
    assert "PredecessorDocumentsSequence" not in first
    predecessor = second.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert predecessor.ReferencedSOPInstanceUID == first.SOPInstanceUID
    assert (second.ContentDate, second.ContentTime) > (first.ContentDate, first.ContentTime)


def test_sr_document_general_module(study: Study) -> None:
    for report in _reports(study):
        assert report.CompletionFlag == "COMPLETE"
        assert report.VerificationFlag == "VERIFIED"
        assert report.VerifyingObserverSequence[0].VerifyingObserverName
        assert "PerformedProcedureCodeSequence" in report  # Type 2
        assert report.ReferencedRequestSequence[0].AccessionNumber == report.AccessionNumber
        created = (report.ContentDate, report.ContentTime)
        assert created == (report.InstanceCreationDate, report.InstanceCreationTime)
        assert created > (report.StudyDate, report.StudyTime)
        assert report.ContentDate >= report.StudyDate


def test_content_tree_follows_basic_text_sr_and_tid_2000(study: Study) -> None:
    report = _reports(study)[0]
    assert report.ValueType == "CONTAINER"
    assert report.ContinuityOfContent == "SEPARATE"
    assert report.ConceptNameCodeSequence[0].CodeValue == "18748-4"
    assert report.ConceptNameCodeSequence[0].CodingSchemeDesignator == "LN"
    assert report.ContentTemplateSequence[0].TemplateIdentifier == "2000"
    sections = {item.ConceptNameCodeSequence[0].CodeMeaning: item for item in report.ContentSequence
                if item.ValueType == "CONTAINER"}
    assert {"Findings", "Impressions"} <= set(sections)
    findings = sections["Findings"].ContentSequence
    assert all(f.ValueType == "TEXT" and f.ConceptNameCodeSequence[0].CodeValue == "121071" for f in findings)
    assert sections["Impressions"].ContentSequence[0].ConceptNameCodeSequence[0].CodeValue == "121073"
    allowed = {  # PS3.3 Table A.35.1-2, by-value only
        ("CONTAINER", "CONTAINS"): {"TEXT", "CODE", "DATETIME", "DATE", "TIME", "UIDREF", "PNAME", "COMPOSITE",
                                    "IMAGE", "WAVEFORM", "CONTAINER"},
        ("CONTAINER", "HAS OBS CONTEXT"): {"TEXT", "CODE", "DATETIME", "DATE", "TIME", "UIDREF", "PNAME"},
        ("CONTAINER", "HAS CONCEPT MOD"): {"TEXT", "CODE"},
        ("TEXT", "INFERRED FROM"): {"TEXT", "CODE", "DATETIME", "DATE", "TIME", "UIDREF", "PNAME", "IMAGE",
                                    "WAVEFORM", "COMPOSITE"},
    }

    def check(source: Dataset) -> None:
        for child in source.get("ContentSequence", []):
            assert "ReferencedContentItemIdentifier" not in child
            assert child.ValueType in allowed[(source.ValueType, child.RelationshipType)]
            if child.ValueType in {"TEXT", "CODE", "PNAME", "CONTAINER"}:
                assert child.ConceptNameCodeSequence[0].CodeMeaning
            if child.ValueType == "TEXT":
                assert str(child.TextValue).strip()
            check(child)

    check(report)
    images = [item for _, item in _walk(list(report.ContentSequence)) if item.ValueType == "IMAGE"]
    assert images and all(item.RelationshipType == "INFERRED FROM" for item in images)


def test_same_seed_gives_identical_bytes(study: Study) -> None:
    again = generate_study(sr.SPEC, 11, series=2, instances=3, options=SMALL)
    assert [part10_bytes(ds) for ds in again] == [part10_bytes(ds) for ds in study]
    other = generate_study(sr.SPEC, 12, series=2, instances=3, options=SMALL)
    assert _reports(other)[0].SOPInstanceUID != _reports(study)[0].SOPInstanceUID


def test_report_reads_back(study: Study) -> None:
    report = _reports(study)[1]
    back = dcmread(io.BytesIO(part10_bytes(report)))
    assert back.SOPClassUID == BasicTextSRStorage
    assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert len(back.ContentSequence) == len(report.ContentSequence)


def test_build_report_on_given_images() -> None:
    study_ctx = make_study_context(4, make_patient(4), description="CT Abdomen")
    image_ctx = sr.image_series_context(study_ctx, 0)
    images = ct.SPEC.build_series(image_ctx, 2, Randomness(4, "images"), BuildOptions(rows=16, columns=16))
    report_ctx = dataclasses.replace(image_ctx, modality="SR", series_instance_uid=study_ctx.uid("report-series"),
                                     series_number=900, series_description="Radiology Report")
    report = sr.build_report(images, report_ctx, Randomness(4, "report"))
    evidence = report.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
    assert {str(ref.ReferencedSOPInstanceUID) for s in evidence for ref in s.ReferencedSOPSequence} == {
        str(ds.SOPInstanceUID) for ds in images}
    assert report.SOPInstanceUID not in {ds.SOPInstanceUID for ds in images}
    assert report.SeriesInstanceUID == study_ctx.uid("report-series")
    with pytest.raises(ValueError, match="at least one image"):
        sr.build_report([], report_ctx, Randomness(4, "report"))


def test_realistic_defaults() -> None:
    assert sr.SPEC.code == "SR" and sr.SPEC.modality == "SR"
    assert sr.SPEC.sop_class_uid == BasicTextSRStorage
    assert sr.SPEC.default_series >= 1 and sr.SPEC.default_instances >= 10
