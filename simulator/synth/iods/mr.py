"""MR Image Storage (PS3.3 A.4 MR Image IOD): a routine brain examination of sagittal and axial 2D series.

Modules: Patient, General Study, Patient Study, General Series, Frame of Reference, General Equipment,
General Image, Image Plane, Image Pixel, Contrast/Bolus (post-contrast series only), MR Image (C.8.3.1),
VOI LUT and SOP Common. Pixels sample one analytic head (:mod:`simulator.synth.phantom_head`) with the
series' TR/TE/TI, so every series of the study shows the same anatomy with its own contrast.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import MRImageStorage

from simulator.synth import modules
from simulator.synth.context import Randomness, SeriesContext, StudyContext
from simulator.synth.phantom_head import MRContrast, mr_head_series, plane_points
from simulator.synth.spec import BuildOptions, ModalitySpec, SeriesProfile

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
BITS_STORED = 12
FIELD_STRENGTH = 1.5
LARMOR_MHZ_PER_T = 42.577478


@dataclass(frozen=True)
class Sequence:
    """Acquisition parameters of one MR series (PS3.3 C.8.3.1 MR Image Module)."""

    orientation: tuple[float, ...]
    scanning_sequence: tuple[str, ...]
    sequence_variant: tuple[str, ...]
    scan_options: tuple[str, ...]
    sequence_name: str
    contrast: MRContrast
    echo_train_length: int
    thickness: float
    gap: float
    averages: int
    bandwidth: float
    contrast_agent: bool = False
    duration_s: int = 180


SEQUENCES: tuple[Sequence, ...] = (
    Sequence(SAGITTAL, ("SE",), ("NONE",), ("PFP",), "*se2d1", MRContrast("SE", 500.0, 12.0), 1, 5.0, 1.0, 1,
             130.0, duration_s=150),
    Sequence(AXIAL, ("SE",), ("SK", "SP"), ("",), "*tse2d1_15", MRContrast("SE", 4500.0, 100.0), 15, 5.0, 1.0,
             2, 190.0, duration_s=120),
    Sequence(AXIAL, ("SE", "IR"), ("SK", "SP", "MP"), ("",), "*tir2d1_21",
             MRContrast("IR", 9000.0, 120.0, ti=2500.0), 21, 5.0, 1.0, 1, 250.0, duration_s=200),
    Sequence(AXIAL, ("GR",), ("SP",), ("",), "*fl2d1", MRContrast("GR", 650.0, 20.0, flip=20.0), 1, 5.0, 1.0, 1,
             180.0, duration_s=140),
    Sequence(AXIAL, ("SE",), ("NONE",), ("",), "*se2d1", MRContrast("SE", 550.0, 14.0), 1, 5.0, 1.0, 1, 130.0,
             contrast_agent=True, duration_s=170),
)


def when(study: StudyContext, seconds: float) -> dt.datetime:
    return dt.datetime.combine(study.study_date, study.study_time) + dt.timedelta(seconds=round(seconds))


def stamp(ds: Dataset, prefix: str, when: dt.datetime) -> None:
    setattr(ds, f"{prefix}Date", when.strftime("%Y%m%d"))
    setattr(ds, f"{prefix}Time", when.strftime("%H%M%S"))


def patient_weight(study: StudyContext) -> tuple[float, float]:
    """(weight kg, size m) of the study's patient, stable for every series (Patient Study, C.7.2.2)."""
    rng = random.Random(f"body-{study.seed}-{study.patient.patient_id}")
    male = study.patient.sex == "M"
    size = rng.gauss(1.77 if male else 1.64, 0.07)
    weight = rng.gauss(24.5, 3.5) * size * size
    return round(min(max(weight, 40.0), 160.0), 1), round(size, 2)


def patient_study(ds: Dataset, study: StudyContext) -> None:
    """Patient Study (C.7.2.2) size and weight."""
    weight, size = patient_weight(study)
    ds.PatientSize = f"{size:.2f}"
    ds.PatientWeight = f"{weight:.1f}"


def _ds(value: float) -> str:
    return f"{value:.6g}"


