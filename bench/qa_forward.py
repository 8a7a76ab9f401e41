"""Store-and-forward through the QA node: modality -> QA -> PACS against modality -> PACS direct.

One CT series (default 200 slices of 512x512, ~105 MB) is stored by radsim's sender (``DicomClient.store``,
in-memory Datasets, 1 and 4 parallel associations) either directly into the PACS or into the QA node
(``simulator.nodes.qa.QANode``), which checks every instance, spools it (fsync + ledger commit) and forwards it to
the same PACS. All paths run in the same bench run, on the same data.

QA node variants: in a child process of its own (like a real deployment: no GIL shared with the sender), with the
default number of forwarding associations (``simulator.nodes.qa.service.FORWARD_ASSOCIATIONS``) and with each of
``--forward-associations`` (default 1 and 4); and in the sender's process (``QANode.start()`` in-process, default
forwarding associations; ``--skip-in-process`` to skip).

PACS: the embedded archive in a child process (fresh data folder for every run), and Orthanc
(``simulator.pacs.orthanc.OrthancBackend``, wiped before every run; ``--skip-orthanc`` to skip). Every QA node
gets a fresh data folder for every run (its ledger would otherwise ignore the second copy of each instance).

Per run: ``ack`` = time until the sender has every C-STORE response; ``to PACS`` = time until the PACS holds every
instance (polled; for the direct path it is the same as ``ack``, the count is only checked). Throughput = bytes /
time to PACS. Added latency = mean C-STORE latency at the sender (journal, ``duration_s``) via QA minus direct,
and time to PACS via QA minus direct. Each figure is the median of ``--repeat`` runs; paths take turns within a
repeat. The target (from the issue): via QA at least 80 % of direct throughput.

Where the time goes, per run: CPU milliseconds per instance (user + system, all threads) of the sender's process
(which includes the QA node in the in-process variant), of the QA node's process and of the PACS's process
(the archive child, or the Orthanc process from /proc), and how busy the whole machine was (/proc/stat: every
process, other work included, in % of all CPUs). Before the runs, the durable writes the QA node makes per
instance are timed alone on the run folder's disk (``--skip-probe`` to skip).

All traffic stays on 127.0.0.1; every server and child process is stopped in a ``finally``. Run from the
repository root::

    .venv/bin/python bench/qa_forward.py [--instances 200] [--repeat 3] [--skip-orthanc] [--json FILE]
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.connection
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchlib import BenchError, ChildProcess, finish, machine_facts, rounded
from pydicom.dataset import Dataset

from simulator.config import Endpoint, OrthancPacsConfig
from simulator.journal import Journal
from simulator.net import DicomClient
from simulator.nodes.archive import EmbeddedArchive
from simulator.nodes.durable import write_durably
from simulator.nodes.qa import QANode
from simulator.nodes.qa.ledger import Ledger, Receipt, State
from simulator.nodes.qa.service import FORWARD_ASSOCIATIONS
from simulator.synth import build_ct_study

HOST = "127.0.0.1"
PACS_AE = "BENCH_PACS"
QA_AE = "BENCH_QA"
SENDER_AE = "CT1"
RUN_TIMEOUT_S = 180.0
TARGET_RATIO = 0.80


# -- child process: an embedded archive or a QA node, restartable on a fresh data folder -------------------------


def cpu_seconds() -> float:
    """User + system CPU seconds of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of another process (Linux /proc), None when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot (/proc/stat, every CPU)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _serve_child(conn: multiprocessing.connection.Connection) -> None:
    """Child process: ('start', spec) starts a node on a fresh folder (stopping the previous one) and answers its
    port; 'count' (archive), 'drain' (QA), 'cpu' (CPU seconds of the child); 'exit' or EOF ends."""
    node: EmbeddedArchive | QANode | None = None
    try:
        while True:
            try:
                command, arg = conn.recv()
            except EOFError:
                break
            if command == "exit":
                break
            if command == "start":
                if node is not None:
                    node.stop()
                    node = None
                data_dir = Path(arg["data_dir"])
                if arg["kind"] == "archive":
                    node = EmbeddedArchive(data_dir, ae_title=PACS_AE)
                else:
                    ae, host, port = arg["forward_to"]
                    node = QANode(data_dir, ae_title=QA_AE, forward_to=Endpoint(ae_title=ae, host=host, port=port),
                                  forward_associations=arg["forward_associations"])
                conn.send(node.start(HOST, 0).port)
            elif command == "count":
                assert isinstance(node, EmbeddedArchive)
                conn.send(len(node.index.sop_instance_uids()))
            elif command == "drain":
                assert isinstance(node, QANode)
                conn.send(node.drain(float(arg)))
            elif command == "cpu":
                conn.send(cpu_seconds())
            else:
                conn.send(f"unknown command {command!r}")
    finally:
        if node is not None:
            node.stop()


