"""The default rule set accepts every valid generated study and catches each named defect as documented."""

from __future__ import annotations

import shutil
from io import BytesIO
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite

from simulator.nodes.qa.rules import (
    BAD_CHARSET,
    INVALID_UID,
    MISSING,
    PIXEL_LENGTH,
    TOO_LONG,
    Action,
    CharsetValid,
    PixelDataLength,
    UidValues,
    VrLength,
)
from simulator.nodes.qa.ruleset import RuleSet, load_ruleset
from simulator.synth import DEFECTS, apply_defect
from simulator.synth.registry import MODALITIES
from tests.unit.nodes.qa_rules.conftest import instance

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

needs_dciodvfy = pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) not installed")


@pytest.fixture(scope="module")
def with_dciodvfy(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text("dciodvfy: {enabled: true}\n")
    return load_ruleset(path)


@pytest.mark.parametrize("code", sorted(MODALITIES))
def test_default_ruleset_accepts_every_generated_modality(code: str) -> None:
    ds = instance(code)
    verdict = RuleSet.default().evaluate(ds)
    assert verdict.violations == ()
    assert verdict.action is Action.ACCEPT
    assert verdict.status == 0x0000
    assert verdict.comment is None


@needs_dciodvfy
@pytest.mark.parametrize("code", sorted(MODALITIES))
def test_dciodvfy_accepts_every_generated_modality(code: str, with_dciodvfy: RuleSet) -> None:
    verdict = with_dciodvfy.evaluate(instance(code))
    assert verdict.violations == ()
    assert verdict.accepted


@pytest.mark.parametrize("code", sorted(MODALITIES))
def test_each_check_alone_accepts_every_generated_modality(code: str) -> None:
    ds = instance(code)
    for check in (UidValues(), VrLength(), CharsetValid()):
        assert check.check(ds) == [], check.name
    assert PixelDataLength().check(ds) == []


# defect -> (rule, keyword, status) under the default rule set, which rejects.
EXPECTED = {
    "missing-patient-id": ("required-attributes", "PatientID", MISSING),
    "missing-type1": ("required-attributes", "Modality", MISSING),
    "uid-too-long": ("uid-syntax", "SOPInstanceUID", INVALID_UID),
    "uid-invalid-chars": ("uid-syntax", "SeriesInstanceUID", INVALID_UID),
    "value-too-long": ("vr-length", "PatientID", TOO_LONG),
    "text-invalid-charset": ("charset", "PatientName", BAD_CHARSET),
    "pixel-length-mismatch": ("pixel-data", "PixelData", PIXEL_LENGTH),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_default_ruleset_rejects_each_defect(name: str, ct: Dataset) -> None:
    apply_defect(ct, name)
    verdict = RuleSet.default().evaluate(ct)
    rule, keyword, status = EXPECTED[name]
    assert (verdict.violations[0].rule, verdict.violations[0].keyword) == (rule, keyword)
    assert verdict.action is Action.REJECT
    assert verdict.status == status
    assert verdict.comment is not None
    assert keyword in verdict.comment
    assert len(verdict.comment) <= 64


def test_every_instance_defect_except_the_iod_and_meta_ones_is_covered() -> None:
    others = {"same-uid-different-content", "wrong-sop-class", "missing-file-meta"}
    assert set(DEFECTS) - others == set(EXPECTED)


def test_wrong_sop_class_passes_the_default_checks_but_not_dciodvfy(ct: Dataset) -> None:
    apply_defect(ct, "wrong-sop-class")
    assert RuleSet.default().evaluate(ct).accepted


@needs_dciodvfy
def test_wrong_sop_class_is_quarantined_by_dciodvfy(ct: Dataset, with_dciodvfy: RuleSet) -> None:
    apply_defect(ct, "wrong-sop-class")
    verdict = with_dciodvfy.evaluate(ct)
    assert verdict.violations
    assert {v.rule for v in verdict.violations} == {"dciodvfy"}
    assert verdict.action is Action.QUARANTINE
    assert verdict.status == 0x0000
    assert verdict.comment is not None and verdict.comment.startswith("QA: IOD:")
    assert len(verdict.comment) <= 64


@needs_dciodvfy
def test_dciodvfy_can_reject(ct: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("dciodvfy: {enabled: true, action: reject}\n")
    apply_defect(ct, "wrong-sop-class")
    verdict = load_ruleset(path).evaluate(ct)
    assert verdict.action is Action.REJECT
    assert verdict.status == 0xA900


def _round_trip(ds: Dataset) -> Dataset:
    buffer = BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    buffer.seek(0)
    return dcmread(buffer)


def test_invalid_charset_is_caught_in_raw_bytes_read_from_a_file(ct: Dataset) -> None:
    apply_defect(ct, "text-invalid-charset")
    read = _round_trip(ct)
    assert isinstance(read.get_item(0x00100010), RawDataElement)  # not decoded yet: the rule sees the bytes
    violations = CharsetValid().check(read)
    assert [(v.keyword, v.status) for v in violations] == [("PatientName", BAD_CHARSET)]


def test_invalid_charset_is_caught_after_pydicom_decoded_it_leniently(ct: Dataset) -> None:
    apply_defect(ct, "text-invalid-charset")
    read = _round_trip(ct)
    str(read.PatientName)  # pydicom decodes as ISO 8859-1 without complaint
    assert [v.keyword for v in CharsetValid().check(read)] == ["PatientName"]


def test_undecodable_utf8_bytes_are_caught(ct: Dataset) -> None:
    ct.SpecificCharacterSet = "ISO_IR 192"
    read = _round_trip(ct)
    read.set_original_encoding(False, True, "ISO_IR 192")
    raw = read.get_item(0x00100010)
    assert isinstance(raw, RawDataElement)
    read[0x00100010] = raw._replace(value=b"M\xfcller^J")  # Latin-1 byte, not UTF-8
    assert [v.keyword for v in CharsetValid().check(read)] == ["PatientName"]


@pytest.mark.parametrize("touch_first", [False, True])
def test_default_ruleset_catches_undecodable_bytes_in_a_file(ct: Dataset, touch_first: bool) -> None:
    ct.SpecificCharacterSet = "ISO_IR 192"
    read = _round_trip(ct)
    raw = read.get_item(0x00100010)
    assert isinstance(raw, RawDataElement)
    read[0x00100010] = raw._replace(value=b"M\xfcller^J")
    if touch_first:
        str(read.PatientName)  # decoded leniently before the rules look
    verdict = RuleSet.default().evaluate(read)
    assert [(v.rule, v.keyword, v.status) for v in verdict.violations] == [("charset", "PatientName", BAD_CHARSET)]
    assert verdict.status == BAD_CHARSET


def test_text_fitting_its_declared_charset_is_accepted(ct: Dataset) -> None:
    ct.SpecificCharacterSet = "ISO_IR 100"
    ct.PatientName = "Müller^Jürgen"
    assert CharsetValid().check(ct) == []
    assert CharsetValid().check(_round_trip(ct)) == []


def test_generated_studies_in_other_charsets_are_accepted() -> None:
    from simulator.synth import generate_study
    from simulator.synth.charsets import CHARSETS

    for name in CHARSETS:
        ds = generate_study("CT", 5, series=1, instances=1, charset=name).datasets[0]
        verdict = RuleSet.default().evaluate(_round_trip(ds))
        assert verdict.violations == (), name


def test_uid_rule_walks_every_ui_element_including_sequences(ct: Dataset) -> None:
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.ReferencedSOPInstanceUID = "1.2.3.x"
    ct.ReferencedImageSequence = [item]
    ct.FrameOfReferenceUID = "1.02.3"
    found = {v.keyword for v in UidValues().check(ct)}
    assert found == {"FrameOfReferenceUID", "ReferencedSOPInstanceUID"}


@pytest.mark.parametrize(("keyword", "vr", "value", "ok"), [
    ("StationName", "SH", "S" * 16, True),
    ("StationName", "SH", "S" * 17, False),
    ("Modality", "CS", "C" * 17, False),
    ("StudyDate", "DA", "202401011", False),
    ("StudyTime", "TM", "101010.123456", True),
    ("StudyTime", "TM", "101010.12345678", False),
    ("SeriesNumber", "IS", "1" * 13, False),
    ("SliceThickness", "DS", "1." + "0" * 15, False),
    ("PatientAge", "AS", "040YY", False),
    ("InstitutionName", "LO", "Ü" * 64, True),
    ("ReferringPhysicianName", "PN", "A" * 60 + "=" + "B" * 60, True),
    ("ReferringPhysicianName", "PN", "A" * 65, False),
])
def test_vr_length_limits(ct: Dataset, keyword: str, vr: str, value: str, ok: bool) -> None:
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataelem import DataElement

    tag = tag_for_keyword(keyword)
    assert tag is not None
    ct[tag] = DataElement(tag, vr, value)
    violations = VrLength().check(ct)
    assert (violations == []) is ok, violations
    if not ok:
        assert violations[0].keyword == keyword and violations[0].status == TOO_LONG


def test_vr_length_looks_inside_sequences(ct: Dataset) -> None:
    item = Dataset()
    item.CodeValue = "X" * 17
    ct.ProcedureCodeSequence = [item]
    assert [v.keyword for v in VrLength().check(ct)] == ["CodeValue"]


def test_pixel_length_only_when_pixel_data_present(ct: Dataset) -> None:
    del ct.PixelData
    assert PixelDataLength().check(ct) == []


def test_pixel_length_skipped_for_compressed_syntax(ct: Dataset) -> None:
    apply_defect(ct, "pixel-length-mismatch")
    assert PixelDataLength().check(ct, "1.2.840.10008.1.2.4.50") == []
    assert PixelDataLength().check(ct, "1.2.840.10008.1.2.1")
