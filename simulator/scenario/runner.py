"""Run scenarios against a department and collect results that read like a replayable transcript."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from simulator.conformance.deviations import DeviationBook, deviation_book
from simulator.department import Department
from simulator.errors import ConformanceFailure, HarnessError, NotSupported
from simulator.scenario.model import Scenario
from simulator.scenario.steps import REGISTRY, RunContext


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    NOT_SUPPORTED = "not supported"
    KNOWN_DEVIATION = "known deviation"  # failed in a way a known deviation of this PACS explains


@dataclass
class StepResult:
    index: int
    label: str
    line: int | None
    outcome: Outcome
    message: str
    duration_s: float


@dataclass
class ScenarioResult:
    name: str
    source: str
    outcome: Outcome
    steps: list[StepResult] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    journal_from: int = 0
    journal_to: int = 0
    deviations: list[str] = field(default_factory=list)  # ids of the known deviations that explained failures
    unobserved: list[str] = field(default_factory=list)  # ids expected for this scenario that did not show

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED

    @property
    def acceptable(self) -> bool:
        """Nothing for radsim or the PACS vendor to fix that radsim does not already know of."""
        return self.outcome in (Outcome.PASSED, Outcome.NOT_SUPPORTED, Outcome.KNOWN_DEVIATION)

    @property
    def reason(self) -> str:
        for result in self.steps:
            if result.outcome is not Outcome.PASSED:
                return f"step {result.index + 1} ({result.label.split(' ')[0]}): {result.message}"
        if self.unobserved:
            return f"known deviation(s) {', '.join(self.unobserved)} not observed this run"
        return ""

    def transcript(self) -> str:
        """Each step with its outcome; the failing step's violations in full."""
        rows = [f"{self.name} [{self.source}]"]
        for r in self.steps:
            where = f" (line {r.line})" if r.line else ""
            rows.append(f"  {r.index + 1}. {r.label}{where}\n     -> {r.outcome.value}: {r.message}")
        rows.extend(f"     - {v}" for v in self.violations)
        return "\n".join(rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "source": self.source, "outcome": self.outcome.value,
            "duration_s": round(self.duration_s, 3), "violations": self.violations,
            "deviations": self.deviations, "unobserved_deviations": self.unobserved,
            "steps": [{"index": s.index + 1, "step": s.label, "line": s.line, "outcome": s.outcome.value,
                       "message": s.message, "duration_s": round(s.duration_s, 3)} for s in self.steps],
        }


def run_scenario(scenario: Scenario, department: Department,
                 deviations: DeviationBook | None = None) -> ScenarioResult:
    """Run every step in order; stop at the first that does not pass, unless a known deviation of the PACS
    (``deviations``, default the shipped ones) explains it and nothing after depends on it."""
    book = deviations if deviations is not None else _shipped()
    result = ScenarioResult(scenario.name, scenario.source, Outcome.PASSED, journal_from=len(department.journal))
    started = time.monotonic()
    missing = [cap for cap in scenario.requires if cap not in department.pacs.capabilities]
    if missing:
        result.outcome = Outcome.NOT_SUPPORTED
        message = f"{department.pacs.name} lacks {', '.join(missing)}"
        result.steps.append(StepResult(0, "requires", None, Outcome.NOT_SUPPORTED, message, 0.0))
        return result
    identity = department.pacs.identity
    stem = Path(scenario.source).stem if scenario.source else ""
    ctx = RunContext(department)
    for index, step in enumerate(scenario.steps):
        step_started = time.monotonic()
        outcome, message = Outcome.PASSED, ""
        violations: list[str] = []
        try:
            message = REGISTRY[step.kind].run(ctx, step.args)
        except ConformanceFailure as exc:
            outcome, message = Outcome.FAILED, str(exc)
            violations = exc.violations
        except NotSupported as exc:
            outcome, message = Outcome.NOT_SUPPORTED, str(exc)
        except HarnessError as exc:
            outcome, message = Outcome.ERROR, str(exc)
        carry_on = False
        if outcome in (Outcome.FAILED, Outcome.ERROR):
            explained = book.explain(identity, stem, step.kind, message)
            if explained is not None:
                outcome = Outcome.KNOWN_DEVIATION
                message = f"known deviation {explained.deviation.id} ({explained.deviation.clause}): {message}"
                if explained.deviation.id not in result.deviations:
                    result.deviations.append(explained.deviation.id)
                carry_on = explained.match.continue_
            elif violations:
                result.violations = violations
        result.steps.append(StepResult(index, step.label(), step.line, outcome, message,
                                       time.monotonic() - step_started))
        deviation_only = outcome is Outcome.KNOWN_DEVIATION and result.outcome is not Outcome.PASSED
        if outcome is not Outcome.PASSED and not deviation_only:
            result.outcome = outcome  # a later real failure outranks an earlier known deviation
        if outcome is not Outcome.PASSED and not carry_on:
            break
    result.unobserved = [d.id for d in book.expected_in(identity, stem) if d.id not in result.deviations]
    result.duration_s = time.monotonic() - started
    result.journal_to = len(department.journal)
    return result


_SHIPPED: DeviationBook | None = None


def _shipped() -> DeviationBook:
    global _SHIPPED
    if _SHIPPED is None:
        _SHIPPED = deviation_book()
    return _SHIPPED
