"""Stopping and starting nodes of a running department (embedded PACS, real sockets): the PACS comes back on its
port and data folder and receives what the QA node queued meanwhile; a killed QA node comes back on its port and
data folder and forwards its queue. Each instance is stored into the PACS exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.config import default_department
from simulator.department import Department
from simulator.errors import HarnessError, NetworkError
from simulator.journal import Journal
from simulator.synth import Study, build_ct_study
from tests.conftest import wait_for


def _stores_at_pacs(journal: Journal) -> Counter[str]:
    """How many C-STOREs the PACS answered with success, per SOP Instance UID."""
    return Counter(str(e.detail["sop_instance_uid"]) for e in journal.select(node="PACS", kind="C-STORE", role="SCP")
                   if e.status == 0)


@pytest.fixture
def department(tmp_path: Path) -> Iterator[Department]:
    dept = Department(default_department(), workdir=tmp_path / "dept")
    dept.start()
    try:
        yield dept
    finally:
        dept.stop(timeout=10)


@pytest.fixture(scope="module")
def study() -> Study:
    return build_ct_study(41, series=1, instances=8, rows=16, columns=16)


def test_pacs_down_then_up_on_the_same_port_and_data(department: Department, study: Study) -> None:
    before = build_ct_study(42, series=1, instances=2, rows=16, columns=16)
    qa, ct1 = department.qa("QA"), department.modality("CT1")
    assert {o.status for o in ct1.store(before.datasets, qa.endpoint)} == {0}  # type: ignore[arg-type]
    assert qa.drain(30)
    port = department.pacs.endpoint.port

    assert department.stop_node("PACS") == f"PACS RADSIM_PACS@127.0.0.1:{port} stopped"
    with pytest.raises(HarnessError, match="already stopped"):
        department.stop_node("PACS")
    outcomes = ct1.store(study.datasets, department.endpoint("QA"))
    assert {o.status for o in outcomes} == {0}  # acknowledged: the QA node answers for them
    assert qa.queue_length() == len(study)
    assert wait_for(lambda: qa.ledger.last_forward_error() is not None, 10)

    assert department.start_node("PACS") == f"PACS RADSIM_PACS@127.0.0.1:{port} started"
    assert department.pacs.endpoint.port == port
    with pytest.raises(HarnessError, match="is running"):
        department.start_node("PACS")
    assert wait_for(lambda: department.pacs.sop_instance_uids(study.study_instance_uid)
                     == set(study.sop_instance_uids), 30)
    assert department.pacs.sop_instance_uids(before.study_instance_uid) == set(before.sop_instance_uids)
    counts = _stores_at_pacs(department.journal)
    assert {uid: counts[uid] for uid in study.sop_instance_uids} == dict.fromkeys(study.sop_instance_uids, 1)
    assert wait_for(lambda: qa.ledger.counts()["forwarded"] == len(study) + len(before), 10)


def test_killed_qa_node_restarts_on_its_port_and_forwards_its_queue(department: Department, study: Study) -> None:
    old = department.qa("QA")
    qa_endpoint = department.endpoint("QA")
    ct1 = department.modality("CT1")
    first, rest = study.datasets[:5], study.datasets[5:]
    department.stop_node("PACS")  # keeps what the QA node accepts in its queue, so the kill finds it there
    assert {o.status for o in ct1.store(first, qa_endpoint)} == {0}

    message = department.stop_node("QA", abrupt=True)
    assert message == f"QA {qa_endpoint} killed with 5 instance(s) queued on disk"
    assert not old.running
    with pytest.raises(NetworkError):
        ct1.store(rest, qa_endpoint)  # nobody listens there any more
    with pytest.raises(HarnessError, match="was killed"):
        old.start()

    assert department.start_node("QA") == f"QA {qa_endpoint} started; 5 instance(s) queued to forward"
    fresh = department.qa("QA")
    assert fresh is not old and fresh.running and department.endpoint("QA") == qa_endpoint
    assert fresh.ledger.counts()["queued"] == 5
    assert {o.status for o in ct1.store(rest, qa_endpoint)} == {0}
    department.start_node("PACS")
    assert wait_for(lambda: department.pacs.sop_instance_uids(study.study_instance_uid)
                     == set(study.sop_instance_uids), 30)
    counts = _stores_at_pacs(department.journal)
    assert {uid: counts[uid] for uid in study.sop_instance_uids} == dict.fromkeys(study.sop_instance_uids, 1)
    assert wait_for(lambda: fresh.ledger.counts()["forwarded"] == len(study), 10)


def test_graceful_qa_stop_and_restart_keeps_the_port(department: Department, study: Study) -> None:
    endpoint = department.endpoint("QA")
    assert department.stop_node("QA") == f"QA {endpoint} stopped with 0 instance(s) queued on disk"
    department.start_node("QA")
    assert department.endpoint("QA") == endpoint
    ct1 = department.modality("CT1")
    assert {o.status for o in ct1.store(study.datasets, endpoint)} == {0}
    assert wait_for(lambda: department.pacs.sop_instance_uids(study.study_instance_uid)
                     == set(study.sop_instance_uids), 30)


def test_reset_brings_back_nodes_a_scenario_left_stopped(department: Department) -> None:
    port = department.pacs.endpoint.port
    department.stop_node("PACS")
    department.stop_node("QA", abrupt=True)
    department.reset()
    assert department.pacs.endpoint.port == port
    client = department.modality("CT1").client
    client.echo(department.endpoint("PACS"))
    client.echo(department.endpoint("QA"))
    with pytest.raises(HarnessError, match="is running; stop it first"):
        department.start_node("PACS")
