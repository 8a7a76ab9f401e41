"""The dcmqrscp backend against Debian's DCMTK: start, identity, store and retrieve, wipe, restart on its data,
new peers, clear errors; and the QA node forwarding into it while it takes one store association at a time."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from simulator.config import Endpoint, pacs_config
from simulator.errors import BackendUnavailable, NodeNotReady
from simulator.journal import Journal
from simulator.net import DicomClient
from simulator.nodes.qa import QANode
from simulator.nodes.workstation import Workstation
from simulator.pacs import create_backend
from simulator.synth import build_ct_study
from tests.conftest import listening, require_backend, running_pacs, wait_for

pytestmark = pytest.mark.dcmtk


def test_store_find_move_get_wipe_and_restart(tmp_path: Path) -> None:
    journal = Journal()
    study = build_ct_study(501, series=2, instances=3, rows=32, columns=32)
    with listening(Workstation("WS1", node="WS1", journal=journal)) as ws:
        assert ws.endpoint is not None
        with running_pacs("dcmqrscp", [ws.endpoint], journal, workdir=tmp_path / "pacs") as pacs:
            assert pacs.identity is not None and pacs.identity.implementation_version_name == "OFFIS_DCMTK_367"
            assert "OFFIS_DCMTK_367" in pacs.describe()
            outcomes = DicomClient("CT1", node="CT1", journal=journal).store(pacs.endpoint, study.datasets)
            assert {o.status for o in outcomes} == {0}
            assert pacs.sop_instance_uids(study.study_instance_uid) == set(study.sop_instance_uids)
            moved = ws.move(pacs.endpoint, "STUDY", {"StudyInstanceUID": study.study_instance_uid})
            assert (moved.status, moved.completed) == (0, len(study))
            assert ws.compare(study.datasets) == []
            ws.clear()
            got = ws.get(pacs.endpoint, "STUDY", {"StudyInstanceUID": study.study_instance_uid})
            assert (got.status, got.completed) == (0, len(study)) and ws.compare(study.datasets) == []
            # A stop and start on the same port keeps the data; a wipe does not.
            port = pacs.endpoint.port
            pacs.stop()
            pacs.config = pacs.config.model_copy(update={"port": port})
            pacs.start([ws.endpoint], journal)
            assert pacs.endpoint.port == port
            assert pacs.sop_instance_uids(study.study_instance_uid) == set(study.sop_instance_uids)
            pacs.wipe()
            assert pacs.endpoint.port == port and pacs.sop_instance_uids(study.study_instance_uid) == set()


def test_a_peer_added_while_running_becomes_a_move_destination() -> None:
    journal = Journal()
    study = build_ct_study(502, series=1, instances=2, rows=16, columns=16)
    with running_pacs("dcmqrscp", [], journal) as pacs, listening(Workstation("WS2", node="WS2")) as ws:
        DicomClient("CT1", node="CT1").store(pacs.endpoint, study.datasets)
        assert ws.endpoint is not None
        pacs.add_peer(ws.endpoint)
        assert ws.move(pacs.endpoint, "STUDY", {"StudyInstanceUID": study.study_instance_uid}).completed == 2


def test_the_qa_node_forwards_everything_once_into_one_store_association_at_a_time(tmp_path: Path) -> None:
    """dcmqrscp --no-parallel-store rejects the contexts of a second simultaneous store association (result 1):
    the forwarder's second association is refused, nothing is parked or lost, and it goes on with one."""
    journal = Journal()
    study = build_ct_study(503, series=2, instances=20, rows=32, columns=32)
    with running_pacs("dcmqrscp", [], journal) as pacs:
        qa = QANode(tmp_path / "qa", journal=journal, forward_to=pacs.endpoint, forward_associations=2)
        with listening(qa):
            outcomes = DicomClient("CT1", node="CT1").store(qa.endpoint, study.datasets)  # type: ignore[arg-type]
            assert {o.status for o in outcomes} == {0}
            assert wait_for(lambda: qa.ledger.counts()["forwarded"] == len(study), 60), qa.forwarder.last_error
            parked, lanes = qa.forwarder.parked, qa.forwarder.lanes
        listed = pacs.sop_instance_uids(study.study_instance_uid)
        counts = {state: n for state, n in qa.ledger.counts().items() if n}
    assert listed == set(study.sop_instance_uids)
    assert parked == 0 and counts == {"forwarded": len(study)}
    refused = [e for e in journal.select(node="QA", kind="C-STORE") if e.status is None]
    assert lanes == 1 or not refused  # it only slows down when it was refused


def test_a_missing_binary_names_the_package(tmp_path: Path) -> None:
    pacs = create_backend(pacs_config(backend="dcmqrscp", binary="/nonexistent/dcmqrscp"), tmp_path)
    with pytest.raises(BackendUnavailable) as info:
        pacs.start([], Journal())
    assert "dcmtk" in str(info.value) and "/nonexistent/dcmqrscp" in str(info.value)


def test_a_taken_port_is_said_with_the_log(tmp_path: Path) -> None:
    require_backend("dcmqrscp")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        pacs = create_backend(pacs_config(backend="dcmqrscp", port=port, ready_timeout_s=10), tmp_path)
        with pytest.raises(NodeNotReady) as info:
            pacs.start([Endpoint(ae_title="WS1", port=11120)], Journal())
        pacs.stop()
    assert f"127.0.0.1:{port}" in str(info.value) and "already in use" in str(info.value)
