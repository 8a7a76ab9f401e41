"""Computed Radiography Image Storage (PS3.3 A.2): a chest examination read from storage-phosphor plates.

Modules: General Series (C.7.3.1), CR Series (C.8.1.1), General Image (C.7.6.1), Image Pixel (C.7.6.3),
CR Image (C.8.1.2), VOI LUT (C.11.2), SOP Common (C.12.1). One plate per series: PA first, then left lateral.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import ComputedRadiographyImageStorage

from simulator.synth import modules
from simulator.synth.context import Randomness, SeriesContext
from simulator.synth.iods.dx import common_image, decimal, offset_time
from simulator.synth.phantom_projection import chest_lateral, chest_pa, to_stored
from simulator.synth.spec import BuildOptions, ModalitySpec, SeriesProfile

BITS_STORED = 10
DEFAULT_ROWS, DEFAULT_COLUMNS = 2140, 1760  # 43 x 35 cm plate read at 0.2 mm
PLATE_MM = (428.0, 352.0)
ORIENTATION = {"PA": ["L", "F"], "LL": ["P", "F"]}  # Patient Orientation (C.7.6.1.1.1)


def build_series(series: SeriesContext, count: int, rnd: Randomness, options: BuildOptions) -> list[Dataset]:
    """``count`` exposures of one view (repeats share the view's anatomy, each with its own noise)."""
    rows = options.rows or DEFAULT_ROWS
    columns = options.columns or DEFAULT_COLUMNS
    view = "PA" if series.index % 2 == 0 else "LL"
    base = (chest_pa if view == "PA" else chest_lateral)(rows, columns, rnd.pixels)
    top = (1 << BITS_STORED) - 1
    out = []
    for index in range(count):
        ds = modules.new_instance(ComputedRadiographyImageStorage, series.instance_uid(index))
        common_image(ds, series, ComputedRadiographyImageStorage, index, "Synthetic CR Reader",
                     ["ORIGINAL", "PRIMARY"], offset_time(series.study, 120 * series.index + 40 * index))
        ds.PatientOrientation = ORIENTATION[view]
        # CR Series (C.8.1.1)
        ds.ViewPosition = view
        ds.PlateType = "ST-VI"
        ds.PhosphorType = "BaFBrI:Eu"
        ds.FocalSpots = "1.2"
        ds.FilterType = "NONE"
        # Image Pixel (C.7.6.3); CR Image (C.8.1.2)
        modules.monochrome_pixels(ds, to_stored(base, BITS_STORED, rnd.pixels, noise=0.006), bits_stored=BITS_STORED)
        ds.KVP = "110" if view == "PA" else "120"
        ds.DistanceSourceToDetector = "1800"
        ds.ExposureTime = "10" if view == "PA" else "20"
        ds.XRayTubeCurrent = "250"
        ds.Exposure = "3" if view == "PA" else "5"
        ds.ImagerPixelSpacing = [decimal(PLATE_MM[0] / rows), decimal(PLATE_MM[1] / columns)]
        ds.Sensitivity = "200"
        ds.RelativeXRayExposure = 1850 + 10 * index
        ds.AcquisitionDeviceProcessingDescription = f"CHEST {view}"
        # VOI LUT (C.11.2)
        ds.WindowCenter = decimal(top * 0.42)
        ds.WindowWidth = decimal(top * 0.7)
        out.append(ds)
    return out


SPEC = ModalitySpec(
    code="CR",
    name="Computed Radiography Image",
    sop_class_uid=ComputedRadiographyImageStorage,
    modality="CR",
    study_description="XR Chest 2 Views",
    profiles=(
        SeriesProfile("Chest PA", "CHEST", "Chest 2 Views"),
        SeriesProfile("Chest Lateral", "CHEST", "Chest 2 Views"),
    ),
    build_series=build_series,
    default_series=2,
    default_instances=1,
)
