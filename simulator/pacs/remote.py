"""Any PACS given by AE title, host and port; radsim neither starts nor wipes it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from simulator.config import Endpoint, PacsConfig, RemotePacsConfig
from simulator.errors import ConfigError
from simulator.journal import Journal
from simulator.pacs.base import Capability, PacsBackend


class RemoteBackend(PacsBackend):
    """Someone else's PACS. Scenarios use fresh UIDs instead of wiping it; what it holds of a study is found by
    hierarchical C-FIND (:func:`simulator.net.hierarchy.study_instances`), calling as our first peer."""

    name = "remote"
    managed = False

    def __init__(self, config: PacsConfig, workdir: Path | None = None) -> None:
        super().__init__(config, workdir)
        if not isinstance(config, RemotePacsConfig):
            raise ConfigError(f"the remote backend needs a remote PACS configuration, not '{config.backend}'")
        self.remote: RemotePacsConfig = config
        self._endpoint = Endpoint(ae_title=config.ae_title, host=config.host, port=config.port)

    @property
    def capabilities(self) -> frozenset[Capability]:
        caps = {Capability.STORAGE, Capability.QUERY, Capability.MOVE, Capability.GET, Capability.INSPECT}
        if self.remote.http_url:
            caps.add(Capability.DICOMWEB)
        return frozenset(caps)

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoint

    @property
    def dicomweb_url(self) -> str | None:
        return self.remote.http_url.rstrip("/") if self.remote.http_url else None

    def start(self, peers: Sequence[Endpoint], journal: Journal) -> Endpoint:
        """Check the PACS answers C-ECHO from our first AE (raises PeerUnreachable/AssociationRejected) and note
        how it identifies itself."""
        self.peers = {p.ae_title: p for p in peers}
        self._journal = journal
        self._identify(journal, calling_ae=next(iter(self.peers), "RADSIM"), timeout=10.0)
        return self._endpoint

    def wipe(self) -> None:
        """A remote PACS is never wiped; scenarios use fresh UIDs instead."""

    def stop(self, timeout: float = 15.0) -> None:
        """Nothing to stop: radsim did not start it."""

    def describe(self) -> str:
        who = f" ({self.identity.implementation_version_name or self.identity.implementation_class_uid})" if (
            self.identity) else ""
        return f"remote PACS {self._endpoint}{who}"
