"""Generation throughput: how fast radsim writes valid synthetic DICOM to disk, against numpy's ceiling.

* ``radsim CT``: one CT series (default 200 slices of 512x512, 16-bit, Explicit VR Little Endian) built by
  ``simulator.synth.build_ct_study`` and written by ``Study.write`` (Part 10 files, one per instance);
* ``numpy tofile``: the same number of files of the same total size, written with ``np.ndarray.tofile`` into the
  same folder in the same run: the ceiling of writing those bytes from Python on this disk;
* per transfer syntax (``simulator.synth.transfer``): instances/s to re-encode the generated slices and write them
  (generation excluded: it is the row above). JPEG Baseline cannot carry 16-bit CT: it gets the slices windowed to
  8 bits (what a secondary capture of them would hold).

Each figure is the median of ``--repeat`` runs; the folder is emptied before each run; nothing is fsynced (neither
writer). MB = 10^6 bytes of file. The C-STORE figures the target refers to are in bench/README.md.

``--profile`` runs one generate+write under cProfile and prints the hotspots. Run from the repository root::

    .venv/bin/python bench/generate_throughput.py [--instances 200] [--repeat 3] [--syntax-instances 50]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from simulator.synth import build_ct_study
from simulator.synth.transfer import TRANSFER_SYNTAXES, CodecUnavailable, encode

# C-STORE rates measured by bench/store_throughput.py (bench/README.md, run C, Orthanc 1.10.1).
CSTORE_MB_S = {"radsim datasets x4 -> Orthanc": 78.6, "radsim datasets x1 -> Orthanc": 51.0}
CSTORE_INSTANCES_S = {"radsim datasets x4 -> Orthanc": 149.5, "radsim datasets x1 -> Orthanc": 97.0}
TARGET = 3.0


def _median_time(repeat: int, prepare: Callable[[], None], run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        prepare()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _empty(folder: Path) -> Callable[[], None]:
    def prepare() -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    return prepare


def _generate_and_write(args: argparse.Namespace, folder: Path) -> list[Path]:
    study = build_ct_study(7, series=1, instances=args.instances, rows=args.rows, columns=args.columns)
    return study.write(folder)


def _numpy_write(folder: Path, sizes: Sequence[int]) -> None:
    buffers = [np.full(size, 7, dtype=np.uint8) for size in sizes]  # made before the clock would be fairer,
    for index, buffer in enumerate(buffers):                          # but allocation is ~1% of the write
        buffer.tofile(folder / f"{index}.raw")


def _eight_bit(ds: Dataset) -> Dataset:
    """The slice windowed (W 400 / C 40) to 8 bits, for syntaxes that cannot carry 16-bit pixels."""
    from copy import deepcopy

    out = deepcopy(ds)
    hu = out.pixel_array.astype(np.int32) + int(out.RescaleIntercept)
    out.BitsAllocated, out.BitsStored, out.HighBit = 8, 8, 7
    out.PixelData = np.clip((hu + 160) * 255 / 400, 0, 255).astype(np.uint8).tobytes()
    return out


def _encode_and_write(datasets: Sequence[Dataset], name: str, folder: Path) -> int:
    total = 0
    for index, ds in enumerate(datasets):
        path = folder / f"{index}.dcm"
        encode(ds, name).save_as(path, enforce_file_format=True)
        total += path.stat().st_size
    return total


def _record(written: list[int], datasets: Sequence[Dataset], name: str, folder: Path) -> None:
    written.append(_encode_and_write(datasets, name, folder))


def _profile(args: argparse.Namespace, folder: Path) -> None:
    _empty(folder)()
    profiler = cProfile.Profile()
    profiler.enable()
    _generate_and_write(args, folder)
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream).sort_stats("cumulative")
    stats.print_stats(25)
    stats.sort_stats("tottime").print_stats(15)
    print(stream.getvalue())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, default=200, help="CT slices (default 200)")
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--columns", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--syntax-instances", type=int, default=50, help="slices per transfer syntax (default 50)")
    parser.add_argument("--syntaxes", nargs="*", default=None, help="transfer syntax names (default: all)")
    parser.add_argument("--dir", type=Path, default=None, help="folder to write into (default: a temp folder)")
    parser.add_argument("--profile", action="store_true", help="profile one generate+write and exit")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    base = args.dir or Path(tempfile.mkdtemp(prefix="radsim-genbench-"))
    folder = base / "out"
    try:
        if args.profile:
            _profile(args, folder)
            return 0
        print(f"python {platform.python_version()}, pydicom {pydicom.__version__}, numpy {np.__version__}, "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, writing into {folder}")

        # Generation alone (in memory), then generation + write.
        gen_s = _median_time(args.repeat, lambda: None, lambda: build_ct_study(
            7, series=1, instances=args.instances, rows=args.rows, columns=args.columns))
        prepare = _empty(folder)
        radsim_s = _median_time(args.repeat, prepare, lambda: _generate_and_write(args, folder))
        sizes = [p.stat().st_size for p in sorted(folder.rglob("*.dcm"))]
        total = sum(sizes)
        numpy_s = _median_time(args.repeat, prepare, lambda: _numpy_write(folder, sizes))

        mb = total / 1e6
        rows = [("radsim CT generate (in memory)", gen_s), ("radsim CT generate + write", radsim_s),
                ("numpy tofile (same bytes, same files)", numpy_s)]
        print(f"\n{args.instances} CT slices {args.rows}x{args.columns}, {mb:.1f} MB of Part 10 files, "
              f"median of {args.repeat}\n")
        print("| writer | s | MB/s | instances/s | x numpy |\n|---|---:|---:|---:|---:|")
        for label, seconds in rows:
            print(f"| {label} | {seconds:.2f} | {mb / seconds:.1f} | {args.instances / seconds:.1f} | "
                  f"{numpy_s / seconds:.2f} |")
        radsim_mb_s = mb / radsim_s
        print("\n| C-STORE sender (bench/README.md) | MB/s | generate+write ÷ C-STORE | target |\n|---|---:|---:|---:|")
        for label, rate in CSTORE_MB_S.items():
            ratio = radsim_mb_s / rate
            print(f"| {label} | {rate} | {ratio:.2f}x | {'met' if ratio >= TARGET else 'NOT met'} (>= {TARGET}x) |")

        # Transfer syntaxes: encode + write of already generated slices.
        count = min(args.syntax_instances, args.instances)
        slices = build_ct_study(7, series=1, instances=count, rows=args.rows, columns=args.columns).datasets
        eight = [_eight_bit(ds) for ds in slices]
        names = args.syntaxes or [n for n in TRANSFER_SYNTAXES if n != "explicit-le"]
        print(f"\n{count} slices per syntax, encode + write, median of {args.repeat}\n")
        print("| transfer syntax | input | instances/s | MB/s written | ratio to native | "
              "x C-STORE x4 instances/s |\n|---|---|---:|---:|---:|---:|")
        syntax_rows = []
        for name in names:
            source = slices if TRANSFER_SYNTAXES[name].supports(slices[0]) else eight
            label = "CT 16-bit" if source is slices else "CT windowed to 8-bit"
            if not TRANSFER_SYNTAXES[name].supports(source[0]):
                print(f"| {name} | n/a | | | | |")
                continue
            written: list[int] = []
            try:
                seconds = _median_time(args.repeat, prepare, partial(_record, written, source, name, folder))
            except CodecUnavailable as exc:
                print(f"| {name} | {label} | unavailable: {exc} | | | |")
                continue
            native = sum(len(ds.PixelData) for ds in source) + 1500 * count
            rate = count / seconds
            out_mb = written[-1] / 1e6
            x_cstore = rate / CSTORE_INSTANCES_S["radsim datasets x4 -> Orthanc"]
            print(f"| {name} | {label} | {rate:.1f} | {out_mb / seconds:.1f} | {native / written[-1]:.2f} | "
                  f"{x_cstore:.2f} |")
            syntax_rows.append({"syntax": name, "input": label, "instances_per_s": rate,
                                "mb_per_s": out_mb / seconds, "ratio": native / written[-1]})
        if args.json:
            args.json.write_text(json.dumps({
                "instances": args.instances, "rows": args.rows, "columns": args.columns, "mb": mb,
                "generate_s": gen_s, "generate_write_s": radsim_s, "numpy_s": numpy_s,
                "cstore_mb_s": CSTORE_MB_S, "syntaxes": syntax_rows, "python": sys.version,
                "pydicom": pydicom.__version__}, indent=2) + "\n", encoding="utf-8")
        return 0
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
