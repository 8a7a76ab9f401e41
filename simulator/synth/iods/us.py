"""Ultrasound Image Storage (PS3.3 A.6) and Ultrasound Multi-frame Image Storage (PS3.3 A.7).

An abdominal ultrasound study as a real scanner sends it: one series of B-mode stills (US Image, MONOCHROME2),
one series of cine clips (US Multi-frame Image, MONOCHROME2, Cine and Multi-frame modules) and one series of
colour Doppler stills (US Image, RGB). The SOP class therefore differs per series; ``SPEC.sop_class_uid`` names
the single-frame class that most of the study uses. ``SPEC_MULTIFRAME`` (code "US-MF") is a study of cine clips
only.

Modules: Patient C.7.1.1, General Study C.7.2.1, Patient Study C.7.2.2, General Series C.7.3.1, Frame of Reference
C.7.4.1, General Equipment C.7.5.1, General Image C.7.6.1, Image Pixel C.7.6.3, Cine C.7.6.5, Multi-frame C.7.6.6,
US Region Calibration C.8.5.5, US Image C.8.5.6, SOP Common C.12.1.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import UltrasoundImageStorage, UltrasoundMultiFrameImageStorage

from simulator.synth import modules
from simulator.synth.context import Randomness, SeriesContext
from simulator.synth.phantom_us import SectorGeometry, UltrasoundFrames, abdomen_us, colour_flow
from simulator.synth.spec import BuildOptions, ModalitySpec, SeriesProfile

DEFAULT_ROWS = 480
DEFAULT_COLUMNS = 640
DEFAULT_FRAMES = 30
FRAME_TIME_MS = 33.3  # 30 frames per second
TRANSDUCER_KHZ = 3500
MODEL = "Synthetic US"

# C.8.5.6.1.1 Image Type Value 4: bit map of the modes in the image.
MODE_2D = "0001"
MODE_2D_COLOR_FLOW = "0011"
# C.8.5.5.1.1-3: Region Spatial Format / Data Type / Physical Units.
SPATIAL_2D = 1
DATA_TISSUE = 1
UNITS_CM = 3


@dataclass(frozen=True)
class _Kind:
    """How a series' instances are acquired."""

    cine: bool
    colour: bool
    anatomy: str  # Image Type Value 3 (C.8.5.6.1.1)


STILLS = _Kind(cine=False, colour=False, anatomy="ABDOMINAL")
CINE = _Kind(cine=True, colour=False, anatomy="ABDOMINAL")
DOPPLER = _Kind(cine=False, colour=True, anatomy="ABDOMINAL")
ABDOMEN_KINDS = (STILLS, CINE, DOPPLER)


def _content_time(series: SeriesContext, instance: int) -> dt.time:
    start = dt.datetime.combine(series.study.study_date, series.study.study_time)
    moment = start + dt.timedelta(seconds=240 * series.index + 25 * instance + 30)
    if moment.date() != series.study.study_date:  # never roll past midnight
        moment = dt.datetime.combine(series.study.study_date, dt.time(23, 59, 59))
    return moment.time()


def _region_calibration(ds: Dataset, geometry: SectorGeometry) -> None:
    """US Region Calibration (C.8.5.5): one 2D tissue region covering the sector, calibrated in cm."""
    x0, y0, x1, y1 = geometry.bounds
    region = Dataset()
    region.RegionSpatialFormat = SPATIAL_2D
    region.RegionDataType = DATA_TISSUE
    region.RegionFlags = 0
    region.RegionLocationMinX0 = x0
    region.RegionLocationMinY0 = y0
    region.RegionLocationMaxX1 = x1
    region.RegionLocationMaxY1 = y1
    region.ReferencePixelX0 = round(geometry.apex_x)
    region.ReferencePixelY0 = round(geometry.apex_y)
    region.PhysicalUnitsXDirection = UNITS_CM
    region.PhysicalUnitsYDirection = UNITS_CM
    region.ReferencePixelPhysicalValueX = 0.0
    region.ReferencePixelPhysicalValueY = 0.0
    region.PhysicalDeltaX = round(geometry.cm_per_pixel, 6)
    region.PhysicalDeltaY = round(geometry.cm_per_pixel, 6)
    region.TransducerFrequency = TRANSDUCER_KHZ
    ds.SequenceOfUltrasoundRegions = [region]


def _cine(ds: Dataset, frames: int, heart_rate: int) -> None:
    """Cine (C.7.6.5) and Multi-frame (C.7.6.6); frames are equally spaced by Frame Time."""
    ds.FrameIncrementPointer = Tag("FrameTime")
    ds.FrameTime = f"{FRAME_TIME_MS:.1f}"
    rate = round(1000.0 / FRAME_TIME_MS)
    ds.RecommendedDisplayFrameRate = rate
    ds.CineRate = rate
    ds.EffectiveDuration = f"{frames * FRAME_TIME_MS / 1000.0:.3f}"
    ds.ActualFrameDuration = round(FRAME_TIME_MS)
    ds.PreferredPlaybackSequencing = 0  # looping
    ds.StartTrim = 1
    ds.StopTrim = frames
    ds.HeartRate = heart_rate


