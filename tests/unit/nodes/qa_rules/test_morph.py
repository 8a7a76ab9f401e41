"""Morphing rules change the dataset in place, each change recorded, and the verdict answers 0xB000."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from simulator.nodes.qa.morph import Condition, CopyValue, DeleteElement, RegexReplace, SetValue, apply_all
from simulator.nodes.qa.rules import COERCED, Action, Change
from simulator.nodes.qa.ruleset import load_ruleset


def test_set_records_before_and_after(ct: Dataset) -> None:
    before = str(ct.InstitutionName) if "InstitutionName" in ct else None
    changes = SetValue("InstitutionName", "Radsim General").apply(ct)
    assert ct.InstitutionName == "Radsim General"
    assert changes == [Change("morph-set", "InstitutionName", before, "Radsim General")]


def test_set_to_the_same_value_is_no_change(ct: Dataset) -> None:
    assert SetValue("PatientID", str(ct.PatientID)).apply(ct) == []


def test_set_a_binary_numeric_element(ct: Dataset) -> None:
    changes = SetValue("Rows", "32").apply(ct)
    assert ct.Rows == 32
    assert changes == [Change("morph-set", "Rows", "16", "32")]


def test_copy(ct: Dataset) -> None:
    ct.AccessionNumber = "ACC1"
    ct.StudyID = "S9"
    changes = CopyValue("AccessionNumber", "StudyID").apply(ct)
    assert ct.StudyID == "ACC1"
    assert changes == [Change("morph-copy", "StudyID", "S9", "ACC1")]


def test_copy_from_an_absent_element_does_nothing(ct: Dataset) -> None:
    if "OtherPatientNames" in ct:
        del ct.OtherPatientNames
    assert CopyValue("OtherPatientNames", "PatientComments").apply(ct) == []


def test_delete(ct: Dataset) -> None:
    ct.PatientComments = "remove me"
    assert DeleteElement("PatientComments").apply(ct) == [Change("morph-delete", "PatientComments", "remove me",
                                                                 None)]
    assert "PatientComments" not in ct
    assert DeleteElement("PatientComments").apply(ct) == []


def test_regex_replace(ct: Dataset) -> None:
    ct.PatientID = "000123"
    changes = RegexReplace("PatientID", r"^0+", "").apply(ct)
    assert ct.PatientID == "123"
    assert changes == [Change("morph-replace", "PatientID", "000123", "123")]
    assert RegexReplace("PatientID", r"^0+", "").apply(ct) == []


def test_regex_replace_with_groups(ct: Dataset) -> None:
    ct.PatientName = "DOE JOHN"
    RegexReplace("PatientName", r"^(\w+) (\w+)$", r"\1^\2").apply(ct)
    assert str(ct.PatientName) == "DOE^JOHN"


def test_conditions_all_must_match(ct: Dataset) -> None:
    ct.Modality = "CT"
    ct.StationName = "CT01"
    when = Condition({"Modality": "^CT$", "StationName": "^CT0"})
    assert SetValue("InstitutionName", "A", when).apply(ct)
    assert ct.InstitutionName == "A"
    other = Condition({"Modality": "^CT$", "StationName": "^MR"})
    assert SetValue("InstitutionName", "B", other).apply(ct) == []
    assert ct.InstitutionName == "A"


def test_condition_on_an_absent_element_reads_empty(ct: Dataset) -> None:
    if "StudyID" in ct:
        del ct.StudyID
    ct.AccessionNumber = "A1"
    changes = CopyValue("AccessionNumber", "StudyID", Condition({"StudyID": "^$"})).apply(ct)
    assert changes == [Change("morph-copy", "StudyID", None, "A1")]


def test_morphs_apply_in_order(ct: Dataset) -> None:
    changes = apply_all([SetValue("PatientID", "0042"), RegexReplace("PatientID", "^0+", "")], ct)
    assert ct.PatientID == "42"
    assert [c.after for c in changes] == ["0042", "42"]


RULES = """\
morph:
  - {op: set, name: site name, keyword: InstitutionName, value: Radsim General}
  - op: copy
    from: AccessionNumber
    to: StudyID
    when: {StudyID: "^$"}
  - {op: delete, keyword: PatientComments}
  - {op: replace, keyword: PatientID, pattern: "^0+", replacement: "", when: {Modality: "^CT$"}}
"""


def test_ruleset_morphs_then_checks_and_answers_coercion(ct: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    ct.InstitutionName = "Old"
    ct.AccessionNumber = "ACC7"
    ct.StudyID = ""
    ct.PatientComments = "x"
    ct.PatientID = "00077"
    verdict = load_ruleset(path).evaluate(ct)
    assert verdict.action is Action.ACCEPT
    assert verdict.accepted
    assert verdict.status == COERCED == 0xB000
    assert [(c.rule, c.keyword, c.before, c.after) for c in verdict.changes] == [
        ("site name", "InstitutionName", "Old", "Radsim General"),
        ("copy AccessionNumber to StudyID", "StudyID", "", "ACC7"),
        ("delete PatientComments", "PatientComments", "x", None),
        ("replace in PatientID", "PatientID", "00077", "77"),
    ]
    assert verdict.comment == "QA: coerced InstitutionName, StudyID, PatientComments, PatientID"
    assert len(verdict.comment) <= 64


def test_a_morph_can_repair_what_a_check_would_reject(ct: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("morph:\n  - {op: set, keyword: PatientID, value: UNKNOWN, when: {PatientID: '^$'}}\n")
    del ct.PatientID
    verdict = load_ruleset(path).evaluate(ct)
    assert verdict.accepted and verdict.status == 0xB000
    assert verdict.changes == (Change("set PatientID", "PatientID", None, "UNKNOWN"),)


def test_a_morph_does_not_hide_a_rejection(ct: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("morph:\n  - {op: set, keyword: InstitutionName, value: X}\n")
    del ct.Modality
    verdict = load_ruleset(path).evaluate(ct)
    assert verdict.action is Action.REJECT
    assert verdict.status == 0xA900
    assert verdict.changes
    assert "Modality" in (verdict.comment or "")


@pytest.mark.parametrize("count", [1, 5, 12])
def test_coercion_comment_stays_within_64_chars(count: int) -> None:
    from simulator.nodes.qa.rules import Verdict

    changes = tuple(Change("r", f"SomeRatherLongKeyword{i}", "a", "b") for i in range(count))
    comment = Verdict((), changes).comment
    assert comment is not None and comment.startswith("QA: coerced SomeRatherLongKeyword0")
    assert len(comment) <= 64
