"""The identity-across-the-chain check names each disagreement with both values."""

from __future__ import annotations

import datetime as dt

from pydicom.dataset import Dataset

from simulator.nodes.acquisition_messages import in_progress, procedure_of
from simulator.scenario.identity import (
    IdentityCheck,
    from_find_answer,
    from_instance,
    from_mpps,
    from_worklist_item,
)
from simulator.synth.procedure import generate_for_procedure
from tests.unit.nodes.test_acquisition_messages import _item


def _chain() -> tuple[Dataset, Dataset, list[Dataset]]:
    item = _item()
    mpps = in_progress(item, performed_station_ae="CT1", performed_station_name="CT-ROOM-1", pps_id="P1",
                       started=dt.datetime(2026, 11, 26, 9, 0))
    study = generate_for_procedure(procedure_of(item), 5, series=1, instances=2)
    return item, mpps, study.datasets


def test_a_consistent_chain_has_no_disagreement() -> None:
    item, mpps, instances = _chain()
    check = IdentityCheck(from_worklist_item(item))
    check.add("MPPS N-CREATE", from_mpps(mpps))
    for ds in instances:
        check.add(f"instance {ds.SOPInstanceUID}", from_instance(ds))
    uids = [str(ds.SOPInstanceUID) for ds in instances]
    check.add_instances("stored instances", uids)
    check.add_instances("storage commitment", uids)
    assert len(from_worklist_item(item)) == 6
    assert check.disagreements() == []


def test_each_disagreement_is_named_with_both_values() -> None:
    item, mpps, instances = _chain()
    mpps.PatientID = "OTHER"
    answer = Dataset()
    answer.AccessionNumber = "ACC9999"
    answer.StudyInstanceUID = item.StudyInstanceUID
    check = IdentityCheck(from_worklist_item(item))
    check.add("MPPS N-CREATE", from_mpps(mpps))
    check.add("C-FIND STUDY answer", from_find_answer(answer))
    uids = [str(ds.SOPInstanceUID) for ds in instances]
    check.add_instances("stored instances", uids)
    check.add_instances("storage commitment", [*uids[:1], "1.2.3.999"])
    problems = check.disagreements()
    assert f"PatientID: worklist {item.PatientID!r}, MPPS N-CREATE 'OTHER'" in problems
    assert "AccessionNumber: worklist 'ACC0042', C-FIND STUDY answer 'ACC9999'" in problems
    assert any(p.startswith("storage commitment lacks 1 of the 2 stored instances") for p in problems)
    assert any(p.startswith("storage commitment names 1 instance(s) not among the stored") for p in problems)
    assert len(problems) == 4


def test_find_answer_ignores_keys_it_did_not_return() -> None:
    answer = Dataset()
    answer.PatientID = ""
    answer.StudyInstanceUID = "1.2.3"
    assert from_find_answer(answer) == {"StudyInstanceUID": "1.2.3"}
