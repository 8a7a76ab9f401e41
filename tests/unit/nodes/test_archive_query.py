"""C-FIND matching over a real archive index (PS3.4 C.2.2.2): single value, universal, wildcard, range, UID list."""

from __future__ import annotations

import datetime as dt
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from simulator.net import Caller, FindRequest, ScpFailure
from simulator.nodes.archive.index import ArchiveIndex
from simulator.nodes.archive.query import compile_match, level_of, response_select
from simulator.nodes.archive.service import EmbeddedArchive
from simulator.synth import build_ct_study
from simulator.synth.patients import Patient

TS = str(ExplicitVRLittleEndian)

# name -> (patient, seed, series, instances, study date, study time)
STUDIES: dict[str, tuple[Patient, int, int, int, str, str]] = {
    "A": (Patient("P001", "Doe", "John", dt.date(1970, 1, 1), "M"), 41, 2, 2, "20240115", "083000"),
    "B": (Patient("P002", "Smith", "Anna", dt.date(1980, 2, 2), "F"), 42, 1, 3, "20240220", "120000.5"),
    "C": (Patient("P003", "O[B]rien", "Pat", dt.date(1990, 3, 3), "M"), 43, 1, 1, "20230610", "235959"),
    "D": (Patient("P004", "Obrien", "Max", dt.date(1960, 4, 4), "M"), 44, 1, 1, "20221231", "000000"),
}


def _part10(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _fill(index: ArchiveIndex, studies: dict[str, tuple[Patient, int, int, int, str, str]]) -> dict[str, Any]:
    """Add the studies; return name -> the generated Study."""
    out = {}
    for name, (patient, seed, series, instances, date, time) in studies.items():
        study = build_ct_study(seed, series=series, instances=instances, rows=8, columns=8, patient=patient)
        for ds in study:
            ds.StudyDate = date
            ds.StudyTime = time
            index.add(_part10(ds), TS)
        out[name] = study
    return out


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ArchiveIndex, dict[str, Any]]]:
    index = ArchiveIndex(tmp_path_factory.mktemp("archive"))
    studies = _fill(index, STUDIES)
    yield index, studies
    index.close()


def _identifier(level: str, keys: dict[str, Any]) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def find(index: ArchiveIndex, level: str, model: str = "study", **keys: Any) -> list[dict[str, Any]]:
    """The query EmbeddedArchive._on_find runs, as plain rows."""
    identifier = _identifier(level, keys)
    query = compile_match(identifier, model)
    select, _ = response_select(query.level, [elem.keyword for elem in identifier if elem.keyword])
    rows = index.query(f"SELECT {select} FROM instances WHERE {query.where} GROUP BY {query.group_column} "
                       f"ORDER BY MIN(received_at)", query.params)
    return [dict(row) for row in rows]


def studies_found(archive: tuple[ArchiveIndex, dict[str, Any]], **keys: Any) -> set[str]:
    """Names (A, B, C, D) of the studies a STUDY-level Study Root query matches."""
    index, studies = archive
    by_uid = {study.study_instance_uid: name for name, study in studies.items()}
    return {by_uid[row["StudyInstanceUID"]] for row in find(index, "STUDY", **keys, StudyInstanceUID="")}


# -- single value and universal matching ---------------------------------------------------------------------------


def test_single_value(archive: tuple[ArchiveIndex, dict[str, Any]]) -> None:
    assert studies_found(archive, PatientID="P002") == {"B"}
    assert studies_found(archive, PatientID="P00") == set()
    assert studies_found(archive, AccessionNumber=archive[1]["C"].datasets[0].AccessionNumber) == {"C"}


def test_universal_matching_returns_every_study_and_its_values(archive: tuple[ArchiveIndex, dict[str, Any]]) -> None:
    assert studies_found(archive, PatientID="") == {"A", "B", "C", "D"}
    assert studies_found(archive, PatientName="*") == {"A", "B", "C", "D"}
    rows = find(archive[0], "STUDY", PatientID="", PatientName="")
    assert {(r["PatientID"], r["PatientName"]) for r in rows} == {
        ("P001", "Doe^John"), ("P002", "Smith^Anna"), ("P003", "O[B]rien^Pat"), ("P004", "Obrien^Max")}


def test_person_name_single_value_is_case_insensitive(archive: tuple[ArchiveIndex, dict[str, Any]]) -> None:
    assert studies_found(archive, PatientName="doe^john") == {"A"}
    assert studies_found(archive, PatientName="DOE^JOHN") == {"A"}
    assert studies_found(archive, PatientName="Doe") == set()  # single value is the whole name


def test_values_are_parameters_not_sql(archive: tuple[ArchiveIndex, dict[str, Any]]) -> None:
    assert studies_found(archive, PatientID="x' OR '1'='1") == set()
    assert studies_found(archive, PatientName="x' OR '1'='1*") == set()


