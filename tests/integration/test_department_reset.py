"""Between scenarios the department forgets what the last one did: the same scenario, or one that generates the
same study or performs the same order, passes again (the QA node forwards again what it forwarded to a PACS that
was wiped since, and the RIS takes the same MPPS instance again), while the report keeps everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.config import default_department
from simulator.department import Department
from simulator.scenario import Outcome, load_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stem", ["conformance/ct-roundtrip-move", "workflow/mpps-discontinued"])
def test_the_same_scenario_passes_twice_in_one_department(tmp_path: Path, stem: str) -> None:
    scenario = load_scenario(ROOT / "scenarios" / f"{stem}.yaml")
    department = Department(default_department(), workdir=tmp_path / "dept").start()
    try:
        outcomes = []
        for _ in range(2):
            department.reset()
            result = run_scenario(scenario, department)
            outcomes.append(result.outcome)
            assert result.outcome is Outcome.PASSED, result.transcript()
        qa = department.qa("QA")
        trails = {e.event for e in qa.ledger.events()}
        mpps = department.ris.mpps.to_dict() if department.ris is not None else {"instances": []}
    finally:
        department.stop()
    assert outcomes == [Outcome.PASSED, Outcome.PASSED]
    if stem.startswith("conformance"):
        assert "destination-wiped" in trails
    else:
        assert len(mpps["instances"]) == 2  # the first run's instance is kept for the report
