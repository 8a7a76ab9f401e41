"""PACS backends behind one contract (:class:`PacsBackend`), chosen by name from :mod:`simulator.pacs.registry`."""

from simulator.pacs.base import Capability, PacsBackend
from simulator.pacs.registry import REGISTRY, backend_class, create_backend

__all__ = ["REGISTRY", "Capability", "PacsBackend", "backend_class", "create_backend"]