# -- wildcards -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("d*", {"A"}),
        ("DOE^*", {"A"}),
        ("SM?TH^*", {"B"}),
        ("s?ith", set()),  # ? is exactly one character and the rest must match too
        ("*^pat", {"C"}),
        ("*n*", {"A", "B", "C", "D"}),
        ("?????^????", {"B"}),
    ],
)
def test_person_name_wildcards_are_case_insensitive(archive: tuple[ArchiveIndex, dict[str, Any]], pattern: str,
                                                    expected: set[str]) -> None:
    assert studies_found(archive, PatientName=pattern) == expected


def test_wildcards_on_other_vrs_are_case_sensitive(archive: tuple[ArchiveIndex, dict[str, Any]]) -> None:
    assert studies_found(archive, StudyDescription="CT Abd*") == {"A", "B", "C", "D"}
    assert studies_found(archive, StudyDescription="ct abd*") == set()
    assert studies_found(archive, PatientID="P00?") == {"A", "B", "C", "D"}
    assert studies_found(archive, PatientID="*3") == {"C"}


def test_glob_brackets_in_values_are_literal(archive: tuple[ArchiveIndex, dict[str, Any]]) -> None:
    # Unescaped, "[B]" would be a GLOB character class and "O[B]*" would match "Obrien^Max" instead.
    assert studies_found(archive, PatientName="O[B]*") == {"C"}
    assert studies_found(archive, PatientName="*]rien^*") == {"C"}
    assert studies_found(archive, PatientName="o[b]rien^pat") == {"C"}


# -- ranges ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20240101-20241231", {"A", "B"}),
        ("-20231231", {"C", "D"}),
        ("20240201-", {"B"}),
        ("20240115-20240115", {"A"}),
        ("20230610", {"C"}),
        ("19000101-19000102", set()),
    ],
)
def test_date_ranges(archive: tuple[ArchiveIndex, dict[str, Any]], value: str, expected: set[str]) -> None:
    assert studies_found(archive, StudyDate=value) == expected


def test_time_range_upper_bound_includes_fractions_of_that_second(
        archive: tuple[ArchiveIndex, dict[str, Any]]) -> None:
    assert studies_found(archive, StudyTime="-120000") == {"A", "B", "D"}
    assert studies_found(archive, StudyTime="120001-") == {"C"}


@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")
def test_bare_dash_range_is_answered_not_crashed(archive: tuple[ArchiveIndex, dict[str, Any]]) -> None:
    try:
        result = studies_found(archive, StudyDate="-")
    except ScpFailure:
        return  # refusing the identifier is an acceptable answer
    except sqlite3.OperationalError as exc:
        pytest.fail(f"SQL error leaked out of the matcher: {exc}")
    assert result == {"A", "B", "C", "D"}


# -- UID lists -------------------------------------------------------------------------------------------------------


def test_list_of_uids(archive: tuple[ArchiveIndex, dict[str, Any]]) -> None:
    _, studies = archive
    a, c = studies["A"].study_instance_uid, studies["C"].study_instance_uid
    index = archive[0]
    by_string = find(index, "STUDY", StudyInstanceUID=f"{a}\\{c}")
    by_list = find(index, "STUDY", StudyInstanceUID=[a, c])
    assert {r["StudyInstanceUID"] for r in by_string} == {a, c}
    assert {r["StudyInstanceUID"] for r in by_list} == {a, c}
    assert {r["StudyInstanceUID"] for r in find(index, "STUDY", StudyInstanceUID=a)} == {a}
    assert find(index, "STUDY", StudyInstanceUID="1.2.3.4.5") == []


# -- levels, models and counts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "model"), [("FOO", "study"), ("", "study"), ("PATIENT", "study"),
                                              ("STUDY", "worklist")])
def test_invalid_level_is_refused_with_a900(level: str, model: str) -> None:
    with pytest.raises(ScpFailure) as info:
        compile_match(_identifier(level, {"PatientID": ""}), model)
    assert info.value.status == 0xA900
    assert repr(level) in info.value.comment or level in info.value.comment
    assert model in info.value.comment


@pytest.mark.filterwarnings("ignore:Invalid value for VR CS")
def test_level_is_normalised() -> None:
    assert level_of(_identifier(" study ", {}), "study") == "STUDY"
    assert level_of(_identifier("INSTANCE", {}), "study") == "IMAGE"
    assert level_of(_identifier("PATIENT", {}), "patient") == "PATIENT"


def test_study_counts(archive: tuple[ArchiveIndex, dict[str, Any]]) -> None:
    index, studies = archive
    rows = find(index, "STUDY", PatientID="P001", NumberOfStudyRelatedInstances="",
                NumberOfStudyRelatedSeries="", ModalitiesInStudy="")
    assert len(rows) == 1
    row = rows[0]
    assert row["StudyInstanceUID"] == studies["A"].study_instance_uid  # unique key added though not asked
    assert (row["NumberOfStudyRelatedInstances"], row["NumberOfStudyRelatedSeries"]) == (4, 2)
    assert row["ModalitiesInStudy"] == "CT"


