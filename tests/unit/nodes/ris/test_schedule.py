"""Schedule files: the shipped example loads, every kind of mistake names file, line and field; generated days."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from simulator.errors import ConfigError
from simulator.nodes.ris.schedule import OrderedProcedure, load_schedule, make_day, step_key, study_uid_for
from simulator.synth.charsets import fits
from simulator.synth.patients import make_patient
from simulator.synth.procedure import ScheduledProcedure
from simulator.synth.uids import is_valid_uid

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "schedule.yaml"

STEP = """\
date: 2026-11-26
steps:
  - patient: {id: P1, name: "Doe^John", birth_date: 1970-01-02, sex: M}
    accession_number: A1
    requested_procedure_id: RP1
    requested_procedure_description: CT Chest
    scheduled_procedure_step_id: SPS1
    modality: CT
    station_ae_title: CT1
    start_time: "08:30"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schedule.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_schedule(path)
    assert info.value.source == str(path)
    return info.value


def test_the_example_is_a_day_of_a_small_department() -> None:
    procedures = load_schedule(EXAMPLE)
    assert 12 <= len(procedures) <= 16
    assert {p.modality for p in procedures} == {"CT", "MR", "US", "CR", "MG"}
    assert len({p.scheduled_station_ae_title for p in procedures}) >= 4
    assert len({step_key(p) for p in procedures}) == len(procedures)
    charsets = {str(p.patient.specific_character_set) for p in procedures}
    assert {"ISO_IR 100", "ISO_IR 192", "ISO_IR 126", "ISO_IR 144", "['', 'ISO 2022 IR 87']",
            "['', 'ISO 2022 IR 149']", ""} <= charsets
    japanese = next(p for p in procedures if p.patient.specific_character_set == ["", "ISO 2022 IR 87"])
    assert japanese.patient.ideographic_family and japanese.patient.phonetic_family
    for p in procedures:
        assert isinstance(p, OrderedProcedure)
        assert p.scheduled_date == dt.date(2026, 11, 26)
        assert is_valid_uid(p.study_instance_uid)
        assert fits(p.patient.name, p.patient.specific_character_set)


def test_a_step_becomes_the_synth_procedure(tmp_path: Path) -> None:
    (procedure,) = load_schedule(write(tmp_path, STEP))
    assert isinstance(procedure, ScheduledProcedure)
    assert procedure.patient.name == "Doe^John" and procedure.patient.specific_character_set == ""
    assert procedure.scheduled_time == dt.time(8, 30)
    assert procedure.study_instance_uid == study_uid_for("A1", "RP1")  # derived, so stable across loads
    assert load_schedule(write(tmp_path, STEP))[0].study_instance_uid == procedure.study_instance_uid


def test_name_as_mapping_equals_name_as_string(tmp_path: Path) -> None:
    as_string = STEP.replace('name: "Doe^John"', 'name: "Yamada^Tarou=山田^太郎=やまだ^たろう", charset: japanese')
    as_mapping = STEP.replace('name: "Doe^John"', "name: {family: Yamada, given: Tarou, ideographic: {family: 山田, "
                                                  "given: 太郎}, phonetic: {family: やまだ, given: たろう}}, "
                                                  "charset: japanese")
    (first,) = load_schedule(write(tmp_path, as_string))
    (second,) = load_schedule(write(tmp_path, as_mapping))
    assert first.patient == second.patient
    assert first.patient.name == "Yamada^Tarou=山田^太郎=やまだ^たろう"
    assert first.patient.specific_character_set == ["", "ISO 2022 IR 87"]


def test_undeclared_non_ascii_text_declares_utf8_and_optional_fields_are_kept(tmp_path: Path) -> None:
    text = STEP.replace("Doe^John", "Doe^Zoë").replace('start_time: "08:30"', textwrap.dedent("""\
        start_time: "0830"
            start_date: 2026-11-27
            referring_physician: Weber^Anna
            performing_physician: Lee^Susan
            step_description: Thorax
            priority: STAT
            study_instance_uid: 1.2.3.4""").replace("\n", "\n    ", 0))
    (procedure,) = load_schedule(write(tmp_path, text))
    assert isinstance(procedure, OrderedProcedure)
    assert procedure.patient.specific_character_set == "ISO_IR 192"
    assert (procedure.referring_physician, procedure.performing_physician) == ("Weber^Anna", "Lee^Susan")
    assert (procedure.step_description, procedure.priority) == ("Thorax", "STAT")
    assert procedure.scheduled_date == dt.date(2026, 11, 27) and procedure.study_instance_uid == "1.2.3.4"


