"""Every exchange the department sees: associations and DIMSE operations, with status, bytes and timing.

One journal feeds scenario assertions, reports and load statistics. It is thread-safe: SCP handlers record
from pynetdicom's threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Exchange:
    """One recorded event.

    ``kind`` is an operation name (``C-STORE``, ``C-FIND`` ..., or ``ASSOCIATION``); ``role`` is ``SCU`` when
    ``node`` initiated it and ``SCP`` when ``node`` answered it.
    """

    node: str
    kind: str
    role: str
    local_ae: str
    peer_ae: str
    peer_host: str
    peer_port: int
    status: int | None
    meaning: str
    started: float
    duration_s: float
    bytes: int = 0
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Success, a warning (0xBxxx), or Cancel (0xFE00, PS3.7 C.3): a cancel is what the caller asked for."""
        return self.status is not None and (self.status in (0x0000, 0xFE00) or (self.status & 0xF000) == 0xB000)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = None if self.status is None else f"0x{self.status:04X}"
        return data


# Kinds of exchange that carry no DIMSE status of their own: never counted as failures.
_NO_DIMSE_STATUS = frozenset({"ASSOCIATION", "TRANSCODE"})


class Journal:
    """An append-only, thread-safe list of exchanges."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[Exchange] = []
        self._origin = time.time()

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self._entries.append(exchange)

    def entries(self, predicate: Callable[[Exchange], bool] | None = None) -> list[Exchange]:
        with self._lock:
            snapshot = list(self._entries)
        return [e for e in snapshot if predicate is None or predicate(e)]

    def select(self, *, node: str | None = None, kind: str | None = None,
               role: str | None = None) -> list[Exchange]:
        return self.entries(
            lambda e: (node is None or e.node == node) and (kind is None or e.kind == kind)
            and (role is None or e.role == role)
        )

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self.entries())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def to_list(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.entries()]

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per operation kind: count, failures, bytes and mean latency (seconds)."""
        out: dict[str, dict[str, Any]] = {}
        for entry in self.entries():
            if entry.role != "SCU":
                continue
            row = out.setdefault(entry.kind, {"count": 0, "failed": 0, "bytes": 0, "total_s": 0.0})
            row["count"] += 1
            row["failed"] += 0 if entry.ok or entry.kind in _NO_DIMSE_STATUS else 1
            row["bytes"] += entry.bytes
            row["total_s"] += entry.duration_s
        for row in out.values():
            row["mean_latency_ms"] = round(1000 * row.pop("total_s") / max(row["count"], 1), 3)
        return out
