"""What the workstation keeps of an arriving C-STORE: the data set under its own SOP Instance UID, and the
disagreement when the command named another instance (PS3.7 9.1.1.1: Affected SOP Instance UID identifies the
instance the data set is)."""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread

from simulator.journal import Journal
from simulator.net import DicomClient
from simulator.nodes.workstation import Workstation
from simulator.synth import build_ct_study


def test_a_c_store_carrying_another_instance_is_reported_as_the_wrong_instance(tmp_path: Path,
                                                                              workstation: Workstation) -> None:
    """Regression: arrivals were filed under the command's Affected SOP Instance UID, so a PACS that sends the
    wrong instance showed up as "pixel differs" rather than "wrong instance"."""
    study = build_ct_study(401, series=1, instances=2, rows=16, columns=16)
    first, second = study.datasets
    forged = tmp_path / "forged.dcm"
    second.save_as(forged, enforce_file_format=True)
    # A file whose meta names the first instance but whose data set is the second: sent as it is, its C-STORE
    # command carries the first one's UID.
    head = dcmread(forged)
    head.file_meta.MediaStorageSOPInstanceUID = first.SOPInstanceUID
    head.save_as(forged, enforce_file_format=False)  # as it is: enforcing would copy the data set's UID back
    assert str(dcmread(forged).file_meta.MediaStorageSOPInstanceUID) == str(first.SOPInstanceUID)
    assert workstation.endpoint is not None
    (outcome,) = DicomClient("PACS", node="PACS").store(workstation.endpoint, [forged])
    assert outcome.status == 0 and outcome.sop_instance_uid == str(first.SOPInstanceUID)
    assert set(workstation.received) == {str(second.SOPInstanceUID)}
    problems = workstation.compare(study.datasets)
    assert f"{first.SOPInstanceUID}: wrong instance: the C-STORE for it carried the data set of " \
           f"{second.SOPInstanceUID}" in problems
    assert f"{first.SOPInstanceUID}: not received" in problems
    assert f"{second.SOPInstanceUID}: arrived in a C-STORE whose command named {first.SOPInstanceUID}" in problems
    assert not any("Pixel Data" in p or "pixels" in p for p in problems), problems


def test_a_correct_c_store_leaves_nothing_to_report(journal: Journal, workstation: Workstation) -> None:
    study = build_ct_study(402, series=1, instances=2, rows=16, columns=16)
    assert workstation.endpoint is not None
    DicomClient("PACS", node="PACS", journal=journal).store(workstation.endpoint, study.datasets)
    assert workstation.compare(study.datasets) == [] and workstation.mismatched == {}
