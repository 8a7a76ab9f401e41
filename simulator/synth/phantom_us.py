"""Phantoms for the cine modalities: an ultrasound sector with speckle and an X-ray angiogram with a vessel tree.

Both are vectorised numpy. A cine run shares its expensive parts (speckle field, tissue map, vessel tree)
between frames and only varies what moves: a pulsating vessel and breathing for ultrasound, contrast filling
and cardiac motion for angiography.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SectorGeometry:
    """A fan-shaped B-mode sector: apex (pixels), radius (pixels), half opening angle and depth (cm)."""

    rows: int
    columns: int
    apex_x: float
    apex_y: float
    radius: float
    half_angle: float
    depth_cm: float

    @property
    def cm_per_pixel(self) -> float:
        return self.depth_cm / self.radius

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """min x, min y, max x, max y of the sector in pixels (inclusive), clipped to the image."""
        half_width = self.radius * math.sin(self.half_angle)
        x0 = max(0, math.floor(self.apex_x - half_width))
        x1 = min(self.columns - 1, math.ceil(self.apex_x + half_width))
        y0 = max(0, math.floor(self.apex_y))
        y1 = min(self.rows - 1, math.ceil(self.apex_y + self.radius))
        return x0, y0, x1, y1


def sector_geometry(rows: int, columns: int, depth_cm: float = 16.0, half_angle: float = 0.6) -> SectorGeometry:
    """The largest sector with ``half_angle`` that fits the image with a small margin."""
    apex_y = 0.04 * rows
    radius = min(0.94 * rows - apex_y, 0.94 * (columns / 2) / math.sin(half_angle))
    return SectorGeometry(rows, columns, columns / 2.0, apex_y, radius, half_angle, depth_cm)


def _box_blur(values: FloatArray, size_y: int, size_x: int) -> FloatArray:
    """Separable moving-average blur (cumulative sums); correlates speckle like a finite point-spread function."""
    out = values
    for axis, size in ((0, size_y), (1, size_x)):
        if size <= 1:
            continue
        pad = [(0, 0), (0, 0)]
        pad[axis] = (size // 2, size - 1 - size // 2)
        padded = np.pad(out, pad, mode="edge")
        summed = np.cumsum(padded, axis=axis, dtype=np.float32)
        summed = np.concatenate([np.zeros_like(summed.take([0], axis=axis)), summed], axis=axis)
        length = out.shape[axis]
        hi = summed.take(np.arange(size, size + length), axis=axis)
        lo = summed.take(np.arange(0, length), axis=axis)
        out = ((hi - lo) / size).astype(np.float32)
    return out


def _complex_speckle(shape: tuple[int, int], rng: np.random.Generator, scale: float) -> tuple[FloatArray, FloatArray]:
    """Real and imaginary parts of spatially correlated circular Gaussian noise (its magnitude is Rayleigh)."""
    size_y = max(1, round(2 * scale))
    size_x = max(1, round(4 * scale))  # speckle cells are longer laterally than axially
    real = _box_blur(rng.standard_normal(shape, dtype=np.float32), size_y, size_x)
    imag = _box_blur(rng.standard_normal(shape, dtype=np.float32), size_y, size_x)
    norm = np.float32(math.sqrt(2.0 / float(np.mean(real**2) + np.mean(imag**2) + 1e-12)))
    return real * norm, imag * norm


def _ellipse(x: FloatArray, z: FloatArray, cx: float, cz: float, rx: float, rz: float,
             angle: float = 0.0) -> FloatArray:
    """Normalised squared radius of an (optionally rotated) ellipse; <= 1 inside."""
    c, s = math.cos(angle), math.sin(angle)
    dx, dz = x - cx, z - cz
    u = (dx * c + dz * s) / rx
    v = (-dx * s + dz * c) / rz
    result: FloatArray = (u * u + v * v).astype(np.float32)
    return result


@dataclass(frozen=True)
class UltrasoundFrames:
    """B-mode frames (uint8, frames x rows x columns), the sector, and the vessel used for colour flow."""

    frames: npt.NDArray[np.uint8]
    geometry: SectorGeometry
    vessel_centre_cm: tuple[float, float]
    vessel_radius_cm: float


def abdomen_us(rows: int, columns: int, frames: int, rng: np.random.Generator, *, view: int = 0,
               frame_time_ms: float = 33.3, heart_rate: float = 72.0) -> UltrasoundFrames:
    """Right upper quadrant B-mode (liver, kidney, gallbladder, a pulsating vessel) in a speckled sector.

    ``view`` shifts the probe a little so that instances of one series differ as real sweeps do. Frames move
    with breathing (slow) and the vessel pulses with the heart (``heart_rate`` beats per minute).
    """
    geometry = sector_geometry(rows, columns)
    yy, xx = np.mgrid[0:rows, 0:columns].astype(np.float32)
    cm = np.float32(geometry.cm_per_pixel)
    x_cm = (xx - np.float32(geometry.apex_x)) * cm  # lateral
    z_cm = (yy - np.float32(geometry.apex_y)) * cm  # depth
    r_cm = np.sqrt(x_cm * x_cm + z_cm * z_cm)
    theta = np.arctan2(x_cm, np.maximum(z_cm, np.float32(1e-6)))
    inside = (r_cm <= geometry.depth_cm) & (np.abs(theta) <= geometry.half_angle) & (z_cm > 0.3)
    edge = np.clip((geometry.half_angle - np.abs(theta)) / 0.02, 0.0, 1.0).astype(np.float32)

    offset = 0.6 * math.sin(1.7 * view)  # probe position differs between stills
    speckle_scale = max(0.5, 1.5 * rows / 480.0)
    blur = max(1, round(5 * rows / 480.0))
    base_re, base_im = _complex_speckle((rows, columns), rng, speckle_scale)
    # Frame-to-frame decorrelation: a second speckle field, shifted differently for each frame.
    extra_re, extra_im = _complex_speckle((rows, columns), rng, speckle_scale) if frames > 1 else (base_re, base_im)
    vessel_centre = (-2.4 + offset, 6.5)
    vessel_radius = 0.75
    xs, zs = x_cm - np.float32(offset), z_cm
    static = _box_blur(_abdomen_echo(xs, zs, vessel_centre[0] - offset, vessel_centre[1], vessel_radius), blur, blur)
    # The pulsating vessel is redrawn per frame inside this box only (margin covers growth and the blur).
    cy = int(geometry.apex_y + vessel_centre[1] / float(cm))
    cx = int(geometry.apex_x + vessel_centre[0] / float(cm))
    half = int(1.5 * vessel_radius / float(cm)) + 2 * blur + 2
    y0, y1 = max(0, cy - half), min(rows, cy + half)
    x0, x1 = max(0, cx - half), min(columns, cx + half)
    attenuation = (np.float32(1.0) - np.float32(0.35 / geometry.depth_cm) * z_cm) * edge * np.float32(0.8)
    out = np.empty((frames, rows, columns), dtype=np.uint8)
    beat_period_ms = 60_000.0 / heart_rate
    for index in range(frames):
        t_ms = index * frame_time_ms
        breath = 0.25 * math.sin(2 * math.pi * t_ms / 4000.0)  # cm of craniocaudal motion, 15 breaths/min
        pulse = 1.0 + 0.15 * max(0.0, math.sin(2 * math.pi * t_ms / beat_period_ms)) ** 2
        echo = static.copy()
        if index > 0 and y0 < y1 and x0 < x1:
            local = _abdomen_echo(xs[y0:y1, x0:x1], zs[y0:y1, x0:x1], vessel_centre[0] - offset, vessel_centre[1],
                                  vessel_radius * pulse)
            echo[y0:y1, x0:x1] = _box_blur(local, blur, blur)
        shift = round(breath / float(cm))  # tissue and its speckle move together
        if index == 0:
            real, imag = base_re, base_im
        else:
            roll = (3 * index + shift, 7 * index)
            keep, fresh = np.float32(0.9), np.float32(0.436)  # keep**2 + fresh**2 == 1: same speckle statistics
            real = np.roll(base_re, shift, axis=0) * keep + np.roll(extra_re, roll, (0, 1)) * fresh
            imag = np.roll(base_im, shift, axis=0) * keep + np.roll(extra_im, roll, (0, 1)) * fresh
            echo = np.roll(echo, shift, axis=0)
        amplitude = echo * np.sqrt(real * real + imag * imag) * attenuation + np.float32(0.002)
        db = np.log10(amplitude) * np.float32(20.0)
        grey = np.clip((db + np.float32(40.0)) * np.float32(255.0 / 45.0), 0, 255)
        grey[~inside] = 0
        out[index] = grey.astype(np.uint8)
    return UltrasoundFrames(out, geometry, vessel_centre, vessel_radius)


def _abdomen_echo(x: FloatArray, z: FloatArray, vessel_x: float, vessel_z: float, vessel_r: float) -> FloatArray:
    """Mean echogenicity (linear amplitude, 1 = strong specular reflector) of each pixel."""
    echo = np.full(x.shape, 0.12, dtype=np.float32)  # liver parenchyma
    echo[z < 1.6] = 0.06  # subcutaneous fat
    echo[np.abs(z - 1.7 - 0.04 * x * x) < 0.12] = 0.5  # fascia, following the body wall
    echo[np.abs(z - 0.5) < 0.08] = 0.5  # skin line
    # Diaphragm: a bright arc deep in the image.
    diaphragm = np.abs(np.sqrt((x + 3.0) ** 2 + (z + 2.0) ** 2) - 15.5) < 0.18
    echo[diaphragm] = 0.9
    echo[np.sqrt((x + 3.0) ** 2 + (z + 2.0) ** 2) > 15.7] = 0.05
    # Kidney: bright capsule, hypoechoic cortex, echogenic central sinus.
    kidney = _ellipse(x, z, 2.2, 10.5, 4.2, 2.1, angle=-0.25)
    echo[kidney <= 1.12] = 0.85
    echo[kidney <= 1.0] = 0.07
    echo[_ellipse(x, z, 2.2, 10.5, 2.6, 0.9, angle=-0.25) <= 1.0] = 0.45
    # Gallbladder: anechoic, with posterior acoustic enhancement beneath it.
    gall = _ellipse(x, z, -1.2, 3.6, 1.8, 0.9, angle=0.3)
    enhancement = (np.abs(x - (-1.2) * z / 3.6) < 1.1) & (z > 3.6)
    echo[enhancement] *= 1.5
    echo[gall <= 1.12] = 0.6
    echo[gall <= 1.0] = 0.004
    # A vessel (IVC/aorta) in cross-section with a bright wall; its radius follows the cardiac cycle.
    vessel = np.sqrt((x - vessel_x) ** 2 + (z - vessel_z) ** 2)
    echo[np.abs(vessel - vessel_r) < 0.12] = 0.8
    echo[vessel < vessel_r - 0.12] = 0.004
    return echo


def colour_flow(bmode: npt.NDArray[np.uint8], us: UltrasoundFrames, box_angle: float = 0.3
                ) -> tuple[npt.NDArray[np.uint8], tuple[int, int, int, int]]:
    """Colour Doppler RGB frames: B-mode in grey, flow in the vessel red/blue inside a colour box, a colour bar.

    Returns the RGB frames (frames x rows x columns x 3) and the colour box bounds (min x, min y, max x, max y).
    """
    geometry = us.geometry
    frames, rows, columns = bmode.shape
    rgb = np.repeat(bmode[..., np.newaxis], 3, axis=3)
    cm = geometry.cm_per_pixel
    vx, vz = us.vessel_centre_cm
    cx = geometry.apex_x + vx / cm
    cy = geometry.apex_y + vz / cm
    radius = us.vessel_radius_cm / cm
    half_box = max(2.0, 2.2 * radius)
    x0, x1 = max(0, int(cx - half_box)), min(columns - 1, int(cx + half_box))
    y0, y1 = max(0, int(cy - half_box)), min(rows - 1, int(cy + half_box))
    yy, xx = np.mgrid[0:rows, 0:columns].astype(np.float32)
    d2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / np.float32(radius * radius)
    inside = (d2 < 0.8) & (xx >= x0) & (xx <= x1) & (yy >= y0) & (yy <= y1)
    velocity = np.clip(1.0 - d2, 0.0, 1.0)  # parabolic laminar profile
    for index in range(frames):
        phase = 0.55 + 0.45 * math.sin(2 * math.pi * index / 25.0)
        speed = (velocity * phase * 255.0).astype(np.uint8)
        frame = rgb[index]
        toward = inside & (xx < cx + 0.15 * radius * math.sin(box_angle))
        frame[toward] = np.stack([speed[toward], speed[toward] // 5, np.zeros_like(speed[toward])], axis=-1)
        away = inside & ~toward
        frame[away] = np.stack([np.zeros_like(speed[away]), speed[away] // 4, speed[away]], axis=-1)
        # Box outline in the colour-flow region's frame colour.
        frame[y0, x0:x1 + 1] = (200, 200, 200)
        frame[y1, x0:x1 + 1] = (200, 200, 200)
        frame[y0:y1 + 1, x0] = (200, 200, 200)
        frame[y0:y1 + 1, x1] = (200, 200, 200)
    # Colour bar at the right edge: red (toward) on top, blue (away) below.
    bar_x0, bar_x1 = columns - max(2, columns // 40) - 1, columns - 1
    bar_y0, bar_y1 = rows // 6, rows // 2
    ramp = np.linspace(1.0, -1.0, bar_y1 - bar_y0, dtype=np.float32)
    bar = np.zeros((bar_y1 - bar_y0, 3), dtype=np.uint8)
    bar[:, 0] = (np.clip(ramp, 0, 1) * 255).astype(np.uint8)
    bar[:, 2] = (np.clip(-ramp, 0, 1) * 255).astype(np.uint8)
    rgb[:, bar_y0:bar_y1, bar_x0:bar_x1] = bar[np.newaxis, :, np.newaxis, :]
    return rgb, (x0, y0, x1, y1)


# X-ray angiography ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Segment:
    y0: float
    x0: float
    y1: float
    x1: float
    radius: float
    path: float  # distance from the root along the tree, at the segment's start (fraction of the image size)


def _vessel_tree(rng: np.random.Generator, root: tuple[float, float], heading: float) -> list[_Segment]:
    """A coronary-like branching tree in normalised image coordinates (0..1)."""
    segments: list[_Segment] = []
    stack: list[tuple[float, float, float, float, float, int]] = [(root[0], root[1], heading, 0.011, 0.0, 0)]
    while stack:
        y, x, angle, radius, path, depth = stack.pop()
        steps = int(rng.integers(6, 11))
        length = 0.03 * (0.88 ** depth)
        for _ in range(steps):
            angle += float(rng.normal(0.0, 0.22))
            ny, nx = y + length * math.sin(angle), x + length * math.cos(angle)
            segments.append(_Segment(y, x, ny, nx, radius, path))
            path += length
            y, x = ny, nx
            radius *= 0.97
        if depth < 5 and radius > 0.002:
            spread = float(rng.uniform(0.35, 0.7))
            stack.append((y, x, angle - spread, radius * 0.78, path, depth + 1))
            stack.append((y, x, angle + spread * 0.8, radius * 0.72, path, depth + 1))
    return segments


def _chord_lengths(rows: int, columns: int, segments: list[_Segment], bins: int, max_path: float
                   ) -> npt.NDArray[np.float32]:
    """Projected vessel thickness (pixels) per contrast-arrival bin: shape bins x rows x columns."""
    out = np.zeros((bins, rows, columns), dtype=np.float32)
    size = float(max(rows, columns))
    for seg in segments:
        y0, x0, y1, x1 = seg.y0 * rows, seg.x0 * columns, seg.y1 * rows, seg.x1 * columns
        r = max(seg.radius * size, 0.6)
        top, bottom = max(0, int(min(y0, y1) - r - 1)), min(rows, int(max(y0, y1) + r + 2))
        left, right = max(0, int(min(x0, x1) - r - 1)), min(columns, int(max(x0, x1) + r + 2))
        if top >= bottom or left >= right:
            continue
        py, px = np.mgrid[top:bottom, left:right].astype(np.float32)
        dy, dx = y1 - y0, x1 - x0
        length2 = dy * dy + dx * dx or 1e-6
        t = np.clip(((py - y0) * dy + (px - x0) * dx) / length2, 0.0, 1.0)
        d2 = (py - (y0 + t * dy)) ** 2 + (px - (x0 + t * dx)) ** 2
        chord = 2.0 * np.sqrt(np.clip(r * r - d2, 0.0, None))
        b = min(bins - 1, int(bins * seg.path / max_path))
        view = out[b, top:bottom, left:right]
        np.maximum(view, chord, out=view)
    return out


def angiogram_frames(rows: int, columns: int, frames: int, rng: np.random.Generator, *, bits: int = 10,
                     frame_rate: float = 15.0, heart_rate: float = 70.0, view: int = 0) -> npt.NDArray[np.uint16]:
    """A contrast run through a coronary-like vessel tree (frames x rows x columns, ``bits`` stored).

    Contrast arrives from the catheter tip and fills the tree over the first half of the run, then washes out;
    the tree moves with the cardiac cycle. Round image-intensifier field, quantum noise, spine and ribs.
    """
    top = float((1 << bits) - 1)
    yy, xx = np.mgrid[0:rows, 0:columns].astype(np.float32)
    ny, nx = yy / np.float32(rows), xx / np.float32(columns)
    # Patient background: lungs brighter, spine and heart shadow darker, ribs as faint bands.
    body = np.float32(0.35) + np.float32(0.25) * np.exp(-((nx - 0.55) / 0.22) ** 2 - ((ny - 0.6) / 0.3) ** 2)
    body += np.float32(0.18) * np.exp(-((nx - 0.5) / 0.06) ** 2)  # spine
    ribs = np.sin((ny * 7.0 - 2.5 * (nx - 0.5) ** 2 + 0.8 * nx) * np.float32(math.pi)) ** 6
    body += np.float32(0.03) * ribs
    body += np.float32(0.3) * np.clip((ny - 0.78 - 0.1 * np.cos((nx - 0.4) * 3.0)) * 6.0, 0.0, 1.0)  # diaphragm

    root = (0.22 + 0.04 * math.sin(view), 0.38)
    segments = _vessel_tree(rng, root, heading=0.9)
    max_path = max(seg.path for seg in segments) + 1e-6
    bins = 12
    chords = _chord_lengths(rows, columns, segments, bins, max_path)
    # The guide catheter: a thin tube from the bottom edge to the vessel ostium, always visible.
    catheter = _chord_lengths(rows, columns, [_Segment(1.05, 0.6, root[0], root[1], 0.004, 0.0)], 1, 1.0)[0]
    per_pixel = np.float32(0.06 * 512.0 / max(rows, columns))  # attenuation per pixel of iodinated vessel
    field = ((nx - 0.5) ** 2 + (ny - 0.5) ** 2) <= np.float32(0.49**2)
    centres = (np.arange(bins, dtype=np.float32) + np.float32(0.5)) / np.float32(bins)
    out = np.empty((frames, rows, columns), dtype=np.uint16)
    for index in range(frames):
        t = index / max(frames - 1, 1)
        front = 1.8 * t
        washout = 1.0 / (1.0 + np.exp(-(t - 0.85 - 0.1 * centres) / 0.04))
        fill = (1.0 / (1.0 + np.exp(-(front - centres) / 0.06))) * (1.0 - washout)
        absorbance = np.max(fill.astype(np.float32)[:, np.newaxis, np.newaxis] * chords, axis=0)
        phase = 2 * math.pi * index * heart_rate / 60.0 / frame_rate
        dy = round(0.012 * rows * math.sin(phase))
        dx = round(0.008 * columns * math.sin(phase + 0.6))
        absorbance = np.roll(absorbance, (dy, dx), axis=(0, 1)) + catheter * np.float32(1.3)
        intensity = np.float32(0.85 * top) * np.exp(-body - absorbance * per_pixel)
        noisy = intensity + rng.standard_normal((rows, columns), dtype=np.float32) * np.sqrt(intensity) * np.float32(
            0.5)
        noisy[~field] = 0
        out[index] = np.clip(noisy, 0, top).astype(np.uint16)
    return out
