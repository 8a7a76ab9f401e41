"""Re-encoding generated instances in other transfer syntaxes (PS3.5 10 and Annex A; PS3.5 8.2 for pixel formats).

``TRANSFER_SYNTAXES`` maps the command-line names (``explicit-le``, ``rle``, ``jpeg-baseline`` ...) to what each
syntax is and which pixel formats it can carry; :func:`encode` returns a copy of a dataset in that syntax:

* native syntaxes (implicit/explicit/deflated little endian, retired explicit big endian) only change how the
  dataset is written (``Dataset.save_as`` follows ``file_meta.TransferSyntaxUID``); for big endian the raw
  OB/OW-style values (Pixel Data) are byte-swapped so that the file says what the little-endian one said;
* RLE, JPEG-LS and JPEG 2000 use pydicom's encoders (``Dataset.compress`` with pyjpegls / pylibjpeg-openjpeg);
* JPEG Baseline uses Pillow per frame, JPEG Extended and JPEG Lossless SV1 run DCMTK's ``dcmcjpeg`` on a
  temporary file (no Python encoder exists in our dependencies); the result is encapsulated (PS3.5 A.4).

Lossy syntaxes set Lossy Image Compression "01", its Ratio and Method (PS3.3 C.7.6.1.1.5). The image is treated as
obtained compressed from the sensor, so Image Type stays ORIGINAL and the SOP Instance UID is kept (which keeps
generation deterministic); pass ``derived=True`` to label it as a lossy copy of another image instead (Image Type
DERIVED, a new UID derived from the old one, a Derivation Description). A pixel format the syntax cannot carry
raises :class:`UnsupportedPixelFormat` naming the syntax and the reason.
"""

from __future__ import annotations

import copy
import io
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_fragments
from pydicom.multival import MultiValue
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pydicom.valuerep import VR

from simulator.errors import HarnessError
from simulator.synth.uids import derive_uid

_NATIVE_LE = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian})


class UnsupportedPixelFormat(HarnessError, ValueError):
    """The dataset's pixel format cannot be carried by the requested transfer syntax (PS3.5 8.2)."""

    def __init__(self, syntax: str, reason: str) -> None:
        super().__init__(f"transfer syntax '{syntax}' cannot encode this dataset: {reason}")
        self.syntax = syntax
        self.reason = reason


class CodecUnavailable(HarnessError, RuntimeError):
    """The encoder a transfer syntax needs is not installed."""


@dataclass(frozen=True)
class PixelFormat:
    """The Image Pixel attributes (PS3.3 C.7.6.3) that decide whether a syntax can carry the pixels."""

    samples: int
    photometric: str
    bits_allocated: int
    bits_stored: int
    signed: bool
    frames: int
    rows: int
    columns: int

    @classmethod
    def of(cls, ds: Dataset) -> PixelFormat:
        return cls(samples=int(ds.SamplesPerPixel), photometric=str(ds.PhotometricInterpretation),
                   bits_allocated=int(ds.BitsAllocated), bits_stored=int(ds.BitsStored),
                   signed=int(ds.PixelRepresentation) == 1, frames=int(ds.get("NumberOfFrames", 1) or 1),
                   rows=int(ds.Rows), columns=int(ds.Columns))

    @property
    def native_bytes(self) -> int:
        return self.rows * self.columns * self.frames * self.samples * self.bits_allocated // 8


@dataclass(frozen=True)
class TransferSyntaxSpec:
    """One transfer syntax: its UID, whether it is lossless, and the pixel formats its codec accepts.

    ``bits_stored`` bounds Bits Stored, ``bits_allocated`` lists the Bits Allocated values, ``samples`` the Samples
    per Pixel values, ``signed`` whether Pixel Representation 1 is allowed. ``method`` is the Lossy Image
    Compression Method term (PS3.3 C.7.6.1.1.5) of a lossy syntax.
    """

    name: str
    uid: UID
    lossless: bool
    encapsulated: bool
    description: str
    bits_allocated: frozenset[int] = frozenset({8, 16, 32})
    bits_stored: frozenset[int] = frozenset(range(1, 33))
    samples: frozenset[int] = frozenset({1, 3})
    signed: bool = True
    method: str | None = None
    needs: str | None = None  # an external program the encoder runs

    def check(self, fmt: PixelFormat) -> None:
        """Raise :class:`UnsupportedPixelFormat` when ``fmt`` is outside what this syntax carries."""
        if fmt.bits_allocated not in self.bits_allocated:
            raise UnsupportedPixelFormat(self.name, f"Bits Allocated {fmt.bits_allocated} (supported: "
                                         f"{', '.join(map(str, sorted(self.bits_allocated)))})")
        if fmt.bits_stored not in self.bits_stored or fmt.bits_stored > fmt.bits_allocated:
            raise UnsupportedPixelFormat(self.name, f"Bits Stored {fmt.bits_stored} with Bits Allocated "
                                         f"{fmt.bits_allocated} (supported: {_ranges(self.bits_stored)})")
        if fmt.samples not in self.samples:
            raise UnsupportedPixelFormat(self.name, f"Samples per Pixel {fmt.samples} (supported: "
                                         f"{', '.join(map(str, sorted(self.samples)))})")
        if fmt.signed and not self.signed:
            raise UnsupportedPixelFormat(self.name, "signed pixels (Pixel Representation 1); only unsigned")
        if fmt.samples == 3 and fmt.photometric != "RGB":
            raise UnsupportedPixelFormat(self.name, f"colour input must be RGB, not {fmt.photometric}")

    def supports(self, ds: Dataset) -> bool:
        try:
            self.check(PixelFormat.of(ds))
        except UnsupportedPixelFormat:
            return False
        return True


