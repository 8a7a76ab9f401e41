"""A Part 10 writer that produces exactly what ``ds.save_as(path, enforce_file_format=True)`` produces, faster.

The instances of a generated study share most of their elements (patient, study, series, equipment, image pixel
description ...). :func:`write_part10` encodes each element with pydicom's own
:func:`pydicom.filewriter.write_data_element`, but keeps the encoded bytes in a :class:`EncodedCache` keyed by the
element's tag, VR, value (compared by value, never by identity), the transfer syntax and the dataset's Specific
Character Set; an element seen before with the same value is not encoded again. The File Meta Information is
prepared as ``dcmwrite`` prepares it (``validate_file_meta`` on a copy) and laid out as ``write_file_meta_info``
lays it out, its elements going through the same cache (anything unusual in it goes to ``write_file_meta_info``
itself). Pixel Data is written as its header followed by the value itself, without copies.

Only native little endian datasets (Explicit or Implicit VR Little Endian) take this path; anything else (deflated,
big endian, encapsulated, datasets read from a file, a missing File Meta Information) falls back to
``ds.save_as(path, enforce_file_format=True)``. The side effects ``save_as`` has on the dataset (ambiguous VR
correction, Pixel Data length mode) are reproduced; ``ds.file_meta`` is left untouched, as ``save_as`` leaves it.
"""

from __future__ import annotations

import copy
import struct
from collections.abc import Hashable
from pathlib import Path
from typing import cast

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset, validate_file_meta
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr, write_data_element, write_file_meta_info
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pydicom.valuerep import AMBIGUOUS_VR, IS, VR, DSdecimal, DSfloat, PersonName

PIXEL_DATA = 0x7FE00010
_PIXEL_DATA_TAG = BaseTag(PIXEL_DATA)
_GROUP_LENGTH = 0x00020000
_GROUP_LENGTH_HEADER = b"\x02\x00\x00\x00UL\x04\x00"
_META_CHARSET = (str, "iso8859")
_PREAMBLE = b"\x00" * 128
_NATIVE = {ExplicitVRLittleEndian: False, ImplicitVRLittleEndian: True}  # transfer syntax -> implicit VR
_MAX_CACHED = 8192  # bytes of one encoded element; larger values are encoded every time (and rarely repeat)
_MAX_ENTRIES = 200_000  # a bound on memory for very long writes; the cache starts again when reached
_NOT_CACHEABLE = object()
_NUMBER_STRINGS = (DSfloat, DSdecimal, IS)


class EncodedCache:
    """Encoded elements of the datasets written so far; one per batch of related instances (e.g. one study)."""

    def __init__(self) -> None:
        self.entries: dict[Hashable, bytes] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self.entries)


def _value_key(value: object) -> Hashable:
    """A hashable key equal for two values exactly when pydicom encodes them the same way, else ``_NOT_CACHEABLE``.

    The type is part of the key; DS and IS use the string their writer uses (``original_string``), floats their
    exact bits (``-0.0 == 0.0`` but encodes differently). A person name is cached only once it holds its encoded
    form (``original_string``): encoding one that does not records it on the value, a side effect kept by
    encoding it (the first write of a name shared by a series' slices does so for all of them).
    """
    kind = type(value)
    if value is None or kind is str or kind is bytes or kind is int or kind is bool:
        return (kind, value)
    if isinstance(value, float) and kind is float:
        return (kind, value.hex())
    if isinstance(value, _NUMBER_STRINGS):
        return (kind, value.original_string if hasattr(value, "original_string") else str(value))
    if isinstance(value, str):  # UID and other str subclasses encode as their text
        return (kind, str(value))
    if isinstance(value, PersonName):
        if value.original_string is None:
            return _NOT_CACHEABLE
        encodings = tuple(value.encodings) if value.encodings else None
        return (kind, value.original_string, encodings, str(value))
    if isinstance(value, MultiValue | list | tuple):
        items = tuple(_value_key(item) for item in value)
        if any(item is _NOT_CACHEABLE for item in items):
            return _NOT_CACHEABLE
        return (kind, items)
    return _NOT_CACHEABLE


