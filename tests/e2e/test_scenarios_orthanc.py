"""Our workstation queries (C-FIND) and retrieves (C-MOVE, C-GET) from a real Orthanc, and says which destination
to register when Orthanc refuses a C-MOVE. (The whole catalog against Orthanc: test_scenarios_peers.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator.config import default_department
from simulator.department import Department
from simulator.overrides import Overrides, apply_overrides
from tests.conftest import require_binary

pytestmark = pytest.mark.orthanc


@pytest.fixture(scope="module")
def orthanc_department() -> Iterator[Department]:
    require_binary("Orthanc", "orthanc")
    config = default_department()
    config = apply_overrides(config, Overrides(pacs="orthanc"))
    department = Department(config).start()
    try:
        yield department
    finally:
        department.stop(timeout=20)


def test_workstation_retrieves_from_orthanc(orthanc_department: Department) -> None:
    from simulator.synth import build_ct_study

    orthanc_department.reset()
    study = build_ct_study(33, series=1, instances=4, rows=32, columns=32)
    pacs = orthanc_department.pacs.endpoint
    modality = orthanc_department.modality("CT1")
    assert {o.status for o in modality.store(study.datasets, pacs)} == {0}
    ws = orthanc_department.workstation("WS1")
    (hit,) = ws.find(pacs, "STUDY", {"StudyInstanceUID": study.study_instance_uid,
                                     "NumberOfStudyRelatedInstances": ""})
    assert int(hit.NumberOfStudyRelatedInstances) == 4
    moved = ws.move(pacs, "STUDY", {"StudyInstanceUID": study.study_instance_uid})
    assert (moved.status, moved.completed) == (0, 4)
    assert ws.compare(study.datasets) == []
    ws.clear()
    got = ws.get(pacs, "STUDY", {"StudyInstanceUID": study.study_instance_uid})
    assert (got.status, got.completed) == (0, 4)
    assert ws.compare(study.datasets) == []


def test_move_to_an_unregistered_destination_says_to_register_it(orthanc_department: Department) -> None:
    from simulator.errors import DimseFailure, NetworkError
    from simulator.nodes.workstation import identifier
    from simulator.synth import build_ct_study

    orthanc_department.reset()
    study = build_ct_study(34, series=1, instances=1, rows=16, columns=16)
    pacs = orthanc_department.pacs.endpoint
    orthanc_department.modality("CT1").store(study.datasets, pacs)
    client = orthanc_department.workstation("WS1").client
    with pytest.raises(NetworkError) as info:
        client.move(pacs, identifier("STUDY", {"StudyInstanceUID": study.study_instance_uid}), "GHOST")
    assert "GHOST" in str(info.value) and "regist" in str(info.value)
    if isinstance(info.value, DimseFailure):
        assert info.value.status != 0