def _bits(low: int, high: int) -> frozenset[int]:
    return frozenset(range(low, high + 1))


def _ranges(values: frozenset[int]) -> str:
    ordered = sorted(values)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
        return f"{ordered[0]}..{ordered[-1]}"
    return ", ".join(map(str, ordered))


_TS = TransferSyntaxSpec
_MONO = frozenset({1})
_BYTE_WORD = frozenset({8, 16})

TRANSFER_SYNTAXES: dict[str, TransferSyntaxSpec] = {
    spec.name: spec for spec in (
        _TS("implicit-le", ImplicitVRLittleEndian, True, False, "Implicit VR Little Endian (PS3.5 A.1)"),
        _TS("explicit-le", ExplicitVRLittleEndian, True, False, "Explicit VR Little Endian (PS3.5 A.2)"),
        _TS("deflated-le", DeflatedExplicitVRLittleEndian, True, False,
            "Deflated Explicit VR Little Endian (PS3.5 A.5)"),
        _TS("explicit-be", ExplicitVRBigEndian, True, False,
            "Explicit VR Big Endian (PS3.5 A.3, retired: for negative tests)"),
        _TS("rle", RLELossless, True, True, "RLE Lossless (PS3.5 A.4.2, Annex G)",
            bits_allocated=_BYTE_WORD, bits_stored=_bits(1, 16)),
        _TS("jpeg-baseline", JPEGBaseline8Bit, False, True, "JPEG Baseline, Process 1 (PS3.5 A.4.1)",
            bits_allocated=frozenset({8}), bits_stored=frozenset({8}), signed=False, method="ISO_10918_1"),
        _TS("jpeg-extended", JPEGExtended12Bit, False, True, "JPEG Extended, Processes 2 & 4 (PS3.5 A.4.1)",
            bits_allocated=_BYTE_WORD, bits_stored=frozenset({8, 12}), samples=_MONO, signed=False,
            method="ISO_10918_1", needs="dcmcjpeg"),
        _TS("jpeg-lossless-sv1", JPEGLosslessSV1, True, True,
            "JPEG Lossless, Process 14, Selection Value 1 (PS3.5 A.4.1)",
            bits_allocated=_BYTE_WORD, bits_stored=_bits(2, 16), needs="dcmcjpeg"),
        _TS("jpeg-ls-lossless", JPEGLSLossless, True, True, "JPEG-LS Lossless (PS3.5 A.4.3)",
            bits_allocated=_BYTE_WORD, bits_stored=_bits(2, 16)),
        _TS("jpeg-ls-near-lossless", JPEGLSNearLossless, False, True, "JPEG-LS Near-Lossless (PS3.5 A.4.3)",
            bits_allocated=_BYTE_WORD, bits_stored=_bits(2, 16), method="ISO_14495_1"),
        _TS("j2k-lossless", JPEG2000Lossless, True, True, "JPEG 2000 Lossless Only (PS3.5 A.4.4)",
            bits_allocated=_BYTE_WORD, bits_stored=_bits(1, 16)),
        _TS("j2k", JPEG2000, False, True, "JPEG 2000, lossy (PS3.5 A.4.4)",
            bits_allocated=_BYTE_WORD, bits_stored=_bits(1, 16), method="ISO_15444_1"),
    )
}

JPEG_QUALITY = 90
J2K_COMPRESSION_RATIO = 10.0
JPEG_LS_NEAR_ERROR = 2


def transfer_syntax(name: str) -> TransferSyntaxSpec:
    """The spec for a CLI name; KeyError lists the known names."""
    try:
        return TRANSFER_SYNTAXES[name]
    except KeyError:
        raise KeyError(f"unknown transfer syntax '{name}' (known: {', '.join(TRANSFER_SYNTAXES)})") from None


