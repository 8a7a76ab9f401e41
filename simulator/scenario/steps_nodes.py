"""Scenario steps that take nodes down and bring them back, and split a study to send it in parts.

``stop_node`` / ``start_node`` / ``restart_node`` act on the PACS or a QA node of the running department (see
``Department.stop_node``): the node comes back on the same AE title and port, so what points at it stays valid.
``split`` names the first instances of a generated study and the rest, to store a study in two sends around an
outage. Registered in :mod:`simulator.scenario.steps`' registry when that module is imported.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from simulator.errors import ConfigError
from simulator.scenario.model import StepArgs
from simulator.scenario.steps import RunContext, step
from simulator.synth import Study


class StopNodeArgs(StepArgs):
    node: str
    abrupt: bool = False


class StartNodeArgs(StepArgs):
    node: str


@step("stop_node", StopNodeArgs,
      "Stop the PACS or a QA node (abrupt: a QA node dies without draining, its queue stays on disk)")
def run_stop_node(ctx: RunContext, args: StopNodeArgs) -> str:
    return ctx.department.stop_node(args.node, abrupt=args.abrupt)


@step("start_node", StartNodeArgs,
      "Start a stopped node on its AE title and port (embedded PACS and QA node on their data; Orthanc starts empty)")
def run_start_node(ctx: RunContext, args: StartNodeArgs) -> str:
    return ctx.department.start_node(args.node)


@step("restart_node", StopNodeArgs, "stop_node then start_node (abrupt: a QA node is killed, then started again)")
def run_restart_node(ctx: RunContext, args: StopNodeArgs) -> str:
    stopped = ctx.department.stop_node(args.node, abrupt=args.abrupt)
    return f"{stopped}; {ctx.department.start_node(args.node)}"


Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class SplitArgs(StepArgs):
    study: str
    at: int = Field(ge=1)
    as_: tuple[Name, Name] = Field(alias="as")


@step("split", SplitArgs, "Name the first 'at' instances of a study and the rest (as: [first, rest]), to send in parts")
def run_split(ctx: RunContext, args: SplitArgs) -> str:
    study = ctx.study(args.study)
    if args.at >= len(study):
        raise ConfigError(f"'at: {args.at}' leaves nothing for the rest: {args.study} has {len(study)} instances")
    first, rest = args.as_
    ctx.variables[first] = Study(study.datasets[:args.at])
    ctx.variables[rest] = Study(study.datasets[args.at:])
    return f"{first}: {args.at} instance(s), {rest}: {len(study) - args.at} of {args.study}"
