"""Paths and placeholders in scenario values, and the forgiving equality used by 'expect'."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import IS, DSfloat, PersonName

from simulator.scenario.expressions import ExpressionError, evaluate, matches, plain, substitute
from simulator.synth import build_ct_study
from simulator.synth.study import Study


def _hit(patient_id: str, count: int) -> Dataset:
    ds = Dataset()
    ds.PatientID = patient_id
    ds.PatientName = "Doe^John"
    ds.NumberOfStudyRelatedInstances = count
    ds.ModalitiesInStudy = ["CT", "SR"]
    return ds


@pytest.fixture(scope="module")
def variables() -> dict[str, Any]:
    return {
        "hits": [_hit("P1", 40), _hit("P2", 3)],
        "ct": build_ct_study(17, series=2, instances=2, rows=8, columns=8),
        "empty": [],
        "outcome": SimpleNamespace(completed=4, failed=0),
        "table": {"PACS": {"held": 12}},
    }


# -- evaluate ------------------------------------------------------------------------------------------------------


def test_count_of_list_and_study(variables: dict[str, Any]) -> None:
    assert evaluate("hits.count", variables) == 2
    assert evaluate("ct.count", variables) == 4
    assert evaluate("empty.count", variables) == 0


def test_index_then_keyword(variables: dict[str, Any]) -> None:
    assert evaluate("hits[0].PatientID", variables) == "P1"
    assert evaluate("hits[1].PatientID", variables) == "P2"
    assert evaluate("hits[0].NumberOfStudyRelatedInstances", variables) == 40
    assert evaluate(" hits[1] ", variables) is variables["hits"][1]


def test_study_attribute_is_read_from_its_first_instance(variables: dict[str, Any]) -> None:
    study: Study = variables["ct"]
    assert evaluate("ct.PatientID", variables) == study.datasets[0].PatientID
    assert evaluate("ct.StudyInstanceUID", variables) == study.study_instance_uid
    assert evaluate("ct.SeriesInstanceUID", variables) == study.series_instance_uids[0]
    assert evaluate("ct[3].SOPInstanceUID", variables) == study.sop_instance_uids[3]
    assert evaluate("ct[2].InstanceNumber", variables) == 1  # first slice of the second series


def test_objects_and_mappings(variables: dict[str, Any]) -> None:
    assert evaluate("outcome.completed", variables) == 4
    assert evaluate("table.PACS.held", variables) == 12


def test_missing_variable_lists_defined_names(variables: dict[str, Any]) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate("hitz.count", variables)
    message = str(info.value)
    assert "no variable 'hitz'" in message
    assert "defined so far: ct, empty, hits, outcome, table" in message


def test_missing_variable_when_none_defined() -> None:
    with pytest.raises(ExpressionError, match="none yet"):
        evaluate("x.count", {})


def test_index_out_of_range(variables: dict[str, Any]) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate("hits[2].PatientID", variables)
    assert "'hits[2]': only 2 item(s)" in str(info.value)
    with pytest.raises(ExpressionError, match="only 0 item"):
        evaluate("empty[0]", variables)


@pytest.mark.filterwarnings("ignore:Invalid value 'count' used with the 'in' operator")
@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("hits[0].StudyDate", "'hits[0]' has no attribute StudyDate"),
        ("hits[0].count", "'hits[0]' has no attribute count"),
        ("outcome.warning", "'outcome' has no attribute warning"),
        ("table.RIS", "'table' has no key RIS"),
        ("hits.PatientID", "'hits' has no attribute PatientID"),
        ("outcome[0]", "'outcome' is not a list"),
        ("hits[0][1]", "'hits[0]' is not a list"),
    ],
)
def test_missing_parts_are_named(variables: dict[str, Any], path: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate(path, variables)
    assert fragment in str(info.value)


@pytest.mark.parametrize("path", ["", "[0]", "0hits", "   ", "-hits"])
def test_path_must_start_with_a_variable(variables: dict[str, Any], path: str) -> None:
    with pytest.raises(ExpressionError, match="must start with a variable name"):
        evaluate(path, variables)


def test_empty_study_has_no_attributes() -> None:
    with pytest.raises(ExpressionError, match="empty study"):
        evaluate("s.PatientID", {"s": Study()})


@pytest.mark.parametrize("path", ["hits[-1]", "ct[-1].SOPInstanceUID", "hits[0]PatientID", ".hits.count",
                                  "hits.count!"])
def test_malformed_paths_are_errors(variables: dict[str, Any], path: str) -> None:
    with pytest.raises(ExpressionError):
        value = evaluate(path, variables)
        pytest.fail(f"{path!r} evaluated to {value!r}")  # e.g. 'ct[-1]...' silently reads the first instance


# -- substitute ----------------------------------------------------------------------------------------------------


def test_whole_placeholder_keeps_the_type(variables: dict[str, Any]) -> None:
    assert substitute("{hits.count}", variables) == 2
    assert substitute("{hits[0].NumberOfStudyRelatedInstances}", variables) == 40
    modalities = substitute("{hits[0].ModalitiesInStudy}", variables)
    assert modalities == ["CT", "SR"]
    assert type(modalities) is list
    name = substitute("{hits[0].PatientName}", variables)
    assert name == "Doe^John"
    assert type(name) is str
    uid = substitute("{ct.StudyInstanceUID}", variables)
    assert type(uid) is str


def test_embedded_placeholders_become_text(variables: dict[str, Any]) -> None:
    assert substitute("id={hits[1].PatientID}!", variables) == "id=P2!"
    assert substitute("{hits[0].PatientID}-{hits[1].PatientID}", variables) == "P1-P2"
    assert substitute("{hits[0].PatientName}*", variables) == "Doe^John*"
    assert substitute("n={hits.count}", variables) == "n=2"


def test_substitute_recurses_and_leaves_other_values(variables: dict[str, Any]) -> None:
    value = {"PatientID": "{hits[0].PatientID}", "keys": ["{hits.count}", 7, None], "n": 3.5}
    assert substitute(value, variables) == {"PatientID": "P1", "keys": [2, 7, None], "n": 3.5}
    assert substitute("no placeholders {here", variables) == "no placeholders {here"
    assert substitute(True, variables) is True


def test_substitute_unknown_variable_raises(variables: dict[str, Any]) -> None:
    with pytest.raises(ExpressionError, match="no variable 'nope'"):
        substitute("prefix {nope.PatientID}", variables)


no_braces = st.text(alphabet=st.characters(blacklist_characters="{}", blacklist_categories=["Cs"]), max_size=20)


@given(no_braces, no_braces, st.integers())
def test_substitute_inserts_the_value_between_any_text(prefix: str, suffix: str, value: int) -> None:
    assume(prefix or suffix)  # a lone placeholder keeps its type (tested below)
    assert substitute(f"{prefix}{{v}}{suffix}", {"v": value}) == f"{prefix}{value}{suffix}"


@given(st.one_of(st.integers(), st.floats(allow_nan=False), st.text(), st.lists(st.integers())))
def test_whole_placeholder_returns_the_value_itself(value: Any) -> None:
    assert substitute("{v}", {"v": value}) == value


# -- plain and matches ---------------------------------------------------------------------------------------------


def test_plain_converts_dicom_types() -> None:
    assert plain(PersonName("Doe^John")) == "Doe^John"
    assert type(plain(PersonName("Doe^John"))) is str
    assert plain(IS("40")) == 40
    assert type(plain(IS("40"))) is int
    assert plain(DSfloat("2.5")) == 2.5
    assert type(plain(DSfloat("2.5"))) is float
    assert plain(MultiValue(IS, ["1", "2"])) == [1, 2]
    assert plain("text") == "text"


@pytest.mark.parametrize(
    ("actual", "expected", "result"),
    [
        ("40", 40, True),
        ("40.0", 40, True),
        (" 40 ", 40, True),
        ("41", 40, False),
        ("abc", 40, False),
        (40, "40", True),
        (IS("40"), 40, True),
        (DSfloat("1.25"), 1.25, True),
        (PersonName("Doe^John"), "Doe^John", True),
        (PersonName("Doe^John"), "Doe^Jane", False),
        ("CT", "CT", True),
        ("CT", "ct", False),
        (["CT", "SR"], ["CT", "SR"], True),
        (MultiValue(str, ["CT", "SR"]), ["CT", "SR"], True),
        (["40", "3"], [40, 3], True),
        (["CT"], ["CT", "SR"], False),
        (["SR", "CT"], ["CT", "SR"], False),
        (True, True, True),
        (1, True, False),
        (True, 1, False),
        ("1", True, False),
        (None, None, True),
        (None, "", False),
        (0, 0, True),
    ],
)
def test_matches(actual: Any, expected: Any, result: bool) -> None:
    assert matches(actual, expected) is result


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_matches_number_text_both_ways(n: int) -> None:
    assert matches(str(n), n)
    assert matches(n, str(n))
    assert not matches(str(n), n + 1)
