"""Helpers shared by the synth tests."""

from __future__ import annotations

import io

from pydicom.dataset import Dataset


def part10_bytes(ds: Dataset) -> bytes:
    """``ds`` written as a DICOM file (File Meta Information included), as bytes."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