def encode(ds: Dataset, name: str, *, derived: bool = False) -> Dataset:
    """A copy of ``ds`` (native little endian) re-encoded in transfer syntax ``name``; ``ds`` is unchanged.

    Raises :class:`UnsupportedPixelFormat` when the pixel format does not fit the syntax and
    :class:`CodecUnavailable` when its encoder (e.g. ``dcmcjpeg``) is missing.
    """
    spec = transfer_syntax(name)
    current = UID(ds.file_meta.TransferSyntaxUID)
    if current not in _NATIVE_LE:
        raise UnsupportedPixelFormat(name, f"the input must be native little endian, not '{current.name}'")
    has_pixels = "PixelData" in ds
    fmt = PixelFormat.of(ds) if has_pixels else None
    if spec.encapsulated:
        if fmt is None:
            raise UnsupportedPixelFormat(name, "the dataset has no Pixel Data to compress")
        spec.check(fmt)
    out = copy.deepcopy(ds)
    if not spec.encapsulated:
        if spec.uid == ExplicitVRBigEndian:
            _swap_binary_values(out)
        out.file_meta.TransferSyntaxUID = spec.uid
        return out
    assert fmt is not None
    frames = _ENCODERS[spec.uid](out, spec, fmt)
    if frames is not None:
        out.PixelData = encapsulate(frames)
        element = out["PixelData"]
        element.VR = VR.OB
        element.is_undefined_length = True
        out.file_meta.TransferSyntaxUID = spec.uid
    if not spec.lossless:
        _mark_lossy(out, spec, fmt, _encapsulated_size(out), derived=derived)
    return out


# -- encoders: each returns the encoded frames (to encapsulate) or None when it set Pixel Data itself ---------

Encoder = Callable[[Dataset, TransferSyntaxSpec, PixelFormat], list[bytes] | None]


def _pydicom(ds: Dataset, spec: TransferSyntaxSpec, fmt: PixelFormat) -> None:
    j2k_cr = [J2K_COMPRESSION_RATIO] if spec.uid == JPEG2000 else None
    jls_error = JPEG_LS_NEAR_ERROR if spec.uid == JPEGLSNearLossless else None
    try:
        ds.compress(spec.uid, generate_instance_uid=False, j2k_cr=j2k_cr, jls_error=jls_error)
    except RuntimeError as exc:  # pydicom: "all of its plugins are missing dependencies"
        raise CodecUnavailable(f"transfer syntax '{spec.name}': {exc} (install radsim[codecs])") from exc
    if spec.uid in (JPEG2000Lossless, JPEG2000) and fmt.samples == 3:
        ds.PlanarConfiguration = 0  # pydicom keeps RGB for JPEG 2000 (no colour transform)


def _pillow_baseline(ds: Dataset, spec: TransferSyntaxSpec, fmt: PixelFormat) -> list[bytes]:
    try:
        from PIL import Image
    except ImportError as exc:
        raise CodecUnavailable(f"transfer syntax '{spec.name}' needs Pillow (install radsim[codecs])") from exc
    frames = _frames(ds, fmt)
    encoded = []
    for frame in frames:
        buffer = io.BytesIO()
        if fmt.samples == 3:
            # YCbCr with 2:1 horizontal subsampling: what PS3.5 8.2.1 calls YBR_FULL_422.
            Image.fromarray(frame, "RGB").save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling=1)
        else:
            Image.fromarray(frame, "L").save(buffer, "JPEG", quality=JPEG_QUALITY)
        encoded.append(buffer.getvalue())
    if fmt.samples == 3:
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PlanarConfiguration = 0
    return encoded