def _instance(series: SeriesContext, index: int, kind: _Kind, us: UltrasoundFrames, rnd: Randomness) -> Dataset:
    sop_class = UltrasoundMultiFrameImageStorage if kind.cine else UltrasoundImageStorage
    uid = series.instance_uid(index)
    ds = modules.new_instance(sop_class, uid)
    modules.sop_common(ds, series.study, sop_class, uid, index + 1)
    modules.patient(ds, series.study)
    modules.general_study(ds, series.study)
    modules.general_series(ds, series)
    modules.frame_of_reference(ds, series)
    modules.general_equipment(ds, series.study, MODEL)
    mode = MODE_2D_COLOR_FLOW if kind.colour else MODE_2D
    modules.general_image(ds, series.study, ["ORIGINAL", "PRIMARY", kind.anatomy, mode],
                          content_time=_content_time(series, index))
    ds.AcquisitionNumber = index + 1
    ds.BurnedInAnnotation = "NO"
    if kind.colour:
        rgb, _ = colour_flow(us.frames[:1], us)
        modules.rgb_pixels(ds, rgb[0])
    elif kind.cine:
        modules.monochrome_pixels(ds, us.frames, bits_stored=8)
    else:
        modules.monochrome_pixels(ds, us.frames[0], bits_stored=8)
    if kind.cine:
        _cine(ds, int(us.frames.shape[0]), heart_rate=rnd.meta.randint(58, 92))
    _region_calibration(ds, us.geometry)
    # US Image (C.8.5.6); the Image Pixel attributes it constrains are set above.
    ds.LossyImageCompression = "00"
    ds.UltrasoundColorDataPresent = 1 if kind.colour else 0
    ds.TransducerType = "CURVED LINEAR"
    ds.DepthOfScanField = round(us.geometry.depth_cm * 10)
    ds.MechanicalIndex = f"{rnd.meta.uniform(0.6, 1.3):.1f}"
    ds.SoftTissueThermalIndex = f"{rnd.meta.uniform(0.1, 0.9):.1f}"
    return ds


def _build(series: SeriesContext, count: int, rnd: Randomness, options: BuildOptions,
           kinds: tuple[_Kind, ...]) -> list[Dataset]:
    kind = kinds[series.index % len(kinds)]
    rows = options.rows or DEFAULT_ROWS
    columns = options.columns or DEFAULT_COLUMNS
    frames = (options.frames or DEFAULT_FRAMES) if kind.cine else 1
    out = []
    for index in range(count):
        us = abdomen_us(rows, columns, frames, rnd.pixels, view=index, frame_time_ms=FRAME_TIME_MS)
        out.append(_instance(series, index, kind, us, rnd))
    return out


def build_series(series: SeriesContext, count: int, rnd: Randomness, options: BuildOptions) -> list[Dataset]:
    """Abdominal study: series 1 B-mode stills, series 2 cine clips, series 3 colour Doppler stills (repeating)."""
    return _build(series, count, rnd, options, ABDOMEN_KINDS)


def build_cine_series(series: SeriesContext, count: int, rnd: Randomness, options: BuildOptions) -> list[Dataset]:
    """Every instance a cine clip (US Multi-frame Image, PS3.3 A.7)."""
    return _build(series, count, rnd, options, (CINE,))


SPEC = ModalitySpec(
    code="US",
    name="Ultrasound Image (stills) + Ultrasound Multi-frame Image (cine)",
    sop_class_uid=UltrasoundImageStorage,
    modality="US",
    study_description="US Abdomen",
    profiles=(
        SeriesProfile("Abdomen B-mode", "ABDOMEN", "Abdomen General"),
        SeriesProfile("Abdomen Cine", "ABDOMEN", "Abdomen General"),
        SeriesProfile("Abdomen Color Doppler", "ABDOMEN", "Abdomen Vascular"),
    ),
    build_series=build_series,
    default_series=3,
    default_instances=6,
)

SPEC_MULTIFRAME = ModalitySpec(
    code="US-MF",
    name="Ultrasound Multi-frame Image",
    sop_class_uid=UltrasoundMultiFrameImageStorage,
    modality="US",
    study_description="US Abdomen Cine",
    profiles=(
        SeriesProfile("Liver Cine", "ABDOMEN", "Abdomen General"),
        SeriesProfile("Right Kidney Cine", "ABDOMEN", "Abdomen General"),
    ),
    build_series=build_cine_series,
    default_series=2,
    default_instances=3,
)
