"""Nuclear Medicine Image Storage (PS3.3 A.5 NM Image IOD): a three-phase Tc-99m MDP bone scan.

Series: a DYNAMIC flow acquisition (one detector, one phase of equal frames), a STATIC blood-pool image and a
delayed WHOLE BODY sweep (two detectors: anterior and posterior frames), and static spot views. Modules: Patient,
General Study, Patient Study, General Series, NM/PET Patient Orientation (C.8.4.6), General Equipment, General
Image, Image Pixel, Acquisition Context (C.7.6.14), Multi-frame (C.7.6.6), NM Image Pixel (C.8.4.7), NM
Multi-frame (C.8.4.8), NM Image (C.8.4.9), NM Isotope (C.8.4.10), NM Detector (C.8.4.11), NM Phase (C.8.4.14,
DYNAMIC only), VOI LUT and SOP Common. Planar images have no Frame of Reference (it is User optional).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import NuclearMedicineImageStorage

from simulator.synth import modules
from simulator.synth.context import Randomness, SeriesContext, StudyContext
from simulator.synth.iods.mr import patient_study, stamp, when
from simulator.synth.iods.pt import code, patient_orientation
from simulator.synth.phantom_head import bone_scan_planar
from simulator.synth.spec import BuildOptions, ModalitySpec, SeriesProfile

INJECTED_MBQ = 740.0
ENERGY_WINDOW_VECTOR = Tag(0x0054, 0x0010)
DETECTOR_VECTOR = Tag(0x0054, 0x0020)
PHASE_VECTOR = Tag(0x0054, 0x0030)
TIME_SLICE_VECTOR = Tag(0x0054, 0x0100)
ANTERIOR = ("399321004", "SCT", "Anterior projection")
POSTERIOR = ("399001007", "SCT", "Posterior projection")


@dataclass(frozen=True)
class Acquisition:
    """How one NM series is acquired: image type, timing after injection, matrix and field of view."""

    kind: str  # NM Image Type value 3: DYNAMIC, STATIC or WHOLE BODY
    start_s: int  # from the injection
    frame_s: float
    rows: int
    columns: int
    height_mm: float  # extent of the image along the body axis
    centre_z: float  # body height (mm from the soles) at the image centre
    counts: float  # expected counts in one frame (mean over a dynamic series)


ACQUISITIONS: tuple[Acquisition, ...] = (
    Acquisition("DYNAMIC", -5, 2.0, 128, 128, 566.0, 950.0, 25_000.0),
    Acquisition("STATIC", 300, 180.0, 256, 256, 566.0, 950.0, 400_000.0),
    Acquisition("WHOLE BODY", 10_800, 900.0, 1024, 256, 2253.0, 880.0, 1_500_000.0),
    Acquisition("STATIC", 12_000, 300.0, 256, 256, 566.0, 1300.0, 800_000.0),
)


def metastases(study: StudyContext) -> list[tuple[float, float, float, float]]:
    """Skeletal metastases of the study's patient (x, z body mm, radius, relative uptake)."""
    rng = random.Random(f"nm-metastases-{study.seed}")
    sites = [(0.0, 1250.0), (0.0, 1050.0), (-110.0, 1330.0), (105.0, 1280.0), (-95.0, 980.0), (95.0, 700.0),
             (0.0, 1420.0), (40.0, 1700.0)]
    return [(x + rng.uniform(-5, 5), z + rng.uniform(-20, 20), rng.uniform(8.0, 14.0), rng.uniform(3.0, 7.0))
            for x, z in rng.sample(sites, rng.randint(2, 5))]


def _view(rows: int, columns: int, acq: Acquisition, posterior: bool, bone_weight: float,
          spots: list[tuple[float, float, float, float]]) -> npt.NDArray[np.float32]:
    spacing = acq.height_mm / rows
    z = (acq.centre_z + (rows - 1) / 2 * spacing - np.arange(rows, dtype=np.float32) * spacing)[:, None]
    across = (np.arange(columns, dtype=np.float32) - (columns - 1) / 2) * spacing
    x = (-across if posterior else across)[None, :]  # anterior: the patient's right on the viewer's left
    xx, zz = np.broadcast_arrays(x, z)
    return bone_scan_planar(xx.astype(np.float32), zz.astype(np.float32), posterior=posterior,
                            bone_weight=bone_weight, hot_spots=spots)


