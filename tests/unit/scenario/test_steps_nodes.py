"""Node outage steps: registered, their arguments checked at load time, split divides a study, and a PACS
radsim does not manage is refused (no sockets: nothing here is started)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from simulator.config import RemotePacsConfig, default_department
from simulator.department import Department
from simulator.errors import ConfigError, HarnessError, NotSupported
from simulator.scenario.loader import load_scenario
from simulator.scenario.steps import REGISTRY, RunContext
from simulator.scenario.steps_nodes import SplitArgs, run_split
from simulator.synth import build_ct_study


def _load(tmp_path: Path, steps: str) -> object:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nsteps:\n" + textwrap.indent(textwrap.dedent(steps), "  "), encoding="utf-8")
    return load_scenario(path)


def test_node_steps_are_registered() -> None:
    assert {"stop_node", "start_node", "restart_node", "split"} <= set(REGISTRY)


def test_arguments_are_checked_when_the_scenario_loads(tmp_path: Path) -> None:
    scenario = _load(tmp_path, """\
        - stop_node: {node: QA, abrupt: true}
        - start_node: {node: QA}
        - restart_node: {node: PACS}
        """)
    assert [s.kind for s in scenario.steps] == ["stop_node", "start_node", "restart_node"]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, "- stop_node: {node: QA, abrupt: maybe}\n")
    assert info.value.line == 3 and "abrupt" in str(info.value)
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, "- start_node: {node: QA, abrupt: true}\n")
    assert "abrupt" in str(info.value)
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, "- split: {study: ct, at: 0, as: [a, b]}\n")
    assert "at" in str(info.value)
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, "- split: {study: ct, at: 2, as: [a]}\n")
    assert "as" in str(info.value)


@pytest.fixture
def department(tmp_path: Path) -> Department:
    return Department(default_department(), workdir=tmp_path / "dept")


def test_split_names_the_first_instances_and_the_rest(department: Department) -> None:
    ctx = RunContext(department)
    study = build_ct_study(3, series=2, instances=3, rows=8, columns=8)
    ctx.variables["ct"] = study
    message = run_split(ctx, SplitArgs.model_validate({"study": "ct", "at": 4, "as": ["head", "tail"]}))
    head, tail = ctx.variables["head"], ctx.variables["tail"]
    assert head.sop_instance_uids + tail.sop_instance_uids == study.sop_instance_uids
    assert len(head) == 4 and len(tail) == 2
    assert head.study_instance_uid == tail.study_instance_uid == study.study_instance_uid
    assert message == "head: 4 instance(s), tail: 2 of ct"
    with pytest.raises(ConfigError, match="leaves nothing for the rest"):
        run_split(ctx, SplitArgs.model_validate({"study": "ct", "at": 6, "as": ["a", "b"]}))


def test_unknown_and_not_stopped_nodes_are_refused(department: Department) -> None:
    with pytest.raises(ConfigError, match="not a QA node"):
        department.stop_node("NOPE")
    with pytest.raises(ConfigError):
        department.start_node("NOPE")
    with pytest.raises(HarnessError, match=r"not started|is running"):
        department.start_node("QA")


def test_a_remote_pacs_cannot_be_stopped(tmp_path: Path) -> None:
    config = default_department().with_pacs(RemotePacsConfig(host="127.0.0.1", port=11112))
    department = Department(config, workdir=tmp_path / "dept")
    with pytest.raises(NotSupported, match="not managed by radsim"):
        department.stop_node("PACS")
