"""A modality: Verification and Storage SCU, Storage Commitment SCU (PS3.4 A, B, J)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydicom.dataset import Dataset

from simulator.config import Endpoint
from simulator.journal import Journal
from simulator.net import (
    CommitmentReceiver,
    CommitmentResult,
    DicomClient,
    DicomServer,
    StoreOutcome,
    commitment_receiver_service,
    references_of,
    request_commitment,
)
from simulator.nodes.listening import ListeningNode


class Modality(ListeningNode):
    """Sends generated studies; per-instance statuses come back as outcomes for the scenario to judge.

    ``start()`` makes it listen too (C-ECHO, and Storage Commitment results that an archive sends on a new
    association, PS3.4 J.3.3.1.3); ``commitments`` holds every result received, matched or not.
    """

    def __init__(self, ae_title: str, *, node: str, journal: Journal | None = None) -> None:
        self.ae_title = ae_title
        self.node = node
        self.client = DicomClient(ae_title, node=node, journal=journal)
        self.journal = self.client.journal
        self.commitments = CommitmentReceiver()
        self._server = DicomServer(ae_title, node=node, journal=self.journal,
                                   services=[commitment_receiver_service(self.commitments)])
        self._listening = False

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Endpoint:
        """Listen on ``host:port`` (0 = a free port); return the bound endpoint."""
        endpoint = super().start(host, port)
        self._listening = True
        return endpoint

    def stop(self, timeout: float = 10.0) -> None:
        self._listening = False
        super().stop(timeout)

    def echo(self, destination: Endpoint) -> float:
        return self.client.echo(destination)

    def store(self, datasets: Iterable[Dataset], destination: Endpoint, *,
              associations: int = 1) -> list[StoreOutcome]:
        items: Sequence[Dataset] = list(datasets)
        return self.client.store(destination, items, associations=associations)

    def commit(self, destination: Endpoint, items: Iterable[Dataset | tuple[str, str]], *, timeout: float = 30.0,
               wait_on_association: bool = True, transaction_uid: str | None = None) -> CommitmentResult:
        """Ask ``destination`` to commit to storing ``items`` (datasets or (SOP Class UID, SOP Instance UID) pairs)
        and wait up to ``timeout`` s for the result (IHE RAD-10, PS3.4 J.3).

        The result may come on the request's association (kept open while ``wait_on_association``) or on a new
        association to this modality's listener. If the modality was never started, nothing listens for the
        latter: it then waits on the association only, and with ``wait_on_association`` False it cannot receive a
        result at all (the result says so). The destination must know this modality's AE title, host and port to
        open that new association. No result in time is a result (``timed_out``), not an exception; a refused
        request raises :class:`~simulator.errors.DimseFailure`.
        """
        receiver = self.commitments if self._listening else None
        return request_commitment(self.client, destination, references_of(items), transaction_uid=transaction_uid,
                                  timeout=timeout, wait_on_association=wait_on_association, receiver=receiver)
