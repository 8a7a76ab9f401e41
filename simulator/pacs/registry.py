"""PACS backends by name: a table from the name ``--pacs`` takes to the class that runs it.

Modules are imported when a backend is created, so a backend's dependencies (``requests`` for Orthanc's REST API,
the docker SDK ...) cost nothing to a run that does not use it. Adding a backend: one module with a
:class:`~simulator.pacs.base.PacsBackend` subclass, one row here, and its configuration model in
:mod:`simulator.config`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from simulator.config import BACKENDS, PacsConfig
from simulator.errors import ConfigError
from simulator.pacs.base import PacsBackend


@dataclass(frozen=True)
class BackendEntry:
    module: str
    cls: str
    summary: str


REGISTRY: dict[str, BackendEntry] = {
    "embedded": BackendEntry("simulator.pacs.embedded", "EmbeddedBackend", "radsim's own archive, in process"),
    "orthanc": BackendEntry("simulator.pacs.orthanc", "OrthancBackend", "Debian's Orthanc, as a child process"),
    "dcmqrscp": BackendEntry("simulator.pacs.dcmqrscp", "DcmqrscpBackend", "DCMTK's dcmqrscp, as a child process"),
    "pixelmed": BackendEntry("simulator.pacs.pixelmed", "PixelmedBackend",
                             "PixelMed's DicomAndWebStorageServer (Java), as a child process"),
    "remote": BackendEntry("simulator.pacs.remote", "RemoteBackend", "any PACS by AE title, host and port"),
}
assert tuple(REGISTRY) == BACKENDS, "every backend configuration needs a registry row, and the reverse"


def backend_class(name: str) -> type[PacsBackend]:
    """The class of backend ``name``; ConfigError for a name nobody registered."""
    try:
        entry = REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown PACS backend '{name}' (choose one of: {', '.join(REGISTRY)})") from None
    cls = getattr(importlib.import_module(entry.module), entry.cls)
    if not (isinstance(cls, type) and issubclass(cls, PacsBackend)):
        raise TypeError(f"{entry.module}.{entry.cls} is not a PacsBackend")
    return cls


def create_backend(config: PacsConfig, workdir: Path | None = None) -> PacsBackend:
    """The backend ``config.backend`` names; ``workdir`` holds its files (a temporary folder when None)."""
    return backend_class(config.backend)(config, workdir)
