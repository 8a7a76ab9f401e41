"""X-Ray Angiographic Image Storage (PS3.3 A.14): coronary angiography runs as multi-frame cine instances.

Each series is one C-arm projection (LAO/RAO, cranial/caudal); each instance one contrast run of 10-bit frames.
Modules: Patient C.7.1.1, General Study C.7.2.1, Patient Study C.7.2.2, General Series C.7.3.1, General Equipment
C.7.5.1, General Image C.7.6.1, Image Pixel C.7.6.3, Contrast/Bolus C.7.6.4, Cine C.7.6.5, Multi-frame C.7.6.6,
X-Ray Image C.8.7.1, X-Ray Acquisition C.8.7.2, XA Positioner C.8.7.5, VOI LUT C.11.2, SOP Common C.12.1.
The Frame of Reference module is not part of this IOD, so none is written.
"""

from __future__ import annotations

import datetime as dt

from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import XRayAngiographicImageStorage

from simulator.synth import modules
from simulator.synth.context import Randomness, SeriesContext
from simulator.synth.phantom_us import angiogram_frames
from simulator.synth.spec import BuildOptions, ModalitySpec, SeriesProfile

DEFAULT_ROWS = 512
DEFAULT_COLUMNS = 512
DEFAULT_FRAMES = 30
BITS_STORED = 10
FRAME_RATE = 15  # frames per second, a common cardiac cine rate
MODEL = "Synthetic Angio"
FIELD_OF_VIEW_MM = 230.0  # image intensifier diameter
SOURCE_TO_DETECTOR_MM = 1100.0
SOURCE_TO_PATIENT_MM = 750.0

# Projection per series profile: Positioner Primary Angle (+LAO/-RAO), Secondary Angle (+cranial/-caudal).
PROJECTIONS: dict[str, tuple[float, float]] = {
    "LCA RAO 30 CAU 20": (-30.0, -20.0),
    "LCA LAO 45 CRA 20": (45.0, 20.0),
    "LCA RAO 10 CRA 40": (-10.0, 40.0),
    "RCA LAO 30": (30.0, 0.0),
    "RCA RAO 30": (-30.0, 0.0),
}


def _content_time(series: SeriesContext, instance: int) -> dt.time:
    start = dt.datetime.combine(series.study.study_date, series.study.study_time)
    moment = start + dt.timedelta(seconds=90 * series.index + 40 * instance + 600)
    if moment.date() != series.study.study_date:  # never roll past midnight
        moment = dt.datetime.combine(series.study.study_date, dt.time(23, 59, 59))
    return moment.time()


def _contrast(ds: Dataset, volume_ml: int) -> None:
    """Contrast/Bolus (C.7.6.4): iodinated contrast injected into the coronary artery."""
    ds.ContrastBolusAgent = "Iohexol 350"
    agent = Dataset()
    agent.CodeValue = "109218004"  # CID 12 Radiographic Contrast Agent
    agent.CodingSchemeDesignator = "SCT"
    agent.CodeMeaning = "Iohexol"
    route = Dataset()
    route.CodeValue = "58100008"  # CID 11 Route of Administration
    route.CodingSchemeDesignator = "SCT"
    route.CodeMeaning = "Intra-arterial route"
    ds.ContrastBolusAgentSequence = [agent]
    ds.ContrastBolusRoute = "INTRA-ARTERIAL"
    ds.ContrastBolusAdministrationRouteSequence = [route]
    ds.ContrastBolusVolume = str(volume_ml)
    ds.ContrastBolusIngredient = "IODINE"
    ds.ContrastBolusIngredientConcentration = "350"


def _cine(ds: Dataset, frames: int) -> None:
    """Cine (C.7.6.5) and Multi-frame (C.7.6.6): frames equally spaced by Frame Time."""
    frame_time = 1000.0 / FRAME_RATE
    ds.FrameIncrementPointer = Tag("FrameTime")
    ds.FrameTime = f"{frame_time:.2f}"
    ds.RecommendedDisplayFrameRate = FRAME_RATE
    ds.CineRate = FRAME_RATE
    ds.EffectiveDuration = f"{frames * frame_time / 1000.0:.3f}"
    ds.ActualFrameDuration = round(frame_time)
    ds.StartTrim = 1
    ds.StopTrim = frames
    ds.PreferredPlaybackSequencing = 0


