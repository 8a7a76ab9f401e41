"""DCMTK's ``dcmqrscp`` as a PACS backend: Storage and Query/Retrieve SCP (FIND, MOVE, GET) from Debian's dcmtk.

radsim writes its configuration file (DCMTK's ``dcmqrscp.txt`` documents the format): one storage area for the
PACS AE title, open to any calling AE, and a HostTable naming our C-MOVE destinations with their hosts and ports.
It runs in DCMTK's default multi-process mode with ``--no-parallel-store``: in that mode, two simultaneous store
associations give instances the same file name and the archive loses some of what it acknowledged (measured
with 3.6.7: 40 instances answered 0x0000 over 4 associations, 37 listed, 25 files). With the option a second
simultaneous store association is refused instead (its contexts are rejected with result 1), which is what a
sender can cope with. ``dcmqrscp -s`` (single process) is not used: it crashed after its first association here.
``TCP_NODELAY=1`` is set: DCMTK leaves Nagle on otherwise (~40 ms per C-STORE response on loopback).

Out of the box it accepts only uncompressed transfer syntaxes for storage, as Debian ships it; radsim's senders
transcode compressed instances for it (see :mod:`simulator.net.transcode`).
"""

from __future__ import annotations

from pathlib import Path

from simulator.config import DcmqrscpPacsConfig, PacsConfig
from simulator.errors import ConfigError
from simulator.pacs.native import NativeBackend

# dcmqrscp caps a storage area at 500 studies (it warns and lowers a larger value) and each study at this size.
_MAX_STUDIES = 500
_MAX_STUDY_BYTES = "1024mb"
_MAX_PDU = 65536  # dcmqrscp accepts 4096..131072


def dcmqrscp_config(*, ae_title: str, port: int, storage: Path, peers: dict[str, tuple[str, int]]) -> str:
    """The text of a dcmqrscp configuration file: one storage area for ``ae_title`` open to ANY caller, and a
    HostTable entry per C-MOVE destination (AE title → host, port)."""
    hosts = "\n".join(f"peer{index} = ({ae}, {host}, {peer_port})"
                      for index, (ae, (host, peer_port)) in enumerate(sorted(peers.items()), start=1))
    return (f"# written by radsim for one run\n"
            f"NetworkTCPPort  = {port}\n"
            f"MaxPDUSize      = {_MAX_PDU}\n"
            f"MaxAssociations = 32\n\n"
            f"HostTable BEGIN\n{hosts}\nHostTable END\n\n"
            f"VendorTable BEGIN\nVendorTable END\n\n"
            f"AETable BEGIN\n{ae_title} {storage} RW ({_MAX_STUDIES}, {_MAX_STUDY_BYTES}) ANY\nAETable END\n")


class DcmqrscpBackend(NativeBackend):
    name = "dcmqrscp"
    program = "dcmqrscp"
    package = "dcmtk"

    def __init__(self, config: PacsConfig, workdir: Path | None = None) -> None:
        super().__init__(config, workdir)
        if not isinstance(config, DcmqrscpPacsConfig):
            raise ConfigError(f"the dcmqrscp backend needs a dcmqrscp PACS configuration, not '{config.backend}'")
        self.dcmqrscp: DcmqrscpPacsConfig = config

    def _binary_name(self) -> str:
        return self.dcmqrscp.binary

    def _prepare(self, run_dir: Path, port: int) -> list[str]:
        storage = run_dir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        config = run_dir / "dcmqrscp.cfg"
        config.write_text(dcmqrscp_config(
            ae_title=self.config.ae_title, port=port, storage=storage,
            peers={p.ae_title: (p.host, p.port) for p in self.peers.values()}), encoding="utf-8")
        return ["--config", str(config), "--no-parallel-store", "--verbose", str(port)]

    def _port_taken(self, log: str) -> bool:
        return "Address already in use" in log or "cannot listen on port" in log
