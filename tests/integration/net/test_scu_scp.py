"""SCU and SCP scaffolding over real loopback sockets: typed errors, statuses, journal entries."""

from __future__ import annotations

import socket

import pytest
from pydicom.dataset import Dataset

from simulator.config import Endpoint
from simulator.errors import AssociationRejected, DimseFailure, PeerUnreachable, PortInUse
from simulator.journal import Journal
from simulator.net import DicomClient, DicomServer, ScpFailure, StoreReply, StoreRequest
from simulator.net.ports import free_port
from simulator.synth import Study


def test_echo_is_journalled_on_both_sides(journal: Journal) -> None:
    server = DicomServer("SCP", node="server", journal=journal)
    endpoint = server.start()
    try:
        elapsed = DicomClient("SCU", node="client", journal=journal).echo(endpoint)
    finally:
        server.stop(timeout=10)
    assert elapsed >= 0
    echoes = journal.select(kind="C-ECHO")
    assert {(e.node, e.role, e.status) for e in echoes} == {("client", "SCU", 0), ("server", "SCP", 0)}


def test_unreachable_peer_names_ae_host_port_and_what_was_tried() -> None:
    port = free_port()
    with pytest.raises(PeerUnreachable) as info:
        DicomClient("SCU", node="client").echo(Endpoint(ae_title="NOBODY", host="127.0.0.1", port=port))
    text = str(info.value)
    assert "NOBODY" in text and f"127.0.0.1:{port}" in text and "C-ECHO" in text


def test_wrong_called_ae_title_is_rejected_with_reason(journal: Journal) -> None:
    server = DicomServer("RIGHT", node="server", journal=journal)
    endpoint = server.start()
    try:
        with pytest.raises(AssociationRejected) as info:
            DicomClient("SCU", node="client").echo(Endpoint(ae_title="WRONG", host=endpoint.host, port=endpoint.port))
    finally:
        server.stop(timeout=10)
    assert "Called AE title not recognised" in str(info.value)
    assert "WRONG" in str(info.value)


def test_port_in_use_is_a_clear_error(journal: Journal) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = DicomServer("SCP", node="server", journal=journal)
        with pytest.raises(PortInUse) as info:
            server.start("127.0.0.1", port)
        server.stop(timeout=5)
    assert str(port) in str(info.value) and "already in use" in str(info.value)


def test_store_statuses_and_comments_come_back_per_instance(journal: Journal, small_study: Study) -> None:
    refused = small_study.sop_instance_uids[1]

    def on_store(request: StoreRequest) -> StoreReply:
        if request.sop_instance_uid == refused:
            raise ScpFailure(0xA700, "disk full")
        return StoreReply(0x0000)

    server = DicomServer("SCP", node="server", journal=journal, store=on_store)
    endpoint = server.start()
    try:
        outcomes = DicomClient("SCU", node="client", journal=journal).store(endpoint, small_study.datasets,
                                                                             associations=2)
    finally:
        server.stop(timeout=10)
    assert [o.sop_instance_uid for o in outcomes] == small_study.sop_instance_uids
    bad = [o for o in outcomes if not o.ok]
    assert [(o.sop_instance_uid, o.status, o.comment) for o in bad] == [(refused, 0xA700, "disk full")]
    assert bad[0].meaning == "Refused: Out of Resources"
    assert all(o.bytes > 32 * 32 * 2 for o in outcomes)
    stores = journal.select(kind="C-STORE", role="SCP")
    assert len(stores) == len(small_study)


def test_failed_find_raises_instead_of_returning_no_matches(journal: Journal) -> None:
    def on_find(request: object) -> list[Dataset]:
        raise ScpFailure(0xA900, "bad level")

    server = DicomServer("SCP", node="server", journal=journal, find=on_find)  # type: ignore[arg-type]
    endpoint = server.start()
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = "X"
    try:
        with pytest.raises(DimseFailure) as info:
            DicomClient("SCU", node="client").find(endpoint, query)
    finally:
        server.stop(timeout=10)
    assert info.value.status == 0xA900
    assert "0xA900" in str(info.value)


def test_a_crashing_store_handler_still_answers_with_a_failure(journal: Journal, small_study: Study) -> None:
    def on_store(request: StoreRequest) -> StoreReply:
        raise RuntimeError("boom")

    server = DicomServer("SCP", node="server", journal=journal, store=on_store)
    endpoint = server.start()
    try:
        outcomes = DicomClient("SCU", node="client").store(endpoint, small_study.datasets[:1])
    finally:
        server.stop(timeout=10)
    assert outcomes[0].status == 0xC001
    assert outcomes[0].comment is not None and "boom" in outcomes[0].comment


def test_a_forged_huge_pdu_closes_the_connection_and_the_server_keeps_serving(journal: Journal) -> None:
    import struct

    server = DicomServer("SCP", node="server", journal=journal)
    endpoint = server.start()
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=10) as raw:
            # An A-ASSOCIATE-RQ header announcing a 2 GiB PDU (PS3.8 9.3.2), with no body behind it.
            raw.sendall(struct.pack(">BBL", 0x01, 0x00, 0x7FFF_FFFF))
            raw.settimeout(10)
            assert raw.recv(1) == b""  # the server closed the connection instead of waiting for 2 GiB
        assert DicomClient("SCU", node="client").echo(endpoint) >= 0
    finally:
        server.stop(timeout=10)
