"""Anatomy-like pixel phantoms, vectorised with numpy so generation never limits a load test."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def _ellipse(yy: npt.NDArray[np.float32], xx: npt.NDArray[np.float32], cy: float, cx: float,
             ry: float, rx: float) -> npt.NDArray[np.bool_]:
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def abdomen_hu(rows: int, columns: int, position: float, rng: np.random.Generator) -> npt.NDArray[np.int16]:
    """One axial abdominal slice in Hounsfield units; ``position`` in [0, 1] moves along the body axis."""
    yy, xx = np.mgrid[0:rows, 0:columns].astype(np.float32)
    yy /= rows
    xx /= columns
    image = np.full((rows, columns), -1000, dtype=np.float32)  # air
    body = _ellipse(yy, xx, 0.5, 0.5, 0.36, 0.45)
    image[body] = -90  # subcutaneous fat
    muscle = _ellipse(yy, xx, 0.5, 0.5, 0.32, 0.41)
    image[muscle] = 45
    liver_size = 0.12 + 0.06 * (1.0 - position)
    image[_ellipse(yy, xx, 0.42, 0.33, liver_size, liver_size * 1.2)] = 60
    for cx in (0.36, 0.64):
        image[_ellipse(yy, xx, 0.62, cx, 0.06, 0.04)] = 30  # kidneys
    image[_ellipse(yy, xx, 0.5, 0.6, 0.05 + 0.03 * position, 0.07)] = -400  # bowel gas
    image[_ellipse(yy, xx, 0.74, 0.5, 0.06, 0.06)] = 700  # vertebral body
    image[_ellipse(yy, xx, 0.74, 0.5, 0.035, 0.035)] = 250  # cancellous bone
    image[_ellipse(yy, xx, 0.55, 0.5, 0.025, 0.025)] = 150  # aorta with contrast
    image[body] += rng.normal(0.0, 8.0, size=int(body.sum())).astype(np.float32)
    return np.clip(image, -1024, 3071).astype(np.int16)
