"""The embedded archive as Storage Commitment SCP and the modality as SCU, over real loopback sockets (PS3.4 J)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.config import EmbeddedPacsConfig, Endpoint
from simulator.journal import Exchange, Journal
from simulator.net.ports import free_port
from simulator.nodes.archive import EmbeddedArchive
from simulator.nodes.modality import Modality
from simulator.pacs.base import Capability
from simulator.pacs.embedded import EmbeddedBackend
from simulator.synth import Study, build_ct_study
from tests.conftest import listening

MR = "1.2.840.10008.5.1.4.1.1.4"


# One archive and one listening modality serve the whole module (starting and stopping servers dominates the time).
@pytest.fixture(scope="module")
def shared_journal() -> Journal:
    return Journal()


@pytest.fixture(scope="module")
def modality(shared_journal: Journal) -> Iterator[Modality]:
    with listening(Modality("CT1", node="CT1", journal=shared_journal)) as node:
        yield node


@pytest.fixture(scope="module")
def shared_pacs(tmp_path_factory: pytest.TempPathFactory, shared_journal: Journal,
                modality: Modality) -> Iterator[EmbeddedArchive]:
    assert modality.endpoint is not None
    archive = EmbeddedArchive(tmp_path_factory.mktemp("archive"), journal=shared_journal,
                              peers={"CT1": modality.endpoint})
    archive.start()
    try:
        yield archive
    finally:
        archive.stop(timeout=10)


@pytest.fixture
def pacs(shared_pacs: EmbeddedArchive) -> EmbeddedArchive:
    shared_pacs.commitment_delivery = "auto"
    return shared_pacs


@pytest.fixture(scope="module")
def stored(shared_pacs: EmbeddedArchive, modality: Modality) -> Study:
    assert shared_pacs.endpoint is not None
    study = build_ct_study(101, series=2, instances=3, rows=32, columns=32)
    assert all(o.status == 0 for o in modality.store(study.datasets, shared_pacs.endpoint))
    return study


def refs(study: Study) -> list[tuple[str, str]]:
    return [(str(ds.SOPClassUID), str(ds.SOPInstanceUID)) for ds in study.datasets]


@pytest.mark.parametrize(("mode", "delivery"), [("same", "same-association"), ("new", "new-association"),
                                                ("auto", "same-association")])
def test_everything_held_is_committed_in_each_delivery_mode(pacs: EmbeddedArchive, modality: Modality,
                                                            stored: Study, mode: str, delivery: str) -> None:
    assert pacs.endpoint is not None
    pacs.commitment_delivery = mode  # type: ignore[assignment]  # settable while running
    result = modality.commit(pacs.endpoint, stored.datasets, timeout=10)
    assert result.all_committed and not result.timed_out
    assert (result.delivery, result.event_type) == (delivery, 1)
    assert result.committed == refs(stored) and result.failed == []


def test_one_missing_instance_fails_with_no_such_object_instance(pacs: EmbeddedArchive, modality: Modality,
                                                                 stored: Study) -> None:
    assert pacs.endpoint is not None
    lost = build_ct_study(102, series=1, instances=1, rows=16, columns=16).datasets[0]  # never sent
    result = modality.commit(pacs.endpoint, [*stored.datasets, lost], timeout=10)
    assert not result.all_committed and result.event_type == 2
    assert result.committed == refs(stored)
    assert result.failed == [(str(lost.SOPClassUID), str(lost.SOPInstanceUID), 0x0112)]


def test_nothing_held_fails_everything(pacs: EmbeddedArchive, modality: Modality) -> None:
    assert pacs.endpoint is not None
    never_sent = build_ct_study(103, series=1, instances=3, rows=16, columns=16)
    result = modality.commit(pacs.endpoint, never_sent.datasets, timeout=10)
    assert result.committed == [] and result.event_type == 2
    assert result.failed == [(*ref, 0x0112) for ref in refs(never_sent)]


def test_instance_held_under_another_sop_class_is_a_class_instance_conflict(
        pacs: EmbeddedArchive, modality: Modality, stored: Study) -> None:
    assert pacs.endpoint is not None
    instance = str(stored.datasets[0].SOPInstanceUID)
    result = modality.commit(pacs.endpoint, [(MR, instance)], timeout=10)
    assert result.failed == [(MR, instance, 0x0119)]  # PS3.3 C.14.1.1; Orthanc 1.10 answers the same
    assert result.failure_reasons() == {instance: "0x0119 (Class / Instance conflict)"}


def test_requester_that_releases_at_once_gets_the_result_on_a_new_association(
        pacs: EmbeddedArchive, modality: Modality, stored: Study) -> None:
    assert pacs.endpoint is not None
    result = modality.commit(pacs.endpoint, stored.datasets, timeout=10, wait_on_association=False)
    assert (result.delivery, result.all_committed) == ("new-association", True)
    (received,) = [e for e in modality.journal.select(node="CT1", kind="N-EVENT-REPORT", role="SCP")
                   if e.detail.get("transaction_uid") == result.transaction_uid]
    assert received.peer_ae == "RADSIM_PACS" and received.detail["matched"] is True
    assert modality.commitments.reports(result.transaction_uid)[0].delivery == "new-association"


def test_unreachable_requester_times_out_within_the_timeout(tmp_path: Path, journal: Journal,
                                                            small_study: Study) -> None:
    silent = Modality("CT9", node="CT9", journal=journal)  # never started: nobody listens at its registered port
    registered = Endpoint(ae_title="CT9", host="127.0.0.1", port=free_port())
    archive = EmbeddedArchive(tmp_path / "arc", journal=journal, peers={"CT9": registered},
                              commitment_delivery="new")
    endpoint = archive.start()
    try:
        silent.store(small_study.datasets, endpoint)
        started = time.monotonic()
        result = silent.commit(endpoint, small_study.datasets, timeout=1.0)
        elapsed = time.monotonic() - started
    finally:
        archive.stop(timeout=10)
    assert result.timed_out and result.delivery is None and not result.all_committed
    assert 1.0 <= elapsed < 2.0
    assert "no result on the association" in result.note


def test_commitment_delivery_is_checked(tmp_path: Path) -> None:
    archive = EmbeddedArchive(tmp_path / "arc")
    try:
        with pytest.raises(ValueError, match="same, new, auto"):
            archive.commitment_delivery = "sometimes"  # type: ignore[assignment]
        assert archive.commitment_delivery == "auto"
    finally:
        archive.stop(timeout=10)


def test_embedded_backend_offers_storage_commitment_to_a_peer_added_later(tmp_path: Path, journal: Journal,
                                                                         small_study: Study) -> None:
    backend = EmbeddedBackend(EmbeddedPacsConfig(), tmp_path / "pacs", commitment_delivery="new")
    late = Modality("US1", node="US1", journal=journal)
    try:
        endpoint = backend.start([], journal)
        assert Capability.STORAGE_COMMITMENT in backend.capabilities
        backend.add_peer(late.start())
        late.store(small_study.datasets, endpoint)
        result = late.commit(endpoint, small_study.datasets, timeout=10)
    finally:
        late.stop(timeout=10)
        backend.stop(timeout=10)
    assert (result.delivery, result.all_committed) == ("new-association", True)


def test_modality_that_does_not_listen_and_does_not_wait_gets_an_immediate_answer(
        pacs: EmbeddedArchive, stored: Study) -> None:
    assert pacs.endpoint is not None
    unregistered = Modality("CT2", node="CT2", journal=pacs.journal)  # never started, unknown to the archive
    started = time.monotonic()
    result = unregistered.commit(pacs.endpoint, stored.datasets, timeout=10, wait_on_association=False)
    assert time.monotonic() - started < 2.0
    assert result.timed_out and "nothing can receive the result" in result.note

    def undelivered() -> list[Exchange]:  # a refusal on the association, if the result got there, is journalled too
        return [e for e in pacs.journal.select(node="PACS", kind="N-EVENT-REPORT")
                if e.status is None and e.detail["transaction_uid"] == result.transaction_uid]

    deadline = time.monotonic() + 5
    while not undelivered() and time.monotonic() < deadline:
        time.sleep(0.01)
    (entry,) = undelivered()
    assert "'CT2' is not registered" in entry.meaning and entry.detail["delivery"] == "new-association"
