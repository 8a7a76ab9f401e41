"""The department configuration: defaults, AE title rules, cross-references and line-numbered load errors."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.config import (
    PACS_NODE,
    DepartmentConfig,
    EmbeddedPacsConfig,
    Endpoint,
    NodeConfig,
    Role,
    default_department,
    load_department,
)
from simulator.errors import ConfigError

# Printable ASCII without the backslash: the AE default repertoire (PS3.5 6.2).
AE_ALPHABET = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "\\")


def _node(name: str, role: str = "modality", ae_title: str | None = None, **extra: object) -> dict[str, object]:
    return {"name": name, "role": role, "ae_title": ae_title or name, **extra}


def _write(tmp_path: Path, text: str, name: str = "department.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the shipped department ---------------------------------------------------------------------------------------


def test_default_department_has_ris_modalities_qa_workstation_and_embedded_pacs() -> None:
    dept = default_department()
    assert dept.node("RIS").role is Role.RIS
    assert dept.node("QA").role is Role.QA
    assert dept.node("WS1").role is Role.WORKSTATION
    assert dept.pacs.backend == "embedded"
    assert dept.worklist == "auto"
    assert [n.name for n in dept.nodes_with_role(Role.MODALITY)] == ["CT1", "MR1", "US1"]
    # The data path the design describes: modality -> QA -> PACS.
    assert all(dept.targets_of(name) == ["QA"] for name in ("CT1", "MR1", "US1"))
    assert dept.targets_of("QA") == [PACS_NODE]


def test_a_department_has_at_most_one_ris(tmp_path: Path) -> None:
    path = tmp_path / "two-ris.yaml"
    path.write_text("nodes:\n  - {name: R1, role: ris, ae_title: R1}\n  - {name: R2, role: ris, ae_title: R2}\n")
    with pytest.raises(ConfigError, match="at most one RIS node"):
        load_department(path)


def test_default_department_ports_are_allocated_at_start() -> None:
    dept = default_department()
    assert all(node.port == 0 for node in dept.nodes)
    assert dept.pacs.port == 0


def test_default_department_is_frozen() -> None:
    dept = default_department()
    with pytest.raises(pydantic.ValidationError):
        dept.name = "changed"  # type: ignore[misc]


def test_node_lookup_of_unknown_name_lists_known_nodes() -> None:
    with pytest.raises(ConfigError) as info:
        default_department().node("MR9")
    text = str(info.value)
    assert "MR9" in text
    for known in ("CT1", "QA", "WS1", PACS_NODE):
        assert known in text


# -- AE titles ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        pytest.param("A" * 17, id="17-chars"),
        pytest.param("CT\\1", id="backslash"),
        pytest.param("", id="empty"),
        pytest.param("    ", id="all-spaces"),
        pytest.param("CT\t1", id="control-char"),
        pytest.param("CTé", id="non-ascii"),
    ],
)
def test_invalid_ae_titles_are_rejected(title: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        NodeConfig(name="CT1", role=Role.MODALITY, ae_title=title)
    assert "AE title" in str(info.value)


def test_sixteen_character_ae_title_is_accepted() -> None:
    assert NodeConfig(name="CT1", role=Role.MODALITY, ae_title="A" * 16).ae_title == "A" * 16


@given(st.text(alphabet=AE_ALPHABET, min_size=1, max_size=16).filter(lambda t: t.strip() != ""))
def test_any_valid_ae_title_is_accepted_and_stripped(title: str) -> None:
    node = NodeConfig(name="N", role=Role.QA, ae_title=title)
    assert node.ae_title == title.strip()


def test_pacs_ae_title_is_validated_too() -> None:
    with pytest.raises(pydantic.ValidationError):
        EmbeddedPacsConfig(ae_title="X" * 17)


# -- cross-references ---------------------------------------------------------------------------------------------


def test_duplicate_node_names_are_rejected() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        DepartmentConfig.model_validate({"nodes": [_node("CT1"), _node("CT1", ae_title="OTHER")]})
    assert "node names must be unique" in str(info.value)
    assert "CT1" in str(info.value)


def test_duplicate_ae_titles_are_rejected_even_with_padding() -> None:
    nodes = [_node("CT1", ae_title="SAME"), _node("CT2", ae_title=" SAME ")]
    with pytest.raises(pydantic.ValidationError) as info:
        DepartmentConfig.model_validate({"nodes": nodes})
    assert "AE titles must be unique" in str(info.value)
    assert "SAME" in str(info.value)


def test_node_ae_title_equal_to_pacs_ae_title_is_rejected() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        DepartmentConfig.model_validate({"nodes": [_node("CT1", ae_title="RADSIM_PACS")]})
    assert "RADSIM_PACS" in str(info.value)


def test_link_to_unknown_node_is_rejected() -> None:
    data = {"nodes": [_node("CT1")], "links": [{"source": "CT1", "target": "NOWHERE"}]}
    with pytest.raises(pydantic.ValidationError) as info:
        DepartmentConfig.model_validate(data)
    assert "unknown node 'NOWHERE'" in str(info.value)


def test_link_from_unknown_node_is_rejected() -> None:
    data = {"nodes": [_node("CT1")], "links": [{"source": "MR1", "target": "PACS"}]}
    with pytest.raises(pydantic.ValidationError) as info:
        DepartmentConfig.model_validate(data)
    assert "unknown node 'MR1'" in str(info.value)


def test_link_to_pacs_is_allowed_and_pacs_name_is_reserved() -> None:
    ok = DepartmentConfig.model_validate({"nodes": [_node("CT1")], "links": [{"source": "CT1", "target": "PACS"}]})
    assert ok.targets_of("CT1") == [PACS_NODE]
    with pytest.raises(pydantic.ValidationError) as info:
        DepartmentConfig.model_validate({"nodes": [_node(PACS_NODE, role="qa", ae_title="ARCH")]})
    assert "reserved" in str(info.value)


# -- Endpoint.parse -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ae", "host", "port"),
    [
        ("ORTHANC@127.0.0.1:4242", "ORTHANC", "127.0.0.1", 4242),
        ("  PACS@pacs.example.org:104  ", "PACS", "pacs.example.org", 104),
        ("ANY@::1:11112", "ANY", "::1", 11112),
        ("A@h:0", "A", "h", 0),
        ("X@h:65535", "X", "h", 65535),
    ],
)
def test_endpoint_parse_good_forms(text: str, ae: str, host: str, port: int) -> None:
    endpoint = Endpoint.parse(text)
    assert (endpoint.ae_title, endpoint.host, endpoint.port) == (ae, host, port)
    assert str(endpoint) == f"{ae}@{host}:{port}"


@pytest.mark.parametrize(
    "text",
    [
        "ORTHANC",
        "ORTHANC@localhost",
        "@localhost:104",
        "PACS@:104",
        "PACS@localhost:",
        "PACS@localhost:port",
        "PACS@localhost:-1",
        "PACS@localhost:65536",
        "A_VERY_LONG_AE_TITLE@localhost:104",
        "BAD\\AE@localhost:104",
        "   @localhost:104",
    ],
)
def test_endpoint_parse_bad_forms_raise_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        Endpoint.parse(text)
    assert text.strip() in str(info.value) or text in str(info.value)


@given(
    st.text(alphabet=AE_ALPHABET.replace("@", ""), min_size=1, max_size=16).filter(lambda t: t.strip() != ""),
    st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True),
    st.integers(min_value=0, max_value=65535),
)
def test_endpoint_parse_round_trips_str(ae: str, host: str, port: int) -> None:
    endpoint = Endpoint(ae_title=ae, host=host, port=port)
    assert Endpoint.parse(str(endpoint)) == endpoint


# -- load_department: errors name file, line and field ------------------------------------------------------------

GOOD = """\
name: test
nodes:
  - name: CT1
    role: modality
    ae_title: CT1
  - name: QA
    role: qa
    ae_title: RADSIM_QA
