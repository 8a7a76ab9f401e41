"""Any PACS given by AE title, host and port; radsim does not start or wipe it."""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.dataset import Dataset

from simulator.config import Endpoint, PacsConfig
from simulator.errors import NotSupported
from simulator.journal import Journal
from simulator.net import DicomClient
from simulator.pacs.base import Capability


class RemoteBackend:
    name = "remote"

    def __init__(self, config: PacsConfig) -> None:
        self.config = config
        self._endpoint = Endpoint(ae_title=config.ae_title, host=config.host, port=config.port)
        self._peers: list[Endpoint] = []
        self._client: DicomClient | None = None

    @property
    def capabilities(self) -> frozenset[Capability]:
        caps = {Capability.STORAGE, Capability.QUERY, Capability.MOVE, Capability.GET, Capability.INSPECT}
        if self.config.http_url:
            caps.add(Capability.DICOMWEB)
        return frozenset(caps)

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoint

    def start(self, peers: Sequence[Endpoint], journal: Journal) -> Endpoint:
        """Check the PACS answers C-ECHO from each of our AEs (raises PeerUnreachable/AssociationRejected)."""
        self._peers = list(peers)
        calling = self._peers[0].ae_title if self._peers else "RADSIM"
        self._client = DicomClient(calling, node="PACS-probe", journal=journal)
        self._client.echo(self._endpoint)
        return self._endpoint

    def registration_help(self, peers: Sequence[Endpoint] | None = None) -> str:
        """What the user must configure at their PACS before C-MOVE to our nodes can work."""
        rows = [f"  {p.ae_title:<16} host {p.host:<15} port {p.port}" for p in (peers or self._peers)]
        return (f"register these AEs at the PACS {self._endpoint} (as C-MOVE destinations and allowed callers):\n"
                + "\n".join(rows))

    def wipe(self) -> None:
        """A remote PACS is never wiped; scenarios use fresh UIDs instead."""

    def sop_instance_uids(self, study_instance_uid: str | None = None) -> set[str]:
        if study_instance_uid is None:
            raise NotSupported("listing every instance of a remote PACS is not supported; name a study")
        if self._client is None:
            raise NotSupported("the remote PACS backend is not started")
        query = Dataset()
        query.QueryRetrieveLevel = "IMAGE"
        query.StudyInstanceUID = study_instance_uid
        query.SeriesInstanceUID = ""
        query.SOPInstanceUID = ""
        return {str(m.SOPInstanceUID) for m in self._client.find(self._endpoint, query) if "SOPInstanceUID" in m}

    def stop(self, timeout: float = 15.0) -> None:
        self._client = None

    def describe(self) -> str:
        return f"remote PACS {self._endpoint}"
