"""Studies generated for a scheduled procedure step, as a modality does after a worklist query (IHE RAD-5),
and patients with prior studies over several years."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from simulator.synth.charsets import charset_spec
from simulator.synth.context import make_study_context
from simulator.synth.generate import generate_study
from simulator.synth.patients import Patient, make_patient
from simulator.synth.registry import modality_spec
from simulator.synth.spec import BuildOptions
from simulator.synth.study import Study
from simulator.synth.uids import derive_uid


@dataclass(frozen=True)
class ScheduledProcedure:
    """The worklist item a study is acquired for (PS3.4 K.6.1.2, the RAD-5 return keys radsim needs)."""

    patient: Patient
    accession_number: str
    requested_procedure_id: str
    requested_procedure_description: str
    scheduled_procedure_step_id: str
    study_instance_uid: str
    modality: str
    scheduled_station_ae_title: str
    scheduled_station_name: str
    scheduled_date: dt.date
    scheduled_time: dt.time


def generate_for_procedure(procedure: ScheduledProcedure, seed: int = 0, *, series: int | None = None,
                           instances: int | None = None, options: BuildOptions | None = None) -> Study:
    """The study a modality acquires for ``procedure``: its patient, accession number, Study Instance UID,
    requested procedure and step IDs (in Request Attributes Sequence), station and date."""
    spec = modality_spec(procedure.modality)
    context = make_study_context(
        seed, procedure.patient, description=procedure.requested_procedure_description, label=spec.code,
        study_date=procedure.scheduled_date, charset=procedure.patient.specific_character_set,
        accession_number=procedure.accession_number, study_instance_uid=procedure.study_instance_uid,
        requested_procedure_id=procedure.requested_procedure_id,
        scheduled_procedure_step_id=procedure.scheduled_procedure_step_id,
        station_name=procedure.scheduled_station_name, station_ae_title=procedure.scheduled_station_ae_title,
    )
    return generate_study(spec, seed, series=series, instances=instances, context=context, options=options)


def generate_history(seed: int, modality: str, *, studies: int = 3, years: int = 5, patient: Patient | None = None,
                     series: int | None = None, instances: int | None = None,
                     options: BuildOptions | None = None, charset: str | None = None) -> list[Study]:
    """``studies`` studies of one patient spread over the last ``years`` years, oldest first (priors)."""
    if studies < 1:
        raise ValueError("studies must be at least 1")
    spec = modality_spec(modality)
    patient = patient or make_patient(seed, charset=charset, sex=spec.patient_sex)
    rng = random.Random(f"history-{seed}-{spec.code}")
    latest = dt.date(2026, 1, 1)
    earliest = max(latest - dt.timedelta(days=365 * years), patient.birth_date + dt.timedelta(days=1))
    span = max((latest - earliest).days, studies)
    offsets = sorted(rng.sample(range(span), studies))
    out = []
    for index, offset in enumerate(offsets):
        context = make_study_context(
            seed, patient, description=spec.study_description, label=f"{spec.code}-prior-{index}",
            study_date=earliest + dt.timedelta(days=offset), charset=patient.specific_character_set,
            institution=charset_spec(charset).institution if charset else None,
            study_instance_uid=derive_uid(seed, spec.code, "history", index),
        )
        out.append(generate_study(spec, seed + index, series=series, instances=instances, context=context,
                                  options=options))
    return out
