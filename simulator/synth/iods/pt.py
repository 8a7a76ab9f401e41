"""Positron Emission Tomography Image Storage (PS3.3 A.21 PET Image IOD): an FDG whole-body examination.

Modules: Patient, General Study, Patient Study, General Series, PET Series (C.8.9.1), PET Isotope (C.8.9.2),
NM/PET Patient Orientation (C.8.4.6), Frame of Reference, General Equipment, General Image, Image Plane,
Image Pixel, PET Image (C.8.9.4), Acquisition Context (C.7.6.14), VOI LUT and SOP Common. Pixels are activity
concentration (Units BQML, decay corrected to the series start) of a body phantom with FDG-avid lesions;
the attenuation-corrected and the uncorrected series are reconstructions of the same acquisition.
"""

from __future__ import annotations

import datetime as dt
import math
import random

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import PositronEmissionTomographyImageStorage

from simulator.synth import modules
from simulator.synth.context import Randomness, SeriesContext, StudyContext
from simulator.synth.iods.mr import patient_study, patient_weight, stamp, when
from simulator.synth.phantom_head import PET_LESION_SITES, pet_image, pet_suv_volume, plane_points
from simulator.synth.spec import BuildOptions, ModalitySpec, SeriesProfile

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
F18_HALF_LIFE_S = 6586.2
INJECTED_BQ = 370e6
UPTAKE_S = 3600
SLICE_MM = 3.27
BED_MM = 156.0
BED_S = 120
BODY_TO_PATIENT_Z = -1750.0  # patient z = body height - 1750 mm: the vertex lies near z = 0
STACK_CENTRE_BODY_Z = 1120.0
MAX_STORED = 32000


def code(value: str, scheme: str, meaning: str) -> Dataset:
    """A Code Sequence item (PS3.3 Table 8.8-1a Basic Code Sequence Macro)."""
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def patient_orientation(ds: Dataset, *, gantry: str = "headfirst") -> None:
    """NM/PET Patient Orientation (C.8.4.6): recumbent, supine, head or feet first (CID 19, 20, 21)."""
    orientation = code("102538003", "SCT", "recumbent")
    orientation.PatientOrientationModifierCodeSequence = [code("40199007", "SCT", "supine")]
    ds.PatientOrientationCodeSequence = [orientation]
    head_first = gantry == "headfirst"
    relation = code("102540008", "SCT", "headfirst") if head_first else code("102541007", "SCT", "feet-first")
    ds.PatientGantryRelationshipCodeSequence = [relation]


def lesions(study: StudyContext) -> list[tuple[float, float, float, float, float]]:
    """The study's FDG-avid lesions (x, y, body z, radius, SUV): one in the liver at the stack centre, plus others."""
    rng = random.Random(f"pet-lesions-{study.seed}")
    found = [(-45.0, -5.0, STACK_CENTRE_BODY_Z, rng.uniform(9.0, 14.0), rng.uniform(7.0, 12.0))]
    for site in rng.sample(PET_LESION_SITES, rng.randint(1, 3)):
        found.append((*site, rng.uniform(5.0, 12.0), rng.uniform(4.0, 15.0)))
    return found


def _ds(value: float) -> str:
    text = f"{value:.8g}"
    return text if len(text) <= 16 else f"{value:.6g}"


