"""Every registered modality's instances pass dciodvfy, the reference IOD validator, with zero errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from simulator.synth.generate import generate_study
from simulator.synth.registry import MODALITIES
from simulator.synth.spec import BuildOptions
from tests.conftest import require_binary

pytestmark = pytest.mark.dcmtk


def dciodvfy_errors(path: Path) -> list[str]:
    """The lines dciodvfy reports as errors for one file (it exits 1 when there are any)."""
    result = subprocess.run([require_binary("dciodvfy", "dicom3tools"), str(path)], capture_output=True,
                            text=True, timeout=60)
    output = result.stdout + result.stderr
    # It names the IOD it checked on its first line; anything else (usage text, unreadable file) is a failure.
    assert output.strip() and not output.lstrip().startswith("Usage"), output
    return [line for line in output.splitlines() if line.startswith("Error")]


def test_the_check_sees_a_broken_instance(tmp_path: Path) -> None:
    study = generate_study("CT", 1, series=1, instances=1, options=BuildOptions(rows=16, columns=16))
    del study.datasets[0].Modality
    (path,) = study.write(tmp_path)
    assert any("Modality" in line for line in dciodvfy_errors(path))


@pytest.mark.parametrize("code", sorted(MODALITIES))
def test_every_instance_passes_dciodvfy(code: str, tmp_path: Path) -> None:
    study = generate_study(code, 3, series=2, instances=2, options=BuildOptions(rows=64, columns=64, frames=3))
    paths = study.write(tmp_path)
    assert paths
    problems = {str(p.name): errors for p in paths if (errors := dciodvfy_errors(p))}
    assert problems == {}
