"""Writers for the modules most IODs share (PS3.3 C.7, C.12). Each fills one module's attributes in place.

IOD builders call them in order, then add their modality-specific modules. Type 2 attributes are always
present (empty when unknown); Type 1 attributes always have a value.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from simulator.synth.context import SeriesContext, StudyContext
from simulator.synth.uids import derive_uid

IMPLEMENTATION_CLASS_UID = derive_uid("radsim", "implementation-class")
IMPLEMENTATION_VERSION_NAME = "RADSIM_0_1"
MANUFACTURER = "radsim"


def da(value: dt.date) -> str:
    return value.strftime("%Y%m%d")


def tm(value: dt.time) -> str:
    return value.strftime("%H%M%S")


def new_instance(sop_class_uid: str, sop_instance_uid: str) -> Dataset:
    """An empty dataset with File Meta Information (PS3.10 7.1) in Explicit VR Little Endian."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    ds.file_meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return ds


def sop_common(ds: Dataset, study: StudyContext, sop_class_uid: str, sop_instance_uid: str,
               instance_number: int) -> None:
    """SOP Common (C.12.1) plus the instance identification every image carries."""
    if study.specific_character_set:  # Type 1C: absent for the default repertoire (PS3.3 C.12.1.1.2)
        ds.SpecificCharacterSet = study.specific_character_set
    ds.SOPClassUID = UID(sop_class_uid)
    ds.SOPInstanceUID = UID(sop_instance_uid)
    ds.InstanceCreationDate = da(study.study_date)
    ds.InstanceCreationTime = tm(study.study_time)
    ds.InstanceNumber = instance_number


def patient(ds: Dataset, study: StudyContext) -> None:
    """Patient (C.7.1.1)."""
    p = study.patient
    ds.PatientName = p.dicom_name
    ds.PatientID = p.patient_id
    ds.IssuerOfPatientID = "RADSIM"
    ds.PatientBirthDate = da(p.birth_date)
    ds.PatientSex = p.sex


def general_study(ds: Dataset, study: StudyContext) -> None:
    """General Study (C.7.2.1) and Patient Study (C.7.2.2)."""
    ds.StudyInstanceUID = UID(study.study_instance_uid)
    ds.StudyDate = da(study.study_date)
    ds.StudyTime = tm(study.study_time)
    ds.ReferringPhysicianName = study.referring_physician
    ds.StudyID = study.study_id
    ds.AccessionNumber = study.accession_number
    ds.StudyDescription = study.study_description
    ds.PatientAge = study.patient_age


def general_series(ds: Dataset, series: SeriesContext) -> None:
    """General Series (C.7.3.1)."""
    ds.Modality = series.modality
    ds.SeriesInstanceUID = UID(series.series_instance_uid)
    ds.SeriesNumber = series.series_number
    ds.SeriesDate = da(series.study.study_date)
    ds.SeriesTime = tm(series.series_time or series.study.study_time)
    ds.SeriesDescription = series.series_description
    ds.ProtocolName = series.protocol_name
    ds.BodyPartExamined = series.body_part
    if series.laterality:
        ds.Laterality = series.laterality
    if series.study.requested_procedure_id or series.study.scheduled_procedure_step_id:
        item = Dataset()
        item.RequestedProcedureID = series.study.requested_procedure_id or ""
        item.ScheduledProcedureStepID = series.study.scheduled_procedure_step_id or ""
        ds.RequestAttributesSequence = [item]


def frame_of_reference(ds: Dataset, series: SeriesContext) -> None:
    """Frame of Reference (C.7.4.1)."""
    ds.FrameOfReferenceUID = UID(series.frame_of_reference_uid)
    ds.PositionReferenceIndicator = ""


def general_equipment(ds: Dataset, study: StudyContext, model: str) -> None:
    """General Equipment (C.7.5.1)."""
    ds.Manufacturer = MANUFACTURER
    ds.InstitutionName = study.institution
    ds.StationName = study.station_name
    ds.ManufacturerModelName = model
    ds.DeviceSerialNumber = "RS-0001"
    ds.SoftwareVersions = "0.1"


def general_image(ds: Dataset, study: StudyContext, image_type: list[str], *,
                  content_time: dt.time | None = None) -> None:
    """General Image (C.7.6.1): content date/time and Image Type."""
    ds.ImageType = image_type
    ds.ContentDate = da(study.study_date)
    ds.ContentTime = tm(content_time or study.study_time)
    ds.AcquisitionDate = da(study.study_date)
    ds.AcquisitionTime = tm(content_time or study.study_time)
    ds.PatientOrientation = ""


def image_plane(ds: Dataset, *, position: tuple[float, float, float], orientation: tuple[float, ...],
                spacing: tuple[float, float], thickness: float) -> None:
    """Image Plane (C.7.6.2): the slice's place in the frame of reference."""
    ds.ImagePositionPatient = [f"{v:.4f}".rstrip("0").rstrip(".") for v in position]
    ds.ImageOrientationPatient = [f"{v:.6f}".rstrip("0").rstrip(".") for v in orientation]
    ds.PixelSpacing = [f"{spacing[0]:.6g}", f"{spacing[1]:.6g}"]
    ds.SliceThickness = f"{thickness:.6g}"


def slice_positions(count: int, spacing: float, orientation: tuple[float, ...],
                    origin: tuple[float, float, float]) -> list[tuple[float, float, float]]:
    """Positions stepping by ``spacing`` along the normal of ``orientation`` (row x column direction)."""
    row = np.array(orientation[:3], dtype=float)
    column = np.array(orientation[3:], dtype=float)
    normal = np.cross(row, column)
    start = np.array(origin, dtype=float)
    return [(float(p[0]), float(p[1]), float(p[2])) for p in (start + normal * spacing * i for i in range(count))]


def monochrome_pixels(ds: Dataset, pixels: npt.NDArray[np.integer], *, bits_stored: int, signed: bool = False,
                      photometric: str = "MONOCHROME2") -> None:
    """Image Pixel (C.7.6.3) for one or more grayscale frames (shape rows x cols or frames x rows x cols)."""
    frames = pixels if pixels.ndim == 3 else pixels[np.newaxis]
    bits_allocated = 8 if bits_stored <= 8 else 16
    dtype = np.dtype(("<i" if signed else "<u") + str(bits_allocated // 8))
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = int(frames.shape[1]), int(frames.shape[2])
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if pixels.ndim == 3:
        ds.NumberOfFrames = int(frames.shape[0])
    ds.PixelData = np.ascontiguousarray(frames.astype(dtype, copy=False)).tobytes()


def rgb_pixels(ds: Dataset, pixels: npt.NDArray[np.uint8]) -> None:
    """Image Pixel (C.7.6.3) for 8-bit RGB frames (rows x cols x 3, or frames x rows x cols x 3)."""
    frames = pixels if pixels.ndim == 4 else pixels[np.newaxis]
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = int(frames.shape[1]), int(frames.shape[2])
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if pixels.ndim == 4:
        ds.NumberOfFrames = int(frames.shape[0])
    ds.PixelData = np.ascontiguousarray(frames.astype(np.uint8, copy=False)).tobytes()
