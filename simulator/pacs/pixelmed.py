"""PixelMed's ``com.pixelmed.server.DicomAndWebStorageServer`` (Debian's pixelmed-apps) as a PACS backend.

Storage and Query/Retrieve SCP (FIND, MOVE, GET in the Patient Root, Study Root and Patient/Study Only models)
with an HSQLDB index, configured by a properties file radsim writes: our AE title and port, the image and
database folders, and each C-MOVE destination under ``Dicom.RemoteAEs`` (AE title, host, port).

Two things keep it on loopback and quiet. Debian's ``pixelmed.jar`` names ``jmdns.jar`` in its manifest class
path, and the server then announces itself by multicast DNS on every start; no property switches that off, but
the server loads JmDNS by reflection and skips announcing when the class is missing. So radsim runs a copy of
the jar without its manifest (made once per run folder) and builds the class path itself. Its LDAP discovery
fails at once without a provider URL and would log a stack trace every five minutes; a logging configuration
silences those two loggers. Its web server cannot be switched off: it gets a free port.

When its DICOM port is taken the JVM does not exit: it logs a ``BindException`` and runs on, so readiness
watches the log as well as C-ECHO.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from simulator.config import PacsConfig, PixelmedPacsConfig
from simulator.errors import BackendUnavailable, ConfigError
from simulator.pacs.native import NativeBackend

SERVER_CLASS = "com.pixelmed.server.DicomAndWebStorageServer"
JAVA_DIR = Path("/usr/share/java")
PIXELMED_JAR = JAVA_DIR / "pixelmed.jar"
# The jars of Debian's libpixelmed-java dependencies the server needs, jmdns left out on purpose.
DEPENDENCY_JARS = ("hsqldb", "commons-codec", "commons-net", "slf4j-api", "slf4j-jdk14", "vecmath",
                   "javax.json-api", "jaxb-api")
_LOGGING = """handlers=java.util.logging.ConsoleHandler
.level=INFO
java.util.logging.ConsoleHandler.level=ALL
com.pixelmed.network.NetworkApplicationInformationFederated.level=OFF
com.pixelmed.network.NetworkConfigurationFromLDAP.level=OFF
"""


def jar_without_manifest(source: Path, target: Path) -> Path:
    """A copy of ``source`` without ``META-INF/MANIFEST.MF`` (so its Class-Path, which brings in jmdns, is not
    applied); made once, kept in ``target``."""
    if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if item.filename.upper() != "META-INF/MANIFEST.MF":
                zout.writestr(item, zin.read(item.filename))
    partial.replace(target)
    return target


def server_properties(*, ae_title: str, port: int, images: Path, database: Path,
                      peers: dict[str, tuple[str, int]]) -> str:
    """The server's properties file (names as PixelMed 20220618 reads them)."""
    names = [f"peer{index}" for index in range(1, len(peers) + 1)]
    lines = [
        "# written by radsim for one run",
        f"Dicom.ListeningPort={port}",
        f"Dicom.CalledAETitle={ae_title}",
        f"Dicom.CallingAETitle={ae_title}",
        "Dicom.PrimaryDeviceType=ARCHIVE",
        "Dicom.AcceptorMaximumLengthReceived=65536",
        f"Application.SavedImagesFolderName={images}",
        f"Application.DatabaseFileName={database}",
        "WebServer.ListeningPort=0",
        f"Dicom.RemoteAEs={' '.join(names)}",
    ]
    for name, (ae, (host, peer_port)) in zip(names, sorted(peers.items()), strict=True):
        lines += [f"Dicom.RemoteAEs.{name}.CalledAETitle={ae}", f"Dicom.RemoteAEs.{name}.HostNameOrIPAddress={host}",
                  f"Dicom.RemoteAEs.{name}.Port={peer_port}"]
    return "\n".join(lines) + "\n"


class PixelmedBackend(NativeBackend):
    name = "pixelmed"
    program = "PixelMed DicomAndWebStorageServer"
    package = "pixelmed-apps"

    def __init__(self, config: PacsConfig, workdir: Path | None = None) -> None:
        super().__init__(config, workdir)
        if not isinstance(config, PixelmedPacsConfig):
            raise ConfigError(f"the pixelmed backend needs a pixelmed PACS configuration, not '{config.backend}'")
        self.pixelmed: PixelmedPacsConfig = config

    def _binary_name(self) -> str:
        return self.pixelmed.binary

    def _classpath(self, run_dir: Path) -> str:
        if self.pixelmed.classpath:
            return self.pixelmed.classpath
        if not PIXELMED_JAR.is_file():
            raise BackendUnavailable(f"{PIXELMED_JAR} not found: install the Debian package 'pixelmed-apps'")
        missing = [name for name in DEPENDENCY_JARS if not (JAVA_DIR / f"{name}.jar").is_file()]
        if missing:
            raise BackendUnavailable(f"the PixelMed server needs {', '.join(f'{m}.jar' for m in missing)} in "
                                     f"{JAVA_DIR}: install the Debian package 'pixelmed-apps'")
        jar = jar_without_manifest(PIXELMED_JAR, run_dir / "pixelmed-no-mdns.jar")
        return ":".join([str(jar), *(str(JAVA_DIR / f"{name}.jar") for name in DEPENDENCY_JARS)])

    def _data_dirs(self, run_dir: Path) -> list[Path]:
        return [run_dir / "images", run_dir / "db"]

    def _prepare(self, run_dir: Path, port: int) -> list[str]:
        for folder in self._data_dirs(run_dir):
            folder.mkdir(parents=True, exist_ok=True)
        properties = run_dir / "server.properties"
        properties.write_text(server_properties(
            ae_title=self.config.ae_title, port=port, images=run_dir / "images", database=run_dir / "db" / "radsim",
            peers={p.ae_title: (p.host, p.port) for p in self.peers.values()}), encoding="utf-8")
        logging = run_dir / "logging.properties"
        logging.write_text(_LOGGING, encoding="utf-8")
        return [f"-Djava.util.logging.config.file={logging}", "-Djava.awt.headless=true", "-cp",
                self._classpath(run_dir), SERVER_CLASS, str(properties)]

    def _port_taken(self, log: str) -> bool:
        return "BindException" in log
