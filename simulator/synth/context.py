"""What the instances of one study, and of one series, share; built once and handed to every IOD builder.

Every value follows from the seed, so the same seed and options give byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

import numpy as np

from simulator.synth.patients import Patient
from simulator.synth.uids import derive_uid


@dataclass(frozen=True)
class StudyContext:
    """Patient, study identity and timing (PS3.3 C.7.1.1 Patient, C.7.2.1 General Study, C.7.2.2 Patient Study)."""

    seed: int
    patient: Patient
    study_instance_uid: str
    study_date: dt.date
    study_time: dt.time
    accession_number: str
    study_id: str
    study_description: str
    referring_physician: str = "Referrer^Rita"
    institution: str = "radsim General Hospital"
    specific_character_set: str | list[str] = "ISO_IR 192"
    requested_procedure_id: str | None = None
    scheduled_procedure_step_id: str | None = None
    station_name: str = "STATION1"
    station_ae_title: str | None = None

    @property
    def patient_age(self) -> str:
        """Age String (AS, PS3.5 6.2) at the study date."""
        years = (self.study_date - self.patient.birth_date).days // 365
        return f"{max(0, min(years, 999)):03d}Y"

    def uid(self, *parts: object) -> str:
        """A UID derived from this study's seed and ``parts``."""
        return derive_uid(self.seed, self.study_instance_uid, *parts)


@dataclass(frozen=True)
class SeriesContext:
    """One series (PS3.3 C.7.3.1 General Series, C.7.4.1 Frame of Reference)."""

    study: StudyContext
    index: int
    modality: str
    series_instance_uid: str
    series_number: int
    series_description: str
    body_part: str
    protocol_name: str
    frame_of_reference_uid: str
    laterality: str | None = None
    series_time: dt.time | None = None

    def instance_uid(self, instance_index: int) -> str:
        return self.study.uid("instance", self.index, instance_index)


@dataclass
class Randomness:
    """Seeded random sources for metadata (``meta``) and pixels (``pixels``)."""

    seed: int
    label: str
    meta: random.Random = field(init=False)
    pixels: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.meta = random.Random(f"{self.label}-{self.seed}")
        self.pixels = np.random.default_rng([self.seed, sum(self.label.encode())])


def make_study_context(seed: int, patient: Patient, *, description: str, label: str = "study",
                       study_date: dt.date | None = None, charset: str | list[str] | None = None,
                       accession_number: str | None = None, study_instance_uid: str | None = None,
                       institution: str | None = None, **extra: str | None) -> StudyContext:
    """A study context whose date (unless given) falls in the year before 2026-01-01 and after the birth date."""
    rng = random.Random(f"{label}-context-{seed}")
    if study_date is None:
        earliest = max(patient.birth_date + dt.timedelta(days=1), dt.date(2025, 1, 1))
        span = max((dt.date(2026, 1, 1) - earliest).days, 1)
        study_date = earliest + dt.timedelta(days=rng.randrange(span))
    study_time = dt.time(rng.randint(7, 18), rng.randint(0, 59), rng.randint(0, 59))
    return StudyContext(
        seed=seed,
        patient=patient,
        study_instance_uid=study_instance_uid or derive_uid(seed, label, "study"),
        study_date=study_date,
        study_time=study_time,
        accession_number=accession_number or f"A{rng.randint(0, 9_999_999):07d}",
        study_id=str(rng.randint(1, 9_999_999)),
        study_description=description,
        specific_character_set=patient.specific_character_set if charset is None else charset,
        **({"institution": institution} if institution else {}),
        **{k: v for k, v in extra.items() if v is not None},
    )
