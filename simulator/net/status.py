"""DIMSE status codes as data (PS3.7 Annex C; service-specific codes from PS3.4)."""

from __future__ import annotations

from pynetdicom import status as _status

# N-CREATE and N-SET responses (PS3.7 10.1.5.1.6 and 10.1.3.1.6, codes from PS3.7 C.4/C.5) as the Modality
# Performed Procedure Step SOP Class uses them: PS3.4 F.7.2.1.4 and F.7.2.2.4 define no specific codes, only the
# Error Comment and Error ID that go with 0x0110 on N-SET (Table F.7.2-2).
_DIMSE_N_STATUS: dict[int, tuple[str, str]] = {
    0x0000: (_status.STATUS_SUCCESS, "Success"),
    0x0001: (_status.STATUS_WARNING, "Requested optional attributes are not supported"),
    0x0105: (_status.STATUS_FAILURE, "No such attribute"),
    0x0106: (_status.STATUS_FAILURE, "Invalid attribute value"),
    0x0107: (_status.STATUS_WARNING, "Attribute list error"),
    0x0110: (_status.STATUS_FAILURE, "Processing failure"),
    0x0111: (_status.STATUS_FAILURE, "Duplicate SOP Instance"),
    0x0112: (_status.STATUS_FAILURE, "No such SOP Instance"),
    0x0116: (_status.STATUS_WARNING, "Attribute value out of range"),
    0x0117: (_status.STATUS_FAILURE, "Invalid SOP Instance"),
    0x0118: (_status.STATUS_FAILURE, "No such SOP Class"),
    0x0119: (_status.STATUS_FAILURE, "Class-Instance conflict"),
    0x0120: (_status.STATUS_FAILURE, "Missing attribute"),
    0x0121: (_status.STATUS_FAILURE, "Missing attribute value"),
    0x0124: (_status.STATUS_FAILURE, "Refused: not authorized"),
    0x0210: (_status.STATUS_FAILURE, "Duplicate invocation"),
    0x0211: (_status.STATUS_FAILURE, "Unrecognized operation"),
    0x0212: (_status.STATUS_FAILURE, "Mistyped argument"),
    0x0213: (_status.STATUS_FAILURE, "Resource limitation"),
}

_BY_SERVICE: dict[str, dict[int, tuple[str, str]]] = {
    "C-ECHO": _status.VERIFICATION_SERVICE_CLASS_STATUS,
    "C-STORE": _status.STORAGE_SERVICE_CLASS_STATUS,
    "C-FIND": _status.QR_FIND_SERVICE_CLASS_STATUS,
    "C-MOVE": _status.QR_MOVE_SERVICE_CLASS_STATUS,
    "C-GET": _status.QR_GET_SERVICE_CLASS_STATUS,
    "N-CREATE": _DIMSE_N_STATUS,
    "N-SET": _DIMSE_N_STATUS,
}

SUCCESS = 0x0000
PENDING = 0xFF00
CANCEL = 0xFE00


def describe_status(status: int, operation: str = "") -> str:
    """The standard's meaning of ``status`` for ``operation`` (e.g. ``C-STORE``), else its category."""
    table = _BY_SERVICE.get(operation, _status.GENERAL_STATUS)
    if status in table:
        category, meaning = table[status]
        return meaning or category
    if status in _status.GENERAL_STATUS:
        return _status.GENERAL_STATUS[status][1]
    return f"{_status.code_to_category(status)} status"


def is_success(status: int) -> bool:
    return status == SUCCESS


def is_warning(status: int) -> bool:
    """PS3.7 C.3/C.4: 0x0001, 0x0107, 0x0116 and 0xBxxx are warnings."""
    return status in (0x0001, 0x0107, 0x0116) or (status & 0xF000) == 0xB000


def is_failure(status: int) -> bool:
    return not (is_success(status) or is_warning(status) or status in (PENDING, 0xFF01, CANCEL))


# -- Storage Commitment (PS3.4 J) ----------------------------------------------------------------------------------
# Its N-ACTION and N-EVENT-REPORT define no service-specific statuses (PS3.4 J.3.2.1.4, J.3.3.1.4): the general
# DIMSE-N codes of PS3.7 C apply, which pynetdicom's table for this service class holds.
_BY_SERVICE["N-ACTION"] = _status.STORAGE_COMMITMENT_SERVICE_CLASS_STATUS
_BY_SERVICE["N-EVENT-REPORT"] = _status.STORAGE_COMMITMENT_SERVICE_CLASS_STATUS

# Failure Reason (0008,1197) of an item in a Storage Commitment Result's Failed SOP Sequence (PS3.3 C.14.1.1):
# attribute values, not DIMSE statuses, though they share codes with some.
COMMITMENT_FAILURE_REASONS: dict[int, str] = {
    0x0110: "Processing failure",
    0x0112: "No such object instance",
    0x0119: "Class / Instance conflict",
    0x0122: "Referenced SOP Class not supported",
    0x0131: "Duplicate transaction UID",
    0x0213: "Resource limitation",
}


def is_out_of_resources(status: int | None) -> bool:
    """Refused: Out of Resources (0xA7xx, PS3.4 B.2.3 and C.4): the SCP cannot take it now; worth another try."""
    return status is not None and (status & 0xFF00) == 0xA700


def describe_failure_reason(reason: int) -> str:
    """The meaning of a storage commitment Failure Reason (PS3.3 C.14.1.1)."""
    return COMMITMENT_FAILURE_REASONS.get(reason, f"Failure Reason 0x{reason:04X} (not defined in PS3.3 C.14.1.1)")
