"""Durable file writes shared by the nodes that acknowledge only what is on disk (archive, QA spool)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from simulator.synth.uids import is_valid_uid


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


def uid_file_stem(uid: str) -> str:
    """A file name for ``uid``: the UID itself when valid (PS3.5 9.1), else a digest, so that a defective UID
    can neither escape its folder nor collide with another one."""
    if is_valid_uid(uid):
        return uid
    return "invalid-" + hashlib.sha256(uid.encode("utf-8", "surrogateescape")).hexdigest()[:32]
