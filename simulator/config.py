"""The department: its nodes, the links between them, and the PACS backend under test.

Frozen after load. A port of 0 means "allocate a free one when the node starts", so several departments
(and parallel test runs) coexist on one machine.
"""

from __future__ import annotations

import re
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from simulator.errors import ConfigError, PeerDescription
from simulator.yamlfile import load_model

_AE_CHARS = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")


def _check_ae_title(value: str) -> str:
    """PS3.5 6.2 (AE VR): 1-16 characters of the default repertoire, no backslash, not all spaces."""
    if not _AE_CHARS.match(value) or not value.strip():
        raise ValueError(
            f"AE title {value!r} must be 1-16 printable ASCII characters, not all spaces, without a backslash"
        )
    return value.strip()


AETitle = Annotated[str, AfterValidator(_check_ae_title)]
Port = Annotated[int, Field(ge=0, le=65535)]


class Role(StrEnum):
    MODALITY = "modality"
    QA = "qa"
    WORKSTATION = "workstation"
    RIS = "ris"


class Endpoint(BaseModel):
    """Where a DICOM application entity listens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ae_title: AETitle
    host: str = "127.0.0.1"
    port: Port

    def describe(self) -> PeerDescription:
        return PeerDescription(self.ae_title, self.host, self.port)

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """Parse ``AET@HOST:PORT`` (the form used by ``--forward`` and ``--peer``)."""
        match = re.fullmatch(r"([^@]+)@(.+):(\d+)", text.strip())
        if not match:
            raise ConfigError(f"'{text}' is not of the form AET@HOST:PORT")
        try:
            return cls(ae_title=match[1], host=match[2], port=int(match[3]))
        except ValueError as exc:
            raise ConfigError(f"'{text}': {exc}") from None


class NodeConfig(BaseModel):
    """One of our own actors. Every node listens on ``host:port``: QA, workstation and RIS for their services,
    a modality for storage commitment results sent on a new association (PS3.4 J.3.3)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    role: Role
    ae_title: AETitle
    host: str = "127.0.0.1"
    port: Port = 0


class LinkConfig(BaseModel):
    """A directed route for C-STORE: ``source`` sends what it produces or accepts to ``target``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    target: str


WorklistSource = Literal["auto", "ris", "pacs"]


class _PacsCommon(BaseModel):
    """What every PACS backend has: where it listens (PS3.8 7.1) and how long it may take to become ready."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ae_title: AETitle = "RADSIM_PACS"
    host: str = "127.0.0.1"
    port: Port = Field(default=0, description="DICOM port; 0 = a free one (managed backends only)")
    ready_timeout_s: float = Field(default=30.0, gt=0)


class EmbeddedPacsConfig(_PacsCommon):
    """radsim's own archive, in this process (the default)."""

    backend: Literal["embedded"] = "embedded"


class OrthancPacsConfig(_PacsCommon):
    """Debian's Orthanc, started as a child process with a generated configuration."""

    backend: Literal["orthanc"] = "orthanc"
    binary: str = Field(default="Orthanc", validation_alias=AliasChoices("binary", "orthanc_binary"))


class DcmqrscpPacsConfig(_PacsCommon):
    """DCMTK's ``dcmqrscp``, started as a child process with a generated configuration file."""

    backend: Literal["dcmqrscp"] = "dcmqrscp"
    binary: str = "dcmqrscp"


class PixelmedPacsConfig(_PacsCommon):
    """PixelMed's ``DicomAndWebStorageServer`` (Debian's ``pixelmed-apps``), started with a generated properties
    file; ``binary`` is the Java runtime."""

    backend: Literal["pixelmed"] = "pixelmed"
    binary: str = "java"
    classpath: str | None = Field(default=None, description="Java class path (default: Debian's jars)")


class RemotePacsConfig(_PacsCommon):
    """Any PACS given by AE title, host and port; radsim neither starts nor wipes it."""

    backend: Literal["remote"] = "remote"
    http_url: str | None = Field(default=None, description="DICOMweb root of the remote PACS (QIDO/WADO/STOW-RS)")

    @model_validator(mode="after")
    def _port_given(self) -> RemotePacsConfig:
        if self.port == 0:
            raise ValueError("a remote PACS needs its DICOM port (port: 0 means 'allocate', which only a PACS "
                             "radsim starts can do)")
        return self


