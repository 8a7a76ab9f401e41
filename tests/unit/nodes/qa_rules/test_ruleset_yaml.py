"""Rule set files: the shipped default, actions from YAML, and errors that name file, line and field."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from simulator.errors import ConfigError
from simulator.nodes.qa.rules import Action, Change, Verdict, Violation
from simulator.nodes.qa.ruleset import RuleSet, RuleSetConfig, load_ruleset
from simulator.synth import apply_defect

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def test_shipped_file_is_package_data_and_matches_the_model_defaults() -> None:
    text = resources.files("simulator.defaults").joinpath("qa-rules.yaml").read_text(encoding="utf-8")
    assert "dciodvfy" in text
    shipped = load_ruleset(Path(str(resources.files("simulator.defaults").joinpath("qa-rules.yaml"))))
    assert shipped.checks == RuleSet.from_config(RuleSetConfig()).checks
    assert RuleSet.default().checks == shipped.checks


def test_default_requires_the_six_attributes() -> None:
    from simulator.nodes.qa.rules import RequiredAttributes

    required = next(c for c in RuleSet.default().checks if isinstance(c, RequiredAttributes))
    assert set(required.keywords) == {"PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                                      "SOPClassUID", "Modality"}


@pytest.mark.parametrize(("defect", "section"), [
    ("missing-patient-id", "required"),
    ("uid-invalid-chars", "uid_syntax"),
    ("value-too-long", "vr_length"),
    ("text-invalid-charset", "charset"),
    ("pixel-length-mismatch", "pixel_data"),
])
def test_quarantine_instead_of_reject_from_yaml(ct: Dataset, tmp_path: Path, defect: str, section: str) -> None:
    ruleset = load_ruleset(_write(tmp_path, f"{section}:\n  action: quarantine\n"))
    apply_defect(ct, defect)
    verdict = ruleset.evaluate(ct)
    assert verdict.action is Action.QUARANTINE
    assert not verdict.accepted
    assert verdict.status == 0x0000
    assert verdict.comment is not None and len(verdict.comment) <= 64
    assert all(v.action is Action.QUARANTINE for v in verdict.violations)


def test_accept_action_records_without_refusing(ct: Dataset, tmp_path: Path) -> None:
    ruleset = load_ruleset(_write(tmp_path, "vr_length: {action: accept}\n"))
    apply_defect(ct, "value-too-long")
    verdict = ruleset.evaluate(ct)
    assert verdict.accepted and verdict.status == 0x0000
    assert [v.rule for v in verdict.violations] == ["vr-length"]


def test_reject_wins_over_quarantine(ct: Dataset, tmp_path: Path) -> None:
    ruleset = load_ruleset(_write(tmp_path, "charset: {action: quarantine}\n"))
    apply_defect(ct, "text-invalid-charset")
    apply_defect(ct, "missing-patient-id")
    verdict = ruleset.evaluate(ct)
    assert verdict.action is Action.REJECT
    assert verdict.status == 0xA900
    assert "PatientID" in (verdict.comment or "")


def test_disabled_check(ct: Dataset, tmp_path: Path) -> None:
    ruleset = load_ruleset(_write(tmp_path, "pixel_data: {enabled: false}\n"))
    apply_defect(ct, "pixel-length-mismatch")
    assert ruleset.evaluate(ct).accepted


def test_custom_required_levels(ct: Dataset, tmp_path: Path) -> None:
    ruleset = load_ruleset(_write(tmp_path, "required:\n  study: [StudyInstanceUID, AccessionNumber]\n"))
    ct.AccessionNumber = ""
    verdict = ruleset.evaluate(ct)
    assert [(v.keyword, v.status) for v in verdict.violations] == [("AccessionNumber", 0xA900)]


def test_max_length_override(ct: Dataset, tmp_path: Path) -> None:
    ct.StudyTime = "101010.12345678"
    assert not RuleSet.default().evaluate(ct).accepted
    assert load_ruleset(_write(tmp_path, "vr_length: {max_lengths: {TM: 16}}\n")).evaluate(ct).accepted


@pytest.mark.parametrize(("text", "line", "field"), [
    ("required:\n  action: bounce\n", 2, "required.action"),
    ("required:\n  patient: [PatientId]\n", 2, "required.patient.0"),
    ("charset:\n  enabled: true\n  colour: red\n", 3, "charset.colour"),
    ("morph:\n  - {op: set, keyword: PatientName, value: X}\n  - {op: move, keyword: PatientID}\n", 3, "morph.1.op"),
    ("morph:\n  - op: replace\n    keyword: PatientID\n    pattern: '(['\n    replacement: ''\n", 4,
     "morph.0.pattern"),
    ("morph:\n  - op: copy\n    from: AccessionNumber\n", 2, "morph.0.to"),
    ("vr_length:\n  max_lengths: {XX: 3}\n", 2, "vr_length.max_lengths"),
])
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_ruleset(path)
    error = info.value
    assert (error.source, error.line, error.field) == (str(path), line, field), str(error)
    assert f"{path}:{line}" in str(error)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_ruleset(_write(tmp_path, "required:\n  patient: [PatientID\n"))
    assert info.value.line is not None


def test_missing_dciodvfy_is_a_config_error_at_load_time(tmp_path: Path) -> None:
    path = _write(tmp_path, "dciodvfy:\n  enabled: true\n  path: /nonexistent/dciodvfy\n")
    with pytest.raises(ConfigError, match=r"dciodvfy is enabled but .* was not found") as info:
        load_ruleset(path)
    assert info.value.source == str(path) and info.value.field == "dciodvfy.path"
    assert info.value.line == 3


def test_verdict_contract() -> None:
    reject = Violation("r", "A", "a bad", 0xC001)
    quarantine = Violation("q", "B", "b odd", 0xA900, Action.QUARANTINE)
    assert reject.action is Action.REJECT
    assert Verdict(()).action is Action.ACCEPT and Verdict(()).status == 0 and Verdict(()).comment is None
    assert Verdict((quarantine, reject)).action is Action.REJECT
    assert Verdict((quarantine, reject)).status == 0xC001
    assert Verdict((quarantine, reject)).comment == "QA: a bad"
    assert Verdict((quarantine,)).status == 0x0000 and Verdict((quarantine,)).comment == "QA: b odd"
    coerced = Verdict((), (Change("m", "PatientName", "A", "B"), Change("m", "PatientID", None, "1")))
    assert coerced.status == 0xB000 and coerced.comment == "QA: coerced PatientName, PatientID"
    assert Verdict((quarantine,), coerced.changes).status == 0x0000
