"""Running code once a DIMSE response is on the wire. The SCP's Storage Commitment Result must not overtake its
N-ACTION response (PS3.4 J.3.2.1.3, J.3.3.1.2), and a requester that takes the result on its own association
answers it before it releases that association (PS3.4 J.3.2.1.2, J.3.3.1.3); pynetdicom reports a message as sent
before it is written, so this watches the P-DATA PDUs that carry the response for its last fragment.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from pynetdicom import evt


class _SentWatch:
    """Runs callbacks once a given DIMSE response has been written to the socket.

    pynetdicom's EVT_DIMSE_SENT fires before a message's P-DATA PDUs are even queued; EVT_PDU_SENT fires after each
    PDU is written. A response is out when the PDU carrying its last fragment (PS3.8 E.2 message control header:
    bit 1 = last fragment, bit 0 = command) has been sent. One watch per association, bound once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], Callable[[], None]] = {}
        self._armed: deque[tuple[int, bool, Callable[[], None]]] = deque()

    def expect(self, message_type: str, message_id: int, then: Callable[[], None]) -> None:
        with self._lock:
            self._pending[(message_type, message_id)] = then

    def on_dimse_sent(self, event: Any) -> None:
        message = event.message
        command = message.command_set
        key = (type(message).__name__, int(command.get("MessageIDBeingRespondedTo", -1)))
        with self._lock:
            then = self._pending.pop(key, None)
            if then is not None:
                has_data = int(command.get("CommandDataSetType", 0x0101)) != 0x0101
                self._armed.append((int(message.context_id), has_data, then))

    def on_pdu_sent(self, event: Any) -> None:
        if not self._armed:
            return
        ready: list[Callable[[], None]] = []
        with self._lock:
            for item in getattr(event.pdu, "presentation_data_value_items", ()):
                if not self._armed:
                    break
                context_id, has_data, then = self._armed[0]
                value = item.presentation_data_value
                if item.presentation_context_id != context_id or not value:
                    continue
                header = value[0]
                if header & 0x02 and bool(header & 0x01) != has_data:
                    self._armed.popleft()
                    ready.append(then)
        for then in ready:
            then()


_WATCHES: weakref.WeakKeyDictionary[Any, _SentWatch] = weakref.WeakKeyDictionary()
_WATCHES_LOCK = threading.Lock()


def _after_response_sent(assoc: Any, message_type: str, message_id: int, then: Callable[[], None]) -> None:
    """Call ``then`` (in pynetdicom's network thread: keep it short) once our response of ``message_type``
    (e.g. ``N_ACTION_RSP``) to request ``message_id`` has been sent on ``assoc``."""
    with _WATCHES_LOCK:
        watch = _WATCHES.get(assoc)
        if watch is None:
            watch = _SentWatch()
            assoc.bind(evt.EVT_DIMSE_SENT, watch.on_dimse_sent)
            assoc.bind(evt.EVT_PDU_SENT, watch.on_pdu_sent)
            _WATCHES[assoc] = watch
    watch.expect(message_type, message_id, then)