def _default_backend(value: Any) -> Any:
    """A ``pacs`` mapping without ``backend`` is the embedded archive."""
    if isinstance(value, dict) and "backend" not in value:
        return {**value, "backend": "embedded"}
    return value


# The PACS section of a department: one model per backend, chosen by ``backend`` (default ``embedded``).
PacsConfig = Annotated[
    EmbeddedPacsConfig | OrthancPacsConfig | DcmqrscpPacsConfig | PixelmedPacsConfig | RemotePacsConfig,
    Field(discriminator="backend"),
]
PACS_CONFIGS: dict[str, type[_PacsCommon]] = {
    "embedded": EmbeddedPacsConfig, "orthanc": OrthancPacsConfig, "dcmqrscp": DcmqrscpPacsConfig,
    "pixelmed": PixelmedPacsConfig, "remote": RemotePacsConfig,
}
BACKENDS: tuple[str, ...] = tuple(PACS_CONFIGS)
_PACS_ADAPTER: TypeAdapter[PacsConfig] = TypeAdapter(PacsConfig)


def pacs_config(**fields: Any) -> PacsConfig:
    """A PACS configuration from keyword fields (``backend`` picks the model; default ``embedded``)."""
    try:
        return _PACS_ADAPTER.validate_python(_default_backend(fields))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "backend"
        raise ConfigError(f"invalid PACS setting '{where}': {first['msg']}") from None


PACS_NODE = "PACS"


class DepartmentConfig(BaseModel):
    """Nodes, links and the PACS backend; validated as a whole."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "department"
    nodes: tuple[NodeConfig, ...]
    links: tuple[LinkConfig, ...] = ()
    pacs: Annotated[PacsConfig, BeforeValidator(_default_backend)] = EmbeddedPacsConfig()
    worklist: WorklistSource = Field(
        default="auto",
        description="Who answers the modalities' worklist queries: our RIS node, the PACS (e.g. Orthanc's worklist "
                    "plugin, fed with .wl files), or auto: the PACS when it offers a worklist, else the RIS",
    )

    @model_validator(mode="after")
    def _check_references(self) -> DepartmentConfig:
        names = [node.name for node in self.nodes]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"node names must be unique; repeated: {', '.join(sorted(duplicates))}")
        if PACS_NODE in names:
            raise ValueError(f"'{PACS_NODE}' is reserved for the archive; configure it under 'pacs'")
        titles = [node.ae_title for node in self.nodes] + [self.pacs.ae_title]
        repeated = {t for t in titles if titles.count(t) > 1}
        if repeated:
            raise ValueError(f"AE titles must be unique; repeated: {', '.join(sorted(repeated))}")
        if len([n for n in self.nodes if n.role is Role.RIS]) > 1:
            raise ValueError("a department has at most one RIS node")
        known = {*names, PACS_NODE}
        for link in self.links:
            for end in (link.source, link.target):
                if end not in known:
                    raise ValueError(f"link {link.source} -> {link.target} names unknown node '{end}'")
        return self

    def node(self, name: str) -> NodeConfig:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join([n.name for n in self.nodes] + [PACS_NODE])
        raise ConfigError(f"no node named '{name}' in department '{self.name}' (known: {known})")

    def nodes_with_role(self, role: Role) -> list[NodeConfig]:
        return [node for node in self.nodes if node.role is role]

    def targets_of(self, source: str) -> list[str]:
        return [link.target for link in self.links if link.source == source]

    def with_pacs(self, pacs: PacsConfig) -> DepartmentConfig:
        return self.model_copy(update={"pacs": pacs})

    def with_node(self, node: NodeConfig) -> DepartmentConfig:
        nodes = tuple(node if n.name == node.name else n for n in self.nodes)
        return self.model_copy(update={"nodes": nodes})


def load_department(path: Path) -> DepartmentConfig:
    """Load a department YAML file; errors name the file, line and field."""
    return load_model(path, DepartmentConfig)


def default_department() -> DepartmentConfig:
    """The shipped department: modality CT1 -> QA -> PACS, workstation WS1."""
    text = resources.files("simulator.defaults").joinpath("department.yaml")
    with resources.as_file(text) as path:
        return load_department(path)
