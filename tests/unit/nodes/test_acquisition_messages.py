"""Worklist item -> scheduled procedure -> MPPS attributes (PS3.4 K.6.1.2.2, Table F.7.2-1)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydicom.dataset import Dataset

from simulator.nodes.acquisition_messages import (
    completed,
    discontinued,
    in_progress,
    procedure_of,
)
from simulator.synth.patients import make_patient
from simulator.synth.procedure import generate_for_procedure


def _item(patient_charset: str = "latin1") -> Dataset:
    patient = make_patient(11, charset=patient_charset)
    item = Dataset()
    item.SpecificCharacterSet = patient.specific_character_set
    item.PatientName = patient.name
    item.PatientID = patient.patient_id
    item.PatientBirthDate = patient.birth_date.strftime("%Y%m%d")
    item.PatientSex = patient.sex
    item.AccessionNumber = "ACC0042"
    item.RequestedProcedureID = "RP0042"
    item.RequestedProcedureDescription = "CT chest"
    item.StudyInstanceUID = "1.2.826.0.1.3680043.2.1125.42"
    sps = Dataset()
    sps.Modality = "CT"
    sps.ScheduledStationAETitle = "CT1"
    sps.ScheduledStationName = "CT-ROOM-1"
    sps.ScheduledProcedureStepStartDate = "20261126"
    sps.ScheduledProcedureStepStartTime = "093000"
    sps.ScheduledProcedureStepID = "SPS0042"
    sps.ScheduledProcedureStepDescription = "CT chest plain"
    item.ScheduledProcedureStepSequence = [sps]
    return item


@pytest.mark.parametrize("charset", ["latin1", "japanese", "utf8"])
def test_procedure_keeps_every_identifier_and_name_group(charset: str) -> None:
    item = _item(charset)
    procedure = procedure_of(item)
    assert procedure.patient.name == str(item.PatientName)
    assert procedure.patient.patient_id == item.PatientID
    assert procedure.patient.specific_character_set == item.SpecificCharacterSet
    assert (procedure.accession_number, procedure.requested_procedure_id, procedure.scheduled_procedure_step_id) == (
        "ACC0042", "RP0042", "SPS0042")
    assert procedure.study_instance_uid == item.StudyInstanceUID
    assert procedure.scheduled_date == dt.date(2026, 11, 26)
    assert procedure.scheduled_time == dt.time(9, 30)
    assert procedure.modality == "CT"


def test_generated_study_carries_the_order() -> None:
    procedure = procedure_of(_item())
    study = generate_for_procedure(procedure, 3, series=1, instances=2)
    for ds in study.datasets:
        assert ds.AccessionNumber == "ACC0042"
        assert ds.StudyInstanceUID == "1.2.826.0.1.3680043.2.1125.42"
        assert ds.RequestAttributesSequence[0].ScheduledProcedureStepID == "SPS0042"


def test_in_progress_copies_the_order_into_the_scheduled_step_attributes() -> None:
    item = _item()
    ds = in_progress(item, performed_station_ae="CT1", performed_station_name="CT-ROOM-1", pps_id="PPS1",
                     started=dt.datetime(2026, 11, 26, 9, 31, 5))
    assert ds.PerformedProcedureStepStatus == "IN PROGRESS"
    step = ds.ScheduledStepAttributesSequence[0]
    assert (step.AccessionNumber, step.RequestedProcedureID, step.ScheduledProcedureStepID,
            step.StudyInstanceUID) == ("ACC0042", "RP0042", "SPS0042", item.StudyInstanceUID)
    assert ds.PatientName == item.PatientName and ds.SpecificCharacterSet == item.SpecificCharacterSet
    assert (ds.PerformedProcedureStepStartDate, ds.PerformedProcedureStepStartTime) == ("20261126", "093105")
    assert ds.Modality == "CT" and ds.PerformedSeriesSequence == []
    assert ds.PerformedProcedureStepEndDate == ""


def test_completed_references_every_instance_by_series() -> None:
    study = generate_for_procedure(procedure_of(_item()), 3, series=2, instances=3)
    ds = completed(study.datasets, ended=dt.datetime(2026, 11, 26, 10, 0), retrieve_ae="RADSIM_PACS")
    assert ds.PerformedProcedureStepStatus == "COMPLETED"
    series = ds.PerformedSeriesSequence
    assert {s.SeriesInstanceUID for s in series} == set(study.series_instance_uids)
    referenced = {r.ReferencedSOPInstanceUID for s in series for r in s.ReferencedImageSequence}
    assert referenced == set(study.sop_instance_uids)
    assert all(s.ProtocolName and s.RetrieveAETitle == "RADSIM_PACS" for s in series)


def test_non_image_objects_go_to_their_own_sequence() -> None:
    study = generate_for_procedure(procedure_of(_item()), 3, series=1, instances=1)
    sr = study.datasets[0].copy()
    del sr.PixelData
    ds = completed([sr], ended=dt.datetime(2026, 11, 26, 10, 0))
    series = ds.PerformedSeriesSequence[0]
    assert series.ReferencedImageSequence == []
    assert series.ReferencedNonImageCompositeSOPInstanceSequence[0].ReferencedSOPInstanceUID == sr.SOPInstanceUID


def test_discontinued_carries_a_cid_9300_reason() -> None:
    ds = discontinued([], ended=dt.datetime(2026, 11, 26, 10, 0), reason="patient-refused")
    assert ds.PerformedProcedureStepStatus == "DISCONTINUED"
    code = ds.PerformedProcedureStepDiscontinuationReasonCodeSequence[0]
    assert (code.CodeValue, code.CodingSchemeDesignator) == ("110515", "DCM")
    with pytest.raises(ValueError, match="unknown discontinuation reason 'bored'"):
        discontinued([], ended=dt.datetime(2026, 11, 26), reason="bored")

