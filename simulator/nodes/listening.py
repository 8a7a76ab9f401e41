"""The shape every node with a listening SCP shares: start on host:port (0 = free port), endpoint, stop."""

from __future__ import annotations

from simulator.config import Endpoint
from simulator.net import DicomServer


class ListeningNode:
    """Base for nodes that own one :class:`DicomServer` in ``self._server``."""

    _server: DicomServer

    @property
    def endpoint(self) -> Endpoint | None:
        """Where the node listens; None until started."""
        return self._server.endpoint

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Endpoint:
        return self._server.start(host, port)

    def stop(self, timeout: float = 10.0) -> None:
        self._server.stop(timeout)
