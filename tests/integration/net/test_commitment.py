"""Storage Commitment Push Model (PS3.4 J) between our SCU, receiver and SCP adapter over real loopback sockets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress

import pytest

from simulator.config import Endpoint
from simulator.errors import DimseFailure, NoAcceptedContext
from simulator.journal import Exchange, Journal
from simulator.net import (
    CommitmentReceiver,
    DicomClient,
    DicomServer,
    commitment_receiver_service,
    commitment_scp_service,
    request_commitment,
)
from simulator.net.commitment import Delivery
from simulator.net.ports import free_port

CT = "1.2.840.10008.5.1.4.1.1.2"
HELD = [(CT, "1.2.826.0.1.3680043.9.7.1"), (CT, "1.2.826.0.1.3680043.9.7.2")]
UNKNOWN = (CT, "1.2.826.0.1.3680043.9.7.404")


def held_only(references: list[tuple[str, str]]) -> list[tuple[str, str, int | None]]:
    return [(cls, inst, None if (cls, inst) in HELD else 0x0112) for cls, inst in references]


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(0.01)


@pytest.fixture
def servers() -> Iterator[list[DicomServer]]:
    started: list[DicomServer] = []
    try:
        yield started
    finally:  # in parallel: each stop waits for its listener's poll interval
        stopping = [threading.Thread(target=server.stop, kwargs={"timeout": 10}) for server in started]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join(timeout=15)


@pytest.fixture
def receiver(servers: list[DicomServer], journal: Journal) -> tuple[CommitmentReceiver, Endpoint]:
    """The requester's own listener (AE 'MOD') for results on new associations."""
    inbox = CommitmentReceiver()
    server = DicomServer("MOD", node="MOD", journal=journal, services=[commitment_receiver_service(inbox)])
    servers.append(server)
    return inbox, server.start()


def start_scp(servers: list[DicomServer], journal: Journal, *, delivery: Delivery | Callable[[], str] = "auto",
              peers: dict[str, Endpoint] | None = None,
              resolve: Callable[[list[tuple[str, str]]], list[tuple[str, str, int | None]]] = held_only) -> Endpoint:
    table = peers or {}
    server = DicomServer("ARC", node="ARC", journal=journal, services=[commitment_scp_service(
        resolve, delivery=delivery, peer_for=table.get, client=DicomClient("ARC", node="ARC", journal=journal))])
    servers.append(server)
    return server.start()


def reports_sent(journal: Journal) -> list[Exchange]:
    return journal.select(node="ARC", kind="N-EVENT-REPORT")


def test_result_on_the_same_association_is_journalled_on_both_sides(servers: list[DicomServer],
                                                                    journal: Journal) -> None:
    arc = start_scp(servers, journal, delivery="same")
    result = request_commitment(DicomClient("MOD", node="MOD", journal=journal), arc, [*HELD, UNKNOWN], timeout=10)
    assert (result.delivery, result.timed_out, result.event_type) == ("same-association", False, 2)
    assert result.committed == HELD
    assert result.failed == [(*UNKNOWN, 0x0112)]
    assert not result.all_committed and result.missing == []
    assert result.failure_reasons() == {UNKNOWN[1]: "0x0112 (No such object instance)"}
    kinds = {(e.node, e.kind, e.role, e.status) for e in journal if e.kind in ("N-ACTION", "N-EVENT-REPORT")}
    assert kinds == {("MOD", "N-ACTION", "SCU", 0), ("ARC", "N-ACTION", "SCP", 0),
                     ("ARC", "N-EVENT-REPORT", "SCU", 0), ("MOD", "N-EVENT-REPORT", "SCP", 0)}
    (received,) = journal.select(node="MOD", kind="N-EVENT-REPORT")
    assert received.detail["transaction_uid"] == result.transaction_uid
    assert received.detail["delivery"] == "same-association" and received.detail["service_role"] == "SCU"


def test_new_association_result_reaches_the_receiver(servers: list[DicomServer], journal: Journal,
                                                     receiver: tuple[CommitmentReceiver, Endpoint]) -> None:
    inbox, listener = receiver
    arc = start_scp(servers, journal, delivery="new", peers={"MOD": listener})
    result = request_commitment(DicomClient("MOD", node="MOD", journal=journal), arc, HELD, timeout=10,
                                receiver=inbox, transaction_uid="1.2.826.0.1.3680043.9.7.100")
    assert result.transaction_uid == "1.2.826.0.1.3680043.9.7.100"
    assert (result.delivery, result.event_type, result.all_committed) == ("new-association", 1, True)
    (report,) = inbox.reports()
    assert report.matched and report.reporter_ae == "ARC" and report.retrieve_ae_title == "ARC"
    assert inbox.unmatched() == []


