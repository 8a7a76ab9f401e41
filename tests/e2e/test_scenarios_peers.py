"""The whole shipped catalog against real PACS from Debian: Orthanc, and the independent, strict DCMTK dcmqrscp and
PixelMed DicomAndWebStorageServer, through our QA node, workstation, RIS and modalities.

Every scenario must end passed, not supported, or as a known deviation of that PACS (with its evidence in
simulator/conformance/known-deviations.yaml); a deviation the file expects for a scenario must still show.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.config import default_department
from simulator.department import Department
from simulator.overrides import Overrides, apply_overrides
from simulator.scenario import discover, load_scenario, run_scenario
from tests.conftest import require_backend

CATALOG = Path(__file__).resolve().parents[2] / "scenarios"
BACKENDS = ("orthanc", "dcmqrscp", "pixelmed")


@pytest.fixture(scope="module", params=BACKENDS)
def peer_department(request: pytest.FixtureRequest) -> Iterator[Department]:
    require_backend(request.param)
    department = Department(apply_overrides(default_department(), Overrides(pacs=request.param))).start()
    try:
        yield department
    finally:
        department.stop(timeout=20)


@pytest.mark.parametrize("path", discover([CATALOG]), ids=lambda p: p.stem)
def test_shipped_scenario_is_acceptable(peer_department: Department, path: Path) -> None:
    peer_department.reset()
    result = run_scenario(load_scenario(path), peer_department)
    assert result.acceptable, result.transcript()
    assert not result.unobserved, f"{peer_department.pacs.describe()}: {result.reason}"