def _acquisition(ds: Dataset, rnd: Randomness, frames: int) -> None:
    """X-Ray Acquisition (C.8.7.2): pulsed cine ("graphy") exposure factors."""
    kvp = rnd.meta.randint(70, 95)
    current = rnd.meta.randint(500, 850)  # mA
    pulse_ms = rnd.meta.choice((5.0, 6.3, 8.0))
    ds.KVP = str(kvp)
    ds.RadiationSetting = "GR"
    ds.XRayTubeCurrent = current
    ds.ExposureTime = round(pulse_ms * frames)
    ds.Exposure = max(1, round(current * pulse_ms * frames / 1000.0))
    ds.AveragePulseWidth = f"{pulse_ms:.1f}"
    ds.RadiationMode = "PULSED"
    ds.Grid = "IN"
    ds.TypeOfFilters = "CU"
    ds.IntensifierSize = f"{FIELD_OF_VIEW_MM:.0f}"
    ds.FieldOfViewShape = "ROUND"
    ds.FieldOfViewDimensions = [round(FIELD_OF_VIEW_MM)]
    ds.FocalSpots = ["0.6"]


def _positioner(ds: Dataset, primary: float, secondary: float) -> None:
    """XA Positioner (C.8.7.5): a static C-arm during the run."""
    ds.DistanceSourceToPatient = f"{SOURCE_TO_PATIENT_MM:.0f}"
    ds.DistanceSourceToDetector = f"{SOURCE_TO_DETECTOR_MM:.0f}"
    ds.EstimatedRadiographicMagnificationFactor = f"{SOURCE_TO_DETECTOR_MM / SOURCE_TO_PATIENT_MM:.4f}"
    ds.PositionerMotion = "STATIC"
    ds.PositionerPrimaryAngle = f"{primary:g}"
    ds.PositionerSecondaryAngle = f"{secondary:g}"


def build_series(series: SeriesContext, count: int, rnd: Randomness, options: BuildOptions) -> list[Dataset]:
    """One projection; ``count`` contrast runs, each a multi-frame instance sharing the C-arm geometry."""
    rows = options.rows or DEFAULT_ROWS
    columns = options.columns or DEFAULT_COLUMNS
    frames = options.frames or DEFAULT_FRAMES
    primary, secondary = PROJECTIONS.get(series.series_description, (0.0, 0.0))
    pixel_spacing = FIELD_OF_VIEW_MM / max(rows, columns)
    out = []
    for index in range(count):
        pixels = angiogram_frames(rows, columns, frames, rnd.pixels, bits=BITS_STORED, frame_rate=FRAME_RATE,
                                  view=series.index * 7 + index)
        uid = series.instance_uid(index)
        ds = modules.new_instance(XRayAngiographicImageStorage, uid)
        modules.sop_common(ds, series.study, XRayAngiographicImageStorage, uid, index + 1)
        modules.patient(ds, series.study)
        modules.general_study(ds, series.study)
        modules.general_series(ds, series)
        modules.general_equipment(ds, series.study, MODEL)
        modules.general_image(ds, series.study, ["ORIGINAL", "PRIMARY", "SINGLE PLANE"],
                              content_time=_content_time(series, index))
        ds.AcquisitionNumber = index + 1
        ds.BurnedInAnnotation = "NO"
        modules.monochrome_pixels(ds, pixels, bits_stored=BITS_STORED)
        _contrast(ds, volume_ml=rnd.meta.randint(6, 10))
        _cine(ds, frames)
        # X-Ray Image (C.8.7.1); Image Type, Frame Increment Pointer and the pixel description are set above.
        ds.PixelIntensityRelationship = "LIN"
        ds.LossyImageCompression = "00"
        _acquisition(ds, rnd, frames)
        ds.ImagerPixelSpacing = [f"{pixel_spacing:.4f}", f"{pixel_spacing:.4f}"]
        _positioner(ds, primary, secondary)
        # VOI LUT (C.11.2): a window over the useful part of the 10-bit range.
        ds.WindowCenter = "420"
        ds.WindowWidth = "700"
        out.append(ds)
    return out


SPEC = ModalitySpec(
    code="XA",
    name="X-Ray Angiographic Image",
    sop_class_uid=XRayAngiographicImageStorage,
    modality="XA",
    study_description="Coronary Angiography",
    profiles=tuple(SeriesProfile(name, "HEART", "Coronary Angiography") for name in PROJECTIONS),
    build_series=build_series,
    default_series=5,
    default_instances=1,
    shares_frame_of_reference=False,
)
