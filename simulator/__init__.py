"""radsim: a simulated radiology department speaking real DICOM."""

__version__ = "0.1.0"
