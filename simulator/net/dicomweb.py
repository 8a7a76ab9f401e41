"""DICOMweb user agent over ``dicomweb-client``: QIDO-RS search, WADO-RS retrieve, STOW-RS store (PS3.18 10.6,
10.4, 10.5).

Each call is one HTTP request on its own session, journalled like a DIMSE exchange (kind ``QIDO-RS``,
``WADO-RS`` or ``STOW-RS``; the HTTP status, method, URL and bytes each way in ``detail``). A request that gets
no answer, an HTTP error status, or an answer the transaction does not define raises :class:`DicomWebFailure`;
an empty search result is returned only when the server answered 200 or 204. Per-instance STOW-RS results are
data (:class:`StowOutcome`), as per-instance C-STORE statuses are.

The journal's ``status`` for these exchanges is 0x0000 when the request did what was asked, 0xB000 when a
STOW-RS stored only some instances or with warnings (HTTP 202), and None when it failed (no DIMSE status
exists for an HTTP failure).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlparse

import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from requests.adapters import HTTPAdapter

from simulator.errors import ConfigError, DicomWebFailure
from simulator.journal import Exchange, Journal
from simulator.net.status import describe_status, is_failure, is_warning

_T = TypeVar("_T")

QIDO = "QIDO-RS"
WADO = "WADO-RS"
STOW = "STOW-RS"

# A search answered with one of these is a real (possibly empty) result (PS3.18 10.6.3.2).
SEARCH_OK = (200, 204)
# STOW-RS answers (PS3.18 10.5.3, Table 10.5.3-1): all stored, or some stored with warnings or failures ...
STOW_STORED = (200, 202)
# ... and none stored (bad syntax, conflict); with a Store Instances Response Module these are results too.
STOW_REFUSED = (400, 409)

# STOW-RS Failure Reason values whose meaning differs from the C-STORE table (PS3.18 10.5.3, Table 10.5.3-2).
_STOW_REASONS = {0xC122: "Referenced Transfer Syntax not supported"}


def stow_reason(code: int) -> str:
    """Meaning of a STOW-RS Warning Reason or Failure Reason value (PS3.18 10.5.3)."""
    return _STOW_REASONS.get(code) or describe_status(code, "C-STORE")


@dataclass(frozen=True)
class StowInstance:
    """What the STOW-RS response says about one instance: ``status`` is 0x0000 (stored), its Warning Reason
    (0008,1196) (stored with a warning) or its Failure Reason (0008,1197) (not stored)."""

    sop_class_uid: str
    sop_instance_uid: str
    status: int
    meaning: str
    retrieve_url: str | None = None

    @property
    def stored(self) -> bool:
        return not is_failure(self.status)


@dataclass(frozen=True)
class StowOutcome:
    """The answer to one STOW-RS request (PS3.18 10.5.3): HTTP status and one result per instance named in
    the Referenced SOP Sequence (0008,1199) or Failed SOP Sequence (0008,1198).

    ``unreported`` lists SOP Instance UIDs that were sent but that the response names in neither sequence.
    """

    http_status: int
    reason: str
    instances: tuple[StowInstance, ...]
    unreported: tuple[str, ...] = ()
    retrieve_url: str | None = None
    duration_s: float = 0.0
    bytes_sent: int = 0

    @property
    def stored(self) -> list[StowInstance]:
        return [i for i in self.instances if i.stored]

    @property
    def failed(self) -> list[StowInstance]:
        return [i for i in self.instances if not i.stored]

    @property
    def warnings(self) -> list[StowInstance]:
        return [i for i in self.instances if is_warning(i.status)]

    @property
    def ok(self) -> bool:
        """Every instance sent is reported stored."""
        return not self.failed and not self.unreported

    @property
    def expected_http_statuses(self) -> tuple[int, ...]:
        """The HTTP statuses PS3.18 Table 10.5.3-1 gives for these per-instance results."""
        if not self.stored:
            return STOW_REFUSED
        if self.failed or self.unreported:
            return (202,)
        return (200, 202) if self.warnings else (200,)

    @property
    def http_status_conforms(self) -> bool:
        return self.http_status in self.expected_http_statuses

    def status_of(self, sop_instance_uid: str) -> StowInstance | None:
        for item in self.instances:
            if item.sop_instance_uid == sop_instance_uid:
                return item
        return None


def parse_stow_response(response: Dataset, sent_uids: Sequence[str], *, http_status: int,
                        reason: str = "") -> StowOutcome:
    """The per-instance outcome of a STOW-RS response payload (PS3.18 10.5.3, Table 10.5.3-1).

    Failed SOP Sequence items carry a Failure Reason; Referenced SOP Sequence items may carry a Warning Reason.
    A failed item without a Failure Reason gets 0x0110 (Processing failure), which is how PS3.18 names an
    unspecified failure.
    """
    results: list[StowInstance] = []
    for item in response.get("ReferencedSOPSequence", None) or []:
        code = int(item.WarningReason) if item.get("WarningReason") is not None else 0x0000
        results.append(StowInstance(
            str(item.get("ReferencedSOPClassUID", "")), str(item.get("ReferencedSOPInstanceUID", "")), code,
            "Success" if code == 0 else stow_reason(code), _text(item.get("RetrieveURL")),
        ))
    for item in response.get("FailedSOPSequence", None) or []:
        code = int(item.FailureReason) if item.get("FailureReason") is not None else 0x0110
        results.append(StowInstance(
            str(item.get("ReferencedSOPClassUID", "")), str(item.get("ReferencedSOPInstanceUID", "")), code,
            stow_reason(code),
        ))
    named = {r.sop_instance_uid for r in results}
    unreported = tuple(uid for uid in sent_uids if uid not in named)
    return StowOutcome(http_status, reason, tuple(results), unreported, _text(response.get("RetrieveURL")))


def _text(value: object) -> str | None:
    return None if value is None or str(value) == "" else str(value)


@dataclass
class _HttpCall:
    """One HTTP request as it went over the wire."""

    method: str
    url: str
    sent: int = 0
    response: requests.Response | None = None

    @property
    def status(self) -> int | None:
        return None if self.response is None else int(self.response.status_code)

    @property
    def reason(self) -> str:
        return "" if self.response is None else str(self.response.reason or "")

    @property
    def received(self) -> int:
        """Body bytes of the answer (our requests never stream, so the body is already read)."""
        if self.response is None:
            return 0
        try:
            return len(self.response.content or b"")
        except requests.RequestException:  # the connection broke while the body came
            return 0


class _MeteredAdapter(HTTPAdapter):
    """Transport that remembers each request it sends and counts the body bytes, streamed bodies included.

    It also puts the port back into the Host header: dicomweb-client sets ``Host`` to the bare host name, so a
    server on a non-default port builds its Retrieve URLs without the port (RFC 9110 7.2 wants it there).
    """

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.calls: list[_HttpCall] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        call = _HttpCall(str(request.method), str(request.url))
        self.calls.append(call)
        target = urlparse(call.url)
        if target.port is not None and request.headers.get("Host") == target.hostname:
            request.headers["Host"] = target.netloc.rpartition("@")[2]
        body = request.body
        if isinstance(body, bytes | str):
            call.sent = len(body)
        elif body is not None:
            request.body = _counted(body, call)
        response = super().send(request, *args, **kwargs)
        call.response = response
        return response


def _counted(chunks: Iterable[bytes], call: _HttpCall) -> Iterator[bytes]:
    for chunk in chunks:
        call.sent += len(chunk)
        yield chunk


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DicomWebClient:
    """A DICOMweb user agent of node ``node`` for the service rooted at ``base_url`` (e.g. ``.../dicom-web``)."""

    def __init__(self, base_url: str, *, node: str, journal: Journal | None = None, timeout: float = 60.0) -> None:
        parsed = urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(f"DICOMweb URL '{base_url}' is not an http:// or https:// URL with a host")
        self.base_url = base_url.rstrip("/")
        self.node = node
        self.journal = journal if journal is not None else Journal()
        self.timeout = timeout
        self._host = parsed.hostname
        self._port = parsed.port or (443 if parsed.scheme == "https" else 80)

    # -- QIDO-RS (PS3.18 10.6) -----------------------------------------------------------------------------

    def search_studies(self, filters: Mapping[str, str] | None = None, *, fields: Sequence[str] = (),
                       limit: int | None = None, offset: int | None = None) -> list[Dataset]:
        """Search for studies (``GET {base}/studies?...``); ``filters`` maps keywords or tags to values."""
        return self._search("studies", lambda c, q: c.search_for_studies(**q), filters, fields, limit, offset)

    def search_series(self, filters: Mapping[str, str] | None = None, *, study_uid: str | None = None,
                      fields: Sequence[str] = (), limit: int | None = None,
                      offset: int | None = None) -> list[Dataset]:
        """Search for series, all of them or those of ``study_uid`` (``{base}/studies/{uid}/series``)."""
        return self._search("series", lambda c, q: c.search_for_series(study_instance_uid=study_uid, **q),
                            filters, fields, limit, offset)

    def search_instances(self, filters: Mapping[str, str] | None = None, *, study_uid: str | None = None,
                         series_uid: str | None = None, fields: Sequence[str] = (), limit: int | None = None,
                         offset: int | None = None) -> list[Dataset]:
        """Search for instances, optionally below ``study_uid`` (and ``series_uid``)."""
        return self._search(
            "instances",
            lambda c, q: c.search_for_instances(study_instance_uid=study_uid, series_instance_uid=series_uid, **q),
            filters, fields, limit, offset,
        )

    def _search(self, level: str, call: Callable[[DICOMwebClient, dict[str, Any]], list[dict[str, Any]]],
                filters: Mapping[str, str] | None, fields: Sequence[str], limit: int | None,
                offset: int | None) -> list[Dataset]:
        query: dict[str, Any] = {"search_filters": dict(filters or {}), "fields": list(fields) or None,
                                 "limit": limit, "offset": offset}
        started = time.time()
        with self._client() as (client, meter):
            items = self._perform(QIDO, "GET", meter, started, lambda: call(client, query))
            http = meter.calls[-1]
            if http.status not in SEARCH_OK:
                self._fail(QIDO, http, started, "a search answers 200 (matches) or 204 (none) (PS3.18 10.6.3.2)")
            problem = next((f"item {n} is a JSON {type(item).__name__}, not an object"
                            for n, item in enumerate(items) if not isinstance(item, dict)), "")
            try:
                matches = [] if problem else [Dataset.from_json(item) for item in items]
            except Exception as exc:
                problem = str(exc)
            if problem:
                self._fail(QIDO, http, started, f"the answer is not DICOM JSON (PS3.18 F.2): {problem}; {_ROOT_HINT}")
            detail: dict[str, Any] = {"level": level, "matches": len(matches), "filters": dict(filters or {})}
            warning = http.response.headers.get("Warning") if http.response is not None else None
            if warning:  # e.g. more results than the server returns at once (PS3.18 8.3.3.3)
                detail["warning"] = warning
            self._record(QIDO, http, started, 0x0000, detail)
        return matches

    # -- WADO-RS (PS3.18 10.4) -----------------------------------------------------------------------------

    def retrieve_study(self, study_uid: str, *, transfer_syntax: str = "*") -> list[Dataset]:
        """Every instance of a study; ``transfer_syntax`` ``*`` asks for them as stored (PS3.18 8.7.3.5)."""
        return self._retrieve({"study": study_uid}, transfer_syntax, lambda c, m: c.retrieve_study(
            study_uid, media_types=m))

    def retrieve_series(self, study_uid: str, series_uid: str, *, transfer_syntax: str = "*") -> list[Dataset]:
        return self._retrieve({"study": study_uid, "series": series_uid}, transfer_syntax,
                              lambda c, m: c.retrieve_series(study_uid, series_uid, media_types=m))

    def retrieve_instance(self, study_uid: str, series_uid: str, sop_instance_uid: str, *,
                          transfer_syntax: str = "*") -> list[Dataset]:
        """One instance, as a list of one (the server answering with none or several raises)."""
        return self._retrieve(
            {"study": study_uid, "series": series_uid, "instance": sop_instance_uid}, transfer_syntax,
            lambda c, m: [c.retrieve_instance(study_uid, series_uid, sop_instance_uid, media_types=m)],
        )

    def _retrieve(self, target: dict[str, str], transfer_syntax: str,
                  call: Callable[[DICOMwebClient, tuple[tuple[str, str], ...]], list[Dataset]]) -> list[Dataset]:
        media = (("application/dicom", transfer_syntax),)
        started = time.time()
        with self._client() as (client, meter):
            instances = self._perform(WADO, "GET", meter, started, lambda: call(client, media))
            http = meter.calls[-1]
            if http.status != 200:
                self._fail(WADO, http, started, "a retrieve answers 200 with the instances (PS3.18 10.4.3)")
            self._record(WADO, http, started, 0x0000, {**target, "instances": len(instances)})
        return instances

    # -- STOW-RS (PS3.18 10.5) -----------------------------------------------------------------------------

    def store(self, datasets: Sequence[Dataset], *, study_uid: str | None = None) -> StowOutcome:
        """Store ``datasets`` in one request (``POST {base}/studies[/{study_uid}]``); per-instance results.

        Each dataset needs its File Meta Information (a Transfer Syntax UID): the parts are PS3.10 files
        (PS3.18 8.6.1.1.1). HTTP 200 and 202, and 400 and 409 with a Store Instances Response Module, are answers
        with per-instance results; anything else raises :class:`DicomWebFailure`.
        """
        if not datasets:
            raise ValueError("STOW-RS needs at least one dataset")
        parts = [_part10_view(ds) for ds in datasets]
        sent_uids = [str(ds.SOPInstanceUID) for ds in datasets]
        started = time.time()
        with self._client() as (client, meter):

            def post() -> Dataset | None:
                try:
                    return client.store_instances(parts, study_instance_uid=study_uid)
                except requests.HTTPError as exc:  # a refusal may still carry the response module
                    if exc.response is not None and exc.response.status_code in STOW_REFUSED:
                        return None
                    raise

            answer = self._perform(STOW, "POST", meter, started, post)
            http = meter.calls[-1]
            assert http.response is not None
            if answer is None:
                answer = self._refusal_module(http, started)
            elif http.status not in STOW_STORED:
                self._fail(STOW, http, started, "a store answers 200, 202, 400 or 409 (PS3.18 10.5.3)")
            outcome = parse_stow_response(answer, sent_uids, http_status=int(http.response.status_code),
                                          reason=http.reason)
            outcome = StowOutcome(outcome.http_status, outcome.reason, outcome.instances, outcome.unreported,
                                  outcome.retrieve_url, time.time() - started, http.sent)
            status = 0x0000 if outcome.ok and not outcome.warnings else (0xB000 if outcome.stored else None)
            self._record(STOW, http, started, status, {
                "sent": len(datasets), "stored": len(outcome.stored), "failed": len(outcome.failed),
                "warnings": len(outcome.warnings), "unreported": len(outcome.unreported),
                **({"study": study_uid} if study_uid else {}),
            })
        return outcome

    def _refusal_module(self, http: _HttpCall, started: float) -> Dataset:
        """The Store Instances Response Module of a 400/409 answer; without one the refusal is a failure."""
        assert http.response is not None
        try:
            body = http.response.json()
            module = Dataset.from_json(body[0] if isinstance(body, list) and body else body)
        except Exception:
            module = Dataset()
        if "FailedSOPSequence" not in module and "ReferencedSOPSequence" not in module:
            self._fail(STOW, http, started, "refused without a Store Instances Response Module (PS3.18 10.5.3)")
        return module

    # -- plumbing -----------------------------------------------------------------------------------------------

    @contextmanager
    def _client(self) -> Iterator[tuple[DICOMwebClient, _MeteredAdapter]]:
        """A library client on a fresh session whose transport records each request; closed afterwards."""
        session = requests.Session()
        session.trust_env = not _is_loopback(self._host)  # no proxy between us and a loopback server
        session.headers["Accept"] = "application/dicom+json"  # STOW-RS response module (PS3.18 10.5.3)
        meter = _MeteredAdapter()
        session.mount("http://", meter)
        session.mount("https://", meter)
        try:
            client = DICOMwebClient(self.base_url, session=session, timeout=(min(10.0, self.timeout), self.timeout))
        except ValueError as exc:  # the library's own URL check
            session.close()
            raise ConfigError(f"DICOMweb URL '{self.base_url}': {exc}") from None
        client.set_http_retry_params(retry=False)  # report what the server answered; no silent retries
        try:
            yield client, meter
        finally:
            session.close()

    def _perform(self, kind: str, method: str, meter: _MeteredAdapter, started: float,
                 action: Callable[[], _T]) -> _T:
        """Run one library call; turn each way it can fail into a journalled :class:`DicomWebFailure`."""
        try:
            return action()
        except requests.HTTPError as exc:
            http = meter.calls[-1] if meter.calls else _HttpCall(method, self.base_url, response=exc.response)
            self._fail(kind, http, started, _hint(http.status))
        except requests.Timeout as exc:
            http = meter.calls[-1] if meter.calls else _HttpCall(method, self.base_url)
            self._fail(kind, http, started, "",
                       unreachable=f"no answer within {self.timeout:g}s ({type(exc).__name__})")
        except requests.ConnectionError as exc:
            http = meter.calls[-1] if meter.calls else _HttpCall(method, self.base_url)
            self._fail(kind, http, started, "", unreachable=_connection_problem(exc))
        except (InvalidDicomError, ValueError, KeyError) as exc:
            # The answer came but is not what the transaction defines (e.g. a part that is not a PS3.10 file).
            if not meter.calls or meter.calls[-1].response is None:
                raise
            self._fail(kind, meter.calls[-1], started, f"the answer is not a valid {kind} response ({exc})")

    def _fail(self, kind: str, http: _HttpCall, started: float, hint: str, *, unreachable: str = "") -> NoReturn:
        """Journal the failed request and raise :class:`DicomWebFailure`."""
        status = None if unreachable else http.status
        reason = unreachable or http.reason
        body = ""
        if http.response is not None and not unreachable:
            body = http.response.text if _is_text(http.response) else f"<{len(http.response.content)} bytes>"
        self._record(kind, http, started, None, {"error": reason, **({"hint": hint} if hint else {})})
        raise DicomWebFailure(http.method, http.url, status, reason, body=body, hint=hint)

    def _record(self, kind: str, http: _HttpCall, started: float, status: int | None,
                detail: dict[str, Any]) -> None:
        code = http.status
        meaning = f"HTTP {code} {http.reason}".rstrip() if code is not None else "no HTTP answer"
        received = http.received
        self.journal.record(Exchange(
            node=self.node, kind=kind, role="SCU", local_ae="", peer_ae="", peer_host=self._host,
            peer_port=self._port, status=status, meaning=meaning, started=started,
            duration_s=time.time() - started, bytes=http.sent + received,
            detail={"method": http.method, "url": http.url, "http_status": code, "bytes_sent": http.sent,
                    "bytes_received": received, **detail},
        ))


def _part10_view(ds: Dataset) -> Dataset:
    """``ds`` as the library will write it: a PS3.10 file with preamble and 'DICM' prefix (PS3.10 7.1).

    The library writes each part with ``pydicom.dcmwrite(buffer, ds)``, which omits the preamble and prefix
    for a dataset built in memory (no ``preamble``); some servers (Orthanc among them) store such a part as it
    came and later serve it back that way. The view shares ``ds``'s elements: nothing is copied.
    """
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        raise ValueError(f"dataset {ds.get('SOPInstanceUID', '?')} has no File Meta Information with a Transfer "
                         "Syntax UID; STOW-RS sends PS3.10 files (PS3.18 8.6.1.1.1)")
    view = Dataset(ds)
    view.file_meta = meta
    view.preamble = getattr(ds, "preamble", None) or b"\x00" * 128
    return view


def _is_text(response: requests.Response) -> bool:
    kind = response.headers.get("Content-Type", "").lower()
    return not kind or kind.startswith("text/") or "json" in kind or "xml" in kind or "html" in kind


_ROOT_HINT = "is the URL the DICOMweb service root (for Orthanc, ending in '/dicom-web')?"


def _hint(status: int | None) -> str:
    if status == 404:
        return ("the resource does not exist there, or the URL lacks the service root (e.g. '/dicom-web'); "
                "check the DICOMweb URL and the UIDs")
    if status == 405:
        return f"the server does not take this method at this URL; {_ROOT_HINT}"
    if status in (401, 403):
        return "the server wants credentials or refuses this client"
    if status in (406, 415):
        return "the server does not offer the media type or transfer syntax asked for"
    return ""


def _connection_problem(exc: requests.ConnectionError) -> str:
    text = str(exc)
    for needle, meaning in (("Connection refused", "connection refused"),
                            ("Name or service not known", "host name not known"),
                            ("RemoteDisconnected", "the server closed the connection without answering")):
        if needle in text:
            return meaning
    return f"{type(exc).__name__}: {text[:200]}"
