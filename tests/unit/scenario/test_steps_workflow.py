"""Workflow step arguments: mistakes in a scenario name the file, the line and what is wrong."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from simulator.errors import ConfigError
from simulator.scenario.loader import load_scenario
from simulator.scenario.steps import REGISTRY


def _load_error(tmp_path: Path, steps: str) -> ConfigError:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nsteps:\n" + textwrap.indent(textwrap.dedent(steps), "  "), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    return info.value


def test_workflow_steps_are_registered() -> None:
    assert {"schedule", "worklist", "acquire", "expect_mpps", "mpps_set", "commit", "wado",
            "expect_identity"} <= set(REGISTRY)


def test_schedule_needs_exactly_one_source(tmp_path: Path) -> None:
    error = _load_error(tmp_path, """\
        - echo: {from: CT1, to: [QA]}
        - schedule: {file: examples/schedule.yaml, day: {seed: 1}}
        """)
    assert error.line == 4
    assert "give exactly one of file, steps or day (got file, day)" in str(error)


def test_inline_steps_are_checked_like_a_schedule_file(tmp_path: Path) -> None:
    error = _load_error(tmp_path, """\
        - schedule:
            date: 2026-11-26
            steps:
              - patient: {id: P1, name: Müller^Jürgen, birth_date: 1961-03-14, sex: M}
                accession_number: A1
                requested_procedure_id: R1
                requested_procedure_description: CT
                scheduled_procedure_step_id: S1
                modality: CT
                station_ae_title: CT1
                start_time: 10:30
        """)
    assert error.line == 13
    assert "steps.0.schedule.steps.0.start_time" in str(error) and 'write the time in quotes' in str(error)


def test_acquire_outcome_is_checked(tmp_path: Path) -> None:
    error = _load_error(tmp_path, "- acquire: {from: CT1, as: ct, outcome: aborted}\n")
    assert error.line == 3 and "outcome" in str(error)


def test_also_accept_only_for_a_retrieve_that_matches_nothing(tmp_path: Path) -> None:
    error = _load_error(tmp_path, "- move: {study: ct, also_accept: [0xC000]}\n")
    assert "also_accept applies only with expect_completed: 0" in str(error)


def test_commit_delivery_is_one_of_the_modes(tmp_path: Path) -> None:
    error = _load_error(tmp_path, "- commit: {study: ct, from: CT1, delivery: carrier-pigeon}\n")
    assert error.line == 3 and "delivery" in str(error)
