"""The interface every PACS backend implements, and the readiness wait they share."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

from simulator.config import Endpoint, PacsConfig
from simulator.errors import NodeNotReady
from simulator.journal import Journal


class Capability(StrEnum):
    """What a scenario may require of the archive (``requires: [...]``)."""

    STORAGE = "storage"
    QUERY = "query"
    MOVE = "move"
    GET = "get"
    DICOMWEB = "dicomweb"
    STORAGE_COMMITMENT = "storage-commitment"
    WORKLIST = "worklist"
    WIPE = "wipe"
    INSPECT = "inspect"


@runtime_checkable
class PacsBackend(Protocol):
    """A PACS the department stores into and retrieves from.

    Lifecycle: ``start(peers)`` (launch if managed, then wait until ready), ``wipe()`` between scenarios,
    ``stop()`` at the end (always, from a ``finally``).
    """

    name: str
    config: PacsConfig  # where it listens; the department restarts a stopped backend on its bound port

    @property
    def capabilities(self) -> frozenset[Capability]: ...

    @property
    def endpoint(self) -> Endpoint:
        """Where the PACS listens; valid after ``start``."""
        ...

    def start(self, peers: Sequence[Endpoint], journal: Journal) -> Endpoint:
        """Start (if managed) knowing ``peers`` as C-MOVE destinations and callers; wait until ready."""
        ...

    def wipe(self) -> None:
        """Delete every stored instance."""
        ...

    def sop_instance_uids(self, study_instance_uid: str | None = None) -> set[str]:
        """The SOP Instance UIDs the PACS holds (of one study, or all)."""
        ...

    def stop(self, timeout: float = 15.0) -> None: ...

    def describe(self) -> str:
        """One line for reports: backend, AE, host and port."""
        ...


def wait_until(check: Callable[[], str | None], *, timeout: float, what: str, log_path: Path | None = None,
               interval: float = 0.1) -> None:
    """Poll ``check`` (None = ready, else the reason it is not) until ready or ``timeout``.

    On timeout raise NodeNotReady with the last reason and the tail of ``log_path``.
    """
    deadline = time.monotonic() + timeout
    reason = "not checked"
    while True:
        reason_or_none = check()
        if reason_or_none is None:
            return
        reason = reason_or_none
        if time.monotonic() >= deadline:
            raise NodeNotReady(what, timeout, reason, tail(log_path) if log_path else "")
        time.sleep(interval)


def tail(path: Path | None, lines: int = 20) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])
