"""CT Image Storage instances (PS3.3 A.3): a study of axial series with consistent geometry."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, CTImageStorage, ExplicitVRLittleEndian

from simulator.synth.patients import Patient, make_patient
from simulator.synth.phantom import abdomen_hu
from simulator.synth.study import Study
from simulator.synth.uids import derive_uid

RESCALE_INTERCEPT = -1024
SERIES_DESCRIPTIONS = ("Abdomen 5.0 Axial", "Abdomen 1.25 Axial", "Abdomen Venous Axial", "Abdomen Delayed Axial")


def build_ct_study(seed: int = 0, *, series: int = 1, instances: int = 20, rows: int = 512,
                   columns: int = 512, patient: Patient | None = None) -> Study:
    """A CT study of ``series`` axial series with ``instances`` slices each; every byte follows from ``seed``."""
    if series < 1 or instances < 1:
        raise ValueError("series and instances must be at least 1")
    rng_meta = random.Random(f"ct-{seed}")
    rng_pixels = np.random.default_rng(seed)
    patient = patient or make_patient(seed)
    study_uid = derive_uid(seed, "study")
    frame_uid = derive_uid(seed, "frame-of-reference")
    study_date = dt.date(2026, 1, 1) - dt.timedelta(days=rng_meta.randint(0, 365))
    study_time = dt.time(rng_meta.randint(7, 18), rng_meta.randint(0, 59), rng_meta.randint(0, 59))
    accession = f"A{rng_meta.randint(0, 9_999_999):07d}"
    age_years = (study_date - patient.birth_date).days // 365
    study = Study()
    for series_index in range(series):
        series_uid = derive_uid(seed, "series", series_index)
        spacing = (5.0, 1.25, 5.0, 5.0)[series_index % 4]
        base = _base_slice(rows, columns, rng_pixels)
        for instance_index in range(instances):
            position = instance_index / max(instances - 1, 1)
            hu = base if instances == 1 else _vary(base, rows, columns, position, rng_pixels)
            ds = _ct_dataset(
                patient, study_uid, series_uid, frame_uid,
                sop_uid=derive_uid(seed, "instance", series_index, instance_index),
                series_number=series_index + 1, instance_number=instance_index + 1,
                description=SERIES_DESCRIPTIONS[series_index % len(SERIES_DESCRIPTIONS)],
                z=-instance_index * spacing, spacing=spacing, pixels=hu,
                study_date=study_date, study_time=study_time, accession=accession,
                age=f"{min(age_years, 999):03d}Y", study_id=str(seed % 10_000_000),
            )
            study.datasets.append(ds)
    return study


def _base_slice(rows: int, columns: int, rng: np.random.Generator) -> np.ndarray:
    return abdomen_hu(rows, columns, 0.0, rng)


def _vary(base: np.ndarray, rows: int, columns: int, position: float, rng: np.random.Generator) -> np.ndarray:
    # Reuse the series' base slice and move a few organs along z: cheap and still anatomy-like.
    shifted = np.roll(base, int(position * rows * 0.02), axis=0)
    noise = rng.integers(-6, 7, size=(rows, columns), dtype=np.int16)
    return np.clip(shifted + noise, -1024, 3071).astype(np.int16)


def _ct_dataset(patient: Patient, study_uid: str, series_uid: str, frame_uid: str, *, sop_uid: str,
                series_number: int, instance_number: int, description: str, z: float, spacing: float,
                pixels: np.ndarray, study_date: dt.date, study_time: dt.time, accession: str, age: str,
                study_id: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta.ImplementationVersionName = "RADSIM_0_1"
    date = study_date.strftime("%Y%m%d")
    time = study_time.strftime("%H%M%S")
    # SOP Common (C.12.1)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = time
    ds.AccessionNumber = accession
    ds.Modality = "CT"
    ds.Manufacturer = "radsim"
    ds.InstitutionName = "radsim General Hospital"
    ds.ReferringPhysicianName = "Referrer^Rita"
    ds.StationName = "CT1"
    ds.StudyDescription = "CT Abdomen"
    ds.SeriesDescription = description
    ds.ManufacturerModelName = "Synthetic CT"
    # Patient (C.7.1.1) and Patient Study (C.7.2.2)
    ds.PatientName = patient.dicom_name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date.strftime("%Y%m%d")
    ds.PatientSex = patient.sex
    ds.PatientAge = age
    # CT Image (C.8.2.1)
    ds.BodyPartExamined = "ABDOMEN"
    ds.SliceThickness = f"{spacing:.2f}"
    ds.KVP = "120"
    ds.ProtocolName = "Abdomen Routine"
    ds.PatientPosition = "HFS"
    # General Study / Series / Frame of Reference / General Image
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = study_id
    ds.SeriesNumber = series_number
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = [-250.0, -250.0, z]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = f"{z:.2f}"
    # Image Pixel (C.7.6.3): stored value = HU - intercept, 12 bits stored in 16
    rows, columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.PixelSpacing = [f"{500.0 / rows:.4f}", f"{500.0 / columns:.4f}"]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.RescaleIntercept = str(RESCALE_INTERCEPT)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    stored = (pixels.astype(np.int32) - RESCALE_INTERCEPT).clip(0, 4095).astype("<u2")
    ds.PixelData = stored.tobytes()
    return ds
