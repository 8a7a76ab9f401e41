"""DIMSE status codes as data (PS3.7 Annex C; service-specific codes from PS3.4)."""

from __future__ import annotations

from pynetdicom import status as _status

_BY_SERVICE: dict[str, dict[int, tuple[str, str]]] = {
    "C-ECHO": _status.VERIFICATION_SERVICE_CLASS_STATUS,
    "C-STORE": _status.STORAGE_SERVICE_CLASS_STATUS,
    "C-FIND": _status.QR_FIND_SERVICE_CLASS_STATUS,
    "C-MOVE": _status.QR_MOVE_SERVICE_CLASS_STATUS,
    "C-GET": _status.QR_GET_SERVICE_CLASS_STATUS,
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
