"""Known deviations of real PACS from the standard, keyed by what each says of itself in its A-ASSOCIATE-AC
(Implementation Class UID and Version Name, PS3.7 D.3.3.2), each with the clause, what was expected, what was
observed, and how it was confirmed.

A scenario that fails against a PACS in a way one of its known deviations explains (same scenario, step and a
message the deviation's pattern matches) ends as "known deviation" instead of "failed", naming the deviation:
the vendor sees that radsim knows, and why. Every run checks again: a deviation expected for a scenario that
then passes is reported as no longer observed, so the file does not outlive the bug.

The shipped file is ``known-deviations.yaml`` beside this module; ``radsim run --deviations FILE`` adds more in
the same format.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from simulator.errors import ConfigError
from simulator.net import PeerIdentity
from simulator.yamlfile import RegexText, load_model


class Implementation(BaseModel):
    """Which implementation a deviation belongs to: its Implementation Class UID, and optionally its Version
    Name (exact, or a prefix ending in ``*``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    class_uid: str = Field(min_length=1)
    version_name: str | None = None

    def covers(self, identity: PeerIdentity) -> bool:
        if identity.implementation_class_uid != self.class_uid:
            return False
        if self.version_name is None:
            return True
        if self.version_name.endswith("*"):
            return identity.implementation_version_name.startswith(self.version_name[:-1])
        return identity.implementation_version_name == self.version_name


class Match(BaseModel):
    """A failure this deviation explains: in scenario ``scenario`` (file name without .yaml; any when absent), at a
    step of kind ``step`` (any when absent), with a message ``message`` searches. ``continue: true`` runs the
    scenario's later steps after it (for a check whose failure nothing later depends on)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    scenario: str | None = None
    step: str | None = None
    message: RegexText
    continue_: bool = Field(default=False, alias="continue")

    def explains(self, scenario: str, step: str, message: str) -> bool:
        return ((self.scenario is None or self.scenario == scenario) and (self.step is None or self.step == step)
                and re.search(self.message, message) is not None)


class Deviation(BaseModel):
    """One deviation, with the evidence that confirmed it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    implementation: Implementation
    product: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    clause: str = Field(pattern=r"^PS3\.\d+ ")
    expected: str = Field(min_length=1)
    observed: str = Field(min_length=1)
    evidence: str = Field(min_length=1)
    confirmed: dt.date
    # Shows in some runs only (e.g. a race): a run without it does not mean it is gone.
    intermittent: bool = False
    matches: tuple[Match, ...] = ()


class DeviationFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    deviations: tuple[Deviation, ...] = ()


@dataclass(frozen=True)
class Explanation:
    deviation: Deviation
    match: Match


class DeviationBook:
    """Every known deviation, looked up by the PACS's identity."""

    def __init__(self, deviations: Iterable[Deviation] = ()) -> None:
        self.deviations: tuple[Deviation, ...] = tuple(deviations)
        ids = [d.id for d in self.deviations]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ConfigError(f"deviation ids must be unique; repeated: {', '.join(repeated)}")

    def of(self, identity: PeerIdentity | None) -> list[Deviation]:
        """The deviations of the implementation that ``identity`` names."""
        if identity is None:
            return []
        return [d for d in self.deviations if d.implementation.covers(identity)]

    def explain(self, identity: PeerIdentity | None, scenario: str, step: str, message: str) -> Explanation | None:
        """The known deviation behind this failure, if any."""
        for deviation in self.of(identity):
            for match in deviation.matches:
                if match.explains(scenario, step, message):
                    return Explanation(deviation, match)
        return None

    def expected_in(self, identity: PeerIdentity | None, scenario: str) -> list[Deviation]:
        """Deviations that name ``scenario`` explicitly: a run of it that shows none of them says they are gone."""
        return [d for d in self.of(identity)
                if not d.intermittent and any(m.scenario == scenario for m in d.matches)]


def markdown_table(deviations: Iterable[Deviation]) -> str:
    """The rows of the README's table of known deviations (id, PACS, clause, summary's first sentence)."""
    rows = []
    for d in deviations:
        first = " ".join(d.summary.split()).split(". ")[0].rstrip(".") + "."
        rows.append(f"| `{d.id}` | {d.product} | {d.clause} | {first} |")
    return "\n".join(rows)


def load_deviation_file(path: Path) -> list[Deviation]:
    """One deviations file; errors name the file, line and field."""
    return list(load_model(path, DeviationFile).deviations)


def shipped_deviations() -> list[Deviation]:
    source = resources.files("simulator.conformance").joinpath("known-deviations.yaml")
    with resources.as_file(source) as path:
        return load_deviation_file(path)


def deviation_book(extra: Sequence[Path] = ()) -> DeviationBook:
    """The shipped deviations plus those of ``extra`` files."""
    found = shipped_deviations()
    for path in extra:
        found.extend(load_deviation_file(path))
    return DeviationBook(found)
