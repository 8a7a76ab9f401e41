"""Digital Mammography X-Ray Image Storage - For Presentation (PS3.3 A.27): a bilateral screening examination.

Modules as the DX IOD (see dx.py) plus Mammography Image (C.8.11.7): Positioner Type, Organ Exposed, Image
Laterality, View Code Sequence (CID 4014) with its View Modifier Code Sequence. Views follow the usual hanging
order R CC, L CC, R MLO, L MLO; a view's anatomy is drawn once per series and reused by repeats.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import DigitalMammographyXRayImageStorageForPresentation as MG_STORAGE

from simulator.synth import modules
from simulator.synth.context import Randomness, SeriesContext
from simulator.synth.iods.dx import code, common_image, decimal, dx_detector, dx_image, offset_time
from simulator.synth.phantom_projection import Float, breast, to_stored
from simulator.synth.spec import BuildOptions, ModalitySpec, SeriesProfile

BITS_STORED = 12
DEFAULT_ROWS, DEFAULT_COLUMNS = 4096, 3328  # 24 x 29 cm detector at 0.07 mm
FIELD_MM = (286.7, 233.0)
BREAST = code("76752008", "SCT", "Breast")  # CID 4031 Common Anatomic Regions
VIEW_CODES = {  # CID 4014 View for Mammography
    "CC": code("399162004", "SCT", "cranio-caudal"),
    "MLO": code("399368009", "SCT", "medio-lateral oblique"),
}
HANGING = (("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))
# Patient Orientation (C.8.11.7.1.x): rows run nipple-to-chest-wall (R) or chest-wall-to-nipple (L).
ORIENTATION = {("R", "CC"): ("P", "L"), ("L", "CC"): ("A", "R"), ("R", "MLO"): ("P", "FL"), ("L", "MLO"): ("A", "FR")}
PRIMARY_ANGLE = {("R", "CC"): 0, ("L", "CC"): 0, ("R", "MLO"): 45, ("L", "MLO"): -45}


def build_series(series: SeriesContext, count: int, rnd: Randomness, options: BuildOptions) -> list[Dataset]:
    """Views in hanging order; with one instance per series each series holds the next view."""
    rows = options.rows or DEFAULT_ROWS
    columns = options.columns or DEFAULT_COLUMNS
    spacing = (FIELD_MM[0] / rows, FIELD_MM[1] / columns)
    thickness = rnd.meta.randint(38, 65)
    top = (1 << BITS_STORED) - 1
    bases: dict[tuple[str, str], Float] = {}
    out = []
    for index in range(count):
        laterality, view = HANGING[(series.index * count + index) % len(HANGING)]
        key = (laterality, view)
        if key not in bases:
            bases[key] = breast(rows, columns, view=view, laterality=laterality, rng=rnd.pixels)
        ds = modules.new_instance(MG_STORAGE, series.instance_uid(index))
        common_image(ds, series, MG_STORAGE, index, "Synthetic FFDM",
                     ["ORIGINAL", "PRIMARY", ""], offset_time(series.study, 300 * series.index + 50 * index))
        # DX Series (C.8.11.1)
        ds.PresentationIntentType = "FOR PRESENTATION"
        # DX Anatomy Imaged (C.8.11.2) and Mammography Image (C.8.11.7)
        ds.ImageLaterality = laterality
        ds.AnatomicRegionSequence = [BREAST]
        ds.PositionerType = "MAMMOGRAPHIC"
        ds.OrganExposed = "BREAST"
        ds.BreastImplantPresent = "NO"
        ds.PartialView = "NO"
        view_item = Dataset()
        view_item.update(VIEW_CODES[view])
        view_item.ViewModifierCodeSequence = []
        ds.ViewCodeSequence = [view_item]
        dx_image(ds, to_stored(bases[key], BITS_STORED, rnd.pixels, floor=0.02, noise=0.003),
                 bits_stored=BITS_STORED, orientation=ORIENTATION[key], window=(top * 0.5, top * 0.6))
        ds.AcquisitionDeviceProcessingDescription = "SCREENING"
        dx_detector(ds, detector_type="DIRECT", detector_id="FFDM-0001", spacing=spacing)
        # DX Positioning (C.8.11.5)
        ds.DistanceSourceToDetector = "660"
        ds.DistanceSourceToPatient = "640"
        ds.EstimatedRadiographicMagnificationFactor = decimal(660 / 640)
        ds.PositionerPrimaryAngle = str(PRIMARY_ANGLE[key])
        ds.BodyPartThickness = str(thickness)
        ds.CompressionForce = str(rnd.meta.randint(80, 140))
        # X-Ray Acquisition Dose (C.8.7.8)
        ds.KVP = str(26 + thickness // 10)
        ds.ExposureTime = str(rnd.meta.randint(700, 1400))
        ds.XRayTubeCurrent = "160"
        ds.Exposure = str(rnd.meta.randint(80, 160))
        ds.AnodeTargetMaterial = "TUNGSTEN"
        ds.FilterMaterial = "RHODIUM"
        ds.EntranceDoseInmGy = decimal(rnd.meta.uniform(4.0, 9.0))
        ds.OrganDose = decimal(rnd.meta.uniform(1.0, 2.2))
        ds.AcquisitionContextSequence = []
        out.append(ds)
    return out


SPEC = ModalitySpec(
    code="MG",
    name="Digital Mammography X-Ray Image - For Presentation",
    sop_class_uid=MG_STORAGE,
    modality="MG",
    study_description="MG Screening Bilateral",
    profiles=(
        SeriesProfile("Screening Mammography", "BREAST", "Screening Bilateral"),
        SeriesProfile("Additional Views", "BREAST", "Screening Bilateral"),
    ),
    build_series=build_series,
    default_series=1,
    default_instances=4,
    patient_sex="F",
)
