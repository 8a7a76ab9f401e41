"""Choose a backend by name."""

from __future__ import annotations

from pathlib import Path

from simulator.config import BACKENDS, PacsConfig
from simulator.errors import ConfigError
from simulator.pacs.base import PacsBackend


def create_backend(config: PacsConfig, workdir: Path | None = None) -> PacsBackend:
    """The backend ``config.backend`` names; ``workdir`` holds its files (a temporary folder when None)."""
    if config.backend == "embedded":
        from simulator.pacs.embedded import EmbeddedBackend

        return EmbeddedBackend(config, workdir)
    if config.backend == "orthanc":
        from simulator.pacs.orthanc import OrthancBackend

        return OrthancBackend(config, workdir)
    if config.backend == "remote":
        from simulator.pacs.remote import RemoteBackend

        return RemoteBackend(config)
    raise ConfigError(f"unknown PACS backend '{config.backend}' (choose one of: {', '.join(BACKENDS)})")
