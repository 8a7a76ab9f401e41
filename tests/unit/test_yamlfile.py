"""YAML loading with line numbers: syntax errors, validation errors mapped to lines, unreadable files."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
from pydantic import BaseModel, ConfigDict

from simulator.errors import ConfigError
from simulator.yamlfile import describe_validation_error, line_for, load_model, read_yaml


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    size: int = 0


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    depth: int
    items: list[Item] = []


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    inner: Inner


GOOD = """\
# a comment line
title: demo
inner:
  depth: 2
  items:
    - name: first
      size: 1
    - name: second
      size: 2
    - {name: third, size: 3}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_loads(tmp_path: Path) -> None:
    model = load_model(_write(tmp_path, GOOD), Outer)
    assert [item.name for item in model.inner.items] == ["first", "second", "third"]


def test_line_map_records_keys_and_list_items() -> None:
    _, lines = read_yaml(GOOD, "mem")
    assert lines[("title",)] == 2
    assert lines[("inner",)] == 3
    assert lines[("inner", "depth")] == 4
    assert lines[("inner", "items")] == 5
    assert lines[("inner", "items", 0)] == 6
    assert lines[("inner", "items", 0, "size")] == 7
    assert lines[("inner", "items", 1, "name")] == 8
    assert lines[("inner", "items", 2)] == 10
    assert lines[("inner", "items", 2, "size")] == 10


def test_line_for_falls_back_to_the_deepest_known_prefix() -> None:
    _, lines = read_yaml(GOOD, "mem")
    # A missing field inside the second item has no line of its own: the item's line is the best answer.
    assert line_for(lines, ("inner", "items", 1, "colour")) == 8
    assert line_for(lines, ("nowhere", "at", "all")) == lines[()]
    assert line_for({}, ("x",)) is None


@pytest.mark.parametrize(
    ("old", "new", "line", "field"),
    [
        pytest.param("  depth: 2", "  depth: deep", 4, "inner.depth", id="nested-field"),
        pytest.param("      size: 2", "      size: big", 9, "inner.items.1.size", id="list-item-field"),
        pytest.param("{name: third, size: 3}", "{name: third, size: x}", 10, "inner.items.2.size",
                     id="flow-mapping-item"),
        pytest.param("      size: 1", "      size: 1\n      shape: round", 8, "inner.items.0.shape",
                     id="unknown-field-in-item"),
        pytest.param("title: demo", "title: [not, a, string]", 2, "title", id="top-level-field"),
    ],
)
def test_validation_error_names_line_and_field(tmp_path: Path, old: str, new: str, line: int, field: str) -> None:
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_model(path, Outer)
    assert (info.value.source, info.value.line, info.value.field) == (str(path), line, field)
    assert str(info.value).startswith(f"{path}:{line}, field '{field}': ")


def test_missing_required_field_points_at_its_parent(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("    - name: second\n", "    - size: 0\n"))
    with pytest.raises(ConfigError) as info:
        load_model(path, Outer)
    assert info.value.field == "inner.items.1.name"
    assert info.value.line == 8  # the item's first line; the missing key has none
    assert "required" in info.value.message.lower()


def test_several_errors_are_counted_in_the_message(tmp_path: Path) -> None:
    text = GOOD.replace("  depth: 2", "  depth: deep").replace("      size: 1", "      size: one")
    with pytest.raises(ConfigError) as info:
        load_model(_write(tmp_path, text), Outer)
    assert "(and 1 more error)" in str(info.value)


def test_describe_validation_error_applies_prefix() -> None:
    _, lines = read_yaml("steps:\n  - item:\n      name: 5\n", "mem")
    with pytest.raises(pydantic.ValidationError) as info:
        Item.model_validate({"name": 5})
    error = describe_validation_error(info.value, "mem", lines, prefix=("steps", 0, "item"))
    assert error.field == "steps.0.item.name"
    assert error.line == 3


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("a: 1\nb: c: d\ne: 2\n", 2, id="mapping-in-plain-scalar"),
        pytest.param("title: x\ninner:\n  depth: 1\n  items: [1, 2\n  more: 3\n", 5, id="unclosed-flow-sequence"),
        pytest.param("title: x\ninner:\n\tdepth: 1\n", 3, id="tab-indentation"),
    ],
)
def test_yaml_syntax_error_gives_config_error_with_line(tmp_path: Path, text: str, line: int) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_model(path, Outer)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: invalid YAML: ")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_model(_write(tmp_path, "- a\n- b\n"), Outer)
    assert "mapping" in str(info.value)
    assert info.value.line == 1


def test_empty_file_is_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_model(_write(tmp_path, "# nothing here\n"), Outer)
    assert "mapping" in str(info.value)


def test_missing_file_message_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "missing.yaml"
    with pytest.raises(ConfigError) as info:
        load_model(path, Outer)
    assert str(info.value) == f"{path}: file not found"


def test_undecodable_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("title: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_model(path, Outer)
    assert str(path) in str(info.value)
    assert "cannot read" in str(info.value)
