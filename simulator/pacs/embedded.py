"""The embedded archive as a PACS backend (the default)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from simulator.config import Endpoint, PacsConfig
from simulator.errors import HarnessError
from simulator.journal import Journal
from simulator.net.commitment import DELIVERY_MODES, Delivery
from simulator.nodes.archive import EmbeddedArchive
from simulator.pacs.base import Capability, PacsBackend


class EmbeddedBackend(PacsBackend):
    name = "embedded"

    def __init__(self, config: PacsConfig, workdir: Path | None = None, *,
                 commitment_delivery: Delivery = "auto") -> None:
        super().__init__(config, workdir)
        self._own_dir = workdir is None
        self.data_dir = workdir or Path(tempfile.mkdtemp(prefix="radsim-archive-"))
        self.archive: EmbeddedArchive | None = None
        self._delivery: Delivery = commitment_delivery

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset({Capability.STORAGE, Capability.QUERY, Capability.MOVE, Capability.GET,
                          Capability.STORAGE_COMMITMENT, Capability.WIPE, Capability.INSPECT, Capability.RESTART})

    @property
    def endpoint(self) -> Endpoint:
        if self.archive is None or self.archive.endpoint is None:
            raise HarnessError("the embedded archive is not started")
        return self.archive.endpoint

    @property
    def commitment_deliveries(self) -> frozenset[str]:
        return frozenset(DELIVERY_MODES)

    @property
    def commitment_delivery(self) -> Delivery:
        return self._delivery

    def set_commitment_delivery(self, mode: str) -> None:
        super().set_commitment_delivery(mode)
        self._delivery = mode  # type: ignore[assignment]  # checked against DELIVERY_MODES above
        if self.archive is not None:
            self.archive.commitment_delivery = self._delivery

    def start(self, peers: Sequence[Endpoint], journal: Journal) -> Endpoint:
        self.peers = {p.ae_title: p for p in peers}
        self.archive = EmbeddedArchive(self.data_dir, ae_title=self.config.ae_title, journal=journal,
                                       peers=dict(self.peers), commitment_delivery=self._delivery)
        endpoint = self.archive.start(self.config.host, self.config.port)
        self._identify(journal)
        return endpoint

    def add_peer(self, endpoint: Endpoint) -> None:
        self._archive().add_peer(endpoint)
        self.peers[endpoint.ae_title] = endpoint

    def wipe(self) -> None:
        self._archive().index.wipe()

    def sop_instance_uids(self, study_instance_uid: str | None = None) -> set[str]:
        return self._archive().index.sop_instance_uids(study_instance_uid)

    def stop(self, timeout: float = 15.0) -> None:
        if self.archive is not None:
            self.archive.stop(timeout)
            self.archive = None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def describe(self) -> str:
        where = self.archive.endpoint if self.archive and self.archive.endpoint else "not started"
        return f"embedded archive {where}"

    def _archive(self) -> EmbeddedArchive:
        if self.archive is None:
            raise HarnessError("the embedded archive is not started")
        return self.archive
