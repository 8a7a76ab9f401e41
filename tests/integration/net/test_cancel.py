"""C-CANCEL of C-MOVE and C-GET against the embedded archive over real sockets (PS3.7 9.3.2.3 / 9.3.3.3,
PS3.4 C.4.2.3 / C.4.3.3): the final response has status 0xFE00 and counts that add up."""

from __future__ import annotations

import pytest

from simulator.config import Endpoint
from simulator.journal import Journal
from simulator.net import DicomClient, RetrieveOutcome
from simulator.net.status import CANCEL
from simulator.nodes.archive import EmbeddedArchive
from simulator.nodes.workstation import Workstation, identifier
from simulator.synth import Study, build_ct_study

# Enough sub-operations that a C-CANCEL sent after the third pending response lands long before the end.
TOTAL = 40
CANCEL_AFTER = 3


@pytest.fixture(scope="module")
def big_study() -> Study:
    return build_ct_study(202, series=1, instances=TOTAL, rows=16, columns=16)


@pytest.fixture
def stored(archive_endpoint: Endpoint, big_study: Study) -> Study:
    outcomes = DicomClient("CT1", node="CT1").store(archive_endpoint, big_study.datasets)
    assert [o.status for o in outcomes] == [0] * TOTAL
    return big_study


def _keys(study: Study) -> dict[str, object]:
    return {"StudyInstanceUID": study.study_instance_uid}


def _assert_cancelled(outcome: RetrieveOutcome) -> None:
    assert outcome.cancel_sent
    assert outcome.status == CANCEL and outcome.cancelled
    assert outcome.meaning == "Cancel"
    assert CANCEL_AFTER <= outcome.completed < TOTAL
    assert outcome.remaining_reported  # optional in a Cancel response; pynetdicom, under our SCP, sends it
    assert outcome.completed + outcome.failed + outcome.warning + outcome.remaining == TOTAL
    assert outcome.failed == outcome.warning == 0


def test_cancelled_move_is_a_result_with_counts_that_add_up(workstation: Workstation, archive: EmbeddedArchive,
                                                            archive_endpoint: Endpoint, stored: Study,
                                                            journal: Journal) -> None:
    outcome = workstation.move(archive_endpoint, "STUDY", _keys(stored), cancel_after=CANCEL_AFTER)
    _assert_cancelled(outcome)
    assert sum(workstation.deliveries.values()) == outcome.completed  # what arrived is what the PACS counted
    assert set(workstation.received) <= set(stored.sop_instance_uids)
    scu = journal.select(node="WS1", kind="C-MOVE", role="SCU")[-1]
    assert (scu.status, scu.detail["cancel_sent"], scu.detail["remaining"]) == (CANCEL, True, outcome.remaining)
    scp = journal.select(node="PACS", kind="C-MOVE", role="SCP")[-1]
    assert scp.status == CANCEL and scp.detail["sent"] == outcome.completed


def test_cancelled_get_keeps_what_arrived(workstation: Workstation, archive_endpoint: Endpoint, stored: Study,
                                          journal: Journal) -> None:
    outcome = workstation.get(archive_endpoint, "STUDY", _keys(stored), cancel_after=CANCEL_AFTER)
    _assert_cancelled(outcome)
    assert len(outcome.received) == outcome.completed
    assert set(workstation.received) == {str(ds.SOPInstanceUID) for ds in outcome.received}
    assert workstation.compare([ds for ds in stored.datasets if str(ds.SOPInstanceUID) in workstation.received]) == []
    scu = journal.select(node="WS1", kind="C-GET", role="SCU")[-1]
    assert scu.status == CANCEL and scu.detail["received"] == outcome.completed


@pytest.mark.parametrize("operation", ["move", "get"])
def test_cancel_after_the_last_pending_response_is_too_late(workstation: Workstation, archive_endpoint: Endpoint,
                                                            stored: Study, operation: str) -> None:
    ident = identifier("STUDY", _keys(stored))
    if operation == "move":
        outcome = workstation.client.move(archive_endpoint, ident, workstation.ae_title, cancel_after=TOTAL)
    else:
        outcome = workstation.client.get(archive_endpoint, ident, cancel_after=TOTAL)
    assert outcome.cancel_sent  # sent after the last sub-operation: nothing left to cancel (PS3.7 9.3.2.3)
    assert (outcome.status, outcome.completed, outcome.remaining) == (0x0000, TOTAL, 0)
    assert not outcome.cancelled


@pytest.mark.parametrize("bad", [0, -1])
def test_cancel_after_must_follow_a_pending_response(bad: int) -> None:
    # Refused before any association: the request only goes out when the first response is awaited.
    client = DicomClient("WS1", node="WS1", journal=Journal())
    nowhere = Endpoint(ae_title="PACS", host="127.0.0.1", port=9)
    ident = identifier("STUDY", {"StudyInstanceUID": "1.2.3"})
    with pytest.raises(ValueError, match="cancel_after must be at least 1"):
        client.move(nowhere, ident, "WS1", cancel_after=bad)
    with pytest.raises(ValueError, match="cancel_after must be at least 1"):
        client.get(nowhere, ident, cancel_after=bad)
    assert len(client.journal) == 0
