"""Listing a study over C-FIND the way a baseline SCP must be asked (PS3.4 C.4.1.2.2): level by level, unless the
peer accepted relational queries in extended negotiation."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.journal import Journal
from simulator.net import DicomClient
from simulator.net.hierarchy import study_instances
from simulator.nodes.archive import EmbeddedArchive
from simulator.synth import Study
from tests.conftest import listening


@pytest.mark.parametrize("relational", [False, True])
def test_every_instance_is_listed_by_a_strict_and_by_a_relational_archive(tmp_path: Path, small_study: Study,
                                                                          relational: bool) -> None:
    journal = Journal()
    with listening(EmbeddedArchive(tmp_path / "arc", journal=journal, relational=relational)) as archive:
        assert archive.endpoint is not None
        DicomClient("CT1", node="CT1").store(archive.endpoint, small_study.datasets)
        refs = study_instances(DicomClient("WS1", node="WS1", journal=journal), archive.endpoint,
                               small_study.study_instance_uid)
    assert {r.sop_instance_uid for r in refs} == set(small_study.sop_instance_uids)
    assert {r.series_instance_uid for r in refs} == set(small_study.series_instance_uids)
    answered = journal.select(kind="C-FIND", role="SCP")
    assert all(e.status == 0 for e in answered)  # never a refused (0xA900) query
    levels = [e.detail["level"] for e in answered]
    expected = ["IMAGE"] if relational else ["SERIES", *["IMAGE"] * len(small_study.series_instance_uids)]
    assert levels == expected


def test_an_unknown_study_is_an_empty_list_not_an_error(tmp_path: Path) -> None:
    with listening(EmbeddedArchive(tmp_path / "arc", relational=False)) as archive:
        assert archive.endpoint is not None
        assert study_instances(DicomClient("WS1", node="WS1"), archive.endpoint, "1.2.3.4.5.6") == []