def _frames(acq: Acquisition, rows: int, columns: int, frame_count: int, rnd: Randomness,
            spots: list[tuple[float, float, float, float]]) -> npt.NDArray[np.uint16]:
    if acq.kind == "DYNAMIC":
        vascular = _view(rows, columns, acq, False, 0.0, spots)
        bone = _view(rows, columns, acq, False, 1.0, spots)
        t = np.arange(frame_count, dtype=np.float32) * np.float32(acq.frame_s) + 5.0
        arrival = np.clip(t - 10.0, 0, None)
        bolus = (arrival / 4.0) ** 2 * np.exp(-arrival / 4.0 + 2.0) / 4.0  # gamma variate, peak 1 at 8 s
        pool = 0.35 * (1 - np.exp(-arrival / 15.0))
        rate = (vascular[None] * (bolus + pool)[:, None, None]
                + bone[None] * (0.08 * t / 60.0)[:, None, None])
    else:
        bone_weight = 0.35 if acq.start_s < 3600 else 1.0
        rate = np.stack([_view(rows, columns, acq, posterior, bone_weight, spots) for posterior in (False, True)])
    scale = acq.counts * rate.shape[0] / max(float(rate.sum()), 1e-6)
    counts: npt.NDArray[np.uint16] = np.clip(rnd.pixels.poisson(rate * scale), 0, 65535).astype(np.uint16)
    return counts


