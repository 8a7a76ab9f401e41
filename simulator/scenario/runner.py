"""Run scenarios against a department and collect results that read like a replayable transcript."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from simulator.department import Department
from simulator.errors import ConformanceFailure, HarnessError, NotSupported
from simulator.scenario.model import Scenario
from simulator.scenario.steps import REGISTRY, RunContext


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    NOT_SUPPORTED = "not supported"


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

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED

    @property
    def reason(self) -> str:
        for result in self.steps:
            if result.outcome is not Outcome.PASSED:
                return f"step {result.index + 1} ({result.label.split(' ')[0]}): {result.message}"
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
            "steps": [{"index": s.index + 1, "step": s.label, "line": s.line, "outcome": s.outcome.value,
                       "message": s.message, "duration_s": round(s.duration_s, 3)} for s in self.steps],
        }


def run_scenario(scenario: Scenario, department: Department) -> ScenarioResult:
    """Run every step in order; stop at the first that does not pass."""
    result = ScenarioResult(scenario.name, scenario.source, Outcome.PASSED, journal_from=len(department.journal))
    started = time.monotonic()
    missing = [cap for cap in scenario.requires if cap not in department.pacs.capabilities]
    if missing:
        result.outcome = Outcome.NOT_SUPPORTED
        message = f"{department.pacs.name} lacks {', '.join(missing)}"
        result.steps.append(StepResult(0, "requires", None, Outcome.NOT_SUPPORTED, message, 0.0))
        return result
    ctx = RunContext(department)
    for index, step in enumerate(scenario.steps):
        step_started = time.monotonic()
        outcome, message = Outcome.PASSED, ""
        try:
            message = REGISTRY[step.kind].run(ctx, step.args)
        except ConformanceFailure as exc:
            outcome, message = Outcome.FAILED, str(exc)
            result.violations = exc.violations
        except NotSupported as exc:
            outcome, message = Outcome.NOT_SUPPORTED, str(exc)
        except HarnessError as exc:
            outcome, message = Outcome.ERROR, str(exc)
        result.steps.append(StepResult(index, step.label(), step.line, outcome, message,
                                       time.monotonic() - step_started))
        if outcome is not Outcome.PASSED:
            result.outcome = outcome
            break
    result.duration_s = time.monotonic() - started
    result.journal_to = len(department.journal)
    return result