@pytest.mark.parametrize("mode", ["same", "auto"])
def test_released_association_gets_its_result_on_a_new_one(servers: list[DicomServer], journal: Journal,
                                                           receiver: tuple[CommitmentReceiver, Endpoint],
                                                           mode: Delivery) -> None:
    inbox, listener = receiver
    arc = start_scp(servers, journal, delivery=mode, peers={"MOD": listener})
    client = DicomClient("MOD", node="MOD", journal=journal)
    for _ in range(3):  # the requester's release races the result: every run must end on a new association
        result = request_commitment(client, arc, HELD, timeout=10, wait_on_association=False, receiver=inbox)
        assert (result.delivery, result.all_committed) == ("new-association", True)
    wait_for(lambda: len(reports_sent(journal)) >= 3)  # the SCP journals once its association is released
    delivered = [e for e in reports_sent(journal) if e.status == 0]
    assert [e.detail["delivery"] for e in delivered] == ["new-association"] * 3
    assert all(e.detail["fallback"] for e in delivered)  # each says why the same association was not used


def test_no_listener_means_a_timed_out_result_not_an_exception(servers: list[DicomServer], journal: Journal) -> None:
    nobody = Endpoint(ae_title="MOD", host="127.0.0.1", port=free_port())  # registered, but nothing listens
    arc = start_scp(servers, journal, delivery="new", peers={"MOD": nobody})
    started = time.monotonic()
    result = request_commitment(DicomClient("MOD", node="MOD", journal=journal), arc, HELD, timeout=1.0)
    elapsed = time.monotonic() - started
    assert result.timed_out and result.delivery is None and not result.all_committed
    assert result.committed == [] and result.failed == []
    assert 1.0 <= elapsed < 2.0
    assert "no result" in result.note
    wait_for(lambda: bool(reports_sent(journal)))
    assert reports_sent(journal)[0].status is None and "not delivered" in reports_sent(journal)[0].meaning


def test_late_result_for_a_forgotten_transaction_is_recorded_and_acknowledged(
        servers: list[DicomServer], journal: Journal, receiver: tuple[CommitmentReceiver, Endpoint]) -> None:
    inbox, listener = receiver
    gate = threading.Event()

    def slow(references: list[tuple[str, str]]) -> list[tuple[str, str, int | None]]:
        gate.wait(10)
        return held_only(references)

    arc = start_scp(servers, journal, delivery="new", peers={"MOD": listener}, resolve=slow)
    result = request_commitment(DicomClient("MOD", node="MOD", journal=journal), arc, HELD, timeout=0.3,
                                receiver=inbox)
    assert result.timed_out
    gate.set()
    wait_for(lambda: bool(inbox.unmatched()))
    (late,) = inbox.unmatched()
    assert late.transaction_uid == result.transaction_uid and late.committed == tuple(HELD)
    wait_for(lambda: bool(reports_sent(journal)))
    assert reports_sent(journal)[0].status == 0x0000  # acknowledged even though nobody waits for it (PS3.4 J.3.3.1.4)
    (received,) = journal.select(node="MOD", kind="N-EVENT-REPORT")
    assert received.detail["matched"] is False and "nobody waits" in received.meaning


def test_a_failing_check_reports_processing_failure(servers: list[DicomServer], journal: Journal) -> None:
    def broken(references: list[tuple[str, str]]) -> list[tuple[str, str, int | None]]:
        raise OSError("index unavailable")

    arc = start_scp(servers, journal, resolve=broken)
    result = request_commitment(DicomClient("MOD", node="MOD", journal=journal), arc, HELD, timeout=10)
    assert result.committed == [] and result.event_type == 2
    assert result.failed == [(*ref, 0x0110) for ref in HELD]


def test_reused_transaction_uid_fails_every_reference(servers: list[DicomServer], journal: Journal) -> None:
    arc = start_scp(servers, journal)
    client = DicomClient("MOD", node="MOD", journal=journal)
    first = request_commitment(client, arc, HELD, timeout=10)
    again = request_commitment(client, arc, HELD, transaction_uid=first.transaction_uid, timeout=10)
    assert first.all_committed
    assert again.failed == [(*ref, 0x0131) for ref in HELD] and again.committed == []