def build_series(series: SeriesContext, count: int, rnd: Randomness, options: BuildOptions) -> list[Dataset]:
    """``count`` multi-frame instances of one acquisition kind (PS3.3 C.8.4.8 frame pointers per Image Type)."""
    study = series.study
    acq = ACQUISITIONS[series.index % len(ACQUISITIONS)]
    rows = options.rows or acq.rows
    columns = options.columns or acq.columns
    frame_count = (options.frames or 30) if acq.kind == "DYNAMIC" else 2
    detectors = 1 if acq.kind == "DYNAMIC" else 2
    spacing = acq.height_mm / rows
    spots = metastases(study)
    injection = when(study, 10)  # the flow acquisition starts 5 s before the bolus
    out: list[Dataset] = []
    for index in range(count):
        pixels = _frames(acq, rows, columns, frame_count, rnd, spots)
        start = injection + dt.timedelta(seconds=acq.start_s + 3600 * (series.index // len(ACQUISITIONS))
                                         + index * (acq.frame_s * (frame_count if detectors == 1 else 1) + 60))
        duration_s = acq.frame_s * (frame_count if acq.kind == "DYNAMIC" else 1)
        uid = series.instance_uid(index)
        ds = modules.new_instance(NuclearMedicineImageStorage, uid)
        modules.sop_common(ds, study, NuclearMedicineImageStorage, uid, index + 1)
        stamp(ds, "InstanceCreation", start + dt.timedelta(seconds=round(duration_s) + 30))
        modules.patient(ds, study)
        modules.general_study(ds, study)
        patient_study(ds, study)
        modules.general_series(ds, series)
        stamp(ds, "Series", injection + dt.timedelta(seconds=acq.start_s + 3600 * (series.index // len(ACQUISITIONS))))
        patient_orientation(ds)
        modules.general_equipment(ds, study, "Synthetic Dual-Head Gamma Camera")
        modules.general_image(ds, study, ["ORIGINAL", "PRIMARY", acq.kind, "EMISSION"])
        stamp(ds, "Acquisition", start)
        stamp(ds, "Content", start + dt.timedelta(seconds=round(duration_s)))
        ds.AcquisitionNumber = index + 1
        modules.monochrome_pixels(ds, pixels, bits_stored=16)
        ds.PixelSpacing = [f"{spacing:.6g}", f"{spacing:.6g}"]  # NM Image Pixel (C.8.4.7)
        _multi_frame(ds, acq.kind, frame_count, detectors)
        _nm_image(ds, acq, pixels, duration_s)
        _isotope(ds, injection)
        _detectors(ds, detectors, acq)
        if acq.kind == "DYNAMIC":
            phase = Dataset()  # NM Phase (C.8.4.14)
            phase.PhaseDelay = 0
            phase.ActualFrameDuration = int(acq.frame_s * 1000)
            phase.PauseBetweenFrames = 0
            phase.NumberOfFramesInPhase = frame_count
            phase.PhaseDescription = "FLOW"
            ds.PhaseInformationSequence = [phase]
        ds.AcquisitionContextSequence = []
        high = float(np.percentile(pixels, 99.8))
        ds.WindowCenter = f"{high / 2:.1f}"
        ds.WindowWidth = f"{max(high, 1.0):.1f}"
        out.append(ds)
    return out


def _multi_frame(ds: Dataset, kind: str, frame_count: int, detectors: int) -> None:
    """Multi-frame (C.7.6.6) and NM Multi-frame (C.8.4.8): the vectors the Frame Increment Pointer names."""
    ds.NumberOfEnergyWindows = 1
    ds.EnergyWindowVector = [1] * frame_count
    ds.NumberOfDetectors = detectors
    if kind == "DYNAMIC":
        ds.FrameIncrementPointer = [ENERGY_WINDOW_VECTOR, DETECTOR_VECTOR, PHASE_VECTOR, TIME_SLICE_VECTOR]
        ds.DetectorVector = [1] * frame_count
        ds.NumberOfPhases = 1
        ds.PhaseVector = [1] * frame_count
        ds.TimeSliceVector = list(range(1, frame_count + 1))
    else:
        ds.FrameIncrementPointer = [ENERGY_WINDOW_VECTOR, DETECTOR_VECTOR]
        ds.DetectorVector = list(range(1, detectors + 1))


def _nm_image(ds: Dataset, acq: Acquisition, pixels: npt.NDArray[np.uint16], duration_s: float) -> None:
    """NM Image (C.8.4.9)."""
    ds.CountsAccumulated = int(pixels.sum(dtype=np.int64))
    ds.AcquisitionTerminationCondition = "TIME"
    ds.TableHeight = "120"
    if acq.kind != "DYNAMIC":  # dynamic frame durations live in the NM Phase module
        ds.ActualFrameDuration = int(acq.frame_s * 1000)
    ds.CorrectedImage = ["UNIF", "LIN"]
    if acq.kind == "WHOLE BODY":
        ds.WholeBodyTechnique = ["1PS"]
        ds.ScanLength = round(acq.height_mm)
        ds.ScanVelocity = f"{acq.height_mm / duration_s:.4g}"  # mm/s


def _isotope(ds: Dataset, injection: dt.datetime) -> None:
    """NM Isotope (C.8.4.10): 140 keV window; Tc-99m medronate (CID 18, CID 25) given intravenously."""
    window = Dataset()
    window.EnergyWindowLowerLimit = "126"
    window.EnergyWindowUpperLimit = "154"
    energy = Dataset()
    energy.EnergyWindowRangeSequence = [window]
    energy.EnergyWindowName = "Tc99m"
    ds.EnergyWindowInformationSequence = [energy]
    item = Dataset()
    item.RadionuclideCodeSequence = [code("72454006", "SCT", "^99m^Technetium")]
    item.RadiopharmaceuticalRoute = "Intravenous route"
    item.AdministrationRouteCodeSequence = [code("47625008", "SCT", "Intravenous route")]
    item.RadiopharmaceuticalStartTime = injection.strftime("%H%M%S")
    item.RadionuclideTotalDose = f"{INJECTED_MBQ:g}"
    item.Radiopharmaceutical = "Tc-99m MDP"
    item.RadiopharmaceuticalCodeSequence = [code("96390006", "SCT", "Technetium Tc^99m^ medronate")]
    ds.RadiopharmaceuticalInformationSequence = [item]


def _detectors(ds: Dataset, detectors: int, acq: Acquisition) -> None:
    """NM Detector (C.8.4.11): one item per detector, head 1 anterior and head 2 posterior (CID 26 views)."""
    items = []
    for number in range(detectors):
        item = Dataset()
        item.CollimatorGridName = "LEHR"
        item.CollimatorType = "PARA"
        item.FieldOfViewShape = "RECTANGLE"
        item.FieldOfViewDimensions = [540, 400]
        item.FocalDistance = ""
        item.ZoomFactor = ["1", "1"]
        item.RadialPosition = "210" if acq.kind != "WHOLE BODY" else "180"
        item.StartAngle = "0" if number == 0 else "180"
        item.ImagePositionPatient = ""  # planar: no Frame of Reference
        item.ImageOrientationPatient = ""
        item.ViewCodeSequence = [code(*(ANTERIOR if number == 0 else POSTERIOR))]
        items.append(item)
    ds.DetectorInformationSequence = items


SPEC = ModalitySpec(
    code="NM",
    name="NM Image",
    sop_class_uid=NuclearMedicineImageStorage,
    modality="NM",
    study_description="NM Bone Scan Three Phase",
    profiles=(
        SeriesProfile("Bone Flow Pelvis ANT", "PELVIS", "Bone 3 Phase"),
        SeriesProfile("Bone Blood Pool Pelvis", "PELVIS", "Bone 3 Phase"),
        SeriesProfile("WB Bone ANT/POST", "WHOLEBODY", "Bone 3 Phase"),
        SeriesProfile("Spot Chest ANT/POST", "CHEST", "Bone 3 Phase"),
    ),
    build_series=build_series,
    default_series=3,
    default_instances=1,
    shares_frame_of_reference=False,
)