def build_series(series: SeriesContext, count: int, rnd: Randomness, options: BuildOptions) -> list[Dataset]:
    """A 2D multi-slice series; slices share orientation, spacing and Frame of Reference (C.7.6.2, C.7.4.1)."""
    seq = SEQUENCES[series.index % len(SEQUENCES)]
    rows = options.rows or 256
    columns = options.columns or 256
    fov = 240.0
    spacing = (fov / rows, fov / columns)
    row_dir, col_dir = seq.orientation[:3], seq.orientation[3:]
    normal = np.cross(np.array(row_dir), np.array(col_dir))
    centre = np.array((0.0, 5.0, -15.0) if seq.orientation == SAGITTAL else (0.0, 5.0, 12.0))
    step = seq.thickness + seq.gap
    offsets = (np.arange(count, dtype=np.float64) - (count - 1) / 2.0) * step
    corner = (centre - np.array(row_dir) * (columns - 1) / 2 * spacing[1]
              - np.array(col_dir) * (rows - 1) / 2 * spacing[0])
    points = plane_points((float(corner[0]), float(corner[1]), float(corner[2])), row_dir, col_dir, rows, columns,
                          spacing, offsets)
    volume = mr_head_series(points, seq.contrast, rnd.pixels, max_value=2 ** BITS_STORED - 1)
    high = float(np.percentile(volume, 99.5))
    window = (round(high / 2), max(round(high), 2))
    first = corner + normal * offsets[0]
    positions = modules.slice_positions(count, step, seq.orientation, (float(first[0]), float(first[1]),
                                                                       float(first[2])))
    start = when(series.study, 240 + sum(s.duration_s + 60 for s in SEQUENCES[: series.index % len(SEQUENCES)])
                  + 900 * (series.index // len(SEQUENCES)))
    acquired = start + dt.timedelta(seconds=seq.duration_s)
    phase_steps = round(columns * 0.8)
    frequency_mhz = FIELD_STRENGTH * LARMOR_MHZ_PER_T
    out: list[Dataset] = []
    for index, position in enumerate(positions):
        uid = series.instance_uid(index)
        ds = modules.new_instance(MRImageStorage, uid)
        modules.sop_common(ds, series.study, MRImageStorage, uid, index + 1)
        stamp(ds, "InstanceCreation", acquired + dt.timedelta(seconds=2))
        modules.patient(ds, series.study)
        modules.general_study(ds, series.study)
        patient_study(ds, series.study)
        modules.general_series(ds, series)
        stamp(ds, "Series", start)
        ds.PatientPosition = "HFS"
        modules.frame_of_reference(ds, series)
        modules.general_equipment(ds, series.study, "Synthetic MR 1.5T")
        modules.general_image(ds, series.study, ["ORIGINAL", "PRIMARY", "OTHER"])
        stamp(ds, "Acquisition", start)
        stamp(ds, "Content", acquired)
        ds.AcquisitionNumber = 1
        modules.image_plane(ds, position=position, orientation=seq.orientation, spacing=spacing,
                            thickness=seq.thickness)
        ds.SliceLocation = f"{float(np.dot(np.array(position), normal)):.3f}"
        modules.monochrome_pixels(ds, volume[index], bits_stored=BITS_STORED)
        if seq.contrast_agent:
            # Contrast/Bolus (C.7.6.4)
            ds.ContrastBolusAgent = "Gadobutrol 1.0 mmol/ml"
            ds.ContrastBolusRoute = "IV"
            ds.ContrastBolusVolume = _ds(round(patient_weight(series.study)[0] * 0.1, 1))
            ds.ContrastBolusTotalDose = _ds(round(patient_weight(series.study)[0] * 0.1, 1))
            ds.ContrastBolusIngredient = "GADOLINIUM"
            ds.ContrastBolusIngredientConcentration = "1000"
        _mr_image(ds, seq, frequency_mhz, phase_steps, rows, columns, step)
        # VOI LUT (C.11.2)
        ds.WindowCenter = str(window[0])
        ds.WindowWidth = str(window[1])
        out.append(ds)
    return out


def _mr_image(ds: Dataset, seq: Sequence, frequency_mhz: float, phase_steps: int, rows: int, columns: int,
              step: float) -> None:
    """MR Image Module (C.8.3.1)."""
    ds.ScanningSequence = list(seq.scanning_sequence)
    ds.SequenceVariant = list(seq.sequence_variant)
    ds.ScanOptions = [v for v in seq.scan_options if v] or ""
    ds.MRAcquisitionType = "2D"
    ds.SequenceName = seq.sequence_name
    ds.AngioFlag = "N"
    ds.RepetitionTime = _ds(seq.contrast.tr)
    ds.EchoTime = _ds(seq.contrast.te)
    if "IR" in seq.scanning_sequence:
        ds.InversionTime = _ds(seq.contrast.ti)
    ds.NumberOfAverages = str(seq.averages)
    ds.ImagingFrequency = f"{frequency_mhz:.6f}"
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = "1"
    ds.MagneticFieldStrength = _ds(FIELD_STRENGTH)
    ds.SpacingBetweenSlices = _ds(step)
    ds.NumberOfPhaseEncodingSteps = str(phase_steps)
    ds.EchoTrainLength = str(seq.echo_train_length)
    ds.PercentSampling = "100"
    ds.PercentPhaseFieldOfView = _ds(100.0 * phase_steps / columns)
    ds.PixelBandwidth = _ds(seq.bandwidth)
    ds.ReceiveCoilName = "Head 20"
    ds.TransmitCoilName = "Body"
    ds.AcquisitionMatrix = [0, rows, phase_steps, 0]
    ds.InPlanePhaseEncodingDirection = "ROW"
    ds.FlipAngle = _ds(seq.contrast.flip if seq.contrast.sequence == "GR" else 90.0)
    ds.VariableFlipAngleFlag = "N"
    ds.SAR = _ds(0.4 if seq.contrast.sequence == "GR" else 1.2)
    ds.dBdt = "0"


SPEC = ModalitySpec(
    code="MR",
    name="MR Image",
    sop_class_uid=MRImageStorage,
    modality="MR",
    study_description="MR Brain without and with contrast",
    profiles=(
        SeriesProfile("SAG T1 SE", "HEAD", "Brain Routine"),
        SeriesProfile("AX T2 TSE", "HEAD", "Brain Routine"),
        SeriesProfile("AX FLAIR", "HEAD", "Brain Routine"),
        SeriesProfile("AX T2* GRE", "HEAD", "Brain Routine"),
        SeriesProfile("AX T1 SE POST GAD", "HEAD", "Brain Routine"),
    ),
    build_series=build_series,
    default_series=5,
    default_instances=24,
)
