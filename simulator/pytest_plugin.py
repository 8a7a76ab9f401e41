"""pytest integration: scenario files as test items, and department fixtures for your own tests.

``pytest scenarios/ --pacs orthanc`` runs every ``*.yaml`` under a ``scenarios`` folder as one test item, so CI
gets JUnit XML from pytest itself (``--junitxml``). Precedence for settings: command-line option > ini value
(``radsim_pacs`` ...) > the department file's value.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.config import BACKENDS, DepartmentConfig, default_department, load_department
from simulator.conformance.deviations import DeviationBook, deviation_book
from simulator.department import Department
from simulator.errors import ConfigError, HarnessError
from simulator.nodes.modality import Modality
from simulator.nodes.workstation import Workstation
from simulator.overrides import Overrides, apply_overrides
from simulator.pacs import PacsBackend
from simulator.scenario import Outcome, ScenarioResult, load_scenario, run_scenario
from simulator.scenario.model import Scenario

_DEPARTMENT = pytest.StashKey[Department]()
_DEVIATIONS = pytest.StashKey[DeviationBook]()
_DEPARTMENT_ERROR = pytest.StashKey[HarnessError]()

_OPTIONS = (
    ("pacs", "PACS backend for scenarios and fixtures: " + ", ".join(BACKENDS)),
    ("pacs-aet", "AE title of the PACS"),
    ("pacs-host", "host of a remote PACS"),
    ("pacs-port", "DICOM port of the PACS"),
    ("pacs-url", "DICOMweb root URL of a remote PACS"),
    ("pacs-binary", "executable of a PACS radsim starts (Orthanc, dcmqrscp, java)"),
    ("ws-port", "listening port of the workstation(s) (a remote PACS must know it)"),
    ("qa-port", "listening port of the QA node(s) (a remote PACS must know it)"),
    ("listen-host", "address our nodes listen on and a remote PACS reaches them at"),
    ("department", "department YAML file (default: the shipped department)"),
)
_PORTS = ("pacs-port", "ws-port", "qa-port")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("radsim", "radsim simulated radiology department")
    for name, help_text in _OPTIONS:
        ini = "radsim_" + name.replace("-", "_")
        group.addoption(f"--{name}", dest=ini, default=None, help=help_text)
        parser.addini(ini, help_text, default=None)
    help_text = "known-deviations YAML file to use besides the shipped one (repeatable)"
    group.addoption("--deviations", dest="radsim_deviations", action="append", default=None, help=help_text)
    parser.addini("radsim_deviations", help_text, type="paths", default=[])


def _deviations(config: pytest.Config) -> DeviationBook:
    if _DEVIATIONS not in config.stash:
        given = config.getoption("radsim_deviations") or config.getini("radsim_deviations") or []
        config.stash[_DEVIATIONS] = deviation_book([Path(str(p)) for p in given])
    return config.stash[_DEVIATIONS]


def _setting(config: pytest.Config, name: str) -> str | None:
    key = "radsim_" + name.replace("-", "_")
    value = config.getoption(key)
    if value is None:
        value = config.getini(key)
    return str(value) if value else None


def department_config(config: pytest.Config) -> DepartmentConfig:
    """The department these options describe, checked as ``radsim run`` checks its options."""
    path = _setting(config, "department")
    dept = load_department(Path(path)) if path else default_department()
    values: dict[str, Any] = {}
    for name, _ in _OPTIONS:
        value = _setting(config, name)
        if value is None or name == "department":
            continue
        if name in _PORTS:
            try:
                values[name.replace("-", "_")] = int(value)
            except ValueError:
                raise ConfigError(f"--{name} must be a port number, not '{value}'") from None
        else:
            values[name.replace("-", "_")] = value
    return apply_overrides(dept, Overrides(**values))


def _shared_department(config: pytest.Config) -> Department:
    """One running department per session, started on first use and stopped at the end of the session."""
    if _DEPARTMENT_ERROR in config.stash:
        raise config.stash[_DEPARTMENT_ERROR]
    if _DEPARTMENT not in config.stash:
        try:
            config.stash[_DEPARTMENT] = Department(department_config(config)).start()
        except HarnessError as exc:
            config.stash[_DEPARTMENT_ERROR] = exc
            raise
    return config.stash[_DEPARTMENT]


def pytest_unconfigure(config: pytest.Config) -> None:
    department = config.stash.get(_DEPARTMENT, None)
    if department is not None:
        department.stop()


# -- fixtures --------------------------------------------------------------------------------------------------


@pytest.fixture
def department(request: pytest.FixtureRequest) -> Iterator[Department]:
    """The session's running department, reset (PACS wiped, workstations emptied) for this test."""
    dept = _shared_department(request.config)
    dept.reset()
    yield dept


@pytest.fixture
def pacs(department: Department) -> PacsBackend:
    return department.pacs


@pytest.fixture
def modality(department: Department) -> Modality:
    return next(iter(department.modalities.values()))


@pytest.fixture
def workstation(department: Department) -> Workstation:
    return next(iter(department.workstations.values()))


# -- scenario collection ---------------------------------------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and "scenarios" in file_path.parts:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            scenario: Scenario | None = load_scenario(self.path)
            error = None
        except ConfigError as exc:
            scenario, error = None, exc
        name = self.path.stem
        yield ScenarioItem.from_parent(self, name=name, scenario=scenario, load_error=error)


class ScenarioFailed(Exception):
    def __init__(self, result: ScenarioResult) -> None:
        super().__init__(result.reason)
        self.result = result


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario | None, load_error: ConfigError | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.load_error = load_error
        if scenario is not None:
            for tag in scenario.tags:
                self.keywords[tag] = True  # select with -k, e.g. -k retrieve

    def runtest(self) -> None:
        if self.load_error is not None:
            raise self.load_error
        assert self.scenario is not None
        dept = _shared_department(self.config)
        dept.reset()
        result = run_scenario(self.scenario, dept, _deviations(self.config))
        self.user_properties.append(("outcome", result.outcome.value))
        if result.outcome is Outcome.NOT_SUPPORTED:
            pytest.skip(f"not supported by {dept.pacs.name}: {result.reason}")
        if result.outcome is Outcome.KNOWN_DEVIATION:
            pytest.xfail(f"{dept.pacs.describe()}: {result.reason}")
        if not result.passed:
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return excinfo.value.result.transcript()
        if isinstance(excinfo.value, HarnessError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        title = self.scenario.name if self.scenario else self.name
        return self.path, 0, f"scenario: {title}"
