"""Typed scenario files: a name, tags, what the PACS must support, and a list of steps.

Each step is a one-key mapping (``- store: {study: ct, from: CT1, to: QA}``); the key picks the step's argument
model from the registry in :mod:`simulator.scenario.steps`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from simulator.pacs.base import Capability


def _seconds(value: Any) -> float:
    """Accept 30, 30.5, "30s", "500ms", "2m"."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*", value)
        if match:
            number = float(match[1])
            unit = match[2] or "s"
            return number / 1000 if unit == "ms" else number * 60 if unit == "m" else number
    raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 500ms, 2m)")


Seconds = Annotated[float, BeforeValidator(_seconds)]


class StepArgs(BaseModel):
    """Base of every step's arguments: unknown fields are errors, aliases allow ``from``/``in``/``as``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Step(BaseModel):
    """A validated step: its kind, its arguments and the source line it came from."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    kind: str
    args: StepArgs
    line: int | None = None

    def label(self) -> str:
        shown = self.args.model_dump(by_alias=True, exclude_defaults=True)
        inner = ", ".join(f"{k}: {_short(v)}" for k, v in shown.items())
        return f"{self.kind} {{{inner}}}"


def _short(value: Any) -> str:
    """A step argument as the transcript shows it: long lists and mappings are summarised."""
    text = str(value)
    if len(text) <= 60:
        return text
    if isinstance(value, list | tuple):
        return f"[{len(value)} items]"
    if isinstance(value, dict):
        return "{" + ", ".join(value) + "}"
    return text[:57] + "..."


class Scenario(BaseModel):
    """One scenario file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    tags: tuple[str, ...] = ()
    requires: tuple[Capability, ...] = ()
    steps: tuple[Step, ...] = Field(min_length=1)
    source: str = ""
