"""The RIS node: a Modality Worklist SCP (PS3.4 K; IHE RAD-5) and an MPPS SCP (PS3.4 F.7; RAD-6, RAD-7) on one AE."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Iterator

from pydicom.dataset import Dataset

from simulator.journal import Journal
from simulator.net import DicomServer, FindRequest, MppsReply, MppsRequest, mpps_service
from simulator.nodes.listening import ListeningNode
from simulator.nodes.ris.mpps import MppsBook
from simulator.nodes.ris.schedule import step_key
from simulator.nodes.ris.worklist import match_worklist, worklist_item
from simulator.synth.procedure import ScheduledProcedure


class RisNode(ListeningNode):
    """The department's RIS. It answers worklist queries from the procedures it has scheduled and keeps the MPPS
    messages of the modalities in :attr:`mpps`. Scheduling is allowed while it runs; it is thread-safe."""

    def __init__(self, ae_title: str, *, node: str = "RIS", journal: Journal | None = None,
                 procedures: Iterable[ScheduledProcedure] = ()) -> None:
        self.ae_title = ae_title
        self.node = node
        self.journal = journal if journal is not None else Journal()
        self.mpps = MppsBook()
        self._lock = threading.Lock()
        self._scheduled: dict[tuple[str, str, str], tuple[ScheduledProcedure, Dataset]] = {}
        self.schedule_many(procedures)
        self._server = DicomServer(ae_title, node=node, journal=self.journal, worklist=self._on_worklist,
                                   services=[mpps_service(self._on_create, self._on_set)])

    # -- the schedule ---------------------------------------------------------------------------------------------

    def schedule(self, procedure: ScheduledProcedure) -> Dataset:
        """Add ``procedure`` to the worklist; return its worklist item. ValueError if a step with the same
        accession number, requested procedure ID and scheduled procedure step ID is already scheduled."""
        item = worklist_item(procedure)
        key = step_key(procedure)
        with self._lock:
            if key in self._scheduled:
                raise ValueError(f"{self.node}: step {key[2]} of requested procedure {key[1]} (accession {key[0]}) "
                                 "is already scheduled")
            self._scheduled[key] = (procedure, item)
        return copy.deepcopy(item)

    def schedule_many(self, procedures: Iterable[ScheduledProcedure]) -> list[Dataset]:
        return [self.schedule(procedure) for procedure in procedures]

    def unschedule(self, procedure: ScheduledProcedure) -> bool:
        """Take a step off the worklist (as when an order is cancelled); False if it was not scheduled."""
        with self._lock:
            return self._scheduled.pop(step_key(procedure), None) is not None

    @property
    def procedures(self) -> list[ScheduledProcedure]:
        """The scheduled procedure steps, in the order they were scheduled."""
        with self._lock:
            return [procedure for procedure, _ in self._scheduled.values()]

    def items(self) -> list[Dataset]:
        """Copies of the worklist items, in the order they were scheduled."""
        with self._lock:
            return [copy.deepcopy(item) for _, item in self._scheduled.values()]

    # -- SCP handlers ---------------------------------------------------------------------------------------------

    def _on_worklist(self, request: FindRequest) -> Iterator[Dataset]:
        with self._lock:
            items = [item for _, item in self._scheduled.values()]  # items are never changed once scheduled
        for match in match_worklist(items, request.identifier):
            if request.is_cancelled():
                return
            yield match

    def _on_create(self, request: MppsRequest) -> MppsReply:
        uid = self.mpps.create(request.caller.ae_title, request.sop_instance_uid, request.dataset)
        return MppsReply(sop_instance_uid=uid)

    def _on_set(self, request: MppsRequest) -> MppsReply:
        self.mpps.set(request.caller.ae_title, request.sop_instance_uid, request.dataset)
        return MppsReply()
