"""Worklist reconciliation at the QA node: coerce demographics to the order, or act on an unknown order."""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from simulator.config import Endpoint
from simulator.errors import PeerUnreachable
from simulator.nodes.qa.reconcile import UNAVAILABLE, UNMATCHED, Reconciliation
from simulator.nodes.qa.rules import Action
from simulator.synth import generate_study


def _item(accession: str = "ACC1", patient_id: str = "RIS-1", name: str = "Correct^Name",
          birth: str = "19700101", sex: str = "F") -> Dataset:
    item = Dataset()
    item.SpecificCharacterSet = "ISO_IR 192"
    item.AccessionNumber = accession
    item.PatientID = patient_id
    item.PatientName = name
    item.PatientBirthDate = birth
    item.PatientSex = sex
    return item


class Worklist:
    """A lookup over fixed items that counts how often it was asked."""

    def __init__(self, items: Sequence[Dataset]) -> None:
        self.items = list(items)
        self.asked = 0

    def __call__(self, accession: str) -> list[Dataset]:
        self.asked += 1
        return [i for i in self.items if i.AccessionNumber == accession]


def _instance(accession: str = "ACC1") -> Dataset:
    ds = generate_study("CT", 3, series=1, instances=1).datasets[0]
    ds.AccessionNumber = accession
    ds.PatientID = "MOD-7"
    ds.PatientName = "Wrong^Name"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "M"
    return ds


def test_differing_demographics_are_coerced_and_each_change_recorded() -> None:
    ds = _instance()
    changes, violations = Reconciliation(Worklist([_item()])).apply(ds)
    assert violations == []
    assert {(c.keyword, c.before, c.after) for c in changes} == {
        ("PatientID", "MOD-7", "RIS-1"), ("PatientName", "Wrong^Name", "Correct^Name"), ("PatientSex", "M", "F")}
    assert (ds.PatientID, str(ds.PatientName), ds.PatientSex) == ("RIS-1", "Correct^Name", "F")


def test_matching_demographics_change_nothing_and_equivalent_names_are_equal() -> None:
    ds = _instance()
    ds.PatientID, ds.PatientName, ds.PatientSex = "RIS-1", "Correct^Name", "F"
    changes, violations = Reconciliation(Worklist([_item(name="Correct^Name=^=^")])).apply(ds)
    assert (changes, violations) == ([], [])


def test_a_name_outside_the_instance_charset_switches_the_data_set_to_utf8() -> None:
    ds = _instance()
    ds.SpecificCharacterSet = "ISO_IR 100"
    changes, _ = Reconciliation(Worklist([_item(name="Yamada^Tarou=山田^太郎")])).apply(ds)
    assert ("SpecificCharacterSet", "ISO_IR 100", "ISO_IR 192") in {(c.keyword, c.before, c.after) for c in changes}
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert str(dcmread(BytesIO(buffer.getvalue())).PatientName) == "Yamada^Tarou=山田^太郎"


@pytest.mark.parametrize("action", list(Action))
def test_an_unknown_accession_number_gets_the_configured_action(action: Action) -> None:
    ds = _instance("NOPE")
    changes, (violation,) = Reconciliation(Worklist([_item()]), unmatched=action).apply(ds)
    assert changes == [] and violation.action is action and violation.status == UNMATCHED
    assert "no scheduled order with Accession Number NOPE" in violation.message
    assert ds.PatientID == "MOD-7"


def test_an_accession_number_scheduled_for_two_patients_is_not_guessed() -> None:
    worklist = Worklist([_item(), _item(patient_id="RIS-2")])
    _, (violation,) = Reconciliation(worklist).apply(_instance())
    assert "scheduled for 2 patients" in violation.message


def test_no_accession_number_is_unmatched() -> None:
    ds = _instance("")
    _, (violation,) = Reconciliation(Worklist([_item()]), unmatched=Action.REJECT).apply(ds)
    assert violation.action is Action.REJECT and "no Accession Number" in violation.message


def test_an_unreachable_worklist_is_its_own_violation() -> None:
    def down(accession: str) -> list[Dataset]:
        raise PeerUnreachable(Endpoint(ae_title="RIS", port=1).describe(), "TCP connect for C-FIND", "refused")

    _, (violation,) = Reconciliation(down, unavailable=Action.REJECT).apply(_instance())
    assert violation.status == UNAVAILABLE and violation.action is Action.REJECT
    assert "worklist unavailable" in violation.message and "RIS" in violation.message


def test_matches_are_cached_misses_are_asked_again() -> None:
    worklist = Worklist([_item()])
    reconcile = Reconciliation(worklist)
    for _ in range(3):
        reconcile.apply(_instance())
    assert worklist.asked == 1
    for _ in range(2):
        reconcile.apply(_instance("LATE"))
    assert worklist.asked == 3
    worklist.items.append(_item(accession="LATE"))
    assert reconcile.apply(_instance("LATE"))[1] == []
