"""``radsim serve ris`` as a user runs it: it serves the schedule, says where and how much, stops cleanly on SIGINT
and SIGTERM, and a bad schedule is one line and exit code 2."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from simulator.config import Endpoint
from simulator.net import DicomClient
from simulator.net.ports import free_port
from tests.conftest import wait_for_echo

ROOT = Path(__file__).resolve().parents[3]
RADSIM = [sys.executable, "-m", "simulator.cli"]
SCHEDULE = ROOT / "examples" / "schedule.yaml"


def start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("RADSIM_DEBUG", None)
    return subprocess.Popen([*RADSIM, "serve", "ris", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, env=env)


def stop(proc: subprocess.Popen[str], sig: int) -> tuple[str, str]:
    try:
        if proc.poll() is None:
            proc.send_signal(sig)
        return proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 20.0) -> list[str]:
    """Lines of stdout up to and including the first that contains ``marker``; fails on exit or timeout.

    Reads the pipe's file descriptor itself: a text stream's readline() may pull several lines into its own buffer,
    and select() on the descriptor then waits for data that has already arrived."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    pending = b""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                pytest.fail(f"radsim exited ({proc.wait(timeout=10)}) before printing {marker!r}: {lines}")
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                lines.append(raw.decode("utf-8", "replace"))
                if marker in lines[-1]:
                    return lines
    pytest.fail(f"radsim did not print {marker!r} within {timeout:.0f}s: {lines}")


def worklist(endpoint: Endpoint) -> list[Dataset]:
    identifier = Dataset()
    identifier.AccessionNumber = ""
    identifier.PatientName = ""
    return DicomClient("CT1", node="CT1").find(endpoint, identifier, model="worklist")


def test_serves_the_schedule_and_stops_on_sigterm() -> None:
    port = free_port()
    proc = start("--aet", "RIS_TEST", "--port", str(port), "--schedule", str(SCHEDULE))
    try:
        endpoint = Endpoint(ae_title="RIS_TEST", host="127.0.0.1", port=port)
        wait_for_echo(endpoint, proc, lambda: "")
        items = worklist(endpoint)
        assert len(items) == 14
        assert {"ACC26110001", "ACC26110014"} <= {str(i.AccessionNumber) for i in items}
    finally:
        out, err = stop(proc, signal.SIGTERM)
    assert proc.returncode == 0, err
    assert f"14 scheduled procedure steps from {SCHEDULE}" in out
    assert f"listening as RIS_TEST@127.0.0.1:{port}" in out
    assert "MPPS instances: none" in out and "RIS stopped" in out


def test_port_0_picks_a_free_port_and_prints_it() -> None:
    proc = start("--aet", "RIS_ZERO", "--port", "0")
    try:
        lines = read_until(proc, "listening as")
        assert "0 scheduled procedure steps" in lines[0]
        address = lines[-1].split("listening as ", 1)[1].split()[0]
        endpoint = Endpoint.parse(address)
        assert endpoint.ae_title == "RIS_ZERO" and endpoint.port != 0
        assert worklist(endpoint) == []  # an empty worklist, not an error
    finally:
        out, err = stop(proc, signal.SIGINT)
    assert proc.returncode == 0, err
    assert "RIS stopped" in out


@pytest.mark.parametrize(("content", "expected"), [
    ("date: 2026-11-26\nsteps:\n  - patient: {id: P1, name: Doe^John, birth_date: 1970-01-01, sex: M}\n"
     "    accession_number: A1\n    requested_procedure_id: R1\n    requested_procedure_description: CT\n"
     "    scheduled_procedure_step_id: S1\n    modality: CT\n    station_ae_title: CT1\n    start_time: 10:30\n",
     ":10, field 'steps.0.start_time'"),
    ("steps: [\n", "invalid YAML"),
    (None, "file not found"),
])
def test_a_bad_schedule_is_one_line_and_exit_2(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "schedule.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    proc = start("--port", "0", "--schedule", str(path))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err
    assert str(path) in lines[0] and expected in lines[0]
    assert "listening" not in out


def test_a_port_in_use_is_one_line_and_exit_2() -> None:
    port = free_port()
    first = start("--port", str(port))
    try:
        wait_for_echo(Endpoint(ae_title="RADSIM_RIS", host="127.0.0.1", port=port), first, lambda: "")
        second = start("--port", str(port))
        out, err = second.communicate(timeout=60)
        assert second.returncode == 2
        assert err.startswith("error:") and "already in use" in err and len(err.strip().splitlines()) == 1
        assert "listening" not in out
    finally:
        stop(first, signal.SIGTERM)
    assert first.returncode == 0
