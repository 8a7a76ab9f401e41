"""The contract every PACS backend fulfils, with "not supported" defaults, and the readiness wait they share.

Callers use only what is declared here: a backend that lacks a feature inherits a default that says so
(:class:`~simulator.errors.NotSupported`, or ``None`` for an optional fact), never a missing attribute. A new
backend is one module with a subclass plus one entry in :mod:`simulator.pacs.registry`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

from simulator.config import Endpoint, PacsConfig
from simulator.errors import HarnessError, NodeNotReady, NotSupported
from simulator.journal import Journal
from simulator.net import DicomClient, PeerIdentity
from simulator.net.hierarchy import study_instance_uids


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
    RESTART = "restart"


# The AE title our backends use for their own readiness checks and inspection queries.
PROBE_AE = "RADSIM_PROBE"


class PacsBackend(ABC):
    """A PACS the department stores into and retrieves from.

    Lifecycle: ``start(peers, journal)`` (launch if managed, then wait until ready), ``wipe()`` between scenarios,
    ``stop()`` at the end (always, from a ``finally``). ``peers`` are our nodes: callers and C-MOVE destinations
    the PACS must know (PS3.4 C.4.2.1.4).
    """

    name: ClassVar[str]
    managed: ClassVar[bool] = True  # radsim starts and stops it (False: someone else's PACS)

    def __init__(self, config: PacsConfig, workdir: Path | None = None) -> None:
        self.config: PacsConfig = config  # the department restarts a stopped backend on its bound port
        self.workdir = workdir
        self.peers: dict[str, Endpoint] = {}
        self.identity: PeerIdentity | None = None  # what the PACS said of itself in its A-ASSOCIATE-AC
        self._journal: Journal = Journal()
        self._inspector: DicomClient | None = None

    # -- facts -------------------------------------------------------------------------------------------------

    @property
    @abstractmethod
    def capabilities(self) -> frozenset[Capability]: ...

    @property
    @abstractmethod
    def endpoint(self) -> Endpoint:
        """Where the PACS listens; valid after ``start``."""

    @property
    def dicomweb_url(self) -> str | None:
        """The DICOMweb root (QIDO-RS, WADO-RS, STOW-RS; PS3.18), None when the PACS offers none."""
        return None

    @property
    def worklist_dir(self) -> Path | None:
        """Folder of ``.wl`` files the PACS answers Modality Worklist queries from, None when it has none."""
        return None

    @property
    def pid(self) -> int | None:
        """The PACS's own process, when radsim runs one."""
        return None

    @property
    def commitment_deliveries(self) -> frozenset[str]:
        """How storage commitment results may be sent (PS3.4 J.3.3): the modes :meth:`set_commitment_delivery`
        accepts. A PACS that decides for itself sends results on a new association (``new``)."""
        return frozenset({"new"})

    def set_commitment_delivery(self, mode: str) -> None:
        """Choose how commitment results are sent (``same``, ``new`` or ``auto`` association)."""
        if mode not in self.commitment_deliveries:
            raise NotSupported(f"{self.name} decides itself how it sends commitment results (it offers: "
                               f"{', '.join(sorted(self.commitment_deliveries))})")

    def describe(self) -> str:
        """One line for reports: backend, version, AE, host and port."""
        try:
            where = str(self.endpoint)
        except HarnessError:
            where = "not started"
        return f"{self.name} {where}"

    def log_tail(self, lines: int = 20) -> str:
        """The end of the PACS's own log, for error messages; empty when there is none."""
        return ""

    # -- lifecycle ---------------------------------------------------------------------------------------------

    @abstractmethod
    def start(self, peers: Sequence[Endpoint], journal: Journal) -> Endpoint:
        """Start (if managed) knowing ``peers`` as C-MOVE destinations and callers; wait until ready."""

    @abstractmethod
    def stop(self, timeout: float = 15.0) -> None:
        """Stop (if managed) and release what ``start`` created; idempotent."""

    def kill(self) -> None:
        """Stop abruptly, as a crash would (SIGKILL for a process of its own); default: :meth:`stop`."""
        self.stop()

    def add_peer(self, endpoint: Endpoint) -> None:
        """Know ``endpoint`` as a caller and C-MOVE destination while running."""
        raise NotSupported(f"{self.name} cannot learn new peers while running")

    # -- state -------------------------------------------------------------------------------------------------

    def wipe(self) -> None:
        """Delete every stored instance."""
        raise NotSupported(f"{self.name} cannot be wiped by radsim")

    def sop_instance_uids(self, study_instance_uid: str | None = None) -> set[str]:
        """The SOP Instance UIDs the PACS holds of one study, found by hierarchical C-FIND (PS3.4 C.4.1.3.1).

        Backends that can look inside the archive override this (and may list every study with None)."""
        if study_instance_uid is None:
            raise NotSupported(f"listing every instance of {self.name} is not supported; name a study")
        return study_instance_uids(self._client(), self.endpoint, study_instance_uid)

    def registration_help(self, peers: Sequence[Endpoint] | None = None) -> str:
        """What must be configured at the PACS before it can send to our nodes (C-MOVE destinations)."""
        rows = [f"  {p.ae_title:<16} host {p.host:<15} port {p.port}"
                for p in (peers if peers is not None else self.peers.values())]
        return (f"register these AEs at the PACS {self.endpoint} (as C-MOVE destinations and allowed callers):\n"
                + "\n".join(rows))

    # -- shared by subclasses ----------------------------------------------------------------------------------

    def _client(self) -> DicomClient:
        """The SCU for inspection queries, calling as our first peer (a PACS that checks callers knows it)."""
        calling = next(iter(self.peers), PROBE_AE)
        if self._inspector is None or self._inspector.ae_title != calling or self._inspector.journal is not (
                self._journal):
            self._inspector = DicomClient(calling, node="PACS-probe", journal=self._journal)
        return self._inspector

    def _identify(self, journal: Journal | None = None, *, calling_ae: str = PROBE_AE,
                  timeout: float = 5.0) -> PeerIdentity:
        """C-ECHO the PACS and keep what its A-ASSOCIATE-AC says of it (PS3.7 D.3.3.2)."""
        from simulator.net.scu import Timeouts

        client = DicomClient(calling_ae, node="PACS-probe", journal=journal or self._journal,
                             timeouts=Timeouts(acse=timeout, dimse=timeout, network=timeout))
        self.identity = client.identify(self.endpoint)
        return self.identity


def wait_until(check: Callable[[], str | None], *, timeout: float, what: str, log_path: Path | None = None,
               log: Callable[[], str] | None = None, interval: float = 0.1) -> None:
    """Poll ``check`` (None = ready, else the reason it is not) until ready or ``timeout``.

    On timeout raise NodeNotReady with the last reason and the tail of ``log_path`` (or what ``log`` returns).
    """
    deadline = time.monotonic() + timeout
    reason = "not checked"
    while True:
        reason_or_none = check()
        if reason_or_none is None:
            return
        reason = reason_or_none
        if time.monotonic() >= deadline:
            text = log() if log is not None else tail(log_path) if log_path else ""
            raise NodeNotReady(what, timeout, reason, text)
        time.sleep(interval)


def tail(path: Path | None, lines: int = 20) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])
