"""C-CANCEL of C-MOVE and C-GET against a real Orthanc (PS3.7 9.3.2.3 / 9.3.3.3, PS3.4 C.4.2.3 / C.4.3.3).

Orthanc 1.10.1 honours C-CANCEL for both: it stops and answers 0xFE00 with Completed and Remaining counts. For
C-GET its count lags by one: the instance whose C-STORE was under way when the cancel arrived is delivered and
acknowledged, yet reported as remaining.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator.journal import Journal
from simulator.net import DicomClient, RetrieveOutcome
from simulator.net.status import CANCEL
from simulator.nodes.workstation import Workstation
from simulator.pacs.orthanc import OrthancBackend
from simulator.synth import Study, build_ct_study
from tests.conftest import listening, running_orthanc

pytestmark = pytest.mark.orthanc

TOTAL = 40
CANCEL_AFTER = 3


@pytest.fixture(scope="module")
def journal() -> Journal:
    return Journal()


@pytest.fixture(scope="module")
def ws(journal: Journal) -> Iterator[Workstation]:
    with listening(Workstation("WS1", node="WS1", journal=journal)) as station:
        yield station


@pytest.fixture(scope="module")
def backend(ws: Workstation, journal: Journal) -> Iterator[OrthancBackend]:
    with running_orthanc([ws.endpoint], journal) as pacs:
        yield pacs


@pytest.fixture(scope="module")
def stored(backend: OrthancBackend) -> Study:
    study = build_ct_study(303, series=1, instances=TOTAL, rows=16, columns=16)
    outcomes = DicomClient("WS1", node="WS1").store(backend.endpoint, study.datasets)
    assert [o.status for o in outcomes] == [0] * TOTAL
    return study


def _assert_cancelled(outcome: RetrieveOutcome) -> None:
    assert outcome.cancel_sent
    assert (outcome.status, outcome.meaning) == (CANCEL, "Cancel")
    assert CANCEL_AFTER <= outcome.completed < TOTAL
    assert outcome.remaining_reported  # optional in a Cancel response; Orthanc sends it
    assert outcome.completed + outcome.failed + outcome.warning + outcome.remaining == TOTAL
    assert outcome.failed == outcome.warning == 0


def test_orthanc_honours_cancel_of_move(ws: Workstation, backend: OrthancBackend, stored: Study,
                                        journal: Journal) -> None:
    ws.clear()
    outcome = ws.move(backend.endpoint, "STUDY", {"StudyInstanceUID": stored.study_instance_uid},
                      cancel_after=CANCEL_AFTER)
    _assert_cancelled(outcome)
    assert sum(ws.deliveries.values()) == outcome.completed  # Orthanc's C-MOVE count matches what arrived
    entry = journal.select(node="WS1", kind="C-MOVE", role="SCU")[-1]
    assert entry.status == CANCEL and entry.detail["cancel_sent"] is True


def test_orthanc_honours_cancel_of_get(ws: Workstation, backend: OrthancBackend, stored: Study) -> None:
    ws.clear()
    outcome = ws.get(backend.endpoint, "STUDY", {"StudyInstanceUID": stored.study_instance_uid},
                     cancel_after=CANCEL_AFTER)
    _assert_cancelled(outcome)
    # Every instance that arrived was acknowledged with success; Orthanc counts at most one of them as remaining.
    assert len(outcome.received) in (outcome.completed, outcome.completed + 1)
    assert ws.compare([ds for ds in stored.datasets if str(ds.SOPInstanceUID) in ws.received]) == []


def test_orthanc_final_success_omits_remaining(ws: Workstation, backend: OrthancBackend, stored: Study) -> None:
    ws.clear()
    outcome = ws.get(backend.endpoint, "STUDY", {"StudyInstanceUID": stored.study_instance_uid})
    assert (outcome.status, outcome.completed, len(outcome.received)) == (0x0000, TOTAL, TOTAL)
    # A Success response shall not contain Number of Remaining Sub-operations (PS3.4 C.4.3.1.3): Orthanc conforms.
    assert not outcome.remaining_reported and not outcome.cancel_sent
