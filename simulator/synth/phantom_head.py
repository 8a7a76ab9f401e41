"""Analytic phantoms for MR (head), PET (whole-body activity) and NM (planar bone scan), vectorised with numpy.

Every phantom is evaluated at patient coordinates in millimetres (DICOM LPS: +x patient left, +y posterior,
+z superior), so any slice plane of a series samples one consistent 3D object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

# ---------------------------------------------------------------------------------------------------- MR head

AIR, FAT, BONE, MARROW, CSF, GM, WM, MUSCLE, VITREOUS = range(9)

# Proton density (relative), T1 (ms), T2 (ms) at 1.5 T; approximate literature values.
TISSUES: dict[int, tuple[float, float, float]] = {
    AIR: (0.0, 1.0, 1.0),
    FAT: (0.9, 260.0, 85.0),
    BONE: (0.05, 1000.0, 1.0),
    MARROW: (0.8, 320.0, 80.0),
    CSF: (1.0, 3600.0, 1800.0),
    GM: (0.82, 1100.0, 95.0),
    WM: (0.7, 650.0, 75.0),
    MUSCLE: (0.75, 900.0, 45.0),
    VITREOUS: (1.0, 3000.0, 1500.0),
}


@dataclass(frozen=True)
class MRContrast:
    """Sequence timing that decides tissue contrast: SE (spin echo), IR (inversion recovery) or GR (gradient echo)."""

    sequence: str
    tr: float
    te: float
    ti: float = 0.0
    flip: float = 90.0


def _inside(x: FloatArray, y: FloatArray, z: FloatArray, centre: tuple[float, float, float],
            semi: tuple[float, float, float]) -> BoolArray:
    r: BoolArray = (((x - centre[0]) / semi[0]) ** 2 + ((y - centre[1]) / semi[1]) ** 2
                    + ((z - centre[2]) / semi[2]) ** 2) <= 1.0
    return r


def head_labels(x: FloatArray, y: FloatArray, z: FloatArray) -> npt.NDArray[np.uint8]:
    """Tissue label at each point of a head (brain centre at the origin), with gyri, ventricles and orbits."""
    labels = np.zeros(x.shape, dtype=np.uint8)
    labels[_inside(x, y, z, (0, 20, -130), (55, 60, 90))] = MUSCLE  # neck
    labels[_inside(x, y, z, (0, -35, -60), (62, 62, 48))] = MUSCLE  # face
    labels[_inside(x, y, z, (0, 5, 0), (79, 99, 106))] = FAT  # scalp
    labels[_inside(x, y, z, (0, 5, 5), (74, 94, 99))] = BONE  # outer table
    labels[_inside(x, y, z, (0, 5, 5), (72, 92, 97))] = MARROW  # diploe
    labels[_inside(x, y, z, (0, 5, 5), (70, 90, 95))] = BONE  # inner table
    cranium = _inside(x, y, z, (0, 5, 5), (68, 88, 93))
    labels[cranium] = CSF
    # Cortical folding: warped sinusoids give a curvy, irregular pattern of gyri and sulci.
    folds = ((np.sin(x / 6.0 + 1.7 * np.sin(y / 13.0)) + np.sin(y / 7.0 + 1.9 * np.sin(z / 11.0))
              + np.sin(z / 6.5 + 1.5 * np.sin(x / 12.0))) / 3.0).astype(np.float32)
    brain = cranium & _inside(x, y, z, (0, 5, 8), (66 - 2 * folds, 86 - 2 * folds, 88 - 2 * folds))
    labels[brain] = GM
    white = brain & _inside(x, y, z, (0, 5, 15), (54 + 6 * folds, 72 + 6 * folds, 62 + 6 * folds))
    labels[white] = WM
    labels[brain & ~white & (np.abs(folds) < 0.07)] = CSF  # sulci
    for side in (-1.0, 1.0):
        labels[_inside(x, y, z, (side * 19, 5, 3), (10, 14, 11))] = GM  # thalamus / basal ganglia
        labels[_inside(x, y, z, (side * 10, 2, 20), (6, 28, 11))] = CSF  # lateral ventricles
    labels[_inside(x, y, z, (0, 6, 2), (2.5, 12, 8))] = CSF  # third ventricle
    cerebellum = cranium & _inside(x, y, z, (0, 55, -45), (52, 33, 26))
    labels[cerebellum] = GM
    labels[cerebellum & _inside(x, y, z, (0, 52, -42), (26, 15, 12))] = WM
    labels[_inside(x, y, z, (0, 22, -50), (13, 13, 42))] = WM  # brainstem and cord
    for side in (-1.0, 1.0):
        labels[_inside(x, y, z, (side * 32, -62, -36), (17, 17, 15))] = FAT  # orbit
        labels[_inside(x, y, z, (side * 32, -68, -36), (12, 12, 12))] = VITREOUS  # globe
        labels[_inside(x, y, z, (side * 26, -50, -68), (15, 16, 15))] = AIR  # maxillary sinus
    labels[_inside(x, y, z, (0, -70, -58), (7, 22, 20))] = AIR  # nasal cavity
    return labels


def mr_signal(labels: npt.NDArray[np.uint8], contrast: MRContrast) -> FloatArray:
    """Relative signal of each label under ``contrast`` (steady-state Bloch equations, no flow)."""
    table = np.zeros(max(TISSUES) + 1, dtype=np.float32)
    for label, (pd, t1, t2) in TISSUES.items():
        e1 = np.exp(-contrast.tr / t1)
        if contrast.sequence == "IR":
            signal = pd * abs(1 - 2 * np.exp(-contrast.ti / t1) + e1) * np.exp(-contrast.te / t2)
        elif contrast.sequence == "GR":
            alpha = np.radians(contrast.flip)
            signal = (pd * np.sin(alpha) * (1 - e1) / (1 - np.cos(alpha) * e1)
                      * np.exp(-contrast.te / (0.6 * t2)))
        else:
            signal = pd * (1 - e1) * np.exp(-contrast.te / t2)
        table[label] = signal
    values: FloatArray = table[labels]
    return values


def _smooth(image: FloatArray, axes: tuple[int, ...]) -> FloatArray:
    """A [1, 2, 1] / 4 binomial blur along ``axes`` (edge-replicating)."""
    out = image
    for axis in axes:
        n = out.shape[axis]
        if n < 3:
            continue
        lo = np.take(out, np.r_[0, np.arange(n - 1)], axis=axis)
        hi = np.take(out, np.r_[np.arange(1, n), n - 1], axis=axis)
        out = (lo + 2 * out + hi) * np.float32(0.25)
    return out


def plane_points(origin: tuple[float, float, float], row_dir: tuple[float, ...], col_dir: tuple[float, ...],
                 rows: int, columns: int, spacing: tuple[float, float],
                 offsets: npt.NDArray[np.float64] | None = None) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Patient coordinates of every pixel of a plane (PS3.3 C.7.6.2.1.1); ``offsets`` stack parallel planes.

    ``spacing`` is (row spacing, column spacing) as in Pixel Spacing; with ``offsets`` (mm along the normal)
    the result has shape (len(offsets), rows, columns).
    """
    r = np.arange(rows, dtype=np.float32)[:, None] * np.float32(spacing[0])
    c = np.arange(columns, dtype=np.float32)[None, :] * np.float32(spacing[1])
    normal = np.cross(np.array(row_dir[:3]), np.array(col_dir[:3]))
    out: list[FloatArray] = []
    for axis in range(3):
        plane = (np.float32(origin[axis]) + np.float32(row_dir[axis]) * c + np.float32(col_dir[axis]) * r)
        if offsets is not None:
            plane = plane[None] + (offsets.astype(np.float32) * np.float32(normal[axis]))[:, None, None]
        out.append(plane.astype(np.float32))
    return out[0], out[1], out[2]


