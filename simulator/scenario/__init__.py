"""Scenarios: YAML files of steps run against a department, with assertions on what it observed."""

from simulator.scenario.loader import discover, load_scenario
from simulator.scenario.model import Scenario, Step
from simulator.scenario.runner import Outcome, ScenarioResult, StepResult, run_scenario

__all__ = ["Outcome", "Scenario", "ScenarioResult", "Step", "StepResult", "discover", "load_scenario",
           "run_scenario"]
