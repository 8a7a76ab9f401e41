"""Drains one destination's spool over C-STORE, with retries and exponential backoff.

Accounting is per instance (see ``Forwarder._account``): an instance leaves the spool as soon as the destination
answered it with success or warning, even when another instance of the same batch, or another association, then
failed; a failure status parks it in ``failed/`` with the reason (kept, not dropped), and so does a refusal that
the destination's configuration makes permanent (no presentation context for its SOP class or syntax, after the
sender tried transcoding to a syntax it accepts), so one unsendable instance never holds the queue; what got no
answer stays queued and is retried later, with exponential backoff when nothing at all got through.

With a ledger, each outcome is recorded there too: the file leaves the queue first and the ledger hears second,
so a crash in between is repaired at restart (a queued row without its file was forwarded), never the reverse.

Each batch goes over one association (or ``associations`` parallel ones). Setting one up costs far more than a
C-STORE (measured against the embedded archive: ~75 ms, most of it the acceptor's CPU, against ~5-10 ms to send a
512x512 CT slice), so when fewer than ``min_batch`` instances wait while more keep arriving, the forwarder gathers
them for a moment (``linger_s``, ended early by ``quiet_s`` without a new one or ``min_batch`` reached) rather
than open an association for every few. With a backlog it sends at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from simulator.config import Endpoint
from simulator.errors import NetworkError
from simulator.net import DicomClient, StoreInterrupted, StoreOutcome
from simulator.net.status import is_out_of_resources
from simulator.nodes.qa.ledger import Ledger
from simulator.nodes.qa.spool import Spool, SpooledInstance, file_facts
from simulator.synth.uids import is_valid_uid

LOG = logging.getLogger(__name__)

BATCH = 256
MIN_BATCH = 32
LINGER_S = 0.25
QUIET_S = 0.05
# Attempts on which the destination refused every presentation context of the association before an instance is
# parked (a limit on simultaneous associations passes; a SOP class it never accepts does not).
REFUSAL_LIMIT = 5


class Forwarder:
    """A background thread forwarding ``spool``'s queue for ``destination_name`` to ``endpoint()``."""

    def __init__(self, spool: Spool, destination_name: str, endpoint: Callable[[], Endpoint | None],
                 client: DicomClient, *, max_backoff_s: float = 30.0, associations: int = 1,
                 ledger: Ledger | None = None, batch: int = BATCH, min_batch: int = MIN_BATCH,
                 linger_s: float = LINGER_S, quiet_s: float = QUIET_S, refusal_limit: int = REFUSAL_LIMIT) -> None:
        self.spool = spool
        self.ledger = ledger
        self.destination_name = destination_name
        self._endpoint = endpoint
        self.client = client
        self.max_backoff_s = max_backoff_s
        self.associations = associations
        self.lanes = associations  # fewer when the destination refuses simultaneous associations
        self.refusal_limit = refusal_limit
        self._refusals: dict[str, int] = {}  # whole-association refusals in a row, per SOP Instance UID
        self.batch = batch
        self.min_batch = min_batch
        self.linger_s = linger_s
        self.quiet_s = quiet_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._killed = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        self._notified = 0
        self._last_notified = 0.0
        self.forwarded = 0
        self.parked = 0
        self.batches = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"forward-{self.destination_name}")
        self._thread.start()

    def notify(self) -> None:
        """Something was queued: wake the worker now instead of at its next backoff tick."""
        self._notified += 1
        self._last_notified = time.monotonic()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the batch being sent (its outcomes are recorded)."""
        self._stop.set()
        self._wake.set()
        self.join(timeout)

    def kill(self) -> None:
        """Stop without recording anything more, as a crash would: the batch being sent stays queued."""
        self._killed.set()
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float) -> bool:
        """Wait for the worker thread to end; True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def drain(self, timeout: float) -> bool:
        """Block until the queue is empty (True) or ``timeout`` passes (False)."""
        self.notify()
        with self._idle:
            return self._idle.wait_for(
                lambda: not self._busy and self.spool.count(self.destination_name) == 0, timeout)

    def _gather(self, pending: int) -> None:
        """While instances keep arriving, wait (at most ``linger_s``) for ``min_batch`` of them."""
        started = time.monotonic()
        seen = self._notified
        while not self._stop.is_set():
            now = time.monotonic()
            arrived = self._notified - seen
            if (pending + arrived >= self.min_batch or now - self._last_notified >= self.quiet_s
                    or now - started >= self.linger_s):
                return
            self._stop.wait(min(self.quiet_s, self.linger_s - (now - started)))

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            endpoint = self._endpoint()
            batch = self.spool.pending(self.destination_name, limit=self.batch) if endpoint else []
            if not batch:
                with self._idle:
                    self._busy = False
                    self._idle.notify_all()
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            with self._idle:
                self._busy = True
            if len(batch) < self.min_batch and time.monotonic() - self._last_notified < self.quiet_s:
                self._gather(len(batch))
                batch = self.spool.pending(self.destination_name, limit=self.batch)
                if self._stop.is_set() or not batch:
                    continue
            self._wake.clear()
            assert endpoint is not None
            error: NetworkError | None = None
            try:
                outcomes: list[StoreOutcome | None] = list(
                    self.client.store(endpoint, [item.path for item in batch], associations=self.lanes))
            except StoreInterrupted as exc:
                outcomes, error = exc.outcomes, exc
            except NetworkError as exc:
                outcomes, error = [None] * len(batch), exc
            if self._killed.is_set():
                return
            progress = self._account(batch, outcomes, endpoint)
            unanswered = [_uid(item) for item, outcome in zip(batch, outcomes, strict=True) if outcome is None]
            if error is not None and self.ledger is not None and unanswered:
                self.ledger.attempt_failed(unanswered, str(error), str(endpoint))
            refused = next((o.meaning for o in outcomes if o is not None and (
                (not o.sent and not o.permanent) or (o.sent and is_out_of_resources(o.status)))), None)
            problem = str(error) if error is not None else refused
            self.last_error = problem
            if problem is not None and not progress:
                LOG.warning("forwarding to %s failed, retrying in %.1fs: %s", endpoint, backoff, problem)
                self._wake.wait(timeout=backoff)
                self._wake.clear()
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            self.batches += 1
            backoff = 0.5

    def _account(self, batch: list[SpooledInstance], outcomes: list[StoreOutcome | None], endpoint: Endpoint) -> bool:
        """Record each instance's outcome as it is; True when at least one left the queue (done or parked).

        Answered with success or warning: done, whatever happened to the rest of the batch. Refused: Out of
        Resources (0xA7xx, PS3.4 B.2.3, which says "not now"): stays queued, parked after ``refusal_limit`` in a
        row. Another failure status: parked in ``failed/``. Not sent because the destination's configuration
        refuses its SOP class or syntax: parked too, with the reason, so it never holds the queue. Not sent
        because the destination refused a whole association (e.g. a second simultaneous one): stays queued, and
        after ``refusal_limit`` such refusals in a row it is parked as well. No answer: stays queued for the next
        attempt.
        """
        done: list[tuple[str, int, str]] = []
        parked_before = self.parked
        answered = sum(o is not None and o.sent for o in outcomes)
        refused_lanes = False
        for item, outcome in zip(batch, outcomes, strict=True):
            if outcome is None:
                continue
            uid = _uid(item)
            if outcome.ok:
                assert outcome.status is not None
                self.spool.done(item)
                self._refusals.pop(uid, None)
                self.forwarded += 1
                done.append((uid, outcome.status, outcome.meaning))
                continue
            transient_refusal = not outcome.sent and not outcome.permanent
            out_of_resources = outcome.sent and is_out_of_resources(outcome.status)
            if transient_refusal or out_of_resources:
                refused_lanes = refused_lanes or (transient_refusal and answered > 0)
                count = self._refusals.get(uid, 0) + 1
                self._refusals[uid] = count
                if count < self.refusal_limit or (transient_refusal and answered > 0):
                    if self.ledger is not None:
                        what = outcome.meaning if transient_refusal else (
                            f"{outcome.status_text} ({outcome.meaning})"
                            + (f": {outcome.comment}" if outcome.comment else ""))
                        self.ledger.attempt_failed([uid], what, str(endpoint))
                    continue
            reason = (f"{endpoint} answered {outcome.status_text} ({outcome.meaning})"
                      + (f": {outcome.comment}" if outcome.comment else "")) if outcome.sent else (
                f"{endpoint}: {outcome.meaning}")
            self.spool.park(item, reason)
            self._refusals.pop(uid, None)
            self.parked += 1
            if self.ledger is not None:
                self.ledger.failed(uid, outcome.status, reason, str(endpoint))
        if done and self.ledger is not None:
            self.ledger.forwarded(done, str(endpoint))
        if refused_lanes and self.lanes > 1:
            # The destination took one association and refused another at the same time: send on fewer.
            self.lanes = max(1, self.lanes - 1)
            LOG.warning("%s refused a simultaneous store association; forwarding on %d from now on", endpoint,
                        self.lanes)
        return bool(done) or self.parked > parked_before  # something left the queue


def _uid(item: SpooledInstance) -> str:
    """The real SOP Instance UID (a file name holds a digest instead when the UID is not valid)."""
    if is_valid_uid(item.sop_instance_uid):
        return item.sop_instance_uid
    try:
        return file_facts(item.path).sop_instance_uid or item.sop_instance_uid
    except (OSError, ValueError):
        return item.sop_instance_uid
