"""The embedded archive as a PACS backend (the default)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from simulator.config import Endpoint, PacsConfig
from simulator.errors import HarnessError
from simulator.journal import Journal
from simulator.net.commitment import Delivery
from simulator.nodes.archive import EmbeddedArchive
from simulator.pacs.base import Capability


class EmbeddedBackend:
    name = "embedded"

    def __init__(self, config: PacsConfig, data_dir: Path | None = None, *,
                 commitment_delivery: Delivery = "auto") -> None:
        self.config = config
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="radsim-archive-"))
        self.archive: EmbeddedArchive | None = None
        self.commitment_delivery: Delivery = commitment_delivery

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset({Capability.STORAGE, Capability.QUERY, Capability.MOVE, Capability.GET,
                          Capability.STORAGE_COMMITMENT, Capability.WIPE, Capability.INSPECT})

    @property
    def endpoint(self) -> Endpoint:
        if self.archive is None or self.archive.endpoint is None:
            raise HarnessError("the embedded archive is not started")
        return self.archive.endpoint

    def start(self, peers: Sequence[Endpoint], journal: Journal) -> Endpoint:
        self.archive = EmbeddedArchive(self.data_dir, ae_title=self.config.ae_title, journal=journal,
                                       peers={p.ae_title: p for p in peers},
                                       commitment_delivery=self.commitment_delivery)
        return self.archive.start(self.config.host, self.config.port)

    def add_peer(self, endpoint: Endpoint) -> None:
        """Know ``endpoint`` as a C-MOVE destination and storage commitment requester while running."""
        self._archive().add_peer(endpoint)

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
