"""Studies generated for a scheduled procedure step carry its identifiers; patient histories have priors."""

from __future__ import annotations

import datetime as dt

import pytest

from simulator.synth.patients import make_patient
from simulator.synth.procedure import ScheduledProcedure, generate_for_procedure, generate_history
from simulator.synth.spec import BuildOptions

SMALL = BuildOptions(rows=16, columns=16, frames=2)


@pytest.fixture
def procedure() -> ScheduledProcedure:
    return ScheduledProcedure(
        patient=make_patient(5, charset="japanese"),
        accession_number="ACC-0042",
        requested_procedure_id="RP-7",
        requested_procedure_description="MR Brain without contrast",
        scheduled_procedure_step_id="SPS-7-1",
        study_instance_uid="1.2.826.0.1.3680043.8.498.424242",
        modality="MR",
        scheduled_station_ae_title="MR1",
        scheduled_station_name="MRSCANNER1",
        scheduled_date=dt.date(2025, 11, 3),
        scheduled_time=dt.time(9, 30),
    )


def test_study_for_a_procedure_carries_its_identity(procedure: ScheduledProcedure) -> None:
    study = generate_for_procedure(procedure, 9, series=2, instances=2, options=SMALL)
    assert len(study) == 4
    for ds in study:
        assert ds.Modality == "MR"
        assert ds.PatientID == procedure.patient.patient_id
        assert str(ds.PatientName) == procedure.patient.name
        assert ds.SpecificCharacterSet == ["", "ISO 2022 IR 87"] or ds.SpecificCharacterSet == "\\ISO 2022 IR 87"
        assert ds.AccessionNumber == "ACC-0042"
        assert ds.StudyInstanceUID == procedure.study_instance_uid
        assert ds.StudyDate == "20251103"
        assert ds.StudyDescription == "MR Brain without contrast"
        assert ds.StationName == "MRSCANNER1"
        (request,) = ds.RequestAttributesSequence
        assert (request.RequestedProcedureID, request.ScheduledProcedureStepID) == ("RP-7", "SPS-7-1")


def test_history_has_priors_over_years_for_one_patient() -> None:
    studies = generate_history(11, "CT", studies=4, years=5, series=1, instances=1, options=SMALL)
    assert len(studies) == 4
    dates = [dt.datetime.strptime(s.datasets[0].StudyDate, "%Y%m%d").date() for s in studies]
    assert dates == sorted(dates) and len(set(dates)) == 4
    assert (dates[-1] - dates[0]).days > 365  # spread over years, not days
    assert len({s.study_instance_uid for s in studies}) == 4
    assert len({s.datasets[0].AccessionNumber for s in studies}) == 4
    assert len({s.patient_id for s in studies}) == 1
    birth = dt.datetime.strptime(studies[0].datasets[0].PatientBirthDate, "%Y%m%d").date()
    assert all(date > birth for date in dates)


def test_history_is_deterministic() -> None:
    first = generate_history(3, "DX", studies=2, options=SMALL)
    again = generate_history(3, "DX", studies=2, options=SMALL)
    assert [s.sop_instance_uids for s in first] == [s.sop_instance_uids for s in again]
    assert [bytes(s.datasets[0].PixelData) for s in first] == [bytes(s.datasets[0].PixelData) for s in again]


def test_mammography_patients_are_female() -> None:
    studies = [generate_history(seed, "MG", studies=1, options=SMALL)[0] for seed in range(8)]
    assert {s.datasets[0].PatientSex for s in studies} == {"F"}
