"""CT Image Storage (PS3.3 A.3): axial series with consistent geometry and Hounsfield rescale."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage

from simulator.synth import modules
from simulator.synth.context import Randomness, SeriesContext
from simulator.synth.phantom import abdomen_hu
from simulator.synth.spec import BuildOptions, ModalitySpec, SeriesProfile

RESCALE_INTERCEPT = -1024
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SPACINGS = (5.0, 1.25, 5.0, 5.0)


def build_series(series: SeriesContext, count: int, rnd: Randomness, options: BuildOptions) -> list[Dataset]:
    rows = options.rows or 512
    columns = options.columns or 512
    spacing = SPACINGS[series.index % len(SPACINGS)]
    field_of_view = 500.0
    pixel_spacing = (field_of_view / rows, field_of_view / columns)
    origin = (-field_of_view / 2, -field_of_view / 2, 0.0)
    positions = modules.slice_positions(count, -spacing, AXIAL, origin)
    base = abdomen_hu(rows, columns, 0.0, rnd.pixels)
    out = []
    for index, position in enumerate(positions):
        fraction = index / max(count - 1, 1)
        hu = base if count == 1 else _vary(base, rows, fraction, rnd.pixels)
        ds = modules.new_instance(CTImageStorage, series.instance_uid(index))
        modules.sop_common(ds, series.study, CTImageStorage, series.instance_uid(index), index + 1)
        modules.patient(ds, series.study)
        modules.general_study(ds, series.study)
        modules.general_series(ds, series)
        ds.PatientPosition = "HFS"
        modules.frame_of_reference(ds, series)
        modules.general_equipment(ds, series.study, "Synthetic CT")
        modules.general_image(ds, series.study, ["ORIGINAL", "PRIMARY", "AXIAL"])
        ds.AcquisitionNumber = 1
        modules.image_plane(ds, position=position, orientation=AXIAL, spacing=pixel_spacing, thickness=spacing)
        ds.SliceLocation = f"{position[2]:.2f}"
        stored = (hu.astype(np.int32) - RESCALE_INTERCEPT).clip(0, 4095)
        modules.monochrome_pixels(ds, stored, bits_stored=12)
        # CT Image (C.8.2.1)
        ds.KVP = "120"
        ds.RescaleIntercept = str(RESCALE_INTERCEPT)
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        out.append(ds)
    return out


def _vary(base: npt.NDArray[np.int16], rows: int, fraction: float,
          rng: np.random.Generator) -> npt.NDArray[np.int16]:
    # Reuse the series' base slice and move organs along z: cheap and still anatomy-like.
    shifted = np.roll(base, int(fraction * rows * 0.02), axis=0)
    noise = rng.integers(-6, 7, size=base.shape, dtype=np.int16)
    varied: npt.NDArray[np.int16] = np.clip(shifted + noise, -1024, 3071).astype(np.int16)
    return varied


SPEC = ModalitySpec(
    code="CT",
    name="CT Image",
    sop_class_uid=CTImageStorage,
    modality="CT",
    study_description="CT Abdomen",
    profiles=(
        SeriesProfile("Abdomen 5.0 Axial", "ABDOMEN", "Abdomen Routine"),
        SeriesProfile("Abdomen 1.25 Axial", "ABDOMEN", "Abdomen Routine"),
        SeriesProfile("Abdomen Venous Axial", "ABDOMEN", "Abdomen Contrast"),
        SeriesProfile("Abdomen Delayed Axial", "ABDOMEN", "Abdomen Contrast"),
    ),
    build_series=build_series,
    default_series=2,
    default_instances=40,
)
