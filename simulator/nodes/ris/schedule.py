"""The RIS's orders: scheduled procedure steps from a YAML file, or a generated day of them.

A schedule file lists steps; each names its patient (with every Person Name component group and the character
set it is written in), the requested procedure, the scheduled procedure step and where and when it is to be
performed (PS3.3 C.4.10 Scheduled Procedure Step, C.4.11 Requested Procedure; the RAD-5 return keys)::

    date: 2026-11-26                       # default start date of every step
    steps:
      - patient: {id: P1001, name: "Müller^Jürgen", birth_date: 1961-03-14, sex: M, charset: latin1}
        accession_number: A1001
        requested_procedure_id: RP1001
        requested_procedure_description: CT Thorax mit Kontrastmittel
        scheduled_procedure_step_id: SPS1001
        modality: CT
        station_ae_title: CT1
        station_name: CT ROOM 1
        start_time: "08:00"                # quote times: YAML reads 10:30 as the number 630
        referring_physician: Weber^Anna    # optional, like performing_physician and step_description

A patient's ``name`` is a Person Name string (``Yamada^Tarou=山田^太郎=やまだ^たろう``) or a mapping with
``family``, ``given``, ``middle`` and optional ``ideographic`` / ``phonetic`` groups. ``charset`` is a short name
from :data:`simulator.synth.charsets.CHARSETS` (``latin1``, ``japanese`` ...) or a Specific Character Set value
(``ISO_IR 100``, ``["", "ISO 2022 IR 87"]``); without it, ASCII text declares nothing and other text UTF-8.
``study_instance_uid`` is optional: a UID derived from the accession number and requested procedure is used.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from simulator.config import AETitle
from simulator.synth.charsets import CHARSETS, charset_spec, encode, fits, unfit_characters
from simulator.synth.patients import Patient, make_patient
from simulator.synth.procedure import ScheduledProcedure
from simulator.synth.registry import modality_spec
from simulator.synth.uids import derive_uid, is_valid_uid
from simulator.yamlfile import load_model

#: Requested Procedure Priority (0040,1003) Defined Terms (PS3.3 C.4.11).
PRIORITIES = ("STAT", "HIGH", "ROUTINE", "MEDIUM", "LOW")


_TEXT_DELIMITERS = "\\"
_PN_DELIMITERS = "^=\\"


@dataclasses.dataclass(frozen=True)
class OrderedProcedure(ScheduledProcedure):
    """A :class:`ScheduledProcedure` with the order details only the RIS keeps: the RAD-5 return keys Referring
    Physician's Name (0008,0090), Scheduled Performing Physician's Name (0040,0006), Scheduled Procedure Step
    Description (0040,0007; empty: the requested procedure's) and Requested Procedure Priority (0040,1003)."""

    referring_physician: str = ""
    performing_physician: str = ""
    step_description: str = ""
    priority: str = "ROUTINE"

    @classmethod
    def of(cls, procedure: ScheduledProcedure) -> OrderedProcedure:
        """``procedure`` itself when it already is one, else the same step with default order details."""
        if isinstance(procedure, OrderedProcedure):
            return procedure
        return cls(**{f.name: getattr(procedure, f.name) for f in dataclasses.fields(ScheduledProcedure)})


def step_key(procedure: ScheduledProcedure) -> tuple[str, str, str]:
    """What identifies a scheduled procedure step (PS3.3 C.4.10/C.4.11): accession number, requested procedure ID
    and scheduled procedure step ID."""
    return (procedure.accession_number, procedure.requested_procedure_id, procedure.scheduled_procedure_step_id)


def study_uid_for(accession_number: str, requested_procedure_id: str) -> str:
    """The Study Instance UID a schedule step without one gets: derived, so the same file gives the same UID."""
    return str(derive_uid("radsim-ris", accession_number, requested_procedure_id))


# -- the YAML model ------------------------------------------------------------------------------------------------


def _text(max_chars: int, vr: str, *, required: bool) -> AfterValidator:
    def check(value: str) -> str:
        value = value.strip()  # leading and trailing spaces are not significant in SH and LO (PS3.5 6.2)
        if required and not value:
            raise ValueError("must not be empty")
        if _TEXT_DELIMITERS in value:
            raise ValueError("must not contain a backslash (the DICOM value delimiter)")
        if len(value) > max_chars:
            raise ValueError(f"is at most {max_chars} characters ({vr}, PS3.5 6.2); got {len(value)}")
        return value

    return AfterValidator(check)


ShortId = Annotated[str, _text(16, "SH", required=True)]
ShortText = Annotated[str, _text(16, "SH", required=False)]
LongId = Annotated[str, _text(64, "LO", required=True)]
LongText = Annotated[str, _text(64, "LO", required=True)]
OptionalLongText = Annotated[str, _text(64, "LO", required=False)]


def _code_string(value: str) -> str:
    """CS (PS3.5 6.2): upper-case letters, digits, space and underscore, at most 16 characters."""
    value = value.strip()
    if not re.fullmatch(r"[A-Z0-9_ ]{1,16}", value):
        raise ValueError(f"'{value}' is not a Code String: 1-16 upper-case letters, digits, spaces or underscores")
    return value


def _start_time(value: Any) -> Any:
    """HH:MM, HH:MM:SS or DICOM TM HHMM[SS]; a number means YAML read an unquoted time (10:30 becomes 630)."""
    if isinstance(value, bool | int | float):
        raise ValueError('write the time in quotes, e.g. "10:30" (unquoted, YAML reads 10:30 as the number 630)')
    if isinstance(value, str):
        text = value.strip()
        match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text) or re.fullmatch(r"(\d{2})(\d{2})(\d{2})?", text)
        if match is None:
            raise ValueError(f"'{value}' is not a time: use HH:MM, HH:MM:SS or HHMMSS")
        return dt.time(int(match[1]), int(match[2]), int(match[3] or 0))
    return value


