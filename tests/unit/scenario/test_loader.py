"""Scenario files: the shipped catalog loads; every mistake names the file, the line and the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from simulator.errors import ConfigError
from simulator.scenario.loader import discover, load_scenario
from simulator.scenario.steps import REGISTRY, AwaitArgs, GenerateArgs

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
SHIPPED = discover([SCENARIOS]) if SCENARIOS.is_dir() else []


def _write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert info.value.source == str(path)
    assert str(info.value).startswith(str(path))
    return info.value


# -- the shipped catalog -------------------------------------------------------------------------------------------


def test_catalog_is_not_empty() -> None:
    assert len(SHIPPED) >= 5


@pytest.mark.parametrize("path", SHIPPED, ids=[p.relative_to(SCENARIOS).as_posix() for p in SHIPPED])
def test_every_shipped_scenario_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name.strip()
    assert scenario.source == str(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    for step in scenario.steps:
        assert step.kind in REGISTRY
        assert isinstance(step.args, REGISTRY[step.kind].args)
        assert step.line is not None
        # The recorded line is the one a person would look at: it starts the step.
        assert lines[step.line - 1].lstrip().startswith(f"- {step.kind}:"), (step.line, lines[step.line - 1])


# -- well-formed files ---------------------------------------------------------------------------------------------

GOOD = """\
name: demo
tags: [storage]
steps:
  - generate: {as: ct, series: 2, instances: 3, seed: 7}
  - await:
      study: ct
      in: PACS
      timeout: 500ms
  - expect: {ct.count: 6}
