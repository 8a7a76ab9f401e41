"""The radsim command as a user runs it: exit codes and one clear line for each kind of bad input."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.config import Endpoint
from simulator.net.ports import free_port
from tests.conftest import wait_for_echo

ROOT = Path(__file__).resolve().parents[3]
RADSIM = [sys.executable, "-m", "simulator.cli"]


def radsim(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("RADSIM_DEBUG", None)
    return subprocess.run([*RADSIM, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error:"), result.stderr
    return lines[0]


def test_run_passes_the_echo_scenario_and_writes_a_report(tmp_path: Path) -> None:
    result = radsim("run", "scenarios/conformance/echo-every-node.yaml", "--report", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    (entry,) = report["results"]
    assert entry["outcome"] == "passed"
    assert any(row["kind"] == "C-ECHO" for row in entry["journal"])
    assert report["qa"]["QA"]["states"]["queued"] == 0  # the QA ledger is in the report (nothing stored here)
    assert report["pacs_identity"]["implementation_version_name"] == "RADSIM_0_1"  # from the A-ASSOCIATE-AC


def test_report_carries_the_qa_audit_trail(tmp_path: Path) -> None:
    result = radsim("run", "scenarios/qa/conflict-quarantined-then-released.yaml", "--report", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    qa = json.loads((tmp_path / "report.json").read_text())["qa"]["QA"]
    (instance,) = qa["instances"]
    events = [event["event"] for event in instance["audit"]]
    assert {"received", "verdict", "queued", "conflict", "quarantined", "released"} <= set(events)
    assert instance["state"] == "forwarded" and qa["truncated"] == 0


def test_report_carries_mpps_records_and_commitment_results(tmp_path: Path) -> None:
    result = radsim("run", "scenarios/workflow/commitment-new-association.yaml", "--report", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    (mpps,) = report["mpps"]["instances"]
    assert mpps["status"] == "COMPLETED" and mpps["created_by"] == "MR1"
    assert [m["operation"] for m in mpps["messages"]] == ["N-CREATE", "N-SET"]
    (commitment,) = report["storage_commitment"]["MR1"]
    assert commitment["delivery"] == "new-association" and len(commitment["committed"]) == 4
    assert commitment["failed"] == [] and commitment["reporter_ae"] == "RADSIM_PACS"


def test_failing_scenario_exits_1_and_shows_the_transcript(tmp_path: Path) -> None:
    bad = tmp_path / "scenarios" / "wrong.yaml"
    bad.parent.mkdir()
    bad.write_text("name: wrong expectation\nsteps:\n  - generate: {as: ct, instances: 2, rows: 16, columns: 16}\n"
                   "  - store: {study: ct, from: CT1, to: QA, expect: failure}\n")
    result = radsim("run", str(bad))
    assert result.returncode == 1
    assert "expected failure, got 0x0000" in result.stdout


def test_invalid_yaml_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps:\n  - echo: {from: CT1, to: [QA]}\n  - generate: {as: ct, instances: many}\n")
    line = one_error_line(radsim("run", str(bad)))
    assert f"{bad}:4" in line and "steps.1.generate.instances" in line


def test_unknown_backend() -> None:
    line = one_error_line(radsim("run", "--pacs", "pacsman"))
    assert "pacsman" in line and "embedded, orthanc, dcmqrscp, pixelmed, remote" in line


def test_nonexistent_scenario_path() -> None:
    line = one_error_line(radsim("run", "no/such/place"))
    assert "no/such/place" in line


def test_port_in_use() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        line = one_error_line(radsim("run", "scenarios/conformance/echo-every-node.yaml", "--qa-port", str(port)))
    assert str(port) in line and "already in use" in line


def test_unreachable_remote_pacs_names_ae_host_and_port() -> None:
    port = free_port()
    result = radsim("run", "--pacs", "remote", "--pacs-aet", "FARPACS", "--pacs-host", "127.0.0.1",
                    "--pacs-port", str(port), "--ws-port", str(free_port()), "--qa-port", str(free_port()))
    line = one_error_line(result)
    assert "FARPACS" in line and f"127.0.0.1:{port}" in line
    assert "register these AEs" in result.stdout  # what the user must configure at the PACS
    assert "WS1" in result.stdout


def test_remote_without_fixed_ports_says_which_flags() -> None:
    line = one_error_line(radsim("run", "--pacs", "remote", "--pacs-port", "104"))
    assert "--ws-port" in line and "--qa-port" in line


def test_missing_orthanc_binary() -> None:
    line = one_error_line(radsim("run", "--pacs", "orthanc", "--orthanc-binary", "/nonexistent/Orthanc"))
    assert "orthanc" in line.lower() and "install" in line


def test_generate_writes_readable_files(tmp_path: Path) -> None:
    import pydicom

    result = radsim("generate", "--out", str(tmp_path), "--seed", "3", "--series", "1", "--instances", "2",
                    "--rows", "16", "--columns", "16")
    assert result.returncode == 0, result.stderr
    files = sorted(tmp_path.rglob("*.dcm"))
    assert len(files) == 2
    assert pydicom.dcmread(files[0]).Modality == "CT"
    assert "2 files" in result.stdout


def test_generate_patients_studies_charset_syntax_and_defect(tmp_path: Path) -> None:
    import pydicom

    result = radsim("generate", "--modality", "DX", "--out", str(tmp_path), "--patients", "2", "--studies", "2",
                    "--charset", "greek", "--transfer-syntax", "jpeg-ls-lossless", "--defect", "missing-patient-id",
                    "--rows", "32", "--columns", "32")
    assert result.returncode == 0, result.stderr
    datasets = [pydicom.dcmread(path) for path in sorted(tmp_path.rglob("*.dcm"))]
    assert len({str(ds.StudyInstanceUID) for ds in datasets}) == 4  # 2 patients x 2 studies
    assert {str(ds.SpecificCharacterSet) for ds in datasets} == {"ISO_IR 126"}
    assert {str(ds.file_meta.TransferSyntaxUID) for ds in datasets} == {"1.2.840.10008.1.2.4.80"}
    assert all("PatientID" not in ds for ds in datasets)


def test_generate_list_names_every_modality_and_defect() -> None:
    from simulator.synth import DEFECTS
    from simulator.synth.registry import MODALITIES

    result = radsim("generate", "--list")
    assert result.returncode == 0, result.stderr
    for name in [*MODALITIES, *DEFECTS]:
        assert name in result.stdout


@pytest.mark.parametrize(("args", "expected"), [
    (["--modality", "PETSCAN"], "unknown modality 'PETSCAN'"),
    (["--transfer-syntax", "jpeg-baseline"], "jpeg-baseline"),
    (["--charset", "klingon"], "unknown charset 'klingon'"),
])
def test_generate_bad_choices_are_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    line = one_error_line(radsim("generate", "--out", str(tmp_path), "--rows", "16", "--columns", "16", *args))
    assert expected in line


def test_serve_archive_answers_echo_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([*RADSIM, "serve", "archive", "--aet", "ARCH", "--port", str(port),
                             "--data", str(tmp_path / "arc")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        endpoint = Endpoint(ae_title="ARCH", host="127.0.0.1", port=port)
        wait_for_echo(endpoint, proc, lambda: "")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped" in out


def test_serve_qa_rejects_a_bad_forward_address() -> None:
    line = one_error_line(radsim("serve", "qa", "--forward", "not-an-address"))
    assert "AET@HOST:PORT" in line
