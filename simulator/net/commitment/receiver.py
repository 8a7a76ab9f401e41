"""The receiver of Storage Commitment results sent on a new association (PS3.4 J.3.3.1.3): a service for a
node's :class:`~simulator.net.scp.DicomServer` that accepts the SCP role the archive proposes for itself
(PS3.4 J.3.3.1.2 note 1, PS3.7 D.3.3.4), answers each N-EVENT-REPORT (PS3.4 J.3.3.1.4) and hands the result to a
:class:`~simulator.net.commitment.results.CommitmentReceiver`.
"""

from __future__ import annotations

import time
from typing import Any

from pynetdicom import evt

from simulator.net.commitment.results import (
    STORAGE_COMMITMENT_PUSH_MODEL,
    CommitmentReceiver,
    _peer_of,
    _read_report,
    _record,
    _report_detail,
)
from simulator.net.scp import DicomServer, ScpService
from simulator.net.status import describe_status


class _ReceiverService:
    """Answers Storage Commitment results that an SCP sends on a new association (PS3.4 J.3.3.1.3)."""

    def __init__(self, receiver: CommitmentReceiver) -> None:
        self.receiver = receiver
        self.server: DicomServer | None = None

    def on_start(self, server: DicomServer) -> None:
        self.server = server

    def on_report(self, event: Any) -> tuple[int, None]:
        started = time.time()
        status, report, problem = _read_report(event, "new-association")
        stored = self.receiver.deliver(report) if report is not None else None
        server = self.server
        if server is not None:
            meaning = problem or ("result received" if stored is None or stored.matched
                                  else "result for a transaction nobody waits for (recorded)")
            _record(server.journal, node=server.node, local_ae=server.ae_title, role="SCP", service_role="SCU",
                    peer=_peer_of(event.assoc.requestor), kind="N-EVENT-REPORT", status=status,
                    meaning=f"{describe_status(status, 'N-EVENT-REPORT')}: {meaning}", started=started,
                    detail=_report_detail(stored, problem))
        # A result for an unknown transaction is still answered with success: the response only acknowledges the
        # notification, PS3.4 J.3.3.1.4 defines no status for it, and a failure would only make the SCP retry.
        return status, None


def commitment_receiver_service(receiver: CommitmentReceiver) -> ScpService:
    """The service a node's DicomServer needs to accept Storage Commitment results on new associations.

    The archive opens them proposing the SCP role for itself (PS3.4 J.3.3.1.2 note 1); we accept that role
    (SCU/SCP role selection, PS3.7 D.3.3.4). Each result goes to ``receiver``, which wakes the waiting
    :func:`request_commitment`. A peer that proposes no role selection is served too.
    """
    service = _ReceiverService(receiver)
    return ScpService(
        name="storage-commitment-results",
        contexts=((str(STORAGE_COMMITMENT_PUSH_MODEL), False, True),),
        handlers=((evt.EVT_N_EVENT_REPORT, service.on_report),),
        on_start=service.on_start,
    )
