"""Deterministic UIDs: the same seed and path give the same UID (PS3.5 9: at most 64 chars, digits and dots)."""

from __future__ import annotations

from pydicom.uid import UID, generate_uid

# A 2.25 (UUID-derived) root is valid without a registered organisation root (PS3.5 B.2).
ROOT = "2.25."


def derive_uid(*parts: object) -> UID:
    """A UID derived from ``parts`` (seed first); stable across runs and machines."""
    return generate_uid(prefix=None, entropy_srcs=[str(p) for p in parts])


def is_valid_uid(value: str) -> bool:
    """PS3.5 9.1: components of digits separated by dots, no leading zero in a component, <= 64 chars."""
    if not value or len(value) > 64:
        return False
    for component in value.split("."):
        if not component.isdigit() or not component.isascii():
            return False
        if len(component) > 1 and component[0] == "0":
            return False
    return True
