"""One exception tree for the whole department.

Every message is written for the person at the keyboard: it names the node, the peer and what to do next.
The CLI prints ``str(error)`` as a single line and exits non-zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class HarnessError(Exception):
    """Base class of every error radsim raises on purpose."""


class ConfigError(HarnessError):
    """A configuration or scenario file (or a flag) is invalid.

    ``source`` names the file, ``line`` the 1-based line, ``field`` the dotted field path when known.
    """

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.source:
            where = self.source + (f":{self.line}" if self.line else "")
        parts = [p for p in (where, f"field '{self.field}'" if self.field else "") if p]
        prefix = ", ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


@dataclass(frozen=True)
class PeerDescription:
    """Who we tried to talk to; used in network error messages."""

    ae_title: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"AE '{self.ae_title}' at {self.host}:{self.port}"


class NetworkError(HarnessError):
    """A DICOM network operation did not complete."""


class PeerUnreachable(NetworkError):
    """No TCP connection or no A-ASSOCIATE answer from the peer."""

    def __init__(self, peer: PeerDescription, tried: str, cause: str = "") -> None:
        self.peer = peer
        self.tried = tried
        detail = f" ({cause})" if cause else ""
        super().__init__(
            f"cannot reach {peer}: {tried} failed{detail}; check that the node is running and that "
            "host, port and AE title are right"
        )


class AssociationRejected(NetworkError):
    """The peer answered A-ASSOCIATE-RJ (PS3.8 9.3.4)."""

    def __init__(self, peer: PeerDescription, calling_ae: str, reason: str) -> None:
        self.peer = peer
        self.calling_ae = calling_ae
        self.reason = reason
        super().__init__(
            f"{peer} rejected the association from '{calling_ae}': {reason}"
        )


class AssociationAborted(NetworkError):
    """The association was aborted (A-ABORT or A-P-ABORT, PS3.8 7.3) or timed out mid-operation."""

    def __init__(self, peer: PeerDescription, operation: str, hint: str = "") -> None:
        self.peer = peer
        self.operation = operation
        extra = f"; {hint}" if hint else ""
        super().__init__(f"{peer} aborted or dropped the association during {operation}{extra}")


class NoAcceptedContext(NetworkError):
    """The peer accepted the association but none of the presentation contexts we need (PS3.8 9.3.3.2).

    ``results`` are the Result/Reason codes of the rejected contexts: 3 (abstract syntax not supported) and 4
    (transfer syntaxes not supported) say the peer's configuration refuses them (:attr:`permanent`); 1 and 2 may
    pass (dcmqrscp --no-parallel-store answers 1 to a second simultaneous store association)."""

    def __init__(self, peer: PeerDescription, what: str, *, results: Sequence[int] = ()) -> None:
        self.peer = peer
        self.results = tuple(results)
        super().__init__(f"{peer} accepted no presentation context for {what}")

    @property
    def permanent(self) -> bool:
        return bool(self.results) and all(result in (3, 4) for result in self.results)


class DimseFailure(NetworkError):
    """A DIMSE response carried a failure (or unexpected) status (PS3.7 C)."""

    def __init__(self, operation: str, status: int, meaning: str, *, peer: PeerDescription | None = None,
                 comment: str | None = None, detail: str = "") -> None:
        self.operation = operation
        self.status = status
        self.meaning = meaning
        self.peer = peer
        self.comment = comment
        where = f" from {peer}" if peer else ""
        text = f"{operation}{where} failed with status 0x{status:04X} ({meaning})"
        if comment:
            text += f": {comment}"
        if detail:
            text += f"; {detail}"
        super().__init__(text)


class DicomWebFailure(NetworkError):
    """A DICOMweb request (PS3.18) failed: no HTTP answer, an HTTP error status, or an answer the transaction
    does not define. ``status`` is the HTTP status code, None when the server never answered."""

    def __init__(self, method: str, url: str, status: int | None, reason: str, *, body: str = "",
                 hint: str = "") -> None:
        self.method = method
        self.url = url
        self.status = status
        self.reason = reason
        self.body = " ".join(body.split())[:300]
        if status is None:
            text = (f"cannot reach the DICOMweb service at {url}: {method} failed ({reason}); check that the "
                    "server is running and that the URL is right")
        else:
            text = f"DICOMweb {method} {url} answered HTTP {status} {reason}".rstrip()
            if self.body:
                text += f": {self.body}"
        if hint:
            text += f"; {hint}"
        super().__init__(text)


class NodeNotReady(HarnessError):
    """A node or PACS did not become ready in time; ``log_tail`` holds the end of its log."""

    def __init__(self, what: str, waited_s: float, reason: str, log_tail: str = "") -> None:
        self.what = what
        self.log_tail = log_tail
        text = f"{what} was not ready after {waited_s:.1f}s: {reason}"
        if log_tail:
            text += "\n--- last lines of its log ---\n" + log_tail
        super().__init__(text)


class PortInUse(HarnessError):
    """A configured listening port is taken by another process."""

    def __init__(self, what: str, host: str, port: int) -> None:
        super().__init__(
            f"cannot listen for {what} on {host}:{port}: the port is already in use; "
            "choose another port or use 0 to allocate a free one"
        )


class BackendUnavailable(HarnessError):
    """A PACS backend cannot be used on this machine (binary missing, no engine ...)."""


class NotSupported(HarnessError):
    """The PACS under test lacks a capability a scenario requires; a result, not a failure."""


class RelationalQueryRefused(NotSupported):
    """The peer did not accept relational queries in extended negotiation (PS3.4 C.4.1.2.2.2): it answers only
    hierarchical ones, with a single value for each unique key above the query level."""

    def __init__(self, peer: PeerDescription, model: str) -> None:
        self.peer = peer
        self.model = model
        super().__init__(f"{peer} did not accept relational queries for the {model} root C-FIND model "
                         "(PS3.4 C.4.1.2.2.2); only hierarchical queries may be sent to it")


class ConformanceFailure(HarnessError):
    """One or more assertions about what the department observed did not hold; lists every violation."""

    def __init__(self, violations: Sequence[str]) -> None:
        self.violations = list(violations)
        count = len(self.violations)
        head = f"{count} violation{'s' if count != 1 else ''}"
        super().__init__(head + ": " + "; ".join(self.violations))
