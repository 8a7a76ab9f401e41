"""The step registry: each step kind has an argument model and a function that runs it.

A step returns a short line for the transcript; it raises ConformanceFailure listing every violation when
what the department observed differs from what the scenario expects, or another HarnessError when it could not
be carried out at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from simulator.config import PACS_NODE
from simulator.conformance.keys import is_optional_return_key
from simulator.department import Department
from simulator.errors import ConfigError, ConformanceFailure, DimseFailure, NotSupported
from simulator.net import DicomClient, RetrieveOutcome, StoreOutcome, describe_status, is_failure, is_warning
from simulator.nodes.acquisition import Acquisition
from simulator.pacs.base import Capability
from simulator.scenario.expressions import Answers, MissingAttribute, evaluate, matches, plain, substitute
from simulator.scenario.model import Seconds, StepArgs
from simulator.synth import DEFECTS, Study, apply_defect
from simulator.synth.charsets import CHARSETS
from simulator.synth.generate import generate_study
from simulator.synth.registry import MODALITIES
from simulator.synth.spec import BuildOptions
from simulator.synth.transfer import TRANSFER_SYNTAXES, encode_study


@dataclass
class RunContext:
    department: Department
    variables: dict[str, Any] = field(default_factory=dict)

    def study(self, name: str) -> Study:
        """A generated study, or what an acquisition performed (its instances, withheld ones included)."""
        value = self.variables.get(name)
        if isinstance(value, Acquisition):
            return Study(datasets=list(value.performed))
        if not isinstance(value, Study):
            raise ConfigError(f"'{name}' is not a generated study (use a 'generate' or 'acquire' step with as: "
                              f"{name})")
        return value

    def client(self, name: str) -> DicomClient:
        dept = self.department
        if name in dept.modalities:
            return dept.modalities[name].client
        if name in dept.workstations:
            return dept.workstations[name].client
        if name in dept.qa_nodes:
            return dept.qa_nodes[name].forwarder.client
        raise ConfigError(f"'{name}' cannot initiate associations (known: {', '.join(dept.names())})")


StepFunction = Callable[[RunContext, Any], str]


@dataclass(frozen=True)
class StepSpec:
    kind: str
    args: type[StepArgs]
    run: StepFunction
    summary: str


REGISTRY: dict[str, StepSpec] = {}


def step(kind: str, args: type[StepArgs], summary: str) -> Callable[[StepFunction], StepFunction]:
    def register(func: StepFunction) -> StepFunction:
        REGISTRY[kind] = StepSpec(kind, args, func, summary)
        return func

    return register


# -- echo ------------------------------------------------------------------------------------------------------


class EchoArgs(StepArgs):
    from_: str = Field(alias="from")
    to: list[str]


@step("echo", EchoArgs, "C-ECHO from a node to each listed node (PS3.7 9.1.5)")
def run_echo(ctx: RunContext, args: EchoArgs) -> str:
    client = ctx.client(args.from_)
    times = [f"{name} {1000 * client.echo(ctx.department.endpoint(name)):.1f} ms" for name in args.to]
    return "answered: " + ", ".join(times)


# -- generate --------------------------------------------------------------------------------------------------


def _known(table: Mapping[str, object], what: str) -> Callable[[str | None], str | None]:
    def check(value: str | None) -> str | None:
        if value is not None and value not in table:
            raise ValueError(f"unknown {what} '{value}' (known: {', '.join(table)})")
        return value

    return check


class GenerateArgs(StepArgs):
    as_: str = Field(alias="as", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    modality: Annotated[str, AfterValidator(_known(MODALITIES, "modality"))] = "CT"
    series: int | None = Field(default=None, ge=1, le=100)
    instances: int | None = Field(default=None, ge=1, le=5000)
    seed: int = 0
    rows: int | None = Field(default=None, ge=8, le=8192)
    columns: int | None = Field(default=None, ge=8, le=8192)
    frames: int | None = Field(default=None, ge=1, le=1000)
    charset: Annotated[str | None, AfterValidator(_known(CHARSETS, "charset"))] = None
    transfer_syntax: Annotated[str | None, AfterValidator(_known(TRANSFER_SYNTAXES, "transfer syntax"))] = None
    defect: Annotated[str | None, AfterValidator(_known(DEFECTS, "defect"))] = None


@step("generate", GenerateArgs, "Synthesise a study (any modality, charset, transfer syntax, defect) and name it")
def run_generate(ctx: RunContext, args: GenerateArgs) -> str:
    study = generate_study(args.modality, args.seed, series=args.series, instances=args.instances,
                           options=BuildOptions(rows=args.rows, columns=args.columns, frames=args.frames),
                           charset=args.charset)
    if args.defect:
        apply_defect(study.datasets, args.defect)
    if args.transfer_syntax:
        study.datasets = encode_study(study.datasets, args.transfer_syntax)
    ctx.variables[args.as_] = study
    extra = "".join(f", {label} {value}" for label, value in (
        ("charset", args.charset), ("transfer syntax", args.transfer_syntax), ("defect", args.defect)) if value)
    return f"{args.as_}: {len(study)} {args.modality} instances in {len(study.series_instance_uids)} series{extra}"


# -- store -----------------------------------------------------------------------------------------------------

Expectation = Literal["success", "warning", "failure"]


class StoreArgs(StepArgs):
    study: str
    from_: str = Field(alias="from")
    to: str | None = None
    expect: Expectation | int = "success"
    associations: int = Field(default=1, ge=1, le=32)
    as_: str | None = Field(default=None, alias="as")


def _meets(status: int | None, expect: Expectation | int) -> bool:
    if status is None:  # never sent: no presentation context the instance could travel in
        return False
    if isinstance(expect, int):
        return status == expect
    if expect == "success":
        return status == 0
    if expect == "warning":
        return is_warning(status)
    return is_failure(status)


@step("store", StoreArgs, "C-STORE a generated study from a modality to a node; check every status")
def run_store(ctx: RunContext, args: StoreArgs) -> str:
    study = ctx.study(args.study)
    target = args.to or _default_target(ctx, args.from_)
    modality = ctx.department.modality(args.from_)
    outcomes: list[StoreOutcome] = modality.store(study.datasets, ctx.department.endpoint(target),
                                                  associations=args.associations)
    if args.as_:
        ctx.variables[args.as_] = outcomes
    wrong = [o for o in outcomes if not _meets(o.status, args.expect)]
    expected = f"0x{args.expect:04X}" if isinstance(args.expect, int) else args.expect
    if wrong:
        raise ConformanceFailure([
            f"{o.sop_instance_uid}: expected {expected}, got {o.status_text} ({o.meaning})"
            + (f" '{o.comment}'" if o.comment else "") for o in wrong
        ])
    statuses = sorted({o.status_text for o in outcomes})
    comments = sorted({o.comment for o in outcomes if o.comment})
    note = f"; comment: {comments[0]}" if comments else ""
    transcoded = [o.transcoded for o in outcomes if o.transcoded]
    if transcoded:
        note += f"; {len(transcoded)} transcoded ({transcoded[0]})"
    return f"{len(outcomes)} instances to {target}: status {', '.join(statuses)}{note}"


def _default_target(ctx: RunContext, source: str) -> str:
    targets = ctx.department.config.targets_of(source)
    if not targets:
        raise ConfigError(f"'{source}' has no link to send to; give 'to:' or add a link in the department")
    return targets[0]


# -- await -----------------------------------------------------------------------------------------------------


class AwaitArgs(StepArgs):
    study: str
    in_: str = Field(alias="in", default=PACS_NODE)
    timeout: Seconds = 30.0


@step("await", AwaitArgs, "Wait until every instance of a study is held by the PACS or a workstation")
def run_await(ctx: RunContext, args: AwaitArgs) -> str:
    study = ctx.study(args.study)
    wanted = set(study.sop_instance_uids)
    holder = _holdings(ctx, args.in_, study.study_instance_uid)
    deadline = time.monotonic() + args.timeout
    started = time.monotonic()
    held: set[str] = set()
    refused: dict[str, str] = {}
    while True:
        held = holder() & wanted
        if held == wanted:
            return f"{len(wanted)} instances in {args.in_} after {time.monotonic() - started:.2f}s"
        # What a QA node set aside because the PACS refused it will not arrive: no point waiting for it.
        refused = _refused_at_qa(ctx, wanted - held) if args.in_ == PACS_NODE else {}
        if time.monotonic() >= deadline or (refused and set(refused) == wanted - held):
            break
        time.sleep(0.05)
    missing = sorted(wanted - held)
    if refused and set(refused) == set(missing):
        reasons = sorted(set(refused.values()))
        if all("no presentation context" in reason for reason in reasons):
            # The PACS's configuration does not take this SOP class (or syntax): it does not support it.
            raise NotSupported(f"{ctx.department.pacs.name} refused {len(missing)} instance(s): {reasons[0]}")
        raise ConformanceFailure([f"{len(missing)} of {len(wanted)} instances refused by {args.in_}: {reasons[0]}"])
    queued = sum(qa.spool.count("PACS") for qa in ctx.department.qa_nodes.values())
    raise ConformanceFailure([
        f"{len(missing)} of {len(wanted)} instances not in {args.in_} after {args.timeout:.0f}s "
        f"(first missing: {missing[0]}; still queued at QA: {queued})"
    ])


def _refused_at_qa(ctx: RunContext, uids: set[str]) -> dict[str, str]:
    """The instances of ``uids`` a QA node parked because the PACS refused them, with the reason."""
    refused: dict[str, str] = {}
    for qa in ctx.department.qa_nodes.values():
        for uid in uids:
            entry = qa.ledger.get(uid)
            if entry is not None and str(entry.state) == "failed":
                refused[uid] = entry.reason
    return refused


def _holdings(ctx: RunContext, name: str, study_uid: str) -> Callable[[], set[str]]:
    if name == PACS_NODE:
        if Capability.INSPECT not in ctx.department.pacs.capabilities:
            raise NotSupported(f"{ctx.department.pacs.name} cannot be inspected")
        return lambda: ctx.department.pacs.sop_instance_uids(study_uid)
    ws = ctx.department.workstation(name)
    return lambda: set(ws.received)


# -- find ------------------------------------------------------------------------------------------------------


class FindArgs(StepArgs):
    as_: str = Field(alias="as")
    from_: str | None = Field(default=None, alias="from")
    level: Literal["PATIENT", "STUDY", "SERIES", "IMAGE"] = "STUDY"
    model: Literal["study", "patient"] = "study"
    keys: dict[str, Any] = Field(default_factory=dict)
    # Propose relational queries (PS3.4 C.4.1.2.2.2); a PACS that refuses them makes the step "not supported".
    relational: bool = False


@step("find", FindArgs, "C-FIND the PACS from a workstation (relational: propose relational queries); name the "
                        "list of matches")
def run_find(ctx: RunContext, args: FindArgs) -> str:
    ws = ctx.department.workstation(args.from_ or _first(ctx.department.workstations, "workstation"))
    keys = substitute(args.keys, ctx.variables)
    matches_ = ws.find(ctx.department.pacs.endpoint, args.level, keys, model=args.model, relational=args.relational)
    ctx.variables[args.as_] = Answers(matches_, level=args.level, model=args.model)
    how = ", relational" if args.relational else ""
    return f"{args.as_}: {len(matches_)} match(es) at {args.level} level ({args.model} root{how})"


def _first(table: dict[str, Any], what: str) -> str:
    if not table:
        raise ConfigError(f"the department has no {what}")
    return next(iter(table))


# -- expect ----------------------------------------------------------------------------------------------------


class ExpectArgs(StepArgs):
    model_config = StepArgs.model_config | {"extra": "allow"}


@step("expect", ExpectArgs, "Check values: each key is a path (hits.count, hits[0].PatientID), each value the expected")
def run_expect(ctx: RunContext, args: ExpectArgs) -> str:
    checks = dict(args.model_extra or {})
    if not checks:
        raise ConfigError("'expect' needs at least one 'path: value' pair")
    violations = []
    unsupported: NotSupported | None = None  # reported only when nothing was wrong
    for path, expected in checks.items():
        want = substitute(expected, ctx.variables)
        try:
            got = evaluate(path, ctx.variables)
        except MissingAttribute as exc:
            unsupported = unsupported or _optional_key_unsupported(ctx, path, exc.keyword)
            if unsupported is None:
                raise
            continue
        if _empty(got) and not _empty(want):
            found = _optional_key_unsupported(ctx, path, path.rsplit(".", 1)[-1])
            if found is not None:
                unsupported = unsupported or found
                continue
        if not matches(got, want):
            violations.append(f"{path}: expected {want!r}, got {plain(got)!r}")
    if violations:
        raise ConformanceFailure(violations)
    if unsupported is not None:
        raise unsupported
    return f"{len(checks)} value(s) as expected"


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple) and len(value) == 0) or str(value) == ""


def _optional_key_unsupported(ctx: RunContext, path: str, keyword: str) -> NotSupported | None:
    """For a C-FIND answer without a value for an optional return key: the PACS does not support that key, which
    PS3.4 C.4.1.1.3.2 allows; the scenario cannot check it there ("not supported"), it is not a failure. None
    when the key is required or the value did not come from a C-FIND."""
    root = ctx.variables.get(path.split(".", 1)[0].split("[", 1)[0])
    if isinstance(root, Answers) and is_optional_return_key(keyword, root.level):
        return NotSupported(f"{ctx.department.pacs.name} does not return the optional key {keyword} at "
                            f"{root.level} level (PS3.4 C.6: an SCP may leave optional keys empty)")
    return None


# -- move / get ------------------------------------------------------------------------------------------------


class RetrieveArgs(StepArgs):
    study: str
    from_: str | None = Field(default=None, alias="from")
    # STUDY: the study; SERIES: its series by UID list; IMAGE: the instances of its first series by UID list
    level: Literal["STUDY", "SERIES", "IMAGE"] = "STUDY"
    model: Literal["study", "patient"] = "study"
    destination: str | None = None
    as_: str | None = Field(default=None, alias="as")
    expect_completed: int | None = None
    cancel_after: int | None = Field(default=None, ge=1)
    # Final statuses accepted besides success when nothing matches (PS3.4 names none for "no match": success with
    # zero sub-operations is common, Orthanc 1.10 answers 0xC000); only with expect_completed: 0.
    also_accept: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _also_accept_only_for_no_match(self) -> RetrieveArgs:
        if self.also_accept and self.expect_completed != 0:
            raise ValueError("also_accept applies only with expect_completed: 0 (a retrieve that matches nothing)")
        return self


def _retrieve_keys(study: Study, level: str, model: str) -> tuple[dict[str, Any], int]:
    """The identifier of a retrieve at ``level`` (PS3.4 C.4.2.2.1: a list of unique keys at the retrieve level,
    single values above it) and how many instances it selects."""
    keys: dict[str, Any] = {"StudyInstanceUID": study.study_instance_uid}
    if model == "patient":
        keys["PatientID"] = study.patient_id
    if level == "SERIES":
        keys["SeriesInstanceUID"] = study.series_instance_uids
    if level == "IMAGE":
        first = study.series_instance_uids[0]
        uids = [str(ds.SOPInstanceUID) for ds in study.datasets if str(ds.SeriesInstanceUID) == first]
        keys["SeriesInstanceUID"] = first
        keys["SOPInstanceUID"] = uids
        return keys, len(uids)
    return keys, len(study)


def _check_cancelled(outcome: RetrieveOutcome, total: int) -> str:
    """PS3.4 C.4.2.3.1 / C.4.3.3.1: after C-CANCEL the final response is 0xFE00 with the sub-operation counts so
    far; what was completed plus what is left must account for the whole match."""
    op = outcome.operation
    violations = []
    if not outcome.cancelled:
        violations.append(f"{op}: final status 0x{outcome.status:04X} "
                          f"({describe_status(outcome.status, op)}) after C-CANCEL, expected 0xFE00 (Cancel)")
    if outcome.completed >= total:
        violations.append(f"{op}: all {total} sub-operations completed; the C-CANCEL had no effect")
    done = outcome.completed + outcome.failed + outcome.warning
    if outcome.remaining_reported and done + outcome.remaining != total:
        violations.append(f"{op}: completed {outcome.completed} + failed {outcome.failed} + warning "
                          f"{outcome.warning} + remaining {outcome.remaining} != {total} matched instances")
    if violations:
        raise ConformanceFailure(violations)
    remaining = f", {outcome.remaining} remaining" if outcome.remaining_reported else ", remaining not reported"
    return (f"{op} cancelled (0xFE00): {outcome.completed} completed, {outcome.failed} failed, "
            f"{outcome.warning} warning{remaining} of {total}")


def _check_outcome(outcome: RetrieveOutcome, selected: int, args: RetrieveArgs) -> str:
    if args.cancel_after is not None:
        return _check_cancelled(outcome, selected)
    expected = args.expect_completed if args.expect_completed is not None else selected
    violations = []
    if outcome.completed != expected:
        violations.append(f"{outcome.operation}: {outcome.completed} sub-operations completed, expected {expected}")
    if outcome.failed or outcome.warning:
        violations.append(f"{outcome.operation}: {outcome.failed} failed and {outcome.warning} warning "
                          "sub-operations")
    if outcome.status != 0:
        violations.append(f"{outcome.operation}: final status 0x{outcome.status:04X} "
                          f"({describe_status(outcome.status, outcome.operation)})")
    if violations:
        raise ConformanceFailure(violations)
    return (f"{outcome.operation} status 0x{outcome.status:04X}: {outcome.completed} completed, "
            f"{outcome.failed} failed, {outcome.warning} warning in {outcome.duration_s:.2f}s")


def _retrieve(ctx: RunContext, args: RetrieveArgs, capability: Capability) -> str:
    study = ctx.study(args.study)
    ws = ctx.department.workstation(args.from_ or _first(ctx.department.workstations, "workstation"))
    operation = "C-MOVE" if capability is Capability.MOVE else "C-GET"
    if capability not in ctx.department.pacs.capabilities:
        raise NotSupported(f"{ctx.department.pacs.name} does not support {operation}")
    keys, selected = _retrieve_keys(study, args.level, args.model)
    if args.destination and capability is not Capability.MOVE:
        raise ConfigError("'destination' applies to move only; C-GET always retrieves into the requesting node")
    try:
        if capability is Capability.MOVE:
            destination = ctx.department.config.node(args.destination).ae_title if args.destination else None
            outcome = ws.move(ctx.department.pacs.endpoint, args.level, keys, model=args.model,
                              destination_ae=destination, cancel_after=args.cancel_after)
        else:
            outcome = ws.get(ctx.department.pacs.endpoint, args.level, keys, model=args.model,
                             cancel_after=args.cancel_after)
    except DimseFailure as exc:
        if exc.status not in args.also_accept:
            raise
        if delivered := set(ws.received) & set(study.sop_instance_uids):
            raise ConformanceFailure([f"{operation} failed with 0x{exc.status:04X} yet delivered "
                                      f"{len(delivered)} instance(s)"]) from None
        return (f"{operation} of a study the PACS does not hold: 0x{exc.status:04X} ({exc.meaning}), nothing "
                "delivered")
    if args.as_:
        ctx.variables[args.as_] = outcome
    return _check_outcome(outcome, selected, args)


@step("move", RetrieveArgs, "C-MOVE a study from the PACS to a workstation; check the sub-operation counts")
def run_move(ctx: RunContext, args: RetrieveArgs) -> str:
    return _retrieve(ctx, args, Capability.MOVE)


@step("get", RetrieveArgs, "C-GET a study from the PACS into a workstation; check the sub-operation counts")
def run_get(ctx: RunContext, args: RetrieveArgs) -> str:
    return _retrieve(ctx, args, Capability.GET)


# -- verification ----------------------------------------------------------------------------------------------


class IdenticalArgs(StepArgs):
    study: str
    at: str


@step("expect_identical", IdenticalArgs,
      "Every instance of a study reached a workstation once, with the same key attributes and pixels")
def run_expect_identical(ctx: RunContext, args: IdenticalArgs) -> str:
    study = ctx.study(args.study)
    ws = ctx.department.workstation(args.at)
    problems = ws.compare(study.datasets)
    if problems:
        raise ConformanceFailure(problems)
    return f"{len(study)} instances identical at {args.at}"


class AbsentArgs(StepArgs):
    study: str
    in_: str = Field(alias="in", default=PACS_NODE)
    settle: Seconds = 10.0


@step("expect_absent", AbsentArgs, "No instance of a study reached the PACS (after the QA queues drained)")
def run_expect_absent(ctx: RunContext, args: AbsentArgs) -> str:
    study = ctx.study(args.study)
    for name, qa in ctx.department.qa_nodes.items():
        if not qa.drain(args.settle):
            raise ConformanceFailure([f"QA node {name} still has queued instances after {args.settle:.0f}s"])
    held = _holdings(ctx, args.in_, study.study_instance_uid)() & set(study.sop_instance_uids)
    if held:
        raise ConformanceFailure([f"{len(held)} instance(s) of {args.study} reached {args.in_}: {sorted(held)[0]} ..."])
    return f"none of {len(study)} instances in {args.in_}"


class ForgetArgs(StepArgs):
    at: str


@step("forget", ForgetArgs, "Empty a workstation's received instances (e.g. between C-MOVE and C-GET)")
def run_forget(ctx: RunContext, args: ForgetArgs) -> str:
    ws = ctx.department.workstation(args.at)
    count = len(ws.received)
    ws.clear()
    return f"{args.at} forgot {count} instances"


# -- QA node ---------------------------------------------------------------------------------------------------

QaState = Literal["queued", "forwarded", "quarantined", "rejected", "failed", "released"]


class QaStateArgs(StepArgs):
    study: str
    at: str = "QA"
    state: QaState
    count: int | None = Field(default=None, ge=0)
    timeout: Seconds = 30.0


@step("expect_qa_state", QaStateArgs,
      "The QA ledger holds the study's instances in a state (count: how many; default every distinct one)")
def run_expect_qa_state(ctx: RunContext, args: QaStateArgs) -> str:
    qa = ctx.department.qa(args.at)
    uids = list(dict.fromkeys(ctx.study(args.study).sop_instance_uids))
    wanted = len(uids) if args.count is None else args.count
    deadline = time.monotonic() + args.timeout
    while True:
        entries = [qa.ledger.get(uid) for uid in uids]
        states = [str(e.state) if e is not None else "unknown" for e in entries]
        if states.count(args.state) == wanted or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if states.count(args.state) != wanted:
        seen = ", ".join(f"{s}: {states.count(s)}" for s in sorted(set(states)))
        raise ConformanceFailure([f"{args.at}: expected {wanted} instance(s) {args.state}, found {seen}"])
    return f"{wanted} instance(s) of {args.study} {args.state} at {args.at}"


class ReleaseArgs(StepArgs):
    study: str
    at: str = "QA"


@step("release", ReleaseArgs, "Release the study's quarantined instances at the QA node (as an operator would)")
def run_release(ctx: RunContext, args: ReleaseArgs) -> str:
    from simulator.nodes.qa.service import release

    qa = ctx.department.qa(args.at)
    held = [uid for uid in dict.fromkeys(ctx.study(args.study).sop_instance_uids)
            if (entry := qa.ledger.get(uid)) is not None and str(entry.state) == "quarantined"]
    if not held:
        raise ConformanceFailure([f"{args.at} holds no quarantined instance of {args.study}"])
    release(qa.data_dir, held, by="scenario")
    qa.forwarder.notify()
    return f"released {len(held)} instance(s) of {args.study} at {args.at}"


# The workflow steps register themselves in REGISTRY on import.
from simulator.scenario import steps_nodes as _steps_nodes  # noqa: E402, F401
from simulator.scenario import steps_workflow as _steps_workflow  # noqa: E402, F401
