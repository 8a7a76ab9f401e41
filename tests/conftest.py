"""Shared test helpers: real peers are required under RADSIM_REQUIRE_REAL=1 (CI), skipped elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import pytest

REQUIRE_REAL = os.environ.get("RADSIM_REQUIRE_REAL") == "1"


def require_binary(name: str, package: str) -> str:
    """Path of ``name``; skip (or fail under RADSIM_REQUIRE_REAL=1) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        reason = f"'{name}' not found: install the Debian package '{package}'"
        if REQUIRE_REAL:
            pytest.fail(reason + " (RADSIM_REQUIRE_REAL=1 forbids skipping)")
        pytest.skip(reason)
    return path


def require(condition: bool, reason: str) -> None:
    """Skip (or fail under RADSIM_REQUIRE_REAL=1) unless ``condition``: a peer lacks a feature the test needs."""
    if condition:
        return
    if REQUIRE_REAL:
        pytest.fail(reason + " (RADSIM_REQUIRE_REAL=1 forbids skipping)")
    pytest.skip(reason)


class _Listening(Protocol):
    def start(self, host: str = ..., port: int = ...) -> Any: ...

    def stop(self, timeout: float = ...) -> None: ...


N = TypeVar("N", bound=_Listening)


@contextmanager
def listening(node: N) -> Iterator[N]:
    """``node`` started on a free port, stopped (with a timeout) on exit."""
    node.start()
    try:
        yield node
    finally:
        node.stop(timeout=10)


@contextmanager
def running_orthanc(peers: Sequence[Any], journal: Any = None) -> Iterator[Any]:
    """A real Orthanc (Debian package) that knows ``peers``; skipped without it; stopped on exit."""
    from simulator.config import OrthancPacsConfig
    from simulator.journal import Journal
    from simulator.pacs.orthanc import OrthancBackend

    require_binary("Orthanc", "orthanc")
    pacs = OrthancBackend(OrthancPacsConfig(ready_timeout_s=30))
    try:
        pacs.start(list(peers), journal if journal is not None else Journal())
        yield pacs
    finally:
        pacs.stop()


# What each native backend needs on this machine: (program, Debian package) pairs.
BACKEND_NEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    "orthanc": (("Orthanc", "orthanc"),),
    "dcmqrscp": (("dcmqrscp", "dcmtk"),),
    "pixelmed": (("java", "pixelmed-apps"),),
}


def require_backend(name: str) -> None:
    """Skip (or fail under RADSIM_REQUIRE_REAL=1) unless backend ``name`` can run here."""
    for program, package in BACKEND_NEEDS.get(name, ()):
        require_binary(program, package)
    if name == "pixelmed":
        from simulator.pacs.pixelmed import PIXELMED_JAR

        require(PIXELMED_JAR.is_file(), f"{PIXELMED_JAR} not found: install the Debian package 'pixelmed-apps'")


@contextmanager
def running_pacs(name: str, peers: Sequence[Any] = (), journal: Any = None, workdir: Any = None,
                 **settings: Any) -> Iterator[Any]:
    """PACS backend ``name`` started knowing ``peers``; skipped when it cannot run here; stopped on exit."""
    from simulator.config import pacs_config
    from simulator.journal import Journal
    from simulator.pacs import create_backend

    require_backend(name)
    pacs = create_backend(pacs_config(backend=name, **settings), workdir)
    try:
        pacs.start(list(peers), journal if journal is not None else Journal())
        yield pacs
    finally:
        pacs.stop()


@pytest.fixture
def dcmtk_env() -> dict[str, str]:
    """Environment for DCMTK processes: TCP_NODELAY=1 avoids the ~40 ms Nagle stall per response."""
    return {**os.environ, "TCP_NODELAY": "1"}


def wait_for_echo(endpoint: Any, process: subprocess.Popen[Any], output: Callable[[], str],
                  timeout: float = 20.0) -> None:
    """Readiness of a node started as ``process``: our SCU's C-ECHO to ``endpoint`` succeeds. Fails the test
    with ``output()`` (the process's log) if it exits first or does not answer within ``timeout`` seconds."""
    from simulator.errors import NetworkError
    from simulator.net import DicomClient

    client = DicomClient("PROBE", node="probe")
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{endpoint} exited with code {process.returncode} before it answered C-ECHO:\n{output()}")
        try:
            client.echo(endpoint)
            return
        except NetworkError as exc:
            last_error = str(exc)
        time.sleep(0.05)
    pytest.fail(f"{endpoint} did not answer C-ECHO within {timeout:.0f}s ({last_error}):\n{output()}")


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; its last answer, as a bool."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Stop a process a test started: SIGTERM, wait up to ``timeout`` s, then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