def test_refused_request_raises_with_status(servers: list[DicomServer], journal: Journal) -> None:
    arc = start_scp(servers, journal)
    with pytest.raises(DimseFailure) as info:
        request_commitment(DicomClient("MOD", node="MOD", journal=journal), arc, [("", "1.2.3")], timeout=5)
    assert info.value.status == 0x0115 and "N-ACTION" in str(info.value)
    (refused,) = journal.select(node="ARC", kind="N-ACTION")
    assert refused.status == 0x0115 and "lacks a UID" in refused.meaning


def test_peer_without_storage_commitment_is_a_typed_error(servers: list[DicomServer], journal: Journal) -> None:
    server = DicomServer("PLAIN", node="PLAIN", journal=journal)
    servers.append(server)
    with pytest.raises(NoAcceptedContext, match="storage commitment") as info:
        request_commitment(DicomClient("MOD", node="MOD"), server.start(), HELD, timeout=5)
    assert "abstract syntax not supported" in str(info.value) and info.value.permanent


def test_delivery_mode_is_read_for_each_result(servers: list[DicomServer], journal: Journal,
                                               receiver: tuple[CommitmentReceiver, Endpoint]) -> None:
    inbox, listener = receiver
    mode: list[str] = ["new"]
    arc = start_scp(servers, journal, delivery=lambda: mode[0], peers={"MOD": listener})
    client = DicomClient("MOD", node="MOD", journal=journal)
    first = request_commitment(client, arc, HELD, timeout=10, receiver=inbox)
    mode[0] = "same"
    second = request_commitment(client, arc, HELD, timeout=10, receiver=inbox)
    assert (first.delivery, second.delivery) == ("new-association", "same-association")


def test_invalid_delivery_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="same, new, auto"):
        commitment_scp_service(held_only, delivery="later", peer_for=lambda ae: None,  # type: ignore[arg-type]
                               client=DicomClient("ARC", node="ARC"))


# -- the result never overtakes the N-ACTION response ------------------------------------------------------------


class WireTap:
    """A loopback TCP relay that keeps every byte the server sends, to read the order of its DIMSE messages."""

    def __init__(self, target: Endpoint) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = Endpoint(ae_title=target.ae_title, host="127.0.0.1", port=self.listener.getsockname()[1])
        self.from_server = bytearray()
        self._sockets: list[socket.socket] = [self.listener]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        with suppress(OSError):
            client, _ = self.listener.accept()
            upstream = socket.create_connection((self.target.host, self.target.port))
            self._sockets += [client, upstream]
            for source, sink, keep in ((client, upstream, False), (upstream, client, True)):
                thread = threading.Thread(target=self._pump, args=(source, sink, keep), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket, keep: bool) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                if keep:
                    self.from_server += data
                sink.sendall(data)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        for sock in self._sockets:
            with suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def command_fields(self) -> list[int]:
        """Command Field (0000,0100) of each DIMSE message in the server's P-DATA-TF PDUs (PS3.8 9.3.5, E.2)."""
        data, fields, command = bytes(self.from_server), [], b""
        offset = 0
        while offset + 6 <= len(data):
            pdu_type, length = data[offset], int.from_bytes(data[offset + 2:offset + 6], "big")
            body, offset = data[offset + 6:offset + 6 + length], offset + 6 + length
            item = 0
            while pdu_type == 0x04 and item + 6 <= len(body):
                item_length = int.from_bytes(body[item:item + 4], "big")
                header, value = body[item + 5], body[item + 6:item + 4 + item_length]
                item += 4 + item_length
                if header & 0x01:
                    command += value
                    if header & 0x02:
                        fields.append(_command_field(command))
                        command = b""
        return fields


def _command_field(command: bytes) -> int:
    """Walk an Implicit VR Little Endian command set (PS3.7 6.3.1) to (0000,0100)."""
    offset = 0
    while offset + 8 <= len(command):
        element = int.from_bytes(command[offset + 2:offset + 4], "little")
        length = int.from_bytes(command[offset + 4:offset + 8], "little")
        if element == 0x0100:
            return int.from_bytes(command[offset + 8:offset + 8 + length], "little")
        offset += 8 + length
    return -1


def test_result_follows_the_n_action_response_on_the_wire(servers: list[DicomServer], journal: Journal) -> None:
    arc = start_scp(servers, journal, delivery="same")
    tap = WireTap(arc)
    try:
        result = request_commitment(DicomClient("MOD", node="MOD", journal=journal), tap.endpoint, HELD, timeout=10)
    finally:
        tap.close()
    assert result.delivery == "same-association"
    assert tap.command_fields() == [0x8130, 0x0100]  # N-ACTION-RSP, then N-EVENT-REPORT-RQ (PS3.7 E.1)
