"""The MPPS state machine (PS3.4 F.7): every accepted transition, every refused one with its status, the record."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset

from simulator.net import MppsFailure
from simulator.nodes.acquisition_messages import completed, discontinued, in_progress
from simulator.nodes.ris.mpps import MppsBook
from simulator.nodes.ris.worklist import worklist_item
from tests.unit.nodes.ris.test_worklist import PROCEDURES

ITEM = worklist_item(PROCEDURES[0])  # Müller^Jürgen, ISO_IR 100
UID = "1.2.826.0.1.3680043.10.1"
STARTED = dt.datetime(2026, 11, 26, 8, 2)
ENDED = dt.datetime(2026, 11, 26, 8, 20)


def create_attributes(**changes: object) -> Dataset:
    ds = in_progress(ITEM, performed_station_ae="CT1", performed_station_name="CT ROOM", pps_id="PPS1",
                     started=STARTED)
    for keyword, value in changes.items():
        if value is None:
            del ds[keyword]
        else:
            setattr(ds, keyword, value)
    return ds


def image(number: int) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = f"1.2.3.9.{number}"
    ds.SeriesInstanceUID = "1.2.3.9"
    ds.SeriesDescription = "Axial"
    ds.PixelData = b"\0\0"
    return ds


def as_received(ds: Dataset) -> Dataset:
    """``ds`` as an SCP gets it from the network: encoded, then read back with its text still raw."""
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, ds)
    buffer.seek(0)
    return read_dataset(buffer, is_implicit_VR=False, is_little_endian=True)


def refused(call: object, *args: object) -> MppsFailure:
    with pytest.raises(MppsFailure) as info:
        call(*args)  # type: ignore[operator]
    return info.value


@pytest.fixture
def book() -> MppsBook:
    return MppsBook()


def test_in_progress_then_completed(book: MppsBook) -> None:
    assert book.create("CT1", UID, as_received(create_attributes())) == UID
    record = book.get(UID)
    assert record is not None and record.status == "IN PROGRESS" and record.created_by == "CT1"
    assert record.violations == ()
    (step,) = record.steps
    assert (step.accession_number, step.scheduled_procedure_step_id) == ("ACC1", "SPS1")
    book.set("CT1", UID, as_received(completed([image(1), image(2)], ended=ENDED)))
    record = book.get(UID)
    assert record is not None and record.status == "COMPLETED" and record.violations == ()
    assert record.attributes.PerformedProcedureStepEndTime == "082000"
    assert len(record.attributes.PerformedSeriesSequence[0].ReferencedImageSequence) == 2
    assert [(m.operation, m.status) for m in record.messages] == [("N-CREATE", 0), ("N-SET", 0)]
    assert str(record.attributes.PatientName) == "Müller^Jürgen"  # decoded with the N-CREATE's ISO_IR 100


def test_in_progress_may_be_set_again_before_it_ends(book: MppsBook) -> None:
    book.create("CT1", UID, create_attributes())
    update = Dataset()
    update.PerformedProcedureStepStatus = "IN PROGRESS"
    update.PerformedProcedureStepDescription = "CT Thorax, extended"
    book.set("CT1", UID, update)
    book.set("CT1", UID, discontinued([image(1)], ended=ENDED, reason="equipment-failure"))
    record = book.get(UID)
    assert record is not None and record.status == "DISCONTINUED"
    assert record.attributes.PerformedProcedureStepDescription == "CT Thorax, extended"


@pytest.mark.parametrize("final", [
    completed([image(1)], ended=ENDED),
    discontinued([image(1)], ended=ENDED),
])
def test_a_finished_step_may_no_longer_be_updated(book: MppsBook, final: Dataset) -> None:
    book.create("CT1", UID, create_attributes())
    book.set("CT1", UID, final)
    before = book.get(UID)
    for again in (completed([image(1)], ended=ENDED), final):
        failure = refused(book.set, "CT1", UID, again)
        assert failure.status == 0x0110  # PS3.4 F.7.2.2.3
        assert failure.comment == "Performed Procedure Step Object may no longer be updated"  # Table F.7.2-2
        assert failure.error_id == 0xA710
    after = book.get(UID)
    assert before is not None and after is not None and after.attributes == before.attributes
    assert [m.status for m in after.messages] == [0x0000, 0x0000, 0x0110, 0x0110]


def test_duplicate_create_is_refused_and_the_first_kept(book: MppsBook) -> None:
    book.create("CT1", UID, create_attributes())
    failure = refused(book.create, "CT2", UID, create_attributes(PerformedStationAETitle="CT2"))
    assert failure.status == 0x0111
    record = book.get(UID)
    assert record is not None and record.attributes.PerformedStationAETitle == "CT1"
    assert [(m.caller_ae, m.status) for m in record.messages] == [("CT1", 0x0000), ("CT2", 0x0111)]


@pytest.mark.filterwarnings("ignore:Invalid value for VR CS")  # "in progress" is not even a valid CS
@pytest.mark.parametrize("status", ["COMPLETED", "DISCONTINUED", "in progress", "STARTED"])
def test_create_in_another_state_than_in_progress_is_refused(book: MppsBook, status: str) -> None:
    failure = refused(book.create, "CT1", UID, create_attributes(PerformedProcedureStepStatus=status))
    assert failure.status == 0x0106  # PS3.4 F.7.2.1.3
    assert "IN PROGRESS" in failure.comment
    assert book.get(UID) is None and len(book) == 0


@pytest.mark.parametrize(("changes", "status", "words"), [
    ({"PerformedProcedureStepStatus": None}, 0x0120, "PerformedProcedureStepStatus"),
    ({"Modality": None, "PerformedStationAETitle": None}, 0x0120, "PerformedStationAETitle, Modality"),
    ({"ScheduledStepAttributesSequence": [Dataset()]}, 0x0120, ">StudyInstanceUID"),
    ({"PerformedProcedureStepID": ""}, 0x0121, "PerformedProcedureStepID"),
    ({"ScheduledStepAttributesSequence": []}, 0x0121, "ScheduledStepAttributesSequence"),
    ({"PerformedProcedureStepStartDate": ""}, 0x0121, "PerformedProcedureStepStartDate"),
])
def test_create_without_a_type_1_attribute_is_refused(book: MppsBook, changes: dict[str, object], status: int,
                                                      words: str) -> None:
    failure = refused(book.create, "CT1", UID, create_attributes(**changes))
    assert failure.status == status and words in failure.comment
    assert book.get(UID) is None
    (message,) = book.messages(UID)
    assert (message.operation, message.status) == ("N-CREATE", status)


def test_set_of_an_unknown_instance_is_refused(book: MppsBook) -> None:
    failure = refused(book.set, "CT1", "1.2.3.404", completed([], ended=ENDED))
    assert failure.status == 0x0112
    assert [(m.sop_instance_uid, m.status) for m in book.messages()] == [("1.2.3.404", 0x0112)]


@pytest.mark.parametrize(("keyword", "value"), [
    ("PatientName", "Other^Name"), ("PatientID", "X"), ("Modality", "MR"), ("PerformedProcedureStepID", "PPS9"),
    ("PerformedStationAETitle", "CT9"), ("PerformedProcedureStepStartDate", "20261127"), ("StudyID", "9"),
    ("ScheduledStepAttributesSequence", []),
])
def test_set_of_an_attribute_not_allowed_in_n_set_is_refused(book: MppsBook, keyword: str, value: object) -> None:
    book.create("CT1", UID, create_attributes())
    change = Dataset()
    change.PerformedProcedureStepStatus = "COMPLETED"
    setattr(change, keyword, value)
    failure = refused(book.set, "CT1", UID, change)
    assert failure.status == 0x0105 and keyword in failure.comment  # PS3.4 Table F.7.2-1 "Not allowed"
    assert failure.attribute_tags == (int(change[keyword].tag),)
    record = book.get(UID)
    assert record is not None and record.status == "IN PROGRESS"


@pytest.mark.parametrize("status", ["DONE", "SCHEDULED", ""])
def test_set_to_a_state_that_does_not_exist_is_refused(book: MppsBook, status: str) -> None:
    book.create("CT1", UID, create_attributes())
    change = Dataset()
    change.PerformedProcedureStepStatus = status
    assert refused(book.set, "CT1", UID, change).status == 0x0106
    record = book.get(UID)
    assert record is not None and record.status == "IN PROGRESS"


def test_what_the_modality_gets_wrong_without_refusal_is_kept_as_violations(book: MppsBook) -> None:
    book.create("CT1", UID, create_attributes(PerformedLocation=None, StudyID=None,
                                              PerformedProcedureStepDiscontinuationReasonCodeSequence=None))
    book.set("CT1", UID, discontinued([], ended=ENDED))  # sets a reason sequence the N-CREATE did not create
    record = book.get(UID)
    assert record is not None and record.status == "DISCONTINUED"
    text = " | ".join(record.violations)
    assert "Type 2" in text and "PerformedLocation" in text and "StudyID" in text
    assert "PerformedProcedureStepDiscontinuationReasonCodeSequence" in text and "note 5" in text
    assert "DISCONTINUED without PerformedSeriesSequence" in text


def test_n_set_text_is_read_in_the_character_set_of_the_n_create(book: MppsBook) -> None:
    book.create("CT1", UID, as_received(create_attributes()))
    change = Dataset()
    change.SpecificCharacterSet = "ISO_IR 100"  # only to encode it; the SCU leaves it out (PS3.4 F.7.2.2.1)
    change.PerformedProcedureStepDescription = "Thorax-CT, Übersicht"
    received = as_received(change)
    del received.SpecificCharacterSet
    book.set("CT1", UID, received)
    record = book.get(UID)
    assert record is not None
    assert record.attributes.PerformedProcedureStepDescription == "Thorax-CT, Übersicht"


def test_an_instance_uid_is_assigned_when_the_create_has_none(book: MppsBook) -> None:
    uid = book.create("CT1", "", create_attributes())
    assert uid.startswith("2.25.") and book.get(uid) is not None


def test_records_export_as_plain_json(book: MppsBook) -> None:
    book.create("CT1", UID, as_received(create_attributes()))
    book.set("CT1", UID, completed([image(1)], ended=ENDED))
    refused(book.set, "CT1", UID, completed([image(1)], ended=ENDED))
    data = json.loads(json.dumps(book.to_dict()))
    (instance,) = data["instances"]
    assert instance["status"] == "COMPLETED" and instance["steps"][0]["accession_number"] == "ACC1"
    assert instance["attributes"]["00100010"]["Value"][0]["Alphabetic"] == "Müller^Jürgen"
    assert [m["status"] for m in instance["messages"]] == ["0x0000", "0x0000", "0x0110"]
    last = data["messages"][-1]
    assert last["meaning"] == "Processing failure" and last["comment"].startswith("Performed Procedure Step")
    assert last["attributes"]["00400252"]["Value"] == ["COMPLETED"]  # the attributes sent are recorded
    assert dt.datetime.fromisoformat(last["at"]).tzinfo is not None


def test_queries_by_uid_and_accession(book: MppsBook) -> None:
    book.create("CT1", UID, create_attributes())
    other = worklist_item(PROCEDURES[2])
    book.create("US1", "1.2.3.77", in_progress(other, performed_station_ae="US1", performed_station_name="US",
                                                 pps_id="PPS2", started=STARTED))
    assert [r.sop_instance_uid for r in book.for_accession("ACC3")] == ["1.2.3.77"]
    assert [r.sop_instance_uid for r in book.records()] == [UID, "1.2.3.77"]
    assert book.get("9.9.9") is None and book.messages("9.9.9") == []
    record = book.get(UID)
    assert record is not None
    record.attributes.PatientID = "changed"  # a snapshot: the book keeps its own copy
    again = book.get(UID)
    assert again is not None and again.attributes.PatientID == "P-DE"


def test_concurrent_creates_are_all_recorded(book: MppsBook) -> None:
    def create(number: int) -> None:
        book.create(f"M{number}", f"1.2.3.{number}", create_attributes())

    threads = [threading.Thread(target=create, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(book) == 20 and len(book.messages()) == 20