"""


def test_good_scenario_fields(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, GOOD))
    assert scenario.name == "demo"
    assert scenario.tags == ("storage",)
    assert [s.kind for s in scenario.steps] == ["generate", "await", "expect"]
    assert [s.line for s in scenario.steps] == [4, 5, 9]
    generate = scenario.steps[0].args
    assert isinstance(generate, GenerateArgs)
    assert (generate.as_, generate.series, generate.instances, generate.seed) == ("ct", 2, 3, 7)
    wait = scenario.steps[1].args
    assert isinstance(wait, AwaitArgs)
    assert (wait.in_, wait.timeout) == ("PACS", 0.5)


@pytest.mark.parametrize(("text", "seconds"), [("30", 30.0), ("30s", 30.0), ("1.5s", 1.5), ("250ms", 0.25),
                                               ("2m", 120.0), ("12.5", 12.5)])
def test_durations(tmp_path: Path, text: str, seconds: float) -> None:
    path = _write(tmp_path, GOOD.replace("timeout: 500ms", f"timeout: {text}"))
    assert load_scenario(path).steps[1].args.timeout == seconds  # type: ignore[attr-defined]


# -- malformed files -----------------------------------------------------------------------------------------------


def test_unknown_step_kind_lists_known_kinds(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, GOOD.replace("  - expect: {ct.count: 6}", "  - teleport: {to: Mars}")))
    assert (error.line, error.field) == (9, "steps.2")
    assert "unknown step 'teleport'" in error.message
    for kind in ("generate", "store", "find", "expect", "await"):
        assert kind in error.message


def test_wrong_type_for_instances_points_at_that_line(tmp_path: Path) -> None:
    text = """\
    name: demo
    steps:
      - generate:
          as: ct
          series: 1
          instances: lots
          seed: 3
    """
    error = _error(_write(tmp_path, text))
    assert (error.line, error.field) == (6, "steps.0.generate.instances")
    assert "integer" in error.message


def test_out_of_range_value(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, GOOD.replace("instances: 3", "instances: 0")))
    assert (error.line, error.field) == (4, "steps.0.generate.instances")
    assert "greater than or equal to 1" in error.message


def test_unknown_field_in_a_step(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, GOOD.replace("      in: PACS", "      in: PACS\n      colour: red")))
    assert (error.line, error.field) == (8, "steps.1.await.colour")
    assert "Extra inputs are not permitted" in error.message


def test_missing_required_argument_uses_the_alias(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, GOOD.replace("{as: ct, ", "{")))
    assert (error.line, error.field) == (4, "steps.0.generate.as")
    assert "required" in error.message.lower()


def test_bad_duration(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, GOOD.replace("timeout: 500ms", "timeout: 30 parsecs")))
    assert (error.line, error.field) == (8, "steps.1.await.timeout")
    assert "'30 parsecs' is not a duration" in error.message


def test_yaml_syntax_error(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, GOOD.replace("  - expect: {ct.count: 6}", "  - expect: {ct.count: 6")))
    assert error.line == 10  # the parser notices at the end of the file
    assert "invalid YAML" in error.message


def test_yaml_syntax_error_mid_file(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, GOOD.replace("      study: ct", "      study: ct: x")))
    assert error.line == 6
    assert "invalid YAML" in error.message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("name: demo\n", 1, id="no-steps"),
        pytest.param("name: demo\nsteps: []\n", 2, id="empty-steps"),
        pytest.param("name: demo\nsteps:\n  generate: {as: ct}\n", 2, id="steps-not-a-list"),
        pytest.param("# header\nname: demo\nsteps:\n", 3, id="steps-null"),
    ],
)
def test_missing_or_empty_steps(tmp_path: Path, text: str, line: int) -> None:
    error = _error(_write(tmp_path, text))
    assert error.field == "steps"
    assert error.line == line
    assert "'steps' must be a non-empty list" in error.message


@pytest.mark.parametrize(
    ("step", "why"),
    [
        pytest.param("  - generate", "string", id="bare-string"),
        pytest.param("  - {generate: {as: a}, expect: {a.count: 1}}", "two-keys", id="two-keys"),
        pytest.param("  - [generate, expect]", "list", id="list"),
    ],
)
def test_step_must_be_a_one_key_mapping(tmp_path: Path, step: str, why: str) -> None:
    error = _error(_write(tmp_path, GOOD.replace("  - expect: {ct.count: 6}", step)))
    assert (error.line, error.field) == (9, "steps.2"), why
    assert "exactly one key" in error.message


def test_step_arguments_must_be_a_mapping(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, GOOD.replace("  - expect: {ct.count: 6}", "  - expect: [ct.count, 6]")))
    assert (error.line, error.field) == (9, "steps.2.expect")
    assert "must be a mapping" in error.message


def test_unknown_top_level_field(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, GOOD.replace("tags: [storage]", "tags: [storage]\nowner: me")))
    assert (error.line, error.field) == (3, "owner")


def test_unknown_capability(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, GOOD.replace("tags: [storage]", "requires:\n  - storage\n  - teleportation")))
    assert (error.line, error.field) == (4, "requires.1")


def test_missing_name(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, GOOD.replace("name: demo\n", "")))
    assert error.field == "name"
    assert "required" in error.message.lower()


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, "- generate: {as: ct}\n"))
    assert error.line == 1
    assert "mapping" in error.message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: scenario file not found"


def test_union_field_error_names_the_field_only(tmp_path: Path) -> None:
    text = GOOD.replace("  - expect: {ct.count: 6}", "  - store: {study: ct, from: CT1, expect: maybe}")
    error = _error(_write(tmp_path, text))
    assert error.line == 9
    assert error.field == "steps.2.store.expect"


# -- discover ------------------------------------------------------------------------------------------------------


def test_discover_recurses_and_sorts(tmp_path: Path) -> None:
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "a").mkdir()
    for name in ("b/deep/z.yaml", "b/one.yml", "a/two.yaml", "top.yaml"):
        (tmp_path / name).write_text(GOOD, encoding="utf-8")
    (tmp_path / "a" / "notes.txt").write_text("not a scenario", encoding="utf-8")
    (tmp_path / "a" / "folder.yaml").mkdir()  # a folder named like a scenario is not one
    found = discover([tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/two.yaml", "b/deep/z.yaml", "b/one.yml",
                                                                   "top.yaml"]


def test_discover_keeps_explicit_files_and_order(tmp_path: Path) -> None:
    first = _write(tmp_path, GOOD, "first.yaml")
    second = _write(tmp_path, GOOD, "second.txt")  # named explicitly: taken whatever the suffix
    assert discover([second, first]) == [second, first]


def test_discover_nonexistent_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError) as info:
        discover([tmp_path, missing])
    assert str(missing) in str(info.value)


def test_discover_shipped_catalog_finds_only_yaml() -> None:
    assert SHIPPED
    assert all(p.suffix in (".yaml", ".yml") for p in SHIPPED)
    assert sorted(SHIPPED) == SHIPPED
