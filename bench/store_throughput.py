"""C-STORE throughput, modality -> PACS: radsim's sender against DCMTK's storescu, into the same PACS.

One CT series (default 200 slices of 512x512, ~105 MB) is stored into each PACS by every sender:

* radsim's sender (``simulator.net.DicomClient.store``) with in-memory pydicom Datasets and with Part 10 file
  paths (sent without decoding), over 1 and over 4 parallel associations;
* DCMTK ``storescu`` on the same files (``+sd +r DIR``, TCP_NODELAY=1 in its environment).

PACS: the embedded archive, run in a child process of its own (like any PACS it must not share the sender's
GIL), optionally also in-process (``--in-process-embedded``: how radsim's department runs it), and Orthanc
(``simulator.pacs.orthanc.OrthancBackend``). The PACS is wiped before every run and the stored instance count is
checked after it. Each figure is the median of ``--repeat`` runs; the senders take turns within a repeat.

``--profile DIR`` instead runs one radsim sender (datasets, 1 association) against the embedded archive: wall and
CPU time of both processes, then one run under cProfile (thread CPU time, every thread of both processes), and
prints the hotspots of the send and the receive path (``DIR/send.pstats``, ``DIR/receive.pstats``).

All traffic stays on 127.0.0.1; every server is stopped in a ``finally``. Run from the repository root::

    .venv/bin/python bench/store_throughput.py [--instances 200] [--repeat 3] [--skip-orthanc] [--json FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import multiprocessing.connection
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import benchlib
from benchlib import BenchError, ChildProcess, rounded
from pydicom.dataset import Dataset

from simulator.config import Endpoint, OrthancPacsConfig
from simulator.journal import Journal
from simulator.net import DicomClient
from simulator.nodes.archive import EmbeddedArchive
from simulator.synth import build_ct_study

HOST = "127.0.0.1"
PACS_AE = "RADSIM_PACS"
SENDER_AE = "CT1"
STORESCU = "storescu"
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}  # DCMTK leaves Nagle on otherwise: ~40 ms stall per response
RUN_TIMEOUT_S = 300.0


# -- PACS under test ----------------------------------------------------------------------------------------------


class Target(Protocol):
    name: str
    endpoint: Endpoint

    def wipe(self) -> None: ...

    def count(self) -> int: ...

    def stop(self) -> None: ...


def _serve_embedded(conn: multiprocessing.connection.Connection, data_dir: str) -> None:
    """Child process: run the embedded archive; answer wipe / count / profile commands; stop on 'stop' or EOF."""
    archive = EmbeddedArchive(Path(data_dir), ae_title=PACS_AE)
    profiler: ThreadProfiler | None = None
    try:
        endpoint = archive.start(HOST, 0)
        conn.send(endpoint.port)
        while True:
            try:
                command, arg = conn.recv()
            except EOFError:
                break
            if command == "stop":
                break
            if command == "wipe":
                archive.index.wipe()
                conn.send(None)
            elif command == "cpu":
                usage = resource.getrusage(resource.RUSAGE_SELF)
                conn.send(usage.ru_utime + usage.ru_stime)
            elif command == "count":
                conn.send(len(archive.index.sop_instance_uids()))
            elif command == "profile-start":
                profiler = ThreadProfiler()
                profiler.start()
                conn.send(None)
            elif command == "profile-stop":
                assert profiler is not None
                profiler.stop()
                profiler.stats().dump_stats(arg)
                conn.send(None)
            else:
                conn.send(f"unknown command {command!r}")
    finally:
        archive.stop()


class EmbeddedChild:
    """The embedded archive in a process of its own, driven over a pipe."""

    def __init__(self, data_dir: Path) -> None:
        self.name = "embedded"
        self._child = ChildProcess("embedded-archive", _serve_embedded, str(data_dir), timeout=RUN_TIMEOUT_S)
        try:
            port = int(self._child.receive("its port", timeout=60))
        except BenchError:
            self._child.stop()
            raise
        self.endpoint = Endpoint(ae_title=PACS_AE, host=HOST, port=port)

    def call(self, command: str, arg: Any = None) -> Any:
        return self._child.call(command, arg)

    def wipe(self) -> None:
        self.call("wipe")

    def count(self) -> int:
        return int(self.call("count"))

    def stop(self) -> None:
        self._child.stop()


class EmbeddedInProcess:
    """The embedded archive in this process (sender and receiver share one interpreter and its GIL)."""

    def __init__(self, data_dir: Path) -> None:
        self.name = "embedded (in-process)"
        self._archive = EmbeddedArchive(data_dir, ae_title=PACS_AE)
        self.endpoint = self._archive.start(HOST, 0)

    def wipe(self) -> None:
        self._archive.index.wipe()

    def count(self) -> int:
        return len(self._archive.index.sop_instance_uids())

    def stop(self) -> None:
        self._archive.stop()


class OrthancTarget:
    """A managed Orthanc process (the backend sets TCP_NODELAY=1 for it)."""

    def __init__(self, workdir: Path) -> None:
        from simulator.pacs.orthanc import OrthancBackend

        self._backend = OrthancBackend(OrthancPacsConfig(ae_title=PACS_AE), workdir)
        try:
            self.endpoint = self._backend.start(peers=[], journal=Journal())
        except BaseException:
            self._backend.stop()
            raise
        self.version = self._backend.version
        self.name = f"Orthanc {self.version}".strip()

    def wipe(self) -> None:
        self._backend.wipe()

    def count(self) -> int:
        return len(self._backend.sop_instance_uids())

    def stop(self) -> None:
        self._backend.stop()


# -- senders ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sender:
    name: str
    send: Callable[[Endpoint], None]


def radsim_sender(items: Sequence[Dataset | Path], associations: int, kind: str) -> Sender:
    def send(endpoint: Endpoint) -> None:
        client = DicomClient(SENDER_AE, node=SENDER_AE)
        outcomes = client.store(endpoint, list(items), associations=associations)
        failed = [o for o in outcomes if not o.ok]
        if failed:
            raise BenchError(f"{len(failed)} C-STORE failures, first: 0x{failed[0].status:04X} {failed[0].meaning}")

    return Sender(f"radsim {kind} x{associations}", send)


def storescu_sender(binary: str, folder: Path) -> Sender:
    def send(endpoint: Endpoint) -> None:
        command = [binary, "-aet", SENDER_AE, "-aec", endpoint.ae_title, "+sd", "+r",
                   endpoint.host, str(endpoint.port), str(folder)]
        done = subprocess.run(command, env=DCMTK_ENV, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                              check=False)
        if done.returncode != 0:
            raise BenchError(f"storescu exited with {done.returncode}: {(done.stderr or done.stdout)[-500:]}")

    return Sender("storescu", send)


# -- measuring ----------------------------------------------------------------------------------------------------


@dataclass
class Result:
    pacs: str
    sender: str
    instances: int
    nbytes: int
    runs_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ratio_to_storescu: float | None = None

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.runs_s) if self.runs_s else None

    @property
    def mb_per_s(self) -> float | None:
        m = self.median_s
        return self.nbytes / 1e6 / m if m else None

    @property
    def instances_per_s(self) -> float | None:
        m = self.median_s
        return self.instances / m if m else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pacs": self.pacs, "sender": self.sender, "instances": self.instances, "bytes": self.nbytes,
            "runs_s": [round(r, 4) for r in self.runs_s], "median_s": rounded(self.median_s),
            "mb_per_s": rounded(self.mb_per_s), "instances_per_s": rounded(self.instances_per_s),
            "ratio_to_storescu": rounded(self.ratio_to_storescu), "errors": self.errors,
        }


def measure(target: Target, senders: Sequence[Sender], *, instances: int, nbytes: int, repeat: int) -> list[Result]:
    results = {s.name: Result(target.name, s.name, instances, nbytes) for s in senders}
    for rep in range(1, repeat + 1):
        for sender in senders:
            result = results[sender.name]
            target.wipe()
            if target.count() != 0:
                raise BenchError(f"{target.name} still holds instances after wipe")
            started = time.perf_counter()
            try:
                sender.send(target.endpoint)
                elapsed = time.perf_counter() - started
                held = target.count()
                if held != instances:
                    raise BenchError(f"{target.name} holds {held} instances after the run, expected {instances}")
            except Exception as exc:  # a bench reports a failed run and carries on
                error = f"run {rep} failed after {time.perf_counter() - started:.1f} s: {type(exc).__name__}: {exc}"
                result.errors.append(error)
                print(f"  {target.name:<22} {sender.name:<22} {error}", flush=True)
                continue
            result.runs_s.append(elapsed)
            print(f"  {target.name:<22} {sender.name:<22} run {rep}: {elapsed:6.2f} s "
                  f"{nbytes / 1e6 / elapsed:7.1f} MB/s", flush=True)
    reference = results.get("storescu")
    ref_rate = reference.mb_per_s if reference else None
    for result in results.values():
        if ref_rate and result.mb_per_s:
            result.ratio_to_storescu = result.mb_per_s / ref_rate
    target.wipe()
    return list(results.values())


def print_table(results: Sequence[Result]) -> None:
    header = f"{'PACS':<22} {'sender':<22} {'MB/s':>7} {'inst/s':>7} {'median s':>9} {'x storescu':>10}"
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        if r.median_s is None or r.mb_per_s is None or r.instances_per_s is None:
            print(f"{r.pacs:<22} {r.sender:<22} every run failed: {r.errors[-1] if r.errors else '?'}")
            continue
        ratio = f"{r.ratio_to_storescu:.2f}" if r.ratio_to_storescu is not None else "-"
        note = f"  ({len(r.errors)} of {len(r.errors) + len(r.runs_s)} runs failed)" if r.errors else ""
        print(f"{r.pacs:<22} {r.sender:<22} {r.mb_per_s:7.1f} {r.instances_per_s:7.1f} {r.median_s:9.2f} "
              f"{ratio:>10}{note}")


# -- profiling ----------------------------------------------------------------------------------------------------


class ThreadProfiler:
    """cProfile for the calling thread and for every thread started while it is active.

    pynetdicom does its work in its own threads (association reactor, DUL, per-connection server threads), which
    a plain ``cProfile.Profile`` on the calling thread would not see. The clock is each thread's CPU time
    (``time.thread_time``), so the figures show work done, not time spent polling or waiting for the peer.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._main = cProfile.Profile(time.thread_time)
        self.profiles: list[cProfile.Profile] = [self._main]

    def _hook(self, frame: FrameType, event: str, arg: Any) -> None:
        sys.setprofile(None)
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self.profiles.append(profile)
        profile.enable()

    def start(self) -> None:
        threading.setprofile(self._hook)
        self._main.enable()

    def stop(self) -> None:
        self._main.disable()
        threading.setprofile(None)

    def stats(self) -> pstats.Stats:
        stats = pstats.Stats(self._main)
        for profile in self.profiles[1:]:
            try:
                stats.add(profile)
            except TypeError:  # a thread that recorded nothing
                continue
        return stats


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_profile(out_dir: Path, datasets: Sequence[Dataset], data_dir: Path, top: int) -> None:
    """One radsim sender run (datasets, 1 association) -> embedded archive child, CPU-profiled on both sides."""
    out_dir.mkdir(parents=True, exist_ok=True)
    send_file, recv_file = out_dir / "send.pstats", out_dir / "receive.pstats"
    sender = radsim_sender(datasets, 1, "datasets")
    target = EmbeddedChild(data_dir)
    try:
        target.wipe()
        sender.send(target.endpoint)  # warm-up
        print("unprofiled runs: wall time and CPU time of each process (user + system, all threads)")
        for _ in range(2):
            target.wipe()
            cpu_send, cpu_recv = _cpu_seconds(), float(target.call("cpu"))
            started = time.perf_counter()
            sender.send(target.endpoint)
            wall = time.perf_counter() - started
            cpu_send, cpu_recv = _cpu_seconds() - cpu_send, float(target.call("cpu")) - cpu_recv
            print(f"  wall {wall:.2f} s   sender CPU {cpu_send:.2f} s   archive CPU {cpu_recv:.2f} s")
        target.wipe()
        target.call("profile-start")
        profiler = ThreadProfiler()
        profiler.start()
        started = time.perf_counter()
        try:
            sender.send(target.endpoint)
        finally:
            profiler.stop()
        elapsed = time.perf_counter() - started
        profiler.stats().dump_stats(str(send_file))
        target.call("profile-stop", str(recv_file))
        if target.count() != len(datasets):
            raise BenchError("the profiled run did not store every instance")
    finally:
        target.stop()
    print(f"profiled run: radsim datasets x1 -> embedded (child process), {len(datasets)} instances, "
          f"{elapsed:.2f} s wall under cProfile; figures below are thread CPU seconds, all threads summed")
    for title, path in (("SEND path (radsim DicomClient.store)", send_file),
                        ("RECEIVE path (embedded archive)", recv_file)):
        for order in ("tottime", "cumulative"):
            print(f"\n===== {title}: top {top} by {order} ({path}) =====")
            pstats.Stats(str(path)).strip_dirs().sort_stats(order).print_stats(top)


