"""Fixtures that start real nodes on loopback (port 0) and always stop them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.config import Endpoint
from simulator.journal import Journal
from simulator.nodes.archive import EmbeddedArchive
from simulator.nodes.workstation import Workstation
from simulator.synth import Study, build_ct_study


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def workstation(journal: Journal) -> Iterator[Workstation]:
    ws = Workstation("WS1", node="WS1", journal=journal)
    ws.start()
    try:
        yield ws
    finally:
        ws.stop(timeout=10)


@pytest.fixture
def archive(tmp_path: Path, journal: Journal, workstation: Workstation) -> Iterator[EmbeddedArchive]:
    assert workstation.endpoint is not None
    arc = EmbeddedArchive(tmp_path / "archive", journal=journal, peers={"WS1": workstation.endpoint})
    arc.start()
    try:
        yield arc
    finally:
        arc.stop(timeout=10)


@pytest.fixture
def archive_endpoint(archive: EmbeddedArchive) -> Endpoint:
    assert archive.endpoint is not None
    return archive.endpoint


@pytest.fixture(scope="session")
def small_study() -> Study:
    return build_ct_study(101, series=2, instances=3, rows=32, columns=32)