def _child(name: str) -> ChildProcess:
    """One spawned Python process running a node (see ``_serve_child``), driven over a pipe."""
    return ChildProcess(name, _serve_child, stop_command="exit", timeout=RUN_TIMEOUT_S)


# -- PACS under test ----------------------------------------------------------------------------------------------


class Pacs(Protocol):
    name: str
    endpoint: Endpoint

    def reset(self, run_dir: Path) -> None: ...

    def count(self) -> int: ...

    def cpu(self) -> float | None: ...

    def stop(self) -> None: ...


class EmbeddedPacs:
    """The embedded archive in a child process; every run on a fresh data folder (same process)."""

    def __init__(self) -> None:
        self.name = "embedded"
        self._child = _child("embedded-archive")
        self.endpoint = Endpoint(ae_title=PACS_AE, host=HOST, port=1)

    def reset(self, run_dir: Path) -> None:
        port = self._child.call("start", {"kind": "archive", "data_dir": str(run_dir / "pacs")}, 60)
        self.endpoint = Endpoint(ae_title=PACS_AE, host=HOST, port=int(port))

    def count(self) -> int:
        return int(self._child.call("count"))

    def cpu(self) -> float | None:
        return float(self._child.call("cpu"))

    def stop(self) -> None:
        self._child.stop()


class OrthancPacs:
    """A managed Orthanc process, wiped before every run; the QA node's AE is registered as a peer."""

    poll_s = 0.02

    def __init__(self, workdir: Path) -> None:
        from simulator.pacs.orthanc import OrthancBackend

        self._backend = OrthancBackend(OrthancPacsConfig(ae_title=PACS_AE), workdir)
        qa_peer = Endpoint(ae_title=QA_AE, host=HOST, port=104)  # the port is only used for C-MOVE to the QA
        try:
            self.endpoint = self._backend.start(peers=[qa_peer], journal=Journal())
        except BaseException:
            self._backend.stop()
            raise
        self.version = self._backend.version
        self.name = f"Orthanc {self.version}".strip()

    def reset(self, run_dir: Path) -> None:
        self._backend.wipe()
        if self.count() != 0:
            raise BenchError(f"{self.name} still holds instances after wipe")

    def count(self) -> int:
        stats = self._backend._get("/statistics")  # cheap, unlike /tools/find with 200 answers
        return int(stats["CountInstances"])

    def cpu(self) -> float | None:
        pid = self._backend.pid
        return None if pid is None else process_cpu_seconds(pid)

    def stop(self) -> None:
        self._backend.stop()


# -- paths: direct, or through a QA node ---------------------------------------------------------------------------


class Route(Protocol):
    name: str

    def prepare(self, pacs: Pacs, run_dir: Path) -> Endpoint: ...

    def cpu(self) -> float | None:
        """CPU seconds of a QA node's own process (None: no such process)."""
        ...

    def finish(self) -> None: ...

    def close(self) -> None: ...


class Direct:
    name = "direct"

    def prepare(self, pacs: Pacs, run_dir: Path) -> Endpoint:
        return pacs.endpoint

    def cpu(self) -> float | None:
        return None

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


class QAInProcess:
    """A QANode started in the sender's process (one interpreter, one GIL for sender and QA node)."""

    def __init__(self, forward_associations: int) -> None:
        self.forward_associations = forward_associations
        self.name = f"via QA in-process, fwd x{forward_associations}"
        self._node: QANode | None = None

    def prepare(self, pacs: Pacs, run_dir: Path) -> Endpoint:
        self.finish()
        self._node = QANode(run_dir / "qa", ae_title=QA_AE, forward_to=pacs.endpoint,
                            forward_associations=self.forward_associations)
        return self._node.start(HOST, 0)

    def cpu(self) -> float | None:
        return None  # counted in the sender's process

    def finish(self) -> None:
        if self._node is not None:
            self._node.stop()
            self._node = None

    def close(self) -> None:
        self.finish()


