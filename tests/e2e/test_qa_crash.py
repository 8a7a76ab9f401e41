"""Nothing acknowledged is lost: `radsim serve qa` is killed with SIGKILL at random moments while a modality
sends, restarted on the same data folder, and in the end the archive holds every instance exactly once.

The modality behaves as real ones do: whatever was not acknowledged is sent again on the next attempt.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from simulator.config import Endpoint
from simulator.errors import NetworkError
from simulator.journal import Journal
from simulator.net import DicomClient
from simulator.net.ports import free_port
from simulator.synth import build_ct_study
from tests.conftest import wait_for_echo

ROUNDS = 8
RADSIM = [sys.executable, "-m", "simulator.cli"]


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    try:
        return subprocess.Popen([*RADSIM, *args], stdout=handle, stderr=subprocess.STDOUT)
    finally:
        handle.close()


def _wait_ready(endpoint: Endpoint, proc: subprocess.Popen[bytes], log: Path) -> None:
    wait_for_echo(endpoint, proc, lambda: log.read_text(errors="replace")[-2000:], timeout=30)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Endpoint]:
    endpoint = Endpoint(ae_title="CRASH_PACS", host="127.0.0.1", port=free_port())
    log = tmp_path / "archive.log"
    proc = _start(["serve", "archive", "--aet", endpoint.ae_title, "--port", str(endpoint.port),
                   "--data", str(tmp_path / "archive")], log)
    try:
        _wait_ready(endpoint, proc, log)
        yield endpoint
    finally:
        _stop(proc)


def _held(archive: Endpoint, study_uid: str) -> set[str]:
    # One relational query (PS3.4 C.4.1.2.2.2; the embedded archive accepts it) lists the study, duplicates included.
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.StudyInstanceUID = study_uid
    query.SeriesInstanceUID = ""
    query.SOPInstanceUID = ""
    matches = DicomClient("AUDIT", node="audit").find(archive, query, relational=True)
    uids = [str(m.SOPInstanceUID) for m in matches]
    assert len(uids) == len(set(uids)), "the archive lists an instance twice"
    return set(uids)


def test_sigkill_at_random_moments_loses_nothing(tmp_path: Path, archive: Endpoint) -> None:
    rng = random.Random(int(os.environ.get("RADSIM_CRASH_SEED", "20261126")))
    study = build_ct_study(77, series=3, instances=100, rows=32, columns=32)  # 300 instances
    by_uid = {str(ds.SOPInstanceUID): ds for ds in study.datasets}
    acknowledged: set[str] = set()
    qa = Endpoint(ae_title="CRASH_QA", host="127.0.0.1", port=free_port())
    qa_args = ["serve", "qa", "--aet", qa.ae_title, "--port", str(qa.port), "--data", str(tmp_path / "qa"),
               "--forward", f"{archive.ae_title}@{archive.host}:{archive.port}"]
    kills = 0
    for _ in range(ROUNDS):
        pending = [ds for uid, ds in by_uid.items() if uid not in acknowledged]
        if not pending:
            break
        log = tmp_path / "qa.log"
        proc = _start(qa_args, log)
        try:
            _wait_ready(qa, proc, log)
            journal = Journal()
            killer = threading.Timer(rng.uniform(0.05, 0.8), lambda p=proc: p.send_signal(signal.SIGKILL))
            killer.start()
            try:
                DicomClient("CT1", node="CT1", journal=journal).store(qa, pending)
            except NetworkError:
                kills += 1  # killed mid-association: what was acknowledged is in the journal
            finally:
                killer.cancel()
            acknowledged |= {str(e.detail["sop_instance_uid"]) for e in journal.select(kind="C-STORE")
                             if e.status == 0}
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
    # A last, undisturbed run sends whatever is left and drains the queue.
    log = tmp_path / "qa-final.log"
    proc = _start(qa_args, log)
    try:
        _wait_ready(qa, proc, log)
        pending = [ds for uid, ds in by_uid.items() if uid not in acknowledged]
        outcomes = DicomClient("CT1", node="CT1").store(qa, pending) if pending else []
        acknowledged |= {o.sop_instance_uid for o in outcomes if o.status == 0}
        assert acknowledged == set(by_uid)
        deadline = time.monotonic() + 120
        held = _held(archive, study.study_instance_uid)
        while held != acknowledged and time.monotonic() < deadline:
            time.sleep(0.2)
            held = _held(archive, study.study_instance_uid)
    finally:
        _stop(proc)
    assert kills >= 1, "no round was interrupted; the test proved nothing"
    missing = acknowledged - held
    assert not missing, f"{len(missing)} acknowledged instance(s) never reached the archive"
    assert held == acknowledged  # nothing extra, and (checked in _held) nothing twice
