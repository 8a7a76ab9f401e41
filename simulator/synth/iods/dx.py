"""Digital X-Ray Image Storage - For Presentation (PS3.3 A.26): chest PA and left lateral on a flat-panel detector.

Modules: DX Series (C.8.11.1), DX Anatomy Imaged (C.8.11.2), DX Image (C.8.11.3), DX Detector (C.8.11.4),
DX Positioning (C.8.11.5), X-Ray Acquisition Dose (C.8.7.8), VOI LUT (C.11.2, required For Presentation),
Acquisition Context (C.7.6.14). The helpers here are shared with the mammography IOD (mg.py).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.uid import DigitalXRayImageStorageForPresentation

from simulator.synth import modules
from simulator.synth.context import Randomness, SeriesContext, StudyContext
from simulator.synth.phantom_projection import chest_lateral, chest_pa, to_stored
from simulator.synth.spec import BuildOptions, ModalitySpec, SeriesProfile

BITS_STORED = 12
DEFAULT_ROWS, DEFAULT_COLUMNS = 3072, 2560  # 43 x 35 cm at 0.139 mm
FIELD_MM = (427.0, 355.8)


def code(value: str, scheme: str, meaning: str) -> Dataset:
    """A Code Sequence item (PS3.3 Table 8.8-1a, Basic Code Sequence Macro)."""
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


CHEST = code("51185008", "SCT", "Chest")  # CID 4009 DX Anatomy Imaged
VIEWS: dict[str, tuple[Dataset, tuple[str, str]]] = {  # CID 4010 DX View; Patient Orientation (C.7.6.1.1.1)
    "PA": (code("399348003", "SCT", "postero-anterior"), ("L", "F")),
    "LL": (code("399173006", "SCT", "left lateral"), ("P", "F")),
}


def offset_time(study: StudyContext, seconds: int) -> dt.time:
    """The study time plus ``seconds`` (capped at the end of the study day)."""
    start = dt.datetime.combine(study.study_date, study.study_time)
    later = min(start + dt.timedelta(seconds=seconds), dt.datetime.combine(study.study_date, dt.time(23, 59, 59)))
    return later.time()


def decimal(value: float) -> str:
    """A Decimal String (PS3.5 6.2) of at most 16 characters."""
    return f"{value:.6g}"


def common_image(ds: Dataset, series: SeriesContext, sop_class_uid: str, index: int, model: str,
                 image_type: list[str], content: dt.time) -> None:
    """Patient, study, series, equipment and general image modules shared by the projection IODs."""
    modules.sop_common(ds, series.study, sop_class_uid, series.instance_uid(index), index + 1)
    modules.patient(ds, series.study)
    modules.general_study(ds, series.study)
    modules.general_series(ds, series)
    ds.SeriesTime = modules.tm(offset_time(series.study, 60 * series.index))
    modules.general_equipment(ds, series.study, model)
    modules.general_image(ds, series.study, image_type, content_time=content)
    ds.AcquisitionNumber = index + 1
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"


def dx_image(ds: Dataset, pixels: npt.NDArray[np.uint16], *, bits_stored: int, orientation: tuple[str, str],
             window: tuple[float, float]) -> None:
    """Image Pixel (C.7.6.3), DX Image (C.8.11.3) for presentation and VOI LUT (C.11.2)."""
    modules.monochrome_pixels(ds, pixels, bits_stored=bits_stored)
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = -1  # higher values: less X-ray intensity reached the detector
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.PresentationLUTShape = "IDENTITY"
    ds.PatientOrientation = list(orientation)
    ds.WindowCenter = decimal(window[0])
    ds.WindowWidth = decimal(window[1])
    ds.VOILUTFunction = "LINEAR"
    ds.WindowCenterWidthExplanation = "DEFAULT"


def dx_detector(ds: Dataset, *, detector_type: str, detector_id: str, spacing: tuple[float, float]) -> None:
    """DX Detector (C.8.11.4)."""
    ds.DetectorType = detector_type
    ds.DetectorConfiguration = "AREA"
    ds.DetectorID = detector_id
    ds.DetectorBinning = ["1", "1"]
    ds.ImagerPixelSpacing = [decimal(spacing[0]), decimal(spacing[1])]
    ds.DetectorElementSpacing = [decimal(spacing[0]), decimal(spacing[1])]
    ds.DetectorActiveShape = "RECTANGLE"


def build_series(series: SeriesContext, count: int, rnd: Randomness, options: BuildOptions) -> list[Dataset]:
    """A chest series: PA and left lateral exposures alternate (one series holds the two-view examination)."""
    rows = options.rows or DEFAULT_ROWS
    columns = options.columns or DEFAULT_COLUMNS
    spacing = (FIELD_MM[0] / rows, FIELD_MM[1] / columns)
    bases = {"PA": chest_pa(rows, columns, rnd.pixels)}
    if count > 1:
        bases["LL"] = chest_lateral(rows, columns, rnd.pixels)
    top = (1 << BITS_STORED) - 1
    out = []
    for index in range(count):
        view = "PA" if index % 2 == 0 else "LL"
        view_code, orientation = VIEWS[view]
        ds = modules.new_instance(DigitalXRayImageStorageForPresentation, series.instance_uid(index))
        common_image(ds, series, DigitalXRayImageStorageForPresentation, index, "Synthetic DR",
                     ["ORIGINAL", "PRIMARY"], offset_time(series.study, 60 * series.index + 45 * index))
        modules.frame_of_reference(ds, series)
        # DX Series (C.8.11.1)
        ds.PresentationIntentType = "FOR PRESENTATION"
        # DX Anatomy Imaged (C.8.11.2)
        ds.ImageLaterality = "U"
        ds.AnatomicRegionSequence = [CHEST]
        dx_image(ds, to_stored(bases[view], BITS_STORED, rnd.pixels), bits_stored=BITS_STORED,
                 orientation=orientation, window=(top * 0.42, top * 0.7))
        ds.AcquisitionDeviceProcessingDescription = "CHEST"
        dx_detector(ds, detector_type="SCINTILLATOR", detector_id="DRX-0001", spacing=spacing)
        # DX Positioning (C.8.11.5)
        ds.ViewPosition = view
        ds.ViewCodeSequence = [view_code]
        ds.PositionerType = "COLUMN"
        ds.DistanceSourceToDetector = "1800"
        ds.DistanceSourceToPatient = "1650"
        ds.EstimatedRadiographicMagnificationFactor = decimal(1800 / 1650)
        # X-Ray Acquisition Dose (C.8.7.8)
        ds.KVP = "120" if view == "PA" else "125"
        ds.ExposureTime = "8" if view == "PA" else "16"
        ds.XRayTubeCurrent = "320"
        ds.Exposure = "3" if view == "PA" else "5"
        ds.ImageAndFluoroscopyAreaDoseProduct = "0.012" if view == "PA" else "0.035"
        # Acquisition Context (C.7.6.14)
        ds.AcquisitionContextSequence = []
        out.append(ds)
    return out


SPEC = ModalitySpec(
    code="DX",
    name="Digital X-Ray Image - For Presentation",
    sop_class_uid=DigitalXRayImageStorageForPresentation,
    modality="DX",
    study_description="XR Chest 2 Views",
    profiles=(
        SeriesProfile("Chest PA and Lateral", "CHEST", "Chest 2 Views"),
        SeriesProfile("Chest PA and Lateral Repeat", "CHEST", "Chest 2 Views"),
    ),
    build_series=build_series,
    default_series=1,
    default_instances=2,
)
