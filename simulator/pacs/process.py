"""A PACS that runs as a child process of ours: launched with its output in a log, waited on until it answers,
stopped (SIGTERM, then SIGKILL) or killed, and its log attached to any error.

Shared by the native backends (Orthanc, dcmqrscp, PixelMed). Every process gets ``TCP_NODELAY=1``: DCMTK and
Orthanc leave Nagle's algorithm on otherwise, and each C-STORE response then waits ~40 ms for a delayed ACK on
loopback (measured: 200 CT slices 9.1 s with Nagle, 0.11 s without).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from simulator.errors import NodeNotReady
from simulator.pacs.base import tail, wait_until


class EarlyExit(Exception):
    """The process ended while we waited for it to become ready."""

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(f"exited with code {code}")


def find_executable(name: str, fallbacks: Sequence[str] = ()) -> str | None:
    """``name`` as a path or on PATH, else the first of ``fallbacks`` that exists; an explicit path that does not
    exist is not replaced by another program."""
    found = shutil.which(name)
    if found:
        return found
    if os.sep in name:
        return None
    for candidate in fallbacks:
        found = shutil.which(candidate)
        if found:
            return found
    return None


PORT_ATTEMPTS = 3


def launch_until_bound(launch: Callable[[bool], bool], attempts: int = PORT_ATTEMPTS) -> None:
    """Call ``launch(last_attempt)`` until it returns True; False means a port picked for it was taken by someone
    else between picking and binding, which is worth another try with other ports."""
    for attempt in range(1, attempts + 1):
        if launch(attempt == attempts):
            return
    raise AssertionError(f"launch gave up without an error after {attempts} attempts")


class ManagedProcess:
    """One run of a PACS program: ``argv`` in ``cwd``, stdout and stderr into ``log_path``; ``logs`` are log files
    the program writes itself, whose ends are shown with errors too."""

    def __init__(self, argv: Sequence[str], *, cwd: Path, log_path: Path, what: str,
                 env: Mapping[str, str] | None = None, logs: Sequence[Path] = (), group: bool = False) -> None:
        self.argv = list(argv)
        self.group = group  # run in a session of its own; stop and kill reach what it forked too
        self.cwd = cwd
        self.log_path = log_path
        self.logs = tuple(logs)
        self.what = what
        self.env = {**os.environ, "TCP_NODELAY": "1", **(env or {})}
        self._process: subprocess.Popen[bytes] | None = None
        self.started_at: float | None = None

    def launch(self) -> None:
        self.cwd.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self._process = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, cwd=self.cwd, env=self.env,
                                             start_new_session=self.group)
        self.started_at = time.monotonic()

    def wait_ready(self, check: Callable[[], str | None], timeout: float) -> float:
        """Wait until ``check`` returns None (ready); returns the seconds it took. Raises :class:`EarlyExit` when
        the process ends first (it is reaped), NodeNotReady with the log tail after ``timeout``."""
        started = self.started_at or time.monotonic()

        def ready() -> str | None:
            code = self.poll()
            if code is not None:
                self.reap()
                raise EarlyExit(code)
            return check()

        wait_until(ready, timeout=timeout, what=self.what, log=self.log_tail)
        return time.monotonic() - started

    def exited(self, exc: EarlyExit, reason: str = "") -> NodeNotReady:
        """The error for a process that ended before it was ready, with its log."""
        waited = time.monotonic() - (self.started_at or time.monotonic())
        ended = f"the process exited with code {exc.code}" if exc.code >= 0 else "the process could not start serving"
        text = ended + (f": {reason}" if reason else "")
        return NodeNotReady(self.what, waited, text, self.log_tail())

    def poll(self) -> int | None:
        return None if self._process is None else self._process.poll()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def log_text(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 20) -> str:
        parts = [tail(path, lines) for path in (*self.logs, self.log_path)]
        return "\n".join(p for p in parts if p)

    def reap(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; wait for the process to end. Idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            self._signal(process, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
        process.wait()
        if self.group:  # children it forked that outlived it
            self._signal(process, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL, as a crash would end it; wait for it to end."""
        process, self._process = self._process, None
        if process is None:
            return
        self._signal(process, signal.SIGKILL)
        process.wait()

    def _signal(self, process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.group:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)
