"""A running department: our nodes plus the PACS backend, started and stopped as one.

Start order: every node of ours listens first (their ports are then known): workstations, QA nodes, the RIS and
the modalities (which receive storage commitment results on new associations, PS3.4 J.3.3); the PACS starts
knowing them as peers; then each QA node is pointed at the PACS. Stop runs in reverse and always completes.

Worklist: the department's ``worklist`` setting picks who answers modality worklist queries (IHE RAD-5): the RIS
node, or the PACS when it offers a worklist (Orthanc's plugin, fed with ``.wl`` files). :meth:`Department.schedule`
puts scheduled procedure steps wherever the worklist is answered; MPPS always goes to the RIS.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from simulator.config import PACS_NODE, DepartmentConfig, Endpoint, Role
from simulator.errors import ConfigError, HarnessError, NotSupported
from simulator.journal import Journal
from simulator.net import DicomClient
from simulator.nodes.modality import Modality
from simulator.nodes.qa import QANode
from simulator.nodes.qa.reconcile import worklist_lookup
from simulator.nodes.qa.rules import Action
from simulator.nodes.qa.ruleset import WorklistConfig
from simulator.nodes.ris import RisNode, write_wl_files
from simulator.nodes.workstation import Workstation
from simulator.pacs import PacsBackend, create_backend
from simulator.pacs.base import Capability
from simulator.synth.procedure import ScheduledProcedure

LOG = logging.getLogger(__name__)
T = TypeVar("T")


class Department:
    def __init__(self, config: DepartmentConfig, *, workdir: Path | None = None,
                 journal: Journal | None = None) -> None:
        self.config = config
        self.journal = journal if journal is not None else Journal()
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="radsim-department-"))
        self.modalities: dict[str, Modality] = {}
        self.qa_nodes: dict[str, QANode] = {}
        self.workstations: dict[str, Workstation] = {}
        self.ris: RisNode | None = None
        self._worklist_settings: dict[str, WorklistConfig] = {}  # each QA node's own, restored by reset()
        self._stopped_nodes: frozenset[str] = frozenset()  # nodes stop_node took down and start_node not back up
        self.pacs: PacsBackend = create_backend(config.pacs, self.workdir / "pacs")
        self._started = False
        for node in config.nodes:
            if node.role is Role.MODALITY:
                self.modalities[node.name] = Modality(node.ae_title, node=node.name, journal=self.journal)
            elif node.role is Role.QA:
                self.qa_nodes[node.name] = QANode(self.workdir / node.name, ae_title=node.ae_title,
                                                  node=node.name, journal=self.journal)
            elif node.role is Role.WORKSTATION:
                self.workstations[node.name] = Workstation(node.ae_title, node=node.name, journal=self.journal)
            elif node.role is Role.RIS:
                self.ris = RisNode(node.ae_title, node=node.name, journal=self.journal)

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> Department:
        try:
            peers: list[Endpoint] = []
            for name, ws in self.workstations.items():
                node = self.config.node(name)
                peers.append(ws.start(node.host, node.port))
            for name, qa in self.qa_nodes.items():
                node = self.config.node(name)
                peers.append(qa.start(node.host, node.port))
            for name, modality in self.modalities.items():
                node = self.config.node(name)
                peers.append(modality.start(node.host, node.port))
            if self.ris is not None:
                node = self.config.node(self.ris.node)
                self.ris.start(node.host, node.port)
            self.pacs.start(peers, self.journal)
            for name, qa in self.qa_nodes.items():
                targets = self.config.targets_of(name)
                if PACS_NODE in targets:
                    qa.set_destination(self.pacs.endpoint)
                elif targets:
                    qa.set_destination(self.endpoint(targets[0]))
            self._started = True
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 15.0) -> None:
        errors: list[str] = []
        for qa in self.qa_nodes.values():
            _attempt(errors, lambda q=qa: q.stop(timeout))  # type: ignore[misc]
        _attempt(errors, lambda: self.pacs.stop(timeout))
        for ws in self.workstations.values():
            _attempt(errors, lambda w=ws: w.stop(timeout))  # type: ignore[misc]
        for modality in self.modalities.values():
            _attempt(errors, lambda m=modality: m.stop(timeout))  # type: ignore[misc]
        if self.ris is not None:
            _attempt(errors, lambda: self.ris.stop(timeout) if self.ris else None)
        self._started = False
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if errors:
            LOG.warning("while stopping the department: %s", "; ".join(errors))

    def __enter__(self) -> Department:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def reset(self) -> None:
        """Between scenarios: bring back nodes a scenario left stopped (the PACS first), wipe the PACS (where
        supported, and then the QA nodes forward again what they had forwarded before, if it is sent again), forget
        what workstations received, empty the worklist and retire the RIS's MPPS instances (kept for the
        report)."""
        for name in sorted(self._stopped_nodes, key=lambda n: n != PACS_NODE):
            self.start_node(name)
        self.pacs.wipe()
        if Capability.WIPE in self.pacs.capabilities:
            # What the QA nodes forwarded is gone from the PACS: sent again, it must be forwarded again.
            for name, qa in self.qa_nodes.items():
                if PACS_NODE in self.config.targets_of(name):
                    qa.ledger.destination_wiped(str(self.pacs.endpoint))
        for ws in self.workstations.values():
            ws.clear()
        for name, qa in self.qa_nodes.items():
            qa.set_worklist(None)
            if name in self._worklist_settings and qa.ruleset is not None:
                qa.ruleset = dataclasses.replace(qa.ruleset, worklist=self._worklist_settings[name])
        if self.ris is not None:
            for procedure in self.ris.procedures:
                self.ris.unschedule(procedure)
            self.ris.mpps.retire()  # the same order may be performed again with the same MPPS UID
        folder = self._pacs_worklist_dir()
        if folder is not None:
            for path in folder.glob("*.wl"):
                path.unlink(missing_ok=True)

    # -- the worklist (IHE RAD-5) and MPPS (RAD-6/7) -------------------------------------------------------------

    def worklist_source(self) -> str:
        """``ris`` or ``pacs``: who answers worklist queries (the ``worklist`` setting; ``auto`` = the PACS when
        it offers a worklist, else the RIS)."""
        offered = Capability.WORKLIST in self.pacs.capabilities and self._pacs_worklist_dir() is not None
        wanted = self.config.worklist
        if wanted == "pacs" and not offered:
            raise NotSupported(f"{self.pacs.name} offers no worklist (its worklist plugin is not loaded)")
        if wanted == "ris" or (wanted == "auto" and not offered):
            self._ris()
            return "ris"
        return "pacs"

    def worklist_endpoint(self) -> Endpoint:
        return self.pacs.endpoint if self.worklist_source() == "pacs" else self.endpoint(self._ris().node)

    def mpps_endpoint(self) -> Endpoint:
        """Where modalities send MPPS: the RIS (PS3.4 F.7)."""
        return self.endpoint(self._ris().node)

    def schedule(self, procedures: list[ScheduledProcedure]) -> str:
        """Put ``procedures`` on the worklist (and on the RIS, which also receives the MPPS); returns where."""
        where = []
        if self.ris is not None:
            self.ris.schedule_many(procedures)
            where.append(self.ris.node)
        if self.worklist_source() == "pacs":
            folder = self._pacs_worklist_dir()
            assert folder is not None
            write_wl_files(folder, procedures)
            where.append(f"{PACS_NODE} worklist (.wl files)")
        return " and ".join(where)

    def reconcile_at(self, name: str, *, unmatched: str | None = None, unavailable: str | None = None) -> None:
        """Make QA node ``name`` reconcile demographics against the department's worklist, with its rule set's
        ``worklist`` settings, or ``unmatched``/``unavailable`` instead (until :meth:`reset`)."""
        qa = self.qa(name)
        if qa.ruleset is None:
            raise ConfigError(f"QA node '{name}' has no rule set to reconcile with")
        defaults = self._worklist_settings.setdefault(name, qa.ruleset.worklist)
        changes = {k: Action(v) for k, v in (("unmatched", unmatched), ("unavailable", unavailable)) if v is not None}
        qa.ruleset = dataclasses.replace(qa.ruleset, worklist=defaults.model_copy(update=changes))
        qa.set_worklist(worklist_lookup(DicomClient(qa.ae_title, node=name, journal=self.journal),
                                        self.worklist_endpoint))

    def _ris(self) -> RisNode:
        if self.ris is None:
            raise ConfigError(f"department '{self.config.name}' has no RIS node (add one with role: ris)")
        return self.ris

    def _pacs_worklist_dir(self) -> Path | None:
        return self.pacs.worklist_dir

    # -- lookup -----------------------------------------------------------------------------------------------

    def endpoint(self, name: str) -> Endpoint:
        """The listening endpoint of node ``name`` (``PACS`` for the archive)."""
        if name == PACS_NODE:
            return self.pacs.endpoint
        node = self.config.node(name)
        server: QANode | Workstation | Modality | RisNode | None = (
            self.qa_nodes.get(name) or self.workstations.get(name) or self.modalities.get(name))
        if server is None and self.ris is not None and self.ris.node == name:
            server = self.ris
        if server is None:
            raise ConfigError(f"node '{name}' ({node.role}) does not listen; it cannot receive DICOM")
        if server.endpoint is None:
            raise HarnessError(f"node '{name}' is not started")
        return server.endpoint

    def names(self) -> list[str]:
        return [n.name for n in self.config.nodes] + [PACS_NODE]

    def modality(self, name: str) -> Modality:
        return _pick(self.modalities, name, "modality")

    def workstation(self, name: str) -> Workstation:
        return _pick(self.workstations, name, "workstation")

    def qa(self, name: str) -> QANode:
        return _pick(self.qa_nodes, name, "QA node")

    # -- stopping and starting nodes inside a scenario ---------------------------------------------------------


    def stop_node(self, name: str, *, abrupt: bool = False) -> str:
        """Stop the PACS or a QA node while the rest of the department runs; :meth:`start_node` brings it back on
        the same AE title and port. ``abrupt``: a QA node dies as a killed process would (associations aborted,
        nothing drained, its queue stays on disk, see ``QANode.kill``); a PACS process of its own is killed
        (SIGKILL) rather than asked to stop. Returns a line for the transcript."""
        if name in self._stopped_nodes:
            raise HarnessError(f"node '{name}' is already stopped")
        if name == PACS_NODE:
            pacs = self.pacs
            if Capability.RESTART not in pacs.capabilities:
                raise NotSupported(f"{pacs.name} PACS is not managed by radsim: it cannot be stopped or started")
            endpoint = pacs.endpoint
            # Started again on the port it has now, so that every QA node's destination stays valid.
            pacs.config = pacs.config.model_copy(update={"port": endpoint.port})
            has_process = pacs.pid is not None
            if abrupt:
                pacs.kill()
            else:
                pacs.stop()
            how = "killed" if abrupt and has_process else "stopped"
        else:
            qa = self.qa(name)
            endpoint = self.endpoint(name)
            if abrupt:
                qa.kill()
            else:
                qa.stop()
            how = f"{'killed' if abrupt else 'stopped'} with {qa.queue_length()} instance(s) queued on disk"
        self._stopped_nodes = self._stopped_nodes | {name}
        return f"{name} {endpoint} {how}"

    def start_node(self, name: str) -> str:
        """Start a node :meth:`stop_node` stopped, on the same AE title and port: the embedded PACS on its data
        folder (Orthanc as a new process, on a fresh folder: it starts empty), a QA node as a fresh node on its
        data folder (the ledger reconciled with the queue, which it forwards). Returns a line for the
        transcript."""
        if name not in self._stopped_nodes:
            self.endpoint(name)  # an unknown name is a ConfigError
            raise HarnessError(f"node '{name}' is running; stop it first (stop_node)")
        if name == PACS_NODE:
            peers: dict[str, Endpoint] = dict(self.pacs.peers)
            for node in self.config.nodes:
                try:
                    endpoint = self.endpoint(node.name)
                except HarnessError:  # does not listen, or is stopped itself
                    continue
                peers[endpoint.ae_title] = endpoint
            endpoint = self.pacs.start(list(peers.values()), self.journal)
            for qa_name, qa in self.qa_nodes.items():
                if PACS_NODE in self.config.targets_of(qa_name):
                    qa.set_destination(endpoint)  # wakes a forwarder waiting out its backoff
        else:
            old = self.qa(name)
            before = old.endpoint
            assert before is not None
            fresh = old.reopened()
            try:
                endpoint = fresh.start(before.host, before.port)
            except BaseException:
                fresh.ledger.close()
                raise
            self.qa_nodes[name] = fresh
            old.ledger.close()
            queued = fresh.queue_length()
        self._stopped_nodes = self._stopped_nodes - {name}
        what = "" if name == PACS_NODE else f"; {queued} instance(s) queued to forward"
        return f"{name} {endpoint} started{what}"


def _pick(table: dict[str, T], name: str, what: str) -> T:
    try:
        return table[name]
    except KeyError:
        known = ", ".join(table) or "none"
        raise ConfigError(f"'{name}' is not a {what} of this department (known: {known})") from None


def _attempt(errors: list[str], action: Callable[[], None]) -> None:
    try:
        action()
    except Exception as exc:
        errors.append(str(exc))
