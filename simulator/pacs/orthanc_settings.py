"""The Orthanc configuration radsim writes: our AEs registered, every plugin it found enabled, nothing reachable
from outside loopback over HTTP. Shared by the native launcher and the container backends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from simulator.config import Endpoint
from simulator.pacs.orthanc_rest import DICOMWEB_ROOT, modality_entry

DICOMWEB_PLUGIN = "libOrthancDicomWeb.so"
WORKLIST_PLUGIN = "libModalityWorklists.so"
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def orthanc_settings(*, ae_title: str, dicom_port: int, http_port: int, storage: Path,
                     peers: Mapping[str, Endpoint], plugins: Sequence[Path], worklists: Path | None,
                     remote_access: bool = False, ca_bundle: str | None = None) -> dict[str, Any]:
    """An Orthanc JSON configuration (Orthanc Book, "Configuration of Orthanc") for one radsim run."""
    settings: dict[str, Any] = {
        "Name": f"radsim {ae_title}",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "DicomServerEnabled": True,
        "DicomAet": ae_title,
        "DicomPort": dicom_port,
        "DicomCheckCalledAet": True,
        # Orthanc answers C-FIND (worklist included) in this encoding and drops what it cannot represent: with
        # the default (Latin1), a Japanese worklist item comes back as "Yamada^Tarou=^=^" (measured, 1.10.1).
        "DefaultEncoding": "Utf8",
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowFindWorklist": True,
        "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True,
        "DicomModalities": {ae: modality_entry(p) for ae, p in peers.items()},
        "DicomModalitiesInDatabase": False,
        "HttpServerEnabled": True,
        "HttpPort": http_port,
        "RemoteAccessAllowed": remote_access,
        "AuthenticationEnabled": False,
        "HttpDescribeErrors": True,
        "StableAge": 1,
        "ConcurrentJobs": 2,
        "SaveJobs": False,
        "LimitFindResults": 0,
        "LimitFindInstances": 0,
        "ExecuteLuaEnabled": False,
        "Plugins": [str(p) for p in plugins],
    }
    if ca_bundle:  # unset, 1.10.1 points it at the config folder
        settings["HttpsCACertificates"] = ca_bundle
    names = {p.name for p in plugins}
    if DICOMWEB_PLUGIN in names:
        settings["DicomWeb"] = {"Enable": True, "Root": DICOMWEB_ROOT}
    if WORKLIST_PLUGIN in names and worklists is not None:
        settings["Worklists"] = {"Enable": True, "Database": str(worklists)}
    return settings
