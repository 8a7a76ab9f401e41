"""Command-line and pytest-option overrides of a department, applied in one place.

``radsim run`` and the pytest plugin take the same settings (``--pacs``, ``--pacs-aet``, ``--pacs-host``,
``--pacs-port``, ``--pacs-url``, ``--pacs-binary``, ``--ws-port``, ``--qa-port``, ``--listen-host``) and check them
the same way: an option the chosen backend has no use for is an error, not silently ignored, and a remote PACS
gets the fixed ports it must be told about.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from simulator.config import BACKENDS, PACS_CONFIGS, DepartmentConfig, Role, pacs_config
from simulator.errors import ConfigError

# Fields every backend shares: kept when an override switches the backend.
_COMMON = ("ae_title", "host", "port", "ready_timeout_s")


@dataclass(frozen=True)
class Overrides:
    """Settings given on a command line; None = keep the department file's value."""

    pacs: str | None = None
    pacs_aet: str | None = None
    pacs_host: str | None = None
    pacs_port: int | None = None
    pacs_url: str | None = None
    pacs_binary: str | None = None
    ws_port: int | None = None
    qa_port: int | None = None
    listen_host: str | None = None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def apply_overrides(config: DepartmentConfig, overrides: Overrides) -> DepartmentConfig:
    """``config`` with ``overrides`` applied and checked; raises ConfigError naming the option at fault."""
    backend = overrides.pacs or config.pacs.backend
    if backend not in BACKENDS:
        raise ConfigError(f"unknown PACS backend '{backend}' (choose one of: {', '.join(BACKENDS)})")
    current = config.pacs.model_dump()
    values: dict[str, Any] = current if backend == config.pacs.backend else {
        key: current[key] for key in _COMMON}
    values["backend"] = backend
    model_fields = PACS_CONFIGS[backend].model_fields
    for option, key, value in (("--pacs-aet", "ae_title", overrides.pacs_aet),
                               ("--pacs-host", "host", overrides.pacs_host),
                               ("--pacs-port", "port", overrides.pacs_port),
                               ("--pacs-url", "http_url", overrides.pacs_url),
                               ("--pacs-binary", "binary", overrides.pacs_binary)):
        if value is None:
            continue
        if key not in model_fields:
            users = [name for name, model in PACS_CONFIGS.items() if key in model.model_fields]
            raise ConfigError(f"{option} does not apply to --pacs {backend} (it is for: {', '.join(users)})")
        values[key] = value
    if backend == "remote" and not values.get("port"):
        raise ConfigError("--pacs remote needs --pacs-port (and --pacs-aet, --pacs-host) of your PACS")
    config = config.with_pacs(pacs_config(**values))
    for role, port in ((Role.WORKSTATION, overrides.ws_port), (Role.QA, overrides.qa_port)):
        for node in config.nodes_with_role(role):
            changes: dict[str, Any] = {}
            if port is not None:
                if not 0 <= port <= 65535:
                    raise ConfigError(f"port {port} is out of range 0-65535")
                changes["port"] = port
            if overrides.listen_host is not None:
                changes["host"] = overrides.listen_host
            if changes:
                config = config.with_node(node.model_copy(update=changes))
    if backend == "remote":
        # The PACS sends to workstations (C-MOVE) and QA nodes; modalities and the RIS only call it (a modality's
        # port matters for storage commitment results on a new association: fix it in a department file).
        unfixed = [n for n in config.nodes if n.role in (Role.WORKSTATION, Role.QA) and n.port == 0]
        if unfixed:
            raise ConfigError(
                "--pacs remote needs fixed ports for the nodes your PACS sends to: give --ws-port and --qa-port "
                f"(unset: {', '.join(n.name for n in unfixed)}), then register them at the PACS")
    return config
