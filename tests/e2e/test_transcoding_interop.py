"""Compressed instances reach peers that accept only Implicit VR Little Endian (PS3.5 10.1: the one syntax every
SCP must accept), decompressed and pixel-identical, through every radsim sender: the embedded archive's C-MOVE and
C-GET, the QA node's forwarder, and a modality. The peers are DCMTK's storescp +xi and getscu (as they ship in
Debian 12, without JPEG-LS or JPEG 2000 codecs), and radsim's own archive run with --accept implicit-le."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian

from simulator.config import Endpoint
from simulator.journal import Journal
from simulator.net import DicomClient
from simulator.net.ports import free_port
from simulator.nodes.archive import EmbeddedArchive
from simulator.nodes.qa import QANode
from simulator.synth import Study, build_ct_study
from simulator.synth.transfer import encode_study
from tests.conftest import listening, require_binary, stop_process, wait_for, wait_for_echo

pytestmark = pytest.mark.dcmtk
DEST_AE = "IMPLICIT_ONLY"
SYNTAXES = ("jpeg-ls-lossless", "j2k-lossless", "rle")


@pytest.fixture
def implicit_only(tmp_path: Path, dcmtk_env: dict[str, str]) -> Iterator[tuple[Endpoint, Path]]:
    """DCMTK storescp accepting Implicit VR Little Endian only (+xi), writing what it receives to a folder."""
    binary = require_binary("storescp", "dcmtk")
    port = free_port()
    folder = tmp_path / "received"
    folder.mkdir()
    log = tmp_path / "storescp.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "-aet", DEST_AE, "+xi", "-od", str(folder), str(port)], stdout=out,
                                stderr=subprocess.STDOUT, env=dcmtk_env)
    endpoint = Endpoint(ae_title=DEST_AE, port=port)
    try:
        wait_for_echo(endpoint, proc, lambda: log.read_text(errors="replace"))
        yield endpoint, folder
    finally:
        stop_process(proc)


def _compressed(seed: int, syntax: str) -> Study:
    study = build_ct_study(seed, series=1, instances=2, rows=32, columns=32)
    original = {str(ds.SOPInstanceUID): ds for ds in study.datasets}
    study.datasets = encode_study(study.datasets, syntax)
    study.originals = original  # type: ignore[attr-defined]
    return study


def _arrived_identical(folder: Path, study: Study, *, syntax: str = ImplicitVRLittleEndian,
                       timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while len(list(folder.iterdir())) < len(study) and time.monotonic() < deadline:
        time.sleep(0.05)
    _identical([dcmread(p) for p in folder.iterdir()], study, syntax=syntax)


def _identical(received: list[Dataset], study: Study, *, syntax: str = ImplicitVRLittleEndian) -> None:
    files = {str(ds.SOPInstanceUID): ds for ds in received}
    originals = study.originals  # type: ignore[attr-defined]
    assert set(files) == set(originals)
    for uid, ds in files.items():
        assert str(ds.file_meta.TransferSyntaxUID) == syntax
        assert np.array_equal(ds.pixel_array, originals[uid].pixel_array), uid
        assert str(ds.PatientName) == str(originals[uid].PatientName)


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_c_move_from_the_archive_to_an_implicit_only_scp(tmp_path: Path, implicit_only: tuple[Endpoint, Path],
                                                         syntax: str) -> None:
    destination, folder = implicit_only
    journal = Journal()
    study = _compressed(801, syntax)
    with listening(EmbeddedArchive(tmp_path / "arc", journal=journal, peers={DEST_AE: destination})) as archive:
        assert archive.endpoint is not None
        assert {o.status for o in DicomClient("CT1", node="CT1").store(archive.endpoint, study.datasets)} == {0}
        from simulator.nodes.workstation import identifier

        outcome = DicomClient("WS1", node="WS1").move(
            archive.endpoint, identifier("STUDY", {"StudyInstanceUID": study.study_instance_uid}), DEST_AE)
    assert (outcome.status, outcome.completed, outcome.failed) == (0, len(study), 0)
    _arrived_identical(folder, study)
    transcodes = journal.select(node=archive.node, kind="TRANSCODE")
    assert len(transcodes) == len(study) and all("decoded pixels equal" in t.meaning for t in transcodes)


def test_getscu_of_a_jpeg_ls_study_gets_it_decompressed(tmp_path: Path, dcmtk_env: dict[str, str]) -> None:
    """The requester (DCMTK 3.6.7's getscu offers Explicit VR Little Endian only for each storage class) gets every
    instance, and its release succeeds (it used to get 0xA702 and then fail to release)."""
    getscu = require_binary("getscu", "dcmtk")
    study = _compressed(802, "jpeg-ls-lossless")
    out = tmp_path / "got"
    out.mkdir()
    journal = Journal()
    with listening(EmbeddedArchive(tmp_path / "arc", journal=journal)) as archive:
        assert archive.endpoint is not None
        DicomClient("CT1", node="CT1").store(archive.endpoint, study.datasets)
        result = subprocess.run([getscu, "-v", "-aec", archive.ae_title, "-S", "-k", "QueryRetrieveLevel=STUDY",
                                 "-k", f"StudyInstanceUID={study.study_instance_uid}", "-od", str(out),
                                 "127.0.0.1", str(archive.endpoint.port)],
                                capture_output=True, text=True, timeout=60, env=dcmtk_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Release Failed" not in result.stderr and "Number of Completed Suboperations : 2" in result.stderr
    _arrived_identical(out, study, syntax="1.2.840.10008.1.2.1")
    transcodes = journal.select(node=archive.node, kind="TRANSCODE")
    assert [t.detail["to"] for t in transcodes] == ["1.2.840.10008.1.2.1"] * len(study)


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_c_get_by_a_requester_that_takes_implicit_vr_only(tmp_path: Path, syntax: str) -> None:
    from simulator.nodes.workstation import identifier

    study = _compressed(805, syntax)
    with listening(EmbeddedArchive(tmp_path / "arc")) as archive:
        assert archive.endpoint is not None
        DicomClient("CT1", node="CT1").store(archive.endpoint, study.datasets)
        outcome = DicomClient("WS1", node="WS1").get(
            archive.endpoint, identifier("STUDY", {"StudyInstanceUID": study.study_instance_uid}),
            storage_syntaxes=[ImplicitVRLittleEndian])
    assert (outcome.status, outcome.completed) == (0, len(study))
    _identical(outcome.received, study)


def test_the_qa_node_forwards_compressed_instances_to_an_implicit_only_pacs(tmp_path: Path,
                                                                            implicit_only: tuple[Endpoint, Path]
                                                                            ) -> None:
    destination, folder = implicit_only
    journal = Journal()
    study = _compressed(803, "jpeg-ls-lossless")
    qa = QANode(tmp_path / "qa", journal=journal, forward_to=destination)
    with listening(qa):
        assert {o.status for o in DicomClient("CT1", node="CT1").store(qa.endpoint, study.datasets)} == {0}  # type: ignore[arg-type]
        _arrived_identical(folder, study)
        assert wait_for(lambda: qa.ledger.counts()["forwarded"] == len(study), 20)
        states = {state: n for state, n in qa.ledger.counts().items() if n}
    assert states == {"forwarded": len(study)}
    assert len(journal.select(node=qa.node, kind="TRANSCODE")) == len(study)


def test_a_modality_stores_into_radsim_serve_archive_accepting_implicit_only(tmp_path: Path) -> None:
    """`radsim serve archive --accept implicit-le` plays such a PACS; the modality's C-STORE transcodes."""
    port = free_port()
    log = tmp_path / "archive.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen([sys.executable, "-m", "simulator.cli", "serve", "archive", "--aet", "STRICT",
                                 "--port", str(port), "--data", str(tmp_path / "arc"), "--accept", "implicit-le"],
                                stdout=handle, stderr=subprocess.STDOUT)
    endpoint = Endpoint(ae_title="STRICT", port=port)
    try:
        wait_for_echo(endpoint, proc, lambda: log.read_text(errors="replace"))
        study = _compressed(804, "j2k-lossless")
        outcomes = DicomClient("CT1", node="CT1").store(endpoint, study.datasets)
        assert all(o.status == 0 and o.transcoded and "Implicit VR Little Endian" in o.transcoded for o in outcomes)
        from simulator.nodes.workstation import identifier

        retrieved = DicomClient("WS1", node="WS1").get(endpoint, identifier(
            "STUDY", {"StudyInstanceUID": study.study_instance_uid}))
    finally:
        stop_process(proc)
    _identical(retrieved.received, study)  # stored, and sent back, as Implicit VR Little Endian
