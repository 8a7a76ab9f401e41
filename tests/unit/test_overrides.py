"""One override function for `radsim run` and the pytest plugin: options checked against the chosen backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simulator.config import (
    DcmqrscpPacsConfig,
    OrthancPacsConfig,
    RemotePacsConfig,
    Role,
    default_department,
)
from simulator.errors import ConfigError
from simulator.overrides import Overrides, apply_overrides


def test_switching_backend_keeps_the_common_fields_and_takes_the_new_model() -> None:
    base = default_department()
    config = apply_overrides(base, Overrides(pacs="orthanc", pacs_aet="ORTHANC_X", pacs_binary="/opt/Orthanc"))
    assert isinstance(config.pacs, OrthancPacsConfig)
    assert (config.pacs.ae_title, config.pacs.binary) == ("ORTHANC_X", "/opt/Orthanc")
    assert isinstance(apply_overrides(base, Overrides(pacs="dcmqrscp")).pacs, DcmqrscpPacsConfig)


@pytest.mark.parametrize(("overrides", "expected"), [
    (Overrides(pacs="orthanc", pacs_url="http://x/dicom-web"), "--pacs-url does not apply to --pacs orthanc"),
    (Overrides(pacs="remote", pacs_port=104, pacs_binary="java", ws_port=1, qa_port=2),
     "--pacs-binary does not apply to --pacs remote"),
    (Overrides(pacs="remote"), "--pacs remote needs --pacs-port"),
    (Overrides(pacs="remote", pacs_port=104), "--ws-port and --qa-port"),
    (Overrides(pacs="pacsman"), "unknown PACS backend 'pacsman'"),
    (Overrides(ws_port=70000), "out of range"),
])
def test_bad_combinations_name_the_option(overrides: Overrides, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(default_department(), overrides)
    assert expected in str(info.value)


def test_remote_with_fixed_ports_and_listen_host() -> None:
    config = apply_overrides(default_department(), Overrides(
        pacs="remote", pacs_host="10.0.0.5", pacs_port=104, pacs_url="http://10.0.0.5/dicom-web", ws_port=11120,
        qa_port=11121, listen_host="10.0.0.9"))
    assert isinstance(config.pacs, RemotePacsConfig) and config.pacs.http_url == "http://10.0.0.5/dicom-web"
    (ws,) = config.nodes_with_role(Role.WORKSTATION)
    (qa,) = config.nodes_with_role(Role.QA)
    assert (ws.port, qa.port, ws.host, qa.host) == (11120, 11121, "10.0.0.9", "10.0.0.9")


def test_pytest_plugin_uses_the_same_checks(tmp_path: Path) -> None:
    """The plugin's options go through apply_overrides: a remote PACS without fixed node ports is refused there as
    on the command line."""
    (tmp_path / "test_x.py").write_text("def test_uses_department(department):\n    pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nradsim_pacs = remote\nradsim_pacs_port = 104\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pacs-url",
                             "http://h/dicom-web", str(tmp_path)], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode != 0
    assert "--ws-port and --qa-port" in result.stdout + result.stderr