def build_series(series: SeriesContext, count: int, rnd: Randomness, options: BuildOptions) -> list[Dataset]:
    """One reconstruction of a whole-body acquisition: axial slices, head to thigh, in BQML (C.8.9.1, C.8.9.4)."""
    study = series.study
    attenuation_corrected = series.index % 2 == 0
    pass_number = series.index // 2  # a later pass is a delayed acquisition of the same patient
    rows = options.rows or 192
    columns = options.columns or 192
    fov = 700.0
    spacing = (fov / rows, fov / columns)
    corner = (-(columns - 1) / 2 * spacing[1], -(rows - 1) / 2 * spacing[0])
    body_z = STACK_CENTRE_BODY_Z + ((count - 1) / 2.0 - np.arange(count, dtype=np.float64)) * SLICE_MM
    x, y, _ = plane_points((corner[0], corner[1], 0.0), AXIAL[:3], AXIAL[3:], rows, columns, spacing)
    suv = pet_suv_volume(x, y, body_z.astype(np.float32), lesions(study))
    weight_kg, _ = patient_weight(study)
    decay = math.log(2) / F18_HALF_LIFE_S
    injection = when(study, 0)
    start = injection + dt.timedelta(seconds=UPTAKE_S + pass_number * 3600)
    dose_at_start = INJECTED_BQ * math.exp(-decay * (start - injection).total_seconds())
    bq_per_suv = dose_at_start / (weight_kg * 1000.0)
    activity = pet_image(suv, rnd.pixels, bq_per_suv=bq_per_suv, attenuation_corrected=attenuation_corrected,
                         x=x, y=y, pixel_mm=spacing[0])
    window_width = float(np.percentile(activity, 99.9))
    bed_of_slice = ((body_z.max() - body_z) // BED_MM).astype(int)
    out: list[Dataset] = []
    for index in range(count):
        uid = series.instance_uid(index)
        frame_start_s = int(bed_of_slice[index]) * BED_S
        ds = modules.new_instance(PositronEmissionTomographyImageStorage, uid)
        modules.sop_common(ds, study, PositronEmissionTomographyImageStorage, uid, index + 1)
        stamp(ds, "InstanceCreation", start + dt.timedelta(seconds=int(bed_of_slice.max() + 1) * BED_S + 90))
        modules.patient(ds, study)
        modules.general_study(ds, study)
        patient_study(ds, study)
        modules.general_series(ds, series)
        stamp(ds, "Series", start)
        _pet_series(ds, count, attenuation_corrected)
        _pet_isotope(ds, injection)
        patient_orientation(ds)
        modules.frame_of_reference(ds, series)
        modules.general_equipment(ds, study, "Synthetic PET")
        modules.general_image(ds, study, ["ORIGINAL", "PRIMARY"])
        stamp(ds, "Acquisition", start + dt.timedelta(seconds=frame_start_s))
        stamp(ds, "Content", start + dt.timedelta(seconds=int(bed_of_slice.max() + 1) * BED_S + 60))
        ds.AcquisitionNumber = 1 + pass_number
        position = (corner[0], corner[1], float(body_z[index] + BODY_TO_PATIENT_Z))
        modules.image_plane(ds, position=position, orientation=AXIAL, spacing=spacing, thickness=SLICE_MM)
        ds.SliceLocation = f"{position[2]:.2f}"
        slice_max = float(activity[index].max())
        slope = float(_ds(max(slice_max / MAX_STORED, 1e-6)))
        stored = np.clip(np.rint(activity[index] / slope), 0, MAX_STORED).astype(np.uint16)
        modules.monochrome_pixels(ds, stored, bits_stored=16)
        # PET Image (C.8.9.4)
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = _ds(slope)
        duration_ms = BED_S * 1000
        reference_s = frame_start_s + math.log(decay * BED_S / (1 - math.exp(-decay * BED_S))) / decay
        ds.FrameReferenceTime = _ds(round(reference_s * 1000.0, 1))
        ds.ImageIndex = index + 1
        ds.ActualFrameDuration = duration_ms
        ds.DecayFactor = _ds(round(math.exp(decay * reference_s), 6))
        ds.DoseCalibrationFactor = "1"
        ds.ScatterFractionFactor = _ds(0.32 if attenuation_corrected else 0.0)
        ds.DeadTimeFactor = _ds(1.02)
        ds.SliceSensitivityFactor = "1"
        ds.AcquisitionContextSequence = []
        # VOI LUT (C.11.2), in rescaled units
        ds.WindowCenter = _ds(round(window_width / 2, 1))
        ds.WindowWidth = _ds(round(max(window_width, 1.0), 1))
        out.append(ds)
    return out


def _pet_series(ds: Dataset, count: int, attenuation_corrected: bool) -> None:
    """PET Series (C.8.9.1)."""
    ds.Units = "BQML"
    ds.SUVType = "BW"
    ds.CountsSource = "EMISSION"
    ds.CollimatorType = "NONE"
    ds.SeriesType = ["WHOLE BODY", "IMAGE"]
    ds.NumberOfSlices = count
    ds.CorrectedImage = (["NORM", "DTIM", "ATTN", "SCAT", "DECY", "RAN"] if attenuation_corrected
                         else ["NORM", "DTIM", "DECY", "RAN"])
    ds.RandomsCorrectionMethod = "DLYD"
    if attenuation_corrected:
        ds.AttenuationCorrectionMethod = "CT-based"
        ds.ScatterCorrectionMethod = "Model-based"
    ds.DecayCorrection = "START"
    ds.ReconstructionDiameter = "700"
    ds.ConvolutionKernel = "Gaussian 5.0 mm"
    ds.ReconstructionMethod = "OSEM 3i21s"
    ds.AcquisitionStartCondition = "MANU"
    ds.AcquisitionTerminationCondition = "TIME"
    ds.AxialAcceptance = "54"
    ds.AxialMash = [5, 6]
    ds.CoincidenceWindowWidth = "4.5"
    window = Dataset()
    window.EnergyWindowLowerLimit = "435"
    window.EnergyWindowUpperLimit = "650"
    ds.EnergyWindowRangeSequence = [window]


def _pet_isotope(ds: Dataset, injection: dt.datetime) -> None:
    """PET Isotope (C.8.9.2): FDG (CID 4021) labelled with F-18 (CID 4020), given intravenously."""
    item = Dataset()
    item.RadiopharmaceuticalRoute = "Intravenous route"
    item.AdministrationRouteCodeSequence = [code("47625008", "SCT", "Intravenous route")]
    item.RadiopharmaceuticalVolume = "8.5"
    item.RadiopharmaceuticalStartTime = injection.strftime("%H%M%S")
    item.RadiopharmaceuticalStartDateTime = injection.strftime("%Y%m%d%H%M%S")
    item.RadionuclideTotalDose = _ds(INJECTED_BQ)
    item.RadionuclideHalfLife = _ds(F18_HALF_LIFE_S)
    item.RadionuclidePositronFraction = "0.9673"
    item.Radiopharmaceutical = "Fluorodeoxyglucose"
    item.RadionuclideCodeSequence = [code("77004003", "SCT", "^18^Fluorine")]
    item.RadiopharmaceuticalCodeSequence = [code("35321007", "SCT", "Fluorodeoxyglucose F^18^")]
    ds.RadiopharmaceuticalInformationSequence = [item]


SPEC = ModalitySpec(
    code="PT",
    name="PET Image",
    sop_class_uid=PositronEmissionTomographyImageStorage,
    modality="PT",
    study_description="PET FDG Whole Body",
    profiles=(
        SeriesProfile("PET WB AC", "WHOLEBODY", "FDG Whole Body Oncology"),
        SeriesProfile("PET WB NAC", "WHOLEBODY", "FDG Whole Body Oncology"),
    ),
    build_series=build_series,
    default_series=2,
    default_instances=275,
)
