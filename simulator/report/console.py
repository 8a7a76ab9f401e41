"""The results table printed by ``radsim run``."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from simulator.scenario import Outcome, ScenarioResult

_STYLE = {Outcome.PASSED: "green", Outcome.FAILED: "red", Outcome.ERROR: "red",
          Outcome.NOT_SUPPORTED: "yellow", Outcome.KNOWN_DEVIATION: "magenta"}


def outcome_style(outcome: Outcome) -> str:
    return _STYLE[outcome]


def print_results(console: Console, results: Sequence[ScenarioResult], pacs: str) -> None:
    table = Table(title=f"radsim scenarios against {pacs}", title_justify="left")
    table.add_column("scenario", overflow="fold")
    table.add_column("result")
    table.add_column("time", justify="right")
    table.add_column("detail", overflow="fold")
    for result in results:
        style = _STYLE[result.outcome]
        table.add_row(result.name, f"[{style}]{result.outcome.value}[/{style}]", f"{result.duration_s:.2f}s",
                      result.reason)
    console.print(table)
    for result in results:
        if result.outcome in (Outcome.FAILED, Outcome.ERROR):
            console.print(result.transcript(), style="red", highlight=False, markup=False)
    for result in results:
        if result.unobserved:
            console.print(f"note: {result.name}: known deviation(s) {', '.join(result.unobserved)} expected but not "
                          "observed; the deviations file may be out of date", highlight=False, markup=False)
    counts = {o: sum(1 for r in results if r.outcome is o) for o in Outcome}
    console.print(", ".join(f"{n} {o.value}" for o, n in counts.items() if n) or "no scenarios")
