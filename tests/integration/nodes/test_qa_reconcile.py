"""QA reconciliation against a real worklist SCP (our RIS) over sockets: coercion with 0xB000, unmatched and
unavailable worklists, and the corrected values at the archive."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from simulator.config import Endpoint
from simulator.journal import Journal
from simulator.net import DicomClient
from simulator.net.ports import free_port
from simulator.nodes.archive import EmbeddedArchive
from simulator.nodes.qa import QANode
from simulator.nodes.qa.reconcile import UNMATCHED, worklist_lookup
from simulator.nodes.qa.ruleset import load_ruleset
from simulator.nodes.ris import RisNode
from simulator.synth.patients import make_patient
from simulator.synth.procedure import ScheduledProcedure, generate_for_procedure

PATIENT = make_patient(31, charset="japanese")
ORDER = ScheduledProcedure(PATIENT, "RCINT0001", "RP1", "CT chest", "SPS1", "1.2.826.0.1.3680043.10.1105.31",
                           "CT", "CT1", "CT ROOM 1", dt.date(2026, 11, 26), dt.time(9, 0))


@pytest.fixture
def ris(journal: Journal) -> Iterator[RisNode]:
    node = RisNode("RADSIM_RIS", journal=journal, procedures=[ORDER])
    node.start()
    try:
        yield node
    finally:
        node.stop(timeout=10)


def _typed_over(seed: int, accession: str = "RCINT0001") -> list[Dataset]:
    """The order's study as a Latin-1 console sends it after the technologist typed over the demographics."""
    console = dataclasses.replace(ORDER, patient=make_patient(32, charset="latin1"), accession_number=accession)
    study = generate_for_procedure(console, seed, series=1, instances=2)
    for ds in study.datasets:
        assert ds.SpecificCharacterSet == "ISO_IR 100"
        ds.PatientName = "YAMADA^T"
        ds.PatientID = "TYPO-1"
    return study.datasets


def _qa(tmp_path: Path, journal: Journal, archive: EmbeddedArchive, worklist: Endpoint,
        rules: str | None = None) -> QANode:
    ruleset = None
    if rules is not None:
        path = tmp_path / "rules.yaml"
        path.write_text(rules, encoding="utf-8")
        ruleset = load_ruleset(path)
    lookup = worklist_lookup(DicomClient("RADSIM_QA", node="QA", journal=journal), lambda: worklist)
    return QANode(tmp_path / "qa", journal=journal, forward_to=archive.endpoint, rules=ruleset, worklist=lookup)


def test_typed_over_demographics_are_coerced_with_0xb000_and_reach_the_archive_corrected(
        tmp_path: Path, journal: Journal, archive: EmbeddedArchive, ris: RisNode) -> None:
    assert ris.endpoint is not None
    qa = _qa(tmp_path, journal, archive, ris.endpoint)
    endpoint = qa.start()
    sent = _typed_over(1)
    try:
        outcomes = DicomClient("CT1", node="CT1").store(endpoint, sent)
        assert qa.drain(timeout=30)
    finally:
        qa.stop(timeout=10)
    assert {o.status for o in outcomes} == {0xB000}, [o.comment for o in outcomes]
    assert all(o.comment and "PatientID" in o.comment for o in outcomes)
    uid = str(sent[0].SOPInstanceUID)
    (stored,) = [i for i in archive.index.instances_where("sop_instance_uid = ?", [uid])]
    ds = dcmread(stored.path)
    assert (ds.PatientID, str(ds.PatientName), ds.SpecificCharacterSet) == (
        PATIENT.patient_id, PATIENT.name, "ISO_IR 192")
    verdict = next(e for e in qa.ledger.audit(uid) if e.event == "verdict")
    changes = {c["keyword"]: (c["before"], c["after"]) for c in verdict.detail["rules"]["worklist"]["changes"]}
    assert changes["PatientID"] == ("TYPO-1", PATIENT.patient_id)
    assert changes["PatientName"] == ("YAMADA^T", PATIENT.name)
    assert changes["SpecificCharacterSet"] == ("ISO_IR 100", "ISO_IR 192")


def test_an_unmatched_accession_is_rejected_when_the_rules_say_so(
        tmp_path: Path, journal: Journal, archive: EmbeddedArchive, ris: RisNode) -> None:
    assert ris.endpoint is not None
    qa = _qa(tmp_path, journal, archive, ris.endpoint, rules="worklist: {unmatched: reject}\n")
    endpoint = qa.start()
    try:
        outcomes = DicomClient("CT1", node="CT1").store(endpoint, _typed_over(2, accession="NOORDER"))
    finally:
        qa.stop(timeout=10)
    assert {o.status for o in outcomes} == {UNMATCHED}
    assert all(o.comment and "NOORDER" in o.comment for o in outcomes)


def test_an_unreachable_worklist_quarantines_by_default_and_loses_nothing(
        tmp_path: Path, journal: Journal, archive: EmbeddedArchive) -> None:
    nobody = Endpoint(ae_title="GONE_RIS", port=free_port())
    qa = _qa(tmp_path, journal, archive, nobody)
    endpoint = qa.start()
    sent = _typed_over(3)
    try:
        outcomes = DicomClient("CT1", node="CT1").store(endpoint, sent)
    finally:
        qa.stop(timeout=10)
    assert {o.status for o in outcomes} == {0x0000}
    states = {str(qa.ledger.get(str(ds.SOPInstanceUID)).state) for ds in sent}  # type: ignore[union-attr]
    assert states == {"quarantined"}
    verdict = next(e for e in qa.ledger.audit(str(sent[0].SOPInstanceUID)) if e.event == "verdict")
    (violation,) = verdict.detail["rules"]["worklist"]["violations"]
    assert "worklist unavailable" in violation["message"] and "GONE_RIS" in violation["message"]