class QAChild:
    """A QANode in a child process of its own (as deployed: no GIL shared with the sender or the PACS)."""

    def __init__(self, forward_associations: int) -> None:
        self.forward_associations = forward_associations
        self.name = f"via QA process, fwd x{forward_associations}"
        self._child: ChildProcess | None = None

    def prepare(self, pacs: Pacs, run_dir: Path) -> Endpoint:
        if self._child is None:
            self._child = _child(f"qa-fwd{self.forward_associations}")
        to = pacs.endpoint
        port = self._child.call("start", {"kind": "qa", "data_dir": str(run_dir / "qa"),
                                          "forward_to": (to.ae_title, to.host, to.port),
                                          "forward_associations": self.forward_associations}, 60)
        return Endpoint(ae_title=QA_AE, host=HOST, port=int(port))

    def cpu(self) -> float | None:
        return None if self._child is None else float(self._child.call("cpu"))

    def finish(self) -> None:
        pass

    def close(self) -> None:
        if self._child is not None:
            self._child.stop()
            self._child = None


# -- measuring ----------------------------------------------------------------------------------------------------


@dataclass
class Run:
    ack_s: float
    pacs_s: float
    latency_s: float
    cpu_sender_s: float = 0.0
    cpu_qa_s: float | None = None
    cpu_pacs_s: float | None = None
    machine_busy: float | None = None  # share of all CPUs busy during the run (any process)


@dataclass
class Result:
    pacs: str
    path: str
    associations: int
    instances: int
    nbytes: int
    runs: list[Run] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    direct: Result | None = None

    def _median(self, attr: str) -> float | None:
        return statistics.median(getattr(r, attr) for r in self.runs) if self.runs else None

    @property
    def ack_s(self) -> float | None:
        return self._median("ack_s")

    @property
    def pacs_s(self) -> float | None:
        return self._median("pacs_s")

    @property
    def latency_ms(self) -> float | None:
        m = self._median("latency_s")
        return None if m is None else m * 1000

    def cpu_ms(self, attr: str) -> float | None:
        """Median CPU milliseconds per instance of one process (``cpu_sender_s``, ``cpu_qa_s``, ``cpu_pacs_s``)."""
        values = [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]
        return statistics.median(values) * 1000 / self.instances if values else None

    @property
    def machine_busy(self) -> float | None:
        values = [r.machine_busy for r in self.runs if r.machine_busy is not None]
        return statistics.median(values) if values else None

    @property
    def mb_per_s(self) -> float | None:
        m = self.pacs_s
        return self.nbytes / 1e6 / m if m else None

    @property
    def ratio(self) -> float | None:
        if self.direct is None or not self.direct.mb_per_s or not self.mb_per_s:
            return None
        return self.mb_per_s / self.direct.mb_per_s

    @property
    def added_latency_ms(self) -> float | None:
        if self.direct is None or self.direct.latency_ms is None or self.latency_ms is None:
            return None
        return self.latency_ms - self.direct.latency_ms

    @property
    def added_to_pacs_s(self) -> float | None:
        if self.direct is None or self.direct.pacs_s is None or self.pacs_s is None:
            return None
        return self.pacs_s - self.direct.pacs_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "pacs": self.pacs, "path": self.path, "sender_associations": self.associations,
            "instances": self.instances, "bytes": self.nbytes,
            "runs": [{"ack_s": round(r.ack_s, 4), "to_pacs_s": round(r.pacs_s, 4),
                      "mean_store_latency_ms": round(r.latency_s * 1000, 3), "cpu_sender_s": rounded(r.cpu_sender_s),
                      "cpu_qa_s": rounded(r.cpu_qa_s), "cpu_pacs_s": rounded(r.cpu_pacs_s),
                      "machine_busy": rounded(r.machine_busy)} for r in self.runs],
            "median_ack_s": rounded(self.ack_s), "median_to_pacs_s": rounded(self.pacs_s),
            "mb_per_s": rounded(self.mb_per_s), "mean_store_latency_ms": rounded(self.latency_ms),
            "ratio_to_direct": rounded(self.ratio), "added_latency_ms": rounded(self.added_latency_ms),
            "added_to_pacs_s": rounded(self.added_to_pacs_s),
            "cpu_ms_per_instance": {"sender": rounded(self.cpu_ms("cpu_sender_s")),
                                    "qa": rounded(self.cpu_ms("cpu_qa_s")), "pacs": rounded(self.cpu_ms("cpu_pacs_s"))},
            "machine_busy": rounded(self.machine_busy), "errors": self.errors,
        }


