"""Storage Commitment (PS3.4 J, IHE RAD-10) from our modality to a real Orthanc (Debian package ``orthanc``).

Orthanc answers the N-ACTION, then sends the result on a new association that it opens to the requesting AE as
registered in ``DicomModalities``, from its own AE title and proposing the SCP role.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from simulator.errors import AssociationAborted
from simulator.journal import Journal
from simulator.nodes.modality import Modality
from simulator.pacs.base import Capability
from simulator.pacs.orthanc import OrthancBackend
from simulator.synth import Study, build_ct_study
from tests.conftest import listening, running_orthanc

pytestmark = pytest.mark.orthanc

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"


@pytest.fixture(scope="module")
def journal() -> Journal:
    return Journal()


@pytest.fixture(scope="module")
def modality(journal: Journal) -> Iterator[Modality]:
    with listening(Modality("CT1", node="CT1", journal=journal)) as node:
        yield node


@pytest.fixture(scope="module")
def orthanc(modality: Modality, journal: Journal) -> Iterator[OrthancBackend]:
    with running_orthanc([modality.endpoint], journal) as pacs:
        yield pacs


@pytest.fixture(scope="module")
def stored(orthanc: OrthancBackend, modality: Modality) -> Study:
    study = build_ct_study(7, series=1, instances=3, rows=32, columns=32)
    assert [o.status for o in modality.store(study.datasets, orthanc.endpoint)] == [0, 0, 0]
    return study


def test_held_instances_are_committed_and_the_unknown_one_fails(orthanc: OrthancBackend, modality: Modality,
                                                               stored: Study, journal: Journal) -> None:
    assert Capability.STORAGE_COMMITMENT in orthanc.capabilities
    unknown = (CT, "1.2.826.0.1.3680043.9.7.404")
    result = modality.commit(orthanc.endpoint, [*stored.datasets, unknown], timeout=20)
    assert not result.timed_out and result.delivery == "new-association"
    assert result.event_type == 2
    assert result.committed == [(str(ds.SOPClassUID), str(ds.SOPInstanceUID)) for ds in stored.datasets]
    assert result.failed == [(*unknown, 0x0112)]
    received = [e for e in journal.select(node="CT1", kind="N-EVENT-REPORT")
                if e.detail.get("transaction_uid") == result.transaction_uid]
    assert [(e.role, e.peer_ae, e.status) for e in received] == [("SCP", orthanc.endpoint.ae_title, 0)]


def test_requester_that_releases_at_once_is_answered_on_a_new_association(orthanc: OrthancBackend,
                                                                          modality: Modality, stored: Study) -> None:
    result = modality.commit(orthanc.endpoint, stored.datasets, timeout=20, wait_on_association=False)
    assert (result.delivery, result.event_type, result.all_committed) == ("new-association", 1, True)


def test_other_sop_class_is_a_class_instance_conflict(orthanc: OrthancBackend, modality: Modality,
                                                      stored: Study) -> None:
    instance = str(stored.datasets[0].SOPInstanceUID)
    result = modality.commit(orthanc.endpoint, [(MR, instance)], timeout=20)
    assert result.failed == [(MR, instance, 0x0119)]


def test_orthanc_never_answers_on_the_requesting_association(orthanc: OrthancBackend, stored: Study,
                                                             journal: Journal) -> None:
    # Registered (so Orthanc accepts the request) but not listening: only the association could carry the result.
    deaf = Modality("CT_DEAF", node="CT_DEAF", journal=journal)
    with_port = deaf.start()
    deaf.stop(timeout=10)
    orthanc.add_peer(with_port)
    started = time.monotonic()
    result = deaf.commit(orthanc.endpoint, stored.datasets[:1], timeout=1.5)
    assert result.timed_out and result.delivery is None
    assert time.monotonic() - started < 3.0


def test_peer_added_while_running_receives_its_result(orthanc: OrthancBackend, stored: Study,
                                                      journal: Journal) -> None:
    late = Modality("MR1", node="MR1", journal=journal)
    try:
        orthanc.add_peer(late.start())
        result = late.commit(orthanc.endpoint, stored.datasets, timeout=20)
    finally:
        late.stop(timeout=10)
    assert (result.delivery, result.all_committed) == ("new-association", True)


def test_unregistered_requester_is_aborted_and_told_to_register(orthanc: OrthancBackend, stored: Study) -> None:
    stranger = Modality("STRANGER", node="STRANGER")
    with pytest.raises(AssociationAborted, match="register 'STRANGER'"):
        stranger.commit(orthanc.endpoint, stored.datasets[:1], timeout=5)