@pytest.mark.parametrize(("change", "line", "field", "words"), [
    (('start_time: "08:30"', "start_time: 10:30"), 10, "steps.0.start_time", "quotes"),
    (('start_time: "08:30"', 'start_time: "25:00"'), 10, "steps.0.start_time", "hour"),
    (("    modality: CT\n", ""), 3, "steps.0.modality", "Field required"),
    (("modality: CT", "modality: ct"), 8, "steps.0.modality", "Code String"),
    (("accession_number: A1", "accession_number: A1234567890123456"), 4, "steps.0.accession_number",
     "at most 16"),
    (("station_ae_title: CT1", "station_ae_title: AN_AE_TITLE_TOO_LONG"), 9, "steps.0.station_ae_title", "AE title"),
    (('name: "Doe^John"', 'name: "Doe^John^X^Y"'), 3, "steps.0.patient.name", "middle"),
    (("sex: M", "sex: X"), 3, "steps.0.patient.sex", "'M', 'F' or 'O'"),
    (('name: "Doe^John"', 'name: "Müller^Jürgen", charset: klingon'), 3, "steps.0.patient.charset",
     "latin1"),
    (('name: "Doe^John"', 'name: "山田^太郎", charset: latin1'), 3, "steps.0", "outside"),
    (("    modality: CT\n", "    modality: CT\n    study_instance_uid: 1.2.03\n"), 9,
     "steps.0.study_instance_uid", "not a valid UID"),
    (("    modality: CT\n", "    modality: CT\n    colour: red\n"), 9, "steps.0.colour", "Extra inputs"),
])
def test_mistakes_name_file_line_and_field(tmp_path: Path, change: tuple[str, str], line: int, field: str,
                                           words: str) -> None:
    old, new = change
    assert old in STEP
    error = error_of(tmp_path, STEP.replace(old, new))
    assert (error.line, error.field) == (line, field), str(error)
    assert words in str(error)


def test_other_text_must_fit_the_declared_charset_too(tmp_path: Path) -> None:
    text = STEP.replace('sex: M}', 'sex: M, charset: default}').replace("CT Chest", "胸部CT")
    error = error_of(tmp_path, text)
    assert (error.line, error.field) == (3, "steps.0")
    assert "requested_procedure_description" in str(error) and "declare patient.charset" in str(error)


def test_a_step_repeated_and_a_patient_contradicted_are_refused(tmp_path: Path) -> None:
    step = STEP.split("steps:\n", 1)[1]
    error = error_of(tmp_path, STEP + step)
    assert "steps.0 and steps.1 are the same scheduled procedure step" in str(error)
    error = error_of(tmp_path, STEP + step.replace("SPS1", "SPS2").replace("1970-01-02", "1971-01-02"))
    assert "patient P1" in str(error) and "steps.0 and steps.1" in str(error)


def test_a_step_without_any_date_and_an_empty_schedule_are_refused(tmp_path: Path) -> None:
    assert "no start_date" in str(error_of(tmp_path, STEP.replace("date: 2026-11-26\n", "")))
    error = error_of(tmp_path, "date: 2026-11-26\nsteps: []\n")
    assert error.field == "steps" and error.line == 2


def test_a_name_whose_jis_encoding_holds_a_backslash_byte_is_refused(tmp_path: Path) -> None:
    # 宮 is 0x35 0x5C in JIS X 0208: a 05/12 byte, which many readers take for the value delimiter
    error = error_of(tmp_path, STEP.replace('name: "Doe^John"', 'name: "Miyamoto^Ko=宮本^子", charset: japanese'))
    assert "0x5C" in str(error)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_schedule(Path("/nonexistent/schedule.yaml"))


def test_ordered_procedure_of_a_plain_procedure_keeps_it_and_adds_defaults() -> None:
    plain = ScheduledProcedure(
        patient=make_patient(1), accession_number="A", requested_procedure_id="R", requested_procedure_description="D",
        scheduled_procedure_step_id="S", study_instance_uid="1.2.3", modality="CT", scheduled_station_ae_title="CT1",
        scheduled_station_name="N", scheduled_date=dt.date(2026, 1, 2), scheduled_time=dt.time(9, 0))
    ordered = OrderedProcedure.of(plain)
    assert ordered.accession_number == "A" and ordered.patient == plain.patient and ordered.priority == "ROUTINE"
    assert OrderedProcedure.of(ordered) is ordered


def test_a_generated_day_is_deterministic_varied_and_plausible() -> None:
    day = make_day(7, 16)
    assert day == make_day(7, 16)
    assert day != make_day(8, 16)
    assert len(day) == 16 and len({step_key(p) for p in day}) == 16
    assert len({p.study_instance_uid for p in day}) == 16
    assert len({str(p.patient.specific_character_set) for p in day}) >= 4
    assert [p.scheduled_time for p in day] == sorted(p.scheduled_time for p in day)
    for p in day:
        assert p.scheduled_time >= dt.time(8, 0)
        assert fits(p.patient.name, p.patient.specific_character_set)
        if p.modality == "MG":
            assert p.patient.sex == "F"
    by_station: dict[str, list[dt.time]] = {}
    for p in day:
        by_station.setdefault(p.scheduled_station_ae_title, []).append(p.scheduled_time)
    assert all(len(set(times)) == len(times) for times in by_station.values())  # no double booking
