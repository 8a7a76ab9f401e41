"""A generated study: its datasets plus the identifiers scenarios refer to."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from simulator.synth.fastwrite import EncodedCache, write_part10
from simulator.synth.lenient import deliberately_invalid
from simulator.synth.uids import uid_file_stem


def pixel_digest(ds: Dataset) -> str | None:
    """SHA-256 of the raw Pixel Data value, or None when the instance has none."""
    value = ds.get("PixelData")
    if value is None:
        return None
    return hashlib.sha256(bytes(value)).hexdigest()


@dataclass
class Study:
    """Instances of one study, in acquisition order."""

    datasets: list[Dataset] = field(default_factory=list)

    def __iter__(self) -> Iterator[Dataset]:
        return iter(self.datasets)

    def __len__(self) -> int:
        return len(self.datasets)

    @property
    def study_instance_uid(self) -> str:
        return str(self.datasets[0].StudyInstanceUID)

    @property
    def patient_id(self) -> str:
        return str(self.datasets[0].get("PatientID", ""))

    @property
    def series_instance_uids(self) -> list[str]:
        seen: dict[str, None] = {}
        for ds in self.datasets:
            seen.setdefault(str(ds.SeriesInstanceUID), None)
        return list(seen)

    @property
    def sop_instance_uids(self) -> list[str]:
        return [str(ds.SOPInstanceUID) for ds in self.datasets]

    @property
    def total_bytes(self) -> int:
        return sum(len(bytes(ds.PixelData)) for ds in self.datasets if "PixelData" in ds)

    def write(self, out_dir: Path) -> list[Path]:
        """Write each instance as a DICOM Part 10 file under ``out_dir``/series/instance.dcm."""
        paths: list[Path] = []
        written: set[Path] = set()
        folders: set[Path] = set()
        cache = EncodedCache()  # the instances of a study share most elements: encode each distinct one once
        with deliberately_invalid():  # write what was generated, defects included, without second-guessing it
            for ds in self.datasets:
                paths.append(self._write_one(ds, out_dir, written, folders, cache))
        return paths

    @staticmethod
    def _write_one(ds: Dataset, out_dir: Path, written: set[Path], folders: set[Path], cache: EncodedCache) -> Path:
        folder = out_dir / uid_file_stem(str(ds.SeriesInstanceUID))
        if folder not in folders:
            folder.mkdir(parents=True, exist_ok=True)
            folders.add(folder)
        path = folder / f"{uid_file_stem(str(ds.SOPInstanceUID))}.dcm"
        if path in written:  # a reused SOP Instance UID (a defect): keep both files
            path = path.with_name(f"{path.stem}-{len(written)}.dcm")
        written.add(path)
        if getattr(ds, "file_meta", None) is None:
            # Only the missing-file-meta defect gets here: write the bare dataset (no preamble, no meta).
            ds.save_as(path, enforce_file_format=False, implicit_vr=False, little_endian=True)
        else:
            write_part10(ds, path, cache)  # the bytes of ds.save_as(path, enforce_file_format=True)
        return path