class NameGroup(BaseModel):
    """One Person Name component group (PS3.5 6.2.1): family, given and middle name components."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str = ""
    given: str = ""
    middle: str = ""

    @field_validator("family", "given", "middle")
    @classmethod
    def _no_delimiters(cls, value: str) -> str:
        value = value.strip()
        if any(delim in value for delim in _PN_DELIMITERS):
            raise ValueError("a name component must not contain '^', '=' or a backslash (PS3.5 6.2.1)")
        return value

    def text(self) -> str:
        parts = [self.family, self.given, self.middle]
        while parts and not parts[-1]:
            parts.pop()
        return "^".join(parts)


class PersonName(NameGroup):
    """A Person Name with its alphabetic group (the fields) and optional ideographic and phonetic groups."""

    ideographic: NameGroup | None = None
    phonetic: NameGroup | None = None

    @model_validator(mode="after")
    def _check(self) -> PersonName:
        for label, group in (("ideographic", self.ideographic), ("phonetic", self.phonetic)):
            if group is not None and group.middle:
                raise ValueError(f"the {label} group carries family and given names only")
        if not (self.family or self.given or self.ideographic or self.phonetic):
            raise ValueError("the name is empty")
        for text in self.groups():
            if len(text) > 64:
                raise ValueError(f"the component group '{text}' is longer than 64 characters (PN, PS3.5 6.2)")
        return self

    def groups(self) -> list[str]:
        groups = [NameGroup.text(self), self.ideographic.text() if self.ideographic else "",
                  self.phonetic.text() if self.phonetic else ""]
        while len(groups) > 1 and not groups[-1]:
            groups.pop()
        return groups

    def text(self) -> str:
        return "=".join(self.groups()) if (self.ideographic or self.phonetic) else super().text()


def _parse_person_name(value: Any) -> Any:
    """A Person Name string ``family^given^middle=ideographic=phonetic`` as the mapping form."""
    if not isinstance(value, str):
        return value
    groups = value.strip().split("=")
    if len(groups) > 3:
        raise ValueError("a Person Name has at most three component groups (PS3.5 6.2.1)")
    fields: list[dict[str, str]] = []
    for group in groups:
        parts = group.split("^")
        if len(parts) > 3:
            raise ValueError(f"'{group}': radsim names carry family, given and middle name components only")
        fields.append(dict(zip(("family", "given", "middle"), parts, strict=False)))
    data: dict[str, Any] = dict(fields[0])
    for label, group_fields in zip(("ideographic", "phonetic"), fields[1:], strict=False):
        if any(group_fields.values()):
            data[label] = group_fields
    return data


Name = Annotated[PersonName, BeforeValidator(_parse_person_name)]


def _physician(value: Any) -> Any:
    if value is None:
        return ""
    return PersonName.model_validate(_parse_person_name(value)).text() if str(value).strip() else ""


PhysicianName = Annotated[str, BeforeValidator(_physician)]


def _charset(value: Any) -> Any:
    """A short name from CHARSETS, or Specific Character Set Defined Terms (one string, ``\\``-separated, or a
    list); ValueError for a term radsim does not know."""
    if value is None or (isinstance(value, str) and value in CHARSETS):
        return value
    terms = value.split("\\") if isinstance(value, str) else value
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise ValueError("a character set is a name (latin1, japanese ...) or Specific Character Set terms")
    try:
        fits("", terms)
    except ValueError as exc:
        raise ValueError(f"{exc}; or use one of: {', '.join(CHARSETS)}") from None
    return terms[0] if len(terms) == 1 else terms


class PatientEntry(BaseModel):
    """The patient of a step (PS3.3 C.7.1.1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: LongId
    name: Name
    birth_date: dt.date
    sex: Literal["M", "F", "O"]
    charset: Annotated[str | list[str] | None, BeforeValidator(_charset)] = None


class StepEntry(BaseModel):
    """One scheduled procedure step of the schedule file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patient: PatientEntry
    accession_number: ShortId
    requested_procedure_id: ShortId
    requested_procedure_description: LongText
    scheduled_procedure_step_id: ShortId
    step_description: OptionalLongText = ""
    study_instance_uid: str | None = None
    modality: Annotated[str, AfterValidator(_code_string)]
    station_ae_title: AETitle
    station_name: ShortText = ""
    start_date: dt.date | None = None
    start_time: Annotated[dt.time, BeforeValidator(_start_time)]
    referring_physician: PhysicianName = ""
    performing_physician: PhysicianName = ""
    priority: Literal["STAT", "HIGH", "ROUTINE", "MEDIUM", "LOW"] = "ROUTINE"

    @field_validator("study_instance_uid")
    @classmethod
    def _uid(cls, value: str | None) -> str | None:
        if value is not None and not is_valid_uid(value.strip()):
            raise ValueError(f"'{value}' is not a valid UID (PS3.5 9.1: digits and dots, at most 64 characters)")
        return value.strip() if value is not None else None

    @model_validator(mode="after")
    def _fits_charset(self) -> StepEntry:
        charset = self.specific_character_set()
        for label, text, is_name in self._texts():
            _check_fits(label, text, charset, person_name=is_name)
        return self

    def _texts(self) -> list[tuple[str, str, bool]]:
        return [
            ("patient.name", self.patient.name.text(), True),
            ("requested_procedure_description", self.requested_procedure_description, False),
            ("step_description", self.step_description, False),
            ("station_name", self.station_name, False),
            ("referring_physician", self.referring_physician, True),
            ("performing_physician", self.performing_physician, True),
        ]

    def specific_character_set(self) -> str | list[str]:
        """The declared character set as pydicom takes it; undeclared: none for ASCII text, else UTF-8."""
        declared = self.patient.charset
        if declared is None:
            return "" if all(text.isascii() for _, text, _ in self._texts()) else "ISO_IR 192"
        if isinstance(declared, str) and declared in CHARSETS:
            return charset_spec(declared).value
        return declared

    def procedure(self, default_date: dt.date | None) -> OrderedProcedure:
        date = self.start_date or default_date
        if date is None:
            raise ValueError("no start_date, and the schedule has no date")
        name = self.patient.name
        patient = Patient(
            patient_id=self.patient.id, family_name=name.family, given_name=name.given, middle_name=name.middle,
            ideographic_family=name.ideographic.family if name.ideographic else "",
            ideographic_given=name.ideographic.given if name.ideographic else "",
            phonetic_family=name.phonetic.family if name.phonetic else "",
            phonetic_given=name.phonetic.given if name.phonetic else "",
            birth_date=self.patient.birth_date, sex=self.patient.sex,
            specific_character_set=self.specific_character_set(),
        )
        return OrderedProcedure(
            patient=patient, accession_number=self.accession_number,
            requested_procedure_id=self.requested_procedure_id,
            requested_procedure_description=self.requested_procedure_description,
            scheduled_procedure_step_id=self.scheduled_procedure_step_id,
            study_instance_uid=self.study_instance_uid or study_uid_for(self.accession_number,
                                                                        self.requested_procedure_id),
            modality=self.modality, scheduled_station_ae_title=self.station_ae_title,
            scheduled_station_name=self.station_name, scheduled_date=date, scheduled_time=self.start_time,
            referring_physician=self.referring_physician, performing_physician=self.performing_physician,
            step_description=self.step_description, priority=self.priority,
        )


def _check_fits(label: str, text: str, charset: str | list[str], *, person_name: bool) -> None:
    shown = "the default repertoire (ASCII)" if not charset else repr(charset)
    if not fits(text, charset):
        bad = "".join(unfit_characters(text, charset))
        raise ValueError(f"{label} '{text}' has characters outside {shown}: {bad!r}; declare patient.charset "
                         "(e.g. latin1, utf8, japanese)")
    if b"\\" in encode(text, charset, person_name=person_name):
        raise ValueError(f"{label} '{text}' encodes to a 0x5C byte under {shown}, which DICOM readers take for "
                         "the value delimiter; choose other characters")


class Schedule(BaseModel):
    """A schedule file: an optional name and default date, and its steps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    date: dt.date | None = None
    steps: list[StepEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Schedule:
        seen: dict[tuple[str, str, str], int] = {}
        patients: dict[str, tuple[int, PatientEntry]] = {}
        for index, step in enumerate(self.steps):
            if step.start_date is None and self.date is None:
                raise ValueError(f"steps.{index} has no start_date and the schedule has no date")
            key = (step.accession_number, step.requested_procedure_id, step.scheduled_procedure_step_id)
            if key in seen:
                raise ValueError(f"steps.{seen[key]} and steps.{index} are the same scheduled procedure step "
                                 f"(accession {key[0]}, requested procedure {key[1]}, step {key[2]})")
            seen[key] = index
            first = patients.setdefault(step.patient.id, (index, step.patient))
            if first[1] != step.patient:
                raise ValueError(f"steps.{first[0]} and steps.{index} give patient {step.patient.id} different "
                                 "demographics (name, birth date, sex or charset)")
        return self

    def procedures(self) -> list[OrderedProcedure]:
        return [step.procedure(self.date) for step in self.steps]


def load_schedule(path: Path) -> list[ScheduledProcedure]:
    """The steps of a schedule file, in file order, as :class:`OrderedProcedure` values; a bad file raises
    :class:`~simulator.errors.ConfigError` naming the file, the line and the field."""
    return list(load_model(path, Schedule).procedures())


# -- a generated day ------------------------------------------------------------------------------------------

#: Stations of a generated day: modality -> (Scheduled Station AE Title, Scheduled Station Name). The AE titles
#: are those of the shipped department's modalities where it has them.
DEFAULT_STATIONS: dict[str, tuple[str, str]] = {
    "CT": ("CT1", "CT ROOM 1"),
    "MR": ("MR1", "MR ROOM 1"),
    "US": ("US1", "US ROOM 1"),
    "CR": ("CR1", "XRAY ROOM 1"),
    "MG": ("MG1", "MAMMO ROOM 1"),
}
_REFERRERS = ("Weber^Anna", "Smith^John", "Dubois^Claire", "Rossi^Marco", "Novak^Eva")


def make_day(seed: int, count: int = 12, *, date: dt.date = dt.date(2026, 11, 26),
             stations: dict[str, tuple[str, str]] | None = None,
             charsets: Sequence[str] = tuple(CHARSETS)) -> list[OrderedProcedure]:
    """``count`` scheduled procedure steps for ``date``, the same for the same arguments: patients from
    :func:`~simulator.synth.patients.make_patient` in character sets drawn from ``charsets``, each station's steps
    back to back from 08:00, ordered by start time."""
    stations = dict(stations or DEFAULT_STATIONS)
    rng = random.Random(f"ris-day-{seed}-{date.isoformat()}")
    modalities = sorted(stations)
    slot = {m: dt.datetime.combine(date, dt.time(8, 0)) for m in modalities}
    out: list[OrderedProcedure] = []
    for index in range(count):
        modality = rng.choice(modalities)
        charset = rng.choice(list(charsets))
        spec = modality_spec(modality)
        patient = make_patient(seed * 100_003 + index, charset=charset, sex=spec.patient_sex)
        start = slot[modality]
        slot[modality] = start + dt.timedelta(minutes=rng.choice((15, 20, 30, 45)))
        number = f"{abs(seed) % 100_000:05d}{index:04d}"
        station_ae, station_name = stations[modality]
        out.append(OrderedProcedure(
            patient=patient, accession_number=f"A{number}", requested_procedure_id=f"RP{number}",
            requested_procedure_description=spec.study_description, scheduled_procedure_step_id=f"SPS{number}",
            study_instance_uid=str(derive_uid(seed, "ris-day", date.isoformat(), index)), modality=modality,
            scheduled_station_ae_title=station_ae, scheduled_station_name=station_name, scheduled_date=date,
            scheduled_time=start.time(), referring_physician=rng.choice(_REFERRERS),
        ))
    out.sort(key=lambda p: (p.scheduled_time, p.scheduled_station_ae_title))
    return out
