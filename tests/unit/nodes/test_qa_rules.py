"""QA rules: a good CT instance is accepted; each defect is named with the right status and comment."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from simulator.nodes.qa.rules import (
    DEFAULT_RULES,
    INVALID,
    MISSING,
    RequiredAttributes,
    UidSyntax,
    Verdict,
    Violation,
    evaluate,
)
from simulator.synth import build_ct_study

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns on the invalid UIDs we set


@pytest.fixture
def ds() -> Dataset:
    return build_ct_study(4, instances=1, rows=8, columns=8).datasets[0]


def test_good_ct_instance_is_accepted(ds: Dataset) -> None:
    verdict = evaluate(ds)
    assert verdict.accepted
    assert verdict.status == 0x0000
    assert verdict.comment is None
    assert verdict.violations == ()


def test_missing_patient_id_is_a_missing_attribute_failure(ds: Dataset) -> None:
    del ds.PatientID
    verdict = evaluate(ds)
    assert not verdict.accepted
    assert verdict.status == MISSING == 0xA900
    assert verdict.comment is not None
    assert "PatientID" in verdict.comment
    assert "(0010,0020)" in verdict.comment
    assert len(verdict.comment) <= 64  # Error Comment is LO


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_patient_id_counts_as_missing(ds: Dataset, value: str) -> None:
    ds.PatientID = value
    verdict = evaluate(ds)
    assert verdict.status == MISSING
    assert [v.keyword for v in verdict.violations] == ["PatientID"]


def test_uid_longer_than_64_chars_is_invalid(ds: Dataset) -> None:
    ds.SOPInstanceUID = "1." + "2" * 70
    verdict = evaluate(ds)
    assert verdict.status == INVALID == 0xC000
    assert [(v.keyword, v.rule) for v in verdict.violations] == [("SOPInstanceUID", "uid-syntax")]
    assert "64" in verdict.violations[0].message


@pytest.mark.parametrize("value", ["1.2.3.abc", "1.2.03", "1..2", "1.2.", "1.2 .3"])
def test_uid_with_invalid_syntax_is_invalid(ds: Dataset, value: str) -> None:
    ds.SeriesInstanceUID = value
    verdict = evaluate(ds)
    assert verdict.status == INVALID
    assert verdict.violations[0].keyword == "SeriesInstanceUID"
    assert "SeriesInstanceUID" in (verdict.comment or "")


def test_multiple_violations_are_all_kept_first_decides_status(ds: Dataset) -> None:
    del ds.PatientID
    ds.StudyInstanceUID = "1.2.abc"
    ds.SOPInstanceUID = "9." + "9" * 80
    verdict = evaluate(ds)
    assert {(v.keyword, v.status) for v in verdict.violations} == {
        ("PatientID", MISSING), ("StudyInstanceUID", INVALID), ("SOPInstanceUID", INVALID),
    }
    # Rules run in order: the required-attribute rule comes first, so its status answers the C-STORE.
    assert verdict.violations[0].keyword == "PatientID"
    assert verdict.status == MISSING


def test_missing_uid_is_reported_once_as_missing(ds: Dataset) -> None:
    del ds.SOPInstanceUID
    verdict = evaluate(ds)
    assert [(v.keyword, v.status) for v in verdict.violations] == [("SOPInstanceUID", MISSING)]


def test_comment_is_truncated_to_64_characters() -> None:
    violation = Violation("r", "K", "x" * 200, INVALID)
    assert len(violation.comment()) == 64
    assert violation.comment().startswith("QA: ")


def test_custom_rules_replace_the_defaults(ds: Dataset) -> None:
    del ds.PatientID
    assert evaluate(ds, rules=[UidSyntax(keywords=("SOPInstanceUID",))]).accepted
    verdict = evaluate(ds, rules=[RequiredAttributes(keywords=("PatientID", "AccessionNumber"))])
    assert [v.keyword for v in verdict.violations] == ["PatientID"]


def test_default_rules_cover_patient_id_and_the_three_uids() -> None:
    required = next(r for r in DEFAULT_RULES if isinstance(r, RequiredAttributes))
    assert set(required.keywords) >= {"PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"}


def test_empty_verdict_is_accepted() -> None:
    assert Verdict(()).accepted
    assert Verdict((Violation("r", "K", "m", 0xA900),)).status == 0xA900