def test_patient_level_in_patient_root(archive: tuple[ArchiveIndex, dict[str, Any]]) -> None:
    rows = find(archive[0], "PATIENT", model="patient", PatientID="", NumberOfPatientRelatedStudies="",
                NumberOfPatientRelatedSeries="", NumberOfPatientRelatedInstances="")
    by_id = {r["PatientID"]: r for r in rows}
    assert set(by_id) == {"P001", "P002", "P003", "P004"}
    assert (by_id["P001"]["NumberOfPatientRelatedStudies"], by_id["P001"]["NumberOfPatientRelatedSeries"],
            by_id["P001"]["NumberOfPatientRelatedInstances"]) == (1, 2, 4)
    assert by_id["P002"]["NumberOfPatientRelatedInstances"] == 3


def test_series_level(archive: tuple[ArchiveIndex, dict[str, Any]]) -> None:
    index, studies = archive
    study = studies["A"]
    rows = find(index, "SERIES", StudyInstanceUID=study.study_instance_uid, Modality="",
                NumberOfSeriesRelatedInstances="")
    assert {r["SeriesInstanceUID"] for r in rows} == set(study.series_instance_uids)
    assert all(r["Modality"] == "CT" and r["NumberOfSeriesRelatedInstances"] == 2 for r in rows)


def test_image_level(archive: tuple[ArchiveIndex, dict[str, Any]]) -> None:
    index, studies = archive
    study = studies["B"]
    rows = find(index, "IMAGE", StudyInstanceUID=study.study_instance_uid,
                SeriesInstanceUID=study.series_instance_uids[0], InstanceNumber="")
    assert {r["SOPInstanceUID"] for r in rows} == set(study.sop_instance_uids)
    assert sorted(int(r["InstanceNumber"]) for r in rows) == [1, 2, 3]


def test_keys_above_the_level_restrict_lower_levels(archive: tuple[ArchiveIndex, dict[str, Any]]) -> None:
    rows = find(archive[0], "IMAGE", PatientID="P001", SOPInstanceUID="")
    assert {r["SOPInstanceUID"] for r in rows} == set(archive[1]["A"].sop_instance_uids)


def test_response_select_keeps_known_keys_in_order_and_adds_unique_key() -> None:
    sql, keywords = response_select("SERIES", ["Modality", "PatientName", "NotAKeyword", "SOPInstanceUID",
                                               "NumberOfSeriesRelatedInstances"])
    assert keywords == ["Modality", "PatientName", "NumberOfSeriesRelatedInstances", "SeriesInstanceUID"]
    assert "COUNT(*) AS NumberOfSeriesRelatedInstances" in sql
    assert "sop_instance_uid" not in sql  # a key below the level is not returned


def test_compile_match_ignores_universal_keys() -> None:
    query = compile_match(_identifier("STUDY", {"PatientID": "", "PatientName": "*", "StudyInstanceUID": ""}),
                          "study")
    assert (query.where, query.params, query.group_column) == ("1=1", [], "study_instance_uid")


# -- the archive's C-FIND handler runs the same query -----------------------------------------------------------


def test_embedded_archive_on_find_answers_with_datasets(tmp_path: Path) -> None:
    archive = EmbeddedArchive(tmp_path / "pacs")  # its server is never started: no socket is opened
    try:
        studies = _fill(archive.index, {k: STUDIES[k] for k in ("A", "B")})
        identifier = _identifier("STUDY", {"PatientName": "smith*", "StudyInstanceUID": "",
                                           "NumberOfStudyRelatedInstances": "", "StudyDate": ""})
        request = FindRequest(caller=Caller("WS1", "127.0.0.1", 11112), model="study", identifier=identifier,
                              is_cancelled=lambda: False)
        answers = list(archive._on_find(request))
    finally:
        archive.index.close()
    assert len(answers) == 1
    answer = answers[0]
    assert answer.QueryRetrieveLevel == "STUDY"
    assert answer.StudyInstanceUID == studies["B"].study_instance_uid
    assert str(answer.PatientName) == "Smith^Anna"
    assert int(answer.NumberOfStudyRelatedInstances) == 3
    assert answer.StudyDate == "20240220"


# -- non-ASCII person names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["Ünal*", "ünal^zoë", "ÜNAL^ZOË"])
def test_non_ascii_person_names_match(tmp_path: Path, pattern: str) -> None:
    index = ArchiveIndex(tmp_path / "archive")
    try:
        _fill(index, {"E": (Patient("P005", "Ünal", "Zoë", dt.date(1985, 5, 5), "F"), 45, 1, 1, "20240301",
                            "100000")})
        assert len(find(index, "STUDY", PatientName="Ünal^Zoë")) == 1  # exact value: works today
        assert len(find(index, "STUDY", PatientName=pattern)) == 1
    finally:
        index.close()
