"""A modality: Verification and Storage SCU (PS3.4 A, B)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydicom.dataset import Dataset

from simulator.config import Endpoint
from simulator.journal import Journal
from simulator.net import DicomClient, StoreOutcome


class Modality:
    """Sends generated studies; per-instance statuses come back as outcomes for the scenario to judge."""

    def __init__(self, ae_title: str, *, node: str, journal: Journal | None = None) -> None:
        self.ae_title = ae_title
        self.node = node
        self.client = DicomClient(ae_title, node=node, journal=journal)

    def echo(self, destination: Endpoint) -> float:
        return self.client.echo(destination)

    def store(self, datasets: Iterable[Dataset], destination: Endpoint, *,
              associations: int = 1) -> list[StoreOutcome]:
        items: Sequence[Dataset] = list(datasets)
        return self.client.store(destination, items, associations=associations)