def _tag_of(elem: DataElement) -> int:
    return int(elem.tag)


def _elements(dataset: Dataset) -> list[DataElement] | None:
    """The dataset's elements, or None when some are still raw (read from a file, not yet converted)."""
    values = list(dataset._dict.values())
    if any(isinstance(elem, RawDataElement) for elem in values):
        return None
    return cast(list[DataElement], values)


def _fast_path_encoding(ds: Dataset) -> bool | None:
    """``is_implicit_VR`` for a dataset the fast path can write exactly as pydicom would, else None."""
    file_meta = getattr(ds, "file_meta", None)
    if not isinstance(file_meta, FileMetaDataset):
        return None
    syntax = file_meta.get("TransferSyntaxUID", None)
    implicit = _NATIVE.get(syntax) if syntax is not None else None
    if implicit is None:
        return None
    preamble = getattr(ds, "preamble", None)
    if preamble and len(preamble) != 128:
        return None
    if ds.original_encoding[1] is False:
        return None  # save_as refuses to convert big endian to little endian: let it say so
    if any(tag >> 16 in (0, 2) for tag in ds._dict):
        return None  # dcmwrite refuses Command Set or File Meta elements in the dataset: let it say so
    return implicit


def _clone(elem: DataElement) -> DataElement:
    clone = DataElement.__new__(DataElement)  # copy.copy's shallow copy, without its generic dispatch
    clone.__dict__.update(elem.__dict__)
    return clone


def _file_meta(ds: Dataset, cache: EncodedCache) -> bytes:
    """Preamble, prefix and File Meta Information exactly as ``dcmwrite(enforce_file_format=True)`` writes them."""
    # dcmwrite works on a deep copy; element-wise copies are enough, since every change below replaces values.
    source = _elements(ds.file_meta)
    meta = FileMetaDataset()
    if source is None:
        meta = copy.deepcopy(ds.file_meta)
    else:
        meta._dict = {elem.tag: _clone(elem) for elem in source}
    meta_class = meta.get("MediaStorageSOPClassUID", None)
    ds_class = ds.get("SOPClassUID", None)
    if meta_class is None or (ds_class and ds_class != meta_class):
        meta.MediaStorageSOPClassUID = ds_class
    meta_instance = meta.get("MediaStorageSOPInstanceUID", None)
    ds_instance = ds.get("SOPInstanceUID", None)
    if meta_instance is None or (ds_instance and ds_instance != meta_instance):
        meta.MediaStorageSOPInstanceUID = ds_instance
    validate_file_meta(meta, enforce_standard=True)
    start = (getattr(ds, "preamble", None) or _PREAMBLE) + b"DICM"

    elements = _elements(meta)
    group_length = meta._dict.get(BaseTag(_GROUP_LENGTH))
    if (elements is None or (group_length is not None and group_length.VR != VR.UL)
            or any(elem.VR == VR.SQ or elem.VR in AMBIGUOUS_VR for elem in elements)):
        buffer = DicomBytesIO()  # anything unusual: pydicom's own File Meta writer
        buffer.is_little_endian = True
        buffer.is_implicit_VR = False
        write_file_meta_info(buffer, meta, enforce_standard=True)
        return start + buffer.getvalue()
    # What write_file_meta_info writes: the elements in tag order in Explicit VR Little Endian, headed by the
    # File Meta Information Group Length (UL) holding the length of what follows it.
    body = b"".join(_cached(elem, False, "iso8859", _META_CHARSET, cache)
                    for elem in sorted(elements, key=_tag_of) if int(elem.tag) != _GROUP_LENGTH)
    return start + _GROUP_LENGTH_HEADER + struct.pack("<L", len(body)) + body


