"""Durable file writes shared by the nodes that acknowledge only what is on disk (archive, QA spool)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simulator.synth.uids import uid_file_stem

__all__ = ["DurableDatabase", "fsync_dir", "uid_file_stem", "write_durably"]


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (POSIX needs the directory itself fsynced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(final: Path, data: bytes | Sequence[bytes]) -> None:
    """Write ``data`` to ``final`` so that after a crash the file is either absent or complete.

    The bytes go to a hidden temporary file in the same folder, are fsynced, renamed into place, and the folder
    is fsynced.
    """
    tmp = final.with_name(f".{final.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    with open(tmp, "wb") as handle:
        for chunk in [data] if isinstance(data, bytes) else data:
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)


class DurableDatabase:
    """One SQLite connection shared by threads behind a lock, in WAL mode with synchronous=FULL: a committed
    transaction is on disk when ``transaction()`` returns (what the nodes rely on before acknowledging)."""

    def __init__(self, path: Path, schema: str, *,
                 functions: Mapping[str, Callable[[Any], Any]] | None = None) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA busy_timeout=30000")
        for name, function in (functions or {}).items():
            self.db.create_function(name, 1, function, deterministic=True)
        with self.lock:
            self.db.executescript(schema)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT under the lock; ROLLBACK if the body raises."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
