"""A modality's whole acquisition over real sockets: worklist, MPPS, storage, commitment (IHE RAD-5/6/8/7/10)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from simulator.errors import ConformanceFailure
from simulator.journal import Journal
from simulator.nodes.acquisition import acquire
from simulator.nodes.archive import EmbeddedArchive
from simulator.nodes.modality import Modality
from simulator.nodes.ris import RisNode, make_day


@pytest.fixture
def ris(journal: Journal) -> Iterator[RisNode]:
    node = RisNode("RADSIM_RIS", journal=journal,
                   procedures=make_day(5, 4, stations={"CT": ("CT1", "CT ROOM 1")}))
    node.start()
    try:
        yield node
    finally:
        node.stop(timeout=10)


@pytest.fixture
def modality(journal: Journal, archive: EmbeddedArchive) -> Iterator[Modality]:
    node = Modality("CT1", node="CT1", journal=journal)
    archive.add_peer(node.start())
    try:
        yield node
    finally:
        node.stop(timeout=10)


def test_a_completed_acquisition_is_stored_reported_and_committed(ris: RisNode, archive: EmbeddedArchive,
                                                                  modality: Modality, journal: Journal) -> None:
    assert ris.endpoint is not None and archive.endpoint is not None
    record = acquire(modality, worklist=ris.endpoint, mpps=ris.endpoint, store_to=archive.endpoint, series=1,
                     instances=3, retrieve_ae="RADSIM_PACS", now=dt.datetime(2026, 11, 26, 9, 0))
    assert str(record.worklist_item.ScheduledProcedureStepSequence[0].ScheduledStationAETitle) == "CT1"
    assert [s for _, s in record.mpps_statuses] == [0x0000, 0x0000]
    mpps = ris.mpps.get(record.mpps_sop_instance_uid)
    assert mpps is not None and mpps.status == "COMPLETED" and mpps.violations == ()
    assert mpps.steps[0].accession_number == record.worklist_item.AccessionNumber
    held = archive.index.sop_instance_uids(record.study.study_instance_uid)
    assert held == set(record.stored_sop_instance_uids) and len(held) == 3
    result = modality.commit(archive.endpoint, record.performed, timeout=10)
    assert result.all_committed and len(result.committed) == 3
    kinds = [e.kind for e in journal.select(node="CT1", role="SCU")]
    assert kinds[:3] == ["C-FIND", "N-CREATE", "C-STORE"] and "N-SET" in kinds and "N-ACTION" in kinds


def test_a_discontinued_step_before_any_image_stores_nothing(ris: RisNode, archive: EmbeddedArchive,
                                                             modality: Modality) -> None:
    assert ris.endpoint is not None and archive.endpoint is not None
    record = acquire(modality, worklist=ris.endpoint, mpps=ris.endpoint, store_to=archive.endpoint,
                     outcome="discontinued", reason="equipment-failure", acquired_before_stop=0)
    mpps = ris.mpps.get(record.mpps_sop_instance_uid)
    assert mpps is not None and mpps.status == "DISCONTINUED"
    reason = mpps.attributes.PerformedProcedureStepDiscontinuationReasonCodeSequence[0]
    assert reason.CodeValue == "110501"
    assert record.store_outcomes == [] and archive.index.sop_instance_uids(record.study.study_instance_uid) == set()


def test_a_withheld_image_is_the_one_commitment_fails(ris: RisNode, archive: EmbeddedArchive,
                                                      modality: Modality) -> None:
    assert ris.endpoint is not None and archive.endpoint is not None
    record = acquire(modality, worklist=ris.endpoint, mpps=ris.endpoint, store_to=archive.endpoint, series=1,
                     instances=4, withhold=1)
    assert len(record.withheld) == 1 and len(record.stored_sop_instance_uids) == 3
    result = modality.commit(archive.endpoint, record.performed, timeout=10)
    assert [(inst, reason) for _, inst, reason in result.failed] == [(record.withheld[0], 0x0112)]


def test_no_item_for_this_station_is_a_clear_failure(ris: RisNode, archive: EmbeddedArchive,
                                                     journal: Journal) -> None:
    assert ris.endpoint is not None and archive.endpoint is not None
    stranger = Modality("US7", node="US7", journal=journal)
    with pytest.raises(ConformanceFailure, match="the worklist returned no item"):
        acquire(stranger, worklist=ris.endpoint, mpps=ris.endpoint, store_to=archive.endpoint)
    assert len(ris.mpps) == 0
