"""The QA node: Storage SCP that checks each instance, spools accepted ones and forwards them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from simulator.config import Endpoint
from simulator.journal import Journal
from simulator.net import DicomClient, DicomServer, StoreReply, StoreRequest
from simulator.nodes.listening import ListeningNode
from simulator.nodes.qa.forwarder import Forwarder
from simulator.nodes.qa.rules import DEFAULT_RULES, Rule, evaluate
from simulator.nodes.qa.spool import Spool

DESTINATION = "PACS"


class QANode(ListeningNode):
    """Accepts C-STORE, answers rejected instances with a failure status and Error Comment (PS3.4 B.2.3),
    and forwards accepted ones to ``forward_to`` (settable after start, e.g. once the PACS is up)."""

    def __init__(self, data_dir: Path, *, ae_title: str = "RADSIM_QA", node: str = "QA",
                 journal: Journal | None = None, forward_to: Endpoint | None = None,
                 rules: Sequence[Rule] = DEFAULT_RULES, forward_associations: int = 1) -> None:
        self.ae_title = ae_title
        self.node = node
        self.journal = journal if journal is not None else Journal()
        self.rules = tuple(rules)
        self.forward_to = forward_to
        self.spool = Spool(data_dir)
        self.forwarder = Forwarder(
            self.spool, DESTINATION, lambda: self.forward_to,
            DicomClient(ae_title, node=node, journal=self.journal), associations=forward_associations,
        )
        self._server = DicomServer(ae_title, node=node, journal=self.journal, store=self._on_store)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Endpoint:
        endpoint = super().start(host, port)
        self.forwarder.start()
        return endpoint

    def set_destination(self, endpoint: Endpoint) -> None:
        self.forward_to = endpoint
        self.forwarder.notify()

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self.forwarder.stop(timeout)

    def drain(self, timeout: float) -> bool:
        """Wait until everything accepted so far has left the queue."""
        return self.forwarder.drain(timeout)

    def _on_store(self, request: StoreRequest) -> StoreReply:
        verdict = evaluate(request.header(), self.rules)
        if not verdict.accepted:
            return StoreReply(verdict.status, verdict.comment)
        self.spool.put(DESTINATION, request.sop_instance_uid, request.part10_chunks())
        self.forwarder.notify()
        return StoreReply(0x0000)