def wait_for_count(pacs: Pacs, instances: int, timeout: float) -> int:
    """Poll the PACS until it holds ``instances``; return the last count."""
    poll = getattr(pacs, "poll_s", 0.01)
    deadline = time.perf_counter() + timeout
    while True:
        held = pacs.count()
        if held >= instances or time.perf_counter() > deadline:
            return held
        time.sleep(poll)


def one_run(pacs: Pacs, path: Route, datasets: Sequence[Dataset], associations: int, run_dir: Path) -> Run:
    pacs.reset(run_dir)
    target = path.prepare(pacs, run_dir)
    try:
        journal = Journal()
        client = DicomClient(SENDER_AE, node=SENDER_AE, journal=journal)
        cpu_before = (cpu_seconds(), path.cpu(), pacs.cpu())
        ticks_before = machine_ticks()
        started = time.perf_counter()
        outcomes = client.store(target, list(datasets), associations=associations)
        ack = time.perf_counter() - started
        failed = [o for o in outcomes if not o.ok]
        if failed:
            raise BenchError(f"{len(failed)} C-STORE failures, first: 0x{failed[0].status:04X} {failed[0].meaning}")
        held = wait_for_count(pacs, len(datasets), RUN_TIMEOUT_S)
        to_pacs = time.perf_counter() - started
        ticks_after = machine_ticks()
        cpu_after = (cpu_seconds(), path.cpu(), pacs.cpu())
        if held != len(datasets):
            raise BenchError(f"{pacs.name} holds {held} instances, expected {len(datasets)}")
        stores = journal.select(kind="C-STORE", role="SCU")
        latency = statistics.fmean(e.duration_s for e in stores) if stores else float("nan")
        used = [None if b is None or a is None else a - b for b, a in zip(cpu_before, cpu_after, strict=True)]
        busy, total = (a - b for a, b in zip(ticks_after, ticks_before, strict=True))
        return Run(ack, to_pacs, latency, cpu_sender_s=used[0] or 0.0, cpu_qa_s=used[1], cpu_pacs_s=used[2],
                   machine_busy=busy / total if total else None)
    finally:
        path.finish()


def measure(pacs: Pacs, paths: Sequence[Route], datasets: Sequence[Dataset], senders: Sequence[int], *,
            nbytes: int, repeat: int, tmp: Path) -> list[Result]:
    results: dict[tuple[str, int], Result] = {}
    for path in paths:
        for n in senders:
            results[(path.name, n)] = Result(pacs.name, path.name, n, len(datasets), nbytes)
    serial = 0
    for rep in range(1, repeat + 1):
        for path in paths:
            for n in senders:
                result = results[(path.name, n)]
                serial += 1
                run_dir = tmp / f"run-{serial:03d}"
                started = time.perf_counter()
                label = f"{pacs.name:<16} {path.name:<28} sender x{n}"
                try:
                    run = one_run(pacs, path, datasets, n, run_dir)
                except Exception as exc:  # a bench reports a failed run and carries on
                    error = (f"run {rep} failed after {time.perf_counter() - started:.1f} s: "
                             f"{type(exc).__name__}: {exc}")
                    result.errors.append(error)
                    print(f"  {label} {error}", flush=True)
                    continue
                result.runs.append(run)
                print(f"  {label} run {rep}: ack {run.ack_s:5.2f} s  to PACS {run.pacs_s:5.2f} s "
                      f"{nbytes / 1e6 / run.pacs_s:6.1f} MB/s  C-STORE {run.latency_s * 1000:6.2f} ms  "
                      f"CPU ms/inst {_cpu_triple(run, len(datasets))}  busy {_percent(run.machine_busy)}", flush=True)
    for (name, n), result in results.items():
        if name != Direct.name:
            result.direct = results.get((Direct.name, n))
    return list(results.values())


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _cpu_triple(run: Run, instances: int) -> str:
    def per(value: float | None) -> float | None:
        return None if value is None else value * 1000 / instances

    return "/".join(_ms(per(v)) for v in (run.cpu_sender_s, run.cpu_qa_s, run.cpu_pacs_s))


