"""Projection-radiography phantoms: chest (PA, lateral), breast (CC, MLO) and a workstation screenshot.

Each phantom is drawn at a coarse resolution (soft, anatomy-like edges) and upsampled bilinearly; quantum noise is
added at full resolution. Values are "density" in [0, 1] (1 = most attenuating, shown bright in MONOCHROME2); the
IOD builders scale them to their Bits Stored. Everything is vectorised numpy and follows from the generator passed in.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float32]

_COARSE = 512  # longest side of the coarse drawing grid


def upsample(small: Float, rows: int, columns: int) -> Float:
    """Bilinear resize of a 2-D array to ``rows`` x ``columns``: columns on the small array, then whole rows."""
    h, w = small.shape
    if (h, w) == (rows, columns):
        return small.astype(np.float32, copy=False)
    x = np.linspace(0.0, w - 1.0, columns, dtype=np.float32)
    x0 = np.minimum(x.astype(np.int32), max(w - 2, 0))
    x1 = np.minimum(x0 + 1, w - 1)
    fx = (x - x0)[np.newaxis, :]
    wide = small[:, x0] * (1.0 - fx) + small[:, x1] * fx  # h x columns
    y = np.linspace(0.0, h - 1.0, rows, dtype=np.float32)
    y0 = np.minimum(y.astype(np.int32), max(h - 2, 0))
    y1 = np.minimum(y0 + 1, h - 1)
    fy = (y - y0)[:, np.newaxis]
    result: Float = wide[y1] - wide[y0]
    result *= fy
    result += wide[y0]
    return result


def smooth_noise(rng: np.random.Generator, rows: int, columns: int, cells: tuple[int, int]) -> Float:
    """Gaussian noise on a ``cells`` grid, upsampled: blobs about rows/cells[0] x columns/cells[1] in size."""
    coarse = rng.standard_normal((max(cells[0], 2), max(cells[1], 2)), dtype=np.float32)
    return upsample(coarse, rows, columns)


def _grid(rows: int, columns: int) -> tuple[Float, Float, int, int]:
    scale = min(1.0, _COARSE / max(rows, columns))
    h, w = max(int(rows * scale), 8), max(int(columns * scale), 8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return yy / (h - 1), xx / (w - 1), h, w


def _ellipse(yy: Float, xx: Float, cy: float, cx: float, ry: float, rx: float, power: float = 2.0) -> Float:
    """Soft-edged (super)ellipse mask (1 inside, 0 outside, a short ramp across the border)."""
    r = (np.abs((yy - cy) / ry) ** power + np.abs((xx - cx) / rx) ** power) ** (1.0 / power)
    mask: Float = np.clip((1.0 - r) * 25.0, 0.0, 1.0).astype(np.float32)
    return mask


def _segment(yy: Float, xx: Float, a: tuple[float, float], b: tuple[float, float], width: float) -> Float:
    """Soft bar of half-width ``width`` from point ``a`` to point ``b`` (y, x)."""
    ay, ax = a
    dy, dx = b[0] - ay, b[1] - ax
    t = np.clip(((yy - ay) * dy + (xx - ax) * dx) / (dy * dy + dx * dx), 0.0, 1.0)
    distance = np.hypot(yy - ay - t * dy, xx - ax - t * dx)
    bar: Float = np.clip((width - distance) / width * 3.0, 0.0, 1.0).astype(np.float32)
    return bar


def _ribs(yy: Float, xx: Float, centre_x: float, lateral: float, top: float, bottom: float) -> Float:
    """Posterior rib arcs: a periodic band pattern bent downwards away from the spine."""
    bent = yy - 0.9 * ((xx - centre_x) / lateral) ** 2 * 0.12
    phase = np.mod((bent - top) / ((bottom - top) / 9.0), 1.0)
    band = np.clip(1.0 - np.abs(phase - 0.5) * 5.0, 0.0, 1.0)
    inside = (bent > top) & (bent < bottom)
    ribs: Float = np.where(inside, band, 0.0).astype(np.float32)
    return ribs


def chest_pa(rows: int, columns: int, rng: np.random.Generator) -> Float:
    """Postero-anterior chest (patient right at left): lungs, mediastinum, heart, spine, ribs, clavicles, diaphragm."""
    yy, xx, h, w = _grid(rows, columns)
    body = np.maximum(_ellipse(yy, xx, 0.6, 0.5, 0.5, 0.46, 3.5), _ellipse(yy, xx, 0.05, 0.5, 0.12, 0.08))
    density = 0.55 * body
    right_lung = _ellipse(yy, xx, 0.42, 0.31, 0.30, 0.15, 2.4)
    left_lung = _ellipse(yy, xx, 0.44, 0.69, 0.29, 0.14, 2.4)
    lungs = np.maximum(right_lung, left_lung)
    vessels = smooth_noise(rng, h, w, (h // 10, w // 10)) * 0.5 + smooth_noise(rng, h, w, (h // 4, w // 4))
    hilum = np.exp(-(((yy - 0.42) / 0.16) ** 2) - ((np.abs(xx - 0.5) - 0.12) / 0.1) ** 2)
    density -= lungs * (0.4 - 0.05 * vessels - 0.12 * hilum)
    mediastinum = _ellipse(yy, xx, 0.35, 0.5, 0.28, 0.07)
    heart = _ellipse(yy, xx, 0.60, 0.57, 0.15, 0.17)
    density = np.maximum(density, 0.55 * np.maximum(mediastinum, heart) * body)
    spine = np.clip((0.04 - np.abs(xx - 0.5)) * 60.0, 0.0, 1.0) * (yy < 0.95)
    vertebrae = 0.5 + 0.5 * (np.sin(yy * 2 * np.pi * 22) > -0.6)
    density += 0.12 * spine * vertebrae
    ribs = np.maximum(_ribs(yy, xx, 0.47, 0.3, 0.16, 0.68) * (xx < 0.48),
                      _ribs(yy, xx, 0.53, 0.3, 0.16, 0.68) * (xx > 0.52))
    density += 0.08 * ribs * (body > 0.5) * (0.4 + lungs)
    for side in (-1.0, 1.0):
        density += 0.2 * _segment(yy, xx, (0.17, 0.5 + side * 0.04), (0.12, 0.5 + side * 0.3), 0.018)
    clipped: Float = np.clip(density, 0.0, 1.0).astype(np.float32)
    return upsample(clipped, rows, columns)


def chest_lateral(rows: int, columns: int, rng: np.random.Generator) -> Float:
    """Left lateral chest (anterior at left): lung field, heart, spine, sternum, posterior ribs, diaphragm."""
    yy, xx, h, w = _grid(rows, columns)
    body = np.maximum(_ellipse(yy, xx, 0.6, 0.5, 0.6, 0.36), _ellipse(yy, xx, 0.05, 0.55, 0.12, 0.12))
    density = 0.62 * body
    lung = _ellipse(yy, xx, 0.45, 0.5, 0.33, 0.27)
    texture = smooth_noise(rng, h, w, (h // 8, w // 8))
    density -= lung * (0.34 - 0.04 * texture)
    heart = _ellipse(yy, xx, 0.6, 0.4, 0.17, 0.16)
    density = np.maximum(density, 0.5 * heart * body)
    spine = np.clip((0.05 - np.abs(xx - 0.76)) * 50.0, 0.0, 1.0)
    vertebrae = 0.4 + 0.6 * (np.sin(yy * 2 * np.pi * 20) > -0.5)
    density += 0.15 * spine * vertebrae * (yy < 0.95)
    sternum = np.clip((0.012 - np.abs(xx - 0.17 - 0.05 * yy)) * 100.0, 0.0, 1.0) * (yy > 0.2) * (yy < 0.62)
    density += 0.12 * sternum
    density += 0.06 * _ribs(yy, xx, 0.75, 0.35, 0.15, 0.75) * (xx > 0.5) * lung
    clipped: Float = np.clip(density, 0.0, 1.0).astype(np.float32)
    return upsample(clipped, rows, columns)


def breast(rows: int, columns: int, *, view: str, laterality: str, rng: np.random.Generator) -> Float:
    """A compressed breast for ``view`` "CC" or "MLO": skin line, fat, fibroglandular texture, pectoral muscle (MLO).

    Left breasts have the chest wall at the left edge, right breasts at the right edge (PS3.3 C.8.11.7 orientation).
    """
    yy, xx, h, w = _grid(rows, columns)
    if view == "MLO":
        outline = np.maximum(_ellipse(yy, xx, 0.56, 0.0, 0.44, 0.66), _ellipse(yy, xx, 0.2, 0.0, 0.22, 0.3))
    else:
        outline = _ellipse(yy, xx, 0.5, 0.0, 0.42, 0.66)
    cy = 0.56 if view == "MLO" else 0.5
    radial = np.sqrt(((yy - cy) / 0.44) ** 2 + (xx / 0.66) ** 2)
    thickness = np.clip(1.0 - radial**4, 0.0, 1.0) ** 0.35
    # Fibroglandular tissue: multi-scale noise, streaks towards the nipple, densest behind the areola.
    texture = (smooth_noise(rng, h, w, (h // 20, w // 20)) + 0.7 * smooth_noise(rng, h, w, (h // 6, w // 20))
               + 0.5 * smooth_noise(rng, h, w, (h // 2, w // 4)))
    region = np.exp(-(((yy - cy) / 0.3) ** 2) - ((xx - 0.25) / 0.32) ** 2)
    glandular = 0.5 + 0.5 * np.tanh(texture + 2.5 * region - 1.6)
    density = outline * thickness * (0.3 + 0.32 * glandular)
    skin = np.clip(1.0 - np.abs(radial - 0.985) * 60.0, 0.0, 1.0) * outline
    density += 0.08 * skin
    nipple = _ellipse(yy, xx, cy, 0.655, 0.025, 0.02)
    density = np.maximum(density, 0.45 * nipple)
    if view == "MLO":
        pectoral = np.clip((0.24 * (1.0 - yy / 0.5) - xx) * 30.0, 0.0, 1.0)
        density = np.maximum(density, 0.62 * pectoral * outline)
    clipped: Float = np.clip(density, 0.0, 1.0).astype(np.float32)
    if laterality == "R":
        clipped = np.ascontiguousarray(clipped[:, ::-1])
    return upsample(clipped, rows, columns)


def to_stored(density: Float, bits: int, rng: np.random.Generator, *, floor: float = 0.04,
              noise: float = 0.004) -> npt.NDArray[np.uint16]:
    """Scale density to ``bits``-bit stored values with quantum noise (the same ``density`` may be reused)."""
    top = (1 << bits) - 1
    scaled = rng.standard_normal(density.shape, dtype=np.float32)
    scaled *= np.float32(noise * top)
    scaled += density * np.float32((1.0 - floor) * top)
    scaled += np.float32(floor * top)
    np.clip(scaled, 0, top, out=scaled)
    stored: npt.NDArray[np.uint16] = scaled.astype(np.uint16)
    return stored


def screenshot(rows: int, columns: int, viewport: npt.NDArray[np.uint8],
               rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """An RGB workstation screen capture: title bar, an image viewport, a text panel and a dose bar chart."""
    image = np.empty((rows, columns, 3), dtype=np.uint8)
    image[:] = (28, 30, 36)
    bar = max(rows // 32, 2)
    image[:bar] = (46, 70, 110)
    split = int(columns * 0.62)
    vh, vw = rows - bar - 4, split - 4
    view = upsample(viewport.astype(np.float32), vh, vw)
    image[bar + 2:bar + 2 + vh, 2:2 + vw] = np.clip(view, 0, 255).astype(np.uint8)[..., np.newaxis]
    line = max(rows // 48, 3)
    glyph = max(line // 2, 1)
    y = bar + line
    while y + glyph < rows * 0.55:
        x = split + line
        while True:
            word = int(rng.integers(3, 10)) * glyph
            if x + word >= columns - line:
                break
            image[y:y + glyph + 1, x:x + word] = (200, 200, 190)
            x += word + glyph
        y += line + glyph
    # A bar chart of dose per acquisition.
    base = rows - line * 2
    count = 8
    slot = max((columns - split - 2 * line) // count, 2)
    heights = rng.uniform(0.15, 0.35, size=count) * rows
    colours = ((220, 120, 60), (90, 170, 230))
    for index, height in enumerate(heights):
        left = split + line + index * slot
        image[int(base - height):base, left:left + max(slot - 3, 1)] = colours[index % 2]
    image[base:base + 2, split + line:columns - line] = (160, 160, 160)
    for corner_y in (bar + line, rows - 2 * line):
        image[corner_y:corner_y + glyph, line:line + glyph * 12] = (230, 210, 60)  # burned-in viewport annotation
    return image
