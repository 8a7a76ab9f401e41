"""The ``radsim`` command: thin wrappers that parse flags, call the library, print, and set the exit code.

Errors print one line (no traceback) and exit 2; failing scenarios exit 1. ``RADSIM_DEBUG=1`` shows tracebacks.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from simulator import __version__
from simulator.config import (
    BACKENDS,
    DepartmentConfig,
    Endpoint,
    NodeConfig,
    Role,
    default_department,
    load_department,
)
from simulator.errors import ConfigError, HarnessError
from simulator.overrides import Overrides, apply_overrides

app = typer.Typer(
    name="radsim",
    help="A simulated radiology department speaking real DICOM: modalities, QA router, PACS and workstations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
serve_app = typer.Typer(help="Run one node as a standalone DICOM service (foreground; Ctrl-C stops it).",
                        no_args_is_help=True)
app.add_typer(serve_app, name="serve")
qa_app = typer.Typer(help="Inspect and operate a QA node's data folder (running or stopped): status, quarantine, "
                          "audit trail.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Instances held for an operator: list, release to the PACS, or reject.",
                             no_args_is_help=True)
qa_app.add_typer(quarantine_app, name="quarantine")
app.add_typer(qa_app, name="qa")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_SCENARIOS = Path("scenarios")


def friendly(func: F) -> F:
    """Turn our errors into one red line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except HarnessError as exc:
            if os.environ.get("RADSIM_DEBUG") == "1":
                raise
            first, *rest = str(exc).splitlines() or ["error"]
            err.print(f"[red]error:[/red] {first}", highlight=False, markup=True)
            for line in rest:
                err.print(line, highlight=False, markup=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            if os.environ.get("RADSIM_DEBUG") == "1":
                raise
            err.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc} (RADSIM_DEBUG=1 shows the traceback)",
                      highlight=False)
            raise typer.Exit(3) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        out.print(f"radsim {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """radsim: point it at a PACS and run conformance scenarios end to end."""


# -- run -------------------------------------------------------------------------------------------------------


def _department_for_run(department: Path | None, overrides: Overrides) -> DepartmentConfig:
    config = load_department(department) if department else default_department()
    return apply_overrides(config, overrides)


def _registration_lines(config: DepartmentConfig) -> list[str]:
    rows = []
    for node in config.nodes:
        if node.role is Role.RIS:
            continue
        if node.role is Role.MODALITY:
            where = (f"host {node.host:<15} port {node.port}" if node.port else
                     "(calling AE: allow it to store; it listens on a free port for storage commitment results, "
                     "fix one in a department file to receive them on a new association)")
            rows.append(f"  {node.ae_title:<16} {where}")
        else:
            rows.append(f"  {node.ae_title:<16} host {node.host:<15} port {node.port}")
    return rows


@app.command()
@friendly
def run(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Scenario files or folders (default: the shipped catalog in ./scenarios).")] = None,
    pacs: Annotated[str | None, typer.Option(help=f"PACS backend: {', '.join(BACKENDS)}.")] = None,
    pacs_aet: Annotated[str | None, typer.Option(help="AE title of the PACS.")] = None,
    pacs_host: Annotated[str | None, typer.Option(help="Host of a remote PACS.")] = None,
    pacs_port: Annotated[int | None, typer.Option(help="DICOM port of the PACS (0 = allocate for managed).")] = None,
    pacs_url: Annotated[str | None, typer.Option(help="DICOMweb root URL of a remote PACS.")] = None,
    pacs_binary: Annotated[str | None, typer.Option(
        "--pacs-binary", "--orthanc-binary",
        help="Executable of a PACS radsim starts: Orthanc, dcmqrscp, or the Java runtime for pixelmed.")] = None,
    department: Annotated[Path | None, typer.Option(help="Department YAML (default: the shipped one).")] = None,
    ws_port: Annotated[int | None, typer.Option(help="Listening port of the workstation(s).")] = None,
    qa_port: Annotated[int | None, typer.Option(help="Listening port of the QA node(s).")] = None,
    listen_host: Annotated[str | None, typer.Option(
        help="Address our nodes listen on and that a remote PACS must reach them at.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write report.json (results and journal) into DIR.")] = None,
    deviations: Annotated[list[Path] | None, typer.Option(
        "--deviations", help="A known-deviations YAML file to use besides the shipped one (repeatable).")] = None,
) -> None:
    """Run scenarios against a department and print a results table; exit 0 unless one failed or erred (passed,
    not supported by the PACS, and known deviations of the PACS are not failures)."""
    from simulator.conformance.deviations import deviation_book
    from simulator.department import Department
    from simulator.report import build_report, print_results, write_report
    from simulator.report.console import outcome_style
    from simulator.scenario import Outcome, discover, load_scenario, run_scenario

    config = _department_for_run(department, Overrides(
        pacs=pacs, pacs_aet=pacs_aet, pacs_host=pacs_host, pacs_port=pacs_port, pacs_url=pacs_url,
        pacs_binary=pacs_binary, ws_port=ws_port, qa_port=qa_port, listen_host=listen_host))
    files = discover(paths or [DEFAULT_SCENARIOS])
    if not files:
        raise ConfigError(f"no scenario files (*.yaml) under {', '.join(str(p) for p in paths or [DEFAULT_SCENARIOS])}")
    scenarios = [load_scenario(path) for path in files]  # every file is checked before anything starts
    book = deviation_book(deviations or [])
    if config.pacs.backend == "remote":
        out.print(f"Before C-MOVE can work, register these AEs at the PACS {config.pacs.ae_title}@"
                  f"{config.pacs.host}:{config.pacs.port}:", highlight=False)
        for line in _registration_lines(config):
            out.print(line, highlight=False)
    with Department(config) as dept:
        out.print(f"department '{config.name}' up; PACS: {dept.pacs.describe()}", highlight=False)
        results = []
        for scenario in scenarios:
            dept.reset()
            result = run_scenario(scenario, dept, book)
            results.append(result)
            style = outcome_style(result.outcome)
            out.print(f"[{style}]{result.outcome.value:>13}[/{style}]  {scenario.name}", highlight=False)
        print_results(out, results, dept.pacs.describe())
        if report is not None:
            path = write_report(build_report(results, dept), report)
            out.print(f"report: {path}", highlight=False)
    if any(r.outcome in (Outcome.FAILED, Outcome.ERROR) for r in results):
        raise typer.Exit(1)


# -- serve -----------------------------------------------------------------------------------------------------


def _wait_for_signal(what: str, endpoint: Endpoint, stop: Callable[[], None]) -> None:
    done = threading.Event()

    def _handler(signum: int, frame: object) -> None:
        done.set()

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    out.print(f"{what} listening as {endpoint} (Ctrl-C stops)", highlight=False)
    sys.stdout.flush()
    try:
        while not done.wait(0.5):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        stop()
        out.print(f"{what} stopped", highlight=False)


def _check_port(port: int) -> int:
    if not 0 <= port <= 65535:
        raise ConfigError(f"port {port} is out of range 0-65535")
    return port


@serve_app.command("archive")
@friendly
def serve_archive(
    aet: Annotated[str, typer.Option(help="AE title the archive answers to.")] = "RADSIM_PACS",
    port: Annotated[int, typer.Option(help="DICOM port (0 = allocate a free one).")] = 11112,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    data: Annotated[Path, typer.Option(help="Folder for the files and the SQLite index.")] = Path("radsim-archive"),
    peer: Annotated[list[str] | None, typer.Option(
        help="A C-MOVE destination as AET@HOST:PORT (repeatable).")] = None,
    relational: Annotated[bool, typer.Option(
        "--relational/--hierarchical-only",
        help="Accept relational queries and retrieves when proposed (PS3.4 C.4.1.2.2.2), or answer only "
             "hierarchical ones, as a strict baseline SCP does.")] = True,
    accept: Annotated[list[str] | None, typer.Option(
        "--accept", help="Accept C-STORE only in this transfer syntax (repeatable; names as in 'radsim generate "
                         "--list', e.g. implicit-le): plays a PACS that takes fewer syntaxes.")] = None,
) -> None:
    """The embedded archive as a standalone Storage, Query/Retrieve and Storage Commitment SCP."""
    from simulator.nodes.archive import EmbeddedArchive
    from simulator.synth.transfer import TRANSFER_SYNTAXES

    for name in accept or []:
        _choose(name, TRANSFER_SYNTAXES, "transfer syntax")
    syntaxes = [str(TRANSFER_SYNTAXES[name].uid) for name in accept] if accept else None
    peers = {e.ae_title: e for e in (Endpoint.parse(p) for p in peer or [])}
    archive = EmbeddedArchive(data, ae_title=_ae(aet), peers=peers, relational=relational,
                              storage_syntaxes=syntaxes)
    endpoint = archive.start(host, _check_port(port))
    _wait_for_signal("archive", endpoint, archive.stop)


@serve_app.command("qa")
@friendly
def serve_qa(
    forward: Annotated[str, typer.Option(help="Where accepted instances go, as AET@HOST:PORT.")],
    aet: Annotated[str, typer.Option(help="AE title the QA node answers to.")] = "RADSIM_QA",
    port: Annotated[int, typer.Option(help="DICOM port (0 = allocate a free one).")] = 11113,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    data: Annotated[Path, typer.Option(
        help="Folder for the queue, the ledger and audit trail, and the quarantine; reused on restart.")
    ] = Path("radsim-qa"),
    rules: Annotated[Path | None, typer.Option(
        help="QA rules YAML (default: the shipped rule set, simulator/defaults/qa-rules.yaml).")] = None,
    worklist: Annotated[str | None, typer.Option(
        help="Modality Worklist SCP as AET@HOST:PORT: reconcile demographics by Accession Number (the rules' "
             "'worklist' section says what happens to unmatched instances).")] = None,
) -> None:
    """The QA node standalone: checks each instance, answers failures, forwards the accepted ones."""
    from simulator.net import DicomClient
    from simulator.nodes.qa import QANode
    from simulator.nodes.qa.reconcile import worklist_lookup
    from simulator.nodes.qa.ruleset import load_ruleset

    destination = Endpoint.parse(forward)
    source = Endpoint.parse(worklist) if worklist is not None else None
    ruleset = load_ruleset(rules) if rules is not None else None
    lookup = (worklist_lookup(DicomClient(_ae(aet), node="QA"), lambda: source) if source is not None
              else None)
    node = QANode(data, ae_title=_ae(aet), forward_to=destination, rules=ruleset, worklist=lookup)
    if source is not None:
        out.print(f"reconciling demographics against the worklist at {source}", highlight=False, markup=False)
    endpoint = node.start(host, _check_port(port))
    _wait_for_signal(f"QA node (forwarding to {destination})", endpoint, node.stop)


@serve_app.command("ris")
@friendly
def serve_ris(
    aet: Annotated[str, typer.Option(help="AE title the RIS answers to.")] = "RADSIM_RIS",
    port: Annotated[int, typer.Option(help="DICOM port (0 = allocate a free one).")] = 11114,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    schedule: Annotated[Path | None, typer.Option(
        help="Schedule YAML of scheduled procedure steps (see examples/schedule.yaml); none: an empty worklist.")
    ] = None,
) -> None:
    """The RIS standalone: Modality Worklist SCP (IHE RAD-5) and MPPS SCP (RAD-6, RAD-7) on one AE."""
    from simulator.nodes.ris import RisNode, load_schedule

    procedures = load_schedule(schedule) if schedule is not None else []
    ris = RisNode(_ae(aet), node="RIS", procedures=procedures)
    endpoint = ris.start(host, _check_port(port))
    source = f" from {schedule}" if schedule is not None else ""
    out.print(f"{len(procedures)} scheduled procedure step{'s' if len(procedures) != 1 else ''}{source}",
              highlight=False, markup=False)

    def stop() -> None:
        ris.stop()
        counts: dict[str, int] = {}
        for record in ris.mpps.records():
            counts[record.status] = counts.get(record.status, 0) + 1
        states = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
        out.print(f"MPPS instances: {states or 'none'}", highlight=False)

    _wait_for_signal("RIS", endpoint, stop)


# -- qa ----------------------------------------------------------------------------------------------------------

QaData = Annotated[Path, typer.Option("--data", help="The QA node's data folder (the --data of 'radsim serve qa').")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _print_json(value: Any) -> None:
    import json

    out.print_json(json.dumps(value, default=str))


@qa_app.command("status")
@friendly
def qa_status(data: QaData, as_json: AsJson = False) -> None:
    """Instances per state, queue length, quarantine count and the last forwarding error."""
    from rich.table import Table

    from simulator.nodes.qa.service import status

    report = status(data)
    if as_json:
        _print_json(report)
        return
    table = Table(title=f"QA node {data}")
    table.add_column("state")
    table.add_column("instances", justify="right")
    for state, count in report["states"].items():
        table.add_row(state, str(count))
    out.print(table)
    out.print(f"queue length: {report['queue_length']}   quarantine files: {report['quarantine_files']}",
              highlight=False)
    error = report["last_forward_error"]
    out.print("last forwarding error: " + ("none" if error is None else f"{error['at']} {error['error']}"),
              highlight=False, markup=False)
    if report["parked"]:
        shown = len(report["parked"])
        more = f" (newest {shown} of {report['parked_total']})" if report["parked_total"] > shown else ""
        out.print(f"refused by the destination, set aside{more}; 'radsim qa retry' queues them again:",
                  highlight=False, markup=False)
        for row in report["parked"]:
            out.print(f"  {row['uid']}  {row['at']}  {row['reason']}", highlight=False, markup=False)


@qa_app.command("retry")
@friendly
def qa_retry(
    data: QaData,
    uids: Annotated[list[str] | None, typer.Argument(help="SOP Instance UIDs to send again.", show_default=False)
                    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every instance the destination refused.")] = False,
) -> None:
    """Queue instances the destination refused (state failed) to be forwarded again, e.g. once the PACS accepts
    their SOP class or transfer syntax."""
    from simulator.nodes.qa.service import retry

    entries = retry(data, uids or [], every=every)
    for entry in entries:
        out.print(f"queued again {entry.sop_instance_uid}", highlight=False)
    if not entries:
        out.print("nothing to retry", highlight=False)


@quarantine_app.command("list")
@friendly
def qa_quarantine_list(data: QaData, as_json: AsJson = False) -> None:
    """Quarantined instances: UID, patient, study, reason, when."""
    from rich.table import Table
    from rich.text import Text

    from simulator.nodes.qa.service import quarantine_list

    entries = quarantine_list(data)
    if as_json:
        _print_json([e.as_dict() for e in entries])
        return
    table = Table(title=f"quarantine ({len(entries)})")
    for column in ("SOP Instance UID", "patient", "study", "reason", "when"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(*(Text(v) for v in (e.sop_instance_uid, e.patient_id, e.study_instance_uid, e.reason,
                                           e.updated_at)))
    out.print(table)


@quarantine_app.command("release")
@friendly
def qa_quarantine_release(
    uids: Annotated[list[str], typer.Argument(help="SOP Instance UIDs to release.", show_default=False)],
    data: QaData,
) -> None:
    """Send quarantined instances on to the PACS (a running node forwards them within its poll period)."""
    from simulator.nodes.qa.service import release

    for entry in release(data, uids):
        out.print(f"released {entry.sop_instance_uid}", highlight=False)


@quarantine_app.command("reject")
@friendly
def qa_quarantine_reject(
    uids: Annotated[list[str], typer.Argument(help="SOP Instance UIDs to reject.", show_default=False)],
    data: QaData,
) -> None:
    """Never forward these quarantined instances; their files are kept in <data>/rejected/."""
    from simulator.nodes.qa.service import reject

    for entry in reject(data, uids):
        out.print(f"rejected {entry.sop_instance_uid}", highlight=False)


@qa_app.command("audit")
@friendly
def qa_audit(
    uid: Annotated[str, typer.Argument(help="SOP Instance UID.", show_default=False)],
    data: QaData,
    as_json: AsJson = False,
) -> None:
    """The audit trail of one instance: received, verdict, queued, forwarded, quarantined, released ..."""
    import json

    from rich.table import Table
    from rich.text import Text

    from simulator.nodes.qa.service import audit_trail

    entry, events = audit_trail(data, uid)
    if as_json:
        _print_json({"instance": entry.as_dict(), "audit": [e.as_dict() for e in events]})
        return
    out.print(f"{uid}: {entry.state}" + (f" ({entry.reason})" if entry.reason else "")
              + f", attempts {entry.attempts}", highlight=False, markup=False)
    table = Table()
    for column in ("at", "event", "detail"):
        table.add_column(column, overflow="fold")
    for event in events:
        table.add_row(Text(event.at), Text(event.event), Text(json.dumps(event.detail, default=str, sort_keys=True)))
    out.print(table)


def _ae(title: str) -> str:
    try:
        return NodeConfig(name="X", role=Role.QA, ae_title=title).ae_title
    except ValueError as exc:
        raise ConfigError(str(exc).splitlines()[-1].strip()) from None


# -- generate --------------------------------------------------------------------------------------------------


@app.command()
@friendly
def generate(
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder to write DICOM files into.")] = None,
    modality: Annotated[str, typer.Option(help="Modality code: see --list.")] = "CT",
    patients: Annotated[int, typer.Option(min=1, help="How many patients.")] = 1,
    studies: Annotated[int, typer.Option(min=1, help="Studies per patient (priors spread over 5 years).")] = 1,
    seed: Annotated[int, typer.Option(help="Seed: the same seed and options give the same bytes.")] = 0,
    series: Annotated[int | None, typer.Option(min=1, help="Series per study (default: the modality's).")] = None,
    instances: Annotated[int | None, typer.Option(min=1, help="Instances per series (default: the modality's).")
                         ] = None,
    rows: Annotated[int | None, typer.Option(min=8, help="Rows per image (default: the modality's).")] = None,
    columns: Annotated[int | None, typer.Option(min=8, help="Columns per image.")] = None,
    frames: Annotated[int | None, typer.Option(min=1, help="Frames per multi-frame image.")] = None,
    transfer_syntax: Annotated[str, typer.Option(help="Transfer syntax name: see --list.")] = "explicit-le",
    charset: Annotated[str | None, typer.Option(help="Character set of the patients: see --list.")] = None,
    defect: Annotated[str | None, typer.Option(help="Break every study on purpose: see --list.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="Show modalities, charsets, transfer syntaxes, defects.")
                     ] = False,
) -> None:
    """Write synthetic studies as DICOM Part 10 files, one folder per series."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from simulator.synth import DEFECTS, apply_defect
    from simulator.synth.charsets import CHARSETS
    from simulator.synth.procedure import generate_history
    from simulator.synth.registry import MODALITIES
    from simulator.synth.spec import BuildOptions
    from simulator.synth.transfer import TRANSFER_SYNTAXES, encode_study

    if list_:
        _print_catalog()
        return
    if out_dir is None:
        raise ConfigError("give --out DIR (or --list to see what can be generated)")
    _choose(modality.upper(), MODALITIES, "modality")
    _choose(transfer_syntax, TRANSFER_SYNTAXES, "transfer syntax")
    if charset is not None:
        _choose(charset, CHARSETS, "charset")
    if defect is not None:
        _choose(defect, DEFECTS, "defect")
    options = BuildOptions(rows=rows, columns=columns, frames=frames)
    started = time.monotonic()
    files = 0
    size = 0
    columns_ = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns_, console=err, transient=True, disable=patients * studies < 2) as progress:
        task = progress.add_task(f"{modality.upper()} studies", total=patients * studies)
        for index in range(patients):
            for study in generate_history(seed + index, modality.upper(), studies=studies, series=series,
                                          instances=instances, options=options, charset=charset):
                datasets = study.datasets
                if defect is not None:
                    apply_defect(datasets, defect)
                if transfer_syntax != "explicit-le":
                    study.datasets = encode_study(datasets, transfer_syntax)
                paths = study.write(out_dir / f"study-{index + 1:03d}-{study.study_instance_uid}")
                files += len(paths)
                size += sum(p.stat().st_size for p in paths)
                progress.advance(task)
    elapsed = time.monotonic() - started
    rate = size / 1e6 / max(elapsed, 1e-9)
    out.print(f"{files} files, {size / 1e6:.1f} MB in {out_dir} ({elapsed:.2f}s, {rate:.1f} MB/s)", highlight=False)