# -- main ---------------------------------------------------------------------------------------------------------


def _tool_version(command: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return lines[0].strip() if lines else "unknown"


def machine_facts() -> dict[str, Any]:
    storescu = shutil.which(STORESCU)
    return benchlib.machine_facts(dcmtk=_tool_version([storescu, "--version"]) if storescu else None)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, default=200, help="CT slices in the series (default 200)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per PACS and sender; the median is reported")
    parser.add_argument("--skip-orthanc", action="store_true", help="do not measure Orthanc")
    parser.add_argument("--in-process-embedded", action="store_true",
                        help="also measure the embedded archive running inside the sender's process")
    parser.add_argument("--associations", type=int, default=4, help="parallel associations of the fan-out senders")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="only profile one radsim sender run against the embedded archive; write .pstats here")
    parser.add_argument("--top", type=int, default=25, help="rows per profile listing (with --profile)")
    args = parser.parse_args(argv)
    if args.instances < 1 or args.repeat < 1 or args.associations < 1:
        parser.error("--instances, --repeat and --associations must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    facts = machine_facts()
    print(f"machine: {facts['cpus']} CPUs ({facts['cpu_model']}), Python {facts['python']}, "
          f"pydicom {facts['pydicom']}, pynetdicom {facts['pynetdicom']}, DCMTK: {facts['dcmtk'] or 'not installed'}")
    with tempfile.TemporaryDirectory(prefix="radsim-bench-") as tmp_name:
        tmp = Path(tmp_name)
        started = time.perf_counter()
        study = build_ct_study(7, series=1, instances=args.instances, rows=512, columns=512)
        files_dir = tmp / "series"
        paths = study.write(files_dir)
        nbytes = sum(p.stat().st_size for p in paths)
        print(f"data: 1 CT series, {len(paths)} slices 512x512, {nbytes / 1e6:.1f} MB as Part 10 files "
              f"(built in {time.perf_counter() - started:.1f} s); MB = 10^6 bytes of Part 10 file")

        if args.profile:
            run_profile(args.profile, study.datasets, tmp / "profile-archive", args.top)
            return 0

        senders = [
            radsim_sender(study.datasets, 1, "datasets"),
            radsim_sender(study.datasets, args.associations, "datasets"),
            radsim_sender(paths, 1, "files"),
            radsim_sender(paths, args.associations, "files"),
        ]
        storescu = shutil.which(STORESCU)
        if storescu:
            senders.append(storescu_sender(storescu, files_dir))
        else:
            print("storescu not found on PATH (Debian package 'dcmtk'): skipping the storescu sender "
                  "and the ratios to it")

        factories: list[tuple[str, Callable[[], Target]]] = [("embedded", lambda: EmbeddedChild(tmp / "embedded"))]
        if args.in_process_embedded:
            factories.append(("embedded (in-process)", lambda: EmbeddedInProcess(tmp / "embedded-in-process")))
        orthanc_version: str | None = None
        if args.skip_orthanc:
            print("Orthanc: skipped (--skip-orthanc)")
        else:
            from simulator.pacs.orthanc import find_binary

            if find_binary(OrthancPacsConfig().binary) is None:
                print("Orthanc binary not found (Debian package 'orthanc'): skipping the Orthanc PACS")
            else:
                factories.append(("Orthanc", lambda: OrthancTarget(tmp / "orthanc")))

        results: list[Result] = []
        for label, factory in factories:
            print(f"\n{label}: starting", flush=True)
            target: Target | None = None
            try:
                target = factory()
                if isinstance(target, OrthancTarget):
                    orthanc_version = target.version
                print(f"{target.name}: listening at {target.endpoint}", flush=True)
                results.extend(measure(target, senders, instances=len(paths), nbytes=nbytes, repeat=args.repeat))
            finally:
                if target is not None:
                    target.stop()

        print_table(results)
        benchlib.finish(repeat=args.repeat, seconds=time.perf_counter() - started, facts=facts,
                        orthanc=orthanc_version,
                        config={"instances": len(paths), "rows": 512, "columns": 512, "bytes": nbytes,
                                "repeat": args.repeat, "associations": args.associations},
                        results=[r.to_dict() for r in results], json_path=args.json)
    return 0 if all(not r.errors for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
