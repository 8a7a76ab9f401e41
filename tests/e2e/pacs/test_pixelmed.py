"""The pixelmed backend against Debian's pixelmed-apps: start without announcing itself on the network, identity,
store and retrieve, wipe, and the deviations listed for it in known-deviations.yaml, seen again on every run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simulator.conformance.deviations import deviation_book
from simulator.errors import DimseFailure
from simulator.journal import Journal
from simulator.net import DicomClient
from simulator.nodes.workstation import Workstation, identifier
from simulator.synth import build_ct_study
from tests.conftest import listening, running_pacs

MDNS_PORT = 5353


def _udp_ports_of(pid: int) -> set[int]:
    """Local UDP ports of the sockets process ``pid`` holds (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.fixture
def ws() -> object:
    with listening(Workstation("WS1", node="WS1")) as workstation:
        yield workstation


def test_store_find_move_get_and_wipe_without_multicast_dns(tmp_path: Path, ws: Workstation) -> None:
    journal = Journal()
    study = build_ct_study(701, series=2, instances=3, rows=32, columns=32)
    assert ws.endpoint is not None
    with running_pacs("pixelmed", [ws.endpoint], journal, workdir=tmp_path / "pacs") as pacs:
        assert pacs.pid is not None and MDNS_PORT not in _udp_ports_of(pacs.pid)
        assert "JmDNS" not in pacs.log_tail(200) or "not available" in pacs.log_tail(200)
        assert pacs.identity is not None and pacs.identity.implementation_version_name == "PIXELMEDJAVA001"
        outcomes = DicomClient("CT1", node="CT1", journal=journal).store(pacs.endpoint, study.datasets)
        assert {o.status for o in outcomes} == {0}
        assert pacs.sop_instance_uids(study.study_instance_uid) == set(study.sop_instance_uids)
        moved = ws.move(pacs.endpoint, "STUDY", {"StudyInstanceUID": study.study_instance_uid})
        assert (moved.status, moved.completed) == (0, len(study)) and ws.compare(study.datasets) == []
        ws.clear()
        got = ws.get(pacs.endpoint, "STUDY", {"StudyInstanceUID": study.study_instance_uid})
        assert got.completed == len(study) and ws.compare(study.datasets) == []
        pacs.wipe()
        assert pacs.sop_instance_uids(study.study_instance_uid) == set()
        assert "SEVERE" not in pacs.log_tail(400), pacs.log_tail(40)  # no LDAP discovery stack traces


def test_the_deviations_file_names_these_tests() -> None:
    ids = {d.id for d in deviation_book().deviations}
    assert {"pixelmed-duplicate-query-matches", "pixelmed-ignores-c-cancel",
            "pixelmed-refuses-uid-lists-in-retrieve"} <= ids


def test_simultaneous_stores_give_one_study_match_per_instance(ws: Workstation) -> None:
    """pixelmed-duplicate-query-matches (a race: tried on up to five studies)."""
    with running_pacs("pixelmed") as pacs:
        counts = []
        for attempt in range(5):
            study = build_ct_study(710 + attempt, series=1, instances=20, rows=16, columns=16)
            outcomes = DicomClient("CT1", node="CT1").store(pacs.endpoint, study.datasets, associations=4)
            assert {o.status for o in outcomes} == {0}
            counts.append(len(ws.find(pacs.endpoint, "STUDY", {"StudyInstanceUID": study.study_instance_uid})))
            if counts[-1] > 1:
                break
    assert max(counts) > 1, f"one STUDY match per study in every try ({counts}): update known-deviations.yaml"


def test_c_cancel_during_c_move_is_not_honoured(ws: Workstation) -> None:
    """pixelmed-ignores-c-cancel."""
    study = build_ct_study(720, series=1, instances=30, rows=16, columns=16)
    assert ws.endpoint is not None
    with running_pacs("pixelmed", [ws.endpoint]) as pacs:
        DicomClient("CT1", node="CT1").store(pacs.endpoint, study.datasets)
        outcome = ws.move(pacs.endpoint, "STUDY", {"StudyInstanceUID": study.study_instance_uid}, cancel_after=1)
    assert outcome.cancel_sent and not outcome.cancelled
    assert (outcome.status, outcome.completed) == (0x0000, len(study))


def test_a_list_of_uids_in_a_retrieve_fails_with_0xc000(ws: Workstation) -> None:
    """pixelmed-refuses-uid-lists-in-retrieve: the same retrieve with one UID completes."""
    study = build_ct_study(730, series=1, instances=3, rows=16, columns=16)
    first, second, _ = study.sop_instance_uids
    series = study.series_instance_uids[0]
    assert ws.endpoint is not None
    with running_pacs("pixelmed", [ws.endpoint]) as pacs:
        DicomClient("CT1", node="CT1").store(pacs.endpoint, study.datasets)
        keys = {"StudyInstanceUID": study.study_instance_uid, "SeriesInstanceUID": series}
        with pytest.raises(DimseFailure) as info:
            ws.move(pacs.endpoint, "IMAGE", {**keys, "SOPInstanceUID": [first, second]})
        single = ws.move(pacs.endpoint, "IMAGE", {**keys, "SOPInstanceUID": first})
        with pytest.raises(DimseFailure) as got:
            DicomClient("WS1", node="WS1").get(pacs.endpoint, identifier("IMAGE", {**keys,
                                                                                  "SOPInstanceUID": [first, second]}))
    assert info.value.status == 0xC000 and got.value.status == 0xC000
    assert (single.status, single.completed) == (0, 1)


def test_jpeg_ls_is_not_accepted_so_senders_transcode() -> None:
    """Not a deviation (an SCP chooses its syntaxes, PS3.5 10.1 asks only for Implicit VR Little Endian), but what
    made the QA queue stall before radsim transcoded: PixelMed accepts CT in uncompressed syntaxes only."""
    from simulator.synth.transfer import encode_study

    study = build_ct_study(740, series=1, instances=1, rows=16, columns=16)
    study.datasets = encode_study(study.datasets, "jpeg-ls-lossless")
    with running_pacs("pixelmed") as pacs:
        client = DicomClient("CT1", node="CT1")
        (refused,) = client.store(pacs.endpoint, study.datasets, transcode=False)
        (sent,) = client.store(pacs.endpoint, study.datasets)
    accepted = refused.meaning.split(" only in ", 1)[1].split(", not in ", 1)[0]
    assert refused.status is None and "JPEG-LS" not in accepted and "Explicit VR Little Endian" in accepted
    assert sent.status == 0 and sent.transcoded is not None and sent.transcoded.startswith("JPEG-LS")
