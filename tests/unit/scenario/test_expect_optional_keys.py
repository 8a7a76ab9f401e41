"""An optional C-FIND return key the PACS left out or empty is "not supported" (PS3.4 C.4.1.1.3.2, C.6); a
required one missing, or a wrong value, is a failure; a path into a generated study stays a scenario error."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from simulator.config import default_department
from simulator.conformance.keys import is_optional_return_key
from simulator.department import Department
from simulator.errors import ConformanceFailure, NotSupported
from simulator.scenario.expressions import Answers, ExpressionError
from simulator.scenario.steps import ExpectArgs, RunContext, run_expect
from simulator.synth import build_ct_study


@pytest.fixture
def ctx(tmp_path: Path) -> RunContext:
    context = RunContext(Department(default_department(), workdir=tmp_path / "dept"))
    answer = Dataset()
    answer.QueryRetrieveLevel = "STUDY"
    answer.StudyInstanceUID = "1.2.3"
    answer.NumberOfStudyRelatedSeries = ""  # returned empty: not supported
    answer.StudyDate = "20261126"
    context.variables["hits"] = Answers([answer], level="STUDY", model="study")
    context.variables["ct"] = build_ct_study(1, series=1, instances=1, rows=8, columns=8)
    return context


def _expect(ctx: RunContext, **checks: object) -> str:
    return run_expect(ctx, ExpectArgs.model_validate(checks))


@pytest.mark.parametrize("path", ["hits[0].NumberOfStudyRelatedInstances", "hits[0].NumberOfStudyRelatedSeries",
                                  "hits[0].StudyDescription"])
def test_an_optional_key_without_a_value_is_not_supported(ctx: RunContext, path: str) -> None:
    with pytest.raises(NotSupported) as info:
        _expect(ctx, **{path: 2})
    assert path.rsplit(".", 1)[-1] in str(info.value) and "optional" in str(info.value)


def test_a_required_key_missing_is_not_excused(ctx: RunContext) -> None:
    with pytest.raises(ExpressionError):
        _expect(ctx, **{"hits[0].AccessionNumber": "A1"})  # required at STUDY level (PS3.4 Table C.6-5)


def test_a_wrong_value_is_a_failure_and_a_right_one_passes(ctx: RunContext) -> None:
    with pytest.raises(ConformanceFailure):
        _expect(ctx, **{"hits[0].StudyDate": "20000101"})
    assert "as expected" in _expect(ctx, **{"hits[0].StudyDate": "20261126", "hits.count": 1})


def test_a_generated_study_has_no_optional_excuse(ctx: RunContext) -> None:
    with pytest.raises(ExpressionError):
        _expect(ctx, **{"ct.NumberOfStudyRelatedInstances": 1})


@pytest.mark.parametrize(("keyword", "level", "optional"), [
    ("NumberOfStudyRelatedInstances", "STUDY", True), ("ModalitiesInStudy", "STUDY", True),
    ("StudyInstanceUID", "STUDY", False), ("AccessionNumber", "STUDY", False), ("PatientName", "STUDY", False),
    ("StudyInstanceUID", "SERIES", False), ("SeriesDescription", "SERIES", True), ("Modality", "SERIES", False),
    ("SOPInstanceUID", "IMAGE", False), ("SOPClassUID", "IMAGE", True), ("PatientBirthDate", "PATIENT", True),
])
def test_optional_keys_follow_ps3_4_c6(keyword: str, level: str, optional: bool) -> None:
    assert is_optional_return_key(keyword, level) is optional


def test_a_wrong_value_is_not_hidden_behind_an_unsupported_key(ctx: RunContext) -> None:
    with pytest.raises(ConformanceFailure) as info:
        _expect(ctx, **{"hits[0].StudyDate": "20000101", "hits[0].ModalitiesInStudy": "CT"})
    assert "StudyDate" in str(info.value)
