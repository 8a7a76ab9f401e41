"""RSNA CTN 3.2.0's ``archive_server`` (Debian package ctn) set up from scratch as a PACS for tests.

CTN keeps its configuration and image index in SQL databases. Each run gets a private MariaDB (Debian's
mariadb-server) in a folder of its own: ``--no-defaults`` and ``--skip-networking``, reached only through a unix
socket, which CTN's client library finds through ``MYSQL_UNIX_PORT``. CTN logs in as user ``ctn`` with password
``ctn`` (compiled in). The databases come from Debian's scripts in /usr/share/ctn/mysql, in the single-byte
``latin1`` character set for every connection, so that CTN can store a name's bytes whatever its Specific
Character Set (with MariaDB's default utf8mb4, an ISO 2022 IR 149 name is refused and CTN answers 0xA700).
Our AEs are rows of its control tables (ApplicationEntity, SecurityMatrix, StorageControl). The archive AE is
registered on the node name ``gethostname()`` gives, because Debian's build cannot take another (its ``-n``
option is unusable).

``archive_server`` binds every interface, as Orthanc does, and forks one process per association; it runs in a
session of its own so that stopping it stops its children. It exits with status 0 when it cannot reach the
database, so readiness is a C-ECHO, with both logs attached when it fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulator.config import Endpoint
from simulator.errors import NetworkError
from simulator.net import DicomClient
from simulator.net.ports import free_port
from simulator.net.scu import Timeouts
from tests.conftest import require, require_binary

SCRIPTS = Path("/usr/share/ctn/mysql")
READY_TIMEOUT_S = 30.0
IMAGE_TABLES = ("PatientLevel", "StudyLevel", "SeriesLevel", "ImageLevel", "InstanceTable")
FIS_TABLES = ("PatientTable", "StudyTable", "StudyCmpTable", "StudyCmpSeriesTable", "StudyCmpImageTable",
              "ResultsTable", "InterpretationTable", "StorageCommitReq", "CommitSOPRef", "WorkQueue")
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


@dataclass
class CtnServer:
    """A running archive_server and its database."""

    endpoint: Endpoint
    folder: Path
    socket_path: Path
    images: Path
    process: subprocess.Popen[bytes]

    def sql(self, database: str, statements: str) -> None:
        """Run ``statements`` in ``database`` as CTN's own user."""
        _mariadb(self.socket_path, statements, database=database, user="ctn")

    def wipe(self) -> None:
        """Forget every stored study: empty the image index, the FIS work tables and the image folder (the server
        keeps running; each association's process reads the database afresh). AE registrations stay."""
        self.sql("CTNImages", " ".join(f"DELETE FROM {table};" for table in IMAGE_TABLES))
        self.sql("CTNFis", " ".join(f"DELETE FROM {table};" for table in FIS_TABLES))
        for child in self.images.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()

    def log(self) -> str:
        """The end of archive_server's log and of mariadbd's error log."""
        parts = [(self.folder / name) for name in ("archive_server.log", "mysqld.err")]
        return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:] for p in parts if p.exists())


def _mariadb(sock: Path, statements: str, *, database: str | None = None, user: str = "root") -> None:
    argv = ["mariadb", "--no-defaults", "-S", str(sock), f"-u{user}"]
    if user == "ctn":
        argv.append("-pctn")
    if database:
        argv.append(database)
    result = subprocess.run(argv, input=statements, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"mariadb {database or ''}: {result.stderr.strip()}")


def require_ctn() -> None:
    """Skip (or fail under RADSIM_REQUIRE_REAL=1) unless CTN and MariaDB are installed."""
    require_binary("archive_server", "ctn")
    require_binary("mariadbd", "mariadb-server")
    require_binary("mariadb-install-db", "mariadb-server")
    require_binary("mariadb", "mariadb-client")
    require(SCRIPTS.is_dir(), f"{SCRIPTS} not found: install the Debian package 'ctn'")


def _stop_group(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
    with suppress(ProcessLookupError):  # the children an association forked
        os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def running_ctn(tmp_path: Path, *, ae_title: str, peers: Mapping[str, tuple[str, int]],
                callers: Sequence[str]) -> Iterator[CtnServer]:
    """CTN's archive_server as ``ae_title`` on a free port, set up from scratch in ``tmp_path/ctn``, knowing
    ``peers`` (AE title -> host, port: C-MOVE destinations, which may also call it) and ``callers`` (AE titles
    allowed to store, query and retrieve; they are registered on 127.0.0.1). Ready once the first caller's C-ECHO
    is answered; archive_server (with the processes it forked) and mariadbd are stopped on exit."""
    require_ctn()
    folder = tmp_path / "ctn"
    folder.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="ctn-") as short:
        # A unix socket path must be short; pytest's tmp_path can be too long for one.
        sock = folder / "mysql.sock"
        if len(str(sock)) > SOCKET_PATH_MAX:
            sock = Path(short) / "mysql.sock"
        with _running(folder, sock, ae_title, peers, callers) as server:
            yield server


