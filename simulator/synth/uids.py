"""Deterministic UIDs: the same seed and path give the same UID (PS3.5 9: at most 64 chars, digits and dots)."""

from __future__ import annotations

import hashlib
import uuid

from pydicom.uid import UID

# A 2.25 (UUID-derived) root is valid without a registered organisation root (PS3.5 B.2).
ROOT = "2.25."
_NAMESPACE = uuid.UUID("5b0f7a52-3c1e-4d7e-9a0a-6f3d2c1b9e80")


def derive_uid(*parts: object) -> UID:
    """A UID derived from ``parts`` (seed first); stable across runs and machines.

    A name-based UUID (RFC 4122 version 5) of the parts, joined with a separator so that ("a", 1, 12) and
    ("a", 11, 2) differ, written as a 2.25 UID (PS3.5 B.2).
    """
    name = "\x1f".join(str(p) for p in parts)
    return UID(ROOT + str(uuid.uuid5(_NAMESPACE, name).int))


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


def uid_file_stem(uid: str) -> str:
    """A file name for ``uid``: the UID itself when valid (PS3.5 9.1), else a digest, so that a defective UID
    can neither escape its folder nor collide with another one."""
    if is_valid_uid(uid):
        return uid
    return "invalid-" + hashlib.sha256(uid.encode("utf-8", "surrogateescape")).hexdigest()[:32]
