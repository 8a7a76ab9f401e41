"""Drains one destination's spool over C-STORE, with retries and exponential backoff.

An instance leaves the spool only when the destination answered success or warning; a failure status parks it
in ``failed/`` with the reason (kept, not dropped); a network error leaves it queued and retries later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from simulator.config import Endpoint
from simulator.errors import NetworkError
from simulator.net import DicomClient
from simulator.nodes.qa.spool import Spool

LOG = logging.getLogger(__name__)

BATCH = 64


class Forwarder:
    """A background thread forwarding ``spool``'s queue for ``destination_name`` to ``endpoint()``."""

    def __init__(self, spool: Spool, destination_name: str, endpoint: Callable[[], Endpoint | None],
                 client: DicomClient, *, max_backoff_s: float = 30.0, associations: int = 1) -> None:
        self.spool = spool
        self.destination_name = destination_name
        self._endpoint = endpoint
        self.client = client
        self.max_backoff_s = max_backoff_s
        self.associations = associations
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        self.forwarded = 0
        self.parked = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"forward-{self.destination_name}")
        self._thread.start()

    def notify(self) -> None:
        """Something was queued: wake the worker now instead of at its next backoff tick."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def drain(self, timeout: float) -> bool:
        """Block until the queue is empty (True) or ``timeout`` passes (False)."""
        self.notify()
        with self._idle:
            return self._idle.wait_for(
                lambda: not self._busy and self.spool.count(self.destination_name) == 0, timeout)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            endpoint = self._endpoint()
            batch = self.spool.pending(self.destination_name, limit=BATCH) if endpoint else []
            if not batch:
                with self._idle:
                    self._busy = False
                    self._idle.notify_all()
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            with self._idle:
                self._busy = True
            assert endpoint is not None
            try:
                outcomes = self.client.store(endpoint, [item.path for item in batch],
                                             associations=self.associations)
            except NetworkError as exc:
                self.last_error = str(exc)
                LOG.warning("forwarding to %s failed, retrying in %.1fs: %s", endpoint, backoff, exc)
                self._wake.wait(timeout=backoff)
                self._wake.clear()
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            backoff = 0.5
            self.last_error = None
            for item, outcome in zip(batch, outcomes, strict=True):
                if outcome.ok:
                    self.spool.done(item)
                    self.forwarded += 1
                else:
                    reason = (f"{endpoint} answered 0x{outcome.status:04X} ({outcome.meaning})"
                              + (f": {outcome.comment}" if outcome.comment else ""))
                    self.spool.park(item, reason)
                    self.parked += 1
