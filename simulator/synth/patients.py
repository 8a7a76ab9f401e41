"""Synthetic patients from faker, reproducible from a seed."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from faker import Faker


@dataclass(frozen=True)
class Patient:
    patient_id: str
    family_name: str
    given_name: str
    birth_date: dt.date
    sex: str  # "M", "F" or "O" (PS3.3 C.7.1.1)

    @property
    def dicom_name(self) -> str:
        """Person Name in PS3.5 6.2.1 form: family^given."""
        return f"{self.family_name}^{self.given_name}"


def make_patient(seed: int, locale: str = "en_US") -> Patient:
    """A patient whose every field follows from ``seed``."""
    rng = random.Random(f"patient-{seed}")
    fake = Faker(locale)
    fake.seed_instance(seed)
    sex = rng.choice(["M", "F"])
    given = fake.first_name_male() if sex == "M" else fake.first_name_female()
    today = dt.date(2026, 1, 1)
    birth = today - dt.timedelta(days=rng.randint(18 * 365, 90 * 365))
    return Patient(
        patient_id=f"RS{rng.randint(0, 99_999_999):08d}",
        family_name=fake.last_name(),
        given_name=given,
        birth_date=birth,
        sex=sex,
    )