def mr_head_series(points: tuple[FloatArray, FloatArray, FloatArray], contrast: MRContrast,
                   rng: np.random.Generator, *, max_value: int = 4095) -> npt.NDArray[np.uint16]:
    """MR magnitude images (slices x rows x columns) of the head phantom: partial volume, coil shading, Rician noise."""
    x, y, z = points
    signal = mr_signal(head_labels(x, y, z), contrast)
    signal = _smooth(signal, (signal.ndim - 2, signal.ndim - 1))
    peak = float(max(mr_signal(np.arange(len(TISSUES), dtype=np.uint8), contrast).max(), 1e-6))
    # Receive-coil shading: brighter near the surface of the head.
    radius = np.sqrt((x / 80) ** 2 + ((y - 5) / 100) ** 2 + (z / 105) ** 2)
    shading = (0.85 + 0.25 * np.clip(radius, 0, 1.2) ** 2).astype(np.float32)
    scale = np.float32(0.8 * max_value / peak)
    clean = signal * shading * scale
    sigma = np.float32(0.005 * max_value)
    real = clean + rng.normal(0.0, 1.0, size=clean.shape).astype(np.float32) * sigma
    imag = rng.normal(0.0, 1.0, size=clean.shape).astype(np.float32) * sigma
    magnitude = np.sqrt(real * real + imag * imag)
    result: npt.NDArray[np.uint16] = np.clip(np.rint(magnitude), 0, max_value).astype(np.uint16)
    return result


