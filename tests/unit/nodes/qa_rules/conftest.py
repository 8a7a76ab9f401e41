"""Shared fixtures: small generated instances of every modality."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from simulator.synth import generate_study
from simulator.synth.spec import BuildOptions


def instance(code: str = "CT", seed: int = 3) -> Dataset:
    study = generate_study(code, seed, series=1, instances=1, options=BuildOptions(rows=16, columns=16, frames=2))
    return study.datasets[0]


@pytest.fixture
def ct() -> Dataset:
    return instance("CT")
