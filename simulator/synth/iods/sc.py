"""Secondary Capture Image Storage (PS3.3 A.8.1): workstation captures attached to a study.

Modules: General Series (C.7.3.1, Modality OT), SC Equipment (C.8.6.1, Conversion Type WSD), General Image
(C.7.6.1), Image Pixel (C.7.6.3), SC Image (C.8.6.2), SOP Common (C.12.1). Even series hold RGB screen captures
(a viewer with burned-in annotation and a dose chart); odd series hold 8-bit grayscale derived key images.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import SecondaryCaptureImageStorage

from simulator.synth import modules
from simulator.synth.context import Randomness, SeriesContext
from simulator.synth.iods.dx import common_image, offset_time
from simulator.synth.phantom_projection import chest_pa, screenshot, to_stored
from simulator.synth.spec import BuildOptions, ModalitySpec, SeriesProfile

SCREEN_ROWS, SCREEN_COLUMNS = 1024, 1280
KEY_ROWS, KEY_COLUMNS = 1024, 1024


def build_series(series: SeriesContext, count: int, rnd: Randomness, options: BuildOptions) -> list[Dataset]:
    """``count`` captures; the anatomy shown is drawn once per series, each capture differs in noise and layout."""
    rgb = series.index % 2 == 0
    rows = options.rows or (SCREEN_ROWS if rgb else KEY_ROWS)
    columns = options.columns or (SCREEN_COLUMNS if rgb else KEY_COLUMNS)
    anatomy = chest_pa(rows, columns, rnd.pixels)
    out = []
    for index in range(count):
        ds = modules.new_instance(SecondaryCaptureImageStorage, series.instance_uid(index))
        when = offset_time(series.study, 900 + 60 * series.index + 20 * index)
        image_type = ["DERIVED", "SECONDARY"]
        common_image(ds, series, SecondaryCaptureImageStorage, index, "Synthetic Workstation", image_type, when)
        del ds.AcquisitionDate, ds.AcquisitionTime, ds.AcquisitionNumber  # nothing was acquired
        # SC Equipment (C.8.6.1)
        ds.ConversionType = "WSD"
        ds.SecondaryCaptureDeviceManufacturer = modules.MANUFACTURER
        ds.SecondaryCaptureDeviceManufacturerModelName = "Synthetic Workstation"
        ds.SecondaryCaptureDeviceSoftwareVersions = "0.1"
        # SC Image (C.8.6.2)
        ds.DateOfSecondaryCapture = ds.ContentDate
        ds.TimeOfSecondaryCapture = ds.ContentTime
        gray = to_stored(anatomy, 8, rnd.pixels, noise=0.01).astype(np.uint8)
        if rgb:
            ds.BurnedInAnnotation = "YES"
            modules.rgb_pixels(ds, screenshot(rows, columns, gray, rnd.pixels))
        else:
            ds.DerivationDescription = "Key image, windowed and reduced to 8 bits"
            modules.monochrome_pixels(ds, gray, bits_stored=8)
            ds.PatientOrientation = ["L", "F"]
        out.append(ds)
    return out


SPEC = ModalitySpec(
    code="OT",
    name="Secondary Capture Image",
    sop_class_uid=SecondaryCaptureImageStorage,
    modality="OT",
    study_description="XR Chest Post-processing",
    profiles=(
        SeriesProfile("Screen Capture", "CHEST", "Workstation Capture"),
        SeriesProfile("Key Images", "CHEST", "Workstation Capture"),
    ),
    build_series=build_series,
    default_series=2,
    default_instances=1,
    shares_frame_of_reference=False,
)
