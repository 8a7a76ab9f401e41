"""How a modality is described to the generator: its SOP class, series profiles and an IOD builder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydicom.dataset import Dataset

from simulator.synth.context import Randomness, SeriesContext


@dataclass(frozen=True)
class SeriesProfile:
    """What one series of this modality looks like in a real department."""

    description: str
    body_part: str
    protocol: str
    laterality: str | None = None


@dataclass(frozen=True)
class BuildOptions:
    """Size overrides; None means the modality's realistic default."""

    rows: int | None = None
    columns: int | None = None
    frames: int | None = None


SeriesBuilder = Callable[[SeriesContext, int, Randomness, BuildOptions], list[Dataset]]
"""build(series, instance_count, randomness, options) -> the series' datasets, in acquisition order."""


@dataclass(frozen=True)
class ModalitySpec:
    """One modality code of ``radsim generate --modality``."""

    code: str
    name: str
    sop_class_uid: str
    modality: str
    study_description: str
    profiles: tuple[SeriesProfile, ...]
    build_series: SeriesBuilder
    default_series: int = 1
    default_instances: int = 1
    has_pixels: bool = True
    shares_frame_of_reference: bool = True
    patient_sex: str | None = None  # e.g. "F" for mammography

    def profile(self, index: int) -> SeriesProfile:
        return self.profiles[index % len(self.profiles)]
