"""Socket behaviour our SCPs need beyond pynetdicom's defaults.

- A cap on the PDU length a peer may announce: pynetdicom reads whatever length a PDU header declares, so one
  forged header could make an SCP buffer gigabytes. A PDU longer than the cap closes the connection instead
  (PS3.8 9.3.1: the receiver need not accept P-DATA longer than the maximum length it announced).
- TCP_NODELAY on accepted connections: without it every small DIMSE response waits for the peer's delayed ACK
  (about 40 ms on Linux loopback).
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import Any

from pynetdicom import evt
from pynetdicom.transport import AssociationSocket, RequestHandler

LOG = logging.getLogger(__name__)

PDU_HEADER = 6


class CappedAssociationSocket(AssociationSocket):
    """An AssociationSocket that refuses PDUs longer than ``pdu_cap`` bytes."""

    pdu_cap: int = 1 << 20

    def recv(self, nr_bytes: int) -> bytearray:
        if nr_bytes > self.pdu_cap:
            LOG.warning("peer announced a %d-byte PDU (cap %d): closing the connection", nr_bytes, self.pdu_cap)
            self.close()
            return bytearray()
        return super().recv(nr_bytes)


def capped_handler(pdu_cap: int) -> type[RequestHandler]:
    """A request handler class whose associations use a capped, TCP_NODELAY socket."""

    class CappedRequestHandler(RequestHandler):
        def handle(self) -> None:
            sock: Any = self.request
            with contextlib.suppress(OSError):  # only TCP sockets have the option
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            assoc = self._create_association()
            capped: Any = assoc.dul.socket
            capped.__class__ = CappedAssociationSocket
            capped.pdu_cap = pdu_cap
            evt.trigger(assoc, evt.EVT_CONN_OPEN, {"address": self.client_address})
            assoc.start()

    return CappedRequestHandler
