"""CT Image Storage (PS3.3 A.3): axial series with consistent geometry and Hounsfield rescale.

What the slices of a series share (patient, study, series, equipment, frame of reference, image pixel description,
CT image attributes: all but six elements) is built once per series as a template; each slice gets its own copies
of the template's elements (``copy.copy`` per element, multi-valued values copied too, so no element or list is
shared between two instances) and sets only what varies. Pixels are computed in stored units (HU + 1024) in one
vectorised pass per slice: the series' base slice, moved along z, plus a window of a noise field drawn once.
"""

from __future__ import annotations

import copy
from typing import cast

import numpy as np
import numpy.typing as npt
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import UID, CTImageStorage
from pydicom.valuerep import VR

from simulator.synth import modules
from simulator.synth.context import Randomness, SeriesContext
from simulator.synth.phantom import abdomen_hu
from simulator.synth.spec import BuildOptions, ModalitySpec, SeriesProfile

RESCALE_INTERCEPT = -1024
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SPACINGS = (5.0, 1.25, 5.0, 5.0)
BITS_STORED = 12
NOISE = 6  # stored-value noise amplitude: each pixel gets an integer in [-NOISE, NOISE]
_NOISE_SPAN = 4099  # extra noise values drawn beyond one slice; slice windows start at different offsets in it
_PIXEL_DATA = 0x7FE00010


def build_series(series: SeriesContext, count: int, rnd: Randomness, options: BuildOptions) -> list[Dataset]:
    rows = options.rows or 512
    columns = options.columns or 512
    spacing = SPACINGS[series.index % len(SPACINGS)]
    field_of_view = 500.0
    pixel_spacing = (field_of_view / rows, field_of_view / columns)
    origin = (-field_of_view / 2, -field_of_view / 2, 0.0)
    positions = modules.slice_positions(count, -spacing, AXIAL, origin)
    base = abdomen_hu(rows, columns, 0.0, rnd.pixels)
    template = _series_template(series, rows, columns, pixel_spacing, spacing)
    pixels = _SlicePixels(base, count, rnd.pixels)
    out = []
    for index, position in enumerate(positions):
        uid = series.instance_uid(index)
        ds = _from_template(template)
        ds.file_meta.MediaStorageSOPInstanceUID = UID(uid)
        ds.SOPInstanceUID = UID(uid)
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = [f"{v:.4f}".rstrip("0").rstrip(".") for v in position]
        ds.SliceLocation = f"{position[2]:.2f}"
        ds[_PIXEL_DATA] = DataElement(_PIXEL_DATA, VR.OW, pixels.slice(index))  # 16 bits allocated: OW
        out.append(ds)
    return out


def _series_template(series: SeriesContext, rows: int, columns: int, pixel_spacing: tuple[float, float],
                     thickness: float) -> Dataset:
    """Every element the slices of ``series`` share, with a placeholder for the per-slice ones."""
    placeholder = series.instance_uid(0)
    ds = modules.new_instance(CTImageStorage, placeholder)
    modules.sop_common(ds, series.study, CTImageStorage, placeholder, 1)
    modules.patient(ds, series.study)
    modules.general_study(ds, series.study)
    modules.general_series(ds, series)
    ds.PatientPosition = "HFS"
    modules.frame_of_reference(ds, series)
    modules.general_equipment(ds, series.study, "Synthetic CT")
    modules.general_image(ds, series.study, ["ORIGINAL", "PRIMARY", "AXIAL"])
    ds.AcquisitionNumber = 1
    modules.image_plane(ds, position=(0.0, 0.0, 0.0), orientation=AXIAL, spacing=pixel_spacing,
                        thickness=thickness)
    modules.monochrome_pixels(ds, np.zeros((rows, columns), dtype=np.uint16), bits_stored=BITS_STORED)
    del ds.PixelData
    # CT Image (C.8.2.1)
    ds.KVP = "120"
    ds.RescaleIntercept = str(RESCALE_INTERCEPT)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    return ds


def _own(elem: DataElement) -> DataElement:
    """A copy of ``elem`` that shares nothing mutable with it (values are immutable but for lists and items)."""
    clone = DataElement.__new__(DataElement)  # copy.copy's shallow copy, without its generic dispatch
    clone.__dict__.update(elem.__dict__)
    value = elem._value
    if isinstance(value, MultiValue):
        values = copy.copy(value)
        values._list = list(value._list)
        clone._value = values
    elif isinstance(value, Sequence):
        clone._value = copy.deepcopy(value)
    return clone


def _from_template(template: Dataset) -> Dataset:
    meta = FileMetaDataset()
    meta._dict = {tag: _own(cast(DataElement, elem)) for tag, elem in template.file_meta._dict.items()}
    ds = Dataset()
    ds._dict = {tag: _own(cast(DataElement, elem)) for tag, elem in template._dict.items()}
    ds.file_meta = meta
    return ds


class _SlicePixels:
    """Stored values (HU + 1024, 12 bits in 16) of each slice: the base slice shifted towards the feet as the
    series advances, plus a window of a noise field drawn once per series; one pass and one copy per slice."""

    def __init__(self, base_hu: npt.NDArray[np.int16], count: int, rng: np.random.Generator) -> None:
        self.count = count
        self.rows = base_hu.shape[0]
        self.stored = (base_hu.astype(np.int16) - RESCALE_INTERCEPT).astype(np.int16)  # in [0, 4095]
        self.noise = rng.integers(-NOISE, NOISE + 1, size=base_hu.size + _NOISE_SPAN, dtype=np.int16)
        self.shifted: dict[int, npt.NDArray[np.int16]] = {}
        self.work = np.empty_like(self.stored)

    def slice(self, index: int) -> bytes:
        if self.count == 1:
            return self.stored.astype("<u2").tobytes()
        shift = int(index / max(self.count - 1, 1) * self.rows * 0.02)
        shifted = self.shifted.get(shift)
        if shifted is None:
            shifted = self.shifted[shift] = np.roll(self.stored, shift, axis=0)
        start = (index * 1009) % _NOISE_SPAN
        noise = self.noise[start:start + self.stored.size].reshape(self.stored.shape)
        np.add(shifted, noise, out=self.work)
        np.clip(self.work, 0, (1 << BITS_STORED) - 1, out=self.work)
        return self.work.view("<u2").tobytes()


SPEC = ModalitySpec(
    code="CT",
    name="CT Image",
    sop_class_uid=CTImageStorage,
    modality="CT",
    study_description="CT Abdomen",
    profiles=(
        SeriesProfile("Abdomen 5.0 Axial", "ABDOMEN", "Abdomen Routine"),
        SeriesProfile("Abdomen 1.25 Axial", "ABDOMEN", "Abdomen Routine"),
        SeriesProfile("Abdomen Venous Axial", "ABDOMEN", "Abdomen Contrast"),
        SeriesProfile("Abdomen Delayed Axial", "ABDOMEN", "Abdomen Contrast"),
    ),
    build_series=build_series,
    default_series=2,
    default_instances=40,
)