def _choose(name: str, table: dict[str, Any], what: str) -> None:
    if name not in table:
        raise ConfigError(f"unknown {what} '{name}' (known: {', '.join(table)}; see radsim generate --list)")


def _print_catalog() -> None:
    from rich.table import Table

    from simulator.synth import DEFECTS
    from simulator.synth.charsets import CHARSETS
    from simulator.synth.registry import MODALITIES
    from simulator.synth.transfer import TRANSFER_SYNTAXES

    table = Table(title="modalities (--modality)", title_justify="left")
    for column in ("code", "SOP class", "default series x instances"):
        table.add_column(column)
    for code, spec in MODALITIES.items():
        table.add_row(code, spec.name, f"{spec.default_series} x {spec.default_instances}")
    out.print(table)
    table = Table(title="character sets (--charset)", title_justify="left")
    for column in ("name", "Specific Character Set", "what"):
        table.add_column(column)
    for name, charset in CHARSETS.items():
        value = charset.value
        shown = "\\".join(value) if isinstance(value, list) else (value or "(absent)")
        table.add_row(name, shown, charset.description)
    out.print(table)
    table = Table(title="transfer syntaxes (--transfer-syntax)", title_justify="left")
    for column in ("name", "UID", "lossless", "what"):
        table.add_column(column)
    for name, syntax in TRANSFER_SYNTAXES.items():
        table.add_row(name, str(syntax.uid), "yes" if syntax.lossless else "no", syntax.description)
    out.print(table)
    table = Table(title="defects (--defect)", title_justify="left")
    for column in ("name", "what", "a conformant receiver"):
        table.add_column(column, overflow="fold")
    for name, item in DEFECTS.items():
        table.add_row(name, item.description, item.expected)
    out.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