# ---------------------------------------------------------------------------------------------------- PET body

# Body coordinates for PET/NM: z = 0 at the soles, the vertex near z = 1750 mm; x, y as in LPS.
_PET_SHAPES: tuple[tuple[tuple[float, float, float], tuple[float, float, float], float], ...] = (
    # centre (x, y, z), semi-axes, SUV — painted in order, later shapes replace earlier ones
    ((0, 0, 1070), (165, 105, 400), 0.7),  # torso
    ((0, 0, 1510), (55, 55, 70), 0.9),  # neck
    ((0, 0, 1640), (75, 95, 105), 0.8),  # head
    ((0, 5, 1655), (65, 85, 80), 7.5),  # brain
    ((0, 70, 1040), (18, 18, 430), 1.6),  # spine marrow
    ((-75, 5, 1300), (60, 75, 120), 0.35),  # right lung
    ((75, 5, 1300), (60, 75, 120), 0.35),  # left lung
    ((30, -30, 1250), (45, 40, 50), 3.5),  # myocardium
    ((30, -30, 1250), (30, 25, 35), 1.7),  # left ventricular blood pool
    ((0, 20, 1040), (12, 12, 330), 1.7),  # aorta
    ((-70, 0, 1150), (95, 80, 75), 2.3),  # liver
    ((100, 40, 1160), (35, 40, 50), 2.0),  # spleen
    ((-70, 50, 1080), (30, 25, 50), 3.2),  # right kidney
    ((70, 50, 1080), (30, 25, 50), 3.2),  # left kidney
    ((-70, 50, 1080), (8, 8, 14), 14.0),  # right renal pelvis
    ((70, 50, 1080), (8, 8, 14), 14.0),  # left renal pelvis
    ((0, -30, 960), (90, 50, 60), 1.4),  # bowel
    ((0, -20, 700), (40, 35, 35), 35.0),  # bladder
    ((-90, 0, 450), (65, 65, 260), 0.6),  # right thigh
    ((90, 0, 450), (65, 65, 260), 0.6),  # left thigh
)

PET_LESION_SITES: tuple[tuple[float, float, float], ...] = (
    (-60, -10, 1320), (80, 20, 1270), (-40, 0, 1160), (25, -5, 1390), (-20, 60, 960),
)
"""Candidate lesion centres (lung, lung, liver, mediastinal node, retroperitoneal node)."""


