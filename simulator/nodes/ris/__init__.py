"""The RIS: scheduled procedure steps, the Modality Worklist SCP (IHE RAD-5) and the MPPS SCP (RAD-6, RAD-7)."""

from simulator.nodes.ris.mpps import MppsBook, MppsMessage, MppsRecord, StepReference
from simulator.nodes.ris.schedule import OrderedProcedure, Schedule, load_schedule, make_day, step_key
from simulator.nodes.ris.service import RisNode
from simulator.nodes.ris.wlfiles import write_wl_files
from simulator.nodes.ris.worklist import match_worklist, worklist_item

__all__ = [
    "MppsBook",
    "MppsMessage",
    "MppsRecord",
    "OrderedProcedure",
    "RisNode",
    "Schedule",
    "StepReference",
    "load_schedule",
    "make_day",
    "match_worklist",
    "step_key",
    "worklist_item",
    "write_wl_files",
]