def _encode(elem: DataElement, implicit: bool, encodings: object) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = implicit
    write_data_element(buffer, elem, encodings)  # type: ignore[arg-type]
    return bytes(buffer.getvalue())


def _cached(elem: DataElement, implicit: bool, encodings: object, charset_key: Hashable,
            cache: EncodedCache) -> bytes:
    """``elem`` encoded by pydicom, or the bytes it gave for an element of the same tag, VR and value."""
    value_key = _NOT_CACHEABLE if elem.VR == VR.SQ else _value_key(elem.value)
    if value_key is _NOT_CACHEABLE:
        return _encode(elem, implicit, encodings)
    key = (int(elem.tag), elem.VR, elem.is_undefined_length, implicit, charset_key, value_key)
    encoded = cache.entries.get(key)
    if encoded is None:
        cache.misses += 1
        encoded = _encode(elem, implicit, encodings)
        if len(encoded) <= _MAX_CACHED:
            cache.entries[key] = encoded
    else:
        cache.hits += 1
    return encoded


def _pixel_header(elem: DataElement, length: int, implicit: bool) -> bytes:
    tag = struct.pack("<HH", elem.tag >> 16, elem.tag & 0xFFFF)
    if implicit:
        return tag + struct.pack("<L", length)
    return tag + str(elem.VR).encode("ascii") + b"\x00\x00" + struct.pack("<L", length)


def write_part10(ds: Dataset, path: Path, cache: EncodedCache) -> None:
    """Write ``ds`` to ``path`` byte-for-byte as ``ds.save_as(path, enforce_file_format=True)`` would."""
    implicit = _fast_path_encoding(ds)
    elements = _elements(ds) if implicit is not None else None
    if implicit is None or elements is None:
        ds.save_as(path, enforce_file_format=True)
        return
    if len(cache.entries) >= _MAX_ENTRIES:
        cache.entries.clear()
    head = _file_meta(ds, cache)

    # write_dataset's preparation: ambiguous VRs are corrected in place when the dataset was not read from a file
    # in this very encoding (always so for generated datasets); the call changes nothing without such elements.
    if ((implicit, True) != ds.original_encoding or ds.original_character_set != ds._character_set) and any(
            elem.VR == VR.SQ or elem.VR in AMBIGUOUS_VR for elem in elements):
        correct_ambiguous_vr(ds, True)
    # dcmwrite: native Pixel Data has a defined length.
    pixel = cast(DataElement | None, ds._dict.get(_PIXEL_DATA_TAG))
    if pixel is not None:
        pixel.is_undefined_length = False

    encodings = ds.get("SpecificCharacterSet", "iso8859")
    charset_key = _value_key(encodings)
    if charset_key is _NOT_CACHEABLE:
        charset_key = repr(encodings)
    chunks = [head]
    pixel_value: bytes | bytearray | None = None
    for elem in sorted(elements, key=_tag_of):  # plain int comparisons: BaseTag's are Python methods
        tag = int(elem.tag)
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue  # retired group lengths are not written (PS3.5 7.2), as in write_dataset
        if pixel_value is not None:  # something after Pixel Data (e.g. trailing padding): keep the order
            chunks.append(bytes(pixel_value) + b"\x00" * (len(pixel_value) % 2))
            pixel_value = None
        value = elem.value
        if (tag == PIXEL_DATA and elem.VR in (VR.OB, VR.OW) and not elem.is_buffered
                and isinstance(value, bytes | bytearray)):
            pixel_value = value  # written after the header, as it is: no copy
            chunks.append(_pixel_header(elem, len(value) + len(value) % 2, implicit))
            continue
        chunks.append(_cached(elem, implicit, encodings, charset_key, cache))
    with open(path, "wb") as handle:
        handle.write(b"".join(chunks))
        if pixel_value is not None:
            handle.write(pixel_value)
            if len(pixel_value) % 2:
                handle.write(b"\x00")
