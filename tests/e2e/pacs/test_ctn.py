"""RSNA CTN 3.2.0's archive_server (Debian ctn) as a remote PACS: radsim run against a PACS it did not start, that
accepts Implicit VR Little Endian only, and whose known deviations are listed in known-deviations.yaml.

The shipped catalog runs as `radsim run --pacs remote` would (through the library): every scenario must end passed,
not supported, or as a known deviation of CTN, with the shipped deviations only. The tests after it see each of
CTN's deviations again, so that the file does not outlive them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE

from simulator.config import default_department
from simulator.department import Department
from simulator.errors import AssociationRejected, DimseFailure
from simulator.net import DicomClient
from simulator.net.ports import free_port
from simulator.overrides import Overrides, apply_overrides
from simulator.scenario import discover, load_scenario, run_scenario
from simulator.synth import Study, build_ct_study, generate_study
from tests.e2e.pacs.ctn import CtnServer, running_ctn

CATALOG = Path(__file__).resolve().parents[3] / "scenarios"
CTN_AE = "CTN_PACS"
CALLERS = ["CT1", "MR1", "US1", "RADSIM_PROBE"]
CTN_CLASS_UID, CTN_VERSION = "1.2.840.113654.2.3.1995.3.0.6", "MIRCTN11MAR2003"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"


@pytest.fixture(scope="module")
def ctn_department(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Department, CtnServer]]:
    """CTN knowing WS1 and the QA node (at the department's fixed ports) and our modalities, and a department that
    uses it as its remote PACS."""
    ws_port, qa_port = free_port(), free_port()
    with running_ctn(tmp_path_factory.mktemp("ctn"), ae_title=CTN_AE,
                     peers={"WS1": ("127.0.0.1", ws_port), "RADSIM_QA": ("127.0.0.1", qa_port)},
                     callers=CALLERS) as ctn:
        config = apply_overrides(default_department(), Overrides(
            pacs="remote", pacs_aet=CTN_AE, pacs_port=ctn.endpoint.port, ws_port=ws_port, qa_port=qa_port))
        department = Department(config).start()
        try:
            yield department, ctn
        finally:
            department.stop(timeout=20)


def test_ctn_answers_c_echo_and_identifies_itself(ctn_department: tuple[Department, CtnServer]) -> None:
    department, ctn = ctn_department
    probe = DicomClient("RADSIM_PROBE", node="probe")
    probe.echo(ctn.endpoint)
    seen = probe.identify(ctn.endpoint)
    assert (seen.implementation_class_uid, seen.implementation_version_name) == (CTN_CLASS_UID, CTN_VERSION)
    identity = department.pacs.identity  # what the remote backend noted, and the deviations are looked up by
    assert identity is not None
    assert (identity.implementation_class_uid, identity.implementation_version_name) == (CTN_CLASS_UID, CTN_VERSION)


@pytest.mark.parametrize("path", discover([CATALOG]), ids=lambda p: p.stem)
def test_shipped_scenario_is_acceptable_on_ctn(ctn_department: tuple[Department, CtnServer], path: Path) -> None:
    department, ctn = ctn_department
    department.reset()
    ctn.wipe()
    result = run_scenario(load_scenario(path), department)
    assert result.acceptable, result.transcript() + "\n" + ctn.log()[-1500:]
    assert not result.unobserved, f"{department.pacs.describe()}: {result.reason}"


# -- the deviations listed for CTN in known-deviations.yaml, seen again on every run ----------------------------


def _stored(department: Department, ctn: CtnServer, seed: int) -> Study:
    ctn.wipe()
    study = build_ct_study(seed, series=2, instances=2, rows=16, columns=16)
    outcomes = DicomClient("CT1", node="CT1").store(ctn.endpoint, study.datasets)
    assert {o.status for o in outcomes} == {0}
    return study


def test_c_find_answers_names_upper_cased(ctn_department: tuple[Department, CtnServer]) -> None:
    department, ctn = ctn_department
    study = _stored(department, ctn, 960)
    (answer,) = department.workstation("WS1").find(ctn.endpoint, "STUDY", {
        "StudyInstanceUID": study.study_instance_uid, "PatientName": ""})
    stored = str(study.datasets[0].PatientName)
    assert str(answer.PatientName) == stored.upper() != stored


def test_a_list_of_uids_in_a_retrieve_retrieves_nothing(ctn_department: tuple[Department, CtnServer]) -> None:
    department, ctn = ctn_department
    study = _stored(department, ctn, 961)
    ws = department.workstation("WS1")
    first, second = study.series_instance_uids
    both = ws.get(ctn.endpoint, "SERIES", {"StudyInstanceUID": study.study_instance_uid,
                                           "SeriesInstanceUID": [first, second]})
    one = ws.get(ctn.endpoint, "SERIES", {"StudyInstanceUID": study.study_instance_uid, "SeriesInstanceUID": first})
    assert (both.status, both.completed) == (0, 0)
    assert (one.status, one.completed) == (0, 2)


def test_study_counts_are_answered_zero(ctn_department: tuple[Department, CtnServer]) -> None:
    department, ctn = ctn_department
    study = _stored(department, ctn, 962)
    (answer,) = department.workstation("WS1").find(ctn.endpoint, "STUDY", {
        "StudyInstanceUID": study.study_instance_uid, "NumberOfStudyRelatedSeries": "",
        "NumberOfStudyRelatedInstances": ""})
    assert (int(answer.NumberOfStudyRelatedSeries), int(answer.NumberOfStudyRelatedInstances)) == (0, 0)


def test_simultaneous_first_stores_of_a_study_are_refused(ctn_department: tuple[Department, CtnServer]) -> None:
    """A race: tried on up to five new studies; what was refused is stored when sent again."""
    _, ctn = ctn_department
    client = DicomClient("CT1", node="CT1")
    refused: list[str] = []
    for attempt in range(5):
        study = build_ct_study(970 + attempt, series=1, instances=20, rows=16, columns=16)
        outcomes = client.store(ctn.endpoint, study.datasets, associations=4)
        refused = [o.sop_instance_uid for o in outcomes if o.status == 0xA700]
        assert all(o.status in (0, 0xA700) for o in outcomes)
        if refused:
            again = client.store(ctn.endpoint, [ds for ds in study.datasets if str(ds.SOPInstanceUID) in refused])
            assert {o.status for o in again} == {0}
            break
    assert refused, "no simultaneous first store refused in five studies: update known-deviations.yaml"


# -- more of CTN's deviations: no shipped scenario fails because of them ----------------------------------------


def test_an_unknown_move_destination_fails_every_sub_operation_with_0xb000(
        ctn_department: tuple[Department, CtnServer]) -> None:
    """Not 0xA801 (Refused: Move Destination unknown, PS3.4 C.4.2.1.5)."""
    department, ctn = ctn_department
    study = _stored(department, ctn, 963)
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = study.study_instance_uid
    moved = DicomClient("RADSIM_PROBE", node="probe").move(ctn.endpoint, identifier, "NOBODY")
    assert (moved.status, moved.completed, moved.failed) == (0xB000, 0, len(study))


def test_a_failed_c_find_is_followed_by_a_second_final_response(ctn_department: tuple[Department, CtnServer]) -> None:
    """IMAGE level without the Series Instance UID: 0xC000, then another C-FIND-RSP, 0x0000 (PS3.7 9.1.2)."""
    department, ctn = ctn_department
    study = _stored(department, ctn, 964)
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "IMAGE"
    identifier.StudyInstanceUID = study.study_instance_uid
    identifier.SOPInstanceUID = ""
    with pytest.raises(DimseFailure, match="0xC000"):
        DicomClient("RADSIM_PROBE", node="probe").find(ctn.endpoint, identifier)
    ae = AE("RADSIM_PROBE")
    ae.dimse_timeout = 5
    ae.add_requested_context(STUDY_ROOT_FIND, IMPLICIT_VR_LITTLE_ENDIAN)
    assoc = ae.associate("127.0.0.1", ctn.endpoint.port, ae_title=CTN_AE)
    assert assoc.is_established
    try:
        statuses = [int(rsp.Status) for rsp, _ in
                    assoc.send_c_find(identifier, STUDY_ROOT_FIND)]
        _, extra = assoc.dimse.get_msg(block=True)  # what came after the final response
    finally:
        assoc.release()
    assert statuses == [0xC000]
    assert extra is not None and extra.Status == 0x0000


def test_a_transfer_syntax_it_lacks_is_refused_as_an_unsupported_abstract_syntax(
        ctn_department: tuple[Department, CtnServer]) -> None:
    """CT Image Storage in Explicit VR Little Endian only: result 3, not 4 (PS3.8 9.3.3.2); in Implicit: accepted."""
    _, ctn = ctn_department
    results = {}
    for syntax in ("1.2.840.10008.1.2.1", IMPLICIT_VR_LITTLE_ENDIAN):
        ae = AE("RADSIM_PROBE")
        ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2", syntax)
        assoc = ae.associate("127.0.0.1", ctn.endpoint.port, ae_title=CTN_AE)
        results[syntax] = [int(cx.result) for cx in assoc.accepted_contexts + assoc.rejected_contexts
                           if cx.result is not None]
        if assoc.is_established:
            assoc.release()
    assert results == {"1.2.840.10008.1.2.1": [3], IMPLICIT_VR_LITTLE_ENDIAN: [0]}


def test_encapsulated_pdf_is_refused_out_of_resources(ctn_department: tuple[Department, CtnServer]) -> None:
    _, ctn = ctn_department
    study = generate_study("DOC", 965, series=1, instances=1)
    outcomes = DicomClient("CT1", node="CT1").store(ctn.endpoint, study.datasets)
    assert [o.status for o in outcomes] == [0xA700]


def test_a_missing_type_2_attribute_is_refused_out_of_resources(ctn_department: tuple[Department, CtnServer]) -> None:
    """Without Accession Number: 0xA700; with it empty: stored."""
    _, ctn = ctn_department
    missing, empty = build_ct_study(966, series=1, instances=2, rows=16, columns=16).datasets
    del missing.AccessionNumber
    empty.AccessionNumber = ""
    for ds in (missing, empty):
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    outcomes = DicomClient("CT1", node="CT1").store(ctn.endpoint, [missing, empty])
    assert [o.status for o in outcomes] == [0xA700, 0x0000]


def test_an_unknown_calling_ae_is_rejected_as_an_unknown_called_ae(
        ctn_department: tuple[Department, CtnServer]) -> None:
    """A-ASSOCIATE-RJ reason 7 instead of 3 (PS3.8 9.3.4)."""
    _, ctn = ctn_department
    with pytest.raises(AssociationRejected, match="Called AE title not recognised"):
        DicomClient("NOT_REGISTERED", node="nobody").echo(ctn.endpoint)
