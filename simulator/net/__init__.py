"""DICOM networking: the only package that imports pynetdicom.

SCU helpers return typed results and raise typed errors (never an empty result on failure); the SCP
scaffolding turns pynetdicom events into plain requests for the nodes to answer.
"""

from simulator.net.commitment import (
    CommitmentReceiver,
    CommitmentReport,
    CommitmentResult,
    commitment_receiver_service,
    commitment_scp_service,
    references_of,
    request_commitment,
)
from simulator.net.mpps import (
    MppsFailure,
    MppsReply,
    MppsRequest,
    MppsResponse,
    mpps_create,
    mpps_service,
    mpps_set,
)
from simulator.net.scp import (
    Caller,
    DicomServer,
    FindRequest,
    RetrievePlan,
    RetrieveRequest,
    ScpFailure,
    ScpService,
    StoreReply,
    StoreRequest,
)
from simulator.net.scu import DicomClient, PeerIdentity, RetrieveOutcome
from simulator.net.status import describe_status, is_failure, is_success, is_warning
from simulator.net.store import StoreInterrupted, StoreOutcome

__all__ = [
    "Caller",
    "CommitmentReceiver",
    "CommitmentReport",
    "CommitmentResult",
    "DicomClient",
    "DicomServer",
    "FindRequest",
    "MppsFailure",
    "MppsReply",
    "MppsRequest",
    "MppsResponse",
    "PeerIdentity",
    "RetrieveOutcome",
    "RetrievePlan",
    "RetrieveRequest",
    "ScpFailure",
    "ScpService",
    "StoreInterrupted",
    "StoreOutcome",
    "StoreReply",
    "StoreRequest",
    "commitment_receiver_service",
    "commitment_scp_service",
    "describe_status",
    "is_failure",
    "is_success",
    "is_warning",
    "mpps_create",
    "mpps_service",
    "mpps_set",
    "references_of",
    "request_commitment",
]