def print_table(results: Sequence[Result]) -> None:
    header = (f"{'PACS':<16} {'path':<28} {'snd':>3} {'ack s':>6} {'to PACS s':>9} {'MB/s':>6} {'C-STORE ms':>10} "
              f"{'+ms/inst':>8} {'+s PACS':>7} {'÷ direct':>8}  {'CPU ms/inst snd/QA/PACS':>23} {'busy':>5}")
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        if r.ack_s is None or r.pacs_s is None or r.mb_per_s is None or r.latency_ms is None:
            print(f"{r.pacs:<16} {r.path:<28} x{r.associations:<2} every run failed: "
                  f"{r.errors[-1] if r.errors else '?'}")
            continue
        added = f"{r.added_latency_ms:+.2f}" if r.added_latency_ms is not None else "-"
        added_s = f"{r.added_to_pacs_s:+.2f}" if r.added_to_pacs_s is not None else "-"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        if r.ratio is not None:
            ratio += " ok" if r.ratio >= TARGET_RATIO else " <"
        note = f"  ({len(r.errors)} of {len(r.errors) + len(r.runs)} runs failed)" if r.errors else ""
        cpu = "/".join(_ms(r.cpu_ms(a)) for a in ("cpu_sender_s", "cpu_qa_s", "cpu_pacs_s"))
        print(f"{r.pacs:<16} {r.path:<28} x{r.associations:<2} {r.ack_s:6.2f} {r.pacs_s:9.2f} {r.mb_per_s:6.1f} "
              f"{r.latency_ms:10.2f} {added:>8} {added_s:>7} {ratio:>8}  {cpu:>23} {_percent(r.machine_busy):>5}{note}")
    print(f"\n÷ direct = throughput via QA (bytes / time to PACS) ÷ direct throughput, same PACS and sender "
          f"associations; target ≥ {TARGET_RATIO:.2f} ('ok' meets it, '<' misses it). +ms/inst = mean C-STORE "
          "latency at the sender minus direct; +s PACS = time to PACS minus direct. CPU ms/inst = CPU time (user + "
          "system) per instance of the sender's process (with the QA node in it for 'in-process'), the QA node's "
          "process and the PACS's process; busy = share of all CPUs busy during the run, any process.")


# -- the durable writes alone -----------------------------------------------------------------------------------


def durability_probe(folder: Path, nbytes: int, rounds: int = 50) -> dict[str, float]:
    """Median milliseconds of what the QA node writes per accepted instance, each timed alone on ``folder``'s disk:
    the file (write only; + fsync; + rename and folder fsync, as ``write_durably`` does) and the ledger commit
    (``Ledger.record``: one row and three audit events, SQLite WAL with synchronous=FULL)."""
    folder.mkdir(parents=True)
    data = os.urandom(nbytes)
    timings: dict[str, list[float]] = {"write": [], "write + fsync": [], "write + fsync + rename + folder fsync": [],
                                       "ledger commit": []}

    def write(index: int, sync: bool) -> None:
        with open(folder / f"{'f' if sync else 'w'}{index}", "wb") as handle:
            handle.write(data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())

    def commit(index: int) -> None:
        ledger.record(Receipt(f"1.2.3.{index}", "0" * 64, "1.2.3", "P1"), State.QUEUED,
                      [("received", {"bytes": nbytes}), ("verdict", {"action": "accept"}), ("queued", {})])

    actions: dict[str, Callable[[int], None]] = {
        "write": lambda index: write(index, False),
        "write + fsync": lambda index: write(index, True),
        "write + fsync + rename + folder fsync": lambda index: write_durably(folder / f"d{index}", data),
        "ledger commit": commit,
    }
    ledger = Ledger(folder / "ledger")
    try:
        for index in range(rounds):
            for label, action in actions.items():
                started = time.perf_counter()
                action(index)
                timings[label].append(time.perf_counter() - started)
    finally:
        ledger.close()
    return {label: statistics.median(values) * 1000 for label, values in timings.items()}


