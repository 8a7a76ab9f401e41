"""What the PACS backends that run a program of their own share (dcmqrscp, PixelMed): a run folder with a
generated configuration, a free port (tried again when someone else took it meanwhile), readiness by C-ECHO,
wiping by restarting on empty data, and the program's log attached to every error.

A subclass says how to configure and start its program; everything about the process lives here.
"""

from __future__ import annotations

import shutil
import tempfile
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path

from simulator.config import Endpoint, PacsConfig
from simulator.errors import BackendUnavailable, HarnessError, NetworkError, PortInUse
from simulator.journal import Journal
from simulator.net.ports import free_port
from simulator.pacs.base import Capability, PacsBackend
from simulator.pacs.process import EarlyExit, ManagedProcess, find_executable, launch_until_bound


class _PortTaken(Exception):
    """The program's log says its port is taken."""


class NativeBackend(PacsBackend):
    """A PACS program started by radsim. The data folder survives restarts (``stop_node``/``start_node``, new
    peers); :meth:`wipe` empties it."""

    program: str = ""  # what to call the program in messages, e.g. "dcmqrscp"
    package: str = ""  # the Debian package that provides it
    capabilities_offered: frozenset[Capability] = frozenset({
        Capability.STORAGE, Capability.QUERY, Capability.MOVE, Capability.GET, Capability.WIPE,
        Capability.INSPECT, Capability.RESTART})

    def __init__(self, config: PacsConfig, workdir: Path | None = None) -> None:
        super().__init__(config, workdir)
        self._root: Path | None = None  # folder we created (removed at stop); None when workdir was given
        self.run_dir: Path | None = None
        self._process: ManagedProcess | None = None
        self._endpoint: Endpoint | None = None
        self.startup_s: float | None = None

    # -- what a subclass provides ----------------------------------------------------------------------------

    @abstractmethod
    def _binary_name(self) -> str:
        """The executable as configured (a name on PATH or a path)."""

    @abstractmethod
    def _prepare(self, run_dir: Path, port: int) -> list[str]:
        """Write the configuration for listening on ``port``; return the command line (argv[0] excluded)."""

    def _data_dirs(self, run_dir: Path) -> list[Path]:
        """Folders holding stored instances and their index (emptied by :meth:`wipe`)."""
        return [run_dir / "storage"]

    def _port_taken(self, log: str) -> bool:
        """Whether the program's log says its port was taken."""
        return "Address already in use" in log

    # -- facts -------------------------------------------------------------------------------------------------

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.capabilities_offered

    @property
    def endpoint(self) -> Endpoint:
        if self._endpoint is None:
            raise HarnessError(f"the {self.name} backend is not started")
        return self._endpoint

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def log_tail(self, lines: int = 20) -> str:
        return self._process.log_tail(lines) if self._process is not None else ""

    def describe(self) -> str:
        if self._endpoint is None or self._process is None:
            return f"{self.program} (not started)"
        who = self.identity.implementation_version_name if self.identity else ""
        return f"{self.program}{' ' + who if who else ''} {self._endpoint}"

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self, peers: Sequence[Endpoint], journal: Journal) -> Endpoint:
        """Start the program knowing ``peers`` (C-MOVE destinations); wait until it answers C-ECHO."""
        if self._process is not None:
            raise HarnessError(f"the {self.name} backend is already running ({self.describe()})")
        self.peers = {p.ae_title: p for p in peers}
        self._journal = journal
        binary = find_executable(self._binary_name())
        if binary is None:
            raise BackendUnavailable(
                f"{self.program} executable '{self._binary_name()}' not found: install the Debian package "
                f"'{self.package}' or set the PACS 'binary' (--pacs-binary)")
        if self.run_dir is None:
            if self.workdir is None:
                self._root = Path(tempfile.mkdtemp(prefix=f"radsim-{self.name}-"))
                self.run_dir = self._root
            else:
                self.workdir.mkdir(parents=True, exist_ok=True)
                self.run_dir = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir=self.workdir))
        try:
            launch_until_bound(lambda last: self._launch(binary, last_attempt=last))
            return self.endpoint
        except BaseException:
            self.stop()
            raise

    def _launch(self, binary: str, *, last_attempt: bool) -> bool:
        assert self.run_dir is not None
        port = self.config.port or free_port()
        self._endpoint = Endpoint(ae_title=self.config.ae_title, host=self.config.host, port=port)
        argv = [binary, *self._prepare(self.run_dir, port)]
        log = self.run_dir / f"{self.name}.log"
        log.write_bytes(b"")
        what = f"{self.program} PACS {self._endpoint}"
        self._process = ManagedProcess(argv, cwd=self.run_dir, log_path=log, what=what, group=True)
        self._process.launch()
        try:
            self.startup_s = self._process.wait_ready(self._readiness, self.config.ready_timeout_s)
        except (EarlyExit, _PortTaken) as exc:
            taken = isinstance(exc, _PortTaken) or self._port_taken(self._process.log_text())
            code = exc if isinstance(exc, EarlyExit) else EarlyExit(-1)
            self._process.reap()
            if taken and self.config.port == 0 and not last_attempt:
                return False
            raise self._process.exited(code, str(PortInUse(what, self.config.host, port)) if taken else "") from None
        return True

    def _readiness(self) -> str | None:
        assert self._process is not None
        if self._port_taken(self._process.log_text()):
            raise _PortTaken()  # some programs run on without their DICOM port
        try:
            self._identify(timeout=2.0, calling_ae=next(iter(self.peers), "RADSIM_PROBE"))
        except NetworkError as exc:
            return f"C-ECHO: {exc}"
        return None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (the program and whatever it forked), SIGKILL after ``timeout``; remove the folder we created.
        Idempotent."""
        if self._process is not None:
            self._process.reap(timeout)
            self._process = None
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
            self.run_dir = None

    def kill(self) -> None:
        """SIGKILL, as a crash; the data folder stays for :meth:`start` (the department's ``start_node``)."""
        if self._process is not None:
            self._process.kill()
            self._process = None

    def _restart(self, *, wipe: bool) -> None:
        """Stop and start again on the same port and data folder (emptied first when ``wipe``)."""
        if self._process is None or self.run_dir is None:
            raise HarnessError(f"the {self.name} backend is not started")
        port = self.endpoint.port
        self._process.reap()
        self._process = None
        if wipe:
            for folder in self._data_dirs(self.run_dir):
                shutil.rmtree(folder, ignore_errors=True)
        self.config = self.config.model_copy(update={"port": port})
        self.start(list(self.peers.values()), self._journal)

    # -- state -------------------------------------------------------------------------------------------------

    def wipe(self) -> None:
        """Delete every stored instance: restart on an empty data folder (these programs have no delete command
        that empties their index)."""
        self._restart(wipe=True)

    def add_peer(self, endpoint: Endpoint) -> None:
        """Know ``endpoint`` as a C-MOVE destination: the configuration is read at start, so restart (the data
        stays)."""
        self.peers[endpoint.ae_title] = endpoint
        self._restart(wipe=False)