@contextmanager
def _running(folder: Path, sock: Path, ae_title: str, peers: Mapping[str, tuple[str, int]],
             callers: Sequence[str]) -> Iterator[CtnServer]:
    images = folder / "images"
    images.mkdir()
    data = folder / "mysql-data"
    as_root = ["--user=root"] if os.geteuid() == 0 else []  # mariadbd refuses to run as root without it
    install = subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", *as_root,
                              "--auth-root-authentication-method=normal", "--skip-test-db"],
                             capture_output=True, text=True, timeout=120)
    if install.returncode != 0:
        pytest.fail(f"mariadb-install-db failed:\n{install.stdout}\n{install.stderr}")
    mysqld_log = (folder / "mysqld.out").open("wb")
    mysqld = subprocess.Popen(["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={sock}",
                               f"--pid-file={folder / 'mysqld.pid'}", "--skip-networking", *as_root,
                               f"--log-error={folder / 'mysqld.err'}", "--skip-name-resolve",
                               "--innodb-buffer-pool-size=32M", "--performance-schema=OFF", "--skip-log-bin",
                               # CTN's client asks for utf8mb4 and then sends a name's raw bytes: keep latin1 for
                               # every connection, which takes any byte.
                               "--character-set-server=latin1", "--collation-server=latin1_swedish_ci",
                               "--skip-character-set-client-handshake"],
                              stdout=mysqld_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              start_new_session=True)
    archive: subprocess.Popen[bytes] | None = None
    log = (folder / "archive_server.log").open("wb")
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            ping = subprocess.run(["mariadb-admin", "--no-defaults", "-S", str(sock), "-uroot", "ping"],
                                  capture_output=True, timeout=10)
            if ping.returncode == 0:
                break
            if mysqld.poll() is not None or time.monotonic() > deadline:
                err = (folder / "mysqld.err").read_text(errors="replace") if (folder / "mysqld.err").exists() else ""
                pytest.fail(f"mariadbd did not start:\n{err[-2000:]}")
            time.sleep(0.1)
        _mariadb(sock, "CREATE USER 'ctn'@'localhost' IDENTIFIED BY 'ctn';"
                       "GRANT ALL PRIVILEGES ON *.* TO 'ctn'@'localhost';"
                       + " ".join(f"CREATE DATABASE {name} CHARACTER SET latin1;"
                                  for name in ("CTNControl", "CTNImages", "CTNFis")))
        for database, script in (("CTNControl", "CreateControlTables.script"), ("CTNImages", "CreateDIMTables.script"),
                                 ("CTNFis", "CreateFISTables.script")):
            _mariadb(sock, (SCRIPTS / script).read_text(), database=database, user="ctn")
        port = free_port()
        node = socket.gethostname()
        rows = [f"INSERT INTO ApplicationEntity (Title,Node,Port,Comment,Organization) VALUES "
                f"({_quote(ae_title)},{_quote(node)},{port},'archive under test','RADSIM');",
                f"INSERT INTO StorageAccess (Title,DbKey,Owner,GroupName,Access,Comment) VALUES "
                f"({_quote(ae_title)},'CTNImages','','',0,'');",
                f"INSERT INTO FISAccess (Title,DbKey,Owner,GroupName,Access,Comment) VALUES "
                f"({_quote(ae_title)},'CTNFis','','',0,'');"]
        everyone: dict[str, tuple[str, int]] = {ae: ("127.0.0.1", 0) for ae in callers}
        everyone.update(peers)
        for ae, (host, peer_port) in everyone.items():
            rows += [f"INSERT INTO ApplicationEntity (Title,Node,Port,Comment,Organization) VALUES "
                     f"({_quote(ae)},{_quote(host)},{peer_port},'radsim','RADSIM');",
                     f"INSERT INTO SecurityMatrix (RequestingTitle,RespondingTitle) VALUES "
                     f"({_quote(ae)},{_quote(ae_title)});",
                     f"INSERT INTO StorageControl (RequestingTitle,RespondingTitle,Medium,Root,NextDirectory,Access) "
                     f"VALUES ({_quote(ae)},{_quote(ae_title)},'disk',{_quote(str(images))},'','');"]
        _mariadb(sock, "\n".join(rows), database="CTNControl", user="ctn")
        binary = shutil.which("archive_server")
        assert binary is not None
        archive = subprocess.Popen([binary, "-q", str(port)], cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True,
                                   env={**os.environ, "MYSQL_UNIX_PORT": str(sock), "TCP_NODELAY": "1"})
        server = CtnServer(Endpoint(ae_title=ae_title, port=port), folder, sock, images, archive)
        client = DicomClient(next(iter(everyone), "RADSIM_PROBE"), node="probe",
                             timeouts=Timeouts(acse=3, dimse=3, network=3))
        while True:
            if archive.poll() is not None:
                pytest.fail(f"archive_server exited with code {archive.returncode}:\n{server.log()}")
            try:
                client.echo(server.endpoint)
                break
            except NetworkError as exc:
                if time.monotonic() > deadline:
                    pytest.fail(f"archive_server did not answer C-ECHO in {READY_TIMEOUT_S:.0f}s ({exc}):\n"
                                f"{server.log()}")
            time.sleep(0.1)
        yield server
    finally:
        if archive is not None:
            _stop_group(archive)
        _stop_group(mysqld, timeout=30)
        mysqld_log.close()
        log.close()
