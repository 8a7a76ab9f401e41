"""Worklist items carry every RAD-5 return key; the matcher follows PS3.4 C.2.2.2 as it applies to MWL."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from pydicom.dataset import Dataset

from simulator.net import ScpFailure
from simulator.nodes.ris.schedule import OrderedProcedure
from simulator.nodes.ris.worklist import LOCAL_CODING_SCHEME, match_worklist, worklist_item
from simulator.synth.patients import Patient

JAPANESE = Patient(patient_id="P-JP", family_name="Yamada", given_name="Tarou", ideographic_family="山田",
                   ideographic_given="太郎", phonetic_family="やまだ", phonetic_given="たろう",
                   birth_date=dt.date(1958, 7, 2), sex="M", specific_character_set=["", "ISO 2022 IR 87"])
GERMAN = Patient(patient_id="P-DE", family_name="Müller", given_name="Jürgen", birth_date=dt.date(1961, 3, 14),
                 sex="M", specific_character_set="ISO_IR 100")
ENGLISH = Patient(patient_id="P-EN", family_name="Smith", given_name="Mary", birth_date=dt.date(1979, 11, 23),
                  sex="F", specific_character_set="")


def order(number: int, patient: Patient, modality: str, station: str, day: int, time: str) -> OrderedProcedure:
    return OrderedProcedure(
        patient=patient, accession_number=f"ACC{number}", requested_procedure_id=f"RP{number}",
        requested_procedure_description=f"{modality} procedure {number}", scheduled_procedure_step_id=f"SPS{number}",
        study_instance_uid=f"1.2.3.{number}", modality=modality, scheduled_station_ae_title=station,
        scheduled_station_name=f"{station} ROOM", scheduled_date=dt.date(2026, 11, day),
        scheduled_time=dt.time.fromisoformat(time), referring_physician="Weber^Anna",
        performing_physician="Lee^Susan")


PROCEDURES = [
    order(1, GERMAN, "CT", "CT1", 26, "08:00"),
    order(2, JAPANESE, "MR", "MR1", 26, "09:30"),
    order(3, ENGLISH, "US", "US1", 27, "10:15"),
    order(4, GERMAN, "CR", "CR1", 25, "16:45"),
    order(5, ENGLISH, "CT", "CT2", 26, "13:00"),
]
ITEMS = [worklist_item(p) for p in PROCEDURES]

#: RAD-5 return keys (IHE RAD TF-2 Table 4.5-3; PS3.4 Table K.6-1) and, in the step item, those of the SPS.
RETURN_KEYS = ("AccessionNumber", "ReferringPhysicianName", "ReferencedStudySequence", "ReferencedPatientSequence",
               "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
               "RequestedProcedureID", "RequestedProcedureDescription", "RequestedProcedureCodeSequence",
               "RequestedProcedurePriority", "RequestingPhysician", "AdmissionID", "CurrentPatientLocation",
               "PatientWeight", "MedicalAlerts", "Allergies", "PregnancyStatus", "SpecialNeeds", "PatientState",
               "PatientTransportArrangements", "ConfidentialityConstraintOnPatientDataDescription",
               "ScheduledProcedureStepSequence")
SPS_KEYS = ("ScheduledStationAETitle", "ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartTime",
            "Modality", "ScheduledPerformingPhysicianName", "ScheduledProcedureStepDescription",
            "ScheduledProtocolCodeSequence", "ScheduledProcedureStepID", "ScheduledStationName",
            "ScheduledProcedureStepLocation", "PreMedication", "RequestedContrastAgent",
            "ScheduledProcedureStepStatus")


def query(**keys: object) -> Dataset:
    """An identifier; ``sps`` (a dict) becomes the one Scheduled Procedure Step Sequence item."""
    ds = Dataset()
    sps = keys.pop("sps", None)
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    if sps is not None:
        item = Dataset()
        for keyword, value in dict(sps).items():
            setattr(item, keyword, value)
        ds.ScheduledProcedureStepSequence = [item]
    return ds


def accessions(identifier: dict[str, object]) -> list[str]:
    return [str(ds.AccessionNumber) for ds in match_worklist(ITEMS, query(**{"AccessionNumber": "", **identifier}))]


def test_an_item_has_every_return_key_and_the_values_of_its_procedure() -> None:
    item = worklist_item(PROCEDURES[1])
    assert all(keyword in item for keyword in RETURN_KEYS)
    (sps,) = item.ScheduledProcedureStepSequence
    assert all(keyword in sps for keyword in SPS_KEYS)
    assert item.SpecificCharacterSet == ["", "ISO 2022 IR 87"]
    assert str(item.PatientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう"
    assert (item.PatientID, item.PatientBirthDate, item.PatientSex) == ("P-JP", "19580702", "M")
    assert (item.AccessionNumber, item.RequestedProcedureID, item.StudyInstanceUID) == ("ACC2", "RP2", "1.2.3.2")
    assert (sps.Modality, sps.ScheduledStationAETitle, sps.ScheduledStationName) == ("MR", "MR1", "MR1 ROOM")
    assert (sps.ScheduledProcedureStepStartDate, sps.ScheduledProcedureStepStartTime) == ("20261126", "093000")
    assert sps.ScheduledProcedureStepID == "SPS2" and sps.ScheduledProcedureStepStatus == "SCHEDULED"
    assert str(sps.ScheduledPerformingPhysicianName) == "Lee^Susan" and str(item.ReferringPhysicianName) == "Weber^Anna"
    assert sps.ScheduledProcedureStepDescription == "MR procedure 2"  # no step description: the procedure's
    for code in (*item.RequestedProcedureCodeSequence, *sps.ScheduledProtocolCodeSequence):
        assert code.CodingSchemeDesignator == LOCAL_CODING_SCHEME and 0 < len(code.CodeValue) <= 16
        assert code.CodeMeaning == "MR procedure 2"


def test_an_ascii_patient_declares_no_character_set_and_codes_are_stable() -> None:
    item = worklist_item(PROCEDURES[2])
    assert "SpecificCharacterSet" not in item
    again = worklist_item(dataclasses.replace(PROCEDURES[2]))
    assert item.RequestedProcedureCodeSequence[0].CodeValue == again.RequestedProcedureCodeSequence[0].CodeValue


def test_an_empty_identifier_value_is_universal_and_returns_only_requested_keys() -> None:
    responses = list(match_worklist(ITEMS, query(AccessionNumber="", PatientName="")))
    assert [str(r.AccessionNumber) for r in responses] == ["ACC1", "ACC2", "ACC3", "ACC4", "ACC5"]
    assert set(responses[0].dir()) == {"AccessionNumber", "PatientName", "SpecificCharacterSet"}
    assert responses[0].SpecificCharacterSet == "ISO_IR 100"
    assert "SpecificCharacterSet" not in responses[2]  # the ASCII patient's item declares none


@pytest.mark.parametrize(("identifier", "expected"), [
    ({"AccessionNumber": "ACC3"}, ["ACC3"]),
    ({"PatientID": "P-DE"}, ["ACC1", "ACC4"]),
    ({"PatientID": "p-de"}, []),  # single value matching is case-sensitive except for PN
    ({"PatientName": "müller^jürgen"}, ["ACC1", "ACC4"]),
    ({"PatientName": "Müller^Jürgen^^"}, ["ACC1", "ACC4"]),  # trailing empty components do not count
    ({"PatientName": "M?ller*"}, ["ACC1", "ACC4"]),
    ({"PatientName": "*ARY"}, ["ACC3", "ACC5"]),
    ({"PatientName": "山田*"}, ["ACC2"]),  # the ideographic group alone
    ({"PatientName": "やまだ^たろう"}, ["ACC2"]),  # the phonetic group alone
    ({"PatientName": "Yamada^Tarou=山田^太郎=やまだ^たろう"}, ["ACC2"]),
    ({"PatientName": "Yamada^Tarou=山田^花子"}, []),  # with "=", the whole name must match
    ({"PatientName": "*"}, ["ACC1", "ACC2", "ACC3", "ACC4", "ACC5"]),
    ({"StudyInstanceUID": "1.2.3.4\\1.2.3.5\\9.9"}, ["ACC4", "ACC5"]),
    ({"RequestedProcedureID": "RP?"}, ["ACC1", "ACC2", "ACC3", "ACC4", "ACC5"]),
    ({"PatientBirthDate": "-19611231"}, ["ACC1", "ACC2", "ACC4"]),
])
def test_top_level_matching(identifier: dict[str, str], expected: list[str]) -> None:
    assert accessions(identifier) == expected


@pytest.mark.parametrize(("sps", "expected"), [
    ({"ScheduledStationAETitle": "CT1"}, ["ACC1"]),
    ({"ScheduledStationAETitle": "CT*"}, ["ACC1", "ACC5"]),
    ({"Modality": "CT"}, ["ACC1", "ACC5"]),
    ({"Modality": "CT", "ScheduledStationAETitle": "MR1"}, []),  # both keys must match in the same item
    ({"ScheduledProcedureStepStartDate": "20261126"}, ["ACC1", "ACC2", "ACC5"]),
    ({"ScheduledProcedureStepStartDate": "20261126-20261127"}, ["ACC1", "ACC2", "ACC3", "ACC5"]),
    ({"ScheduledProcedureStepStartDate": "-20261126"}, ["ACC1", "ACC2", "ACC4", "ACC5"]),
    ({"ScheduledProcedureStepStartDate": "20261126-"}, ["ACC1", "ACC2", "ACC3", "ACC5"]),
    ({"ScheduledProcedureStepStartDate": "20261126", "ScheduledProcedureStepStartTime": "0900-1300"},
     ["ACC2", "ACC5"]),
    ({"ScheduledProcedureStepStartTime": "-0930"}, ["ACC1", "ACC2"]),  # inclusive end
    ({"ScheduledProcedureStepStartTime": "16-"}, ["ACC4"]),
    ({"ScheduledProcedureStepStartTime": "1015"}, ["ACC3"]),  # TM "1015" means 10:15:00 (C.2.2.2.1.3)
    ({"ScheduledProcedureStepStartDate": "", "Modality": ""}, ["ACC1", "ACC2", "ACC3", "ACC4", "ACC5"]),
])
def test_sequence_matching_on_the_scheduled_procedure_step(sps: dict[str, str], expected: list[str]) -> None:
    assert accessions({"sps": sps}) == expected


def test_a_sequence_key_returns_matching_items_with_the_requested_keys_only() -> None:
    (response,) = match_worklist(ITEMS, query(sps={"ScheduledStationAETitle": "MR1", "ScheduledProcedureStepID": ""}))
    (sps,) = response.ScheduledProcedureStepSequence
    assert set(sps.dir()) == {"ScheduledStationAETitle", "ScheduledProcedureStepID"}
    assert sps.ScheduledProcedureStepID == "SPS2"
    assert set(response.dir()) == {"ScheduledProcedureStepSequence", "SpecificCharacterSet"}


def test_a_sequence_key_without_items_or_with_an_empty_item_returns_the_whole_sequence() -> None:
    empty = Dataset()
    empty.ScheduledProcedureStepSequence = []
    with_empty_item = Dataset()
    with_empty_item.ScheduledProcedureStepSequence = [Dataset()]
    for identifier in (empty, with_empty_item):
        responses = list(match_worklist(ITEMS, identifier))
        assert len(responses) == len(ITEMS)
        assert responses[0].ScheduledProcedureStepSequence == ITEMS[0].ScheduledProcedureStepSequence


def test_nested_code_sequence_matching() -> None:
    code = Dataset()
    code.CodeMeaning = "CT*"
    identifier = query(AccessionNumber="")
    identifier.RequestedProcedureCodeSequence = [code]
    responses = list(match_worklist(ITEMS, identifier))
    assert [str(r.AccessionNumber) for r in responses] == ["ACC1", "ACC5"]
    assert set(responses[0].RequestedProcedureCodeSequence[0].dir()) == {"CodeMeaning"}


def test_keys_the_items_do_not_carry_are_neither_matched_nor_returned() -> None:
    responses = list(match_worklist(ITEMS, query(AccessionNumber="ACC1", InstitutionName="Nowhere",
                                                 IssuerOfPatientID="")))
    assert len(responses) == 1
    assert "InstitutionName" not in responses[0] and "IssuerOfPatientID" not in responses[0]


def test_specific_character_set_and_query_level_in_the_identifier_are_not_matched() -> None:
    assert accessions({"SpecificCharacterSet": "ISO_IR 192", "QueryRetrieveLevel": "STUDY",
                       "PatientID": "P-JP"}) == ["ACC2"]


@pytest.mark.filterwarnings("ignore:Invalid value for VR")  # pydicom warns when the test builds the bad keys
@pytest.mark.parametrize(("keys", "status", "words"), [
    ({"sps": {"Modality": "CT"}}, None, ""),  # valid, for contrast
    ({"ScheduledProcedureStepSequence": [Dataset(), Dataset()]}, 0xA900, "one item"),
    ({"sps": {"ScheduledProcedureStepStartDate": "2026-11-26"}}, 0xC000, "not a date"),
    ({"sps": {"ScheduledProcedureStepStartDate": "202611"}}, 0xC000, "not a date"),
    ({"sps": {"ScheduledProcedureStepStartTime": "2561"}}, 0xC000, "not a time"),
    ({"sps": {"ScheduledProcedureStepStartTime": "08h30"}}, 0xC000, "not a time"),
])
def test_an_identifier_that_cannot_be_matched_is_refused_at_once(keys: dict[str, object], status: int | None,
                                                                words: str) -> None:
    identifier = query(**keys)
    if status is None:
        assert list(match_worklist(ITEMS, identifier))
        return
    with pytest.raises(ScpFailure) as info:
        match_worklist(ITEMS, identifier)  # not lazily: before any response is produced
    assert info.value.status == status
    assert words in info.value.comment and len(info.value.comment) <= 64


def test_cs_matching_is_case_sensitive() -> None:
    assert accessions({"sps": {"Modality": "CT"}}) == ["ACC1", "ACC5"]
    with pytest.warns(UserWarning, match="Invalid value for VR CS"):  # lower case is not even a valid CS
        identifier = query(sps={"Modality": "ct"})
    assert list(match_worklist(ITEMS, identifier)) == []


def test_a_sequence_key_for_a_plain_attribute_and_a_plain_key_for_a_sequence_are_refused() -> None:
    wrong = Dataset()
    wrong.PatientName = ""
    wrong.add_new(0x00080050, "SQ", [Dataset()])  # Accession Number sent as a sequence
    with pytest.raises(ScpFailure) as info:
        list(match_worklist(ITEMS, wrong))
    assert info.value.status == 0xA900 and "AccessionNumber" in info.value.comment
    flat = Dataset()
    flat.add_new(0x00400100, "LO", "CT")  # the Scheduled Procedure Step Sequence sent as text
    with pytest.raises(ScpFailure) as info:
        list(match_worklist(ITEMS, flat))
    assert info.value.status == 0xA900 and "sequence" in info.value.comment


def test_matching_leaves_the_items_unchanged() -> None:
    before = [str(item) for item in ITEMS]
    for response in match_worklist(ITEMS, query(PatientName="", sps={"Modality": ""})):
        response.PatientName = "Changed^Here"
        response.ScheduledProcedureStepSequence[0].Modality = "XX"
    assert [str(item) for item in ITEMS] == before
