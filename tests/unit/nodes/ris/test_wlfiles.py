"""``.wl`` files: one DICOM file per step holding its complete worklist item."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pydicom import dcmread

from simulator.nodes.ris.schedule import make_day
from simulator.nodes.ris.wlfiles import wl_file_name, write_wl_files
from simulator.nodes.ris.worklist import worklist_item


def test_every_step_gets_its_own_readable_file_with_its_item(tmp_path: Path) -> None:
    day = make_day(5, 10)
    paths = write_wl_files(tmp_path / "WLM", day)
    assert len(paths) == 10 and len(set(paths)) == 10
    assert sorted(p.name for p in (tmp_path / "WLM").iterdir()) == sorted(p.name for p in paths)
    for path, procedure in zip(paths, day, strict=True):
        assert path.suffix == ".wl" and path.name == wl_file_name(procedure)
        ds = dcmread(path)  # a DICOM file with File Meta Information (PS3.10 7.1)
        assert ds.file_meta.MediaStorageSOPClassUID == "1.2.840.10008.5.1.4.31"
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
        expected = worklist_item(procedure)
        assert [e.tag for e in ds] == [e.tag for e in expected]
        assert str(ds.PatientName) == procedure.patient.name  # decoded with the declared character set
        assert ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID == procedure.scheduled_procedure_step_id


def test_file_names_are_safe_and_rewriting_replaces(tmp_path: Path) -> None:
    (procedure,) = make_day(1, 1)
    odd = dataclasses.replace(procedure, accession_number="A/1 2", scheduled_procedure_step_id="S*")
    assert wl_file_name(odd) == f"A-1-2_{procedure.requested_procedure_id}_S-.wl"
    first = write_wl_files(tmp_path, [odd])
    second = write_wl_files(tmp_path, [odd])
    assert first == second and len(list(tmp_path.iterdir())) == 1