def pet_suv_volume(x: FloatArray, y: FloatArray, z: FloatArray,
                   lesions: list[tuple[float, float, float, float, float]]) -> FloatArray:
    """SUV on axial slices: ``x``, ``y`` (rows x columns, mm) shared by every slice at heights ``z`` (mm, body axis).

    ``lesions`` are (x, y, z, radius mm, SUV) hot spots. Each shape is evaluated only on the slices it crosses.
    """
    suv = np.zeros((len(z), *x.shape), dtype=np.float32)
    body = np.zeros(suv.shape, dtype=bool)
    shapes = [(c, s, v, i in (0, 1, 2, 18, 19)) for i, (c, s, v) in enumerate(_PET_SHAPES)]
    shapes += [((lx, ly, lz), (r, r, r), v, False) for lx, ly, lz, r, v in lesions]
    for centre, semi, value, outline in shapes:
        hit = np.nonzero(np.abs(z - centre[2]) <= semi[2])[0]
        if hit.size == 0:
            continue
        lo, hi = int(hit[0]), int(hit[-1]) + 1
        plane = ((x - centre[0]) / semi[0]) ** 2 + ((y - centre[1]) / semi[1]) ** 2
        power = 8 if outline else 2  # the trunk and limbs are near-cylinders with rounded ends
        mask = plane[None] + (np.abs((z[lo:hi] - centre[2]) / semi[2]) ** power)[:, None, None] <= 1.0
        if outline:
            body[lo:hi] |= mask
        else:
            mask &= body[lo:hi]
        suv[lo:hi][mask] = value
    return suv


def pet_image(suv: FloatArray, rng: np.random.Generator, *, bq_per_suv: float, attenuation_corrected: bool,
              x: FloatArray, y: FloatArray, pixel_mm: float = 3.65) -> FloatArray:
    """Reconstructed activity concentration (Bq/ml): resolution blur, count noise and, without AC, body attenuation.

    The blur is about 8 mm FWHM whatever the pixel size, so coarse test matrices are not smeared further.
    """
    activity = suv * np.float32(bq_per_suv)
    if not attenuation_corrected:
        depth = np.clip(1.0 - (x / 165) ** 2 - (y / 105) ** 2, 0, 1).astype(np.float32)
        activity = activity * (1.0 - 0.75 * depth)[None]
        activity = activity * np.float32(0.3)  # uncorrected images are not quantitative
    passes = round(2 * (3.65 / pixel_mm) ** 2)
    for _ in range(passes):
        activity = _smooth(activity, (0, 1, 2))
    counts_per_bq = np.float32(0.01)
    noisy = rng.poisson(np.maximum(activity, 0) * counts_per_bq).astype(np.float32) / counts_per_bq
    result: FloatArray = _smooth(noisy, (1, 2)) if passes else noisy
    return result


# ---------------------------------------------------------------------------------------------------- NM planar

def _segment_distance(x: FloatArray, z: FloatArray, a: tuple[float, float], b: tuple[float, float]) -> FloatArray:
    ax, az = a
    dx, dz = b[0] - ax, b[1] - az
    length2 = dx * dx + dz * dz
    t = np.clip(((x - ax) * dx + (z - az) * dz) / length2, 0.0, 1.0)
    d: FloatArray = np.hypot(x - (ax + t * dx), z - (az + t * dz)).astype(np.float32)
    return d


def _ellipse2d(x: FloatArray, z: FloatArray, centre: tuple[float, float], semi: tuple[float, float]) -> FloatArray:
    value: FloatArray = (((x - centre[0]) / semi[0]) ** 2 + ((z - centre[1]) / semi[1]) ** 2).astype(np.float32)
    return value


