"""Worklist items as ``.wl`` files, the form file-based worklist SCPs read: DCMTK's ``wlmscpfs`` (one folder per
called AE title, with a ``lockfile``) and Orthanc's ModalityWorklists plugin (its ``Worklists.Database`` folder).

Each file is a DICOM file (PS3.10 7.1, Explicit VR Little Endian) holding one complete worklist item from
:func:`~simulator.nodes.ris.worklist.worklist_item`: ``wlmscpfs`` silently ignores an item that lacks a return
key it requires.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from simulator.net.contexts import MODALITY_WORKLIST_FIND
from simulator.net.scp import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from simulator.nodes.ris.schedule import step_key
from simulator.nodes.ris.worklist import worklist_item
from simulator.synth.procedure import ScheduledProcedure
from simulator.synth.uids import derive_uid


def wl_file_name(procedure: ScheduledProcedure) -> str:
    """``<accession>_<requested procedure>_<step>.wl``, with characters other than letters, digits, ``-`` and
    ``.`` replaced, so that every step has its own file."""
    return "_".join(re.sub(r"[^A-Za-z0-9.-]", "-", part) or "-" for part in step_key(procedure)) + ".wl"


def write_wl_files(folder: Path, procedures: Iterable[ScheduledProcedure]) -> list[Path]:
    """Write one ``.wl`` file per procedure into ``folder`` (created if needed); return the paths in order.

    For ``wlmscpfs -dfp DIR``, ``folder`` is ``DIR/<called AE title>`` and also needs an empty ``lockfile``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for procedure in procedures:
        item = worklist_item(procedure)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MODALITY_WORKLIST_FIND
        meta.MediaStorageSOPInstanceUID = derive_uid("radsim-wl", procedure.study_instance_uid, *step_key(procedure))
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
        item.file_meta = meta
        path = folder / wl_file_name(procedure)
        item.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
