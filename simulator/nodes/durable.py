"""Durable file writes shared by the nodes that acknowledge only what is on disk (archive, QA spool)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from simulator.synth.uids import uid_file_stem

__all__ = ["fsync_dir", "uid_file_stem", "write_durably"]


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
