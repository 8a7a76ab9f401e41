"""Storage Commitment Push Model (PS3.4 J): the SCU request, the receiver of results on new associations, and the
SCP adapter an archive plugs into its :class:`~simulator.net.scp.DicomServer`.

The SCU asks with N-ACTION (Request Storage Commitment, PS3.4 J.3.2); the SCP answers the N-ACTION at once and
later sends the Storage Commitment Result as an N-EVENT-REPORT (PS3.4 J.3.3), either on the same association or on
a new one that it opens to the requesting AE, proposing the SCP role (PS3.4 J.3.3.1.2 note 1, PS3.7 D.3.3.4).
Requests and results are matched by Transaction UID (0008,1195).

Journal kinds: ``N-ACTION`` and ``N-EVENT-REPORT``. As everywhere in the journal, ``role`` is ``SCU`` for the node
that sent the DIMSE request and ``SCP`` for the node that answered it; ``detail["service_role"]`` names the node's
storage commitment role (the SCP of storage commitment sends the N-EVENT-REPORT request).

Modules: ``results`` (identifiers, reports, results, the receiver), ``receiver`` (the service for results on new
associations), ``request`` (the SCU side), ``scp`` (the SCP adapter) and ``wire`` (acting once a response is sent).
"""

from simulator.net.commitment.receiver import commitment_receiver_service
from simulator.net.commitment.request import references_of, request_commitment
from simulator.net.commitment.results import (
    CLASS_INSTANCE_CONFLICT,
    DUPLICATE_TRANSACTION_UID,
    EVENT_ALL_COMMITTED,
    EVENT_FAILURES_EXIST,
    NO_SUCH_OBJECT_INSTANCE,
    PROCESSING_FAILURE,
    REQUEST_STORAGE_COMMITMENT,
    STORAGE_COMMITMENT_PUSH_MODEL,
    STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE,
    CommitmentReceiver,
    CommitmentReport,
    CommitmentResult,
    FailedReference,
    Reference,
    ReportDelivery,
)
from simulator.net.commitment.scp import (
    DELIVERY_MODES,
    REPORT_RESPONSE_TIMEOUT,
    Delivery,
    Resolver,
    commitment_scp_service,
)

__all__ = [
    "CLASS_INSTANCE_CONFLICT",
    "DELIVERY_MODES",
    "DUPLICATE_TRANSACTION_UID",
    "EVENT_ALL_COMMITTED",
    "EVENT_FAILURES_EXIST",
    "NO_SUCH_OBJECT_INSTANCE",
    "PROCESSING_FAILURE",
    "REPORT_RESPONSE_TIMEOUT",
    "REQUEST_STORAGE_COMMITMENT",
    "STORAGE_COMMITMENT_PUSH_MODEL",
    "STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE",
    "CommitmentReceiver",
    "CommitmentReport",
    "CommitmentResult",
    "Delivery",
    "FailedReference",
    "Reference",
    "ReportDelivery",
    "Resolver",
    "commitment_receiver_service",
    "commitment_scp_service",
    "references_of",
    "request_commitment",
]