# -- main ---------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, default=200, help="CT slices in the series (default 200)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per PACS, path and sender; the median is shown")
    parser.add_argument("--skip-orthanc", action="store_true", help="do not measure Orthanc")
    parser.add_argument("--skip-in-process", action="store_true",
                        help="do not measure the QA node running inside the sender's process")
    parser.add_argument("--associations", type=int, default=4, help="parallel associations of the fan-out sender")
    parser.add_argument("--forward-associations", type=int, nargs="*", default=[1, 4],
                        help=f"forwarding associations of more QA node variants (besides the default "
                             f"{FORWARD_ASSOCIATIONS}; none = no variant)")
    parser.add_argument("--skip-probe", action="store_true", help="do not time the durable writes alone first")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if min(args.instances, args.repeat, args.associations, *args.forward_associations) < 1:
        parser.error("--instances, --repeat, --associations and --forward-associations must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    facts = machine_facts()
    print(f"machine: {facts['cpus']} CPUs ({facts['cpu_model']}), Python {facts['python']}, "
          f"pydicom {facts['pydicom']}, pynetdicom {facts['pynetdicom']}")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="radsim-bench-qa-") as tmp_name:
        tmp = Path(tmp_name)
        started = time.perf_counter()
        study = build_ct_study(7, series=1, instances=args.instances, rows=512, columns=512)
        paths_on_disk = study.write(tmp / "series")
        nbytes = sum(p.stat().st_size for p in paths_on_disk)
        print(f"data: 1 CT series, {len(study.datasets)} slices 512x512, {nbytes / 1e6:.1f} MB as Part 10 files "
              f"(built in {time.perf_counter() - started:.1f} s); MB = 10^6 bytes of Part 10 file")

        probe: dict[str, float] | None = None
        if not args.skip_probe:
            probe = durability_probe(tmp / "probe", nbytes // len(study.datasets))
            print("durable writes per instance, each timed alone (median of 50, ms): "
                  + ", ".join(f"{label} {ms:.2f}" for label, ms in probe.items()), flush=True)

        senders = sorted({1, args.associations})
        factories: list[tuple[str, Callable[[], Pacs]]] = [("embedded", EmbeddedPacs)]
        orthanc_version: str | None = None
        if args.skip_orthanc:
            print("Orthanc: skipped (--skip-orthanc)")
        else:
            from simulator.pacs.orthanc import find_binary

            if find_binary(OrthancPacsConfig().binary) is None:
                print("Orthanc binary not found (Debian package 'orthanc'): skipping the Orthanc PACS")
            else:
                factories.append(("Orthanc", lambda: OrthancPacs(tmp / "orthanc")))

        for label, factory in factories:
            print(f"\n{label}: starting", flush=True)
            pacs: Pacs | None = None
            paths: list[Route] = [Direct(), QAChild(FORWARD_ASSOCIATIONS)]
            paths.extend(QAChild(n) for n in dict.fromkeys(args.forward_associations) if n != FORWARD_ASSOCIATIONS)
            if not args.skip_in_process:
                paths.append(QAInProcess(FORWARD_ASSOCIATIONS))
            try:
                pacs = factory()
                if isinstance(pacs, OrthancPacs):
                    orthanc_version = pacs.version
                results.extend(measure(pacs, paths, study.datasets, senders, nbytes=nbytes, repeat=args.repeat,
                                       tmp=tmp / label))
            finally:
                for path in paths:
                    path.close()
                if pacs is not None:
                    pacs.stop()

        print_table(results)
        finish(repeat=args.repeat, seconds=time.perf_counter() - started, facts=facts, orthanc=orthanc_version,
               config={"instances": len(study.datasets), "rows": 512, "columns": 512, "bytes": nbytes,
                       "repeat": args.repeat, "sender_associations": senders,
                       "forward_associations": [FORWARD_ASSOCIATIONS, *args.forward_associations],
                       "target_ratio": TARGET_RATIO},
               results=[r.to_dict() for r in results], json_path=args.json,
               durability_probe_ms=None if probe is None else {k: round(v, 3) for k, v in probe.items()})
    return 0 if all(not r.errors for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
