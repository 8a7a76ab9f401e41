"""Re-encoding an instance into a transfer syntax the peer accepted, when it refused the one it is stored in.

Every SCP must accept Implicit VR Little Endian (PS3.5 10.1); some accept nothing else (CTN), others no compressed
syntax (DCMTK's dcmqrscp by default, PixelMed for JPEG-LS). A sender that can only offer the stored encoding then
cannot deliver at all. :func:`transcode` decodes the pixels (pydicom with the codecs of the ``codecs`` extra) and
writes the data set in a native syntax; the decoded pixels of the result are compared with those of the original,
so a transcode never changes an image silently. Only the encoding changes: the SOP Instance UID and every other
attribute stay as they were (PS3.5 8.2: lossless decompression is not a new instance).
"""

from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from simulator.errors import HarnessError

# Targets in order of preference: Explicit VR keeps every VR; Implicit VR is the one every SCP accepts.
TARGETS: tuple[UID, ...] = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


class TranscodeFailed(HarnessError):
    """An instance could not be re-encoded (no decoder for its syntax, or the pixels changed on the way)."""

    def __init__(self, sop_instance_uid: str, source: str, target: str, reason: str) -> None:
        self.sop_instance_uid = sop_instance_uid
        self.source = source
        self.target = target
        self.reason = reason
        super().__init__(f"cannot transcode {sop_instance_uid} from {_name(source)} to {_name(target)}: {reason}")


@dataclass(frozen=True)
class Transcoded:
    """What a transcode did, for the journal."""

    sop_instance_uid: str
    source: str
    target: str
    pixels_compared: bool
    duration_s: float

    def describe(self) -> str:
        check = ", decoded pixels equal" if self.pixels_compared else ""
        return f"{_name(self.source)} -> {_name(self.target)}{check}"


def _name(uid: str) -> str:
    return UID(uid).name or uid


def transcode(item: Dataset | Path, target: str) -> tuple[Dataset, Transcoded]:
    """``item`` (a data set with File Meta, or a Part 10 file) encoded in the native syntax ``target``.

    Raises :class:`TranscodeFailed` when its pixels cannot be decoded or come out different.
    """
    started = time.monotonic()
    ds = dcmread(item) if isinstance(item, Path) else copy.deepcopy(item)
    uid = str(ds.get("SOPInstanceUID", ""))
    source = str(ds.file_meta.TransferSyntaxUID)
    if UID(target) not in TARGETS:
        raise TranscodeFailed(uid, source, target, "only Explicit or Implicit VR Little Endian are targets")
    reference = None
    if "PixelData" in ds:
        try:
            reference = _pixels(ds)
            if UID(source).is_compressed:
                ds.decompress(generate_instance_uid=False)  # pydicom's default gives a new UID
        except Exception as exc:  # the codecs raise many types; say which syntax could not be decoded
            raise TranscodeFailed(uid, source, target, f"cannot decode the pixels ({exc})") from None
    ds.file_meta.TransferSyntaxUID = UID(target)
    buffer = BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True, implicit_vr=UID(target).is_implicit_VR, little_endian=True)
    buffer.seek(0)
    out = dcmread(buffer)
    if str(out.get("SOPInstanceUID", "")) != uid:
        raise TranscodeFailed(uid, source, target, f"the SOP Instance UID changed to {out.get('SOPInstanceUID')}")
    if reference is not None and _pixels(out) != reference:
        raise TranscodeFailed(uid, source, target, "the decoded pixels differ after re-encoding")
    return out, Transcoded(uid, source, target, reference is not None, time.monotonic() - started)


def _pixels(ds: Dataset) -> str:
    """A digest of the decoded pixel values (dtype and shape included)."""
    array = ds.pixel_array
    digest = hashlib.sha256(str((array.dtype.str, array.shape)).encode())
    digest.update(array.tobytes())
    return digest.hexdigest()