links:
  - {source: CT1, target: QA}
  - {source: QA, target: PACS}
"""


def test_load_department_good_file(tmp_path: Path) -> None:
    dept = load_department(_write(tmp_path, GOOD))
    assert dept.name == "test"
    assert dept.targets_of("QA") == [PACS_NODE]


@pytest.mark.parametrize(
    ("old", "new", "line", "field"),
    [
        pytest.param("    ae_title: RADSIM_QA", "    ae_title: THIS_TITLE_IS_TOO_LONG", 8, "nodes.1.ae_title",
                     id="ae-title-too-long"),
        pytest.param("    role: qa", "    role: scanner", 7, "nodes.1.role", id="unknown-role"),
        pytest.param("    ae_title: CT1", "    ae_title: CT1\n    colour: red", 6, "nodes.0.colour",
                     id="unknown-field"),
        pytest.param("  - {source: QA, target: PACS}", "  - {source: QA, target: PACS, via: proxy}", 11,
                     "links.1.via", id="unknown-field-in-flow-mapping"),
        pytest.param("name: test", "name: test\npacs: {backend: dcm4chee}", 2, "pacs.backend",
                     id="unknown-backend"),
    ],
)
def test_load_department_error_names_file_line_and_field(tmp_path: Path, old: str, new: str, line: int,
                                                         field: str) -> None:
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_department(path)
    error = info.value
    assert (error.source, error.line, error.field) == (str(path), line, field)
    assert str(error).startswith(f"{path}:{line}, field '{field}': ")


def test_load_department_port_out_of_range(tmp_path: Path) -> None:
    text = GOOD.replace("    ae_title: RADSIM_QA", "    ae_title: RADSIM_QA\n    port: 70000")
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_department(path)
    assert info.value.line == 9
    assert info.value.field == "nodes.1.port"
    assert "65535" in str(info.value)


def test_load_department_reference_error_names_file(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("target: QA}", "target: MR1}"))
    with pytest.raises(ConfigError) as info:
        load_department(path)
    assert str(path) in str(info.value)
    assert "unknown node 'MR1'" in str(info.value)


def test_load_department_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as info:
        load_department(path)
    assert str(path) in str(info.value)
    assert "not found" in str(info.value)
