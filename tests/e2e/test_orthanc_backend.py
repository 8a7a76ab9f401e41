"""OrthancBackend against a real Orthanc process (Debian package ``orthanc``); no mocks."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from simulator.config import Endpoint, OrthancPacsConfig
from simulator.errors import BackendUnavailable, NodeNotReady, PortInUse
from simulator.journal import Journal
from simulator.net import DicomClient
from simulator.net.ports import free_port
from simulator.pacs.base import Capability, PacsBackend
from simulator.pacs.orthanc import OrthancBackend
from simulator.synth import build_ct_study
from tests.conftest import require_binary

pytestmark = pytest.mark.orthanc

WS1 = "WS1"


def get_json(url: str) -> Any:
    """GET straight to loopback Orthanc, ignoring any HTTP proxy in the environment."""
    with requests.Session() as session:
        session.trust_env = False
        response = session.get(url, timeout=5)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def backend() -> Iterator[OrthancBackend]:
    require_binary("Orthanc", "orthanc")
    pacs = OrthancBackend(OrthancPacsConfig(ready_timeout_s=30))
    try:
        pacs.start([Endpoint(ae_title=WS1, host="127.0.0.1", port=free_port())], Journal())
        yield pacs
    finally:
        pacs.stop()


@pytest.fixture
def clean(backend: OrthancBackend) -> OrthancBackend:
    backend.wipe()
    return backend


def test_started_backend_answers_echo_and_describes_itself(backend: OrthancBackend) -> None:
    require_binary("Orthanc", "orthanc")
    assert isinstance(backend, PacsBackend)
    rtt = DicomClient(WS1, node=WS1).echo(backend.endpoint)
    assert rtt >= 0
    text = backend.describe()
    assert "RADSIM_PACS" in text
    assert backend.version and backend.version in text
    assert backend.http_url in text
    system = get_json(backend.http_url + "/system")
    assert system["DicomAet"] == "RADSIM_PACS"
    assert system["DicomPort"] == backend.endpoint.port


def test_capabilities_follow_the_loaded_plugins(backend: OrthancBackend) -> None:
    require_binary("Orthanc", "orthanc")
    plugins = set(get_json(backend.http_url + "/plugins"))
    caps = backend.capabilities
    assert {Capability.STORAGE, Capability.QUERY, Capability.MOVE, Capability.GET, Capability.WIPE,
            Capability.INSPECT} <= caps
    assert (Capability.DICOMWEB in caps) == ("dicom-web" in plugins)
    assert (Capability.WORKLIST in caps) == ("worklists" in plugins)
    if Capability.WORKLIST in caps:
        assert backend.worklist_dir is not None and backend.worklist_dir.is_dir()


def test_peers_are_registered_and_can_be_added(backend: OrthancBackend) -> None:
    require_binary("Orthanc", "orthanc")
    url = backend.http_url + "/modalities"
    assert WS1 in get_json(url)
    extra = Endpoint(ae_title="WS_EXTRA", host="127.0.0.1", port=free_port())
    backend.add_peer(extra)
    modalities = get_json(url + "?expand")
    assert modalities["WS_EXTRA"]["AET"] == "WS_EXTRA"
    assert modalities["WS_EXTRA"]["Port"] == extra.port


def test_stored_study_is_listed_then_wiped(clean: OrthancBackend) -> None:
    require_binary("Orthanc", "orthanc")
    study = build_ct_study(1, series=1, instances=3, rows=64, columns=64)
    expected = {str(ds.SOPInstanceUID) for ds in study.datasets}
    outcomes = DicomClient(WS1, node=WS1).store(clean.endpoint, study.datasets)
    assert [o.status for o in outcomes] == [0, 0, 0]
    assert clean.sop_instance_uids(study.study_instance_uid) == expected
    assert clean.sop_instance_uids() == expected
    assert clean.sop_instance_uids("1.2.3.4.5.999") == set()
    clean.wipe()
    assert clean.sop_instance_uids() == set()
    assert get_json(clean.http_url + "/patients") == []


def test_missing_binary_names_the_package(tmp_path: Path) -> None:
    require_binary("Orthanc", "orthanc")
    pacs = OrthancBackend(OrthancPacsConfig(binary="/nonexistent/Orthanc"), tmp_path)
    with pytest.raises(BackendUnavailable, match=r"'/nonexistent/Orthanc' not found.*'orthanc'"):
        pacs.start([], Journal())
    assert pacs.pid is None


def test_dicom_port_in_use_says_so_with_the_log_tail() -> None:
    require_binary("Orthanc", "orthanc")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        pacs = OrthancBackend(OrthancPacsConfig(port=port, ready_timeout_s=30))
        try:
            with pytest.raises(NodeNotReady) as caught:
                pacs.start([], Journal())
        finally:
            pacs.stop()
    message = str(caught.value)
    assert "exited with code" in message
    assert f"127.0.0.1:{port}" in message and "already in use" in message
    assert "Orthanc has stopped" in caught.value.log_tail
    assert isinstance(caught.value.__cause__, PortInUse)
    assert not pacs.running


def test_stop_ends_the_process_and_removes_its_folder() -> None:
    require_binary("Orthanc", "orthanc")
    pacs = OrthancBackend(OrthancPacsConfig())
    try:
        pacs.start([], Journal())
        pid = pacs.pid
        run_dir = pacs.run_dir
        assert pid is not None and run_dir is not None and run_dir.is_dir()
        assert pacs.running
    finally:
        pacs.stop()
    assert not pacs.running and pacs.pid is None
    assert not run_dir.exists()
    assert not Path(f"/proc/{pid}").exists()  # reaped, not a zombie
    pacs.stop()  # idempotent


def test_workdir_is_kept_with_the_log(tmp_path: Path) -> None:
    require_binary("Orthanc", "orthanc")
    pacs = OrthancBackend(OrthancPacsConfig(), workdir=tmp_path)
    try:
        pacs.start([], Journal())
        log_path = pacs.log_path
    finally:
        pacs.stop()
    assert log_path is not None and log_path.parent.parent == tmp_path
    assert "Orthanc has started" in log_path.read_text()
