"""Orthanc as a PACS backend: a local ``Orthanc`` process with a generated configuration.

Each start gets a fresh folder (storage, index, worklists, config, log): Orthanc fails with "database is locked"
when restarted on a storage folder another process released moments ago. Orthanc 1.10.1 has no bind-address
option: its DICOM port listens on every interface, its HTTP port refuses non-loopback clients
(``RemoteAccessAllowed: false``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from simulator.config import Endpoint, PacsConfig
from simulator.errors import BackendUnavailable, HarnessError, NetworkError, NodeNotReady, PortInUse
from simulator.journal import Journal
from simulator.net import DicomClient
from simulator.net.ports import free_port
from simulator.net.scu import Timeouts
from simulator.pacs.base import Capability, tail, wait_until

FALLBACK_BINARIES: tuple[str, ...] = ("/usr/sbin/Orthanc", "/usr/local/sbin/Orthanc", "/usr/local/bin/Orthanc")
PLUGIN_DIRS: tuple[Path, ...] = (
    Path("/usr/share/orthanc/plugins"),  # Debian: orthanc, orthanc-dicomweb
    Path("/usr/lib/orthanc/plugins"),
    Path("/usr/local/share/orthanc/plugins"),
)
DICOMWEB_PLUGIN = "libOrthancDicomWeb.so"
WORKLIST_PLUGIN = "libModalityWorklists.so"
DICOMWEB_ROOT = "/dicom-web/"
PROBE_AE = "RADSIM_PROBE"
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

# Orthanc's error texts when a listening port is taken (OrthancException codes 2004 and 2003).
_DICOM_PORT_TAKEN = "TCP port of the DICOM server is privileged or already in use"
_HTTP_PORT_TAKEN = "TCP port of the HTTP server is privileged or already in use"
_PORT_ATTEMPTS = 3
_HTTP_TIMEOUT = (5.0, 60.0)  # (connect, read) seconds

_BASE_CAPABILITIES = frozenset({Capability.STORAGE, Capability.QUERY, Capability.MOVE, Capability.GET,
                                Capability.WIPE, Capability.INSPECT})
# Orthanc is a Storage Commitment Push Model SCP since 1.6.0: it answers the N-ACTION, then sends the result on a
# new association to the requesting AE as registered in DicomModalities (with AllowStorageCommitment, an alias for
# AllowNAction and AllowEventReport). It aborts an N-ACTION from an AE title it does not know.
STORAGE_COMMITMENT_SINCE = (1, 6, 0)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _modality(endpoint: Endpoint) -> dict[str, Any]:
    """A DicomModalities entry (and ``PUT /modalities`` body) that may also request storage commitment and receive
    its results."""
    return {"AET": endpoint.ae_title, "Host": endpoint.host, "Port": endpoint.port, "AllowStorageCommitment": True}


class OrthancRequestFailed(HarnessError):
    """An Orthanc REST call failed (no answer, or an HTTP error status)."""

    def __init__(self, method: str, url: str, problem: str) -> None:
        self.method = method
        self.url = url
        super().__init__(f"Orthanc REST {method} {url} failed: {problem}")


class _EarlyExit(Exception):
    """The Orthanc process ended while we waited for it to become ready."""

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(f"exited with code {code}")


def find_binary(name: str) -> str | None:
    """The Orthanc executable: ``name`` as a path or on PATH, else the usual install locations."""
    found = shutil.which(name)
    if found:
        return found
    if os.sep in name:  # an explicit path that does not exist: do not silently use another Orthanc
        return None
    for candidate in FALLBACK_BINARIES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def find_plugin(filename: str, dirs: Sequence[Path] = PLUGIN_DIRS) -> Path | None:
    for folder in dirs:
        path = folder / filename
        if path.is_file():
            return path
    return None


class OrthancBackend:
    """A managed Orthanc process (``Orthanc --logfile=LOG CONFIG.json``) on loopback."""

    name = "orthanc"

    def __init__(self, config: PacsConfig, workdir: Path | None = None) -> None:
        self.config = config
        self._workdir = workdir
        self._root: Path | None = None  # folder we created (removed at stop); None when workdir was given
        self.run_dir: Path | None = None  # this run's config, log, storage and worklists
        self._process: subprocess.Popen[bytes] | None = None
        self._endpoint: Endpoint | None = None
        self._http_port: int | None = None
        self._plugins: frozenset[str] = frozenset()
        self._version = ""
        self._session: requests.Session | None = None
        self.peers: dict[str, Endpoint] = {}
        self.startup_s: float | None = None

    # -- facts -------------------------------------------------------------------------------------------------

    @property
    def capabilities(self) -> frozenset[Capability]:
        caps = set(_BASE_CAPABILITIES)
        if "dicom-web" in self._plugins:
            caps.add(Capability.DICOMWEB)
        if "worklists" in self._plugins:
            caps.add(Capability.WORKLIST)
        if self._version and _version_tuple(self._version) >= STORAGE_COMMITMENT_SINCE:
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

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self, peers: Sequence[Endpoint], journal: Journal) -> Endpoint:
        """Launch Orthanc knowing ``peers`` (callers and C-MOVE destinations); wait until ready."""
        if self._process is not None:
            raise HarnessError(f"the Orthanc backend is already running ({self.describe()})")
        binary = find_binary(self.config.orthanc_binary)
        if binary is None:
            raise BackendUnavailable(
                f"Orthanc binary '{self.config.orthanc_binary}' not found: install the Debian package "
                "'orthanc' or set pacs.orthanc_binary"
            )
        self.peers = {p.ae_title: p for p in peers}
        if self._workdir is None:
            self._root = Path(tempfile.mkdtemp(prefix="radsim-orthanc-"))
        else:
            self._workdir.mkdir(parents=True, exist_ok=True)
        self._session = requests.Session()
        self._session.trust_env = False  # never send loopback requests through an HTTP proxy
        try:
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                if self._launch_and_wait(binary, last_attempt=attempt == _PORT_ATTEMPTS):
                    return self.endpoint
            raise AssertionError("unreachable")  # pragma: no cover
        except BaseException:
            self.stop()
            raise

    def _launch_and_wait(self, binary: str, *, last_attempt: bool) -> bool:
        """One launch; False when a port we picked was taken meanwhile (worth another try)."""
        parent = self._root or self._workdir
        assert parent is not None
        run_dir = Path(tempfile.mkdtemp(prefix="orthanc-", dir=parent))
        self.run_dir = run_dir
        dicom_port = self.config.port or free_port()
        self._http_port = free_port()
        self._endpoint = Endpoint(ae_title=self.config.ae_title, host=self.config.host, port=dicom_port)
        plugin_paths = [p for p in (find_plugin(DICOMWEB_PLUGIN), find_plugin(WORKLIST_PLUGIN)) if p]
        settings = self._settings(run_dir, dicom_port, self._http_port, plugin_paths)
        config_path = run_dir / "orthanc.json"
        with config_path.open("w", encoding="utf-8") as fh:
            json.dump(settings, fh, indent=2)
        log_path = run_dir / "orthanc.log"
        started = time.monotonic()
        with (run_dir / "orthanc.stdout").open("wb") as out:
            self._process = subprocess.Popen(
                [binary, f"--logfile={log_path}", str(config_path)], stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=run_dir, env={**os.environ, "TCP_NODELAY": "1"},
            )
        what = f"Orthanc PACS {self._endpoint} (http {self.http_url})"
        try:
            wait_until(self._readiness, timeout=self.config.ready_timeout_s, what=what, log_path=log_path)
        except _EarlyExit as exc:
            self._reap()
            log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
            picked_dicom = self.config.port == 0
            if not last_attempt and (_HTTP_PORT_TAKEN in log or (picked_dicom and _DICOM_PORT_TAKEN in log)):
                return False
            reason = f"the Orthanc process exited with code {exc.code}"
            if _DICOM_PORT_TAKEN in log:
                cause: Exception = PortInUse("the Orthanc DICOM server", self.config.host, dicom_port)
                raise NodeNotReady(what, time.monotonic() - started, f"{reason}: {cause}",
                                   self._log_tail(run_dir)) from cause
            if _HTTP_PORT_TAKEN in log:
                cause = PortInUse("the Orthanc HTTP server", "127.0.0.1", self._http_port)
                raise NodeNotReady(what, time.monotonic() - started, f"{reason}: {cause}",
                                   self._log_tail(run_dir)) from cause
            raise NodeNotReady(what, time.monotonic() - started, reason, self._log_tail(run_dir)) from None
        self.startup_s = time.monotonic() - started
        return True

    def _settings(self, run_dir: Path, dicom_port: int, http_port: int,
                  plugins: Sequence[Path]) -> dict[str, Any]:
        storage = run_dir / "storage"
        settings: dict[str, Any] = {
            "Name": f"radsim {self.config.ae_title}",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "DicomServerEnabled": True,
            "DicomAet": self.config.ae_title,
            "DicomPort": dicom_port,
            "DicomCheckCalledAet": True,
            # Orthanc answers C-FIND (worklist included) in this encoding and drops what it cannot represent: with
            # the default (Latin1), a Japanese worklist item comes back as "Yamada^Tarou=^=^" (measured, 1.10.1).
            "DefaultEncoding": "Utf8",
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowFindWorklist": True,
            "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowMove": True,
            "DicomModalities": {ae: _modality(p) for ae, p in self.peers.items()},
            "DicomModalitiesInDatabase": False,
            "HttpServerEnabled": True,
            "HttpPort": http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "HttpDescribeErrors": True,
            "StableAge": 1,
            "ConcurrentJobs": 2,
            "SaveJobs": False,
            "LimitFindResults": 0,
            "LimitFindInstances": 0,
            "ExecuteLuaEnabled": False,
            "Plugins": [str(p) for p in plugins],
        }
        if Path(SYSTEM_CA_BUNDLE).is_file():  # unset, 1.10.1 points it at the config folder
            settings["HttpsCACertificates"] = SYSTEM_CA_BUNDLE
        names = {p.name for p in plugins}
        if DICOMWEB_PLUGIN in names:
            settings["DicomWeb"] = {"Enable": True, "Root": DICOMWEB_ROOT}
        if WORKLIST_PLUGIN in names:
            worklists = run_dir / "worklists"
            worklists.mkdir()
            settings["Worklists"] = {"Enable": True, "Database": str(worklists)}
        return settings

    def _readiness(self) -> str | None:
        """None once the process lives, ``GET /system`` answers 200 and C-ECHO succeeds."""
        process = self._process
        assert process is not None and self._session is not None
        code = process.poll()
        if code is not None:
            raise _EarlyExit(code)
        try:
            response = self._session.get(self.http_url + "/system", timeout=(1.0, 5.0))
        except requests.RequestException as exc:
            return f"GET {self.http_url}/system: {type(exc).__name__}"
        if response.status_code != 200:
            return f"GET {self.http_url}/system answered HTTP {response.status_code}"
        probe = DicomClient(ae_title=PROBE_AE, node="PACS-probe", journal=Journal(),
                            timeouts=Timeouts(acse=2.0, dimse=5.0, network=5.0))
        try:
            probe.echo(self.endpoint)
        except NetworkError as exc:
            return f"C-ECHO: {exc}"
        self._version = str(response.json().get("Version", ""))
        plugins = self._get("/plugins")
        self._plugins = frozenset(str(p) for p in plugins) if isinstance(plugins, list) else frozenset()
        return None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; reap; remove the folder we created. Idempotent."""
        if self._session is not None:  # close keep-alive connections first: they delay Orthanc's exit
            self._session.close()
            self._session = None
        self._reap(timeout)
        self._plugins = frozenset()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
            self.run_dir = None

    def _reap(self, timeout: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # -- state -------------------------------------------------------------------------------------------------

    def wipe(self) -> None:
        """Delete every patient (and so every study, series and instance)."""
        patients = self._get("/patients")
        if not isinstance(patients, list):
            raise OrthancRequestFailed("GET", self.http_url + "/patients", f"unexpected answer {patients!r}")
        for patient in patients:
            self._request("DELETE", f"/patients/{patient}", missing_ok=True)

    def sop_instance_uids(self, study_instance_uid: str | None = None) -> set[str]:
        """SOP Instance UIDs held by Orthanc (``POST /tools/find`` at instance level)."""
        # Orthanc refuses wildcards on UI tags ("Wildcards are not allowed on tag 0020,000d"): {} = everything
        match = {"StudyInstanceUID": study_instance_uid} if study_instance_uid else {}
        answer = self._request("POST", "/tools/find", body={"Level": "Instance", "Query": match, "Expand": True})
        if not isinstance(answer, list):
            raise OrthancRequestFailed("POST", self.http_url + "/tools/find", f"unexpected answer {answer!r}")
        return {str(item["MainDicomTags"]["SOPInstanceUID"]) for item in answer}

    def add_peer(self, endpoint: Endpoint) -> None:
        """Register ``endpoint`` as a DICOM modality while running (``PUT /modalities/{AE}``)."""
        self._request("PUT", f"/modalities/{endpoint.ae_title}", body=_modality(endpoint))
        self.peers[endpoint.ae_title] = endpoint

    def describe(self) -> str:
        if self._endpoint is None or self._process is None:
            return f"Orthanc (not started; binary '{self.config.orthanc_binary}')"
        version = f" {self._version}" if self._version else ""
        return f"Orthanc{version} {self._endpoint} ({self.http_url})"

    # -- REST --------------------------------------------------------------------------------------------------

    def _get(self, path: str) -> Any:
        return self._request("GET", path)

    def _request(self, method: str, path: str, *, body: Any = None, missing_ok: bool = False) -> Any:
        if self._session is None:
            raise HarnessError("the Orthanc backend is not started")
        url = self.http_url + path
        try:
            response = self._session.request(method, url, json=body, timeout=_HTTP_TIMEOUT)
        except requests.RequestException as exc:
            raise OrthancRequestFailed(method, url, f"no answer ({exc})") from None
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code >= 400:
            snippet = response.text.strip().replace("\n", " ")[:300]
            raise OrthancRequestFailed(method, url, f"HTTP {response.status_code} {snippet}".rstrip())
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    @staticmethod
    def _log_tail(run_dir: Path) -> str:
        """The end of Orthanc's log, plus anything it printed outside the log file."""
        parts = [tail(run_dir / "orthanc.log"), tail(run_dir / "orthanc.stdout")]
        return "\n".join(p for p in parts if p)
