"""The remote backend as a user runs it: `radsim run --pacs remote` against a PACS radsim did not start.

Two PACS stand in for "someone else's": `radsim serve archive --hierarchical-only` in its own process (a strict
baseline Query/Retrieve SCP that refuses relational queries, PS3.4 C.4.1.2.2.1), and a real Orthanc whose
DICOMweb root is given with --pacs-url.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.config import Endpoint, default_department
from simulator.department import Department
from simulator.net.ports import free_port
from simulator.overrides import Overrides, apply_overrides
from simulator.scenario import Outcome, load_scenario, run_scenario
from tests.conftest import running_orthanc, stop_process, wait_for_echo

ROOT = Path(__file__).resolve().parents[2]
RADSIM = [sys.executable, "-m", "simulator.cli"]
PACS_AE = "FAR_PACS"


@pytest.fixture
def strict_archive(tmp_path: Path) -> Iterator[tuple[Endpoint, int, int]]:
    """`radsim serve archive --hierarchical-only` that knows WS1 and the QA node on fixed ports."""
    port, ws_port, qa_port = free_port(), free_port(), free_port()
    log = (tmp_path / "archive.log").open("w")
    proc = subprocess.Popen([*RADSIM, "serve", "archive", "--aet", PACS_AE, "--port", str(port),
                             "--data", str(tmp_path / "arc"), "--hierarchical-only",
                             "--peer", f"WS1@127.0.0.1:{ws_port}", "--peer", f"RADSIM_QA@127.0.0.1:{qa_port}"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    endpoint = Endpoint(ae_title=PACS_AE, host="127.0.0.1", port=port)
    try:
        wait_for_echo(endpoint, proc, lambda: (tmp_path / "archive.log").read_text())
        yield endpoint, ws_port, qa_port
    finally:
        stop_process(proc)
        log.close()


def test_radsim_run_against_a_strict_remote_archive(strict_archive: tuple[Endpoint, int, int]) -> None:
    """Storage through QA, await (which lists the study level by level), C-FIND, C-MOVE and C-GET all pass against
    an archive that answers 0xA900 to any relational query."""
    endpoint, ws_port, qa_port = strict_archive
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run(
        [*RADSIM, "run", "scenarios/conformance/ct-roundtrip-move.yaml", "scenarios/conformance/ct-roundtrip-get.yaml",
         "scenarios/conformance/qa-rejects-missing-patient-id.yaml", "--pacs", "remote", "--pacs-aet", PACS_AE,
         "--pacs-host", "127.0.0.1", "--pacs-port", str(endpoint.port), "--ws-port", str(ws_port),
         "--qa-port", str(qa_port)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout, result.stdout
    assert "register these AEs" in result.stdout and f"port {ws_port}" in result.stdout


def test_remote_pacs_with_a_dicomweb_url_serves_wado() -> None:
    """A remote PACS given --pacs-url offers DICOMweb, and the wado step uses that URL (it used to report
    "offers no DICOMweb" although the capability was advertised)."""
    ws_port, qa_port = free_port(), free_port()
    peers = [Endpoint(ae_title="WS1", port=ws_port), Endpoint(ae_title="RADSIM_QA", port=qa_port)]
    with running_orthanc(peers) as orthanc:
        url = orthanc.dicomweb_url
        assert url, "the Debian package orthanc-dicomweb is needed for this test"
        config = apply_overrides(default_department(), Overrides(
            pacs="remote", pacs_aet=orthanc.endpoint.ae_title, pacs_port=orthanc.endpoint.port, pacs_url=url,
            ws_port=ws_port, qa_port=qa_port))
        department = Department(config).start()
        try:
            assert department.pacs.dicomweb_url == url
            assert department.pacs.identity is not None and department.pacs.identity.implementation_class_uid
            result = run_scenario(load_scenario(ROOT / "scenarios/workflow/retrieval-wado-identical.yaml"),
                                  department)
        finally:
            department.stop()
    assert result.outcome is Outcome.PASSED, result.transcript()
