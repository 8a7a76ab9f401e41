"""What the benchmarks share: their error, rounding for JSON, the machine facts, and a node in a child process
driven over a pipe (so that it does not share the sender's interpreter lock, like any real PACS or router)."""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom
import pynetdicom


class BenchError(Exception):
    """A run did not store what it should have."""


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def machine_facts(**extra: Any) -> dict[str, Any]:
    """CPU count and model, platform, Python and library versions, load average now; plus ``extra``."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(), "cpu_model": cpu, "platform": platform.platform(),
        "python": platform.python_version(), "pydicom": pydicom.__version__, "pynetdicom": pynetdicom.__version__,
        **extra,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def finish(*, repeat: int, seconds: float, facts: dict[str, Any], orthanc: str | None, config: dict[str, Any],
           results: list[dict[str, Any]], json_path: Path | None, **extra: Any) -> None:
    """Print the closing line (runs, whole time, load average at start and end) and, with ``json_path``, write
    the machine facts, ``config``, ``extra`` and ``results`` there."""
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"\n{repeat} runs each, median shown; whole bench {seconds:.0f} s; "
          f"load average at start {facts['loadavg_at_start']}, at end {load} (other work on the machine "
          "skews the figures)")
    if json_path is None:
        return
    payload = {"machine": {**facts, "orthanc": orthanc, "loadavg_at_end": load}, "config": config, **extra,
               "results": results}
    json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"figures written to {json_path}")


class ChildProcess:
    """A spawned process running ``target(conn, *args)``, which answers ``(command, arg)`` messages on the pipe
    and ends on ``stop_command`` or when the pipe closes."""

    def __init__(self, name: str, target: Callable[..., None], *args: Any, stop_command: str = "stop",
                 timeout: float = 300.0) -> None:
        self.name = name
        self.timeout = timeout
        self._stop_command = stop_command
        ctx = multiprocessing.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._process = ctx.Process(target=target, args=(child_conn, *args), name=name, daemon=True)
        self._process.start()
        child_conn.close()

    def receive(self, what: str, timeout: float | None = None) -> Any:
        wait = self.timeout if timeout is None else timeout
        try:
            if self._conn.poll(wait):
                return self._conn.recv()
        except (EOFError, OSError):
            pass
        raise BenchError(f"the {self.name} child process did not answer '{what}' within {wait:.0f} s "
                         f"(exit code {self._process.exitcode})")

    def call(self, command: str, arg: Any = None, timeout: float | None = None) -> Any:
        self._conn.send((command, arg))
        return self.receive(command, timeout)

    def stop(self) -> None:
        try:
            if self._process.is_alive():
                self._conn.send((self._stop_command, None))
        except (BrokenPipeError, OSError):
            pass
        self._process.join(15)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._conn.close()
