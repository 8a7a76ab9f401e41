"""The QA node's durable queue: an accepted instance is on disk (fsynced) before it is acknowledged.

Layout: ``<data>/queue/<destination>/<sequence>-<sop uid>.dcm``. A file leaves the queue only after the
destination acknowledged it; on restart, what is still queued is sent again.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from simulator.nodes.durable import uid_file_stem, write_durably


@dataclass(frozen=True)
class SpooledInstance:
    path: Path
    sop_instance_uid: str


class Spool:
    """Per-destination folders of Part 10 files, ordered by a sequence number in the name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._counter = itertools.count(time.time_ns())

    def _folder(self, destination: str) -> Path:
        folder = self.root / "queue" / destination
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def put(self, destination: str, sop_instance_uid: str, part10: bytes | Sequence[bytes]) -> SpooledInstance:
        folder = self._folder(destination)
        with self._lock:
            sequence = next(self._counter)
        final = folder / f"{sequence:020d}-{uid_file_stem(sop_instance_uid)}.dcm"
        write_durably(final, part10)
        return SpooledInstance(final, sop_instance_uid)

    def pending(self, destination: str, limit: int | None = None) -> list[SpooledInstance]:
        folder = self._folder(destination)
        names = sorted(p.name for p in folder.iterdir() if p.suffix == ".dcm" and not p.name.startswith("."))
        if limit is not None:
            names = names[:limit]
        return [SpooledInstance(folder / n, n.split("-", 1)[1][:-4]) for n in names]

    def done(self, item: SpooledInstance) -> None:
        item.path.unlink(missing_ok=True)

    def park(self, item: SpooledInstance, reason: str) -> Path:
        """Move an instance the destination refused to ``failed/`` with a note; it is kept, not dropped."""
        failed = self.root / "failed"
        failed.mkdir(parents=True, exist_ok=True)
        target = failed / item.path.name
        os.replace(item.path, target)
        target.with_suffix(".txt").write_text(reason + "\n", encoding="utf-8")
        return target

    def count(self, destination: str) -> int:
        return len(self.pending(destination))
