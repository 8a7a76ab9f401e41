"""The backend contract: one table from name to class, one configuration model per backend, and defaults that
say "not supported" instead of missing attributes."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from simulator.config import BACKENDS, PACS_CONFIGS, EmbeddedPacsConfig, Endpoint, pacs_config
from simulator.errors import ConfigError, NotSupported
from simulator.journal import Journal
from simulator.pacs import REGISTRY, PacsBackend, backend_class, create_backend
from simulator.pacs.base import Capability


def test_every_configuration_has_a_backend_class_and_the_reverse() -> None:
    assert tuple(REGISTRY) == BACKENDS == tuple(PACS_CONFIGS)
    for name in BACKENDS:
        cls = backend_class(name)
        assert issubclass(cls, PacsBackend) and cls.name == name


@pytest.mark.parametrize("name", BACKENDS)
def test_create_backend_builds_the_named_one_from_its_own_configuration(name: str) -> None:
    config = pacs_config(backend=name, **({"port": 104} if name == "remote" else {}))
    assert type(config) is PACS_CONFIGS[name]
    backend = create_backend(config)
    assert backend.name == name and backend.config == config
    assert backend.peers == {} and backend.identity is None


def test_unknown_backend_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        backend_class("dcm4chee")
    assert "dcm4chee" in str(info.value) and "dcmqrscp" in str(info.value)


def test_a_remote_pacs_needs_its_port() -> None:
    with pytest.raises(ConfigError) as info:
        pacs_config(backend="remote", ae_title="FAR")
    assert "port" in str(info.value)


class _Minimal(PacsBackend):
    """A backend declaring only what it must; everything else is the contract's default."""

    name = "minimal"

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset({Capability.STORAGE})

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(ae_title="MIN", port=104)

    def start(self, peers: Sequence[Endpoint], journal: Journal) -> Endpoint:
        return self.endpoint

    def stop(self, timeout: float = 15.0) -> None:
        pass


def test_defaults_say_not_supported_rather_than_missing() -> None:
    backend = _Minimal(EmbeddedPacsConfig())
    assert backend.dicomweb_url is None and backend.worklist_dir is None and backend.pid is None
    assert backend.commitment_deliveries == {"new"}
    backend.set_commitment_delivery("new")  # what every PACS does is allowed
    with pytest.raises(NotSupported, match="decides itself"):
        backend.set_commitment_delivery("same")
    with pytest.raises(NotSupported):
        backend.add_peer(Endpoint(ae_title="WS1", port=11120))
    with pytest.raises(NotSupported):
        backend.wipe()
    with pytest.raises(NotSupported):
        backend.sop_instance_uids(None)
    assert "MIN@127.0.0.1:104" in backend.describe()
    assert "WS1" in backend.registration_help([Endpoint(ae_title="WS1", port=11120)])
