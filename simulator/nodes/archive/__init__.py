"""The embedded PACS: C-STORE into files plus an SQLite index, C-FIND, C-MOVE and C-GET."""

from simulator.nodes.archive.index import ArchiveIndex, StoredInstance
from simulator.nodes.archive.service import EmbeddedArchive

__all__ = ["ArchiveIndex", "EmbeddedArchive", "StoredInstance"]
