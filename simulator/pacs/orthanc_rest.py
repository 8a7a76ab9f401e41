"""Orthanc's REST API as radsim uses it: what the server is, what it holds, wiping it, and registering our AEs.

Shared by every backend that runs an Orthanc (the native process, and containers), whatever starts the server.
"""

from __future__ import annotations

from typing import Any

import requests

from simulator.config import Endpoint
from simulator.errors import HarnessError

_HTTP_TIMEOUT = (5.0, 60.0)  # (connect, read) seconds
DICOMWEB_ROOT = "/dicom-web/"


class OrthancRequestFailed(HarnessError):
    """An Orthanc REST call failed (no answer, or an HTTP error status)."""

    def __init__(self, method: str, url: str, problem: str) -> None:
        self.method = method
        self.url = url
        super().__init__(f"Orthanc REST {method} {url} failed: {problem}")


def modality_entry(endpoint: Endpoint) -> dict[str, Any]:
    """A DicomModalities entry (and ``PUT /modalities`` body) that may also request storage commitment and receive
    its results (``AllowStorageCommitment``, an alias of AllowNAction and AllowEventReport since 1.6.0)."""
    return {"AET": endpoint.ae_title, "Host": endpoint.host, "Port": endpoint.port, "AllowStorageCommitment": True}


def version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


class OrthancRest:
    """A session with one Orthanc's REST API at ``base_url`` (e.g. ``http://127.0.0.1:8042``)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = requests.Session()
        self._session.trust_env = False  # never send loopback requests through an HTTP proxy

    def close(self) -> None:
        """Close keep-alive connections (they delay Orthanc's exit)."""
        self._session.close()

    # -- facts -------------------------------------------------------------------------------------------------

    def system(self, timeout: tuple[float, float] = (1.0, 5.0)) -> tuple[int, dict[str, Any]]:
        """``GET /system``: (HTTP status, answer); raises ``requests.RequestException`` when nobody answers."""
        response = self._session.get(self.base_url + "/system", timeout=timeout)
        body = response.json() if response.status_code == 200 else {}
        return response.status_code, body if isinstance(body, dict) else {}

    def plugins(self) -> frozenset[str]:
        answer = self.get("/plugins")
        return frozenset(str(p) for p in answer) if isinstance(answer, list) else frozenset()

    # -- state -------------------------------------------------------------------------------------------------

    def wipe(self) -> None:
        """Delete every patient (and so every study, series and instance)."""
        patients = self.get("/patients")
        if not isinstance(patients, list):
            raise OrthancRequestFailed("GET", self.base_url + "/patients", f"unexpected answer {patients!r}")
        for patient in patients:
            self.request("DELETE", f"/patients/{patient}", missing_ok=True)

    def sop_instance_uids(self, study_instance_uid: str | None = None) -> set[str]:
        """SOP Instance UIDs held (``POST /tools/find`` at instance level)."""
        # Orthanc refuses wildcards on UI tags ("Wildcards are not allowed on tag 0020,000d"): {} = everything
        match = {"StudyInstanceUID": study_instance_uid} if study_instance_uid else {}
        answer = self.request("POST", "/tools/find", body={"Level": "Instance", "Query": match, "Expand": True})
        if not isinstance(answer, list):
            raise OrthancRequestFailed("POST", self.base_url + "/tools/find", f"unexpected answer {answer!r}")
        return {str(item["MainDicomTags"]["SOPInstanceUID"]) for item in answer}

    def add_modality(self, endpoint: Endpoint) -> None:
        """Register ``endpoint`` as a DICOM modality while running (``PUT /modalities/{AE}``)."""
        self.request("PUT", f"/modalities/{endpoint.ae_title}", body=modality_entry(endpoint))

    # -- HTTP --------------------------------------------------------------------------------------------------

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def request(self, method: str, path: str, *, body: Any = None, missing_ok: bool = False) -> Any:
        url = self.base_url + path
        try:
            response = self._session.request(method, url, json=body, timeout=_HTTP_TIMEOUT)
        except requests.RequestException as exc:
            raise OrthancRequestFailed(method, url, f"no answer ({exc})") from None
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code >= 400:
            snippet = response.text.strip().replace("\n", " ")[:300]
            raise OrthancRequestFailed(method, url, f"HTTP {response.status_code} {snippet}".rstrip())
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text
