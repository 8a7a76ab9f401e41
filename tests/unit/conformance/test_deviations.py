"""Known deviations: keyed by implementation, they turn the failures they explain into "known deviation", let
later steps run when asked to, and say when an expected one did not show."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from simulator.config import default_department
from simulator.conformance.deviations import DeviationBook, deviation_book, load_deviation_file
from simulator.department import Department
from simulator.errors import ConfigError
from simulator.net import PeerIdentity
from simulator.scenario import Outcome, load_scenario, run_scenario

ACME = PeerIdentity("1.2.3.999", "ACME_PACS_2", 16384)
OTHER = PeerIdentity("1.2.3.888", "OTHER", 16384)


def _book(tmp_path: Path, matches: str, *, intermittent: bool = False, version: str = "ACME_PACS_*") -> DeviationBook:
    path = tmp_path / "deviations.yaml"
    path.write_text(textwrap.dedent(f"""\
        deviations:
          - id: acme-counts-one-too-few
            implementation: {{class_uid: 1.2.3.999, version_name: "{version}"}}
            product: ACME PACS 2
            summary: counts one too few
            clause: PS3.4 C.4.1.3.1
            expected: the right count
            observed: one less
            evidence: seen in a test
            confirmed: 2026-12-03
            intermittent: {str(intermittent).lower()}
            matches:
        """) + textwrap.indent(textwrap.dedent(matches), "      "), encoding="utf-8")
    return DeviationBook(load_deviation_file(path))


def _scenario(tmp_path: Path, steps: str) -> object:
    folder = tmp_path / "scenarios"
    folder.mkdir(exist_ok=True)
    path = folder / "counting.yaml"
    path.write_text("name: counting\nsteps:\n  - generate: {as: ct, series: 1, instances: 2, rows: 8, columns: 8}\n"
                    + textwrap.indent(textwrap.dedent(steps), "  "), encoding="utf-8")
    return load_scenario(path)


@pytest.fixture
def department(tmp_path: Path) -> Department:
    dept = Department(default_department(), workdir=tmp_path / "dept")
    dept.pacs.identity = ACME  # as a started backend notes it from the A-ASSOCIATE-AC
    return dept


def test_a_failure_the_deviation_explains_is_a_known_deviation(tmp_path: Path, department: Department) -> None:
    book = _book(tmp_path, "- {scenario: counting, step: expect, message: 'ct.count: expected 3, got 2'}\n")
    result = run_scenario(_scenario(tmp_path, "- expect: {ct.count: 3}\n- expect: {ct.count: 2}\n"),  # type: ignore
                          department, book)
    assert result.outcome is Outcome.KNOWN_DEVIATION and result.deviations == ["acme-counts-one-too-few"]
    assert "known deviation acme-counts-one-too-few (PS3.4 C.4.1.3.1)" in result.reason
    assert len(result.steps) == 2  # without continue: true the scenario stops there
    assert result.acceptable


def test_continue_runs_the_later_steps_and_a_later_real_failure_wins(tmp_path: Path,
                                                                    department: Department) -> None:
    book = _book(tmp_path, "- {scenario: counting, message: 'expected 3, got 2', continue: true}\n")
    passing = run_scenario(_scenario(tmp_path, "- expect: {ct.count: 3}\n- expect: {ct.count: 2}\n"),  # type: ignore
                           department, book)
    assert passing.outcome is Outcome.KNOWN_DEVIATION and len(passing.steps) == 3
    failing = run_scenario(_scenario(tmp_path, "- expect: {ct.count: 3}\n- expect: {ct.count: 5}\n"),  # type: ignore
                           department, book)
    assert failing.outcome is Outcome.FAILED and not failing.acceptable


def test_another_implementation_does_not_get_the_excuse(tmp_path: Path, department: Department) -> None:
    book = _book(tmp_path, "- {scenario: counting, message: 'expected 3'}\n")
    department.pacs.identity = OTHER
    result = run_scenario(_scenario(tmp_path, "- expect: {ct.count: 3}\n"), department, book)  # type: ignore
    assert result.outcome is Outcome.FAILED
    department.pacs.identity = PeerIdentity("1.2.3.999", "OTHER_VERSION", 0)
    assert run_scenario(_scenario(tmp_path, "- expect: {ct.count: 3}\n"), department,  # type: ignore
                        book).outcome is Outcome.FAILED


def test_an_expected_deviation_that_does_not_show_is_reported(tmp_path: Path, department: Department) -> None:
    book = _book(tmp_path, "- {scenario: counting, message: 'expected 3'}\n")
    result = run_scenario(_scenario(tmp_path, "- expect: {ct.count: 2}\n"), department, book)  # type: ignore
    assert result.outcome is Outcome.PASSED and result.unobserved == ["acme-counts-one-too-few"]
    assert "not observed" in result.reason
    flaky = _book(tmp_path, "- {scenario: counting, message: 'expected 3'}\n", intermittent=True)
    assert run_scenario(_scenario(tmp_path, "- expect: {ct.count: 2}\n"), department,  # type: ignore
                        flaky).unobserved == []


def test_a_bad_deviations_file_names_file_line_and_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _book(tmp_path, "- {scenario: counting, message: '(unclosed'}\n")
    assert info.value.field == "deviations.0.matches.0.message" and info.value.line == 13


def test_the_shipped_deviations_load_and_each_has_evidence() -> None:
    book = deviation_book()
    assert len(book.deviations) >= 6
    for deviation in book.deviations:
        assert deviation.clause.startswith("PS3.") and deviation.evidence and deviation.observed


def test_the_readme_lists_every_shipped_deviation() -> None:
    from simulator.conformance.deviations import markdown_table

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    assert markdown_table(deviation_book().deviations) in readme, "regenerate the README's deviations table"