def bone_scan_planar(x: FloatArray, z: FloatArray, *, posterior: bool, bone_weight: float,
                     hot_spots: list[tuple[float, float, float, float]]) -> FloatArray:
    """Relative count rate of a Tc-99m MDP bone scan seen from the front or back (coronal plane, x, z in mm).

    ``bone_weight`` is 1 for a delayed (skeletal) image and near 0 for blood flow; ``hot_spots`` are (x, z,
    radius, relative uptake) metastases.
    """
    tissue = np.zeros(x.shape, dtype=np.float32)
    body = ((_ellipse2d(x, z, (0, 1640), (78, 110)) <= 1) | (_ellipse2d(x, z, (0, 1480), (55, 80)) <= 1)
            | (_ellipse2d(x, z, (0, 1100), (170, 400)) <= 1))
    for side in (-1.0, 1.0):
        body |= _segment_distance(x, z, (side * 90, 850), (side * 80, 60)) <= 60 - (850 - z) * 0.03  # legs
        body |= _segment_distance(x, z, (side * 190, 1380), (side * 235, 820)) <= 40  # arms
    tissue[body] = 1.0
    vessels = np.zeros(x.shape, dtype=np.float32)
    vessels += (_segment_distance(x, z, (0, 1350), (0, 900)) <= 14).astype(np.float32) * 3.0  # aorta
    for side in (-1.0, 1.0):
        vessels += (_segment_distance(x, z, (0, 900), (side * 85, 820)) <= 9).astype(np.float32) * 2.5  # iliacs
        vessels += (_segment_distance(x, z, (side * 85, 820), (side * 80, 80)) <= 7).astype(np.float32) * 2.0
    heart = (_ellipse2d(x, z, (25, 1260), (70, 60)) <= 1).astype(np.float32) * 3.0
    bone = np.zeros(x.shape, dtype=np.float32)
    skull = _ellipse2d(x, z, (0, 1650), (72, 100))
    bone += ((skull <= 1) & (skull >= 0.72)).astype(np.float32) * 3.0
    bone += (skull < 0.72).astype(np.float32) * 0.8
    spine_weight = 3.5 if posterior else 2.2
    bone += (np.abs(x) <= 14 + 0.012 * np.clip(1400 - z, 0, 600)).astype(np.float32) * (
        (z > 930) & (z < 1540)) * spine_weight
    for level in range(12):  # ribs
        zr = 1420 - level * 32
        for side in (-1.0, 1.0):
            rib = np.abs(_ellipse2d(x, z, (side * 20, zr - 50), (150 - abs(level - 5) * 6, 60)) - 1) < 0.06
            bone += (rib & (x * side > 15) & (z > zr - 60)).astype(np.float32) * (1.6 if posterior else 1.2)
    limbs = (((15, 1450), (150, 1480), 8, 2.0),  # clavicle
             ((180, 1430), (205, 1150), 12, 2.0),  # humerus
             ((205, 1130), (230, 850), 10, 1.8),  # forearm
             ((100, 850), (85, 480), 13, 2.2),  # femur
             ((85, 470), (80, 90), 11, 2.0))  # tibia
    for side in (-1.0, 1.0):
        for a, b, width, uptake in limbs:
            near = _segment_distance(x, z, (side * a[0], a[1]), (side * b[0], b[1])) <= width
            bone += near.astype(np.float32) * np.float32(uptake)
        ilium = _ellipse2d(x, z, (side * 95, 960), (70, 60))
        bone += ((ilium <= 1) & (ilium >= 0.55) & (z > 930)).astype(np.float32) * 2.8
        bone += (_ellipse2d(x, z, (side * 85, 470), (22, 22)) <= 1).astype(np.float32) * 2.5  # knees
        bone += (_ellipse2d(x, z, (side * 80, 40), (25, 40)) <= 1).astype(np.float32) * 2.2  # feet
        kidney = (_ellipse2d(x, z, (side * 65, 1100), (30, 55)) <= 1).astype(np.float32)
        bone += kidney * (1.5 if posterior else 0.6)
    if not posterior:
        bone += (_segment_distance(x, z, (0, 1440), (0, 1280)) <= 12).astype(np.float32) * 2.2  # sternum
    bone += (_ellipse2d(x, z, (0, 860), (38, 30)) <= 1).astype(np.float32) * 6.0  # bladder
    bone += (_ellipse2d(x, z, (0, 905), (28, 40)) <= 1).astype(np.float32) * 2.5  # sacrum
    for hx, hz, radius, uptake in hot_spots:
        bone += (_ellipse2d(x, z, (hx, hz), (radius, radius)) <= 1).astype(np.float32) * np.float32(uptake)
    rate = tissue * 0.35 + (vessels + heart) * (1.0 - bone_weight) + bone * body * bone_weight
    result: FloatArray = _smooth(_smooth(rate.astype(np.float32), (0, 1)), (0, 1))
    return result


def counts(rate: FloatArray, total: float, rng: np.random.Generator, *, max_value: int = 65535) -> npt.NDArray[
        np.uint16]:
    """Poisson counts whose expected sum is ``total``."""
    scale = total / max(float(rate.sum()), 1e-6)
    result: npt.NDArray[np.uint16] = np.clip(rng.poisson(rate * scale), 0, max_value).astype(np.uint16)
    return result