def _dcmcjpeg(ds: Dataset, spec: TransferSyntaxSpec, fmt: PixelFormat) -> None:
    program = shutil.which("dcmcjpeg")
    if program is None:
        raise CodecUnavailable(f"transfer syntax '{spec.name}' needs DCMTK's dcmcjpeg, which is not on PATH "
                               "(install the Debian package 'dcmtk')")
    mode = {JPEGLosslessSV1: ["+e1"], JPEGExtended12Bit: ["+ee", "+q", str(JPEG_QUALITY), "+sr"]}[spec.uid]
    with tempfile.TemporaryDirectory(prefix="radsim-jpeg-") as folder:
        source, target = Path(folder) / "in.dcm", Path(folder) / "out.dcm"
        ds.save_as(source, enforce_file_format=True)
        # +un: keep the SOP Instance UID (we label lossy output ourselves); +cd keeps the SOP class; +sr (lossy)
        # scales the full Bits Stored range, i.e. identity, so Rescale Slope/Intercept stay valid.
        result = subprocess.run([program, *mode, "+un", "+cd", str(source), str(target)],
                                capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0 or not target.exists():
            raise CodecUnavailable(f"dcmcjpeg failed for '{spec.name}' (exit {result.returncode}): "
                                   f"{(result.stderr or result.stdout).strip()[:500]}")
        encoded = dcmread(target)
    ds.PixelData = encoded.PixelData
    element = ds["PixelData"]
    element.VR = VR.OB
    element.is_undefined_length = True
    ds.PhotometricInterpretation = encoded.PhotometricInterpretation
    if fmt.samples == 3:
        ds.PlanarConfiguration = 0
    ds.file_meta.TransferSyntaxUID = spec.uid


_ENCODERS: dict[UID, Encoder] = {
    RLELossless: _pydicom,
    JPEGLSLossless: _pydicom,
    JPEGLSNearLossless: _pydicom,
    JPEG2000Lossless: _pydicom,
    JPEG2000: _pydicom,
    JPEGBaseline8Bit: _pillow_baseline,
    JPEGExtended12Bit: _dcmcjpeg,
    JPEGLosslessSV1: _dcmcjpeg,
}


# -- helpers ----------------------------------------------------------------------------------------------

def _frames(ds: Dataset, fmt: PixelFormat) -> npt.NDArray[np.uint8]:
    """8-bit frames as (frames, rows, cols[, 3]) with samples interleaved."""
    raw = np.frombuffer(bytes(ds.PixelData), dtype=np.uint8)[: fmt.native_bytes]
    if fmt.samples == 1:
        return raw.reshape(fmt.frames, fmt.rows, fmt.columns)
    if int(ds.get("PlanarConfiguration", 0)) == 1:
        planes = raw.reshape(fmt.frames, 3, fmt.rows, fmt.columns)
        return np.ascontiguousarray(planes.transpose(0, 2, 3, 1))
    return raw.reshape(fmt.frames, fmt.rows, fmt.columns, 3)


def _encapsulated_size(ds: Dataset) -> int:
    """Bytes of compressed fragments (item headers and the Basic Offset Table, the first item, excluded)."""
    items = generate_fragments(bytes(ds.PixelData))
    next(items, None)
    return sum(len(fragment) for fragment in items)


def _mark_lossy(ds: Dataset, spec: TransferSyntaxSpec, fmt: PixelFormat, compressed: int, *,
                derived: bool) -> None:
    """Lossy Image Compression, Ratio and Method (PS3.3 C.7.6.1.1.5), appended to any earlier lossy steps."""
    ratio = f"{fmt.native_bytes / max(compressed, 1):.2f}"
    earlier = ds.get("LossyImageCompression") == "01"
    ratios = [str(v) for v in _as_list(ds.get("LossyImageCompressionRatio"))] if earlier else []
    methods = [str(v) for v in _as_list(ds.get("LossyImageCompressionMethod"))] if earlier else []
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = [*ratios, ratio]
    ds.LossyImageCompressionMethod = [*methods, str(spec.method)]
    if derived:
        old = str(ds.SOPInstanceUID)
        new = derive_uid("lossy", old, spec.name)
        ds.SOPInstanceUID = new
        ds.file_meta.MediaStorageSOPInstanceUID = new
        image_type = [str(v) for v in _as_list(ds.get("ImageType"))] or ["DERIVED", "PRIMARY"]
        ds.ImageType = ["DERIVED", *image_type[1:]]
        ds.DerivationDescription = f"Lossy compression {spec.method} ratio {ratio}:1"


def _as_list(value: object) -> list[object]:
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list | tuple):
        return list(value)
    return [value]


_SWAP_WIDTH = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def _swap_binary_values(ds: Dataset) -> None:
    """Byte-swap the raw OW/OF/OL/OD/OV values pydicom writes verbatim, so big endian files say the same thing.

    pydicom converts numeric VRs (US, FL ...) on write but copies binary values as they are (PS3.5 7.3);
    8-bit Pixel Data (OB) needs no swap.
    """
    for element in ds.iterall():
        if element.value is None:
            continue
        if element.tag == 0x7FE00010:  # Pixel Data: its width follows Bits Allocated, not its VR
            bits = int(ds.get("BitsAllocated", 16))
            if bits <= 8:
                element.VR = VR.OB
                continue
            element.VR = VR.OW
            width = bits // 8
        else:
            width = _SWAP_WIDTH.get(str(element.VR), 0)
            if not width:
                continue
        data = np.frombuffer(bytes(element.value), dtype=np.dtype(f"<u{width}"))
        element.value = data.byteswap().tobytes()


def encode_study(datasets: list[Dataset], name: str) -> list[Dataset]:
    """Every dataset in syntax ``name``; datasets without Pixel Data (SR, PDF) take it only when it is not an
    encapsulated (compressed) syntax, and otherwise stay as they are."""
    spec = transfer_syntax(name)
    return [ds if spec.encapsulated and "PixelData" not in ds else encode(ds, name) for ds in datasets]
