"""Orthanc as a PACS backend: a local ``Orthanc`` process with a generated configuration.

Each start gets a fresh folder (storage, index, worklists, config, log): Orthanc fails with "database is locked"
when restarted on a storage folder another process released moments ago. Orthanc 1.10.1 has no bind-address
option: its DICOM port listens on every interface, its HTTP port refuses non-loopback clients
(``RemoteAccessAllowed: false``). The REST calls are :class:`~simulator.pacs.orthanc_rest.OrthancRest`'s.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import requests

from simulator.config import Endpoint, OrthancPacsConfig, PacsConfig
from simulator.errors import BackendUnavailable, ConfigError, HarnessError, NetworkError, PortInUse
from simulator.journal import Journal
from simulator.net.ports import free_port
from simulator.pacs.base import Capability, PacsBackend
from simulator.pacs.orthanc_rest import DICOMWEB_ROOT, OrthancRequestFailed, OrthancRest, version_tuple
from simulator.pacs.orthanc_settings import (
    DICOMWEB_PLUGIN,
    SYSTEM_CA_BUNDLE,
    WORKLIST_PLUGIN,
    orthanc_settings,
)
from simulator.pacs.process import EarlyExit, ManagedProcess, find_executable, launch_until_bound

__all__ = ["OrthancBackend", "OrthancRequestFailed", "find_binary", "find_plugin"]

FALLBACK_BINARIES: tuple[str, ...] = ("/usr/sbin/Orthanc", "/usr/local/sbin/Orthanc", "/usr/local/bin/Orthanc")
PLUGIN_DIRS: tuple[Path, ...] = (
    Path("/usr/share/orthanc/plugins"),  # Debian: orthanc, orthanc-dicomweb
    Path("/usr/lib/orthanc/plugins"),
    Path("/usr/local/share/orthanc/plugins"),
)

# Orthanc's error texts when a listening port is taken (OrthancException codes 2004 and 2003).
_DICOM_PORT_TAKEN = "TCP port of the DICOM server is privileged or already in use"
_HTTP_PORT_TAKEN = "TCP port of the HTTP server is privileged or already in use"

_BASE_CAPABILITIES = frozenset({Capability.STORAGE, Capability.QUERY, Capability.MOVE, Capability.GET,
                                Capability.WIPE, Capability.INSPECT, Capability.RESTART})
# Orthanc is a Storage Commitment Push Model SCP since 1.6.0: it answers the N-ACTION, then sends the result on a
# new association to the requesting AE as registered in DicomModalities. It aborts an N-ACTION from an AE title it
# does not know.
STORAGE_COMMITMENT_SINCE = (1, 6, 0)


def find_binary(name: str) -> str | None:
    """The Orthanc executable: ``name`` as a path or on PATH, else the usual install locations."""
    return find_executable(name, FALLBACK_BINARIES)


def find_plugin(filename: str, dirs: Sequence[Path] = PLUGIN_DIRS) -> Path | None:
    for folder in dirs:
        path = folder / filename
        if path.is_file():
            return path
    return None


class OrthancBackend(PacsBackend):
    """A managed Orthanc process (``Orthanc --logfile=LOG CONFIG.json``) on loopback."""

    name = "orthanc"

    def __init__(self, config: PacsConfig, workdir: Path | None = None) -> None:
        super().__init__(config, workdir)
        if not isinstance(config, OrthancPacsConfig):
            raise ConfigError(f"the orthanc backend needs an orthanc PACS configuration, not '{config.backend}'")
        self.orthanc: OrthancPacsConfig = config
        self._root: Path | None = None  # folder we created (removed at stop); None when workdir was given
        self.run_dir: Path | None = None  # this run's config, log, storage and worklists
        self._process: ManagedProcess | None = None
        self._endpoint: Endpoint | None = None
        self._http_port: int | None = None
        self._plugins: frozenset[str] = frozenset()
        self._version = ""
        self._rest: OrthancRest | None = None
        self.startup_s: float | None = None

    # -- facts -------------------------------------------------------------------------------------------------

    @property
    def capabilities(self) -> frozenset[Capability]:
        caps = set(_BASE_CAPABILITIES)
        if "dicom-web" in self._plugins:
            caps.add(Capability.DICOMWEB)
        if "worklists" in self._plugins:
            caps.add(Capability.WORKLIST)
        if self._version and version_tuple(self._version) >= STORAGE_COMMITMENT_SINCE:
            caps.add(Capability.STORAGE_COMMITMENT)
        return frozenset(caps)

    @property
    def endpoint(self) -> Endpoint:
        if self._endpoint is None:
            raise HarnessError("the Orthanc backend is not started")
        return self._endpoint

    @property
    def http_url(self) -> str:
        """Base URL of the REST API, e.g. ``http://127.0.0.1:8042``."""
        if self._http_port is None:
            raise HarnessError("the Orthanc backend is not started")
        return f"http://127.0.0.1:{self._http_port}"

    @property
    def dicomweb_url(self) -> str | None:
        """DICOMweb root (QIDO/WADO/STOW-RS) when the plugin is loaded."""
        return self.http_url + DICOMWEB_ROOT.rstrip("/") if "dicom-web" in self._plugins else None

    @property
    def worklist_dir(self) -> Path | None:
        """Folder the worklist plugin reads ``.wl`` files from, when the plugin is loaded."""
        if "worklists" not in self._plugins or self.run_dir is None:
            return None
        return self.run_dir / "worklists"

    @property
    def log_path(self) -> Path | None:
        return self.run_dir / "orthanc.log" if self.run_dir else None

    @property
    def version(self) -> str:
        return self._version

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def log_tail(self, lines: int = 20) -> str:
        """The end of Orthanc's log, plus anything it printed outside the log file."""
        return self._process.log_tail(lines) if self._process is not None else ""

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self, peers: Sequence[Endpoint], journal: Journal) -> Endpoint:
        """Launch Orthanc knowing ``peers`` (callers and C-MOVE destinations); wait until ready."""
        if self._process is not None:
            raise HarnessError(f"the Orthanc backend is already running ({self.describe()})")
        binary = find_binary(self.orthanc.binary)
        if binary is None:
            raise BackendUnavailable(
                f"Orthanc binary '{self.orthanc.binary}' not found: install the Debian package "
                "'orthanc' or set the PACS 'binary' (--pacs-binary)"
            )
        self.peers = {p.ae_title: p for p in peers}
        self._journal = journal
        if self.workdir is None:
            self._root = Path(tempfile.mkdtemp(prefix="radsim-orthanc-"))
        else:
            self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            launch_until_bound(lambda last: self._launch_and_wait(binary, last_attempt=last))
            return self.endpoint
        except BaseException:
            self.stop()
            raise

    def _launch_and_wait(self, binary: str, *, last_attempt: bool) -> bool:
        """One launch; False when a port we picked was taken meanwhile (worth another try)."""
        parent = self._root or self.workdir
        assert parent is not None
        run_dir = Path(tempfile.mkdtemp(prefix="orthanc-", dir=parent))
        self.run_dir = run_dir
        dicom_port = self.config.port or free_port()
        self._http_port = free_port()
        self._endpoint = Endpoint(ae_title=self.config.ae_title, host=self.config.host, port=dicom_port)
        plugin_paths = [p for p in (find_plugin(DICOMWEB_PLUGIN), find_plugin(WORKLIST_PLUGIN)) if p]
        worklists = run_dir / "worklists"
        worklists.mkdir()
        settings = orthanc_settings(
            ae_title=self.config.ae_title, dicom_port=dicom_port, http_port=self._http_port,
            storage=run_dir / "storage", peers=self.peers, plugins=plugin_paths, worklists=worklists,
            ca_bundle=SYSTEM_CA_BUNDLE if Path(SYSTEM_CA_BUNDLE).is_file() else None)
        config_path = run_dir / "orthanc.json"
        config_path.write_text(json.dumps(settings, indent=2), encoding="utf-8")
        log_path = run_dir / "orthanc.log"
        self._rest = OrthancRest(self.http_url)
        what = f"Orthanc PACS {self._endpoint} (http {self.http_url})"
        self._process = ManagedProcess([binary, f"--logfile={log_path}", str(config_path)], cwd=run_dir,
                                       log_path=run_dir / "orthanc.stdout", what=what, logs=[log_path])
        self._process.launch()
        try:
            self.startup_s = self._process.wait_ready(self._readiness, self.config.ready_timeout_s)
        except EarlyExit as exc:
            log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
            picked_dicom = self.config.port == 0
            if not last_attempt and (_HTTP_PORT_TAKEN in log or (picked_dicom and _DICOM_PORT_TAKEN in log)):
                return False
            cause: Exception | None = None
            if _DICOM_PORT_TAKEN in log:
                cause = PortInUse("the Orthanc DICOM server", self.config.host, dicom_port)
            elif _HTTP_PORT_TAKEN in log:
                cause = PortInUse("the Orthanc HTTP server", "127.0.0.1", self._http_port)
            raise self._process.exited(exc, str(cause) if cause else "") from cause
        return True

    def _readiness(self) -> str | None:
        """None once ``GET /system`` answers 200 and C-ECHO succeeds."""
        assert self._rest is not None
        try:
            status, system = self._rest.system()
        except requests.RequestException as exc:
            return f"GET {self.http_url}/system: {type(exc).__name__}"
        if status != 200:
            return f"GET {self.http_url}/system answered HTTP {status}"
        try:
            self._identify(timeout=2.0)
        except NetworkError as exc:
            return f"C-ECHO: {exc}"
        self._version = str(system.get("Version", ""))
        self._plugins = self._rest.plugins()
        return None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; reap; remove the folder we created. Idempotent."""
        if self._rest is not None:  # close keep-alive connections first: they delay Orthanc's exit
            self._rest.close()
            self._rest = None
        if self._process is not None:
            self._process.reap(timeout)
            self._process = None
        self._plugins = frozenset()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
            self.run_dir = None

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
        self.stop()

    # -- state -------------------------------------------------------------------------------------------------

    def wipe(self) -> None:
        """Delete every patient (and so every study, series and instance)."""
        self._api().wipe()

    def sop_instance_uids(self, study_instance_uid: str | None = None) -> set[str]:
        """SOP Instance UIDs held by Orthanc (``POST /tools/find`` at instance level)."""
        return self._api().sop_instance_uids(study_instance_uid)

    def add_peer(self, endpoint: Endpoint) -> None:
        """Register ``endpoint`` as a DICOM modality while running (``PUT /modalities/{AE}``)."""
        self._api().add_modality(endpoint)
        self.peers[endpoint.ae_title] = endpoint

    def describe(self) -> str:
        if self._endpoint is None or self._process is None:
            return f"Orthanc (not started; binary '{self.orthanc.binary}')"
        version = f" {self._version}" if self._version else ""
        return f"Orthanc{version} {self._endpoint} ({self.http_url})"

    def _api(self) -> OrthancRest:
        if self._rest is None:
            raise HarnessError("the Orthanc backend is not started")
        return self._rest
