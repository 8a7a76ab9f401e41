"""PACS backends behind one interface: embedded, orthanc (local process), remote (any AE)."""

from simulator.pacs.base import Capability, PacsBackend
from simulator.pacs.factory import create_backend

__all__ = ["Capability", "PacsBackend", "create_backend"]
